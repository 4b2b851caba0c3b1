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

source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"

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
    # Without recommends: only promtool is used, not the server and its extras.
    apt_install --no-install-recommends prometheus
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
