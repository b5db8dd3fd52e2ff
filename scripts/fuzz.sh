#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer through cargo-fuzz) of the request-head
# parser and of the path resolver behind the static-files handler, each for a
# bounded time. Installs cargo-fuzz (and g++, for libFuzzer) when missing.
# Runs on the stable toolchain without a sanitizer (`-s none`: the -Z flags
# AddressSanitizer needs are nightly-only); debug assertions and overflow
# checks are on. Any finding (crash, out-of-memory, an input slower than
# 10 s) leaves its input under fuzz/artifacts/ and makes this script exit
# non-zero: turn it into a regression test before fixing it.
# Usage: scripts/fuzz.sh [seconds per target, default 60]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-60}

if ! command -v c++ >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ >/dev/null
fi
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
cargo fuzz build -s none

log=$(mktemp)
trap 'rm -f "$log"' EXIT
for target in parse_head resolve; do
  corpus="corpus/$target"
  mkdir -p "$corpus"
  echo "== fuzzing $target for ${seconds} s"
  # The seeds are a second, read-only corpus directory; new inputs go to
  # the first.
  if ! cargo fuzz run -s none "$target" "$corpus" "seeds/$target" -- \
       -max_total_time="$seconds" -timeout=10 > "$log" 2>&1; then
    tail -40 "$log"
    echo "FAIL: fuzzing $target found a problem; inputs in fuzz/artifacts/$target/"
    exit 1
  fi
  grep -E '^Done' "$log" || true
done
