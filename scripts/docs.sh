#!/usr/bin/env bash
# Writes the generated docs again: docs/configuration.md, from the settings' doc
# comments (`hookline config --markdown`). A test fails while the committed page differs.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet -p hookline
page=$(mktemp)
trap 'rm -f "$page"' EXIT
target/debug/hookline config --markdown >"$page"
mv "$page" docs/configuration.md
trap - EXIT
echo "wrote docs/configuration.md"
