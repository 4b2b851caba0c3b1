#!/usr/bin/env bash
# Headless Chromium and its WebDriver server, for the dashboard's browser tests.
# Both come from Debian's packages (`chromium`, `chromium-driver`, with their
# recommended fonts for readable screenshots), so nothing is downloaded from anywhere else.
#
#   scripts/chromium.sh install   install the packages if missing; last two lines of
#                                 stdout: CHROMEDRIVER=<path> and CHROMIUM=<path>
#   scripts/chromium.sh path      the same two lines; exit 1 when either is missing
#
# apt-get runs as root directly, or through sudo otherwise.
# Progress goes to stderr so stdout carries only the two lines.
set -euo pipefail

say() { echo "chromium: $*" >&2; }

source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"

find_chromedriver() { command -v chromedriver || true; }
find_chromium() { command -v chromium || command -v chromium-browser || true; }

print_paths() {
    local driver browser
    driver=$(find_chromedriver)
    browser=$(find_chromium)
    local missing=()
    [[ -n $driver ]] || missing+=(chromedriver)
    [[ -n $browser ]] || missing+=(chromium)
    if ((${#missing[@]})); then
        say "missing: ${missing[*]} (run: scripts/chromium.sh install)"
        return 1
    fi
    echo "CHROMEDRIVER=$driver"
    echo "CHROMIUM=$browser"
}

install() {
    if [[ -n $(find_chromedriver) && -n $(find_chromium) ]]; then
        return
    fi
    apt_install chromium chromium-driver
}

case "${1:-}" in
    install)
        install
        print_paths
        ;;
    path)
        print_paths
        ;;
    *)
        echo "usage: $0 install|path" >&2
        exit 2
        ;;
esac
