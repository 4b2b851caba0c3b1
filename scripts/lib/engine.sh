# Sourced by the engine scripts (kafka.sh, cassandra.sh): what they share.
# The sourcing script defines say (a message to stderr), stop, LOG (the
# engine's log file), CONF_SRC (its folder with pom.xml), LIB (where the jars go),
# STATE (its working folder) and PIDFILE (where its daemon's pid is kept).

# Jars are fetched once per pom version; a changed pom re-fetches.
install() {
    local want
    want=$(sha256sum "$CONF_SRC/pom.xml" | cut -c1-16)
    if [[ -f $LIB/.installed && $(cat "$LIB/.installed") == "$want" ]]; then
        return
    fi
    if ! command -v mvn >/dev/null; then
        say "Maven (mvn) is needed to fetch the jars: apt-get install -y maven"
        exit 1
    fi
    say "installing jars from Maven Central into $LIB"
    rm -rf "$LIB.tmp"
    # -f with an absolute outputDirectory: nothing is written under scripts/.
    # Maven's output is kept out of the way unless it fails.
    if ! mvn -B -Dstyle.color=never -f "$CONF_SRC/pom.xml" \
        dependency:copy-dependencies -DincludeScope=runtime \
        -DoutputDirectory="$LIB.tmp" </dev/null >"$STATE/mvn.log" 2>&1; then
        tail -n 50 "$STATE/mvn.log" >&2
        say "maven could not fetch the jars (full log: $STATE/mvn.log)"
        exit 1
    fi
    echo "$want" >"$LIB.tmp/.installed"
    rm -rf "$LIB"
    mv "$LIB.tmp" "$LIB"
}

# Not `kill -0`: that also succeeds on a zombie, which a non-reaping init
# (some containers) may leave behind.
alive() {
    local state
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $state && $state != Z ]]
}

# daemon_pid PATTERN: the pid in $PIDFILE, if that process still runs and its
# command line holds PATTERN (a pid the system gave to another process is not ours).
daemon_pid() {
    local pid cmdline
    [[ -f $PIDFILE ]] || return 1
    pid=$(cat "$PIDFILE")
    [[ -n $pid && -r /proc/$pid/cmdline ]] || return 1
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline")
    [[ $cmdline == *"$1"* ]] || return 1
    echo "$pid"
}

# launch COMMAND...: starts COMMAND in $STATE as the engine's daemon, its output
# appended to $LOG, and waits for its pid in $PIDFILE. setsid: the daemon outlives
# this shell and ignores its terminal's signals; the inner bash records its own pid
# and then becomes COMMAND.
launch() {
    (
        cd "$STATE"
        # shellcheck disable=SC2016 # $$ and $1 belong to the inner bash
        setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$PIDFILE" "$@" \
            >>"$LOG" 2>&1 </dev/null 9>&- &
    )
    for _ in $(seq 50); do [[ -s $PIDFILE ]] && break; sleep 0.1; done
}

# stop_daemon WHAT PID_FUNCTION GRACE: stops the daemon PID_FUNCTION names with
# SIGTERM (its shutdown hook runs), and with SIGKILL if it still runs after GRACE
# seconds.
stop_daemon() {
    local what=$1 pid_function=$2 grace=$3 pid
    if ! pid=$("$pid_function"); then
        rm -f "$PIDFILE"
        say "not running"
        return 0
    fi
    say "stopping $what (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq $((grace * 10))); do
        alive "$pid" || break
        sleep 0.1
    done
    if alive "$pid"; then
        say "still running after $grace s; SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        while alive "$pid"; do sleep 0.1; done
    fi
    rm -f "$PIDFILE"
}

# discard_data PID_FUNCTION DIR...: removes the engine's data (what the tests
# wrote: topics, keyspaces), only while the daemon PID_FUNCTION names is stopped.
discard_data() {
    local pid_function=$1
    shift
    if "$pid_function" >/dev/null; then
        say "running: stop it before discarding its data"
        exit 1
    fi
    say "discarding the data in $STATE"
    rm -rf "$@"
}

# LOG_IS_OURS: only a log written by the process we launched or waited for
# explains a failure; a leftover from an earlier run would mislead.
LOG_IS_OURS=
fail() {
    say "$1"
    if [[ -n $LOG_IS_OURS && -f $LOG ]]; then
        # The root cause is often far above the shutdown noise at the end.
        if grep -q -E '(ERROR|FATAL)' "$LOG"; then
            say "first errors in $LOG:"
            grep -m 5 -A 2 -E '(ERROR|FATAL)' "$LOG" >&2 || true
        fi
        say "last 50 lines of $LOG:"
        tail -n 50 "$LOG" >&2
    fi
    stop >/dev/null 2>&1 || true
    exit 1
}
