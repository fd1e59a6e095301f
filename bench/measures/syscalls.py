"""System calls per probe: strace -c attached to a monitor in its steady
state, and the probe alone (examples/probe_loop)."""

import os
import signal
import subprocess
import threading
import time

from .common import DEVNULL, parse_strace_c


def after_probe(b, ident, seconds=5):
    """Waits until the monitor has recorded one more probe, then 0.2 s:
    the monitor is then asleep until its next probe."""
    n = b.probes(ident)
    end = time.monotonic() + seconds
    while b.probes(ident) <= n and time.monotonic() < end:
        time.sleep(0.005)
    time.sleep(0.2)


def strace_window(b, monitor, seconds, out):
    ident, p = monitor
    b.wait_probes(ident, 2, 20, p)
    after_probe(b, ident)
    sp = b.spawn(["strace", "-c", "-o", out, "-p", str(p.pid)], stderr=DEVNULL)
    time.sleep(seconds - 1)
    after_probe(b, ident)
    sp.send_signal(signal.SIGINT)
    b.reap(sp)


def measure(b, watch):
    """Traces the two healthy monitors of WATCH (memory.Watch) at once."""
    seconds = 8 if b.quick else 20
    outs = {proto: os.path.join(b.work, f"strace-c-{proto}.txt") for proto in ("http", "smtp")}
    threads = [threading.Thread(target=strace_window,
                                args=(b, watch.monitors[proto], seconds, out))
               for proto, out in outs.items()]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for proto, out in outs.items():
        calls = parse_strace_c(out)
        # Attaching catches the monitor in its sleep, a poll, which the
        # kernel then resumes as restart_syscall: count it as that poll.
        if "restart_syscall" in calls:
            calls["poll"] = calls.get("poll", 0) + calls.pop("restart_syscall")
        calls.pop("total", None)
        connects = calls.get("connect", 0)
        total = sum(calls.values())
        per = total / connects if connects else float("nan")
        target = "≤ 12" if proto == "http" else "—"
        verdict = ("met" if per <= 12 else "MISSED") if proto == "http" else "—"
        b.row(f"system calls per {proto.upper()} probe, steady state",
              f"{per:.1f} ({total} calls over {connects} probes)", target, verdict,
              f"strace -c -p PID for ~{seconds} s (whole cycles) on the "
              f"VmHWM monitor (-i 1); calls ÷ connect calls")
        breakdown = ", ".join(f"{k} {v / connects:.3g}" for k, v in
                              sorted(calls.items(), key=lambda kv: -kv[1])) \
            if connects else "-"
        b.details.append((f"System calls of one {proto.upper()} monitor cycle",
                          f"Per probe, from `strace -c -p` over {connects} probes: "
                          f"{breakdown}." + probe_only(b, proto)))


def probe_only(b, proto):
    d = b.nginx if proto == "http" else b.smtpd
    counts = {}
    for n in (10, 110):
        out = os.path.join(b.work, f"strace-loop-{proto}-{n}.txt")
        subprocess.run(["strace", "-f", "-c", "-o", out, b.probe_loop(), proto, str(n),
                        "bench", "-s", "127.0.0.1", "-n", str(d.port)], check=True,
                       stdout=DEVNULL, stderr=DEVNULL, timeout=120)
        counts[n] = parse_strace_c(out)
    names = set(counts[10]) | set(counts[110])
    per = {k: (counts[110].get(k, 0) - counts[10].get(k, 0)) / 100 for k in names}
    items = ", ".join(f"{k} {v:g}" for k, v in sorted(per.items(), key=lambda kv: -kv[1])
                      if k != "total" and v)
    return (f" The probe alone (`strace -f -c examples/probe_loop {proto} N`, N = 110 "
            f"minus N = 10, ÷ 100): {per.get('total', 0):g} calls: {items}.")
