#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft, no ZooKeeper) on 127.0.0.1 for
# hookline's tests. The jars come from Maven Central (scripts/kafka/pom.xml), so
# nothing has to be installed by hand on a developer's machine or in CI.
#
#   scripts/kafka.sh start    install if needed, start, wait until it answers;
#                             last line of stdout: KAFKA_BROKERS=127.0.0.1:<port>
#   scripts/kafka.sh stop     graceful shutdown (SIGTERM, then SIGKILL after 30 s)
#   scripts/kafka.sh status   exit 0 when the broker answers an admin request
#   scripts/kafka.sh reset    discard the topics of earlier runs (the broker stopped)
#
# Environment: KAFKA_PORT (19092), KAFKA_CONTROLLER_PORT (19093),
# HOOKLINE_STATE_DIR (target/engines; the broker lives in its kafka/ subdir),
# JAVA_HOME (else `java` on PATH; Kafka 4 needs Java 17+).
# Progress goes to stderr so stdout carries only the KAFKA_BROKERS line.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
CONF_SRC=$HERE/kafka

PORT=${KAFKA_PORT:-19092}
CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-19093}
STATE_ROOT=${HOOKLINE_STATE_DIR:-$REPO/target/engines}
mkdir -p "$STATE_ROOT/kafka"
STATE=$(cd "$STATE_ROOT/kafka" && pwd)
LIB=$STATE/lib
DATA=$STATE/data
CONF=$STATE/server.properties
LOG=$STATE/kafka.log
PIDFILE=$STATE/kafka.pid
JAVA=${JAVA_HOME:+$JAVA_HOME/bin/}java

# Any fixed, valid cluster id will do: the storage is local and single-node.
CLUSTER_ID=aG9va2xpbmUta2Fma2EwMQ
START_DEADLINE=${KAFKA_START_TIMEOUT:-90}

say() { echo "kafka: $*" >&2; }
# install, alive, fail: shared with the other engine scripts.
source "$(dirname "${BASH_SOURCE[0]}")/lib/engine.sh"

# A Kafka command-line tool class with quiet logging. An array rather than a
# function, so that `timeout` can run it.
TOOL=("$JAVA" -Xmx256m -XX:TieredStopAtLevel=1
    -Dlog4j2.configurationFile="$CONF_SRC/tools-log4j2.properties"
    -cp "$LIB/*")

write_config() {
    sed -e "s|@KAFKA_PORT@|$PORT|g" \
        -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" \
        -e "s|@DATA_DIR@|$DATA|g" \
        "$CONF_SRC/server.properties" >"$CONF"
    # Admin-client settings for the readiness probe: fail fast, retry in our loop.
    printf 'request.timeout.ms=5000\ndefault.api.timeout.ms=10000\n' >"$STATE/probe.properties"
}

# The pid file's process, if it is still our broker (guards against pid reuse).
broker_pid() { daemon_pid "kafka.Kafka $CONF "; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

# Really answering: the admin client can list topics (metadata from a live,
# unfenced broker), not merely a listening socket.
answering() {
    [[ -f $LIB/.installed ]] && port_open || return 1
    [[ -f $STATE/probe.properties ]] || write_config
    timeout 30 "${TOOL[@]}" org.apache.kafka.tools.TopicCommand \
        --bootstrap-server "127.0.0.1:$PORT" \
        --command-config "$STATE/probe.properties" --list >/dev/null 2>&1
}

ready() { echo "KAFKA_BROKERS=127.0.0.1:$PORT"; }

start() {
    # Two concurrent starts (parallel CI steps) must not launch two brokers.
    exec 9>"$STATE/.lock"
    flock 9

    install
    write_config

    local pid
    if pid=$(broker_pid); then
        if answering; then
            ready
            return
        fi
        say "broker (pid $pid) is running but not answering yet; waiting for it"
        LOG_IS_OURS=1
    else
        if port_open; then
            # Someone else's process holds the port; if it speaks Kafka, use it.
            if answering; then
                say "a broker not started by this script already answers on port $PORT"
                ready
                return
            fi
            fail "port $PORT is taken by a process that does not answer as a Kafka broker"
        fi
        rm -f "$PIDFILE"
        # One log per run; the previous one is kept for a post-mortem.
        if [[ -f $LOG ]]; then mv -f "$LOG" "$LOG.prev"; fi
        LOG_IS_OURS=1
        mkdir -p "$DATA"
        if [[ ! -f $DATA/meta.properties ]]; then
            say "formatting storage in $DATA"
            "${TOOL[@]}" kafka.tools.StorageTool format --cluster-id "$CLUSTER_ID" \
                --config "$CONF" --ignore-formatted >>"$LOG" 2>&1 ||
                fail "storage format failed"
        fi
        say "starting broker on 127.0.0.1:$PORT (log: $LOG)"
        launch "$JAVA" -Xms256m -Xmx512m \
            -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
            -XX:InitiatingHeapOccupancyPercent=35 \
            -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
            -Dlog4j2.configurationFile="$CONF_SRC/log4j2.properties" \
            -cp "$LIB/*" kafka.Kafka "$CONF"
    fi

    local deadline=$((SECONDS + START_DEADLINE))
    while ((SECONDS < deadline)); do
        broker_pid >/dev/null || fail "broker exited during startup"
        if port_open && answering; then
            say "ready after ${SECONDS}s (pid $(cat "$PIDFILE"))"
            ready
            return
        fi
        sleep 0.5
    done
    fail "broker did not answer within ${START_DEADLINE}s"
}

# Controlled shutdown of a single node takes a few seconds.
stop() { stop_daemon broker broker_pid 30; }

status() {
    if answering; then
        say "answering on 127.0.0.1:$PORT"
        ready
    else
        say "not answering on 127.0.0.1:$PORT"
        return 1
    fi
}

case ${1:-} in
start) start ;;
stop) stop ;;
status) status ;;
reset) discard_data broker_pid "$DATA" ;;
*)
    echo "usage: $0 {start|stop|status|reset}" >&2
    exit 2
    ;;
esac
