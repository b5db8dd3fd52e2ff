#!/usr/bin/env python3
"""Per-core benchmark that bench/pinned.sh prepares: each server pinned to CPU 0
with one worker, wrk pinned to CPU 1 with one thread, the same document root;
rounds interleaved so that the machine's drift falls on every server alike;
medians and ranges, ratios to lighttpd and to nginx with open_file_cache. Beside
them on the small-file tests, bench/noop.c: a server that does no work, a
reference point where the client's core is the one that runs out. Exits non-zero if any
otuserver request failed. Loopback only, bounded in time."""

import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the shared-core benchmark's servers and wrk parsing)

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
SECONDS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
SERVER_CPU = ("taskset", "-c", "0")
CLIENT_CPU = ("taskset", "-c", "1")
OPEN_FILE_CACHE = "open_file_cache max=1000 inactive=20s; open_file_cache_valid 1s;"
NOOP = os.path.join(run.ROOT_DIR, "target", "release", "bench-noop")


def start_noop(root, base):
    port = run.free_port()
    argv = [*SERVER_CPU, NOOP, str(port), os.path.join(root, "small.txt")]
    return run.Server("no-op", argv, port)


SERVERS = [
    ("otuserver", lambda root, base: run.start_otuserver(root, base, 1, SERVER_CPU)),
    ("nginx", lambda root, base: run.start_nginx(root, base, 1, SERVER_CPU)),
    ("nginx+ofc", lambda root, base: run.start_nginx(
        root, base, 1, SERVER_CPU, OPEN_FILE_CACHE, "nginx+ofc")),
    ("lighttpd", lambda root, base: run.start_lighttpd(root, base, SERVER_CPU)),
    ("no-op", start_noop),
]
TESTS = [
    ("keep-alive -c50, 38 B file", "/small.txt", 50, "rps"),
    ("-c10, 1 MiB file", "/1m.bin", 10, "mbps"),
    ("-c10, 16 MiB file", "/16m.bin", 10, "mbps"),
    ("-c1000, 38 B file", "/small.txt", 1000, "rps"),
]


def main():
    base = tempfile.mkdtemp(prefix="otuserver-pinned-")
    root = run.make_docroot(base)
    samples = {}  # (server, test) -> [figure]
    failed = 0
    try:
        for _ in range(ROUNDS):
            for name, start in SERVERS:
                server = start(root, base)
                try:
                    for title, path, conns, key in TESTS:
                        if name == "no-op" and path != "/small.txt":
                            continue
                        url = f"http://127.0.0.1:{server.port}{path}"
                        r = run.wrk(url, conns, threads=1, prefix=CLIENT_CPU, seconds=SECONDS)
                        samples.setdefault((name, title), []).append(r[key])
                        if name == "otuserver":
                            failed += r["failed"]
                        time.sleep(0.5)
                    samples.setdefault((name, "peak"), []).append(server.peak_rss_kib() / 1024)
                finally:
                    server.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)

    names = [n for n, _ in SERVERS]
    print(f"\nServers on CPU 0 with one worker, wrk -t1 on CPU 1; medians of {ROUNDS} "
          f"interleaved {SECONDS} s rounds (range). no-op: bench/noop.c, a server that "
          "does no work.\n")
    print("| test | " + " | ".join(names) + " | otuserver/lighttpd | otuserver/nginx+ofc "
          "| otuserver/no-op | lighttpd/no-op |")
    print("|---|" + "---|" * len(names) + "---|---|---|---|")
    for title, _, _, key in TESTS + [("peak resident memory", None, None, "mib")]:
        unit = {"rps": "req/s", "mbps": "MiB/s", "mib": "MiB"}[key]
        series = [samples.get((n, title if key != "mib" else "peak")) for n in names]
        medians = [statistics.median(s) if s else None for s in series]
        cells = ["-" if m is None else f"{m:.1f}" if key == "mib"
                 else f"{m:,.1f} ({min(s):,.0f}-{max(s):,.0f})" for m, s in zip(medians, series)]

        def ratio(a, b):
            ma, mb = medians[names.index(a)], medians[names.index(b)]
            return "-" if ma is None or mb is None or key == "mib" and b == "no-op" \
                else f"{ma / mb:.2f}"
        print(f"| {title}, {unit} | " + " | ".join(cells)
              + f" | {ratio('otuserver', 'lighttpd')} | {ratio('otuserver', 'nginx+ofc')}"
              + f" | {ratio('otuserver', 'no-op')} | {ratio('lighttpd', 'no-op')} |")
    if failed:
        print(f"\nFAIL: otuserver had {failed} failed requests")
        sys.exit(1)


if __name__ == "__main__":
    main()
