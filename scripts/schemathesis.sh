#!/usr/bin/env bash
# Schemathesis (property-based testing of the REST API against schemas/openapi.yaml),
# installed from PyPI into a virtualenv under target/, so nothing has to be installed by
# hand on a developer's machine or in CI.
#
#   scripts/schemathesis.sh    install if needed; last line of stdout:
#                              SCHEMATHESIS=<path to the st command>
#
# The black-box test services/hookline/tests/it/schemathesis.rs runs it against the real
# binary when SCHEMATHESIS is set. Environment: PYTHON (else the first Python 3.11+ found
# without the bug below).
# Progress goes to stderr so stdout carries only the SCHEMATHESIS line.
set -euo pipefail

VERSION=4.32.5

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
VENV=$REPO/target/venv-schemathesis
say() { echo "schemathesis: $*" >&2; }

# CPython 3.11.0-3.11.7 and 3.12.0-3.12.1 fail to parse large modules now and then
# ("AST constructor recursion depth mismatch"), which Hypothesis does while
# Schemathesis generates data: take the first interpreter without that bug, from PATH
# or from pyenv's versions, else python3 with a warning.
unaffected_python() {
    local candidates=(python3.14 python3.13 python3.12 python3.11 python3)
    if command -v pyenv >/dev/null; then
        mapfile -t -O ${#candidates[@]} candidates < <(ls -d "$(pyenv root)"/versions/3.*/bin/python3 2>/dev/null | sort -rV)
    fi
    local candidate
    for candidate in "${candidates[@]}"; do
        if "$candidate" -c 'import sys; v = sys.version_info[:3]
sys.exit(not (v >= (3, 11) and not (3, 11) <= v < (3, 11, 8) and not (3, 12) <= v < (3, 12, 2)))' 2>/dev/null; then
            command -v "$candidate"
            return
        fi
    done
    say "warning: every Python found has CPython's AST recursion bug; using python3"
    command -v python3
}
PYTHON=${PYTHON:-$(unaffected_python)}

WANT="$VERSION $("$PYTHON" -c 'import sys; print(sys.version.split()[0])')"
if [[ ! -x $VENV/bin/st || $(cat "$VENV/.installed" 2>/dev/null) != "$WANT" ]]; then
    say "installing schemathesis $VERSION from PyPI into $VENV with $PYTHON"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV" >&2
    # pip's output is kept out of the way unless it fails.
    if ! "$VENV/bin/pip" install --disable-pip-version-check "schemathesis==$VERSION" >"$REPO/target/schemathesis-pip.log" 2>&1; then
        tail -n 30 "$REPO/target/schemathesis-pip.log" >&2
        say "pip could not install schemathesis (full log: $REPO/target/schemathesis-pip.log)"
        exit 1
    fi
    echo "$WANT" >"$VENV/.installed"
fi
"$VENV/bin/st" --version >&2
echo "SCHEMATHESIS=$VENV/bin/st"
