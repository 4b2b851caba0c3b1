#!/usr/bin/env bash
# End-to-end benchmark: builds release binaries, starts hookline (every role in one
# process) and the benchmark receiver on 127.0.0.1, sends webhooks, waits for every
# delivery, prints the figures and writes a report: docs/bench/NAME.md and NAME.json, and
# NAME.svg (a chart) for a long run.
#
# A burst (seconds of load: the peak):
#   scripts/bench.sh [--requests N] [--concurrency C] [--rate R] [--payload-bytes B]
#                    [--distributed | --fan-in-kafka [--producers P] [--batch B]
#                    [--subscriptions S] [--signed]] [--report-dir DIR] [--report-name NAME]
# A long run (minutes or hours, open loop, a row every 10 s):
#   scripts/bench.sh --duration 10m --rate R [--distributed] [--concurrency C] [--payload-bytes B]
#                    [--ordering-keys K]
#   scripts/bench.sh --duration 10m --step [--start-rate R] [--step-rate R] [--step-seconds S]
#                    [--max-rate R]
#
# --rate: webhooks started per second; in a burst without it every sender goes on as soon as
#   it is answered (saturation).
# --duration: how long (90s, 10m, 2h, 1h30m); requests are started on schedule whether or
#   not earlier ones were answered, and latency counts from when each was due.
# --step: the rate rises every --step-seconds (30) from --start-rate by --step-rate until a
#   step is not held; prints the highest rate held.
# --payload-bytes: size of each body, an order event in JSON (1024).
# --ordering-keys K: subscriptions ordered by key, each webhook sent with one of K keys
#   round-robin (X-Ordering-Key), to measure what ordering costs.
# NAME: --report-name, else MODE (embedded, distributed or kafka-fan-in) for a burst,
#   MODE-DURATION-RATE or MODE-step-DURATION for a long run.
# --distributed: log on Kafka and views on CQL, from KAFKA_BROKERS and SCYLLA_NODES.
# --fan-in-kafka: P Kafka producers append the webhooks straight to hookline.ingest, spread
#   over S subscriptions; hookline on the Kafka log of KAFKA_BROKERS, views on SCYLLA_NODES
#   if set, else embedded. Fresh namespace (and keyspace) per run in both.
# See docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p hookline -p hookline-testkit -p hookline-bench
exec target/release/hookline-bench "$@"
