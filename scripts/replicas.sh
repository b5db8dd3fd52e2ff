#!/usr/bin/env bash
# Two otuserver replicas behind nginx (round robin), serving two copies of one
# tree made with preserved times (so other inodes): checks through the
# balancer that both answer the same validators, that revalidation and a
# resumed download work whichever replica answers, and that a rolling
# restart of one replica fails no request. Loopback only; about 20 s.
# Installs nginx from apt when missing. Exits non-zero on any failure.
# Usage: scripts/replicas.sh
set -euo pipefail
cd "$(dirname "$0")/.."

command -v nginx >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
}
cargo build --release -q
bin=$PWD/target/release/otuserver

base=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -f "$base/nginx.pid" ] && kill "$(cat "$base/nginx.pid")" 2>/dev/null || true
  rm -rf "$base"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }

# One tree, two copies with their times kept.
mkdir -p "$base/origin/docs"
head -c 3000000 /dev/urandom > "$base/origin/big.bin"
echo "<h1>replica test</h1>" > "$base/origin/index.html"
echo "notes" > "$base/origin/docs/notes.txt"
cp -a "$base/origin" "$base/a"
cp -a "$base/origin" "$base/b"

start_replica() { # name port
  "$bin" -s 127.0.0.1 -p "$2" -r "$base/$1" -l e --grace 5 &
  pids+=($!)
  wait_port "$2"
}
port_a=$(free_port); port_b=$(free_port); port_lb=$(free_port)
start_replica a "$port_a"; pid_a=${pids[-1]}
start_replica b "$port_b"

cat > "$base/nginx.conf" <<CONF
worker_processes 1;
daemon on;
pid $base/nginx.pid;
error_log $base/nginx-error.log error;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $base/nb; proxy_temp_path $base/np; fastcgi_temp_path $base/nf;
    uwsgi_temp_path $base/nu; scgi_temp_path $base/ns;
    upstream replicas {
        server 127.0.0.1:$port_a max_fails=1 fail_timeout=2s;
        server 127.0.0.1:$port_b max_fails=1 fail_timeout=2s;
        keepalive 16;
    }
    server {
        listen 127.0.0.1:$port_lb;
        location / {
            proxy_pass http://replicas;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_next_upstream error timeout http_503;
            add_header X-Replica \$upstream_addr always;
        }
    }
}
CONF
nginx -c "$base/nginx.conf" -p "$base"
wait_port "$port_lb"
lb="http://127.0.0.1:$port_lb"

fail() { echo "FAIL: $*"; exit 1; }
header() { grep -i "^$1:" | head -1 | cut -d' ' -f2- | tr -d '\r'; }

# 1. The same validators from both replicas.
declare -A etag lm
for _ in 1 2 3 4; do
  h=$(curl -s -D - -o /dev/null "$lb/big.bin")
  r=$(header X-Replica <<<"$h")
  etag[$r]=$(header ETag <<<"$h")
  lm[$r]=$(header Last-Modified <<<"$h")
done
[ "${#etag[@]}" -eq 2 ] || fail "round robin did not reach both replicas: ${!etag[*]}"
tags=$(printf '%s\n' "${etag[@]}" | sort -u | wc -l)
dates=$(printf '%s\n' "${lm[@]}" | sort -u | wc -l)
[ "$tags" -eq 1 ] && [ "$dates" -eq 1 ] || fail "validators differ: ${etag[*]} / ${lm[*]}"
tag=$(printf '%s\n' "${etag[@]}" | head -1)
echo "ok: both replicas answer ETag $tag, Last-Modified ${lm[*]:0:1}"

# 2. Revalidation is 304 whichever replica answers.
for _ in 1 2 3 4; do
  code=$(curl -s -o /dev/null -w '%{http_code} %header{x-replica}' -H "If-None-Match: $tag" "$lb/big.bin")
  [ "${code%% *}" = 304 ] || fail "If-None-Match got $code"
done
echo "ok: If-None-Match answered 304 by both replicas"

# 3. A download resumed on the other replica is byte-exact.
curl -s -r 0-999999 -o "$base/part1" -D "$base/h1" "$lb/big.bin"
first=$(header X-Replica < "$base/h1")
for _ in 1 2 3; do
  curl -s -H "Range: bytes=1000000-" -H "If-Range: $tag" -o "$base/part2" -D "$base/h2" "$lb/big.bin"
  [ "$(header X-Replica < "$base/h2")" != "$first" ] && break
done
[ "$(header X-Replica < "$base/h2")" != "$first" ] || fail "the resume did not reach the other replica"
grep -q "^HTTP/1.1 206" "$base/h2" || fail "the resume was not 206: $(head -1 "$base/h2")"
cat "$base/part1" "$base/part2" | cmp - "$base/origin/big.bin" || fail "the resumed download differs"
echo "ok: a download begun on $first and resumed on $(header X-Replica < "$base/h2") is byte-exact"

# 4. A rolling restart of one replica under load fails no request.
python3 - "$lb" > "$base/load" <<'PY' &
import sys, time, urllib.request
url, ok, failed, until = sys.argv[1] + "/docs/notes.txt", 0, 0, time.time() + 6
while time.time() < until:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            ok += r.read() == b"notes\n"
    except Exception:
        failed += 1
print(ok, failed)
PY
load=$!
sleep 1.5
kill -TERM "$pid_a"; wait "$pid_a" 2>/dev/null || true
sleep 1
start_replica a "$port_a"
wait "$load"
read -r ok failed < "$base/load"
[ "$failed" -eq 0 ] && [ "$ok" -gt 1000 ] || fail "rolling restart: $ok ok, $failed failed"
echo "ok: rolling restart of one replica under load: $ok requests, 0 failed"
