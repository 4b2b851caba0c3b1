#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it: formatting, lints, then every test of
# every crate — unit, property, conformance, and black-box tests that start the real
# binary with real HTTP receivers — against a real Kafka broker and a real CQL
# database (Apache Cassandra standing in for ScyllaDB), both started on 127.0.0.1 by
# this script and stopped again at the end if it started them.
set -euo pipefail
cd "$(dirname "$0")/.."

started=()
stop_engines() {
  for engine in "${started[@]}"; do
    "scripts/$engine.sh" stop >/dev/null 2>&1 || true
  done
}
trap stop_engines EXIT

# Start the engines in the background while cargo builds; each prints its address last.
mkdir -p target
for engine in kafka cassandra; do
  if ! "scripts/$engine.sh" status >/dev/null 2>&1; then
    started+=("$engine")
  fi
  ("scripts/$engine.sh" start >"target/$engine-start.out" 2>"target/$engine-start.err"; echo $? >"target/$engine-start.rc") &
done
# Schemathesis, for the test that runs it against the real binary; prints SCHEMATHESIS=… last.
(scripts/schemathesis.sh >target/schemathesis-install.out 2>target/schemathesis-install.err; echo $? >target/schemathesis-install.rc) &

# Headless Chromium for the dashboard's browser tests (Debian packages).
chromium_paths=$(scripts/chromium.sh install)
export "$(grep '^CHROMEDRIVER=' <<<"$chromium_paths")" "$(grep '^CHROMIUM=' <<<"$chromium_paths")"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test (build)"
cargo test --workspace --locked --no-run

wait
for engine in kafka cassandra; do
  if [ "$(cat "target/$engine-start.rc")" != 0 ]; then
    echo "starting $engine failed:" >&2
    cat "target/$engine-start.err" >&2
    exit 1
  fi
done
export "$(tail -n 1 target/kafka-start.out)"
export "$(tail -n 1 target/cassandra-start.out)"
if [ "$(cat target/schemathesis-install.rc)" != 0 ]; then
  echo "installing schemathesis failed:" >&2
  cat target/schemathesis-install.err >&2
  exit 1
fi
export "$(tail -n 1 target/schemathesis-install.out)"
# Tests that need an engine fail, rather than skip, when it is missing.
export HOOKLINE_REQUIRE_ENGINES=1
echo "== engines: KAFKA_BROKERS=$KAFKA_BROKERS SCYLLA_NODES=$SCYLLA_NODES"

echo "== cargo test"
cargo test --workspace --locked --no-fail-fast
