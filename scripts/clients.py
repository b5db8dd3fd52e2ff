#!/usr/bin/env python3
"""Loopback clients for scripts/load.sh: hold many idle, silent and half-sent
connections open against a server, probe it with fresh requests, and report
latencies. Targets 127.0.0.1 only; every loop is bounded."""

import argparse
import resource
import socket
import sys
import time

HOST = "127.0.0.1"


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def read_response(s):
    """Reads one response with Content-Length; returns its status."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside a head")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside a body")
        body += chunk
    return int(head.split(b" ")[1])


def request(port, path, keep=False):
    s = socket.create_connection((HOST, port), timeout=10)
    conn = "keep-alive" if keep else "close"
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: {conn}\r\n\r\n".encode())
    return s, read_response(s)


def timed_request(port, path):
    """One fresh request: (milliseconds taken, whether it got a 200)."""
    t = time.monotonic()
    try:
        s, status = request(port, path)
        s.close()
        ok = status == 200
    except OSError:
        ok = False
    return (time.monotonic() - t) * 1000, ok


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def hold(args):
    raise_nofile()
    held = []
    t0 = time.monotonic()
    for _ in range(args.idle):
        s, status = request(args.port, args.path, keep=True)
        assert status == 200, status
        held.append(s)
    for _ in range(args.silent):
        held.append(socket.create_connection((HOST, args.port), timeout=10))
    for _ in range(args.half):
        s = socket.create_connection((HOST, args.port), timeout=10)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Half: ")
        held.append(s)
    opened = time.monotonic() - t0
    latencies, failures = [], 0
    for _ in range(args.probe):
        ms, ok = timed_request(args.port, args.path)
        latencies.append(ms)
        failures += 0 if ok else 1
    if args.rss_pid:
        with open(f"/proc/{args.rss_pid}/status") as f:
            rss = [l.split()[1] for l in f if l.startswith("VmRSS:")][0]
        print(f"rss_kib={rss}")
    print(
        f"held={len(held)} opened_in_s={opened:.1f} probes={args.probe} failures={failures} "
        f"p50_ms={percentile(latencies, 50):.2f} p99_ms={percentile(latencies, 99):.2f} "
        f"max_ms={max(latencies):.2f}"
    )
    for s in held:
        s.close()
    return 1 if failures else 0


def probe(args):
    """Fresh requests every `interval` seconds for `seconds`."""
    latencies, failures = [], 0
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        ms, ok = timed_request(args.port, args.path)
        latencies.append(ms)
        failures += 0 if ok else 1
        time.sleep(args.interval)
    print(
        f"probes={len(latencies)} failures={failures} p50_ms={percentile(latencies, 50):.2f} "
        f"p99_ms={percentile(latencies, 99):.2f} max_ms={max(latencies):.2f}"
    )
    return 1 if failures else 0


def main():
    p = argparse.ArgumentParser(description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("hold")
    h.add_argument("--port", type=int, required=True)
    h.add_argument("--path", default="/small.txt")
    h.add_argument("--idle", type=int, default=0)
    h.add_argument("--silent", type=int, default=0)
    h.add_argument("--half", type=int, default=0)
    h.add_argument("--probe", type=int, default=100)
    h.add_argument("--rss-pid", type=int, default=0)
    q = sub.add_parser("probe")
    q.add_argument("--port", type=int, required=True)
    q.add_argument("--path", default="/small.txt")
    q.add_argument("--seconds", type=float, default=20)
    q.add_argument("--interval", type=float, default=0.2)
    args = p.parse_args()
    sys.exit(hold(args) if args.cmd == "hold" else probe(args))


if __name__ == "__main__":
    main()
