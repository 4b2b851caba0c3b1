#!/usr/bin/env bash
# promtool, which checks the Prometheus alert rules under deploy/prometheus/. It comes
# from Debian's `prometheus` package, so nothing is downloaded from anywhere else; the
# package's server is not started by hookline's tests (only promtool is used).
#
#   scripts/promtool.sh install   install the package if promtool is missing; last line
#                                 of stdout: PROMTOOL=<path>
#   scripts/promtool.sh path      the same line; exit 1 when promtool is missing
#
# apt-get runs as root directly, or through sudo otherwise.
# Progress goes to stderr so stdout carries only the one line.
set -euo pipefail

say() { echo "promtool: $*" >&2; }

print_path() {
    local found
    found=$(command -v promtool || true)
    if [[ -z $found ]]; then
        say "missing (run: scripts/promtool.sh install)"
        return 1
    fi
    echo "PROMTOOL=$found"
}

install() {
    if command -v promtool >/dev/null; then
        return
    fi
    local sudo=()
    if [[ $(id -u) != 0 ]]; then
        if ! command -v sudo >/dev/null; then
            say "not root and no sudo: install the Debian package prometheus by hand"
            exit 1
        fi
        sudo=(sudo)
    fi
    say "installing prometheus (for promtool) with apt-get"
    # apt's output is kept out of the way unless it fails.
    local log
    log=$(mktemp)
    if ! { "${sudo[@]}" apt-get update &&
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends prometheus; } </dev/null >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        say "apt-get failed (full log: $log)"
        exit 1
    fi
    rm -f "$log"
}

case "${1:-}" in
    install)
        install
        print_path
        ;;
    path)
        print_path
        ;;
    *)
        echo "usage: $0 install|path" >&2
        exit 2
        ;;
esac
