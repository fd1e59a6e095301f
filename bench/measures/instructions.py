"""Instructions (callgrind): of one probe in-process (examples/probe_loop),
and of one whole cycle of a real monitor (sleep, probe, record)."""

import os
import re
import subprocess

from .common import DEVNULL


def callgrind(b, argv, name, ok=(0,)):
    """Runs ARGV under callgrind: (instructions in all, the output file)."""
    out = os.path.join(b.work, f"callgrind.{name}")
    r = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                        *argv], env=b.env, stdout=DEVNULL, stderr=subprocess.PIPE,
                       timeout=300)
    if r.returncode not in ok:
        raise RuntimeError(f"{argv}: exit {r.returncode}: {r.stderr.decode()[-500:]}")
    return total(out), out


def total(path):
    with open(path) as f:
        for line in f:
            m = re.match(r"^(?:summary|totals):\s+(\d+)", line)
            if m:
                return int(m.group(1))
    raise RuntimeError(f"no total in {path}")


def annotate(path):
    """Self instructions by function (inlined code counts for the function it
    was inlined into), from callgrind_annotate's function list."""
    r = subprocess.run(["callgrind_annotate", "--auto=no", "--threshold=100", path],
                       stdout=subprocess.PIPE, text=True, check=True)
    out = {}
    started = False
    for line in r.stdout.splitlines():
        if "file:function" in line:
            started = True
            continue
        if not started:
            continue
        m = re.match(r"^\s*([\d,]+)\s+\([^)]*\)\s+(.*)$", line)
        if not m:
            if out and not line.strip():
                break
            continue
        where = re.sub(r"\s+\[[^\]]*\]$", "", m.group(2))
        fn = where.split(":", 1)[1] if ":" in where else where
        fn = re.sub(r"'\d+$", "", fn)
        out[fn] = out.get(fn, 0) + int(m.group(1).replace(",", ""))
    return out


def diff_annotate(lo, hi, n, top=15):
    a, b = annotate(lo), annotate(hi)
    per = {k: (b.get(k, 0) - a.get(k, 0)) / n for k in set(a) | set(b)}
    total = sum(per.values())
    rows = sorted(per.items(), key=lambda kv: -kv[1])[:top]
    lines = ["| instructions | share | function (with what was inlined into it) |",
             "|---:|---:|---|"]
    for k, v in rows:
        lines.append(f"| {v:,.0f} | {100 * v / total:.1f} % | `{k.replace('|', '/')}` |")
    lines.append(f"| {total:,.0f} | 100 % | all |")
    return "\n".join(lines)


def measure(b, refs):
    """REFS: the peers' instructions (peers.references), as
    {"http": (instructions, shown command), "smtp": ..., "curl": ...}."""
    per = {}
    for proto, d in (("http", b.nginx), ("smtp", b.smtpd)):
        base = ["bench", "-s", "127.0.0.1", "-n", str(d.port)]
        ir = {}
        files = {}
        for n in (10, 110):
            ir[n], files[n] = callgrind(b, [b.probe_loop(), proto, str(n), *base],
                                        f"loop-{proto}-{n}")
        per[proto] = (ir[110] - ir[10]) / 100
        b.details.append((
            f"Instructions of one {proto.upper()} probe, by function",
            "callgrind, self cost per probe (N = 110 minus N = 10, ÷ 100):\n\n" +
            diff_annotate(files[10], files[110], 100)))
    for proto in ("http", "smtp"):
        ref, shown = refs[proto]
        target = "≤ 74 k (≥ 50× fewer than check_http)" if proto == "http" else "—"
        verdict = ("met" if per[proto] <= 74000 and ref / per[proto] >= 50 else "MISSED") \
            if proto == "http" else "—"
        curl = refs["curl"][0]
        extra = f"; curl -sI {curl / 1e6:.2f} M: {curl / per[proto]:,.0f}×" \
            if proto == "http" else ""
        b.row(f"instructions per {proto.upper()} probe, in-process",
              f"{per[proto] / 1000:.2f} k; check_{proto} process {ref / 1e6:.2f} M: "
              f"{ref / per[proto]:,.0f}× fewer{extra}", target, verdict,
              f"valgrind --tool=callgrind examples/probe_loop {proto} N ID -s 127.0.0.1 "
              f"-n PORT, N = 110 minus N = 10, ÷ 100; valgrind --tool=callgrind "
              f"{shown}")
    monitor_cycle(b)


def monitor_cycle(b):
    """Instructions of one whole cycle of a real monitor: sleep, probe,
    record: callgrind of a monitor stopped after a few probes and of one
    stopped after more; the difference over the difference of probes."""
    lo, hi = 3, (8 if b.quick else 13)
    runs = {}
    twin = os.path.join(b.twin, "clp_httpmon")
    for n in (lo, hi):
        ident = f"bench_cg_{n}"
        out = os.path.join(b.work, f"callgrind.monitor-{n}")
        p = b.spawn(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                     twin, ident, "-s", "127.0.0.1", "-n", str(b.nginx.port), "-i", "1"],
                    stdout=DEVNULL, stderr=DEVNULL)
        runs[n] = (ident, p, out)
    for n, (ident, p, out) in runs.items():
        b.wait_probes(ident, n, n + 30, p)
        b.ctl("http", ident, "--stop")
        b.reap(p, 30)
    got = {n: (b.probes(ident), total(out), out) for n, (ident, p, out) in runs.items()}
    dp = got[hi][0] - got[lo][0]
    per = (got[hi][1] - got[lo][1]) / dp
    b.row("instructions per clp_httpmon cycle (probe + record + sleep)",
          f"{per / 1000:.2f} k", "≤ 74 k", "met" if per <= 74000 else "MISSED",
          f"valgrind --tool=callgrind clp_httpmon ID -s 127.0.0.1 -n PORT -i 1 "
          f"(unstripped twin), --stop after {got[lo][0]} and after {got[hi][0]} "
          f"probes: difference ÷ {dp}")
    b.details.append((
        "Instructions of one clp_httpmon cycle, by function",
        f"callgrind, self cost per cycle ({got[hi][0]} probes minus {got[lo][0]}, "
        f"÷ {dp}):\n\n" + diff_annotate(got[lo][2], got[hi][2], dp)))
