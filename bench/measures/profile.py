"""perf over the whole machine while monitors (and peers) run: which system
calls, which user-space functions, how much scheduling, per process name."""

import os
import re
import shutil
import subprocess

from .common import DEVNULL

# A frame of the scheduler: the task is switched out (or back in) here.
SCHEDULER = re.compile(r"^(__schedule|schedule|finish_task_switch)")


def available(b):
    ok = shutil.which("perf") is not None and subprocess.run(
        ["perf", "--version"], stdout=DEVNULL, stderr=DEVNULL).returncode == 0
    if not ok:
        b.notes.append("No perf here: the CPU time of a monitor is not broken down.")
    return ok


def record(b, seconds, name):
    """cpu-clock samples with call graphs of every CPU for SECONDS: the
    perf.data path, or None (and a note) when perf failed."""
    data = os.path.join(b.work, f"perf.{name}")
    r = subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", "10000", "-a", "-g",
                        "-o", data, "--", "sleep", str(seconds)], stdout=DEVNULL,
                       stderr=subprocess.PIPE, timeout=120)
    if r.returncode != 0:
        b.notes.append("perf record failed: " + r.stderr.decode(errors="replace")[-200:])
        return None
    return data


class Samples:
    """The samples of the processes PIDS (named COMM) in a perf.data,
    sorted: by system call (with the share of them in the scheduler), user
    space by leaf function, kernel outside system calls. (Other sessions
    on the machine may run processes of the same name: only PIDS count.)"""

    def __init__(self, data, comm, pids):
        pids = {str(p) for p in pids}
        script = subprocess.run(["perf", "script", "-i", data, "--comm", comm,
                                 "-F", "pid,ip,sym"], stdout=subprocess.PIPE, stderr=DEVNULL,
                                text=True, timeout=300).stdout
        self.calls, self.sched, self.user = {}, {}, {}
        self.kernel_other, self.total = 0, 0
        # One sample a paragraph: its PID, then its frames, leaf first:
        # "ADDRESS SYMBOL".
        for sample in script.split("\n\n"):
            lines = [f for f in sample.strip().splitlines() if f.strip()]
            if len(lines) < 2 or lines[0].strip() not in pids:
                continue
            frames = [f.split(None, 1) for f in lines[1:]]
            frames = [(f[0], f[1] if len(f) > 1 else "?") for f in frames]
            self.total += 1
            sys_name = next((m.group(1) for _, sym in frames
                             for m in [re.match(r"__x64_sys_(\w+)", sym)] if m), None)
            in_syscall = sys_name or any(sym.startswith("do_syscall_64") for _, sym in frames)
            if in_syscall:
                key = sys_name or "other"
                self.calls[key] = self.calls.get(key, 0) + 1
                if any(SCHEDULER.match(sym) for _, sym in frames):
                    self.sched[key] = self.sched.get(key, 0) + 1
            elif frames[0][0].startswith("ffffffff"):
                self.kernel_other += 1
            else:
                self.user[frames[0][1]] = self.user.get(frames[0][1], 0) + 1

    def share(self, n):
        return n / self.total

    def syscalls(self):
        return self.share(sum(self.calls.values()))

    def user_space(self):
        return self.share(sum(self.user.values()))

    def scheduler(self):
        return self.share(sum(self.sched.values()))
