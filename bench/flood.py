#!/usr/bin/env python3
"""A server that floods its clients, for the benchmark (bench/bench.py).

    flood.py http|smtp|body [LIFETIME]

Listens on 127.0.0.1 at a port the kernel picks and prints that port alone
on the first line of standard output. Every client gets a reply that never
ends, sent as fast as it takes it, until it closes the connection:

  http  "HTTP/1.1 200 " and then "x" for ever: a status line with no end
  smtp  "220-flood" lines for ever: a multi-line reply with no last line
  body  a whole HTTP head, then "x" for ever: a body with no end, for
        clp_httpmon --contains, which must read it in constant memory

A monitor must fail such a probe once its reply buffer is full, without
growing. Bounded: at most 64 MiB and 30 s per connection, and the server
exits by itself after LIFETIME seconds (default 1200).
"""

import socket
import sys
import threading
import time

PER_CONNECTION_BYTES = 64 << 20
PER_CONNECTION_SECONDS = 30


def serve(conn, head, filler):
    try:
        conn.settimeout(5)
        conn.sendall(head)
        sent = len(head)
        end = time.monotonic() + PER_CONNECTION_SECONDS
        while sent < PER_CONNECTION_BYTES and time.monotonic() < end:
            conn.sendall(filler)
            sent += len(filler)
    except OSError:
        pass  # the client closed: what a good monitor does
    finally:
        conn.close()


def main():
    if len(sys.argv) not in (2, 3) or sys.argv[1] not in ("http", "smtp", "body"):
        sys.stderr.write("usage: flood.py http|smtp|body [LIFETIME]\n")
        sys.exit(2)
    lifetime = float(sys.argv[2]) if len(sys.argv) == 3 else 1200.0
    if sys.argv[1] == "http":
        head, filler = b"HTTP/1.1 200 ", b"x" * 65536
    elif sys.argv[1] == "body":
        head, filler = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n", b"x" * 65536
    else:
        head, filler = b"", b"220-flood\r\n" * 6000
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    print(listener.getsockname()[1], flush=True)
    listener.settimeout(1)
    end = time.monotonic() + lifetime
    while time.monotonic() < end:
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            continue
        threading.Thread(target=serve, args=(conn, head, filler), daemon=True).start()


if __name__ == "__main__":
    main()
