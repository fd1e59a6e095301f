"""The helpers of scripts/soak.sh: free ports, readiness, bounded load.

    soak_load.py ports N                 N free ports on 127.0.0.1, one line
    soak_load.py http|smtp PORT SECONDS  exit 0 once the server on PORT
                                         answers (a HEAD / of 200, a NOOP of
                                         250), 1 when it has not in SECONDS
    soak_load.py http-load PORT SECONDS CLIENTS
                                         CLIENTS keep-alive GET / loops
    soak_load.py smtp-load PORT SECONDS CLIENTS PAUSE_MS
                                         CLIENTS loops of SMTP sessions
                                         (greeting, EHLO, NOOP, QUIT), each
                                         client pausing PAUSE_MS between two

The loads run for SECONDS at most (or until SIGTERM or SIGINT), each client
loop is bounded in count too, and each prints one line of figures at the
end: how many, how many failed and why, the rate, the slowest. Python's
standard library only; everything on 127.0.0.1.
"""
import http.client
import signal
import smtplib
import socket
import sys
import threading
import time

stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
signal.signal(signal.SIGINT, lambda *_: stop.set())
HOST = "127.0.0.1"


def ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind((HOST, 0))
        socks.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in socks))
    for s in socks:
        s.close()


def http_ok(port):
    c = http.client.HTTPConnection(HOST, port, timeout=1)
    try:
        c.request("HEAD", "/")
        return c.getresponse().status == 200
    finally:
        c.close()


def smtp_ok(port):
    s = smtplib.SMTP(HOST, port, local_hostname="soak.invalid", timeout=1)
    try:
        return s.noop()[0] == 250
    finally:
        s.close()


def wait(kind, port, limit):
    check = http_ok if kind == "http" else smtp_ok
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            if check(port):
                return 0
        except (OSError, smtplib.SMTPException, http.client.HTTPException):
            pass
        time.sleep(0.1)
    return 1


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.ok = 0
        self.failed = {}
        self.slow = 0
        self.worst = 0.0

    def add(self, took, error):
        with self.lock:
            self.worst = max(self.worst, took)
            if took > 1.0:
                self.slow += 1
            if error is None:
                self.ok += 1
            else:
                self.failed[error] = self.failed.get(error, 0) + 1

    def report(self, what, started):
        took = max(time.monotonic() - started, 1e-9)
        failed = sum(self.failed.values())
        total = self.ok + failed
        causes = ", ".join(f"{k}: {v}" for k, v in sorted(self.failed.items()))
        print(f"{what}={total} ok={self.ok} failed={failed} "
              f"per_second={total / took:.1f} seconds={took:.0f} "
              f"slowest={self.worst:.3f} over_1s={self.slow} "
              f"causes=[{causes or '-'}]")


def smtp_session(port):
    s = smtplib.SMTP(HOST, port, local_hostname="soak.invalid", timeout=5)
    try:
        for code, _ in (s.ehlo(), s.noop()):
            if code != 250:
                return f"reply {code}"
        s.quit()
        return None
    finally:
        s.close()


def smtp_load(port, seconds, clients, pause):
    tally = Tally()
    started = time.monotonic()
    deadline = started + seconds
    cap = seconds * 1000  # sessions per client, at most

    def client():
        for _ in range(cap):
            if stop.is_set() or time.monotonic() >= deadline:
                return
            t0 = time.monotonic()
            try:
                error = smtp_session(port)
            except smtplib.SMTPResponseException as e:
                error = f"reply {e.smtp_code}"
            except (OSError, smtplib.SMTPException) as e:
                error = type(e).__name__
            tally.add(time.monotonic() - t0, error)
            stop.wait(pause)

    run(client, clients, deadline)
    tally.report("sessions", started)


def http_load(port, seconds, clients):
    tally = Tally()
    started = time.monotonic()
    deadline = started + seconds
    cap = seconds * 100000

    def client():
        c = http.client.HTTPConnection(HOST, port, timeout=5)
        for _ in range(cap):
            if stop.is_set() or time.monotonic() >= deadline:
                break
            t0 = time.monotonic()
            try:
                c.request("GET", "/")
                r = c.getresponse()
                r.read()
                error = None if r.status == 200 else f"status {r.status}"
            except (OSError, http.client.HTTPException) as e:
                error = type(e).__name__
                c.close()
            tally.add(time.monotonic() - t0, error)
        c.close()

    run(client, clients, deadline)
    tally.report("requests", started)


def run(client, clients, deadline):
    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive() and time.monotonic() < deadline + 30:
            t.join(0.5)


def main():
    verb, args = sys.argv[1], [int(a) for a in sys.argv[2:]]
    if verb == "ports":
        ports(*args)
    elif verb in ("http", "smtp"):
        sys.exit(wait(verb, *args))
    elif verb == "smtp-load":
        smtp_load(args[0], args[1], args[2], args[3] / 1000)
    elif verb == "http-load":
        http_load(*args)
    else:
        sys.exit(2)


if __name__ == "__main__":
    main()
