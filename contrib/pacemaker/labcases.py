"""The demo and the tests that run in the lab of lab.py.

demo: freezes nginx and postfix (SIGSTOP) on the nodes that run them and
prints, per group, the timeline of the failover and where its time went;
shows that the servers' own agents at their default depth keep saying
"running" for a frozen server.

test: six behaviours for HTTP and SMTP, and a hung monitor, each with a bound derived from the
monitor's settings (see bounds()); ends with "N passed, N failed".
"""

import os
import re
import signal
import sys
import time

LOAD_SECONDS = int(os.environ.get("ISMON_LAB_LOAD_SECONDS", "180"))
# Slack on every bound: Pacemaker's scheduler and IPC between the
# operations, whole-second times in the monitor's record and log, and a
# 2-core machine shared with other work.
MARGIN = 5


def bounds(lab, case, proto):
    """(bound in s, how it is made) for a failover of proto's group."""
    L = lab.mod
    p = L.PROTOCOLS[proto]
    start = max(1.0, lab.group_start)
    if case == "crash":
        consensus = 1.2 * L.TOKEN_MS / 1000
        total = L.TOKEN_MS / 1000 + consensus + start + MARGIN
        how = "token %.1f + consensus %.1f + group start %.1f + margin %d" % (
            L.TOKEN_MS / 1000, consensus, start, MARGIN)
        return total, how
    detect = L.MONITOR_BOUND + L.MON_INTERVAL
    stop = p["frozen_stop"] if case == "frozen" else 1
    total = detect + L.AGENT_MONITOR_INTERVAL + stop + start + MARGIN
    how = ("monitor %d (bound %d = %d x max(%d, %d) + %d, + one interval to the first failed probe)"
           " + agent monitor interval %d + server stop %d + group start %.1f + margin %d") % (
        detect, L.MONITOR_BOUND, L.MON_RETRIES, L.MON_INTERVAL, L.MON_TIMEOUT, L.MON_TIMEOUT,
        L.AGENT_MONITOR_INTERVAL, stop, start, MARGIN)
    return total, how


class Run:
    def __init__(self, mod):
        self.mod = mod
        self.lab = mod.Lab()
        self.lab.mod = mod
        self.passed = 0
        self.failed = 0

    def check(self, ok, what):
        if ok:
            self.passed += 1
            print("PASS: " + what, flush=True)
        else:
            self.failed += 1
            print("FAIL: " + what, flush=True)
        return ok


def bring_up(lab):
    t0 = time.time()
    lab.start()
    lab.group_start = lab.started_at - lab.up_at
    print("lab: two nodes online %.1f s after the start; both groups started %.1f s later"
          % (lab.up_at - t0, lab.group_start), flush=True)
    where = {proto: lab.group_node(proto) for proto in lab.mod.PROTOCOLS}
    for proto, node in where.items():
        print("lab: group %s (%s) runs on %s" % (lab.mod.PROTOCOLS[proto]["group"], proto, node))
    return where


def wait_failover(lab, old, t0, deadline):
    """Waits until each protocol's group runs whole on a node other than
    old[proto] and its floating address answers from that node. Returns
    {proto: (seconds after t0, new node)}; a protocol missing did not."""
    done = {}
    end = time.monotonic() + deadline
    n = 0
    while len(done) < len(old) and time.monotonic() < end and n < 10000:
        n += 1
        x = lab.crm_mon()
        for proto, node in old.items():
            if proto in done:
                continue
            where = lab.group_node(proto, x)
            if where and where != node and lab.answer(proto) == where:
                done[proto] = (time.time() - t0, where)
        time.sleep(0.2)
    return done


