#!/usr/bin/env python3
"""Runs the benchmark that bench/run.sh prepares. Loopback only; every run is
bounded in time; servers are stopped at the end whatever happens."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SECONDS = int(sys.argv[1]) if len(sys.argv) > 1 else 10
CORES = os.cpu_count() or 2
ROOT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OTUSERVER = os.path.join(ROOT_DIR, "target", "release", "otuserver")
SLOW_BACKEND = os.path.join(ROOT_DIR, "target", "release", "examples", "slow_backend")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_docroot(base):
    root = os.path.join(base, "www")
    os.makedirs(os.path.join(root, "dir"))
    with open(os.path.join(root, "dir", "index.html"), "wb") as f:
        f.write(b"<html><body>index</body></html>\n\n\n"[:34])
    with open(os.path.join(root, "small.txt"), "wb") as f:
        f.write(b"otuserver benchmark: 38 bytes of text"[:37] + b"\n")
    for name, size in (("1m.bin", 1 << 20), ("16m.bin", 16 << 20)):
        with open(os.path.join(root, name), "wb") as f:
            f.write(os.urandom(size))
    return root


def wait_port(port, proc):
    for _ in range(100):
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


class Server:
    def __init__(self, name, argv, port, pidfile=None):
        self.name, self.port, self.pidfile = name, port, pidfile
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        wait_port(port, self.proc)

    def pids(self):
        """The server's processes (master and workers)."""
        out = subprocess.run(["pgrep", "-s", str(self.proc.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def peak_rss_kib(self):
        total = 0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            total += int(line.split()[1])
            except OSError:
                pass
        return total

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)


def start_otuserver(root, base, workers=CORES, prefix=()):
    port = free_port()
    return Server("otuserver", [*prefix, OTUSERVER, "-s", "127.0.0.1", "-p", str(port), "-r", root,
                                "-l", "e", "-w", str(workers)], port)


def start_nginx(root, base, workers=CORES, prefix=(), extra="", name="nginx"):
    port = free_port()
    conf = os.path.join(base, f"{name}.conf".replace(" ", "-"))
    with open(conf, "w") as f:
        f.write(f"""
worker_processes {workers};
user root;
daemon off;
pid {base}/nginx.pid;
error_log {base}/nginx-error.log error;
events {{ worker_connections 20000; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    {extra}
    types {{ text/html html; text/plain txt; application/octet-stream bin; }}
    client_body_temp_path {base}/nginx-body;
    proxy_temp_path {base}/nginx-proxy;
    fastcgi_temp_path {base}/nginx-fastcgi;
    uwsgi_temp_path {base}/nginx-uwsgi;
    scgi_temp_path {base}/nginx-scgi;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {root};
        index index.html;
    }}
}}
""")
    return Server(name, [*prefix, "nginx", "-c", conf, "-p", base], port)


def start_lighttpd(root, base, prefix=()):
    port = free_port()
    conf = os.path.join(base, "lighttpd.conf")
    with open(conf, "w") as f:
        f.write(f"""
server.document-root = "{root}"
server.bind = "127.0.0.1"
server.port = {port}
server.max-fds = 20000
server.max-connections = 10000
server.max-keep-alive-requests = 1000000
server.network-backend = "sendfile"
server.errorlog = "{base}/lighttpd-error.log"
index-file.names = ( "index.html" )
mimetype.assign = ( ".html" => "text/html", ".txt" => "text/plain", ".bin" => "application/octet-stream" )
""")
    return Server("lighttpd", [*prefix, "lighttpd", "-D", "-f", conf], port)


def run(argv, timeout):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout).stdout


def to_number(value, unit):
    scale = {"": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9,
             "us": 1e-3, "ms": 1, "s": 1e3, "B": 1, "KB": 1024, "MB": 1 << 20, "GB": 1 << 30}
    return float(value) * scale[unit]


def wrk(url, connections, threads=2, prefix=(), seconds=None):
    seconds = seconds or SECONDS
    out = run([*prefix, "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url],
              seconds + 30)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    tps = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(\w+)", out)
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    return {"rps": rps, "mbps": to_number(*tps.groups()) / (1 << 20),
            "p99": to_number(*p99.groups()), "failed": errors}


def ab(url):
    out = run(["ab", "-n", "50000", "-c", "100", "-r", url], 120)
    rps = float(re.search(r"Requests per second:\s+([\d.]+)", out).group(1))
    failed = int(re.search(r"Failed requests:\s+(\d+)", out).group(1))
    non2xx = re.search(r"Non-2xx responses:\s+(\d+)", out)
    p99 = re.search(r"\n\s+99%\s+(\d+)", out)
    return {"rps": rps, "failed": failed + (int(non2xx.group(1)) if non2xx else 0),
            "p99": float(p99.group(1)) if p99 else 0.0}


TESTS = [
    ("(a) ab -n50000 -c100, 34 B dir index", "ab", "/dir/", None),
    ("(b) wrk -c100 keep-alive, 38 B file", "wrk", "/small.txt", 100),
    ("(c) wrk -c10, 1 MiB file", "wrk", "/1m.bin", 10),
    ("(c) wrk -c10, 16 MiB file", "wrk", "/16m.bin", 10),
    ("(d) wrk -c1000, 38 B file", "wrk", "/small.txt", 1000),
]


def blocking_handler():
    """(f): the slow_backend example's 200 ms handler at -c100, run on the
    worker pool (its default) and on the event loops (--inline)."""
    rows = {}
    for name, flags in (("pool", []), ("on the loop", ["--inline"])):
        port = free_port()
        server = Server(name, [SLOW_BACKEND] + flags + [str(port)], port)
        try:
            rows[name] = wrk(f"http://127.0.0.1:{port}/slow", 100)
        finally:
            server.stop()
    print("\n| (f) wrk -c100, a handler that blocks 200 ms | figure | pool | on the loop "
          "| pool/loop |")
    print("|---|---|---|---|---|")
    for label, key, fmt in (("req/s", "rps", "{:,.1f}"), ("p99 ms", "p99", "{:,.0f}"),
                            ("failed (wrk's 2 s timeout)", "failed", "{:d}")):
        vals = [rows["pool"][key], rows["on the loop"][key]]
        ratio = f"{vals[0] / vals[1]:.2f}" if vals[1] else "-"
        print(f"| (f) | {label} | " + " | ".join(fmt.format(v) for v in vals) + f" | {ratio} |")
    return rows["pool"]["failed"]


def main():
    base = tempfile.mkdtemp(prefix="otuserver-bench-")
    root = make_docroot(base)
    results = {}
    try:
        for start in (start_otuserver, start_nginx, start_lighttpd):
            server = start(root, base)
            try:
                for title, tool, path, conns in TESTS:
                    url = f"http://127.0.0.1:{server.port}{path}"
                    results[(server.name, title)] = ab(url) if tool == "ab" else wrk(url, conns)
                    time.sleep(1)
                results[(server.name, "peak")] = server.peak_rss_kib()
            finally:
                server.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)

    names = ["otuserver", "nginx", "lighttpd"]
    failed = 0
    print(f"\n{CORES} cores, {SECONDS} s per wrk run, servers with {CORES} workers; "
          "wrk/ab share the cores.\n")
    print("| test | figure | " + " | ".join(names) + " | otuserver/nginx |")
    print("|---|---|" + "---|" * len(names) + "---|")
    for title, tool, _, _ in TESTS:
        figures = [("req/s", "rps", "{:,.0f}")] if "MiB" not in title else [("MiB/s", "mbps", "{:,.0f}")]
        figures.append(("p99 ms", "p99", "{:.2f}"))
        figures.append(("failed", "failed", "{:d}"))
        for label, key, fmt in figures:
            vals = [results[(n, title)][key] for n in names]
            if key == "failed":
                failed += vals[0]
            ratio = f"{vals[0] / vals[1]:.2f}" if vals[1] else "-"
            print(f"| {title} | {label} | " + " | ".join(fmt.format(v) for v in vals)
                  + f" | {ratio} |")
    peaks = [results[(n, "peak")] / 1024 for n in names]
    print("| (e) peak resident memory | MiB | " + " | ".join(f"{p:.1f}" for p in peaks)
          + f" | {peaks[0] / peaks[1]:.2f} |")
    failed += blocking_handler()
    if failed:
        print(f"\nFAIL: otuserver had {failed} failed requests")
        sys.exit(1)


if __name__ == "__main__":
    main()
