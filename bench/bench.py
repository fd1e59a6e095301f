#!/usr/bin/env python3
"""The measuring half of `make bench` (bench/bench.sh prepares and calls it).

    bench.py --root REPO --work TMPDIR --twin UNSTRIPPED_DIR [--quick]

Measures build/clp_httpmon and build/clp_smtpmon against private servers on
127.0.0.1 (tests/daemons/nginx.sh and smtpd.sh, and bench/flood.py), prints
a markdown table with the command behind each row and writes it, with the
commit it measured, to bench/RESULTS.md. See the "How" section that it
writes for what each row means.

This file starts the servers and runs the measures in their order; each
measure is a module of bench/measures/ (see its __init__.py), and
measures/common.py holds the run's context that they share.

Every process it starts is kept in a list and ended by PID on the way out;
every wait has a bound. Durations are CLOCK_MONOTONIC (time.monotonic);
the latency and drift runs use CLOCK_REALTIME (time.time), the clock of the
kernel's packet time stamps that tell when each probe started.
"""

import argparse
import os
import random
import signal
import subprocess
import sys
import time

from measures import drift, instructions, latency, memory, peers, report, scale, size, syscalls
from measures.common import DEVNULL, Bench, git, loadavg


def run(b):
    random.seed()
    os.makedirs(b.state, exist_ok=True)
    b.commit = git(b.root, "rev-parse", "HEAD")
    dirty = subprocess.run(["git", "-C", b.root, "diff", "--quiet", "HEAD", "--",
                            "src", "Cargo.toml", "Cargo.lock", "man", "Makefile",
                            "scripts/build.sh"]).returncode != 0
    b.commit_text = b.commit + (" with uncommitted changes to the measured files"
                                if dirty else "")
    b.started = time.strftime("%Y-%m-%d %H:%M:%S %z")
    b.t_start = time.monotonic()
    b.load_start = loadavg()

    b.nginx = b.add_daemon("nginx", "nginx")
    b.smtpd = b.add_daemon("smtpd", "smtpd")
    # Instances of their own for the latency runs, which freeze them.
    b.nginx_frz = b.add_daemon("nginx", "nginx-freeze")
    b.smtpd_frz = b.add_daemon("smtpd", "smtpd-freeze")
    b.flood = {}
    for proto in ("http", "smtp"):
        p = b.spawn([sys.executable, os.path.join(b.root, "bench", "flood.py"), proto,
                     "1800"], stdout=subprocess.PIPE, stderr=DEVNULL)
        b.flood[proto] = (p, int(p.stdout.readline()))
    # A body that never ends, for --contains.
    p = b.spawn([sys.executable, os.path.join(b.root, "bench", "flood.py"), "body",
                 "1800"], stdout=subprocess.PIPE, stderr=DEVNULL)
    b.flood_body = (p, int(p.stdout.readline()))

    watch = memory.Watch(b)
    size.measure(b)
    instructions.measure(b, peers.references(b))
    drifting = drift.Drift(b)
    syscalls.measure(b, watch)
    drifting.finish()
    runs, long_runs = (5, 0) if b.quick else (20, 3)
    latency.measure(b, "http", b.nginx_frz, runs, ["-i", "1", "-c", "2", "-r", "1"])
    latency.measure(b, "smtp", b.smtpd_frz, runs, ["-i", "1", "-c", "2", "-r", "1"])
    if long_runs:
        latency.measure(b, "http", b.nginx_frz, long_runs,
                        ["-i", "1", "-c", "10", "-r", "1"], bound=11.0, targeted=False)
    # Retries closer than the interval: RETRIES x max(RETRY_INTERVAL,
    # TIMEOUT) + TIMEOUT = 3 s after the first failed probe, where -i 3
    # alone would take 2 x 3 + 1 = 7 s.
    latency.measure(b, "http", b.nginx_frz, runs,
                    ["-i", "3", "-c", "2", "-r", "1", "--retry-interval", "1"],
                    interval=3.0, retry=1.0)
    watch.finish()
    scale.measure(b)
    peers.haproxy(b)
    report.write(b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--twin", required=True)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    b = Bench(a.root, a.work, a.twin, a.quick)

    def on_signal(sig, _frame):
        raise KeyboardInterrupt(f"signal {sig}")

    signal.signal(signal.SIGTERM, on_signal)
    try:
        run(b)
    finally:
        b.cleanup()


if __name__ == "__main__":
    main()