def settle(lab, protos, deadline=60):
    """After a case: what the server agents' stops left behind killed,
    failures forgotten, every group whole somewhere. Returns {proto: node}."""
    x = lab.crm_mon()
    for proto in protos:
        keep = lab.group_node(proto, x)
        # Only beside a group that runs whole: never a server in use.
        left = lab.end_leftovers(proto, keep=keep) if keep else {}
        for node, pids in left.items():
            print("%s: left behind on %s by the server agent's stop: pids %s (killed now)" % (proto, node, pids))
        lab.cleanup(proto)

    def stable():
        x = lab.crm_mon()
        where = {proto: lab.group_node(proto, x) for proto in protos}
        if all(where.values()) and not lab.fail_counts():
            return where
        return None

    return lab.mod.wait_for("groups settled", stable, deadline, 0.5)


def check_disp(r, lab, proto, node, label, since, deadline=10):
    """Once the cluster has settled (no action pending, at most 60 s),
    the group still runs whole on `node`, Pacemaker has recorded no
    failure of it there, and --disp on `node` shows the monitor live,
    monitoring its address, with a probe that passed: within `deadline`
    s of the settling, as a monitor just started (in its grace) may not
    have probed its server successfully yet.

    Pacemaker itself may stop and start the monitor once more while it
    settles (a late result from the old node); with migration-threshold
    1, a failure the agent reported on `node` would have barred the group
    from it, which this check sees. What Pacemaker did since `since` is
    printed when the monitor's pid changed or the check failed."""
    p = lab.mod.PROTOCOLS[proto]
    first = lab.disp(proto, node)[1].get("pid")
    settled = lab.wait_idle(60)
    until = time.monotonic() + deadline
    while True:
        rc, f, raw = lab.disp(proto, node)
        ok = (rc == 0 and f.get("status") == "live" and f.get("state") == "monitoring"
              and f.get("server") == p["ip"] and f.get("last_result") == "ok")
        if ok or time.monotonic() >= until:
            break
        time.sleep(0.5)
    x = lab.crm_mon()
    where = lab.group_node(proto, x)
    fails = {k: v for k, v in lab.fail_counts(x).items()
             if k[1] == node and k[0].startswith(p["group"] + "-")}
    restarted = first is not None and f.get("pid") != first
    ok = ok and where == node and not fails
    extra = []
    if not settled:
        extra.append("the cluster did not settle in 60 s")
    if where != node:
        extra.append("the group now runs on %s" % (where or "no node"))
    if fails:
        extra.append("failures recorded there: %s" % fails)
    if restarted:
        extra.append("Pacemaker restarted it there (pid %s before)" % first)
    r.check(ok, "%s: %s: --disp on %s shows the monitor live and monitoring (pid %s, probes %s)%s"
            % (proto, label, node, f.get("pid"), f.get("probes"), "".join("; " + e for e in extra)))
    if not ok:
        print(raw)
    if not ok or restarted:
        print_story(lab, proto, since)
    return f


def print_story(lab, proto, since, limit=60):
    """What Pacemaker decided and saw about proto's group since `since`
    (epoch s), from both nodes' logs: the scheduler's actions, the
    results that were not ok, and the warnings about its resources."""
    lines = []
    for t, stamp, name, daemon, level, msg in group_log(lab, proto, since - 1):
        if (msg.startswith("Actions:") or level in ("warning", "error", "crit")
                or (msg.startswith("Result of") and not re.search(r": (ok|Cancelled)( |$)", msg))):
            lines.append((t, "%s %s %s: %s" % (stamp, name, daemon, msg[:200])))
    lines.sort()
    print("--- Pacemaker on %s's group %s since the case began (%d lines, at most %d shown)"
          % (proto, lab.mod.PROTOCOLS[proto]["group"], len(lines), limit))
    for _, text in lines[-limit:]:
        print("    " + text)
    if proto == "smtp":
        # Why a postfix master would not stay up: its own complaints.
        for name in lab.mod.NODES:
            log = lab.mod.read(lab.node_dir(name, "log-pacemaker", "postfix.log")).splitlines()
            bad = [line for line in log if re.search(r"\b(fatal|panic|error|warning):", line)]
            print("--- %s: postfix's last complaints (%d in all)" % (name, len(bad)))
            for line in bad[-10:]:
                print("    " + line[:200])


# ------------------------------------------------------------------ test


