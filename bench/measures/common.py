"""What every measure of the benchmark uses: the run's context (the
processes it started, the monitors, the rows and sections of the report),
the private servers, and small helpers for /proc and for numbers."""

import math
import os
import re
import signal
import socket
import subprocess
import threading
import time

DEVNULL = subprocess.DEVNULL
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
    return sum(user_system(pid))


def switches(pid):
    """Context switches of PID so far, voluntary (it waited) + involuntary
    (/proc/PID/status; its main thread's for a process of many)."""
    n = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if "ctxt_switches:" in line:
                n += int(line.split()[1])
    return n


def user_system(pid):
    """(user, system) CPU seconds of PID so far: utime and stime of
    /proc/PID/stat (in clock ticks, so only sums over many are exact)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tck, int(fields[12]) / tck


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def git(root, *args):
    return subprocess.run(["git", "-C", root, *args], stdout=subprocess.PIPE, text=True,
                          check=True).stdout.strip()


def parse_strace_c(path):
    """Calls by system call name from the table of `strace -c -o PATH`."""
    calls = {}
    with open(path) as f:
        for line in f:
            fields = line.split()
            if len(fields) < 5 or not re.match(r"^[0-9.]+$", fields[0]):
                continue
            name = fields[-1]
            calls[name] = calls.get(name, 0) + int(fields[3])
    return calls


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
    """One run: where it works, what it started, what it found."""

    def __init__(self, root, work, twin, quick):
        self.root = root
        self.work = work
        self.twin = os.path.join(root, twin)
        self.quick = quick
        self.build = os.path.join(self.root, "build")
        self.state = os.path.join(self.work, "state")
        self.env = dict(os.environ, ISMON_STATE_DIR=self.state)
        self.procs = []          # every Popen started and not yet reaped
        self.lock = threading.Lock()
        self.daemons = []
        self.rows = []           # (measure, result, target, verdict, command)
        self.refs = []           # reference rows
        self.details = []        # markdown sections
        self.notes = []
        self.why = {}            # measure -> the cause of a missed target

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
        self.forget(p)
        return p.returncode

    def forget(self, p):
        """P has been waited for elsewhere: no longer ours to end."""
        with self.lock:
            if p in self.procs:
                self.procs.remove(p)

    def cleanup(self):
        for d in self.daemons:
            d.stop()
        with self.lock:
            left = list(self.procs)
        for p in left:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in left:
            self.reap(p, 3)

    def add_daemon(self, kind, name):
        d = Daemon(self, kind, name)
        self.daemons.append(d)
        return d

    # ------------------------------------------------------------- monitors
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

    def probe_loop(self):
        """examples/probe_loop.rs, built beside the unstripped twin."""
        return os.path.join(self.twin, "examples", "probe_loop")

    def ctl(self, proto, ident, verb):
        return subprocess.run([self.bin(proto), ident, verb], env=self.env,
                              stdout=DEVNULL, stderr=DEVNULL, timeout=30).returncode

    # ------------------------------------------------------ one-shot commands
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

    # ---------------------------------------------------------------- report
    def row(self, measure, result, target, verdict, command, why=""):
        self.rows.append((measure, result, target, verdict, command))
        if why:
            self.why[measure] = why
        log(f"{measure}: {result} [{verdict}]")
