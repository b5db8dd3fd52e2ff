#!/usr/bin/env bash
# Full-scale connection-handling figures for otuserver (issue 3). Loopback
# only; every step is bounded in time. Installs wrk and slowhttptest from apt
# when missing. Usage: scripts/load.sh   (takes about 3 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."

need() {
  local missing=()
  for cmd in "$@"; do command -v "$cmd" >/dev/null || missing+=("$cmd"); done
  if [ ${#missing[@]} -gt 0 ]; then
    # pgrep and free come with procps.
    missing=("${missing[@]/pgrep/procps}")
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}
need wrk slowhttptest python3 pgrep

cargo build --release -q
BIN=target/release/otuserver
ROOT=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$ROOT"' EXIT
printf 'otuserver load test: a small file\n' > "$ROOT/small.txt"
head -c $((1024 * 1024)) /dev/urandom > "$ROOT/big.bin"
ulimit -n "$(ulimit -Hn)"

# Starts the server with the given flags; sets PID and PORT.
start() {
  local log="$ROOT/server.log"
  "$BIN" -s 127.0.0.1 -p 0 -r "$ROOT" -l e "$@" > "$log" 2>&1 &
  PID=$!
  for _ in $(seq 50); do
    PORT=$(grep -o '127.0.0.1:[0-9]*' "$log" | head -1 | cut -d: -f2 || true)
    [ -n "$PORT" ] && return 0
    sleep 0.1
  done
  echo "server did not start"; cat "$log"; exit 1
}
# Stops the server; it must exit 0 (a graceful stop), else the run fails.
stop() {
  kill -TERM "$PID"
  if ! wait "$PID"; then echo "FAIL: the server did not stop cleanly"; exit 1; fi
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr)"

echo "== 1. -w 2: 5,000 idle keep-alive + 1,000 silent/half-head connections, then 100 fresh requests"
start -w 2 -t 120 -k 120
timeout 300 python3 scripts/clients.py hold --port "$PORT" --idle 5000 --silent 500 --half 500 --probe 100
stop

echo "== 2. -w 4: wrk -t2 -c1000 -d15s on a small file"
start -w 4
timeout 60 wrk -t2 -c1000 -d15s "http://127.0.0.1:$PORT/small.txt" | tee "$ROOT/wrk.txt"
if grep -q 'Socket errors' "$ROOT/wrk.txt"; then echo "FAIL: socket errors"; exit 1; fi
stop

echo "== 3. resident memory with 10,000 idle keep-alive connections"
start -w 2 -t 120 -k 120
timeout 300 python3 scripts/clients.py hold --port "$PORT" --idle 10000 --probe 10 --rss-pid "$PID"
stop

for mode in "slowloris:-H -c 1000 -i 10 -r 200 -t GET -x 24 -p 3" \
            "slow body:-B -c 1000 -i 10 -r 200 -s 8192 -t POST -x 10 -p 3" \
            "slow read:-X -c 1000 -r 200 -w 512 -y 1024 -n 5 -z 32 -k 3 -p 3"; do
  name=${mode%%:*}; flags=${mode#*:}
  echo "== 4. slowhttptest $name (1,000 connections, 30 s) while a fresh client probes every 0.2 s"
  start -w 2 -t 10 -k 10
  path=/small.txt; [ "$name" = "slow read" ] && path=/big.bin
  # shellcheck disable=SC2086
  timeout 60 slowhttptest $flags -l 30 -u "http://127.0.0.1:$PORT$path" > "$ROOT/slow.txt" 2>&1 &
  SLOW=$!
  sleep 3
  timeout 60 python3 scripts/clients.py probe --port "$PORT" --seconds 25 --interval 0.2
  wait "$SLOW" || true
  grep -E 'service available|closed|pending|connected' "$ROOT/slow.txt" | tail -4 || true
  # An attack that never connected proves nothing.
  if ! sed 's/\x1b\[[0-9;]*m//g' "$ROOT/slow.txt" | grep -qE '(connected|closed): +[1-9]'; then
    echo "FAIL: slowhttptest $name never connected"; exit 1
  fi
  stop
done
