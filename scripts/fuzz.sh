#!/usr/bin/env bash
# Fuzzes every target of fuzz/ (the parsers that face untrusted bytes, defined in
# services/fuzz-targets) with libFuzzer, one after the other, then minimizes each
# corpus again so that fuzz/corpus/ stays small. `cargo test` replays that corpus on
# every run; this script is for finding new inputs.
#
#   scripts/fuzz.sh [seconds]      seconds per target (default 60)
#   scripts/fuzz.sh 600 target_url only the targets named after the time
#
# Needs the nightly toolchain (rustup toolchain install nightly); installs cargo-fuzz
# from crates.io if it is missing. A crash leaves its input under fuzz/artifacts/<target>/
# (replay it with `cargo +nightly fuzz run <target> <file>`), and the script ends non-zero
# after running the other targets.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz: the nightly toolchain is needed: rustup toolchain install nightly" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz from crates.io" >&2
    cargo install cargo-fuzz --locked
fi

# The main target/ directory (ignored by git) rather than fuzz/target.
fuzz=(cargo +nightly fuzz)
build=(--target-dir target/fuzz)
if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <("${fuzz[@]}" list)
fi

failed=()
for target in "${targets[@]}"; do
    echo "== fuzz $target for ${seconds}s"
    if ! "${fuzz[@]}" run "${build[@]}" "$target" -- -max_total_time="$seconds" -print_final_stats=1; then
        failed+=("$target")
        continue
    fi
    echo "== minimize the corpus of $target"
    "${fuzz[@]}" cmin "${build[@]}" "$target" >/dev/null 2>&1
    echo "corpus: $(find "fuzz/corpus/$target" -type f | wc -l) files"
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: crashes in: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${seconds}s each, no crash"
