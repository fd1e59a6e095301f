"""Detection latency: how long after the SPEC's bound a monitor exits once
its server stops answering (every process of a private server frozen with
SIGSTOP at a random point of an interval)."""

import math
import os
import random
import re
import signal
import subprocess
import threading
import time

from .capture import SynCapture
from .common import DEVNULL, loadavg, log, ms, pct

FAILURE_EVENT = re.compile(rb"<event: (7[1-5]|8[1-3])>")


def measure(b, proto, daemon, runs, opts, bound=3.0, targeted=True, interval=1.0,
            retry=None):
    """`interval` is the monitor's -i; `retry` its --retry-interval, when
    given (the failures after the first come that far apart)."""
    timeout = 1.0
    samples, notes = [], []
    load = loadavg()
    try:
        cap = SynCapture(daemon.port)
    except OSError as e:
        cap = None
        b.notes.append(f"No packet capture ({e}): probe 0's start taken from the "
                       "time-stamped event 2 on standard error instead (less exact).")
    try:
        for k in range(runs):
            s = run(b, proto, daemon, k, opts, interval, timeout, bound, cap,
                    interval if retry is None else retry)
            if s is None:
                continue
            samples.append(s)
            if s["note"]:
                notes.append(f"run {k}: {s['note']}")
    finally:
        if cap is not None:
            cap.close()
    lat = [s["latency"] for s in samples]
    actual = [s["actual"] for s in samples if s["actual"] is not None]
    early = [x for x in lat + actual if x < 0]
    bad_exit = [s["status"] for s in samples if s["status"] != 1]
    optstr = " ".join(opts)
    what = f"detection latency past the bound, clp_{proto}mon {optstr}"
    if not lat:
        b.row(what, "no run completed", "≤ 20 ms at p99, never early", "MISSED", "-")
        return
    result = (f"p50 {ms(pct(lat, 50))}, p99 {ms(pct(lat, 99))}, max {ms(max(lat))}"
              f" from the slot; {len(lat)} runs, {len(early)} early")
    if actual:
        result += (f"; from the failed probe's own start: min {ms(min(actual))}, "
                   f"max {ms(max(actual))}")
    if bad_exit:
        result += f"; exit status ≠ 1: {bad_exit}"
    if len(lat) < runs:
        result += f" ({runs - len(lat)} runs lost)"
    ok = pct(lat, 99) <= 0.020 and not early and not bad_exit and len(lat) == runs
    server = "nginx.sh" if proto == "http" else "smtpd.sh"
    b.row(what, result,
          "≤ 20 ms at p99, never early" if targeted else "— (SPEC: a few ms)",
          ("met" if ok else "MISSED") if targeted else ("—" if not early else "EARLY"),
          f"clp_{proto}mon ID -s 127.0.0.1 -n PORT {optstr}; at a random point of the "
          f"interval kill -STOP every PID of `tests/daemons/{server} pids DIR`; exit − "
          f"(first slot ≥ freeze) − {bound:g} s; slot k = probe 0's SYN + k × {interval:g} s")
    b.details.append((
        f"Detection latency, clp_{proto}mon {optstr}",
        f"Bound: {bound:g} s after the start of the first failed probe. Load average "
        f"before the runs: {load}. Each run, ms past the bound from the slot [from the "
        f"failed probe's SYN] (freeze phase in the interval, ms): " +
        ", ".join(f"{s['latency'] * 1000:.1f}"
                  + (f" [{s['actual'] * 1000:.1f}]" if s["actual"] is not None else "")
                  + f" ({s['phase'] * 1000:.0f})" for s in samples) +
        "." + (" " + "; ".join(notes) if notes else "") + steps_text(samples)))


