"""Peak RSS: monitors that probe a healthy server, and monitors that a
server floods with a reply that never ends; VmHWM once they have probed,
and where the resident pages of one are (smaps)."""

import os
import re
import time

from .common import KIB, read_status


class Watch:
    """The VmHWM monitors: started first, measured last (syscalls.py also
    traces the two healthy ones in between)."""

    def __init__(self, b):
        self.b = b
        self.probes = 20 if b.quick else 100
        # key: (ID, Popen); keys http, smtp, flood_http, flood_smtp, contains_http
        self.monitors = {}
        for proto, d in (("http", b.nginx), ("smtp", b.smtpd)):
            ident = f"bench_hwm_{proto}"
            err = open(os.path.join(b.work, ident + ".err"), "wb")
            self.monitors[proto] = (ident, b.monitor(proto, ident, d.port, ["-i", "1"],
                                                     stderr=err))
            err.close()
        for proto, (_, port) in b.flood.items():
            ident = f"bench_flood_{proto}"
            err = open(os.path.join(b.work, ident + ".err"), "wb")
            self.monitors["flood_" + proto] = (ident, b.monitor(
                proto, ident, port, ["-i", "1", "-c", "10000", "-r", "1"], stderr=err))
            err.close()
        ident = "bench_contains_http"
        err = open(os.path.join(b.work, ident + ".err"), "wb")
        self.monitors["contains_http"] = (ident, b.monitor(
            "http", ident, b.flood_body[1],
            ["-i", "1", "-c", "10000", "-r", "1", "--contains", "Welcome"], stderr=err))
        err.close()
        self.t0 = time.monotonic()

    def finish(self):
        b = self.b
        n = self.probes
        for key, (ident, p) in self.monitors.items():
            proto = key.split("_")[-1]
            ok = b.wait_probes(ident, n, n + 60 - (time.monotonic() - self.t0), p)
            rec = b.record(ident)
            alive = p.poll() is None
            hwm = read_status(p.pid, "VmHWM") if alive else 0
            if alive and key == "http":
                breakdown(b, p.pid, hwm)
            contains = key.startswith("contains")
            flood = key.startswith("flood") or contains
            what = (f"peak RSS (VmHWM), clp_{proto}mon --contains, server floods it "
                    "(endless body)" if contains else
                    f"peak RSS (VmHWM), clp_{proto}mon, server floods it (endless reply)"
                    if flood else f"peak RSS (VmHWM), clp_{proto}mon after {n} probes")
            server = ("bench/flood.py body" if contains else f"bench/flood.py {proto}"
                      if flood else "tests/daemons/nginx.sh" if proto == "http"
                      else "tests/daemons/smtpd.sh")
            opts = ("-i 1 -c 10000 -r 1 --contains Welcome" if contains
                    else "-i 1 -c 10000 -r 1" if flood else "-i 1")
            result = f"{hwm // 1024} KiB" if alive else "monitor ended early"
            if flood and alive:
                result += (f" after {rec.get('probes')} probes, all failed "
                           f"({rec.get('last_result', '?')[:40]})")
            verdict = "met" if alive and ok and hwm <= 640 * KIB else "MISSED"
            b.row(what, result, "≤ 640 KiB", verdict,
                  f"clp_{proto}mon ID -s 127.0.0.1 -n PORT {opts} against {server}; "
                  f"once probes ≥ {n}: grep VmHWM /proc/PID/status")
            b.ctl(proto, ident, "--stop")
            b.reap(p)


def breakdown(b, pid, hwm):
    """Where the resident pages of a running monitor are (smaps)."""
    exe = os.readlink(f"/proc/{pid}/exe")
    parts = {}
    private_dirty = 0
    cur = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            fields = line.split()
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                perms = fields[1]
                path = fields[5] if len(fields) > 5 else "anonymous"
                cur = ("the binary's code (r-x, shared, clean)" if path == exe and "x" in perms
                       else "the binary's other segments" if path == exe
                       else "heap, stack, anonymous" if path in ("[heap]", "[stack]",
                                                                "anonymous")
                       else os.path.basename(path))
            elif fields[0] == "Rss:" and cur:
                parts[cur] = parts.get(cur, 0) + int(fields[1])
            elif fields[0] == "Private_Dirty:":
                private_dirty += int(fields[1])
    text = ", ".join(f"{k} {v} KiB" for k, v in sorted(parts.items(), key=lambda kv: -kv[1])
                     if v)
    b.details.append((
        "Peak RSS: where the resident pages are",
        f"clp_httpmon after its probes, VmHWM {hwm // 1024} KiB; VmRSS by mapping "
        f"(/proc/PID/smaps): {text}; private dirty in all: {private_dirty} KiB. The code "
        "pages are most of it, and their number varies from one start to the next (the "
        "kernel maps page-cache pages around each fault, 64 KiB at a time, by address): "
        "most of .text is resident though little of it runs, so a smaller binary is a "
        "smaller RSS."))
