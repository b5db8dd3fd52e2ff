#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer through cargo-fuzz) of the request-head
# parser and of the path resolver behind the static-files handler, each for a
# bounded time. Installs cargo-fuzz when missing. Runs on the stable
# toolchain without a sanitizer (`-s none`: the -Z flags AddressSanitizer
# needs are nightly-only); debug assertions and overflow checks are on.
# A crash leaves its input under fuzz/artifacts/ and exits non-zero: turn it
# into a regression test before fixing it.
# Usage: scripts/fuzz.sh [seconds per target, default 60]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-60}

command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
cargo fuzz build -s none

for target in parse_head resolve; do
  corpus="corpus/$target"
  mkdir -p "$corpus"
  cp -n seeds/"$target"/* "$corpus"/
  echo "== fuzzing $target for ${seconds} s"
  cargo fuzz run -s none "$target" "$corpus" -- -max_total_time="$seconds" 2>&1 \
    | grep -E '^(Done|==|INFO: seed corpus|SUMMARY|.*panicked)' || true
  # cargo fuzz exits non-zero on a crash; with pipefail off for grep, ask it
  # again for the artifact to be sure.
  if ls artifacts/"$target"/crash-* >/dev/null 2>&1; then
    echo "FAIL: $target crashed; inputs in fuzz/artifacts/$target/"
    exit 1
  fi
done
