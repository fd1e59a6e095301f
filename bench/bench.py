#!/usr/bin/env python3
"""The measuring half of `make bench` (bench/bench.sh prepares and calls it).

    bench.py --root REPO --work TMPDIR --twin UNSTRIPPED_DIR [--quick]

Measures build/clp_httpmon and build/clp_smtpmon against private servers on
127.0.0.1 (tests/daemons/nginx.sh and smtpd.sh, and bench/flood.py), prints
a markdown table with the command behind each row and writes it, with the
commit it measured, to bench/RESULTS.md. See the "How" section that it
writes for what each row means.

Every process it starts is kept in a list and ended by PID on the way out;
every wait has a bound. Durations are CLOCK_MONOTONIC (time.monotonic);
the latency and drift runs use CLOCK_REALTIME (time.time), the clock of the
kernel's packet time stamps that tell when each probe started.
"""

import argparse
import math
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

DEVNULL = subprocess.DEVNULL
FAILURE_EVENT = re.compile(rb"<event: (7[1-5]|8[1-3])>")
KIB = 1024


def log(msg):
    print(f"bench: {msg}", flush=True)


def free_port():
    """A port the kernel picks (closed again for the server to bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values, p):
    """Nearest-rank percentile: the smallest value with at least p % at or
    below it (p99 of 20 runs is their maximum)."""
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def kib(n):
    return f"{n / KIB:.1f} KiB"


def ms(seconds):
    return f"{seconds * 1000:+.1f} ms"


def read_status(pid, key):
    """A kB value of /proc/PID/status (VmHWM, VmRSS), in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def read_pss(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu_seconds(pid):
    """CPU time of PID so far: se.sum_exec_runtime (ns precision) when the
    kernel shows it, else utime + stime from /proc/PID/stat (ticks)."""
    try:
        with open(f"/proc/{pid}/sched") as f:
            for line in f:
                if line.startswith("se.sum_exec_runtime"):
                    return float(line.split(":")[1]) / 1000.0
    except OSError:
        pass
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Daemon:
    """A private nginx or postfix started with tests/daemons/KIND.sh."""

    def __init__(self, bench, kind, name):
        self.bench = bench
        self.kind = kind
        self.script = os.path.join(bench.root, "tests", "daemons", kind + ".sh")
        self.dir = os.path.join(bench.work, name)
        self.port = free_port()
        os.makedirs(self.dir, exist_ok=True)
        out = open(self.dir + ".out", "wb")
        self.proc = bench.spawn(
            ["sh", self.script, "start", self.dir, str(self.port)],
            stdout=out, stderr=out)
        out.close()
        if not self.wait_answers(20):
            raise SystemExit(f"{kind} ({name}) did not answer on 127.0.0.1:{self.port}; "
                             f"see {self.dir}.out")
        log(f"{kind} {name}: PID {self.proc.pid}, 127.0.0.1:{self.port}")

    def answers(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                if self.kind == "nginx":
                    s.sendall(b"HEAD / HTTP/1.0\r\n\r\n")
                    return s.recv(16).startswith(b"HTTP/")
                return s.recv(16).startswith(b"220")
        except OSError:
            return False

    def wait_answers(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                return False
            if self.answers():
                return True
            time.sleep(0.1)
        return False

    def helper(self, verb):
        r = subprocess.run(["sh", self.script, verb, self.dir],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"{self.kind}.sh {verb}: {r.stderr.decode(errors='replace')}")
        return r.stdout.decode()

    def pids(self):
        """The master first, then the processes under it."""
        return [int(x) for x in self.helper("pids").split()]

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.helper("thaw")
                self.helper("stop")
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                log(f"{self.kind}: {e}")
        self.bench.reap(self.proc, 15)


class Bench:
    def __init__(self, a):
        self.root = a.root
        self.work = a.work
        self.twin = os.path.join(a.root, a.twin)
        self.quick = a.quick
        self.build = os.path.join(self.root, "build")
        self.state = os.path.join(self.work, "state")
        self.env = dict(os.environ, ISMON_STATE_DIR=self.state)
        self.procs = []          # every Popen started and not yet reaped
        self.lock = threading.Lock()
        self.rows = []           # (measure, result, target, verdict, command)
        self.refs = []           # reference rows
        self.details = []        # markdown sections
        self.notes = []
        self.why = {}            # measure -> the cause of a missed target
        # How much: (full, quick)
        q = self.quick
        self.hwm_probes = 20 if q else 100
        self.strace_seconds = 8 if q else 20
        self.drift_probes = 20 if q else 40
        self.lat_runs = 5 if q else 20
        self.lat_long_runs = 0 if q else 3
        self.scale_n = 50 if q else 500
        self.scale_cpu_seconds = 10 if q else 30

    # ------------------------------------------------------------ processes
    def spawn(self, argv, **kw):
        kw.setdefault("stdin", DEVNULL)
        kw.setdefault("env", self.env)
        p = subprocess.Popen(argv, **kw)
        with self.lock:
            self.procs.append(p)
        return p

    def reap(self, p, seconds=10):
        """Waits for P, bounded; then SIGTERM, then SIGKILL (by its PID)."""
        for sig in (None, signal.SIGTERM, signal.SIGKILL):
            if sig is not None and p.poll() is None:
                p.send_signal(sig)
            try:
                p.wait(timeout=seconds if sig is None else 5)
                break
            except subprocess.TimeoutExpired:
                continue
        with self.lock:
            if p in self.procs:
                self.procs.remove(p)
        return p.returncode

    def cleanup(self):
        for d in getattr(self, "daemons", []):
            d.stop()
        with self.lock:
            left = list(self.procs)
        for p in left:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in left:
            self.reap(p, 3)

    def bin(self, proto):
        return os.path.join(self.build, f"clp_{proto}mon")

    def monitor(self, proto, ident, port, opts=(), **kw):
        argv = [self.bin(proto), ident, "-s", "127.0.0.1", "-n", str(port), *opts]
        kw.setdefault("stdout", DEVNULL)
        return self.spawn(argv, **kw)

    def record(self, ident):
        """The monitor's record as a dict (read directly: what --disp shows)."""
        try:
            with open(os.path.join(self.state, ident), "rb") as f:
                text = f.read().decode("latin-1")
        except OSError:
            return {}
        out = {}
        for line in text.splitlines():
            if ": " in line:
                k, v = line.split(": ", 1)
                out.setdefault(k, v)
        return out

    def probes(self, ident):
        try:
            return int(self.record(ident).get("probes", "0"))
        except ValueError:
            return 0

    def wait_probes(self, ident, n, seconds, proc=None):
        end = time.monotonic() + seconds
        while True:
            if self.probes(ident) >= n:
                return True
            if proc is not None and proc.poll() is not None:
                return False
            if time.monotonic() >= end:
                return False
            time.sleep(0.2)

    def ctl(self, proto, ident, verb):
        return subprocess.run([self.bin(proto), ident, verb], env=self.env,
                              stdout=DEVNULL, stderr=DEVNULL, timeout=30).returncode

    def timed(self, argv, env=None):
        """Runs ARGV once: (exit status, wall seconds, peak RSS bytes)."""
        t = time.monotonic()
        pid = os.posix_spawn(argv[0], argv, env if env is not None else self.env,
                             file_actions=[(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                                           (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
                                           (os.POSIX_SPAWN_OPEN, 2, "/dev/null", os.O_WRONLY, 0)])
        _, status, ru = os.wait4(pid, 0)
        return os.waitstatus_to_exitcode(status), time.monotonic() - t, ru.ru_maxrss * 1024

    def peak_rss(self, argv):
        """Peak RSS of one run of ARGV, from GNU time (%M): it forks from a
        small process, so the child's peak is the command's own (a child of
        this Python process would carry the parent's peak across exec)."""
        out = os.path.join(self.work, "time.out")
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out, *argv], stdout=DEVNULL,
                       stderr=DEVNULL, timeout=60)
        with open(out) as f:
            return int(f.read().split()[-1]) * 1024

    def row(self, measure, result, target, verdict, command, why=""):
        self.rows.append((measure, result, target, verdict, command))
        if why:
            self.why[measure] = why
        log(f"{measure}: {result} [{verdict}]")

    # ---------------------------------------------------------------- steps
    def run(self):
        random.seed()
        os.makedirs(self.state, exist_ok=True)
        self.commit = git(self.root, "rev-parse", "HEAD")
        dirty = subprocess.run(["git", "-C", self.root, "diff", "--quiet", "HEAD", "--",
                                "src", "Cargo.toml", "Cargo.lock", "man", "Makefile",
                                "scripts/build.sh"]).returncode != 0
        self.commit_text = self.commit + (" with uncommitted changes to the measured files"
                                          if dirty else "")
        self.started = time.strftime("%Y-%m-%d %H:%M:%S %z")
        self.t_start = time.monotonic()
        self.load_start = loadavg()

        self.daemons = []
        self.nginx = self.add_daemon("nginx", "nginx")
        self.smtpd = self.add_daemon("smtpd", "smtpd")
        # Instances of their own for the latency runs, which freeze them.
        self.nginx_frz = self.add_daemon("nginx", "nginx-freeze")
        self.smtpd_frz = self.add_daemon("smtpd", "smtpd-freeze")
        self.flood = {}
        for proto in ("http", "smtp"):
            p = self.spawn([sys.executable, os.path.join(self.root, "bench", "flood.py"), proto,
                            "1800"], stdout=subprocess.PIPE, stderr=DEVNULL)
            self.flood[proto] = (p, int(p.stdout.readline()))

        self.start_hwm()
        self.sizes()
        self.instructions()
        self.syscalls_and_drift()
        self.latency("http", self.nginx_frz, self.lat_runs, ["-i", "1", "-c", "2", "-r", "1"])
        self.latency("smtp", self.smtpd_frz, self.lat_runs, ["-i", "1", "-c", "2", "-r", "1"])
        if self.lat_long_runs:
            self.latency("http", self.nginx_frz, self.lat_long_runs,
                         ["-i", "1", "-c", "10", "-r", "1"], bound=11.0, targeted=False)
        self.finish_hwm()
        self.scale()
        self.write()

    def add_daemon(self, kind, name):
        d = Daemon(self, kind, name)
        self.daemons.append(d)
        return d

    # ---- sizes
    def sizes(self):
        dest = os.path.join(self.work, "install")
        subprocess.run(["make", "-s", "install", f"DESTDIR={dest}"], cwd=self.root, check=True,
                       stdout=DEVNULL)
        files = []
        for d, _, names in os.walk(dest):
            files += [os.path.join(d, n) for n in names]
        size = {os.path.relpath(f, dest): os.stat(f).st_size for f in files}
        cmd = "make install DESTDIR=$D; stat -c %s $D/usr/sbin/{p}"
        for p in ("clp_httpmon", "clp_smtpmon"):
            n = size[f"usr/sbin/{p}"]
            self.row(f"installed size, {p}", f"{kib(n)} ({n:,} B)", "≤ 512 KiB",
                     "met" if n <= 512 * KIB else "MISSED", cmd.format(p=p))
        total = sum(size.values())
        man = sum(v for k, v in size.items() if "/man/" in k)
        mans = [k for k in size if "/man/" in k]
        self.man_gzipped = all(k.endswith(".gz") for k in mans)
        gz = man if self.man_gzipped else sum(
            len(subprocess.run(["gzip", "-9n"], stdin=open(os.path.join(dest, k), "rb"),
                               stdout=subprocess.PIPE, check=True).stdout) for k in mans)
        self.size_info = (total, man, gz)
        backtrace, own = self.size_breakdown()
        self.row("installed size, both binaries + 2 man pages",
                 f"{kib(total)} ({total:,} B; man pages {kib(man)})", "≤ 1 MiB",
                 "met" if total <= 1024 * KIB else "MISSED",
                 "make install DESTDIR=$D; du -b --apparent-size $D (all 4 files)",
                 why=f"the two binaries are two full copies of one program, {backtrace:.0f} % of "
                     "whose .text is std's backtrace printer and unwinder (gimli, addr2line, "
                     "miniz_oxide, rustc_demangle, libunwind), linked in for the default panic "
                     f"hook even with panic = \"abort\"; ismon's own code is {own:.0f} %. " +
                     ("" if self.man_gzipped else
                      f"The man pages are installed uncompressed ({kib(man)}; gzip -9n makes "
                      f"them {kib(gz)}, and the total {kib(total - man + gz)}). ") +
                     "See \"Binary size\".")

    def size_breakdown(self):
        twin = os.path.join(self.twin, "clp_httpmon")
        text = {}
        for name, path in (("build/clp_httpmon", self.bin("http")), ("unstripped twin", twin)):
            r = subprocess.run(["size", "-A", path], stdout=subprocess.PIPE, text=True)
            for line in r.stdout.splitlines():
                f = line.split()
                if f and f[0] == ".text":
                    text[name] = int(f[1])
        self.same_text = len(set(text.values())) == 1 and len(text) == 2
        r = subprocess.run(["nm", "-S", "--size-sort", "-C", twin], stdout=subprocess.PIPE,
                           text=True)
        groups = [
            ("std's backtrace printer (gimli, addr2line, miniz_oxide, rustc_demangle) "
             "and libunwind: the default panic hook",
             re.compile(r"gimli|addr2line|miniz|rustc_demangle|libunwind|backtrace|object::"
                        r"|_Unwind|unw_")),
            ("core::fmt (formatting machinery)", re.compile(r"core::fmt|fmt::")),
            ("ismon's own code", re.compile(r"ismon::")),
            ("getopts and unicode-width", re.compile(r"getopts|unicode")),
            ("rest of std, core, alloc", re.compile(r"std::|alloc::|core::|<")),
            ("musl libc (C symbols)", re.compile(r"^[A-Za-z_0-9.]+$")),
        ]
        sums = {g[0]: 0 for g in groups}
        other = 0
        for line in r.stdout.splitlines():
            f = line.split(None, 3)
            if len(f) < 4 or f[2] not in "tTwW":
                continue
            n = int(f[1], 16)
            for label, rx in groups:
                if rx.search(f[3]):
                    sums[label] += n
                    break
            else:
                other += n
        total_text = text.get("unstripped twin", 0)
        lines = ["| code in .text of clp_httpmon | bytes | share |", "|---|---:|---:|"]
        for label, _ in groups:
            lines.append(f"| {label} | {sums[label]:,} | {100 * sums[label] / total_text:.0f} % |")
        lines.append(f"| other | {other:,} | {100 * other / total_text:.0f} % |")
        lines.append(f"| **.text in all** | {total_text:,} | |")
        backtrace = 100 * sums[groups[0][0]] / total_text if total_text else 0
        own = 100 * sums[groups[2][0]] / total_text if total_text else 0
        total, man, gz = self.size_info
        self.details.append((
            "Binary size: where it goes",
            "`nm -S --size-sort -C` of the unstripped twin (target/bench, same profile; "
            f".text {'identical to' if self.same_text else 'DIFFERENT from'} build/'s: "
            f"{text})), function symbols grouped by name:\n\n" + "\n".join(lines) +
            "\n\nThe two binaries are two full copies of the same program. " +
            (f"The man pages are installed compressed ({kib(man)})." if self.man_gzipped else
             f"With the man pages compressed (`gzip -9n`, as Debian installs them: "
             f"{kib(man)} → {kib(gz)}) the installed total would be "
             f"{kib(total - man + gz)}.")))
        return backtrace, own

    # ---- peak RSS
    def start_hwm(self):
        self.hwm = {}
        for proto, d in (("http", self.nginx), ("smtp", self.smtpd)):
            ident = f"bench_hwm_{proto}"
            err = open(os.path.join(self.work, ident + ".err"), "wb")
            self.hwm[proto] = (ident, self.monitor(proto, ident, d.port, ["-i", "1"], stderr=err))
            err.close()
        for proto, (fp, port) in self.flood.items():
            ident = f"bench_flood_{proto}"
            err = open(os.path.join(self.work, ident + ".err"), "wb")
            self.hwm["flood_" + proto] = (ident, self.monitor(
                proto, ident, port, ["-i", "1", "-c", "10000", "-r", "1"], stderr=err))
            err.close()
        self.hwm_t0 = time.monotonic()

    def finish_hwm(self):
        n = self.hwm_probes
        for key, (ident, p) in self.hwm.items():
            proto = key.split("_")[-1]
            ok = self.wait_probes(ident, n, n + 60 - (time.monotonic() - self.hwm_t0), p)
            rec = self.record(ident)
            alive = p.poll() is None
            hwm = read_status(p.pid, "VmHWM") if alive else 0
            if alive and key == "http":
                self.rss_breakdown(p.pid, hwm)
            flood = key.startswith("flood")
            what = (f"peak RSS (VmHWM), clp_{proto}mon, server floods it (endless reply)"
                    if flood else f"peak RSS (VmHWM), clp_{proto}mon after {n} probes")
            server = f"bench/flood.py {proto}" if flood else (
                "tests/daemons/nginx.sh" if proto == "http" else "tests/daemons/smtpd.sh")
            opts = "-i 1 -c 10000 -r 1" if flood else "-i 1"
            result = f"{hwm // 1024} KiB" if alive else "monitor ended early"
            if flood and alive:
                result += (f" after {rec.get('probes')} probes, all failed "
                           f"({rec.get('last_result', '?')[:40]})")
            verdict = "met" if alive and ok and hwm <= 640 * KIB else "MISSED"
            self.row(what, result, "≤ 640 KiB", verdict,
                     f"clp_{proto}mon ID -s 127.0.0.1 -n PORT {opts} against {server}; "
                     f"once probes ≥ {n}: grep VmHWM /proc/PID/status")
            self.ctl(proto, ident, "--stop")
            self.reap(p)

    def rss_breakdown(self, pid, hwm):
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
        self.details.append((
            "Peak RSS: where the resident pages are",
            f"clp_httpmon after its probes, VmHWM {hwm // 1024} KiB; VmRSS by mapping "
            f"(/proc/PID/smaps): {text}; private dirty in all: {private_dirty} KiB. The code "
            "pages are most of it, and their number varies from one start to the next (the "
            "kernel maps page-cache pages around each fault, 64 KiB at a time, by address): "
            "most of .text is resident though little of it runs, so a smaller binary is a "
            "smaller RSS."))

    # ---- syscalls and schedule drift
    def after_probe(self, ident, seconds=5):
        """Waits until the monitor has recorded one more probe, then 0.2 s:
        the monitor is then asleep until its next probe."""
        n = self.probes(ident)
        end = time.monotonic() + seconds
        while self.probes(ident) <= n and time.monotonic() < end:
            time.sleep(0.005)
        time.sleep(0.2)

    def strace_window(self, proto, out):
        ident, p = self.hwm[proto]
        self.wait_probes(ident, 2, 20, p)
        self.after_probe(ident)
        sp = self.spawn(["strace", "-c", "-o", out, "-p", str(p.pid)], stderr=DEVNULL)
        time.sleep(self.strace_seconds - 1)
        self.after_probe(ident)
        sp.send_signal(signal.SIGINT)
        self.reap(sp)

    def syscalls_and_drift(self):
        # The drift monitor probes the (not yet frozen) second nginx, whose
        # SYNs are all its own.
        dident = "bench_drift"
        try:
            cap = SynCapture(self.nginx_frz.port)
        except OSError as e:
            cap = None
            log(f"no packet capture: {e}")
        err = open(os.path.join(self.work, dident + ".err"), "wb")
        dp = self.monitor("http", dident, self.nginx_frz.port, ["-i", "1"], stderr=err)
        err.close()
        outs = {proto: os.path.join(self.work, f"strace-c-{proto}.txt")
                for proto in ("http", "smtp")}
        threads = [threading.Thread(target=self.strace_window, args=(proto, out))
                   for proto, out in outs.items()]
        threads.append(threading.Thread(target=self.sleep_evidence))
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
            self.row(f"system calls per {proto.upper()} probe, steady state",
                     f"{per:.1f} ({total} calls over {connects} probes)", target, verdict,
                     f"strace -c -p PID for ~{self.strace_seconds} s (whole cycles) on the "
                     f"VmHWM monitor (-i 1); calls ÷ connect calls")
            breakdown = ", ".join(f"{k} {v / connects:.3g}" for k, v in
                                  sorted(calls.items(), key=lambda kv: -kv[1])) \
                if connects else "-"
            self.details.append((f"System calls of one {proto.upper()} monitor cycle",
                                 f"Per probe, from `strace -c -p` over {connects} probes: "
                                 f"{breakdown}." + self.probe_only_syscalls(proto)))
        self.wait_probes(dident, self.drift_probes, self.drift_probes + 30, dp)
        self.ctl("http", dident, "--stop")
        self.reap(dp)
        if cap is not None:
            cap.close()
            self.drift(cap.syns)
        else:
            self.row("schedule drift, clp_httpmon -i 1", "not measured (no packet capture)",
                     "—", "—", "-")

    def sleep_evidence(self):
        """How late poll(2) wakes against clock_nanosleep(2), for the drift."""
        import select
        waits = (1000, 1000, 5000) if not self.quick else (1000, 1000)
        pl = select.poll()
        late = {"poll": [], "nanosleep": []}
        for ms_ in waits:
            t = time.monotonic()
            pl.poll(ms_)
            late["poll"].append((ms_, time.monotonic() - t - ms_ / 1000))
            t = time.monotonic()
            time.sleep(ms_ / 1000)
            late["nanosleep"].append((ms_, time.monotonic() - t - ms_ / 1000))
        self.sleep_late = late

    def probe_only_syscalls(self, proto):
        d = self.nginx if proto == "http" else self.smtpd
        counts = {}
        for n in (10, 110):
            out = os.path.join(self.work, f"strace-loop-{proto}-{n}.txt")
            subprocess.run(["strace", "-f", "-c", "-o", out, self.probe_loop(), proto, str(n),
                            "bench", "-s", "127.0.0.1", "-n", str(d.port)], check=True,
                           stdout=DEVNULL, stderr=DEVNULL, timeout=120)
            counts[n] = parse_strace_c(out)
        names = set(counts[10]) | set(counts[110])
        per = {k: (counts[110].get(k, 0) - counts[10].get(k, 0)) / 100 for k in names}
        items = ", ".join(f"{k} {v:g}" for k, v in sorted(per.items(), key=lambda kv: -kv[1])
                          if k != "total" and v)
        return (f" The probe alone (`strace -f -c examples/probe_loop {proto} N`, N = 110 "
                f"minus N = 10, ÷ 100): {per.get('total', 0):g} calls: {items}.")

    def drift(self, starts):
        """Drift: the least-squares slope of each probe's lateness against
        the grid of probe 0's start + k s; lateness that does not add up
        (each wake-up a little late) leaves the slope at 0."""
        n = len(starts) - 1
        if n < 2:
            self.row("schedule drift, clp_httpmon -i 1", "not measured", "—", "—", "-")
            return
        late = [starts[k] - starts[0] - k for k in range(len(starts))]
        mk = n / 2
        ml = sum(late) / len(late)
        slope = (sum((k - mk) * (x - ml) for k, x in enumerate(late)) /
                 sum((k - mk) ** 2 for k in range(len(late))))
        wake = sorted(late[1:])
        drifts = abs(slope) > 0.0001
        self.row("schedule drift, clp_httpmon -i 1 (SPEC: start to start, no drift)",
                 f"{slope * 1000:+.3f} ms per interval (slope over {n} intervals); each probe "
                 f"starts {pct(wake, 50) * 1000:.2f} ms (median), {wake[-1] * 1000:.2f} ms (max) "
                 "after its slot",
                 "no drift (|slope| ≤ 0.1 ms)", "MISSED (SPEC)" if drifts else "met",
                 f"clp_httpmon ID -s 127.0.0.1 -n PORT -i 1 for {n} intervals: kernel time "
                 "stamps of its SYNs (AF_PACKET on lo, SO_TIMESTAMPNS)",
                 why="the probes' lateness adds up from one interval to the next: the next "
                     "slot is computed from when the probe actually started, not from the "
                     "slot it waited for. See \"Schedule drift\".")
        ev = getattr(self, "sleep_late", None)
        why = ""
        if ev:
            fmt = lambda xs: ", ".join(f"{w} ms: +{x * 1000:.2f}" for w, x in xs)
            why = (" How late a wait ends here (the bench's own process, same kernel): "
                   f"poll(2) with a timeout of {fmt(ev['poll'])} ms; clock_nanosleep(2) "
                   f"{fmt(ev['nanosleep'])} ms. Linux lets a poll timeout end up to 0.1 % of "
                   "its length late (select_estimate_accuracy: 1 ms on a 1 s wait, 10 ms on "
                   "10 s, at most 100 ms), on top of a wait rounded up to whole milliseconds. "
                   "Each probe starts that late after its slot; when a probe runs into the next "
                   "slot (a timeout as long as the interval, as in the detection runs), the "
                   "next one starts at once and the lateness carries over, retry after retry.")
        self.details.append((
            "Schedule drift",
            "Start of probe k minus (start of probe 0 + k s), ms: " +
            ", ".join(f"{x * 1000:.1f}" for x in late) + "." + why))

    # ---- instructions
    def probe_loop(self):
        return os.path.join(self.twin, "examples", "probe_loop")

    def callgrind(self, argv, name, ok=(0,)):
        out = os.path.join(self.work, f"callgrind.{name}")
        r = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                            *argv], env=self.env, stdout=DEVNULL, stderr=subprocess.PIPE,
                           timeout=300)
        if r.returncode not in ok:
            raise RuntimeError(f"{argv}: exit {r.returncode}: {r.stderr.decode()[-500:]}")
        return callgrind_total(out), out

    def instructions(self):
        per = {}
        for proto, d in (("http", self.nginx), ("smtp", self.smtpd)):
            base = ["bench", "-s", "127.0.0.1", "-n", str(d.port)]
            ir = {}
            files = {}
            for n in (10, 110):
                ir[n], files[n] = self.callgrind(
                    [self.probe_loop(), proto, str(n), *base], f"loop-{proto}-{n}")
            per[proto] = (ir[110] - ir[10]) / 100
            self.details.append((
                f"Instructions of one {proto.upper()} probe, by function",
                "callgrind, self cost per probe (N = 110 minus N = 10, ÷ 100):\n\n" +
                diff_annotate(files[10], files[110], 100)))
        refs = {
            "http": (["/usr/lib/nagios/plugins/check_http", "-H", "127.0.0.1", "-p",
                      str(self.nginx.port), "-j", "HEAD"], "check_http -H 127.0.0.1 -p PORT -j HEAD"),
            "smtp": (["/usr/lib/nagios/plugins/check_smtp", "-H", "127.0.0.1", "-p",
                      str(self.smtpd.port)], "check_smtp -H 127.0.0.1 -p PORT"),
            "curl": (["/usr/bin/curl", "-sI", f"http://127.0.0.1:{self.nginx.port}/"],
                     "curl -sI http://127.0.0.1:PORT/"),
        }
        ref_ir = {}
        for key, (argv, shown) in refs.items():
            ref_ir[key], _ = self.callgrind(argv, f"ref-{key}")
            runs = [self.timed(argv, env=dict(os.environ)) for _ in range(11)]
            bad = [r[0] for r in runs if r[0] != 0]
            self.refs.append((shown, f"{ref_ir[key] / 1e6:.2f} M",
                              f"{pct([r[1] for r in runs], 50) * 1000:.1f} ms",
                              f"{max(self.peak_rss(argv) for _ in range(3)) / 1e6:.1f} MB",
                              "ok" if not bad else f"exit {bad[0]}"))
        for proto in ("http", "smtp"):
            ref = ref_ir[proto]
            target = "≤ 74 k (≥ 50× fewer than check_http)" if proto == "http" else "—"
            verdict = ("met" if per[proto] <= 74000 and ref / per[proto] >= 50 else "MISSED") \
                if proto == "http" else "—"
            extra = f"; curl -sI {ref_ir['curl'] / 1e6:.2f} M: {ref_ir['curl'] / per[proto]:,.0f}×" \
                if proto == "http" else ""
            self.row(f"instructions per {proto.upper()} probe, in-process",
                     f"{per[proto] / 1000:.2f} k; check_{proto} process {ref / 1e6:.2f} M: "
                     f"{ref / per[proto]:,.0f}× fewer{extra}", target, verdict,
                     f"valgrind --tool=callgrind examples/probe_loop {proto} N ID -s 127.0.0.1 "
                     f"-n PORT, N = 110 minus N = 10, ÷ 100; valgrind --tool=callgrind "
                     f"{refs[proto][1]}")
        self.monitor_cycle()

    def monitor_cycle(self):
        """Instructions of one whole cycle of a real monitor: sleep, probe,
        record: callgrind of a monitor stopped after a few probes and of one
        stopped after more; the difference over the difference of probes."""
        lo, hi = 3, (8 if self.quick else 13)
        runs = {}
        twin = os.path.join(self.twin, "clp_httpmon")
        for n in (lo, hi):
            ident = f"bench_cg_{n}"
            out = os.path.join(self.work, f"callgrind.monitor-{n}")
            p = self.spawn(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                            twin, ident, "-s", "127.0.0.1", "-n", str(self.nginx.port), "-i", "1"],
                           stdout=DEVNULL, stderr=DEVNULL)
            runs[n] = (ident, p, out)
        for n, (ident, p, out) in runs.items():
            self.wait_probes(ident, n, n + 30, p)
            self.ctl("http", ident, "--stop")
            self.reap(p, 30)
        got = {n: (self.probes(ident), callgrind_total(out), out)
               for n, (ident, p, out) in runs.items()}
        dp = got[hi][0] - got[lo][0]
        per = (got[hi][1] - got[lo][1]) / dp
        self.row("instructions per clp_httpmon cycle (probe + record + sleep)",
                 f"{per / 1000:.2f} k", "≤ 74 k", "met" if per <= 74000 else "MISSED",
                 f"valgrind --tool=callgrind clp_httpmon ID -s 127.0.0.1 -n PORT -i 1 "
                 f"(unstripped twin), --stop after {got[lo][0]} and after {got[hi][0]} "
                 f"probes: difference ÷ {dp}")
        self.details.append((
            "Instructions of one clp_httpmon cycle, by function",
            f"callgrind, self cost per cycle ({got[hi][0]} probes minus {got[lo][0]}, "
            f"÷ {dp}):\n\n" + diff_annotate(got[lo][2], got[hi][2], dp)))

    # ---- detection latency
    def latency(self, proto, daemon, runs, opts, bound=3.0, targeted=True):
        interval = 1.0
        timeout = 1.0
        samples, notes = [], []
        load = loadavg()
        try:
            cap = SynCapture(daemon.port)
        except OSError as e:
            cap = None
            self.notes.append(f"No packet capture ({e}): probe 0's start taken from the "
                              "time-stamped event 2 on standard error instead (less exact).")
        try:
            for k in range(runs):
                s = self.latency_run(proto, daemon, k, opts, interval, timeout, bound, cap)
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
            self.row(what, "no run completed", "≤ 20 ms at p99, never early", "MISSED", "-")
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
        self.row(what, result,
                 "≤ 20 ms at p99, never early" if targeted else "— (SPEC: a few ms)",
                 ("met" if ok else "MISSED") if targeted else ("—" if not early else "EARLY"),
                 f"clp_{proto}mon ID -s 127.0.0.1 -n PORT {optstr}; at a random point of the "
                 f"interval kill -STOP every PID of `tests/daemons/{server} pids DIR`; exit − "
                 f"(first slot ≥ freeze) − {bound:g} s; slot k = probe 0's SYN + k s")
        self.details.append((
            f"Detection latency, clp_{proto}mon {optstr}",
            f"Bound: {bound:g} s after the start of the first failed probe. Load average "
            f"before the runs: {load}. Each run, ms past the bound from the slot [from the "
            f"failed probe's SYN] (freeze phase in the interval, ms): " +
            ", ".join(f"{s['latency'] * 1000:.1f}"
                      + (f" [{s['actual'] * 1000:.1f}]" if s["actual"] is not None else "")
                      + f" ({s['phase'] * 1000:.0f})" for s in samples) +
            "." + (" " + "; ".join(notes) if notes else "") + steps_text(samples)))

    def latency_run(self, proto, daemon, k, opts, interval, timeout, bound, cap):
        """One run; every time here is CLOCK_REALTIME (time.time()), the
        clock of the kernel's packet time stamps."""
        ident = f"bench_lat_{proto}_{k}"
        t_spawn = time.time()
        p = self.monitor(proto, ident, daemon.port, opts, stdout=DEVNULL, stderr=subprocess.PIPE)
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
            self.reap(p)
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
        with self.lock:
            self.procs.remove(p)
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
        steps = [f - anchor - (i * interval + timeout) for i, f in enumerate(fails)]
        return {"latency": lat, "actual": actual, "status": status,
                "phase": (tf - t0) % interval, "note": note.strip(), "steps": steps,
                "after_last": te - fails[-1] if fails else None}

    # ---- scale
    def scale(self):
        n = self.scale_n
        d = self.nginx
        ids = [f"bench_scale_{i:03d}" for i in range(n)]
        err = open(os.path.join(self.work, "scale.err"), "wb")
        t = time.monotonic()
        procs = [self.monitor("http", i, d.port, ["-i", "1"], stderr=err) for i in ids]
        err.close()
        spawn_s = time.monotonic() - t
        end = time.monotonic() + 60
        pending = list(ids)
        while pending and time.monotonic() < end:
            pending = [i for i in pending if self.probes(i) < 2]
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
        p0 = sum(self.probes(i) for i in ids)
        t0 = time.monotonic()
        time.sleep(self.scale_cpu_seconds)
        c1 = {p.pid: cpu_seconds(p.pid) for p in alive}
        w1 = sum(cpu_seconds(pid) for pid in workers)
        t1 = time.monotonic()
        p1 = sum(self.probes(i) for i in ids)
        cpu = sum(c1[k] - c0[k] for k in c0) / (t1 - t0)
        ngx = (w1 - w0) / (t1 - t0)
        rate = (p1 - p0) / (t1 - t0)
        mid = ids[n // 2]
        disp = [self.timed([self.bin("http"), mid, "--disp"]) for _ in range(21)]
        disp_ok = all(r[0] == 0 for r in disp)
        t = time.monotonic()
        stops = [self.ctl("http", i, "--stop") for i in ids]
        stop_s = time.monotonic() - t
        codes = [self.reap(p, 15) for p in procs]
        prof = self.cpu_profile(min(n, 200))
        base = f"{n} × clp_httpmon ID_k -s 127.0.0.1 -n PORT -i 1 against one nginx"
        self.row(f"scale: total RSS of {n} monitors",
                 f"{rss / KIB / KIB:.1f} MiB (PSS {pss / KIB / KIB:.1f} MiB; "
                 f"largest VmHWM {hwm // 1024} KiB)",
                 "≤ 350 MiB" if n == 500 else "— (500: ≤ 350 MiB)",
                 ("met" if rss <= 350 * KIB * KIB else "MISSED") if n == 500 else "—",
                 f"{base}; sum of VmRSS (Pss: smaps_rollup) over their PIDs")
        self.row(f"scale: CPU of {n} monitors",
                 f"{cpu * 100:.2f} % of one core ({rate:.0f} probes/s; nginx worker "
                 f"{ngx * 100:.1f} %)",
                 "≤ 5 % of one core" if n == 500 else "— (500: ≤ 5 %)",
                 ("met" if cpu <= 0.05 else "MISSED") if n == 500 else "—",
                 f"{base}; Δ se.sum_exec_runtime (/proc/PID/sched) over "
                 f"{self.scale_cpu_seconds} s, summed",
                 why=(f"{cpu / rate * 1e6:.0f} µs of CPU per probe cycle. " if rate else "") +
                     (f"{prof['sys'] * 100:.0f} % of it is in the system calls of the probe — "
                      "on loopback the TCP connect, send and close, with the server's side "
                      "of them — which a probe that connects each time cannot avoid; "
                      f"{prof['user'] * 100:.0f} % is user space, spread over the functions "
                      "listed in \"Where a monitor's CPU time goes\"." if prof else ""))
        self.row(f"scale: clp_httpmon ID --disp among {n}",
                 f"{pct([r[1] for r in disp], 50) * 1000:.2f} ms median, "
                 f"{max(r[1] for r in disp) * 1000:.2f} ms max (21 runs)"
                 + ("" if disp_ok else ", FAILED"), "—", "—" if disp_ok else "FAILED",
                 f"time clp_httpmon {mid} --disp >/dev/null")
        stop_ok = all(s == 0 for s in stops) and all(c == 0 for c in codes)
        self.row(f"scale: stopping all {n}",
                 f"{stop_s:.2f} s ({stop_s / n * 1000:.1f} ms each)"
                 + ("" if stop_ok else
                    f", FAILED (--stop statuses {sorted(set(stops))}, exits {sorted(set(codes))})"),
                 "—", "—" if stop_ok else "FAILED",
                 f"time for ID in ...; do clp_httpmon $ID --stop; done (one after another)")
        self.notes.append(f"Scale: {n} monitors started in {spawn_s:.1f} s; `--disp` times, "
                          "ms: " + ", ".join(f"{r[1] * 1000:.2f}" for r in disp) + ".")

    def cpu_profile(self, n):
        """Where a monitor's CPU time goes: perf (cpu-clock samples, call
        graphs) over N monitors, run from the unstripped twin (same code) so
        that user-space functions have names."""
        perf_ok = shutil.which("perf") is not None and subprocess.run(
            ["perf", "--version"], stdout=DEVNULL, stderr=DEVNULL).returncode == 0
        if not perf_ok:
            self.notes.append("No perf here: the CPU time of a monitor is not broken down.")
            return None
        twin = os.path.join(self.twin, "clp_httpmon")
        ids = [f"bench_prof_{i:03d}" for i in range(n)]
        procs = [self.spawn([twin, i, "-s", "127.0.0.1", "-n", str(self.nginx.port), "-i", "1"],
                            stdout=DEVNULL, stderr=DEVNULL) for i in ids]
        time.sleep(3)
        data = os.path.join(self.work, "perf.data")
        secs = 3 if self.quick else 6
        r = subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", "10000", "-a", "-g",
                            "-o", data, "--", "sleep", str(secs)], stdout=DEVNULL,
                           stderr=subprocess.PIPE, timeout=120)
        for i in ids:
            self.ctl("http", i, "--stop")
        for p in procs:
            self.reap(p, 15)
        if r.returncode != 0:
            self.notes.append("perf record failed: " + r.stderr.decode(errors="replace")[-200:])
            return None
        script = subprocess.run(["perf", "script", "-i", data, "--comm", "clp_httpmon",
                                 "-F", "ip,sym"], stdout=subprocess.PIPE, stderr=DEVNULL,
                                text=True, timeout=300).stdout
        # One sample a paragraph, leaf frame first: "ADDRESS SYMBOL".
        calls, user, kernel_other, total = {}, {}, 0, 0
        for sample in script.split("\n\n"):
            frames = [f.split(None, 1) for f in sample.strip().splitlines() if f.strip()]
            frames = [(f[0], f[1] if len(f) > 1 else "?") for f in frames]
            if not frames:
                continue
            total += 1
            sys_name = next((m.group(1) for _, sym in frames
                             for m in [re.match(r"__x64_sys_(\w+)", sym)] if m), None)
            in_syscall = sys_name or any(sym.startswith("do_syscall_64") for _, sym in frames)
            if in_syscall:
                key = sys_name or "other"
                calls[key] = calls.get(key, 0) + 1
            elif frames[0][0].startswith("ffffffff"):
                kernel_other += 1
            else:
                user[frames[0][1]] = user.get(frames[0][1], 0) + 1
        if not total:
            return None
        share = lambda n: n / total
        sys_total = share(sum(calls.values()))
        user_total = share(sum(user.values()))
        top_user = sorted(user.items(), key=lambda kv: -kv[1])[:6]
        self.details.append((
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

    # ---------------------------------------------------------------- output
    def write(self):
        took = time.monotonic() - self.t_start
        host = []
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
        target = open(os.path.join(self.build, "TARGET")).read().strip()
        host = (f"{model}, {os.cpu_count()} CPUs, Linux {kernel}, Debian {debian}, {rustc}, "
                f"target {target}; load average at start {self.load_start}, at end "
                f"{loadavg()} (other work on the machine shows as noise in times)")
        esc = lambda s: str(s).replace("|", "\\|")
        out = ["# ismon benchmark", "",
               f"Measured commit: `{self.commit_text}`  ",
               f"Run: {self.started}, {took:.0f} s, "
               f"{'BENCH_QUICK=1 (shortened)' if self.quick else 'full'} (`make bench`)  ",
               f"Host: {host}", "",
               "| measure | result | target | verdict | command |",
               "|---|---|---|---|---|"]
        rank = lambda r: next((k for k, p in enumerate(ORDER) if r[0].startswith(p)), len(ORDER))
        for r in sorted(self.rows, key=rank):
            out.append("| " + " | ".join(esc(x) for x in r) + " |")
        out += ["", "References, one process each, measured in the same run against the same "
                "private servers (instructions: callgrind; time: median wall time of 11 runs, "
                "spawn included; peak RSS: largest of 3 runs under GNU time, %M):", "",
                "| command | instructions | time | peak RSS | result |",
                "|---|---:|---:|---:|---|"]
        for r in self.refs:
            out.append("| " + " | ".join(esc(x) for x in r) + " |")
        missed = [r for r in self.rows if r[3].startswith(("MISSED", "EARLY", "FAILED"))]
        out += ["", "## Targets missed", ""]
        if missed:
            out += [f"- {r[0]}: {r[1]} (target {r[2]})."
                    + (f" Cause: {self.why[r[0]]}" if r[0] in self.why else "")
                    for r in missed]
        else:
            out.append("None.")
        out += ["", "## How", "", HOW.strip(), ""]
        for title, body in self.details:
            out += [f"## {title}", "", body, ""]
        if self.notes:
            out += ["## Notes", ""] + [f"- {n}" for n in self.notes] + [""]
        text = "\n".join(out)
        path = os.path.join(self.root, "bench", "RESULTS.md")
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
"""


class SynCapture:
    """Kernel time stamps (CLOCK_REALTIME, SO_TIMESTAMPNS) of the TCP SYNs
    sent on lo to PORT: when each probe started, to the microsecond, however
    late this process gets to read them."""

    PACKET_OUTGOING = 4
    SO_TIMESTAMPNS = 35

    def __init__(self, port):
        self.port = port
        self.syns = []
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
        self.sock.bind(("lo", 0))
        self.sock.setsockopt(socket.SOL_SOCKET, self.SO_TIMESTAMPNS, 1)
        self.sock.settimeout(0.2)
        self.done = False
        self.th = threading.Thread(target=self.loop, daemon=True)
        self.th.start()

    def loop(self):
        import struct
        while not self.done:
            try:
                data, anc, _, addr = self.sock.recvmsg(96, socket.CMSG_SPACE(16))
            except socket.timeout:
                continue
            except OSError:
                break
            if addr[2] != self.PACKET_OUTGOING or data[12:14] != b"\x08\x00":
                continue
            ip = data[14:]
            ihl = (ip[0] & 15) * 4
            if len(ip) < ihl + 14 or ip[9] != 6:
                continue
            dport = struct.unpack("!H", ip[ihl + 2:ihl + 4])[0]
            flags = ip[ihl + 13]
            if dport != self.port or flags & 0x12 != 0x02:   # SYN without ACK
                continue
            for _, kind, d in anc:
                if kind == self.SO_TIMESTAMPNS and len(d) >= 16:
                    sec, nsec = struct.unpack("qq", d[:16])
                    self.syns.append(sec + nsec / 1e9)

    def since(self, port, t):
        return [x for x in list(self.syns) if x >= t] if port == self.port else []

    def close(self):
        self.done = True
        self.th.join(2)
        self.sock.close()


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


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


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


ORDER = ("installed size", "peak RSS", "system calls", "instructions", "detection",
         "schedule drift", "scale")


def git(root, *args):
    return subprocess.run(["git", "-C", root, *args], stdout=subprocess.PIPE, text=True,
                          check=True).stdout.strip()


def parse_strace_c(path):
    calls = {}
    with open(path) as f:
        for line in f:
            fields = line.split()
            if len(fields) < 5 or not re.match(r"^[0-9.]+$", fields[0]):
                continue
            name = fields[-1]
            calls[name] = calls.get(name, 0) + int(fields[3])
    return calls


def callgrind_total(path):
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--twin", required=True)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    b = Bench(a)

    def on_signal(sig, _frame):
        raise KeyboardInterrupt(f"signal {sig}")

    signal.signal(signal.SIGTERM, on_signal)
    try:
        b.run()
    finally:
        b.cleanup()


if __name__ == "__main__":
    main()
