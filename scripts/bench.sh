#!/usr/bin/env bash
# End-to-end benchmark on the embedded default: builds release binaries, starts
# hookline and the benchmark receiver on 127.0.0.1, sends webhooks, prints figures.
# Usage: scripts/bench.sh [--requests N] [--concurrency C] [--rate R] [--payload-bytes B] [--json-out FILE] [--distributed]
# (--rate: requests started per second; without it every connection sends as fast as it is answered;
#  --distributed: on the Kafka log and CQL views named by KAFKA_BROKERS and SCYLLA_NODES)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p hookline -p hookline-testkit -p hookline-bench
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr)"
exec target/release/hookline-bench "$@"
