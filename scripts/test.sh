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
# What an earlier run left is removed first, so that its exit codes are never read as this run's.
mkdir -p target
rm -f target/kafka-start.{rc,out,err} target/cassandra-start.{rc,out,err} target/schemathesis-install.{rc,out,err}
# An engine this script starts starts empty: the topics and keyspaces every run
# leaves behind would otherwise pile up run after run, until the engine runs out of
# memory or takes minutes to start. One already answering is used as it is.
for engine in kafka cassandra; do
  fresh=false
  if ! "scripts/$engine.sh" status >/dev/null 2>&1; then
    started+=("$engine")
    fresh=true
  fi
  (
    exec 2>"target/$engine-start.err"
    if $fresh; then "scripts/$engine.sh" reset || true; fi
    rc=0
    "scripts/$engine.sh" start >"target/$engine-start.out" || rc=$?
    echo $rc >"target/$engine-start.rc"
  ) &
done
# Schemathesis, for the test that runs it against the real binary; prints SCHEMATHESIS=… last.
(scripts/schemathesis.sh >target/schemathesis-install.out 2>target/schemathesis-install.err; echo $? >target/schemathesis-install.rc) &

# Headless Chromium for the dashboard's browser tests (Debian packages).
chromium_paths=$(scripts/chromium.sh install)
export "$(grep '^CHROMEDRIVER=' <<<"$chromium_paths")" "$(grep '^CHROMIUM=' <<<"$chromium_paths")"
# promtool (Debian's prometheus package), for the test that checks deploy/prometheus/;
# after Chromium, since two apt-get cannot run at once.
promtool_path=$(scripts/promtool.sh install)
export "$(tail -n 1 <<<"$promtool_path")"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test (build)"
cargo test --workspace --locked --no-run
echo "== built and linted in $((SECONDS / 60)) min $((SECONDS % 60)) s"
built_at=$SECONDS

wait
for engine in kafka cassandra; do
  if [ "$(cat "target/$engine-start.rc" 2>/dev/null || echo none)" != 0 ]; then
    echo "starting $engine failed (exit code: $(cat "target/$engine-start.rc" 2>/dev/null || echo none)):" >&2
    cat "target/$engine-start.err" >&2 || true
    exit 1
  fi
done
# Each start script prints NAME=host:port last. An empty address would read as "no
# engine" to hookline (the embedded default) while the tests take it as present.
engine_address() {
  local name=$1 file=$2 line
  line=$(tail -n 1 "$file" 2>/dev/null || true)
  if [[ "$line" != "$name="?* ]]; then
    echo "$file does not end with a $name=<address> line (got: '$line'); see ${file%.out}.err" >&2
    exit 1
  fi
  export "$line"
}
engine_address KAFKA_BROKERS target/kafka-start.out
engine_address SCYLLA_NODES target/cassandra-start.out
if [ "$(cat target/schemathesis-install.rc 2>/dev/null || echo none)" != 0 ]; then
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
tested=$((SECONDS - built_at))
echo "== passed: tests $((tested / 60)) min $((tested % 60)) s, $((SECONDS / 60)) min $((SECONDS % 60)) s in all"
