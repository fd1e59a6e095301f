#!/usr/bin/env python3
"""HAProxy and multi's groups against the same nginx in the same window.

    python3 -B combo.py PORT ACCESS_LOG MULTI FLAGS:COUNT ...

Starts HAProxy (500 servers, all 127.0.0.1:PORT, configured as the bench
does: measures/peers.py), then MULTI (the built multi.c) with the groups
given, for 20 s; prints HAProxy's CPU (se.sum_exec_runtime of its
threads) and context switches per check over multi's window, its checks
counted in nginx's ACCESS_LOG, then multi's own lines. Bounded: multi
ends by itself, HAProxy gets SIGTERM by PID at the end.
"""

import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from measures.common import free_port, switches  # noqa: E402
from measures.peers import checks_in_log, haproxy_config, tasks_cpu  # noqa: E402

SECONDS = 20


def main():
    port, access, multi = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    cfg = os.path.abspath("combo-haproxy.cfg")
    with open(cfg, "w") as f:
        f.write(haproxy_config(port, free_port(), 500))
    hp = subprocess.Popen(["haproxy", "-db", "-f", cfg], stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(3)
        mp = subprocess.Popen([multi, str(port), str(SECONDS), *sys.argv[4:]],
                              stdout=subprocess.PIPE, text=True)
        time.sleep(3)   # multi's own warm-up
        o0, c0, s0, t0 = os.path.getsize(access), tasks_cpu(hp.pid), switches(hp.pid), \
            time.monotonic()
        time.sleep(SECONDS)
        o1, c1, s1, t1 = os.path.getsize(access), tasks_cpu(hp.pid), switches(hp.pid), \
            time.monotonic()
        out = mp.communicate(timeout=120)[0]
    finally:
        hp.send_signal(signal.SIGTERM)
        hp.wait(10)
    n = checks_in_log(access, o0, o1)["haproxy"]
    print(f"haproxy  x500 servers: {(c1 - c0) / n * 1e6:.2f} us of CPU per check, "
          f"{(s1 - s0) / n:.2f} switches per check, {n / (t1 - t0):.1f} checks/s")
    print(out, end="")


if __name__ == "__main__":
    main()