def test(mod):
    missing = mod.missing_packages()
    if missing:
        msg = "make test-cluster: missing: " + ", ".join(missing)
        if os.environ.get("CI") == "true":
            print("FAILED: %s (CI=true: .ci/run installs them)" % msg, file=sys.stderr)
            return 1
        print("\n*** SKIPPED: %s ***\n" % msg, file=sys.stderr)
        return 0
    r = Run(mod)
    lab = r.lab
    protos = list(mod.PROTOCOLS)
    try:
        where = bring_up(lab)
        for proto in protos:
            check_disp(r, lab, proto, where[proto], "at start", lab.up_at)
        case_load(r, lab, where)
        case_pause(r, lab, where)
        # One protocol at a time: Pacemaker runs one transition at a time,
        # and a failure that comes during another group's stop of a frozen
        # server waits for it (13 s for nginx): not what these bounds time.
        for case, sig in (("frozen", signal.SIGSTOP), ("killed", signal.SIGKILL)):
            for proto in protos:
                where.update(case_failover(r, lab, {proto: where[proto]}, case, sig))
        for proto in protos:
            where.update(case_hung(r, lab, proto, where[proto]))
        case_crash(r, lab, where)
    except Exception as e:  # a broken lab: a failure, with what broke
        r.check(False, "the lab: %s: %s" % (type(e).__name__, e))
        dump_logs(lab)
    finally:
        lab.stop()
    print("%d passed, %d failed" % (r.passed, r.failed), flush=True)
    return 1 if r.failed else 0


def case_load(r, lab, where):
    """(3) Healthy servers under load for LOAD_SECONDS: no failover."""
    mod = r.mod
    before = {proto: lab.disp(proto, where[proto])[1] for proto in where}
    loads = {
        "http": lab.start_load("http", LOAD_SECONDS, 2),
        "smtp": lab.start_load("smtp", LOAD_SECONDS, 1),
    }
    print("load: %d s of requests to both floating addresses; the monitors probe every %d s"
          % (LOAD_SECONDS, mod.MON_INTERVAL), flush=True)
    moved = {}
    end = time.monotonic() + LOAD_SECONDS
    n = 0
    while time.monotonic() < end and n < LOAD_SECONDS * 2:
        n += 1
        x = lab.crm_mon()
        for proto in where:
            node = lab.group_node(proto, x)
            if node != where[proto]:
                moved.setdefault(proto, "%s at +%.0f s" % (node, LOAD_SECONDS - (end - time.monotonic())))
        time.sleep(1)
    counts = {}
    for proto, c in loads.items():
        out, _ = c.communicate(timeout=30)
        ok, err = (int(v) for v in (out.split() + ["0", "0"])[:2])
        counts[proto] = (ok, err)
    fails = lab.fail_counts()
    for proto in where:
        after = lab.disp(proto, where[proto])[1]
        probes = int(after.get("probes", 0)) - int(before[proto].get("probes", 0))
        ok, err = counts[proto]
        want = int(LOAD_SECONDS / mod.MON_INTERVAL * 0.8)
        r.check(
            proto not in moved
            and not [k for k in fails if k[0].startswith(mod.PROTOCOLS[proto]["group"] + "-")]
            and after.get("pid") == before[proto].get("pid")
            and probes >= want
            and ok >= 100,
            "%s: under load for %d s (%d requests answered, %d not) the group stayed on %s: %d probes"
            " by the same monitor (pid %s, at least %d wanted), %s, failures recorded: %s"
            % (proto, LOAD_SECONDS, ok, err, where[proto], probes, after.get("pid"), want,
               "moved to " + moved[proto] if proto in moved else "never moved", fails or "none"),
        )


