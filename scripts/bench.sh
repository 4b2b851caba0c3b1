#!/usr/bin/env bash
# End-to-end benchmark: builds release binaries, starts hookline (every role in one
# process) and the benchmark receiver on 127.0.0.1, sends webhooks, waits for every
# delivery, prints the figures and writes a report: docs/bench/MODE.md and MODE.json
# (MODE: embedded, distributed or kafka-fan-in).
#
#   scripts/bench.sh [--requests N] [--concurrency C] [--rate R] [--payload-bytes B]
#                    [--distributed | --fan-in-kafka [--producers P] [--batch B]
#                    [--subscriptions S] [--signed]] [--report-dir DIR]
#
# --rate: webhooks started per second; without it every sender goes on as soon as it is
#   answered (saturation).
# --distributed: log on Kafka and views on CQL, from KAFKA_BROKERS and SCYLLA_NODES.
# --fan-in-kafka: P Kafka producers append the webhooks straight to hookline.ingest, spread
#   over S subscriptions; hookline on the Kafka log of KAFKA_BROKERS, views on SCYLLA_NODES
#   if set, else embedded. Fresh namespace (and keyspace) per run in both.
# See docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p hookline -p hookline-testkit -p hookline-bench
exec target/release/hookline-bench "$@"
