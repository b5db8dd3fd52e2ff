#!/usr/bin/env python3
"""Chained --reuse-port handovers under load, counting failed requests.

Eight client threads fetch one file over fresh connections without pause while
a new otuserver starts beside the running one and the old one gets SIGTERM,
HANDOVERS times in a row. Any request that is not a whole `200` counts as
failed, classified (connect reset, reset after connecting, bad answer); a
handover with one is reported. With --busy, two shell loops keep both cores
busy, which widens the windows a race needs. Loopback only, bounded.

Usage: scripts/handover.py [--busy] [HANDOVERS, default 60]
(runs target/release/otuserver, or $OTUSERVER_BIN: cargo build --release)
"""
import collections
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("OTUSERVER_BIN") or os.path.join(ROOT, "target", "release", "otuserver")
BODY = b"hello\n"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(port, docroot):
    """Starts a server on the port and returns once it listens: its banner
    comes after the bind (with `-l e` nothing else is written to stdout)."""
    proc = subprocess.Popen(
        [BIN, "-s", "127.0.0.1", "-p", str(port), "-r", docroot, "--reuse-port", "-l", "e"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    if b"serving" not in proc.stdout.readline():
        proc.kill()
        sys.exit("otuserver did not start listening")
    return proc


def fetch(port, outcomes, lock):
    outcome = attempt(port)
    with lock:
        outcomes[outcome] += 1


def attempt(port):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
    except OSError as e:
        return "connect: " + type(e).__name__
    data = b""
    try:
        s.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        while chunk := s.recv(4096):
            data += chunk
    except OSError as e:
        return "after connecting: " + type(e).__name__
    finally:
        s.close()
    if data.startswith(b"HTTP/1.1 200 OK") and data.endswith(BODY):
        return "ok"
    return "bad answer"


def main():
    args = sys.argv[1:]
    busy = "--busy" in args
    args = [a for a in args if a != "--busy"]
    handovers = int(args[0]) if args else 60
    hogs = []
    if busy:
        hogs = [
            subprocess.Popen(["sh", "-c", "while :; do :; done"]) for _ in range(os.cpu_count() or 2)
        ]
    with tempfile.TemporaryDirectory() as docroot:
        with open(os.path.join(docroot, "hello.txt"), "wb") as f:
            f.write(BODY)
        port = free_port()
        current = start(port, docroot)
        outcomes = collections.Counter()
        lock = threading.Lock()
        stop = threading.Event()

        def client():
            while not stop.is_set():
                fetch(port, outcomes, lock)

        def failures():
            with lock:
                return sum(n for k, n in outcomes.items() if k != "ok")

        clients = [threading.Thread(target=client) for _ in range(8)]
        for t in clients:
            t.start()
        failed_handovers = 0
        try:
            for i in range(handovers):
                time.sleep(0.15)
                new = start(port, docroot)
                time.sleep(0.1)
                before = failures()
                current.send_signal(signal.SIGTERM)
                current.wait(timeout=30)
                current = new
                time.sleep(0.1)
                failed = failures() - before
                if failed:
                    failed_handovers += 1
                    print(f"handover {i + 1}: {failed} failed")
        finally:
            stop.set()
            for t in clients:
                t.join()
            current.terminate()
            current.wait()
            for h in hogs:
                h.kill()
    failed = sum(n for k, n in outcomes.items() if k != "ok")
    print(
        f"{handovers} handovers{' (cores busy)' if busy else ''}: "
        f"{failed_handovers} with a failed request; {outcomes['ok']} requests ok, {failed} failed"
    )
    for kind, n in sorted(outcomes.items()):
        if kind != "ok":
            print(f"  {kind}: {n}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
