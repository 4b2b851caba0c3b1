#!/usr/bin/env bash
# Runs one load-test scenario of loadtests/ against a fresh hookline on 127.0.0.1.
#
#   scripts/loadtest.sh SCENARIO [k6 run args...]
#   scripts/loadtest.sh end_to_end -e RATE=2000 -e DURATION=30s
#   RATE=2000 DURATION=10m PAYLOAD_BYTES=1024 WAIT_SECONDS=300 scripts/loadtest.sh end_to_end
#   scripts/loadtest.sh fan_in_kafka [hookline-bench args...]
#   scripts/loadtest.sh fan_in_kafka --requests 20000 --producers 8
#
# SCENARIO: ingest, end_to_end, retry_storm or noisy_neighbour (loadtests/SCENARIO.js),
# each RATE requests/s for DURATION (k6's form: 90s, 10m, 1h30m), every body an order event
# of PAYLOAD_BYTES (1024); these and the other settings of loadtests/README.md come from
# `-e NAME=value` or from the environment (k6 reads both);
# or fan_in_kafka: Kafka producers writing straight into hookline.ingest, which k6 cannot
# do without a custom build, so hookline-bench drives it (scripts/bench.sh --fan-in-kafka;
# KAFKA_BROKERS, else the broker of scripts/kafka.sh, started if needed and left running
# for the next run; report in target/loadtest/kafka-fan-in.md and .json unless
# --report-dir says otherwise).
# It builds the release binaries, installs k6 if needed (scripts/k6.sh; or set K6 to a k6
# binary), starts `hookline serve` on an empty temporary data directory and the
# hookline-receiver(s) the scenario needs, all on port 0, runs k6, and prints k6's summary
# followed by hookline's peak RSS and CPU time. k6's summary JSON goes to
# target/loadtest/SCENARIO.json. Everything it started is stopped on exit; the exit status
# is k6's (99: a threshold failed).
#
# hookline reads its usual environment (MAX_RETRIES, HOOKLINE_MAX_IN_FLIGHT, …); RUST_LOG
# defaults to warn and HOOKLINE_TARGET_ALLOWLIST to 127.0.0.0/8 (the receivers' loopback,
# refused by the SSRF guard otherwise). For retry_storm, RETRY_BASE_DELAY_SECONDS and
# RETRY_FACTOR default to 1 and 2 so that retries come back within the run.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

