# Sourced by the scripts that install a tool from Debian's packages (chromium.sh,
# promtool.sh). The sourcing script defines say (a message to stderr).

# apt_install [OPTION...] PACKAGE...: installs the packages with apt-get (options such
# as --no-install-recommends go to apt-get install), as root directly or through sudo.
# apt's output is kept out of the way unless it fails.
apt_install() {
    local packages
    packages=$(echo ${*/#-*/})
    local sudo=()
    if [[ $(id -u) != 0 ]]; then
        if ! command -v sudo >/dev/null; then
            say "not root and no sudo: install the Debian packages $packages by hand"
            exit 1
        fi
        sudo=(sudo)
    fi
    say "installing $packages with apt-get"
    local log
    log=$(mktemp)
    if ! { "${sudo[@]}" apt-get update &&
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y "$@"; } </dev/null >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        say "apt-get failed (full log: $log)"
        exit 1
    fi
    rm -f "$log"
}
