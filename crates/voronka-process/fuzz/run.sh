#!/usr/bin/env bash
# Fuzzes parse + validate for SECONDS (default 60). Installs cargo-fuzz when
# missing. The only toolchain is stable, so RUSTC_BOOTSTRAP=1 unlocks the
# nightly flags cargo-fuzz passes (sanitizer instrumentation).
# Usage: crates/voronka-process/fuzz/run.sh [SECONDS]
set -euo pipefail
seconds="${1:-60}"
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz..."
    start=$(date +%s)
    cargo install cargo-fuzz --locked
    echo "cargo-fuzz installed in $(( $(date +%s) - start ))s"
fi
mkdir -p corpus/validate
# Seed the corpus with the shipped and the invalid definitions.
cp ../../../process-definitions/*.yaml corpus/validate/ 2>/dev/null || true
cp ../tests/invalid/*.yaml corpus/validate/ 2>/dev/null || true
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/target}"
cargo fuzz run validate corpus/validate -- \
    -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048
