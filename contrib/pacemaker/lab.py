#!/usr/bin/env python3
"""A two-node Pacemaker cluster on one machine, for ismon's demo and tests.

Each node is a process tree in its own mount, UTS, network and PID
namespace (unshare(1)); a third network namespace holds a bridge between
the nodes' veth pairs and the clients (pollers, load) of the floating
addresses. Addresses 10.200.0.0/24 exist only inside those namespaces.
Inside each node, private tmpfs cover /run and /dev/shm, private
directories of the lab's temporary directory are bound over
/var/lib/pacemaker, /var/lib/corosync, /var/log/pacemaker,
/var/log/corosync and /etc/corosync, and an overlay over
/usr/lib/ocf/resource.d adds the ismon agent (contrib/ocf/ismon). The node's
init (this file, "node-init") starts `corosync -f` and `pacemakerd` by
hand, no systemd; a CIB written beforehand (from `cibadmin --empty`) holds
the whole configuration, so the cluster needs no crm call to come up.

Groups (resource-stickiness 100, migration-threshold 1, no fencing):

  web:  web-ip  (IPaddr2 10.200.0.100)   web-server  (ocf:heartbeat:nginx)
        web-mon  (ocf:ismon:ismon protocol=http)
  mail: mail-ip (IPaddr2 10.200.0.101)   mail-server (ocf:heartbeat:anything
        running postfix's master -d)      mail-mon (ocf:ismon:ismon protocol=smtp)

Everything the lab starts it ends by PID: the nodes' inits (which takes
every process of the node with it), the bridge's holder, the clients. It
writes only under its temporary directory and inside its own namespaces.

usage: lab.py demo | test      (as root; make cluster-demo, make test-cluster)
Internal: lab.py node-init DIR NAME | poll ... | load ...
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
AGENT = os.path.join(TOP, "contrib", "ocf", "ismon")

NET = "10.200.0"
BRIDGE_ADDR = NET + ".254"
NODES = ("node1", "node2")
NODE_ADDR = {"node1": NET + ".1", "node2": NET + ".2"}

# The monitors' settings and the agent's monitor operation: the monitor's
# bound is RETRIES x max(INTERVAL, TIMEOUT) + TIMEOUT (the SPEC).
MON_INTERVAL, MON_RETRIES, MON_TIMEOUT = 1, 2, 1
# The server agents say "started" before their server listens (the
# anything agent's postfix, nginx under load): without a grace, a monitor
# started right after them can fail its first probes and exit before the
# server is up, and its node is then barred from the group
# (migration-threshold=1). The grace ends with the first probe that passes.
MON_GRACE = 10
AGENT_MONITOR_INTERVAL = 2
# The agent's defaults, which the lab keeps: a monitor counts as hung when
# its last probe is older than max(INTERVAL, TIMEOUT) + TIMEOUT +
# HANG_MARGIN; its stop waits STOP_WAIT for the monitor, then kills it.
HANG_MARGIN = 5
STOP_WAIT = 10
MONITOR_BOUND = MON_RETRIES * max(MON_INTERVAL, MON_TIMEOUT) + MON_TIMEOUT
# corosync's token timeout (ms): how soon a crashed node is declared lost.
TOKEN_MS = 1000
# anything's stop_timeout for postfix's master: SIGTERM, then SIGKILL.
POSTFIX_STOP_TIMEOUT = 2

PROTOCOLS = {
    "http": {
        "group": "web",
        "ip": NET + ".100",
        "port": 80,
        "server": "web-server",
        "mon": "web-mon",
        "cmd": "clp_httpmon",
        "comms": ("nginx",),
        # ocf:heartbeat:nginx's stop of a master that ignores SIGTERM: ten
        # SIGTERMs a second apart, then pkill TERM, HUP, KILL a second apart.
        "frozen_stop": 13,
        "stop_how": "SIGTERM every second ten times, then pkill TERM, HUP, KILL",
    },
    "smtp": {
        "group": "mail",
        "ip": NET + ".101",
        "port": 25,
        "server": "mail-server",
        "mon": "mail-mon",
        "cmd": "clp_smtpmon",
        "comms": ("master", "smtpd", "postlogd", "qmgr", "pickup", "anvil"),
        # ocf:heartbeat:anything: stop_timeout s of SIGTERM, then SIGKILL
        # and a check a second later.
        "frozen_stop": POSTFIX_STOP_TIMEOUT + 1,
        "stop_how": "SIGTERM, SIGKILL after stop_timeout=%d s" % POSTFIX_STOP_TIMEOUT,
    },
}

NGINX = "/usr/sbin/nginx"
POSTFIX_MASTER = "/usr/lib/postfix/sbin/master"
NEEDED_TOOLS = (
    ("corosync", "corosync"),
    ("pacemakerd", "pacemaker"),
    ("crm_mon", "pacemaker-cli-utils"),
    ("cibadmin", "pacemaker-cli-utils"),
    ("crm_resource", "pacemaker-cli-utils"),
    ("unshare", "util-linux"),
    ("nsenter", "util-linux"),
    ("ip", "iproute2"),
)
NEEDED_FILES = (
    ("/usr/lib/ocf/resource.d/heartbeat/IPaddr2", "resource-agents"),
    ("/usr/lib/ocf/resource.d/heartbeat/nginx", "resource-agents"),
    ("/usr/lib/ocf/resource.d/heartbeat/anything", "resource-agents"),
    (NGINX, "nginx-light"),
    (POSTFIX_MASTER, "postfix"),
)


def now():
    return time.time()


def run(argv, check=True, timeout=60, env=None, capture=True):
    r = subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.STDOUT if capture else None,
        timeout=timeout,
        env=env,
        check=False,
        universal_newlines=True,
    )
    if check and r.returncode != 0:
        raise RuntimeError("%s exited %d: %s" % (" ".join(argv), r.returncode, (r.stdout or "").strip()))
    return r


def wait_for(what, predicate, deadline_s, step=0.2):
    """Calls predicate until it returns a true value, at most deadline_s."""
    end = time.monotonic() + deadline_s
    n = 0
    while True:
        value = predicate()
        if value:
            return value
        n += 1
        if time.monotonic() >= end or n > deadline_s / step * 2 + 10:
            raise TimeoutError("%s: not within %s s" % (what, deadline_s))
        time.sleep(step)


def missing_packages():
    missing = []
    for tool, pkg in NEEDED_TOOLS:
        if shutil.which(tool) is None and not os.path.exists("/usr/sbin/" + tool):
            missing.append("%s (%s)" % (tool, pkg))
    for path, pkg in NEEDED_FILES:
        if not os.path.exists(path):
            missing.append("%s (%s)" % (path, pkg))
    for prog in ("clp_httpmon", "clp_smtpmon"):
        if not os.access(os.path.join(TOP, "build", prog), os.X_OK):
            missing.append("build/%s (run make)" % prog)
    if os.geteuid() != 0:
        missing.append("root (namespaces and mounts need it)")
    return missing


# ------------------------------------------------------------- node init


def node_init(base, name):
    """PID 1 of a node: private mounts, then corosync and pacemakerd."""
    ndir = os.path.join(base, name)
    socket.sethostname(name)

    def mount(*args):
        run(["mount"] + list(args))

    mount("-t", "tmpfs", "-o", "mode=0755,size=64m", "tmpfs", "/run")
    mount("-t", "tmpfs", "-o", "mode=1777,size=64m", "tmpfs", "/dev/shm")
    for src, dst in (
        ("lib-pacemaker", "/var/lib/pacemaker"),
        ("lib-corosync", "/var/lib/corosync"),
        ("log-pacemaker", "/var/log/pacemaker"),
        ("log-corosync", "/var/log/corosync"),
        ("etc-corosync", "/etc/corosync"),
    ):
        mount("--bind", os.path.join(ndir, src), dst)
    mount(
        "-t",
        "overlay",
        "overlay",
        "-o",
        "lowerdir=/usr/lib/ocf/resource.d,upperdir=%s,workdir=%s"
        % (os.path.join(ndir, "ocf-upper"), os.path.join(ndir, "ocf-work")),
        "/usr/lib/ocf/resource.d",
    )
    # Nothing of the node reaches the host's system log, if it has one.
    if os.path.exists("/dev/log"):
        mount("--bind", os.path.join(ndir, "no-dev-log"), "/dev/log")

    # What the packages' tmpfiles.d and the servers' packages would make.
    for d, owner, mode in (
        ("/run/resource-agents", None, 0o755),
        ("/run/crm", "hacluster:haclient", 0o750),
        ("/run/nginx-lab", None, 0o755),
        ("/run/postfix-lab/conf", None, 0o755),
        ("/run/postfix-lab/queue/pid", None, 0o755),
        ("/run/postfix-lab/queue/public", "postfix", 0o755),
        ("/run/postfix-lab/queue/private", "postfix", 0o700),
        ("/run/postfix-lab/data", "postfix", 0o755),
    ):
        os.makedirs(d, exist_ok=True)
        os.chmod(d, mode)
        if owner:
            run(["chown", owner, d])
    write_postfix_conf(name, "/run/postfix-lab")

    with open(os.path.join(ndir, "ready"), "w") as f:
        f.write("ready\n")
    net_flag = os.path.join(ndir, "net")
    wait_for("the network of " + name, lambda: os.path.exists(net_flag), 30, 0.05)

    out = open(os.path.join(ndir, "daemons.out"), "a")
    subprocess.Popen(
        ["corosync", "-f"], stdin=subprocess.DEVNULL, stdout=out, stderr=out
    )
    wait_for(
        "corosync on " + name,
        lambda: run(["corosync-cmapctl", "-g", "runtime.votequorum.this_node_id"], check=False).returncode == 0,
        20,
        0.1,
    )
    env = dict(os.environ)
    env.update(
        {
            "PCMK_logfile": "/var/log/pacemaker/pacemaker.log",
            "PCMK_logfacility": "none",
            "PCMK_debug": "no",
            "HA_LOGFACILITY": "none",
        }
    )
    subprocess.Popen(
        ["pacemakerd"], stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env
    )
    # Reap every process of the node (orphans come to PID 1): a zombie
    # would look alive to kill -0 in the resource agents. The node ends
    # when the lab kills this process: SIGKILL, as a power cut would.
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            time.sleep(0.5)


def write_postfix_conf(name, root):
    conf = os.path.join(root, "conf")
    with open(os.path.join(conf, "main.cf"), "w") as f:
        f.write(
            """# Written by contrib/pacemaker/lab.py for the node %(name)s.
