"""The measures of `make bench`, one module each; bench/bench.py runs them.

    common.py        the run's context (processes, monitors, rows), the
                     private servers, helpers for /proc and numbers
    capture.py       kernel time stamps of the probes' SYNs on lo
    size.py          installed size, and where the binary's bytes go
    memory.py        peak RSS (VmHWM), healthy and flooded, and its pages
    instructions.py  callgrind: one probe, one monitor cycle
    syscalls.py      strace -c: system calls per probe
    drift.py         schedule drift, and how late waits end here
    latency.py       detection latency past the SPEC's bound
    scale.py         many monitors: memory, CPU, --disp, --stop, perf
    peers.py         what administrators run instead, in the same run
    report.py        the table and bench/RESULTS.md
"""
