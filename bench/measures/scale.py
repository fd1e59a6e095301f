"""Scale: many monitors against one nginx at -i 1: their memory, their CPU
(and where it goes: perf), --disp among them, stopping them all."""

import os
import time

from . import profile
from .common import DEVNULL, KIB, cpu_seconds, log, pct, read_pss, read_status


def measure(b):
    n = 50 if b.quick else 500
    seconds = 10 if b.quick else 30
    d = b.nginx
    ids = [f"bench_scale_{i:03d}" for i in range(n)]
    err = open(os.path.join(b.work, "scale.err"), "wb")
    t = time.monotonic()
    procs = [b.monitor("http", i, d.port, ["-i", "1"], stderr=err) for i in ids]
    err.close()
    spawn_s = time.monotonic() - t
    end = time.monotonic() + 60
    pending = list(ids)
    while pending and time.monotonic() < end:
        pending = [i for i in pending if b.probes(i) < 2]
        time.sleep(0.5)
    alive = [p for p in procs if p.poll() is None]
    if pending or len(alive) != n:
        log(f"scale: {len(pending)} monitors without 2 probes, {n - len(alive)} ended")
    rss = sum(read_status(p.pid, "VmRSS") for p in alive)
    pss = sum(read_pss(p.pid) for p in alive)
    hwm = max(read_status(p.pid, "VmHWM") for p in alive)
    workers = d.pids()
    c0 = {p.pid: cpu_seconds(p.pid) for p in alive}
    w0 = sum(cpu_seconds(pid) for pid in workers)
    p0 = sum(b.probes(i) for i in ids)
    t0 = time.monotonic()
    time.sleep(seconds)
    c1 = {p.pid: cpu_seconds(p.pid) for p in alive}
    w1 = sum(cpu_seconds(pid) for pid in workers)
    t1 = time.monotonic()
    p1 = sum(b.probes(i) for i in ids)
    cpu = sum(c1[k] - c0[k] for k in c0) / (t1 - t0)
    ngx = (w1 - w0) / (t1 - t0)
    rate = (p1 - p0) / (t1 - t0)
    mid = ids[n // 2]
    disp = [b.timed([b.bin("http"), mid, "--disp"]) for _ in range(21)]
    disp_ok = all(r[0] == 0 for r in disp)
    t = time.monotonic()
    stops = [b.ctl("http", i, "--stop") for i in ids]
    stop_s = time.monotonic() - t
    codes = [b.reap(p, 15) for p in procs]
    prof = cpu_profile(b, min(n, 200))
    base = f"{n} × clp_httpmon ID_k -s 127.0.0.1 -n PORT -i 1 against one nginx"
    b.row(f"scale: total RSS of {n} monitors",
          f"{rss / KIB / KIB:.1f} MiB (PSS {pss / KIB / KIB:.1f} MiB; "
          f"largest VmHWM {hwm // 1024} KiB)",
          "≤ 350 MiB" if n == 500 else "— (500: ≤ 350 MiB)",
          ("met" if rss <= 350 * KIB * KIB else "MISSED") if n == 500 else "—",
          f"{base}; sum of VmRSS (Pss: smaps_rollup) over their PIDs")
    b.row(f"scale: CPU of {n} monitors",
          f"{cpu * 100:.2f} % of one core ({rate:.0f} probes/s; nginx worker "
          f"{ngx * 100:.1f} %)",
          "≤ 5 % of one core" if n == 500 else "— (500: ≤ 5 %)",
          ("met" if cpu <= 0.05 else "MISSED") if n == 500 else "—",
          f"{base}; Δ se.sum_exec_runtime (/proc/PID/sched) over "
          f"{seconds} s, summed",
          why=(f"{cpu / rate * 1e6:.0f} µs of CPU per probe cycle. " if rate else "") +
              (f"{prof['sys'] * 100:.0f} % of it is in system calls — on loopback the "
               "TCP connect, send and close, with the server's side of them, and the "
               "wake-ups in the ppolls (see \"Where a monitor's CPU per check goes\" "
               "for what of it can be saved); "
               f"{prof['user'] * 100:.0f} % is user space, spread over the functions "
               "listed in \"Where a monitor's CPU time goes\"." if prof else ""))
    b.row(f"scale: clp_httpmon ID --disp among {n}",
          f"{pct([r[1] for r in disp], 50) * 1000:.2f} ms median, "
          f"{max(r[1] for r in disp) * 1000:.2f} ms max (21 runs)"
          + ("" if disp_ok else ", FAILED"), "—", "—" if disp_ok else "FAILED",
          f"time clp_httpmon {mid} --disp >/dev/null")
    stop_ok = all(s == 0 for s in stops) and all(c == 0 for c in codes)
    b.row(f"scale: stopping all {n}",
          f"{stop_s:.2f} s ({stop_s / n * 1000:.1f} ms each)"
          + ("" if stop_ok else
             f", FAILED (--stop statuses {sorted(set(stops))}, exits {sorted(set(codes))})"),
          "—", "—" if stop_ok else "FAILED",
          "time for ID in ...; do clp_httpmon $ID --stop; done (one after another)")
    b.notes.append(f"Scale: {n} monitors started in {spawn_s:.1f} s; `--disp` times, "
                   "ms: " + ", ".join(f"{r[1] * 1000:.2f}" for r in disp) + ".")


def cpu_profile(b, n):
    """Where a monitor's CPU time goes: perf (cpu-clock samples, call
    graphs) over N monitors, run from the unstripped twin (same code) so
    that user-space functions have names."""
    if not profile.available(b):
        return None
    twin = os.path.join(b.twin, "clp_httpmon")
    ids = [f"bench_prof_{i:03d}" for i in range(n)]
    procs = [b.spawn([twin, i, "-s", "127.0.0.1", "-n", str(b.nginx.port), "-i", "1"],
                     stdout=DEVNULL, stderr=DEVNULL) for i in ids]
    time.sleep(3)
    secs = 3 if b.quick else 6
    data = profile.record(b, secs, "scale")
    for i in ids:
        b.ctl("http", i, "--stop")
    for p in procs:
        b.reap(p, 15)
    if data is None:
        return None
    s = profile.Samples(data, "clp_httpmon", [p.pid for p in procs])
    if not s.total:
        return None
    calls, user, kernel_other, total = s.calls, s.user, s.kernel_other, s.total
    share = s.share
    sys_total = s.syscalls()
    user_total = s.user_space()
    top_user = sorted(user.items(), key=lambda kv: -kv[1])[:6]
    b.details.append((
        "Where a monitor's CPU time goes",
        f"`perf record -e cpu-clock -F 10000 -a -g` for {secs} s over {n} monitors at "
        f"`-i 1` (the unstripped twin, same code); {total} samples of clp_httpmon. In system "
        f"calls {sys_total * 100:.0f} %: " +
        ", ".join(f"{k} {share(v) * 100:.0f} %" for k, v in
                  sorted(calls.items(), key=lambda kv: -kv[1])) +
        f". User space {user_total * 100:.0f} %: " +
        ", ".join(f"`{k}` {share(v) * 100:.1f} %" for k, v in top_user) +
        f". Kernel outside system calls (wake-ups, scheduling, interrupts) "
        f"{share(kernel_other) * 100:.0f} %. On loopback the kernel runs much of the "
        "server's side of each TCP connection (its SYN-ACK, its reply, its FIN) inside the "
        "monitor's system calls and charges it to the monitor."))
    return {"sys": sys_total, "user": user_total}