compatibility_level = 3.6
queue_directory = %(root)s/queue
data_directory = %(root)s/data
inet_interfaces = all
inet_protocols = ipv4
myhostname = %(name)s.lab.invalid
smtpd_banner = $myhostname ESMTP
mydestination =
alias_maps =
alias_database =
local_recipient_maps =
smtpd_client_connection_count_limit = 0
smtpd_peername_lookup = no
biff = no
maillog_file_prefixes = /var/log/pacemaker
maillog_file = /var/log/pacemaker/postfix.log
"""
            % {"name": name, "root": root}
        )
    with open(os.path.join(conf, "master.cf"), "w") as f:
        f.write(
            "# service type private unpriv chroot wakeup maxproc command\n"
            "smtp inet n - n - 20 smtpd\n"
            "postlog unix-dgram n - n - 1 postlogd\n"
        )
    # Postfix will not read a main.cf younger than a second: date it back.
    st = os.stat(POSTFIX_MASTER)
    for fn in ("main.cf", "master.cf"):
        os.utime(os.path.join(conf, fn), (st.st_atime, st.st_mtime))


# --------------------------------------------------------------- clients


def client_poll(proto, addr, port, seconds, out_path):
    """Asks the floating address who answers, every 0.1 s, for seconds."""
    end = time.monotonic() + float(seconds)
    with open(out_path, "a", buffering=1) as out:
        n = 0
        while time.monotonic() < end and n < 100000:
            n += 1
            t = time.time()
            try:
                answer = ask(proto, addr, int(port), 1.0)
                out.write("%.3f ok %s\n" % (t, answer))
            except OSError as e:
                out.write("%.3f err %s\n" % (t, type(e).__name__))
            time.sleep(0.1)
    return 0


def ask(proto, addr, port, timeout):
    """One request; returns the node name the server says it runs on."""
    with socket.create_connection((addr, port), timeout=timeout) as s:
        s.settimeout(timeout)
        if proto == "http":
            s.sendall(b"GET / HTTP/1.0\r\nHost: lab\r\n\r\n")
            data = b""
            while len(data) < 4096:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            body = data.split(b"\r\n\r\n", 1)[-1].strip()
            return body.decode("ascii", "replace") or "?"
        data = s.recv(512)
        s.sendall(b"QUIT\r\n")
        m = re.match(rb"220 (\S+?)\.lab\.invalid", data)
        if not m:
            raise ConnectionError("bad greeting")
        return m.group(1).decode("ascii", "replace")


def client_load(proto, addr, port, seconds, threads):
    """Keeps the server busy for seconds; prints requests and errors."""
    end = time.monotonic() + float(seconds)
    counts = {"ok": 0, "err": 0}
    lock = threading.Lock()

    def worker():
        n = 0
        while time.monotonic() < end and n < 10000000:
            n += 1
            try:
                ask(proto, addr, int(port), 2.0)
                key = "ok"
            except OSError:
                key = "err"
                time.sleep(0.05)
            with lock:
                counts[key] += 1

    ts = [threading.Thread(target=worker, daemon=True) for _ in range(int(threads))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(float(seconds) + 10)
    print("%d %d" % (counts["ok"], counts["err"]), flush=True)
    return 0


# ------------------------------------------------------------------ lab


class Lab:
    def __init__(self):
        self.base = tempfile.mkdtemp(prefix="ismon-lab.")
        # The services (postfix, nginx's workers, hacluster) must reach it.
        os.chmod(self.base, 0o755)
        self.bridge = None  # Popen of the bridge namespace's holder
        self.units = {}  # name -> Popen of unshare
        self.init_pid = {}  # name -> host PID of the node's init
        self.clients = []  # Popen of pollers and loads
        self.up_at = None
        self.started_at = None

    # ---- set-up

    def node_dir(self, name, *parts):
        return os.path.join(self.base, name, *parts)

    def prepare_node_dirs(self, name, cib):
        for d, owner, mode in (
            ("lib-pacemaker", "root:root", 0o755),
            ("lib-pacemaker/cib", "hacluster:haclient", 0o750),
            ("lib-pacemaker/pengine", "hacluster:haclient", 0o750),
            ("lib-pacemaker/blackbox", "hacluster:haclient", 0o750),
            ("lib-pacemaker/cores", "hacluster:haclient", 0o750),
            ("lib-corosync", "root:root", 0o755),
            ("log-pacemaker", "hacluster:haclient", 0o770),
            ("log-corosync", "root:root", 0o755),
            ("etc-corosync", "root:root", 0o755),
            ("ocf-upper/ismon", "root:root", 0o755),
            ("ocf-work", "root:root", 0o755),
        ):
            path = self.node_dir(name, d)
            os.makedirs(path, exist_ok=True)
            os.chmod(path, mode)
            run(["chown", owner, path])
        os.chmod(self.node_dir(name), 0o755)
        shutil.copy(AGENT, self.node_dir(name, "ocf-upper/ismon/ismon"))
        os.chmod(self.node_dir(name, "ocf-upper/ismon/ismon"), 0o755)
        open(self.node_dir(name, "no-dev-log"), "w").close()
        with open(self.node_dir(name, "etc-corosync/corosync.conf"), "w") as f:
            f.write(corosync_conf())
        cib_path = self.node_dir(name, "lib-pacemaker/cib/cib.xml")
        with open(cib_path, "w") as f:
            f.write(cib)
        os.chmod(cib_path, 0o600)
        run(["chown", "hacluster:haclient", cib_path])

    def write_nginx_conf(self):
        path = os.path.join(self.base, "nginx.conf")
        with open(path, "w") as f:
            f.write(
                """# Written by contrib/pacemaker/lab.py; every path is node-private.
