"""What administrators run instead, measured in the same run against the
same servers: one process per check (check_http, check_smtp, curl)."""

import os

from . import instructions
from .common import pct


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
