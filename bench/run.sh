#!/usr/bin/env bash
# Side-by-side benchmark: otuserver vs nginx vs lighttpd on loopback, same
# document root, same machine, one after the other. Installs nginx, lighttpd,
# wrk and ab (apache2-utils) from apt when missing. Prints one table of
# figures and otuserver/nginx ratios, then (f): a handler that blocks 200 ms,
# on the worker pool and on the event loops; exits non-zero if any otuserver
# request failed (on the pool).
# Usage: bench/run.sh [seconds per wrk run, default 10]   (about 4 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."

. bench/deps.sh
cargo build --release -q
cargo build --release -q -p otuserver-core --example slow_backend
ulimit -n "$(ulimit -Hn)"
exec python3 bench/run.py "${1:-10}"