user nobody nogroup;
worker_processes 1;
pid /run/nginx-lab/nginx.pid;
lock_file /run/nginx-lab/nginx.lock;
error_log /var/log/pacemaker/nginx-error.log;
events {
	worker_connections 256;
}
http {
	access_log off;
	client_body_temp_path /run/nginx-lab/body;
	proxy_temp_path /run/nginx-lab/proxy;
	fastcgi_temp_path /run/nginx-lab/fastcgi;
	uwsgi_temp_path /run/nginx-lab/uwsgi;
	scgi_temp_path /run/nginx-lab/scgi;
	server {
		listen 80;
		location / {
			return 200 "$hostname\\n";
		}
	}
}
"""
            )
        return path

    def in_bridge(self, argv):
        return ["nsenter", "-t", str(self.bridge.pid), "-n", "--"] + argv

    def in_node(self, name, argv):
        return ["nsenter", "-t", str(self.init_pid[name]), "-m", "-u", "-n", "-p", "--"] + argv

    def node_run(self, name, argv, check=True, timeout=60):
        return run(self.in_node(name, argv), check=check, timeout=timeout)

    def start(self):
        t0 = now()
        nginx_conf = self.write_nginx_conf()
        cib = build_cib(nginx_conf)
        for name in NODES:
            self.prepare_node_dirs(name, cib)
        self.bridge = subprocess.Popen(
            ["unshare", "--net", "--", "sleep", "3600"], stdin=subprocess.DEVNULL
        )
        wait_for(
            "the bridge namespace",
            lambda: os.readlink("/proc/%d/ns/net" % self.bridge.pid) != os.readlink("/proc/self/ns/net"),
            10,
            0.02,
        )
        for argv in (
            ["ip", "link", "set", "lo", "up"],
            ["ip", "link", "add", "br0", "type", "bridge", "forward_delay", "0"],
            ["ip", "addr", "add", BRIDGE_ADDR + "/24", "dev", "br0"],
            ["ip", "link", "set", "br0", "up"],
        ):
            run(self.in_bridge(argv))
        for name in NODES:
            self.start_node(name)
        wait_for("both nodes online", self.both_online, 60, 0.2)
        self.up_at = now()
        wait_for("both groups started", lambda: all(self.group_node(p) for p in PROTOCOLS), 60, 0.2)
        self.started_at = now()
        return t0

    def start_node(self, name):
        ndir = self.node_dir(name)
        out = open(os.path.join(ndir, "init.out"), "a")
        p = subprocess.Popen(
            [
                "unshare",
                "--mount",
                "--uts",
                "--net",
                "--pid",
                "--fork",
                "--mount-proc",
                "--propagation",
                "private",
                "--",
                sys.executable,
                os.path.abspath(__file__),
                "node-init",
                self.base,
                name,
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
        self.units[name] = p
        self.init_pid[name] = wait_for("the init of " + name, lambda: child_of(p.pid), 10, 0.02)
        wait_for(
            name + " ready",
            lambda: os.path.exists(os.path.join(ndir, "ready")) or p.poll() is not None,
            20,
            0.02,
        )
        if p.poll() is not None:
            raise RuntimeError("the init of %s exited %s: %s" % (name, p.returncode, read(os.path.join(ndir, "init.out"))))
        veth = "v" + name
        addr = NODE_ADDR[name]
        pid = str(self.init_pid[name])
        run(self.in_bridge(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", pid]))
        run(self.in_bridge(["ip", "link", "set", veth, "master", "br0", "up"]))
        for argv in (
            ["ip", "link", "set", "lo", "up"],
            ["ip", "addr", "add", addr + "/24", "dev", "eth0"],
            ["ip", "link", "set", "eth0", "up"],
        ):
            run(["nsenter", "-t", pid, "-n", "--"] + argv)
        with open(os.path.join(ndir, "net"), "w") as f:
            f.write("up\n")

    def stop(self):
        for c in self.clients:
            if c.poll() is None:
                c.kill()
            c.wait()
        for name, p in self.units.items():
            pid = self.init_pid.get(name)
            if pid and p.poll() is None:
                # The namespace's init: the kernel ends every process of
                # the node with it; its mounts go with its mount namespace.
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if self.bridge is not None and self.bridge.poll() is None:
            self.bridge.kill()
            self.bridge.wait()
        if os.environ.get("ISMON_LAB_KEEP"):
            print("lab: kept %s (ISMON_LAB_KEEP)" % self.base, flush=True)
        else:
            shutil.rmtree(self.base, ignore_errors=True)

    # ---- looking at the cluster

    def live_nodes(self):
        return [n for n in NODES if n in self.units and self.units[n].poll() is None]

    def crm_mon(self):
        for name in self.live_nodes():
            r = self.node_run(name, ["crm_mon", "-1", "--output-as=xml"], check=False, timeout=20)
            if r.returncode == 0 and r.stdout.lstrip().startswith("<"):
                try:
                    return ET.fromstring(r.stdout)
                except ET.ParseError:
                    continue
        return None

    def both_online(self):
        x = self.crm_mon()
        if x is None:
            return False
        online = [n.get("name") for n in x.iter("node") if n.get("online") == "true" and n.get("type") == "member"]
        dc = x.find("summary/current_dc")
        return len(online) == 2 and dc is not None and dc.get("present") == "true"

    def group_node(self, proto, x=None):
        """The node where the protocol's group runs whole, or None."""
        if x is None:
            x = self.crm_mon()
        if x is None:
            return None
        group = None
        for g in x.iter("group"):
            if g.get("id") == PROTOCOLS[proto]["group"]:
                group = g
        if group is None:
            return None
        where = set()
        for r in group.findall("resource"):
            nodes = [n.get("name") for n in r.findall("node")]
            if r.get("role") != "Started" or r.get("active") != "true" or r.get("failed") == "true" or len(nodes) != 1:
                return None
            where.add(nodes[0])
        return where.pop() if len(where) == 1 and len(group.findall("resource")) == 3 else None

    def fail_counts(self, x=None):
        """{(resource, node): count} of every failure Pacemaker recorded."""
        if x is None:
            x = self.crm_mon()
        counts = {}
        if x is None:
            return counts
        for node in x.iter("node"):
            for h in node.iter("resource_history"):
                fc = h.get("fail-count")
                if fc and fc != "0":
                    counts[(h.get("id"), node.get("name"))] = fc
        return counts

    def wait_idle(self, seconds):
        """Waits, at most `seconds`, until the cluster has no action
        pending (crm_resource --wait). Returns whether it settled."""
        nodes = self.live_nodes()
        if not nodes:
            return False
        r = self.node_run(nodes[0], ["crm_resource", "--wait", "--timeout=%ds" % seconds],
                          check=False, timeout=seconds + 10)
        return r.returncode == 0

    def disp(self, proto, name):
        p = PROTOCOLS[proto]
        r = self.node_run(name, [os.path.join(TOP, "build", p["cmd"]), p["mon"], "--disp"], check=False)
        fields = {}
        for line in r.stdout.splitlines():
            k, sep, v = line.partition(": ")
            if sep:
                fields[k] = v
        return r.returncode, fields, r.stdout

    def monitor_ctl(self, proto, name, verb):
        p = PROTOCOLS[proto]
        return self.node_run(name, [os.path.join(TOP, "build", p["cmd"]), p["mon"], verb], check=False)

    def cleanup(self, proto):
        """Forgets the group's failures, so both nodes may run it again."""
        name = self.live_nodes()[0]
        self.node_run(name, ["crm_resource", "--cleanup", "-r", PROTOCOLS[proto]["group"]], check=False)

    def node_processes(self, name, what):
        """(host PID, the file `what` of /proc/PID) of every process in the
        node's PID namespace that can still be read."""
        ns = os.readlink("/proc/%d/ns/pid" % self.init_pid[name])
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if os.readlink("/proc/%s/ns/pid" % entry) != ns:
                    continue
                text = read("/proc/%s/%s" % (entry, what))
            except OSError:
                continue
            yield int(entry), text

    def server_pids(self, proto, name):
        """PIDs of the server's processes inside the node, seen from here."""
        return sorted(pid for pid, comm in self.node_processes(name, "comm")
                      if comm.strip() in PROTOCOLS[proto]["comms"])

    def host_pid(self, name, ns_pid):
        """The PID seen from here of the node's process ns_pid, or None."""
        for pid, status in self.node_processes(name, "status"):
            for line in status.splitlines():
                if line.startswith("NSpid:") and line.split()[-1] == str(ns_pid):
                    return pid
        return None

    def signal_server(self, proto, name, sig):
        pids = self.server_pids(proto, name)
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        return pids

    def end_leftovers(self, proto, keep=None):
        """SIGKILLs the server's processes left on nodes other than keep.

        A stop can leave some: ocf:heartbeat:nginx kills only processes
        whose command line names nginx and its configuration file, so a
        frozen worker ("nginx: worker process") outlives the stop and
        holds port 80; anything's SIGKILL of postfix's master leaves its
        frozen children. Returns {node: [pids]}."""
        left = {}
        for name in self.live_nodes():
            if name == keep:
                continue
            pids = self.signal_server(proto, name, signal.SIGKILL)
            if pids:
                left[name] = pids
        return left

    def server_agent_monitor(self, proto, name, nginx_conf):
        """The server's own agent's monitor, at its default depth, by hand."""
        env = ["env", "OCF_ROOT=/usr/lib/ocf", "OCF_RESOURCE_INSTANCE=" + PROTOCOLS[proto]["server"]]
        if proto == "http":
            env += ["OCF_RESKEY_configfile=" + nginx_conf, "OCF_RESKEY_options=-e /run/nginx-lab/error.log"]
            agent = "/usr/lib/ocf/resource.d/heartbeat/nginx"
        else:
            env += [
                "OCF_RESKEY_binfile=" + POSTFIX_MASTER,
                "OCF_RESKEY_cmdline_options=-c /run/postfix-lab/conf -d",
                "OCF_RESKEY_pidfile=/run/postfix-lab/anything.pid",
            ]
            agent = "/usr/lib/ocf/resource.d/heartbeat/anything"
        r = self.node_run(name, env + [agent, "monitor"], check=False)
        return r.returncode

    def start_poller(self, proto, seconds):
        p = PROTOCOLS[proto]
        out = os.path.join(self.base, "poll-%s.%d" % (proto, len(self.clients)))
        c = subprocess.Popen(
            self.in_bridge(
                [sys.executable, os.path.abspath(__file__), "poll", proto, p["ip"], str(p["port"]), str(seconds), out]
            ),
            stdin=subprocess.DEVNULL,
        )
        self.clients.append(c)
        return c, out

    def start_load(self, proto, seconds, threads):
        p = PROTOCOLS[proto]
        c = subprocess.Popen(
            self.in_bridge(
                [sys.executable, os.path.abspath(__file__), "load", proto, p["ip"], str(p["port"]), str(seconds), str(threads)]
            ),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            universal_newlines=True,
        )
        self.clients.append(c)
        return c

    def answer(self, proto):
        p = PROTOCOLS[proto]
        r = run(
            self.in_bridge([sys.executable, os.path.abspath(__file__), "ask", proto, p["ip"], str(p["port"])]),
            check=False,
            timeout=10,
        )
        return r.stdout.strip() if r.returncode == 0 else None

    def pacemaker_log(self, name):
        return read(self.node_dir(name, "log-pacemaker", "pacemaker.log"))

    def monitor_log(self, proto, name):
        return read(self.node_dir(name, "log-pacemaker", PROTOCOLS[proto]["mon"] + ".log"))


