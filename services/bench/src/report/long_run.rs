//! The Markdown of what a long run adds: its totals, memory over time, the steps of a step
//! run, the chart and the table of rows.

use std::fmt::Write as _;

use super::{count, row, section};
use crate::chart::clock;
use crate::long_run::LongRun;
use crate::rows::{condense, p99_text, Row};
use crate::step::{ACCEPTED_SHARE, BACKLOG_SECONDS, GROWTH_SECONDS};

/// Runs with more rows than this get one row per minute in the Markdown (the JSON keeps all).
const MOST_ROWS: usize = 60;

pub fn markdown(out: &mut String, name: &str, run: &LongRun) {
    section(out, "Long run");
    let requests = [run.offered, run.sent, run.accepted, run.failed, run.unsent].map(|n| count(n as f64)).join(" / ");
    row(out, "offered / sent / accepted / failed / unsent", &requests);
    row(out, "load (first request due to last answered)", &format!("{:.1} s", run.load_seconds));
    let rss = &run.rss;
    let growth = format!("{:.0} / {:.0} MB ({:+.1} %)", rss.early_mb, rss.late_mb, rss.growth_percent);
    row(out, &format!("hookline RSS, highest of the first / last {:.0} s of load", rss.stretch_seconds), &growth);
    row(out, &format!("hookline RSS after {} s idle", rss.idle_seconds), &format!("{:.0} MB", rss.after_idle_mb));

    if !run.steps.is_empty() {
        let _ = write!(
            out,
            "\n## Steps\n\nA step is held when at least {:.0} % of its offered requests were accepted, its backlog at \
             the end is at most {BACKLOG_SECONDS} s of its traffic, and the backlog grew by at most {GROWTH_SECONDS} s \
             of traffic over its last row.\n\n| step | rate | accepted | backlog: row before → end | held |\n|---|---|---|---|---|\n",
            ACCEPTED_SHARE * 100.0
        );
        for (n, step) in run.steps.iter().enumerate() {
            let held = if step.held { "yes".to_string() } else { format!("no: {}", step.why_not) };
            let _ = writeln!(
                out,
                "| {} | {}/s | {:.1} % | {} → {} | {held} |",
                n + 1,
                count(step.rate),
                step.accepted_share * 100.0,
                count(step.previous_backlog as f64),
                count(step.end_backlog as f64)
            );
        }
        let held = run.highest_rate_held.map_or("none: not even the first step".into(), |rate| count(rate) + "/s");
        let _ = writeln!(out, "\n**Highest rate held: {held}**");
    }

    let (rows, per) =
        if run.rows.len() > MOST_ROWS { (condense(&run.rows, 6), "minute") } else { (run.rows.clone(), "10 s") };
    let _ = write!(
        out,
        "\n## Over time\n\n![Throughput, latency and hookline's memory over the run]({name}.svg)\n\n\
         One row per {per}: offered, accepted and delivered per second; the backlog (accepted, not yet delivered) \
         at the row's end; p99 of the acknowledgements answered and of the deliveries received in the row, from \
         when each request was due{}; hookline's RSS (highest and last of the 1-second samples), CPU and data \
         directory.\n\n\
         | at | offered/s | accepted/s | delivered/s | backlog | ack p99 | e2e p99 | RSS max / last | CPU cores | CPU per webhook | disk |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
        if per == "minute" { " (the worst of the minute's 10-second p99s)" } else { "" }
    );
    for each in &rows {
        table_row(out, each);
    }
}

fn table_row(out: &mut String, each: &Row) {
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} | {} | {:.0} / {:.0} MB | {:.2} | {} | {:.1} MB |",
        clock(each.at_s),
        count(each.per_second(each.offered)),
        count(each.per_second(each.accepted)),
        count(each.per_second(each.delivered)),
        count(each.backlog as f64),
        p99_text(each.ack_p99_ms),
        p99_text(each.e2e_p99_ms),
        each.rss_max_mb,
        each.rss_last_mb,
        each.cpu_cores,
        each.cpu_us_per_webhook.map_or("–".into(), |us| format!("{us:.0} µs")),
        each.disk_bytes as f64 / 1e6,
    );
}