usage() {
    echo "usage: scripts/loadtest.sh {ingest|end_to_end|retry_storm|noisy_neighbour} [k6 run args...]" >&2
    echo "       scripts/loadtest.sh fan_in_kafka [hookline-bench args...]" >&2
    exit 2
}
[[ $# -ge 1 ]] || usage
SCENARIO=$1
shift

if [[ $SCENARIO == fan_in_kafka ]]; then
    if [[ -z ${KAFKA_BROKERS:-} ]]; then
        # Its last line of stdout is KAFKA_BROKERS=127.0.0.1:<port>.
        eval "$(scripts/kafka.sh start | tail -n 1)"
        export KAFKA_BROKERS
    fi
    REPORT_ARGS=(--report-dir "$REPO/target/loadtest")
    for arg in "$@"; do
        [[ $arg == --report-dir || $arg == --report-dir=* ]] && REPORT_ARGS=()
    done
    exec scripts/bench.sh --fan-in-kafka "${REPORT_ARGS[@]}" "$@"
fi
SCRIPT=$REPO/loadtests/$SCENARIO.js
[[ $SCENARIO =~ ^[a-z_]+$ && -f $SCRIPT ]] || usage

say() { echo "loadtest: $*" >&2; }

cargo build --release --locked -p hookline -p hookline-testkit
HOOKLINE_BIN=$REPO/target/release/hookline
RECEIVER_BIN=$REPO/target/release/hookline-receiver
K6=${K6:-$(scripts/k6.sh | tail -n 1)}

OUT_DIR=$REPO/target/loadtest
mkdir -p "$OUT_DIR"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/hookline-loadtest.XXXXXX")
STARTED_PIDS=()

# TERM, then KILL whatever has not exited within 10 s (a slow receiver's deliveries may
# still be in flight in hookline, and the figures are taken by then).
stop_all() {
    local pid i
    for pid in "${STARTED_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${STARTED_PIDS[@]}"; do
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap stop_all EXIT
# Exit (and so stop everything) at once on a signal, not when k6 is done.
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME PREFIX COMMAND...: runs COMMAND in the background (stdout and stderr in
# $WORK/NAME.out and .err) and waits up to 30 s for the stdout line "PREFIX http://ADDR".
# Sets STARTED_PID and STARTED_URL.
start() {
    local name=$1 prefix=$2 line="" i
    shift 2
    "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    STARTED_PID=$!
    STARTED_PIDS+=("$STARTED_PID")
    for ((i = 0; i < 300; i++)); do
        line=$(grep -m 1 "^$prefix http://" "$WORK/$name.out" || true)
        [[ -n $line ]] && break
        if ! kill -0 "$STARTED_PID" 2>/dev/null; then
            say "$name exited before listening:"
            cat "$WORK/$name.err" >&2
            exit 1
        fi
        sleep 0.1
    done
    if [[ -z $line ]]; then
        say "$name did not say where it listens within 30 s"
        cat "$WORK/$name.err" >&2
        exit 1
    fi
    STARTED_URL=${line#"$prefix "}
}

# CPU seconds (user + system) a process has used so far.
cpu_seconds() {
    # Fields after the ")" that closes the command name: utime is the 12th, stime the 13th.
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat"
}

# A /proc/PID/status field (VmHWM: peak resident memory, VmRSS: current) in MiB.
memory_mib() {
    awk -v field="$2:" '$1 == field { printf "%.1f", $2 / 1024 }' "/proc/$1/status"
}

# One line of the figures docs/benchmarks.md records, from k6's summary JSON.
figures() {
    [[ -f $1 ]] || return 0
    python3 - "$1" <<'PY'
import json, sys
metrics = json.load(open(sys.argv[1]))["metrics"]
ack = metrics.get("http_req_duration{kind:ingest}", {})
sent = metrics.get("iterations", {}).get("count", 0)
dropped = metrics.get("dropped_iterations", {}).get("count", 0)
line = "figures: {:.0f} ingests ({:.0f} dropped), ack p50 / p95 / p99 {:.1f} / {:.1f} / {:.1f} ms".format(
    sent, dropped, ack.get("med", 0), ack.get("p(95)", 0), ack.get("p(99)", 0))
if "e2e_delivered" in metrics:
    value = lambda name: metrics[name]["value"]
    line += "; delivered {:.0f} ({:.0f} missing), {:.0f}/s, end-to-end p50 / p95 / p99 {:.1f} / {:.1f} / {:.1f} ms".format(
        value("e2e_delivered"), value("e2e_missing"), value("e2e_deliveries_per_s"),
        value("e2e_p50_ms"), value("e2e_p95_ms"), value("e2e_p99_ms"))
print(line)
PY
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

K6_ENV=()
receiver() {
    start "receiver-$1" "receiver listening on" "$RECEIVER_BIN" --listen 127.0.0.1:0 "${@:3}"
    K6_ENV+=(-e "$2=$STARTED_URL")
    say "$1 receiver at $STARTED_URL${3:+ (${*:3})}"
}
receiver healthy RECEIVER_URL
case $SCENARIO in
retry_storm)
    receiver failing FAILING_RECEIVER_URL --fail-rate 1.0
    export RETRY_BASE_DELAY_SECONDS=${RETRY_BASE_DELAY_SECONDS:-1} RETRY_FACTOR=${RETRY_FACTOR:-2}
    ;;
noisy_neighbour)
    receiver slow SLOW_RECEIVER_URL --latency-ms 2000
    ;;
esac

# The receivers are on loopback, which hookline refuses as a target unless allowed.
RUST_LOG=${RUST_LOG:-warn} HOOKLINE_TARGET_ALLOWLIST=${HOOKLINE_TARGET_ALLOWLIST:-127.0.0.0/8} \
    start hookline "hookline listening on" \
    "$HOOKLINE_BIN" serve --listen 127.0.0.1:0 --data-dir "$WORK/data"
HOOKLINE_PID=$STARTED_PID
say "hookline at $STARTED_URL (pid $HOOKLINE_PID, data in $WORK/data)"
K6_ENV+=(-e "HOOKLINE_URL=$STARTED_URL")

# k6's REST API on a port of its own: teardown reads the count of accepted ingests from it.
K6_PORT=$(free_port)
K6_ENV+=(-e "K6_API_URL=http://127.0.0.1:$K6_PORT")

CPU_BEFORE=$(cpu_seconds "$HOOKLINE_PID")
RSS_BEFORE=$(memory_mib "$HOOKLINE_PID" VmRSS)
# Everything shares the machine: the load average says whether something else did too.
say "machine: $(nproc) cores, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg); $("$K6" version | head -n 1)"
K6_STATUS=0
rm -f "$OUT_DIR/$SCENARIO.json" # never report figures of an earlier run
# In the background so that a signal interrupts the wait (bash defers traps while a
# foreground command runs); the EXIT trap then stops k6 with the rest.
"$K6" run --quiet --no-usage-report --address "127.0.0.1:$K6_PORT" \
    --summary-export "$OUT_DIR/$SCENARIO.json" "${K6_ENV[@]}" "$@" "$SCRIPT" &
STARTED_PIDS+=("$!")
wait "$!" || K6_STATUS=$?

if ! kill -0 "$HOOKLINE_PID" 2>/dev/null; then
    say "hookline exited during the run:"
    tail -n 50 "$WORK/hookline.err" >&2
    exit 1
fi
CPU_AFTER=$(cpu_seconds "$HOOKLINE_PID")
echo
echo "hookline: RSS idle ${RSS_BEFORE} MiB, peak (VmHWM) $(memory_mib "$HOOKLINE_PID" VmHWM) MiB;" \
    "CPU $(awk -v a="$CPU_BEFORE" -v b="$CPU_AFTER" 'BEGIN { printf "%.1f", b - a }') s during the run;" \
    "machine load average $(cut -d' ' -f1-3 /proc/loadavg)"
WARNINGS=$(grep -c . "$WORK/hookline.err" || true)
if [[ $WARNINGS -gt 0 ]]; then
    echo "hookline logged $WARNINGS warning/error lines; the last ones:"
    tail -n 10 "$WORK/hookline.err"
fi
figures "$OUT_DIR/$SCENARIO.json"
echo "k6 summary JSON: $OUT_DIR/$SCENARIO.json"
exit "$K6_STATUS"