def run(b, proto, daemon, k, opts, interval, timeout, bound, cap, retry):
    """One run; every time here is CLOCK_REALTIME (time.time()), the
    clock of the kernel's packet time stamps."""
    ident = f"bench_lat_{proto}_{k}"
    t_spawn = time.time()
    p = b.monitor(proto, ident, daemon.port, opts, stdout=DEVNULL, stderr=subprocess.PIPE)
    lines = []

    def reader():
        fd = p.stderr.fileno()
        buf = b""
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            t = time.time()
            if not data:
                break
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                lines.append((t, line))

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    started = re.compile(rb"<event: 2>")
    end = time.time() + 10
    t0 = None
    while t0 is None and time.time() < end and p.poll() is None:
        if cap is not None:
            syns = cap.since(daemon.port, t_spawn)
            t0 = syns[0] if syns else None
        else:
            t0 = next((t for t, line in list(lines) if started.search(line)), None)
        time.sleep(0.001)
    if t0 is None:
        log(f"latency {proto} run {k}: the monitor did not start")
        b.reap(p)
        return None
    # At least one good probe first; then a random point of an interval.
    phase = random.random()
    tf_goal = t0 + 1.0 + 0.2 + phase * interval
    time.sleep(0.3)
    pids = [(pid, proc_start(pid)) for pid in daemon.pids()]
    while time.time() < tf_goal - 0.002:
        time.sleep(0.001)
    while time.time() < tf_goal:
        pass
    tf = time.time()
    for pid, start in pids:     # master first: it can start nothing new
        stop_if_same(pid, start)
    tf_end = time.time()
    # Any process the master started between the listing and its freeze.
    late = set(daemon.pids()) - set(pid for pid, _ in pids)
    for pid in late:
        stop_if_same(pid, proc_start(pid))
    watchdog = threading.Timer(bound + 15, lambda: p.poll() is None and p.kill())
    watchdog.start()
    status = p.wait()
    te = time.time()
    watchdog.cancel()
    b.forget(p)
    daemon.helper("thaw")
    th.join(2)
    p.stderr.close()
    if not daemon.wait_answers(10):
        raise RuntimeError(f"{daemon.kind} did not answer after thaw")
    fails = [t for t, line in lines if FAILURE_EVENT.search(line)]
    kf = math.ceil((tf - t0) / interval)
    anchor = t0 + kf * interval
    note = ""
    if late:
        note = f"{len(late)} process(es) started during the freeze, stopped {len(late)} later"
    if fails:
        # The failed probe's slot, from when its failure was logged.
        kfail = round((fails[0] - t0 - timeout) / interval)
        if kfail < kf:
            note += (f" the probe of slot {kfail} was in flight at the freeze and failed:"
                     f" latency from its start (the SPEC's anchor)")
            anchor = t0 + kfail * interval
        elif kfail > kf:
            note += (f" the probe of slot {kf} (after the freeze) did not fail; first"
                     f" failure at slot {kfail}: counted from slot {kf} all the same")
    else:
        note += " no failure logged"
    lat = te - anchor - bound
    # The actual start of the first failed probe: its SYN.
    actual = None
    if cap is not None:
        near = [t for t in cap.since(daemon.port, t_spawn) if t <= te and
                abs(t - anchor) < interval / 2]
        actual = te - near[0] - bound if near else None
    log(f"latency {proto} run {k}: exit {status}, {lat * 1000:+.1f} ms past the bound"
        + (f" ({actual * 1000:+.1f} ms from the failed probe's SYN)" if actual is not None
           else "")
        + f" (freeze {(tf - t0) % interval * 1000:.0f} ms into the interval,"
        f" {(tf_end - tf) * 1e6:.0f} µs to freeze){' — ' + note if note else ''}")
    # When each failure was logged, against its ideal time (the failed
    # probe's slot + its timeout): how the lateness builds up.
    steps = [f - anchor - (i * retry + timeout) for i, f in enumerate(fails)]
    return {"latency": lat, "actual": actual, "status": status,
            "phase": (tf - t0) % interval, "note": note.strip(), "steps": steps,
            "after_last": te - fails[-1] if fails else None}


def steps_text(samples):
    n = min((len(s["steps"]) for s in samples), default=0)
    if not n:
        return ""
    mean = [sum(s["steps"][i] for s in samples) / len(samples) for i in range(n)]
    tail = [s["after_last"] for s in samples if s["after_last"] is not None]
    return (" Where it builds up, mean over the runs: failure k (k = 1…) logged this long "
            "after its ideal time (its probe's slot + the timeout, probes back to back): " +
            ", ".join(f"{x * 1000:.1f} ms" for x in mean) +
            f"; exit {sum(tail) / len(tail) * 1000:.2f} ms after the last failure line.")


def proc_start(pid):
    """The start time of PID (field 22 of /proc/PID/stat), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def stop_if_same(pid, start):
    """SIGSTOP to PID only while it is still the process that started at
    START (a PID of the private server, not one reused since)."""
    if start is not None and proc_start(pid) == start:
        try:
            os.kill(pid, signal.SIGSTOP)
        except ProcessLookupError:
            pass
