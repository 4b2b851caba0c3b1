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
            engines: "Kafka log (127.0.0.1:19092), embedded views".into(),
            ingest: "records produced straight into hookline.ingest",
            webhooks: 20_000,
            senders: 8,
            batch: Some(100),
            subscriptions: 8,
            rate: None,
            payload_bytes: 256,
            signed: false,
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
    let [json, markdown] = fan_in_report().write(&reports, "kafka-fan-in").expect("written");
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
