"""Schedule drift: when each probe of one monitor starts (its SYN's kernel
time stamp) against the grid of probe 0's start + k intervals, and how late
the kernel ends a wait here."""

import os
import select
import threading
import time

from .capture import SynCapture
from .common import log, pct


class Drift:
    """Runs beside the other steps: started, then finished once they are
    done (the monitor needs a probe per second for a while)."""

    def __init__(self, b):
        self.b = b
        self.probes = 20 if b.quick else 40
        # The drift monitor probes the (not yet frozen) second nginx, whose
        # SYNs are all its own.
        self.ident = "bench_drift"
        try:
            self.cap = SynCapture(b.nginx_frz.port)
        except OSError as e:
            self.cap = None
            log(f"no packet capture: {e}")
        err = open(os.path.join(b.work, self.ident + ".err"), "wb")
        self.proc = b.monitor("http", self.ident, b.nginx_frz.port, ["-i", "1"], stderr=err)
        err.close()
        self.sleep_late = None
        self.sleeper = threading.Thread(target=self.sleep_evidence)
        self.sleeper.start()

    def sleep_evidence(self):
        """How late poll(2) wakes against clock_nanosleep(2), for the drift."""
        waits = (1000, 1000, 5000) if not self.b.quick else (1000, 1000)
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

    def finish(self):
        b = self.b
        self.sleeper.join()
        b.wait_probes(self.ident, self.probes, self.probes + 30, self.proc)
        b.ctl("http", self.ident, "--stop")
        b.reap(self.proc)
        if self.cap is not None:
            self.cap.close()
            self.report(self.cap.syns)
        else:
            b.row("schedule drift, clp_httpmon -i 1", "not measured (no packet capture)",
                  "—", "—", "-")

    def report(self, starts):
        """Drift: the least-squares slope of each probe's lateness against
        the grid of probe 0's start + k s; lateness that does not add up
        (each wake-up a little late) leaves the slope at 0."""
        b = self.b
        n = len(starts) - 1
        if n < 2:
            b.row("schedule drift, clp_httpmon -i 1", "not measured", "—", "—", "-")
            return
        late = [starts[k] - starts[0] - k for k in range(len(starts))]
        mk = n / 2
        ml = sum(late) / len(late)
        slope = (sum((k - mk) * (x - ml) for k, x in enumerate(late)) /
                 sum((k - mk) ** 2 for k in range(len(late))))
        wake = sorted(late[1:])
        drifts = abs(slope) > 0.0001
        b.row("schedule drift, clp_httpmon -i 1 (SPEC: start to start, no drift)",
              f"{slope * 1000:+.3f} ms per interval (slope over {n} intervals); each probe "
              f"starts {pct(wake, 50) * 1000:.2f} ms (median), {wake[-1] * 1000:.2f} ms (max) "
              "after its slot",
              "no drift (|slope| ≤ 0.1 ms)", "MISSED (SPEC)" if drifts else "met",
              f"clp_httpmon ID -s 127.0.0.1 -n PORT -i 1 for {n} intervals: kernel time "
              "stamps of its SYNs (AF_PACKET on lo, SO_TIMESTAMPNS)",
              why="the probes' lateness adds up from one interval to the next: the next "
                  "slot is computed from when the probe actually started, not from the "
                  "slot it waited for. See \"Schedule drift\".")
        ev = self.sleep_late
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
        b.details.append((
            "Schedule drift",
            "Start of probe k minus (start of probe 0 + k s), ms: " +
            ", ".join(f"{x * 1000:.1f}" for x in late) + "." + why))
