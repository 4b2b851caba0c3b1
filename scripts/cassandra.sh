#!/usr/bin/env bash
# A real single-node Apache Cassandra (standing in for ScyllaDB: same CQL
# protocol) on 127.0.0.1 for hookline's tests. The jars come from Maven Central
# (scripts/cassandra/pom.xml), so nothing has to be installed by hand on a
# developer's machine or in CI.
#
#   scripts/cassandra.sh start    install if needed, start, wait until a CQL query
#                                 succeeds; last line of stdout:
#                                 SCYLLA_NODES=127.0.0.1:<port>
#   scripts/cassandra.sh stop     graceful shutdown (SIGTERM, then SIGKILL after 60 s)
#   scripts/cassandra.sh status   exit 0 when a CQL query succeeds
#   scripts/cassandra.sh reset    discard the keyspaces of earlier runs (the node stopped)
#
# Environment: CQL_PORT (19042), CASSANDRA_STORAGE_PORT (17000),
# HOOKLINE_STATE_DIR (target/engines; the node lives in its cassandra/ subdir),
# CASSANDRA_JAVA_HOME or JAVA_HOME (must be Java 11 or 17; otherwise the
# system's Java 17 is looked for).
# Progress goes to stderr so stdout carries only the SCYLLA_NODES line.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
CONF_SRC=$HERE/cassandra

CQL_PORT=${CQL_PORT:-19042}
STORAGE_PORT=${CASSANDRA_STORAGE_PORT:-17000}
STATE_ROOT=${HOOKLINE_STATE_DIR:-$REPO/target/engines}
mkdir -p "$STATE_ROOT/cassandra"
STATE=$(cd "$STATE_ROOT/cassandra" && pwd)
LIB=$STATE/lib
CONF=$STATE/cassandra.yaml
LOG=$STATE/cassandra.log
PIDFILE=$STATE/cassandra.pid
START_DEADLINE=${CASSANDRA_START_TIMEOUT:-180}

say() { echo "cassandra: $*" >&2; }
# install, alive, fail: shared with the other engine scripts.
source "$(dirname "${BASH_SOURCE[0]}")/lib/engine.sh"

java_major() {
    "$1/bin/java" -version 2>&1 | sed -n 's/.* version "\([0-9]*\).*/\1/p' | head -n 1
}

# Cassandra 5.0 runs on Java 11 and 17 only; pick one explicitly so a newer
# default JDK on PATH cannot break the node.
pick_java() {
    local candidates=("${CASSANDRA_JAVA_HOME:-}" "${JAVA_HOME:-}")
    local on_path
    if on_path=$(command -v java); then
        candidates+=("$(dirname "$(dirname "$(readlink -f "$on_path")")")")
    fi
    candidates+=(/usr/lib/jvm/java-17-openjdk-amd64 /usr/lib/jvm/java-17-openjdk-arm64
        /usr/lib/jvm/temurin-17-jdk-amd64 /usr/lib/jvm/java-11-openjdk-amd64)
    local home
    for home in "${candidates[@]}"; do
        [[ -n $home && -x $home/bin/java ]] || continue
        case $(java_major "$home") in
        11 | 17)
            JAVA_HOME=$home
            export JAVA_HOME
            return
            ;;
        esac
    done
    say "no Java 11 or 17 found (set CASSANDRA_JAVA_HOME); Cassandra 5.0 needs one"
    exit 1
}

write_config() {
    sed -e "s|@CQL_PORT@|$CQL_PORT|g" \
        -e "s|@STORAGE_PORT@|$STORAGE_PORT|g" \
        -e "s|@STATE@|$STATE|g" \
        "$CONF_SRC/cassandra.yaml" >"$CONF"
}

# The pid file's process, if it is still our node (guards against pid reuse).
node_pid() { daemon_pid "-Dcassandra.config=file://$CONF "; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$CQL_PORT") 2>/dev/null; }

# Really answering: OPTIONS, STARTUP and a SELECT on system.local all succeed.
answering() {
    python3 "$CONF_SRC/cql_probe.py" 127.0.0.1 "$CQL_PORT" 5 2>/dev/null
}

ready() { echo "SCYLLA_NODES=127.0.0.1:$CQL_PORT"; }

start() {
    # Two concurrent starts (parallel CI steps) must not launch two nodes.
    exec 9>"$STATE/.lock"
    flock 9

    install
    write_config

    local pid version
    if pid=$(node_pid); then
        if answering >/dev/null; then
            ready
            return
        fi
        say "node (pid $pid) is running but not answering yet; waiting for it"
        LOG_IS_OURS=1
    else
        if port_open; then
            # Someone else's process holds the port; if it speaks CQL, use it.
            if version=$(answering); then
                say "a CQL server ($version) not started by this script already answers on port $CQL_PORT"
                ready
                return
            fi
            fail "port $CQL_PORT is taken by a process that does not answer CQL"
        fi
        rm -f "$PIDFILE"
        # One log per run; the previous one is kept for a post-mortem.
        if [[ -f $LOG ]]; then mv -f "$LOG" "$LOG.prev"; fi
        LOG_IS_OURS=1
        pick_java
        mkdir -p "$STATE/data" "$STATE/commitlog" "$STATE/saved_caches" \
            "$STATE/hints" "$STATE/cdc_raw" "$STATE/logs"
        local jamm
        jamm=$(ls "$LIB"/jamm-*.jar)
        say "starting node on 127.0.0.1:$CQL_PORT with Java $(java_major "$JAVA_HOME") (log: $LOG)"
        launch "$JAVA_HOME/bin/java" @"$CONF_SRC/jvm-server.options" \
            -Xms1g -Xmx3g \
            -javaagent:"$jamm" \
            -Dcassandra.config="file://$CONF" \
            -Dcassandra.storagedir="$STATE" \
            -Dcassandra.logdir="$STATE/logs" \
            -Dlogback.configurationFile="$CONF_SRC/logback.xml" \
            -cp "$LIB/*" org.apache.cassandra.service.CassandraDaemon
    fi

    local deadline=$((SECONDS + START_DEADLINE))
    while ((SECONDS < deadline)); do
        node_pid >/dev/null || fail "node exited during startup"
        if port_open && version=$(answering); then
            say "Cassandra $version ready after ${SECONDS}s (pid $(cat "$PIDFILE"))"
            ready
            return
        fi
        sleep 0.5
    done
    fail "node did not answer CQL within ${START_DEADLINE}s"
}

# SIGTERM runs Cassandra's shutdown hook (drains and flushes memtables).
stop() { stop_daemon node node_pid 60; }

status() {
    local version
    if version=$(answering); then
        say "Cassandra $version answering CQL on 127.0.0.1:$CQL_PORT"
        ready
    else
        say "not answering CQL on 127.0.0.1:$CQL_PORT"
        return 1
    fi
}

case ${1:-} in
start) start ;;
stop) stop ;;
status) status ;;
reset) discard_data node_pid "$STATE"/{data,commitlog,saved_caches,hints,cdc_raw} ;;
*)
    echo "usage: $0 {start|stop|status|reset}" >&2
    exit 2
    ;;
esac