def case_pause(r, lab, where):
    """(4) A paused monitor never fails over while paused."""
    mod = r.mod
    # Longer than the agent's hang limit (max(i, t) + t + hang_margin 5)
    # and two of its monitor operations past it.
    hang_limit = max(mod.MON_INTERVAL, mod.MON_TIMEOUT) + mod.MON_TIMEOUT + mod.HANG_MARGIN
    seconds = hang_limit + 2 * mod.AGENT_MONITOR_INTERVAL + MARGIN
    for proto in where:
        lab.monitor_ctl(proto, where[proto], "--pause")
    states = {proto: lab.disp(proto, where[proto])[1].get("state") for proto in where}
    print("pause: both monitors paused for %d s (the agent's hang limit is %d s)" % (seconds, hang_limit), flush=True)
    moved = {}
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end and n < seconds * 2:
        n += 1
        x = lab.crm_mon()
        for proto in where:
            if lab.group_node(proto, x) != where[proto]:
                moved[proto] = True
        time.sleep(1)
    still = {proto: lab.disp(proto, where[proto])[1].get("state") for proto in where}
    fails = lab.fail_counts()
    for proto in where:
        lab.monitor_ctl(proto, where[proto], "--resume")
        r.check(
            states[proto] == "paused" and still[proto] == "paused" and proto not in moved
            and not [k for k in fails if k[0].startswith(mod.PROTOCOLS[proto]["group"] + "-")],
            "%s: monitor paused for %d s: state %s, then %s; the group %s; failures recorded: %s"
            % (proto, seconds, states[proto], still[proto],
               "moved" if proto in moved else "stayed on " + where[proto], fails or "none"),
        )
    for proto in where:
        mod.wait_for(
            proto + " monitor resumed",
            lambda: lab.disp(proto, where[proto])[1].get("state") == "monitoring",
            10,
        )


def case_failover(r, lab, where, case, sig):
    """(1) frozen / (2) killed server: the group moves within its bound;
    (5) the monitor then runs on the new node and --disp there shows it."""
    mod = r.mod
    t0 = time.time()
    for proto in where:
        pids = lab.signal_server(proto, where[proto], sig)
        print("%s: %s server on %s: %s pids %s" % (proto, case, where[proto], sig.name, pids), flush=True)
    done = wait_failover(lab, where, t0, 90)
    new = {}
    for proto in where:
        bound, how = bounds(lab, case, proto)
        took = done.get(proto)
        if took:
            new[proto] = took[1]
        r.check(
            took is not None and took[0] <= bound,
            "%s: a %s server on %s fails the group over: it ran whole on %s and answered there after %s s;"
            " bound %.1f s = %s"
            % (proto, case, where[proto], took[1] if took else "no node",
               "%.1f" % took[0] if took else "more than 90", bound, how),
        )
    for proto in new:
        check_disp(r, lab, proto, new[proto], "after the %s server's failover" % case, t0)
    settled = settle(lab, list(where))
    return settled


