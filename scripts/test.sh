#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it: formatting, lints, then every test of
# every crate (unit, property, conformance, and black-box tests that start the real
# binary with real HTTP receivers on 127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked --no-fail-fast
