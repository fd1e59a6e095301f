"""The report: the table printed at the end of the run and bench/RESULTS.md
(the table, the references, the targets missed, how each row was measured,
then each measure's own sections)."""

import os
import subprocess
import time

from .common import loadavg, log

# One-off measurements (not made by make bench) that RESULTS.md carries.
ANALYSIS = "cost-per-check.md"

# The table's order: rows by the first of these their measure starts with.
ORDER = ("installed size", "peak RSS", "system calls", "instructions", "detection",
         "schedule drift", "scale", "CPU per check")


def write(b):
    took = time.monotonic() - b.t_start
    try:
        with open("/proc/cpuinfo") as f:
            model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")),
                         "?")
    except OSError:
        model = "?"
    kernel = os.uname().release
    try:
        with open("/etc/debian_version") as f:
            debian = f.read().strip()
    except OSError:
        debian = "?"
    rustc = subprocess.run(["rustc", "--version"], stdout=subprocess.PIPE,
                           text=True).stdout.strip()
    target = open(os.path.join(b.build, "TARGET")).read().strip()
    host = (f"{model}, {os.cpu_count()} CPUs, Linux {kernel}, Debian {debian}, {rustc}, "
            f"target {target}; load average at start {b.load_start}, at end "
            f"{loadavg()} (other work on the machine shows as noise in times)")
    esc = lambda s: str(s).replace("|", "\\|")
    out = ["# ismon benchmark", "",
           f"Measured commit: `{b.commit_text}`  ",
           f"Run: {b.started}, {took:.0f} s, "
           f"{'BENCH_QUICK=1 (shortened)' if b.quick else 'full'} (`make bench`)  ",
           f"Host: {host}", "",
           "| measure | result | target | verdict | command |",
           "|---|---|---|---|---|"]
    rank = lambda r: next((k for k, p in enumerate(ORDER) if r[0].startswith(p)), len(ORDER))
    for r in sorted(b.rows, key=rank):
        out.append("| " + " | ".join(esc(x) for x in r) + " |")
    out += ["", "References, one process each, measured in the same run against the same "
            "private servers (instructions: callgrind; time: median wall time of 11 runs, "
            "spawn included; peak RSS: largest of 3 runs under GNU time, %M):", "",
            "| command | instructions | time | peak RSS | result |",
            "|---|---:|---:|---:|---|"]
    for r in b.refs:
        out.append("| " + " | ".join(esc(x) for x in r) + " |")
    missed = [r for r in b.rows if r[3].startswith(("MISSED", "EARLY", "FAILED"))]
    out += ["", "## Targets missed", ""]
    if missed:
        out += [f"- {r[0]}: {r[1]} (target {r[2]})."
                + (f" Cause: {b.why[r[0]]}" if r[0] in b.why else "")
                for r in missed]
    else:
        out.append("None.")
    out += ["", "## How", "", HOW.strip(), ""]
    for title, body in b.details:
        out += [f"## {title}", "", body, ""]
    # Measurements made once, by hand, with their commands: kept in their
    # own file (make bench does not repeat them) and copied in as they are.
    analysis = os.path.join(b.root, "bench", ANALYSIS)
    if os.path.exists(analysis):
        with open(analysis) as f:
            out += [f.read().strip(), ""]
    if b.notes:
        out += ["## Notes", ""] + [f"- {n}" for n in b.notes] + [""]
    text = "\n".join(out)
    path = os.path.join(b.root, "bench", "RESULTS.md")
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)
    print()
    print(text[:text.index("## How")])
    log(f"written to {path}")


HOW = """
- Servers: private nginx and postfix instances (`tests/daemons/nginx.sh`,
  `smtpd.sh`) on 127.0.0.1 at ports the kernel picked; a second pair only for
  the latency runs, which freeze them; `bench/flood.py` for the endless replies.
  Monitors use a private `ISMON_STATE_DIR`; with a host system log the run is in
  a private mount namespace where `/dev/log` is an empty file.
- Sizes: the files `make install DESTDIR=…` writes, in bytes (apparent size).
- Peak RSS: `VmHWM` of the running monitor once its record counts the probes.
- System calls: `strace -c` attached to a monitor in steady state (it probes a
  healthy server every second): all calls in the window divided by its
  `connect` calls (one per probe); the window starts and ends in the sleep.
- Instructions: callgrind. In-process, `examples/probe_loop.rs` parses a
  command line with `ismon::cli::parse`, makes one `Prober` and probes N times:
  N = 110 minus N = 10, divided by 100, so start-up is not counted. The whole
  cycle of the real monitor (sleep, probe, record) likewise from two monitor
  runs stopped after different numbers of probes. Beside them one process of
  `check_http -j HEAD`, `check_smtp`, `curl -sI` (start-up included: that is
  what a process per probe costs).
- Probe start times: the kernel's time stamps (SO_TIMESTAMPNS on an AF_PACKET
  socket on lo) of the SYN each probe sends; connect(2) sends it a few
  microseconds after the probe's start time is taken. No tracer is attached.
- Detection latency: probes are scheduled start to start, so slot k is probe
  0's SYN + k × 1 s. At a random point
  of an interval every process of the private server gets SIGSTOP (PIDs from
  the helper's `pids`, master first; the listening socket still completes
  handshakes, so probes time out). The first failed probe is the first slot at
  or after the freeze (or, rarely, the probe in flight at the freeze, when its
  failure shows it was the first to fail). Latency = exit time (`waitpid`) −
  that slot − the SPEC's bound RETRIES × max(INTERVAL, TIMEOUT) + TIMEOUT
  (3 s at `-i 1 -c 2 -r 1`); negative would be early. Percentiles are
  nearest-rank (p99 of 20 runs is the maximum). Slots come from the first
  start, not from each probe's actual start, so schedule drift counts as
  latency; the row also gives exit − the failed probe's own SYN − the bound
  (the SPEC's anchor). The exit time is when this process returns from
  waitpid: a loaded machine can only make it later, never early.
- Schedule drift: the SYN of probe k against probe 0's SYN + k × 1 s.
- Scale: N monitors with distinct IDs against one nginx at `-i 1`: the sum of
  their VmRSS (and Pss: the static binaries share their text), their CPU time
  over the window from `/proc/PID/sched`, `--disp` of one ID, and a loop of
  `--stop` over all of them.
- CPU per check against HAProxy: 500 monitors at `-i 1 -c 3 -r 1` and one
  HAProxy (Debian's, `nbthread 1`) whose 500 servers are all the same nginx
  (`check inter 1s`, `option httpchk`, `http-check send meth HEAD`) run at
  the same time against it. Each one's CPU over the window from its own
  accounting (`se.sum_exec_runtime` of each monitor, of HAProxy's threads),
  divided by its checks in that window counted in nginx's access log by
  user agent (the monitors send theirs; HAProxy's `HEAD / HTTP/1.0` has
  none): the two counts show both ran at the same rate. Then, outside that
  window, perf splits each one's CPU by system call, and `strace -c` counts
  HAProxy's system calls per check. The floor is `bench/floor.py`: plain
  blocking checks one after another, its system time per check.
"""