def case_hung(r, lab, proto, node):
    """(7, beyond the six) A hung monitor (SIGSTOP) cannot hide its server:
    the agent reports it failed once its last probe is too old, and the
    group moves although the server answers."""
    mod = r.mod
    p = mod.PROTOCOLS[proto]
    rc, f, raw = lab.disp(proto, node)
    pid = f.get("pid")
    if rc != 0 or not pid or not pid.isdigit():
        r.check(False, "%s: no live monitor on %s to stop: %s" % (proto, node, raw.strip()))
        return {}
    # The record's pid is the one in the node's PID namespace.
    hpid = lab.host_pid(node, int(pid))
    if hpid is None:
        r.check(False, "%s: the monitor's pid %s is not in %s" % (proto, pid, node))
        return {}
    os.kill(hpid, signal.SIGSTOP)
    t0 = time.time()
    print("%s: SIGSTOP to the monitor %s (pid %s in %s, %d here)" % (proto, p["mon"], pid, node, hpid), flush=True)
    done = wait_failover(lab, {proto: node}, t0, 90)
    hang_limit = max(mod.MON_INTERVAL, mod.MON_TIMEOUT) + mod.MON_TIMEOUT + mod.HANG_MARGIN
    # The agent's stop of a stopped monitor: --stop waits stop_wait, then
    # SIGKILL; a healthy server's stop takes its agent a second or two.
    bound = hang_limit + 1 + mod.AGENT_MONITOR_INTERVAL + mod.STOP_WAIT + 1 + 3 + max(1.0, lab.group_start) + MARGIN
    how = ("hang limit %d (max(%d, %d) + %d + hang_margin %d) + 1 (whole-second record) + agent monitor interval %d"
           " + the monitor's stop %d (stop_wait %d, then SIGKILL) + server stop %d + group start %.1f + margin %d") % (
        hang_limit, mod.MON_INTERVAL, mod.MON_TIMEOUT, mod.MON_TIMEOUT, mod.HANG_MARGIN,
        mod.AGENT_MONITOR_INTERVAL, mod.STOP_WAIT + 1, mod.STOP_WAIT, 3, max(1.0, lab.group_start), MARGIN)
    took = done.get(proto)
    reason = [line for line in lab.pacemaker_log(node).splitlines()
              if "Result of monitor operation for %s" % p["mon"] in line and "is hung" in line]
    r.check(
        took is not None and took[0] >= hang_limit - 1 and took[0] <= bound and bool(reason),
        "%s: a hung monitor on %s (SIGSTOP) fails the group over although its server answers: on %s after %s s"
        " (not before the hang limit %d s); bound %.1f s = %s; Pacemaker logged the reason: %s"
        % (proto, node, took[1] if took else "no node", "%.1f" % took[0] if took else "more than 90",
           hang_limit, bound, how, "yes" if reason else "no"),
    )
    if took:
        check_disp(r, lab, proto, took[1], "after the hung monitor's failover", t0)
    return settle(lab, [proto])


def case_crash(r, lab, where):
    """(6) The node that runs both groups crashes: its init is killed."""
    mod = r.mod
    target = where["http"]
    for proto in where:
        if where[proto] != target:
            group = mod.PROTOCOLS[proto]["group"]
            lab.node_run(target, ["crm_resource", "--move", "-r", group, "-N", target], check=False)
            mod.wait_for(group + " on " + target, lambda: lab.group_node(proto) == target, 60, 0.5)
            lab.node_run(target, ["crm_resource", "--clear", "-r", group], check=False)
    where = {proto: target for proto in where}
    t0 = time.time()
    os.kill(lab.init_pid[target], signal.SIGKILL)
    lab.units[target].wait(20)
    print("crash: killed the init of %s (pid %d), which runs both groups" % (target, lab.init_pid[target]), flush=True)
    done = wait_failover(lab, where, t0, 60)
    for proto in where:
        bound, how = bounds(lab, "crash", proto)
        took = done.get(proto)
        r.check(
            took is not None and took[0] <= bound,
            "%s: %s crashed: the group ran whole on %s and answered there after %s s; bound %.1f s = %s"
            % (proto, target, took[1] if took else "no node", "%.1f" % took[0] if took else "more than 60",
               bound, how),
        )
        if took:
            check_disp(r, lab, proto, took[1], "after the crash of " + target, t0)


def dump_logs(lab):
    for name in lab.mod.NODES:
        text = lab.pacemaker_log(name).splitlines()
        print("--- %s: last lines of pacemaker.log" % name)
        for line in text[-40:]:
            print("    " + line)
        print("--- %s: init.out" % name)
        print(lab.mod.read(lab.node_dir(name, "init.out")))


# ------------------------------------------------------------------ demo

PCMK_LINE = re.compile(r"^(\w{3} [ \d]\d \d\d:\d\d:\d\d\.\d{3}) (\S+) (pacemaker-\w+)\s*\[\d+\] \(\w+\)\s+(\w+): (.*)$")
MON_LINE = re.compile(r"^(\w{3} [ \d]\d \d\d:\d\d:\d\d) (clp_\w+)\[\d+\]: (.*)$")


def parse_time(text, fmt):
    year = time.localtime().tm_year
    frac = 0.0
    if "." in text:
        text, ms = text.rsplit(".", 1)
        frac = int(ms) / 1000
    return time.mktime(time.strptime("%d %s" % (year, " ".join(text.split())), "%Y " + fmt)) + frac


