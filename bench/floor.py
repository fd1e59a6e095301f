#!/usr/bin/env python3
"""The floor of a connect-per-check probe, for the benchmark (bench/peers).

    floor.py PORT N fin|rst

N checks one after another against the HTTP server on 127.0.0.1:PORT, each
the least a check can do: socket, connect (blocking), send a HEAD request
(HTTP/1.1, Host, User-Agent bench-floor/MODE, Connection: close), receive
until the server has sent its status line, close: with a FIN (fin), or
with an RST (rst: SO_LINGER {1, 0} before close). Prints one line:

    checks=N ok=K user=SECONDS system=SECONDS

user and system are this process's own getrusage(2) times over the loop.
The system time is the kernel's work per check (the Python interpreter's
time is user time). The sockets block, with no timeout (which would add a
poll and a getsockopt): the caller bounds the run in time. Bounded: N at
most 100000, and 60 s.
"""

import resource
import socket
import struct
import sys
import time


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in ("fin", "rst"):
        sys.stderr.write("usage: floor.py PORT N fin|rst\n")
        sys.exit(2)
    port, n, mode = int(sys.argv[1]), min(int(sys.argv[2]), 100000), sys.argv[3]
    request = (f"HEAD / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
               f"User-Agent: bench-floor/{mode}\r\nConnection: close\r\n\r\n").encode()
    linger = struct.pack("ii", 1, 0)
    ok = 0
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    end = time.monotonic() + 60
    for _ in range(n):
        if time.monotonic() > end:
            break
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.connect(("127.0.0.1", port))
            s.sendall(request)
            if s.recv(4096).startswith(b"HTTP/1.1 200"):
                ok += 1
            if mode == "rst":
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        except OSError:
            pass
        finally:
            s.close()
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    print(f"checks={n} ok={ok} user={r1.ru_utime - r0.ru_utime:.6f} "
          f"system={r1.ru_stime - r0.ru_stime:.6f}", flush=True)


if __name__ == "__main__":
    main()
