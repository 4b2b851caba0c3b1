//! The report of a run, written as JSON (for tools) and Markdown (for people) side by
//! side: `<dir>/<name>.json` and `<dir>/<name>.md`, and for a long run its chart,
//! `<dir>/<name>.svg`.

mod long_run;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use crate::chart;
use crate::figures::{Figures, Percentiles};
use crate::long_run::LongRun;
use crate::machine::Machine;
use crate::proc_stats::{CpuShares, CpuUse};
use crate::scenario::Scenario;

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub scenario: Scenario,
    pub figures: Figures,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub long_run: Option<LongRun>,
}

impl Report {
    /// Writes the files (creating `dir` if needed) and returns their paths.
    pub fn write(&self, dir: &Path, name: &str) -> anyhow::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut json_text = serde_json::to_string_pretty(self)?;
        json_text.push('\n');
        let mut files =
            vec![(dir.join(format!("{name}.json")), json_text), (dir.join(format!("{name}.md")), self.markdown(name))];
        if let Some(long_run) = &self.long_run {
            let title = format!("hookline-bench: {name}");
            files.push((dir.join(format!("{name}.svg")), chart::svg(&title, &self.scenario.run, &long_run.rows)));
        }
        for (path, text) in &files {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(files.into_iter().map(|(path, _)| path).collect())
    }

    /// The report as JSON without a long run's rows, which only the files hold.
    pub fn summary(&self) -> serde_json::Result<serde_json::Value> {
        let mut summary = serde_json::to_value(self)?;
        if let Some(long_run) = summary.get_mut("long_run").and_then(serde_json::Value::as_object_mut) {
            long_run.remove("rows");
        }
        Ok(summary)
    }