def group_log(lab, proto, since):
    """(time, its text, node, daemon, level, message) of each line of both nodes'
    pacemaker.log, from `since` (epoch s) on, that names a resource of
    proto's group."""
    p = lab.mod.PROTOCOLS[proto]
    rsc = re.compile(r"\b%s-(ip|server|mon)( |_|$)" % p["group"])
    for name in lab.mod.NODES:
        for line in lab.pacemaker_log(name).splitlines():
            m = PCMK_LINE.match(line)
            if not m or not rsc.search(m.group(5)):
                continue
            t = parse_time(m.group(1), "%b %d %H:%M:%S")
            if t >= since:
                yield t, m.group(1), name, m.group(3), m.group(4), m.group(5)


def pacemaker_events(lab, proto, since):
    keep = re.compile(r"^(Result of (start|stop|monitor) operation for|Requesting local execution of (start|stop) operation)")
    seen = set()
    events = []
    for t, _, name, daemon, level, msg in group_log(lab, proto, since - 0.5):
        if daemon != "pacemaker-controld" or level != "notice" or not keep.match(msg):
            continue
        if msg.startswith("Result of monitor") and ": ok" in msg:
            continue
        if msg in seen:
            continue
        seen.add(msg)
        events.append((t, name, "pacemaker", msg))
    return events


def monitor_events(lab, proto, node, since):
    events = []
    for line in lab.monitor_log(proto, node).splitlines():
        m = MON_LINE.match(line)
        if not m or "<event:" not in m.group(3):
            continue
        t = parse_time(m.group(1), "%b %d %H:%M:%S")
        if t < int(since):
            continue
        events.append((t, node, m.group(2), m.group(3)))
    return events


def poll_events(path, old, new):
    """The floating address: last answer from old, first from new."""
    last_old = first_err = first_new = None
    for line in lab_read(path).splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        t = float(parts[0])
        if parts[1] == "ok" and parts[2] == old and first_new is None:
            last_old = t
        elif parts[1] == "err" and first_err is None and first_new is None:
            first_err = t
        elif parts[1] == "ok" and parts[2] == new and first_new is None:
            first_new = t
    out = []
    if last_old:
        out.append((last_old, "client", "address", "last answer from %s" % old))
    if first_err:
        out.append((first_err, "client", "address", "first request without an answer"))
    if first_new:
        out.append((first_new, "client", "address", "first answer from %s" % new))
    return out, first_new


def lab_read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def first(events, pattern):
    rx = re.compile(pattern)
    for e in sorted(events):
        if rx.search(e[3]):
            return e[0]
    return None


def demo(mod):
    missing = mod.missing_packages()
    if missing:
        print("make cluster-demo: missing: %s" % ", ".join(missing), file=sys.stderr)
        return 1
    r = Run(mod)
    lab = r.lab
    nginx_conf = os.path.join(lab.base, "nginx.conf")
    try:
        print("== bringing up two nodes (namespaces, corosync -f, pacemakerd; the CIB written beforehand)")
        where = bring_up(lab)
        for proto, node in where.items():
            f = lab.disp(proto, node)[1]
            print("   %s on %s: pid %s, state %s, %s probes so far, last result %s"
                  % (mod.PROTOCOLS[proto]["cmd"], node, f.get("pid"), f.get("state"), f.get("probes"),
                     f.get("last_result")))
        print("\n   One server at a time: Pacemaker runs one transition at a time, so a second")
        print("   failure would wait for the first one's stop of its frozen server.")
        for proto, node in where.items():
            freeze_and_show(lab, proto, node, nginx_conf)
    finally:
        lab.stop()
    print("\nlab: stopped; every process it started has ended and its directory is removed")
    return 0


