use super::*;
use crate::proc_stats::{CpuShares, CpuUse};
use crate::scenario::Scenario;

fn shares(cores: f64) -> CpuShares {
    let used = CpuUse { cpu_seconds: cores * 2.0, cores };
    CpuShares { wall_seconds: 2.0, generator: used, hookline: used, receiver: used, others: used }
}

fn fan_in_report() -> Report {
    let latency = Percentiles { p50: 1.25, p95: 2.5, p99: 3.75, max: 10.0 };
    Report {
        machine: Machine {
            cpu_model: "Some CPU".into(),
            cores: 2,
            memory_gib: 23.4,
            kernel: "Linux 6.18".into(),
            rustc: "rustc 1.95.0".into(),
            commit: "abc1234".into(),
            date: "2026-11-30 10:00 UTC".into(),
            load_average: "1.00 2.00 3.00".into(),
        },
        scenario: Scenario {
            mode: "kafka-fan-in",
            run: "burst of 20000 webhooks".into(),
            duration_s: None,
            engines: "Kafka log (127.0.0.1:19092), embedded views".into(),
            ingest: "records produced straight into hookline.ingest",
            webhooks: 20_000,
            senders: 8,
            batch: Some(100),
            subscriptions: 8,
            fan_out: None,
            rate: None,
            payload_bytes: 256,
            signed: false,
            ordering_keys: None,
            command: "hookline-bench --fan-in-kafka".into(),
        },
        figures: Figures {
            ingest_requests_per_s: None,
            ack_ms: None,
            produced_per_s: Some(12_345.6),
            produce_batch_ack_ms: Some(latency),
            rejected: Some(0),
            delivered: 20_000,
            missing: 0,
            duplicates: 0,
            deliveries_per_s: 4_321.0,
            end_to_end_ms: latency,
            hookline_cpu_seconds: 3.0,
            hookline_cpu_us_per_webhook: 150.2,
            hookline_rss_idle_mb: 20.0,
            hookline_rss_peak_mb: 60.4,
            cpu_while_sending: shares(0.5),
            cpu_whole_run: shares(0.25),
        },
        long_run: None,
    }
}

#[test]
fn markdown_states_machine_scenario_and_the_figures_of_the_mode() {
    let markdown = fan_in_report().markdown("kafka-fan-in");
    for expected in [
        "# Benchmark report: kafka-fan-in",
        "[kafka-fan-in.json](kafka-fan-in.json)",
        "| CPU | Some CPU, 2 cores |",
        "| memory | 23.4 GiB |",
        "| commit | abc1234 |",
        "| webhooks | 20,000 |",
        "| records per produce call | 100 |",
        "| rate | saturation (each sender goes on once answered) |",
        "| produced records/s | 12,346 |",
        "| produce call (one batch) p50 / p95 / p99 / max | 1.2 / 2.5 / 3.8 / 10.0 ms |",
        "| deliveries/s | 4,321 |",
        "| delivered / missing / duplicates | 20,000 / 0 / 0 |",
        "| hookline RSS idle / peak | 20 / 60 MB |",
        "| while sending | 2.0 s | 0.50 | 0.50 | 0.50 | 0.50 |",
    ] {
        assert!(markdown.contains(expected), "missing {expected:?} in:\n{markdown}");
    }
    assert!(!markdown.contains("ingest requests/s"), "{markdown}");
}

#[test]
fn both_files_are_written_and_the_json_holds_the_same_figures() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let reports = dir.path().join("bench");
    let [json, markdown] = <[PathBuf; 2]>::try_from(fan_in_report().write(&reports, "kafka-fan-in").expect("written"))
        .expect("two files for a burst");
    assert_eq!(json, reports.join("kafka-fan-in.json"));
    assert_eq!(markdown, reports.join("kafka-fan-in.md"));
    let written: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).expect("json")).expect("valid JSON");
    assert_eq!(written["figures"]["produced_per_s"], 12_345.6);
    assert_eq!(written["scenario"]["senders"], 8);
    assert_eq!(written["machine"]["cores"], 2);
    assert!(written["figures"].get("ack_ms").is_none(), "{written}");
    assert!(std::fs::read_to_string(markdown).expect("markdown").starts_with("# Benchmark report"));
}

