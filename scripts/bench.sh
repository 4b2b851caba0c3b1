#!/usr/bin/env bash
# End-to-end benchmark on the embedded default: builds release binaries, starts
# hookline and the benchmark receiver on 127.0.0.1, sends webhooks, prints figures.
# Usage: scripts/bench.sh [--requests N] [--concurrency C] [--payload-bytes B] [--json-out FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p hookline -p hookline-testkit -p hookline-bench
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr)"
exec target/release/hookline-bench "$@"