def freeze_and_show(lab, proto, node, nginx_conf):
    mod = lab.mod
    poll_path = lab.start_poller(proto, 90)[1]
    time.sleep(1)
    t0 = time.time()
    pids = lab.signal_server(proto, node, signal.SIGSTOP)
    print("\n== %s %s: SIGSTOP to the %s processes %s" % (hms(t0), node, mod.PROTOCOLS[proto]["comms"][0], pids))
    agent_says = []
    for _ in range(3):
        agent_says.append((time.time(), lab.server_agent_monitor(proto, node, nginx_conf)))
        time.sleep(1.5)
    done = wait_failover(lab, {proto: node}, t0, 90)
    time.sleep(1.5)
    print_timeline(lab, proto, node, done.get(proto), t0, poll_path, agent_says)
    if done.get(proto):
        left = lab.end_leftovers(proto, keep=done[proto][1])
        for n, pids in left.items():
            print("  left behind on %s by the server agent's stop, still frozen: pids %s (the lab kills them)"
                  % (n, pids))


def hms(t):
    return time.strftime("%H:%M:%S", time.localtime(t)) + ".%03d" % (int(t * 1000) % 1000)


def print_timeline(lab, proto, old, took, t0, poll_path, agent_says):
    mod = lab.mod
    p = mod.PROTOCOLS[proto]
    new = took[1] if took else "?"
    events = [(t0, old, "lab", "SIGSTOP to every %s process" % p["comms"][0])]
    agent = "ocf:heartbeat:nginx" if proto == "http" else "ocf:heartbeat:anything"
    for t, rc in agent_says:
        events.append((t, old, agent, "monitor (default depth) by hand: rc %d%s"
                       % (rc, " = OCF_SUCCESS, \"running\"" if rc == 0 else "")))
    events += monitor_events(lab, proto, old, t0)
    pcmk = pacemaker_events(lab, proto, t0)
    events += pcmk
    addr, first_new = poll_events(poll_path, old, new)
    events += addr
    print("   %s: group %s, frozen on %s, now on %s" % (proto, p["group"], old, new))
    for t, node, who, msg in sorted(events):
        print("  %+8.3f s  %-6s %-22s %s" % (t - t0, node, who, msg[:150]))
    exit6 = first(events, r"<event: 6>")
    seen = first(pcmk, r"Result of monitor operation for %s" % p["mon"])
    stop_srv_begin = first(pcmk, r"execution of stop operation for %s " % p["server"])
    stop_srv_end = first(pcmk, r"Result of stop operation for %s" % p["server"])
    start_begin = first(pcmk, r"execution of start operation for %s-ip on %s" % (p["group"], new))
    start_end = first(pcmk, r"Result of start operation for %s on" % p["mon"])
    end = first_new or (t0 + took[0] if took else None)

    def span(a, b):
        return "%5.1f s" % (b - a) if a is not None and b is not None else "    ?  "

    print("  where the time went:")
    print("    %s  the monitor: freeze to its exit (event 6; its log has whole seconds)" % span(t0, exit6))
    print("    %s  Pacemaker's detection: exit to the failed result of %s's %d s monitor operation"
          % (span(exit6, seen), p["mon"], mod.AGENT_MONITOR_INTERVAL))
    print("    %s  stopping %s (its failed monitor) on %s" % (span(seen, stop_srv_begin), p["mon"], old))
    print("    %s  the frozen server's stop (%s: %s)" % (span(stop_srv_begin, stop_srv_end), agent, p["stop_how"]))
    print("    %s  the rest of the stop, up to the first start on %s" % (span(stop_srv_end, start_begin), new))
    print("    %s  the start on %s (address, server, monitor)" % (span(start_begin, start_end), new))
    srv_started = first(pcmk, r"Result of start operation for %s on" % p["server"])
    print("    %s  from the server's start on %s to the first answer at the floating address"
          % (span(srv_started, end), new))
    print("    %s  in all, freeze to the first answer from %s" % (span(t0, end), new))
    said = ", ".join("+%.1f s: %d" % (t - t0, rc) for t, rc in agent_says)
    print("  the server's own agent (%s) at its default depth said, for the frozen server: %s"
          % (agent, said))


def main(what, mod):
    if what == "test":
        return test(mod)
    return demo(mod)
