"""Installed size: the files `make install` writes, and where the bytes of
the binary go (nm of the unstripped twin)."""

import os
import re
import subprocess

from .common import DEVNULL, KIB, kib


def measure(b):
    dest = os.path.join(b.work, "install")
    subprocess.run(["make", "-s", "install", f"DESTDIR={dest}"], cwd=b.root, check=True,
                   stdout=DEVNULL)
    files = []
    for d, _, names in os.walk(dest):
        files += [os.path.join(d, n) for n in names]
    size = {os.path.relpath(f, dest): os.stat(f).st_size for f in files}
    cmd = "make install DESTDIR=$D; stat -c %s $D/usr/sbin/{p}"
    for p in ("clp_httpmon", "clp_smtpmon"):
        n = size[f"usr/sbin/{p}"]
        b.row(f"installed size, {p}", f"{kib(n)} ({n:,} B)", "≤ 512 KiB",
              "met" if n <= 512 * KIB else "MISSED", cmd.format(p=p))
    total = sum(size.values())
    man = sum(v for k, v in size.items() if "/man/" in k)
    mans = [k for k in size if "/man/" in k]
    man_gzipped = all(k.endswith(".gz") for k in mans)
    gz = man if man_gzipped else sum(
        len(subprocess.run(["gzip", "-9n"], stdin=open(os.path.join(dest, k), "rb"),
                           stdout=subprocess.PIPE, check=True).stdout) for k in mans)
    backtrace, own = breakdown(b, total, man, gz, man_gzipped)
    b.row("installed size, both binaries + 2 man pages",
          f"{kib(total)} ({total:,} B; man pages {kib(man)})", "≤ 1 MiB",
          "met" if total <= 1024 * KIB else "MISSED",
          "make install DESTDIR=$D; du -b --apparent-size $D (all 4 files)",
          why=f"the two binaries are two full copies of one program; {backtrace:.0f} % of "
              "its .text is what std links in for the default panic hook's backtraces "
              "(scripts/build.sh rebuilds std without the symbolizer: what is left is "
              f"libunwind); ismon's own code is {own:.0f} %. " +
              ("" if man_gzipped else
               f"The man pages are installed uncompressed ({kib(man)}; gzip -9n makes "
               f"them {kib(gz)}, and the total {kib(total - man + gz)}). ") +
              "See \"Binary size\".")


# Function symbols by where they come from, first match wins.
GROUPS = [
    ("the default panic hook's backtraces: std's symbolizer (gimli, addr2line, "
     "miniz_oxide, rustc_demangle; absent when scripts/build.sh rebuilds std) "
     "and libunwind",
     re.compile(r"gimli|addr2line|miniz|rustc_demangle|libunwind|backtrace|object::"
                r"|_Unwind|unw_")),
    ("core::fmt (formatting machinery)", re.compile(r"core::fmt|fmt::")),
    ("ismon's own code", re.compile(r"ismon::")),
    ("getopts and unicode-width", re.compile(r"getopts|unicode")),
    ("rest of std, core, alloc", re.compile(r"std::|alloc::|core::|<")),
    ("musl libc (C symbols)", re.compile(r"^[A-Za-z_0-9.]+$")),
]


def breakdown(b, total, man, gz, man_gzipped):
    """The section "Binary size"; returns the shares (%) of the backtrace
    printer and of ismon's own code in .text."""
    twin = os.path.join(b.twin, "clp_httpmon")
    text = {}
    for name, path in (("build/clp_httpmon", b.bin("http")), ("unstripped twin", twin)):
        r = subprocess.run(["size", "-A", path], stdout=subprocess.PIPE, text=True)
        for line in r.stdout.splitlines():
            f = line.split()
            if f and f[0] == ".text":
                text[name] = int(f[1])
    same_text = len(set(text.values())) == 1 and len(text) == 2
    r = subprocess.run(["nm", "-S", "--size-sort", "-C", twin], stdout=subprocess.PIPE,
                       text=True)
    sums = {g[0]: 0 for g in GROUPS}
    other = 0
    for line in r.stdout.splitlines():
        f = line.split(None, 3)
        if len(f) < 4 or f[2] not in "tTwW":
            continue
        n = int(f[1], 16)
        for label, rx in GROUPS:
            if rx.search(f[3]):
                sums[label] += n
                break
        else:
            other += n
    total_text = text.get("unstripped twin", 0)
    lines = ["| code in .text of clp_httpmon | bytes | share |", "|---|---:|---:|"]
    for label, _ in GROUPS:
        lines.append(f"| {label} | {sums[label]:,} | {100 * sums[label] / total_text:.0f} % |")
    lines.append(f"| other | {other:,} | {100 * other / total_text:.0f} % |")
    lines.append(f"| **.text in all** | {total_text:,} | |")
    backtrace = 100 * sums[GROUPS[0][0]] / total_text if total_text else 0
    own = 100 * sums[GROUPS[2][0]] / total_text if total_text else 0
    b.details.append((
        "Binary size: where it goes",
        "`nm -S --size-sort -C` of the unstripped twin (target/bench, same profile; "
        f".text {'identical to' if same_text else 'DIFFERENT from'} build/'s: "
        f"{text})), function symbols grouped by name:\n\n" + "\n".join(lines) +
        "\n\nThe two binaries are two full copies of the same program. " +
        (f"The man pages are installed compressed ({kib(man)})." if man_gzipped else
         f"With the man pages compressed (`gzip -9n`, as Debian installs them: "
         f"{kib(man)} → {kib(gz)}) the installed total would be "
         f"{kib(total - man + gz)}.")))
    return backtrace, own