#[test]
fn counts_are_grouped_by_thousands() {
    assert_eq!(count(0.0), "0");
    assert_eq!(count(999.4), "999");
    assert_eq!(count(1_000.0), "1,000");
    assert_eq!(count(1_234_567.0), "1,234,567");
    assert_eq!(count(f64::NAN), "n/a");
}

fn long_report(rows: usize) -> Report {
    let mut report = fan_in_report();
    report.scenario.run = "step, open loop".into();
    report.scenario.duration_s = Some(rows as u64 * 10);
    let verdict = |rate: f64, held: bool| crate::step::Verdict {
        rate,
        held,
        accepted_share: if held { 1.0 } else { 0.9 },
        end_backlog: 10,
        previous_backlog: 5,
        why_not: if held { String::new() } else { "90.0 % of the offered requests accepted".into() },
    };
    report.long_run = Some(LongRun {
        offered: 60_000,
        sent: 60_000,
        accepted: 59_000,
        failed: 1_000,
        unsent: 0,
        load_seconds: rows as f64 * 10.0,
        rss: crate::long_run::RssOverTime {
            early_mb: 40.0,
            late_mb: 50.0,
            stretch_seconds: 120.0,
            growth_percent: 25.0,
            after_idle_mb: 30.0,
            idle_seconds: 30,
        },
        rows: (1..=rows).map(|n| crate::rows::tests::row(n as f64 * 10.0, 2_000, 7)).collect(),
        steps: vec![verdict(2_000.0, true), verdict(3_000.0, true), verdict(4_000.0, false)],
        highest_rate_held: Some(3_000.0),
    });
    report
}

#[test]
fn a_long_run_shows_its_rows_its_steps_and_its_chart() {
    let markdown = long_report(9).markdown("embedded-step");
    for expected in [
        "| offered / sent / accepted / failed / unsent | 60,000 / 60,000 / 59,000 / 1,000 / 0 |",
        "| hookline RSS, highest of the first / last 120 s of load | 40 / 50 MB (+25.0 %) |",
        "| 3 | 4,000/s | 90.0 % | 5 → 10 | no: 90.0 % of the offered requests accepted |",
        "**Highest rate held: 3,000/s**",
        "![Throughput, latency and hookline's memory over the run](embedded-step.svg)",
        "One row per 10 s",
        "| 1:30 | 2,000 | 2,000 | 2,000 | 7 | 2.0 ms | 3.0 ms | 40 / 38 MB | 0.50 | 250 µs | 0.0 MB |",
    ] {
        assert!(markdown.contains(expected), "missing {expected:?} in:\n{markdown}");
    }
    assert_eq!(markdown.matches("| 2,000 | 2,000 | 2,000 |").count(), 9);
    assert!(!markdown.contains("A burst"), "{markdown}");
    assert!(fan_in_report().markdown("x").contains("A burst: seconds of load"));
}

#[test]
fn a_long_run_of_more_than_ten_minutes_is_shown_per_minute() {
    let markdown = long_report(90).markdown("soak");
    assert!(markdown.contains("One row per minute"), "{markdown}");
    assert_eq!(markdown.matches("| 2,000 | 2,000 | 2,000 |").count(), 15);
}

#[test]
fn a_long_run_writes_its_chart_beside_the_report() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let report = long_report(12);
    let files = report.write(dir.path(), "embedded-2m-2000").expect("written");
    assert_eq!(files.len(), 3);
    let svg = std::fs::read_to_string(dir.path().join("embedded-2m-2000.svg")).expect("the chart");
    assert!(
        svg.starts_with("<svg")
            && svg.contains("hookline-bench: embedded-2m-2000")
            && svg.contains(">step, open loop<"),
        "{svg}"
    );
    let summary = report.summary().expect("a summary");
    assert!(summary["long_run"].get("rows").is_none() && summary["long_run"]["offered"] == 60_000);
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&files[0]).expect("json")).expect("valid JSON");
    assert_eq!(written["long_run"]["rows"].as_array().map(Vec::len), Some(12));
    assert_eq!(written["long_run"]["highest_rate_held"], 3_000.0);
}
