"""What administrators run instead, measured in the same run against the
same servers: one process per check (check_http, check_smtp, curl), and
HAProxy's health checks side by side with as many monitors."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time

from . import instructions, profile
from .common import DEVNULL, cpu_seconds, free_port, log, parse_strace_c, pct, switches


def references(b):
    """The references table (instructions, wall time, peak RSS of one
    process each); returns {key: (instructions, command as shown)} for the
    instruction rows."""
    refs = {
        "http": (["/usr/lib/nagios/plugins/check_http", "-H", "127.0.0.1", "-p",
                  str(b.nginx.port), "-j", "HEAD"], "check_http -H 127.0.0.1 -p PORT -j HEAD"),
        "smtp": (["/usr/lib/nagios/plugins/check_smtp", "-H", "127.0.0.1", "-p",
                  str(b.smtpd.port)], "check_smtp -H 127.0.0.1 -p PORT"),
        "curl": (["/usr/bin/curl", "-sI", f"http://127.0.0.1:{b.nginx.port}/"],
                 "curl -sI http://127.0.0.1:PORT/"),
    }
    out = {}
    for key, (argv, shown) in refs.items():
        ir, _ = instructions.callgrind(b, argv, f"ref-{key}")
        out[key] = (ir, shown)
        runs = [b.timed(argv, env=dict(os.environ)) for _ in range(11)]
        bad = [r[0] for r in runs if r[0] != 0]
        b.refs.append((shown, f"{ir / 1e6:.2f} M",
                       f"{pct([r[1] for r in runs], 50) * 1000:.1f} ms",
                       f"{max(b.peak_rss(argv) for _ in range(3)) / 1e6:.1f} MB",
                       "ok" if not bad else f"exit {bad[0]}"))
    return out


# The monitors of the side-by-side run: the options issue 13 compares.
MONITOR_OPTS = ["-i", "1", "-c", "3", "-r", "1"]
ACCESS_LINE = re.compile(r'"([^"]*)" \d+ \d+ "[^"]*" "([^"]*)"\s*$')


def haproxy_config(port, listen_port, n):
    """HAProxy, one thread, checking N servers that are all the nginx at
    PORT (LISTEN_PORT: the listener it insists on; nothing connects)."""
    lines = ["global", "\tnbthread 1",
             "defaults", "\tmode http", "\ttimeout connect 1s", "\ttimeout check 1s",
             "\ttimeout client 10s", "\ttimeout server 10s",
             "listen checks", f"\tbind 127.0.0.1:{listen_port}",
             "\toption httpchk", "\thttp-check send meth HEAD"]
    lines += [f"\tserver s{i:03d} 127.0.0.1:{port} check inter 1s" for i in range(n)]
    return "\n".join(lines) + "\n"


def checks_in_log(path, start, end):
    """Requests in nginx's access log between two offsets, by client:
    the monitors (user agent clp_httpmon/…), HAProxy (HEAD / HTTP/1.0 and
    no user agent), other."""
    with open(path, "rb") as f:
        f.seek(start)
        text = f.read(end - start).decode("latin-1")
    out = {"clp_httpmon": 0, "haproxy": 0, "replica": 0, "other": 0}
    for line in text.splitlines():
        m = ACCESS_LINE.search(line)
        if m and m.group(2).startswith("clp_httpmon/"):
            out["clp_httpmon"] += 1
        elif m and m.group(2).startswith("multi/"):
            out["replica"] += 1
        elif m and m.group(2) == "-" and m.group(1) == "HEAD / HTTP/1.0":
            out["haproxy"] += 1
        else:
            out["other"] += 1
    return out


# The cheapest check a process of its own can make once a second, in C
# (bench/cost-per-check/multi.c): a periodic timerfd, send at once after
# connect, no getsockopt, TCP_QUICKACK 0, the record memcpy'd into a shared
# mapping, a signalfd in every wait. What a process per monitor cannot go
# below, measured beside HAProxy and the monitors.
REPLICA_FLAGS = "Tmweq"


def build_replica(b):
    """bench/cost-per-check/multi.c compiled into the work directory; None
    without a C compiler."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    exe = os.path.join(b.work, "multi")
    src = os.path.join(b.root, "bench", "cost-per-check", "multi.c")
    r = subprocess.run([cc, "-O2", "-o", exe, src], stdout=DEVNULL, stderr=DEVNULL)
    return exe if r.returncode == 0 else None


