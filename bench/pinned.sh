#!/usr/bin/env bash
# Per-core benchmark: otuserver, nginx, nginx with open_file_cache and lighttpd,
# each pinned to CPU 0 with one worker, wrk pinned to CPU 1 with one thread,
# four tests in interleaved rounds; prints medians, ranges and ratios to
# lighttpd and nginx+open_file_cache; beside them on small files, bench/noop.c
# (a server that does no work, for reference). Installs nginx, lighttpd,
# wrk and a C compiler from apt when missing. Exits non-zero if any otuserver
# request failed.
# Usage: bench/pinned.sh [rounds, default 3] [seconds per run, default 5]
#        (about 7 minutes with the defaults)
set -euo pipefail
cd "$(dirname "$0")/.."

. bench/deps.sh
[ "$(nproc)" -ge 2 ] || { echo "needs two CPUs: one for the servers, one for wrk"; exit 1; }
cargo build --release -q
cc -O2 -Wall -o target/release/bench-noop bench/noop.c
ulimit -n "$(ulimit -Hn)"
exec python3 bench/pinned.py "${1:-3}" "${2:-5}"