    pub fn markdown(&self, name: &str) -> String {
        let (machine, scenario, figures) = (&self.machine, &self.scenario, &self.figures);
        let mut out = format!(
            "# Benchmark report: {}, {}\n\nWritten by `hookline-bench` (`scripts/bench.sh`); the same figures are in \
             [{name}.json]({name}.json). Measured, never asserted; how to read them: \
             [docs/benchmarks.md](../benchmarks.md).\n",
            scenario.mode, scenario.run
        );
        if self.long_run.is_none() {
            out.push_str(
                "\nA burst: seconds of load, so these are peak figures; what hookline sustains over \
                 minutes is what a long run (`--duration`) measures.\n",
            );
        }
        section(&mut out, "Machine");
        row(&mut out, "CPU", &format!("{}, {} cores", machine.cpu_model, machine.cores));
        row(&mut out, "memory", &format!("{:.1} GiB", machine.memory_gib));
        row(&mut out, "kernel", &machine.kernel);
        row(&mut out, "rustc", &machine.rustc);
        row(&mut out, "commit", &machine.commit);
        row(&mut out, "date", &machine.date);
        row(&mut out, "load average at start (1, 5, 15 min)", &machine.load_average);

        section(&mut out, "Scenario");
        row(&mut out, "run", &scenario.run);
        row(&mut out, "engines", &scenario.engines);
        row(&mut out, "ingest", scenario.ingest);
        row(&mut out, "webhooks", &count(scenario.webhooks as f64));
        row(&mut out, "senders", &scenario.senders.to_string());
        if let Some(batch) = scenario.batch {
            row(&mut out, "records per produce call", &batch.to_string());
        }
        row(&mut out, "subscriptions", &scenario.subscriptions.to_string());
        if let Some(fan_out) = scenario.fan_out {
            row(&mut out, "deliveries per event", &format!("{fan_out} (the subscriptions that want it)"));
        }
        let rate = match (scenario.rate, scenario.duration_s) {
            (Some(rate), _) => count(rate) + "/s",
            (None, Some(_)) => "rising in steps".into(),
            (None, None) => "saturation (each sender goes on once answered)".into(),
        };
        row(&mut out, "rate", &rate);
        row(&mut out, "payload", &format!("{} bytes: an order event in JSON", count(scenario.payload_bytes as f64)));
        row(&mut out, "signed", if scenario.signed { "yes" } else { "no" });
        if let Some(keys) = scenario.ordering_keys {
            row(&mut out, "ordering", &format!("by key, {keys} keys round-robin"));
        }
        row(&mut out, "command", &format!("`{}`", scenario.command));

        section(&mut out, "Figures");
        if let (Some(per_s), Some(ack)) = (figures.ingest_requests_per_s, &figures.ack_ms) {
            row(&mut out, "ingest requests/s", &count(per_s));
            row(&mut out, "ack (202) p50 / p95 / p99 / max", &ms(ack));
        }
        if let (Some(per_s), Some(ack)) = (figures.produced_per_s, &figures.produce_batch_ack_ms) {
            row(&mut out, "produced records/s", &count(per_s));
            row(&mut out, "produce call (one batch) p50 / p95 / p99 / max", &ms(ack));
        }
        if let Some(rejected) = figures.rejected {
            row(&mut out, "rejected by the ingest role", &count(rejected as f64));
        }
        row(&mut out, "deliveries/s", &count(figures.deliveries_per_s));
        row(&mut out, "end to end p50 / p95 / p99 / max", &ms(&figures.end_to_end_ms));
        let outcome = format!(
            "{} / {} / {}",
            count(figures.delivered as f64),
            count(figures.missing as f64),
            count(figures.duplicates as f64)
        );
        row(&mut out, "delivered / missing / duplicates", &outcome);
        row(&mut out, "hookline CPU", &format!("{:.1} s", figures.hookline_cpu_seconds));
        row(&mut out, "hookline CPU per webhook", &format!("{:.0} µs", figures.hookline_cpu_us_per_webhook));
        let rss = format!("{:.0} / {:.0} MB", figures.hookline_rss_idle_mb, figures.hookline_rss_peak_mb);
        row(&mut out, "hookline RSS idle / peak", &rss);

        out.push_str(
            "\n## CPU split\n\nCores busy (1.0 = one core the whole time); the generator is hookline-bench, \
             `others` everything else on the machine (brokers, other jobs, the kernel's I/O threads).\n\n\
             | stretch | wall | generator | hookline | receiver | others |\n|---|---|---|---|---|---|\n",
        );
        cpu_row(&mut out, "while sending", &figures.cpu_while_sending);
        cpu_row(&mut out, "first sent to last delivered", &figures.cpu_whole_run);
        if let Some(long_run) = &self.long_run {
            long_run::markdown(&mut out, name, long_run);
        }
        out
    }
}

fn section(out: &mut String, title: &str) {
    let _ = write!(out, "\n## {title}\n\n| | |\n|---|---|\n");
}

fn row(out: &mut String, name: &str, value: &str) {
    let _ = writeln!(out, "| {name} | {value} |");
}

fn cpu_row(out: &mut String, stretch: &str, shares: &CpuShares) {
    let cores = |used: &CpuUse| format!("{:.2}", used.cores);
    let _ = writeln!(
        out,
        "| {stretch} | {:.1} s | {} | {} | {} | {} |",
        shares.wall_seconds,
        cores(&shares.generator),
        cores(&shares.hookline),
        cores(&shares.receiver),
        cores(&shares.others)
    );
}

fn ms(p: &Percentiles) -> String {
    format!("{:.1} / {:.1} / {:.1} / {:.1} ms", p.p50, p.p95, p.p99, p.max)
}

/// A whole number with thousands separators: 12,345.
fn count(value: f64) -> String {
    if !value.is_finite() {
        return "n/a".into();
    }
    let digits = format!("{:.0}", value.abs());
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if value < -0.5 {
        grouped.insert(0, '-');
    }
    grouped
}

#[cfg(test)]
mod tests;