def child_of(pid):
    try:
        kids = read("/proc/%d/task/%d/children" % (pid, pid)).split()
    except OSError:
        return None
    return int(kids[0]) if kids else None


def proc_state(pid):
    try:
        stat = read("/proc/%d/stat" % pid)
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def corosync_conf():
    nodes = "".join(
        "\tnode {\n\t\tname: %s\n\t\tnodeid: %d\n\t\tring0_addr: %s\n\t}\n" % (n, i + 1, NODE_ADDR[n])
        for i, n in enumerate(NODES)
    )
    return (
        "# Written by contrib/pacemaker/lab.py.\n"
        "totem {\n\tversion: 2\n\tcluster_name: ismonlab\n\ttransport: knet\n"
        "\ttoken: %d\n\tcrypto_cipher: none\n\tcrypto_hash: none\n}\n"
        "nodelist {\n%s}\n"
        "quorum {\n\tprovider: corosync_votequorum\n\ttwo_node: 1\n}\n"
        "logging {\n\tto_logfile: yes\n\tlogfile: /var/log/corosync/corosync.log\n"
        "\tto_syslog: no\n\tto_stderr: no\n\ttimestamp: hires\n}\n"
    ) % (TOKEN_MS, nodes)


def build_cib(nginx_conf):
    """The whole configuration, from `cibadmin --empty`, before any start."""
    root = ET.fromstring(run(["cibadmin", "--empty"]).stdout)
    conf = root.find("configuration")

    def nvset(parent, tag, set_id, pairs):
        s = ET.SubElement(parent, tag, {"id": set_id})
        for k, v in pairs:
            ET.SubElement(s, "nvpair", {"id": "%s-%s" % (set_id, k), "name": k, "value": str(v)})
        return s

    nvset(
        conf.find("crm_config"),
        "cluster_property_set",
        "cib-bootstrap-options",
        [
            ("stonith-enabled", "false"),
            ("dc-deadtime", "2s"),
            ("cluster-recheck-interval", "1min"),
            ("have-watchdog", "false"),
        ],
    )
    rsc_defaults = ET.SubElement(conf, "rsc_defaults")
    nvset(rsc_defaults, "meta_attributes", "rsc-options", [("resource-stickiness", 100), ("migration-threshold", 1)])
    op_defaults = ET.SubElement(conf, "op_defaults")
    nvset(op_defaults, "meta_attributes", "op-options", [("timeout", "30s")])

    resources = conf.find("resources")

    def primitive(group, rid, cls, provider, rtype, params, ops, meta=None):
        p = ET.SubElement(group, "primitive", {"id": rid, "class": cls, "provider": provider, "type": rtype})
        nvset(p, "instance_attributes", rid + "-params", params)
        if meta:
            nvset(p, "meta_attributes", rid + "-meta", meta)
        o = ET.SubElement(p, "operations")
        for name, interval, timeout in ops:
            ET.SubElement(
                o,
                "op",
                {"id": "%s-%s-%s" % (rid, name, interval), "name": name, "interval": interval, "timeout": timeout},
            )

    bindir = os.path.join(TOP, "build")
    for proto, p in PROTOCOLS.items():
        g = ET.SubElement(resources, "group", {"id": p["group"]})
        nvset(g, "meta_attributes", p["group"] + "-meta", [("migration-threshold", 1)])
        primitive(
            g,
            p["group"] + "-ip",
            "ocf",
            "heartbeat",
            "IPaddr2",
            [("ip", p["ip"]), ("cidr_netmask", 24), ("nic", "eth0")],
            [("monitor", "10s", "20s")],
        )
        if proto == "http":
            primitive(
                g,
                p["server"],
                "ocf",
                "heartbeat",
                "nginx",
                [("configfile", nginx_conf), ("options", "-e /run/nginx-lab/error.log")],
                [("monitor", "10s", "30s"), ("stop", "0", "60s")],
            )
        else:
            primitive(
                g,
                p["server"],
                "ocf",
                "heartbeat",
                "anything",
                [
                    ("binfile", POSTFIX_MASTER),
                    ("cmdline_options", "-c /run/postfix-lab/conf -d"),
                    ("pidfile", "/run/postfix-lab/anything.pid"),
                    ("stop_timeout", POSTFIX_STOP_TIMEOUT),
                ],
                [("monitor", "10s", "20s"), ("stop", "0", "30s")],
            )
        primitive(
            g,
            p["mon"],
            "ocf",
            "ismon",
            "ismon",
            [
                ("protocol", proto),
                ("server", p["ip"]),
                ("port", p["port"]),
                ("interval", MON_INTERVAL),
                ("retries", MON_RETRIES),
                ("timeout", MON_TIMEOUT),
                ("grace", MON_GRACE),
                ("bindir", bindir),
                ("logfile", "/var/log/pacemaker/%s.log" % p["mon"]),
            ],
            [("monitor", "%ds" % AGENT_MONITOR_INTERVAL, "20s"), ("stop", "0", "30s")],
            meta=[("migration-threshold", 1)],
        )
    return ET.tostring(root, encoding="unicode")


def main(argv):
    if len(argv) >= 2 and argv[1] == "node-init":
        return node_init(argv[2], argv[3])
    if len(argv) >= 2 and argv[1] == "poll":
        return client_poll(*argv[2:7])
    if len(argv) >= 2 and argv[1] == "load":
        return client_load(*argv[2:7])
    if len(argv) >= 2 and argv[1] == "ask":
        try:
            print(ask(argv[2], argv[3], int(argv[4]), 2.0))
            return 0
        except OSError as e:
            print(e)
            return 1
    if len(argv) >= 2 and argv[1] in ("demo", "test"):
        # The cases live beside this file; no __pycache__ in the tree.
        sys.dont_write_bytecode = True
        import labcases

        # A SIGTERM (a CI time-out) ends the lab as Ctrl-C does: through
        # the cases' finally, which ends every process the lab started.
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

        return labcases.main(argv[1], sys.modules[__name__])
    print(__doc__.strip().splitlines()[-2], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