def children(pid):
    """The PIDs whose parent is PID."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = open(f"/proc/{name}/stat").read()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
            out.append(int(name))
    return out


def tasks_cpu(pid):
    """CPU seconds of every thread of PID (/proc/PID/task/*)."""
    return sum(cpu_seconds(f"{pid}/task/{tid}") for tid in os.listdir(f"/proc/{pid}/task"))


def haproxy(b):
    """N monitors and HAProxy checking N servers, against the same nginx at
    the same time: CPU per check of each from its own accounting, checks
    from nginx's access log by client."""
    n = 100 if b.quick else 500
    seconds = 10 if b.quick else 25
    what = f"CPU per check, {n} clp_httpmon {' '.join(MONITOR_OPTS)} vs HAProxy"
    target = "≤ 0.9× HAProxy's" if n == 500 else "— (500: ≤ 0.9× HAProxy's)"
    exe = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not os.access(exe, os.X_OK):
        b.row(what, "not measured: no haproxy (apt-get install haproxy)", target, "—", "-")
        return
    d = b.nginx
    # Before the window, not after it: its 1,500 checks a second leave
    # tens of thousands of sockets in TIME_WAIT, and a hot loop of
    # connects then pays for the search of a free port.
    floor, time_wait = floors(b, 2000 if b.quick else 5000)
    access = os.path.join(d.dir, "access.log")
    cfg = os.path.join(b.work, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write(haproxy_config(d.port, free_port(), n))
    out = open(os.path.join(b.work, "haproxy.out"), "wb")
    hp = b.spawn([exe, "-db", "-f", cfg], stdout=out, stderr=out)
    out.close()
    ids = [f"bench_peer_{i:03d}" for i in range(n)]
    err = open(os.path.join(b.work, "peers.err"), "wb")
    procs = [b.monitor("http", i, d.port, MONITOR_OPTS, stderr=err) for i in ids]
    err.close()
    replica = build_replica(b)
    if replica is not None:
        recdir = os.path.join(b.work, "replica")
        os.makedirs(recdir, exist_ok=True)
        # It ends its processes by itself after its own window (and 60 s).
        replica = b.spawn([replica, str(d.port), str(seconds + 20), f"{REPLICA_FLAGS}:{n}"],
                          env=dict(b.env, RECDIR=recdir), stdout=DEVNULL, stderr=DEVNULL)
    try:
        measured = side_by_side(b, n, seconds, hp, procs, ids, access, replica)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        if hp.poll() is None:
            hp.send_signal(signal.SIGTERM)
        codes = [b.reap(p, 15) for p in procs]
        b.reap(hp, 10)
        if replica is not None:
            b.reap(replica, 90)
    if measured is None:
        b.row(what, "not measured: " + open(os.path.join(b.work, "haproxy.out"),
                                            errors="replace").read()[-300:],
              target, "FAILED", "-")
        return
    cpu, window, counts, prof, hp_calls = measured
    per_m = cpu["clp_httpmon"] / counts["clp_httpmon"] if counts["clp_httpmon"] else float("nan")
    per_h = cpu["haproxy"] / counts["haproxy"] if counts["haproxy"] else float("nan")
    ratio = per_m / per_h
    rate_m, rate_h = counts["clp_httpmon"] / window, counts["haproxy"] / window
    same_rate = min(rate_m, rate_h) >= 0.95 * max(rate_m, rate_h) and \
        min(rate_m, rate_h) >= 0.9 * n
    bad_exit = sorted(set(c for c in codes if c != 0))
    result = (f"{per_m * 1e6:.0f} µs vs {per_h * 1e6:.0f} µs per check: {ratio:.2f}× HAProxy's "
              f"({counts['clp_httpmon']:,} and {counts['haproxy']:,} checks in nginx's log "
              f"in {window:.0f} s: {rate_m:.0f}/s and {rate_h:.0f}/s)")
    if not same_rate:
        result += "; NOT THE SAME RATE"
    if bad_exit:
        result += f"; monitors' exit statuses {bad_exit}"
    verdict = ("met" if ratio <= 0.9 else "MISSED") if n == 500 else "—"
    if not same_rate or bad_exit:
        verdict = "FAILED"
    if counts["replica"] >= 0.9 * n * window:
        per_r = cpu["replica"] / counts["replica"]
        result += (f"; the cheapest process-per-check loop in C in the same window "
                   f"{per_r * 1e6:.0f} µs, {per_r / per_h:.2f}× HAProxy's: the monitors are "
                   f"{per_m / per_r:.2f}× that floor")
    split = (f"user space is {prof[0].user_space() * 100:.0f} % of a monitor's CPU per check, "
             f"{prof[1].user_space() * 100:.0f} % of HAProxy's (perf); " if prof else "")
    b.row(what, result, target, verdict,
          f"{n} × clp_httpmon ID_k -s 127.0.0.1 -n PORT {' '.join(MONITOR_OPTS)} and haproxy -db "
          f"(nbthread 1; {n} × server 127.0.0.1:PORT check inter 1s; option httpchk; "
          f"http-check send meth HEAD) against one nginx at once; Δ se.sum_exec_runtime "
          f"(/proc/PID/sched) over {seconds} s ÷ checks in nginx's access log by user agent",
          why=(split + "see \"CPU per check: clp_httpmon and HAProxy\" for where it goes, "
               "system call by system call, and for the floor."))
    details(b, n, cpu, counts, window, per_m, per_h, prof, hp_calls, floor, time_wait)


def side_by_side(b, n, seconds, hp, procs, ids, access, replica):
    """The measuring part of haproxy(): None when HAProxy did not run."""
    end = time.monotonic() + 60
    pending = list(ids)
    while pending and time.monotonic() < end and hp.poll() is None:
        pending = [i for i in pending if b.probes(i) < 2]
        time.sleep(0.5)
    # HAProxy spreads its servers' first checks over the first interval.
    time.sleep(2)
    if hp.poll() is not None:
        return None
    if pending:
        log(f"peers: {len(pending)} monitors without 2 probes")
    alive = [p for p in procs if p.poll() is None]
    workers = b.nginx.pids()
    replicas = children(replica.pid) if replica is not None and replica.poll() is None else []

    def sample():
        return {"off": os.path.getsize(access), "t": time.monotonic(),
                "mon": sum(cpu_seconds(p.pid) for p in alive), "hp": tasks_cpu(hp.pid),
                "ngx": sum(cpu_seconds(pid) for pid in workers),
                "rep": sum(cpu_seconds(pid) for pid in replicas),
                "mon_sw": sum(switches(p.pid) for p in alive), "hp_sw": switches(hp.pid),
                "rep_sw": sum(switches(pid) for pid in replicas)}

    s0 = sample()
    time.sleep(seconds)
    s1 = sample()
    window = s1["t"] - s0["t"]
    counts = checks_in_log(access, s0["off"], s1["off"])
    cpu = {"clp_httpmon": s1["mon"] - s0["mon"], "haproxy": s1["hp"] - s0["hp"],
           "replica": s1["rep"] - s0["rep"],
           "nginx": (s1["ngx"] - s0["ngx"]) / window,
           "clp_httpmon switches": s1["mon_sw"] - s0["mon_sw"],
           "haproxy switches": s1["hp_sw"] - s0["hp_sw"],
           "replica switches": s1["rep_sw"] - s0["rep_sw"]}
    # Where it goes, after the window (perf costs CPU too): shares of each
    # one's samples, to multiply with its CPU per check.
    prof = None
    if profile.available(b):
        data = profile.record(b, 3 if b.quick else 6, "peers")
        if data is not None:
            prof = (profile.Samples(data, "clp_httpmon", [p.pid for p in alive]),
                    profile.Samples(data, "haproxy", [hp.pid]))
            if not (prof[0].total and prof[1].total):
                prof = None
    # HAProxy's system calls per check: strace -c over a few seconds, the
    # checks it made meanwhile from the log.
    out = os.path.join(b.work, "strace-c-haproxy.txt")
    off = os.path.getsize(access)
    sp = b.spawn(["strace", "-c", "-f", "-o", out, "-p", str(hp.pid)], stderr=DEVNULL)
    time.sleep(3 if b.quick else 5)
    sp.send_signal(signal.SIGINT)
    b.reap(sp)
    hp_checks = checks_in_log(access, off, os.path.getsize(access))["haproxy"]
    calls = parse_strace_c(out)
    calls.pop("total", None)
    hp_calls = ({k: v / hp_checks for k, v in calls.items()} if hp_checks else {}, hp_checks)
    return cpu, window, counts, prof, hp_calls


CLOSE = {"fin": "a FIN", "rst": "an RST (SO_LINGER {1, 0})"}


def time_waits():
    """Sockets in TIME_WAIT (state 06 in /proc/net/tcp and tcp6)."""
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        n += sum(1 for line in lines if line.split()[3:4] == ["06"])
    return n


def floors(b, n):
    """bench/floor.py against the same nginx, closing with a FIN and with
    an RST, in 5 rounds that alternate the two (other work on the machine
    comes and goes): ({mode: (system, user) seconds per check, medians},
    the sockets in TIME_WAIT when it began)."""
    got = {"fin": [], "rst": []}
    tw = time_waits()
    for _ in range(5):
        for mode in got:
            r = subprocess.run([sys.executable, os.path.join(b.root, "bench", "floor.py"),
                                str(b.nginx.port), str(n // 5), mode], stdout=subprocess.PIPE,
                               stderr=DEVNULL, text=True, timeout=120)
            f = dict(kv.split("=") for kv in r.stdout.split())
            if r.returncode == 0 and int(f.get("ok", 0)) == n // 5:
                got[mode].append((float(f["system"]) / (n // 5), float(f["user"]) / (n // 5)))
    return ({mode: (pct([x[0] for x in v], 50), pct([x[1] for x in v], 50))
             for mode, v in got.items() if len(v) == 5}, tw)


def details(b, n, cpu, counts, window, per_m, per_h, prof, hp_calls, floor, time_wait):
    us = lambda x: f"{x * 1e6:.1f} µs"

    def line(label, m, h):
        return f"| {label} | {us(m)} | {us(h)} | {us(m - h)} |"

    lines = [f"{n} monitors (`clp_httpmon {' '.join(MONITOR_OPTS)}`, one process each) and one "
             f"HAProxy (`nbthread 1`, {n} servers, `check inter 1s`, `option httpchk`, "
             "`http-check send meth HEAD`) checked the same nginx at the same time; CPU from "
             f"each process's own accounting over {window:.1f} s, checks from nginx's access "
             f"log (monitors: {counts['clp_httpmon']:,}, HAProxy: {counts['haproxy']:,}, "
             f"other: {counts['other']:,}). The nginx worker that served them used "
             f"{cpu['nginx'] * 100:.1f} % of a core.", "",
             "| per check | clp_httpmon | HAProxy | monitor − HAProxy |", "|---|---:|---:|---:|",
             line("CPU", per_m, per_h)]
    sw = [cpu[f"{k} switches"] / counts[k] if counts[k] else float("nan")
          for k in ("clp_httpmon", "haproxy")]
    lines.append(f"| context switches | {sw[0]:.2f} | {sw[1]:.2f} | {sw[0] - sw[1]:.2f} |")
    replica = ""
    if counts["replica"]:
        per_r = cpu["replica"] / counts["replica"]
        replica = (f"In the same window {n} processes of `bench/cost-per-check/multi.c` "
                   f"(`{REPLICA_FLAGS}`: the cheapest check a process of its own can make, in C: "
                   "a periodic timerfd, send at once, no getsockopt, TCP_QUICKACK 0, the record "
                   "copied into a shared mapping, a signalfd in every wait) made "
                   f"{counts['replica']:,} checks at {us(per_r)} each, "
                   f"{cpu['replica switches'] / counts['replica']:.2f} context switches per "
                   f"check: {per_r / per_h:.2f}× HAProxy's; the monitors cost "
                   f"{per_m / per_r:.2f}× that.")
    if prof:
        pm, ph = prof
        lines.append(line("user space", per_m * pm.user_space(), per_h * ph.user_space()))
        lines.append(line("kernel: system calls (with the loopback TCP work and the waits "
                          "in them)", per_m * pm.syscalls(), per_h * ph.syscalls()))
        names = sorted(set(pm.calls) | set(ph.calls),
                       key=lambda k: -(pm.share(pm.calls.get(k, 0))))
        for k in names:
            a = per_m * pm.share(pm.calls.get(k, 0))
            c = per_h * ph.share(ph.calls.get(k, 0))
            if a >= 0.5e-6 or c >= 0.5e-6:
                lines.append(line(f"— in {k}", a, c))
        lines.append(line("— of all these, in the scheduler (switched out, and back in "
                          "when woken)", per_m * pm.scheduler(), per_h * ph.scheduler()))
        lines.append(line("kernel outside system calls (interrupts, wake-ups)",
                          per_m * pm.share(pm.kernel_other), per_h * ph.share(ph.kernel_other)))
        lines += ["", f"The split is from `perf record -e cpu-clock -F 10000 -a -g` while both "
                  f"ran, after the CPU window: {pm.total} samples of the monitors' PIDs and "
                  f"{ph.total} of HAProxy's; each part's share of a process's samples times its "
                  "CPU per check. On loopback the server's side of each packet is mostly done "
                  "inside the sender's system call and charged to it."]
    else:
        lines += ["", "(No perf here: the CPU per check is not split.)"]
    calls, hp_checks = hp_calls
    if calls:
        lines.append(f"HAProxy's system calls per check (`strace -c -f -p PID` over "
                     f"{hp_checks} checks): {sum(calls.values()):.1f}: " +
                     ", ".join(f"{k} {v:.2g}" for k, v in
                               sorted(calls.items(), key=lambda kv: -kv[1]) if v >= 0.05) +
                     ". A monitor's are in \"System calls of one HTTP monitor cycle\".")
    if floor:
        kernel = (f" — against {us(per_m * prof[0].syscalls())} in system calls per check in "
                  f"a monitor and {us(per_h * prof[1].syscalls())} in HAProxy" if prof else "")
        lines.append("The kernel's floor, one check after another from one process, before "
                     f"the window ({time_wait:,} sockets in TIME_WAIT at its start; "
                     "`bench/floor.py`: blocking socket, connect, send, recv, close; kernel "
                     "time from its getrusage system time, median of 5 rounds): " +
                     "; ".join(f"closed with {CLOSE[k]} {us(v[0])}" for k, v in floor.items()) +
                     kernel + ".")
    if replica:
        lines.append(replica)
    b.details.append(("CPU per check: clp_httpmon and HAProxy", "\n".join(lines)))
