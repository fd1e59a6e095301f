#!/bin/sh
# Test the OCF resource agent contrib/ocf/ismon:
#
#  1. ocf-tester (from resource-agents), once with protocol=http against a
#     throwaway HTTP server and once with protocol=smtp against a throwaway
#     SMTP server, both on a free port of 127.0.0.1;
#  2. what ocf-tester does not check: a monitor that exited because its
#     server failed makes the monitor action return OCF_ERR_GENERIC, stop
#     then succeeds and clears it; a monitor killed with kill -9 is
#     OCF_NOT_RUNNING; a monitor that does not end on --stop is killed;
#     a hung monitor (SIGSTOP) is OCF_ERR_GENERIC once its last probe is
#     older than a working monitor allows, a paused one is not;
#     bad settings are OCF_ERR_CONFIGURED, missing binaries
#     OCF_ERR_INSTALLED (OCF_NOT_RUNNING for a probe).
#
# Needs ocf-tester and xmllint (Debian: resource-agents, libxml2-utils) and
# python3. Without them it prints SKIPPED and exits 0, unless CI=true: then
# it fails. The binaries come from ISMON_BINDIR, by default target/debug
# (built here with cargo build --bins).
#
# usage: sh contrib/ocf/test.sh    (from anywhere; root runs every check)

set -u

here=$(cd "$(dirname "$0")" && pwd) || exit 1
top=$(cd "$here/../.." && pwd) || exit 1

skip() {
	if [ "${CI:-}" = true ]; then
		echo "FAILED: $* (CI=true: it must be installed)" >&2
		exit 1
	fi
	echo "SKIPPED: $*"
	exit 0
}

command -v ocf-tester >/dev/null 2>&1 || skip "ocf-tester not installed"
command -v xmllint >/dev/null 2>&1 || skip "xmllint not installed (ocf-tester needs it; Debian: libxml2-utils)"
command -v python3 >/dev/null 2>&1 || skip "python3 not installed"

if [ -z "${ISMON_BINDIR:-}" ]; then
	(cd "$top" && cargo build --bins -q) || {
		echo "FAILED: cargo build --bins" >&2
		exit 1
	}
	ISMON_BINDIR=$top/target/debug
fi
bindir=$(cd "$ISMON_BINDIR" && pwd) || exit 1
for prog in clp_httpmon clp_smtpmon; do
	[ -x "$bindir/$prog" ] || {
		echo "FAILED: no $bindir/$prog" >&2
		exit 1
	}
done

# Everything lives in one scratch directory that user nobody can read:
# ocf-tester runs the agent's meta-data as nobody, and the repository may
# be somewhere nobody cannot enter.
scratch=$(mktemp -d) || exit 1
chmod 0755 "$scratch"
agent=$scratch/ismon
cp "$here/ismon" "$agent"
chmod 0755 "$agent"
state=$scratch/state
log=$scratch/monitor.log
srv_pid=

# shellcheck disable=SC2317 # called through the trap
cleanup() {
	for id in ocft_http ocft_smtp ocft_fail ocft_kill ocft_hang ocft_pause; do
		ISMON_STATE_DIR=$state "$bindir/clp_httpmon" "$id" --stop 1 >/dev/null 2>&1
		ISMON_STATE_DIR=$state "$bindir/clp_smtpmon" "$id" --stop 1 >/dev/null 2>&1
	done
	stop_server
	rm -rf "$scratch"
}

stop_server() {
	if [ -n "$srv_pid" ]; then
		kill "$srv_pid" 2>/dev/null
		wait "$srv_pid" 2>/dev/null
		srv_pid=
	fi
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

failures=0
fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}
pass() {
	echo "ok: $*"
}

# A throwaway server on 127.0.0.1, on a port the kernel chooses; the port
# is written to a file once it listens.
server_py='
import socketserver, sys, http.server
mode, portfile = sys.argv[1], sys.argv[2]
class Smtp(socketserver.StreamRequestHandler):
    def handle(self):
        self.wfile.write(b"220 ocf-test ESMTP\r\n")
        for line in self.rfile:
            cmd = line.strip().upper()
            if cmd == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            self.wfile.write(b"250 ok\r\n")
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
socketserver.TCPServer.allow_reuse_address = True
handler = Smtp if mode == "smtp" else Quiet
srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
srv.daemon_threads = True
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
'

# start_server http|smtp: sets srv_pid and port.
start_server() {
	rm -f "$scratch/port"
	(cd "$scratch" && exec python3 -c "$server_py" "$1" "$scratch/port") &
	srv_pid=$!
	n=0
	while [ ! -s "$scratch/port" ]; do
		n=$((n + 1))
		if [ "$n" -gt 100 ] || ! kill -0 "$srv_pid" 2>/dev/null; then
			echo "FAILED: the test $1 server did not start" >&2
			exit 1
		fi
		sleep 0.1
	done
	port=$(cat "$scratch/port")
}

# ra ACTION [NAME=VALUE...]: run the agent as Pacemaker would, with
# OCF_RESKEY_NAME=VALUE for each argument; sets rc and out.
ra() {
	ra_action=$1
	shift
	ra_env="OCF_ROOT=${OCF_ROOT:-/usr/lib/ocf} OCF_RESOURCE_INSTANCE=ocftest"
	ra_env="$ra_env OCF_RESKEY_CRM_meta_timeout=20000"
	ra_env="$ra_env OCF_RESKEY_CRM_meta_interval=${ra_interval:-10000}"
	ra_env="$ra_env OCF_RESKEY_state_dir=$state OCF_RESKEY_bindir=$bindir"
	ra_env="$ra_env OCF_RESKEY_logfile=$log"
	for kv in "$@"; do
		ra_env="$ra_env OCF_RESKEY_$kv"
	done
	# shellcheck disable=SC2086 # words by design: NAME=VALUE without spaces
	out=$(env $ra_env "$agent" "$ra_action" 2>&1)
	rc=$?
}

# probe [NAME=VALUE...]: the monitor action as Pacemaker's initial probe
# (interval 0) runs it.
probe() {
	ra_interval=0
	ra monitor "$@"
	ra_interval=
}

# expect RC WHAT: check rc from the last ra call.
expect() {
	if [ "$rc" -eq "$1" ]; then
		pass "$2 (rc $rc)"
	else
		fail "$2: rc $rc, expected $1"
		printf '%s\n' "$out" | sed 's/^/    /' >&2
	fi
}

# ------------------------------------------------------------ ocf-tester

for proto in http smtp; do
	start_server "$proto"
	echo "== ocf-tester, protocol=$proto, server 127.0.0.1:$port"
	if ocf-tester -n "ocft_$proto" -o protocol="$proto" -o id="ocft_$proto" \
		-o server=127.0.0.1 -o port="$port" -o interval=1 -o retries=3 \
		-o timeout=2 -o state_dir="$state" -o bindir="$bindir" \
		-o logfile="$log" "$agent"; then
		pass "ocf-tester, protocol=$proto"
	else
		fail "ocf-tester, protocol=$proto"
	fi
	stop_server
done

# ------------------------------------------------- beyond ocf-tester: http

echo "== the server fails: monitor returns OCF_ERR_GENERIC (1)"
start_server http
set -- protocol=http id=ocft_fail server=127.0.0.1 port="$port" interval=1 retries=1 timeout=1
ra start "$@"
expect 0 "start"
ra monitor "$@"
expect 0 "monitor while the server answers"
stop_server
# Detected within retries x max(interval, timeout) + timeout = 2 s.
n=0
while :; do
	ra monitor "$@"
	[ "$rc" -ne 0 ] && break
	n=$((n + 1))
	[ "$n" -ge 50 ] && break
	sleep 0.2
done
expect 1 "monitor after the server stopped"
case $out in
*"ocf-exit-reason:"*"failed"*) pass "the exit reason says why: ${out##*ocf-exit-reason:}" ;;
*) fail "no exit reason naming the failure: $out" ;;
esac
probe "$@"
expect 1 "probe of the failed monitor"
ra stop "$@"
expect 0 "stop after the failure"
ra monitor "$@"
expect 7 "monitor after that stop (the failed record is cleared)"
probe "$@"
expect 7 "probe after that stop"

echo "== a monitor killed with kill -9 is not running (7)"
start_server http
set -- protocol=http id=ocft_kill server=127.0.0.1 port="$port" interval=1
ra start "$@"
expect 0 "start"
pid=$(ISMON_STATE_DIR=$state "$bindir/clp_httpmon" ocft_kill --disp | sed -n 's/^pid: //p')
kill -KILL "$pid"
n=0
while kill -0 "$pid" 2>/dev/null && [ "$n" -lt 50 ]; do
	n=$((n + 1))
	sleep 0.1
done
ra monitor "$@"
expect 7 "monitor after kill -9"
ra start "$@"
expect 0 "start again over the dead monitor's record"
ra stop "$@"
expect 0 "stop"

echo "== a monitor that does not end on --stop is killed"
set -- protocol=http id=ocft_hang server=127.0.0.1 port="$port" interval=1 stop_wait=1
ra start "$@"
expect 0 "start"
pid=$(ISMON_STATE_DIR=$state "$bindir/clp_httpmon" ocft_hang --disp | sed -n 's/^pid: //p')
kill -STOP "$pid"
ra stop "$@"
expect 0 "stop of a stopped (SIGSTOP) monitor"
# Gone, or a zombie until its new parent reaps it.
case $(ps -o stat= -p "$pid" 2>/dev/null) in
'' | Z*) pass "pid $pid is gone" ;;
*)
	fail "pid $pid still runs after stop"
	kill -KILL "$pid" 2>/dev/null
	;;
esac
ra monitor "$@"
expect 7 "monitor after that stop"
stop_server

echo "== a hung monitor (SIGSTOP) fails (1); a paused one does not"
start_server http
# A working monitor records a probe at least every max(interval, timeout)
# + timeout = 2 s; with hang_margin=2 the agent calls it hung past 4 s.
set -- protocol=http id=ocft_hang server=127.0.0.1 port="$port" interval=1 retries=1 timeout=1 stop_wait=1 hang_margin=2
ra start "$@"
expect 0 "start (to be hung)"
hung_pid=$(ISMON_STATE_DIR=$state "$bindir/clp_httpmon" ocft_hang --disp | sed -n 's/^pid: //p')
set -- protocol=http id=ocft_pause server=127.0.0.1 port="$port" interval=1 retries=1 timeout=1 hang_margin=2
ra start "$@"
expect 0 "start (to be paused)"
ISMON_STATE_DIR=$state "$bindir/clp_httpmon" ocft_pause --pause >/dev/null 2>&1 ||
	fail "--pause of ocft_pause"
kill -STOP "$hung_pid"
hung_at=$(date +%s)
set -- protocol=http id=ocft_hang server=127.0.0.1 port="$port" interval=1 retries=1 timeout=1 stop_wait=1 hang_margin=2
# Deadline: the 4 s limit, one more second for the record's whole-second
# times, and 5 s of slack for a loaded machine.
n=0
while :; do
	ra monitor "$@"
	[ "$rc" -ne 0 ] && break
	n=$((n + 1))
	[ "$(($(date +%s) - hung_at))" -ge 10 ] && break
	[ "$n" -ge 100 ] && break
	sleep 0.2
done
hung_after=$(($(date +%s) - hung_at))
expect 1 "monitor of a monitor stopped with SIGSTOP ($hung_after s after the stop)"
if [ "$hung_after" -lt 3 ]; then
	fail "called hung after $hung_after s, before the 4 s limit allows"
fi
case $out in
*"ocf-exit-reason:"*"hung"*) pass "the exit reason says it is hung: ${out##*ocf-exit-reason:}" ;;
*) fail "no exit reason naming the hang: $out" ;;
esac
set -- protocol=http id=ocft_pause server=127.0.0.1 port="$port" interval=1 retries=1 timeout=1 hang_margin=2
ra monitor "$@"
expect 0 "monitor of a monitor paused as long (not hung: paused on request)"
ra stop "$@"
expect 0 "stop of the paused monitor"
set -- protocol=http id=ocft_hang server=127.0.0.1 port="$port" interval=1 retries=1 timeout=1 stop_wait=1 hang_margin=2
ra stop "$@"
expect 0 "stop of the hung monitor"
case $(ps -o stat= -p "$hung_pid" 2>/dev/null) in
'' | Z*) pass "pid $hung_pid is gone" ;;
*)
	fail "pid $hung_pid still runs after stop"
	kill -KILL "$hung_pid" 2>/dev/null
	;;
esac
ra monitor "$@"
expect 7 "monitor after that stop"
stop_server
ra validate-all protocol=http id=ocft_bad hang_margin=0
expect 6 "hang_margin=0"

echo "== bad settings and missing binaries"
ra validate-all protocol=ftp id=ocft_bad
expect 6 "protocol=ftp"
ra validate-all id=ocft_bad
expect 6 "no protocol"
ra validate-all protocol=http id=ocft_bad port=0
expect 6 "port=0"
ra validate-all protocol=http id=ocft_bad interval=10001
expect 6 "interval=10001"
ra validate-all protocol=smtp id=ocft_bad uri=/x
expect 6 "uri with protocol=smtp"
ra validate-all protocol=http id=ocft_bad uri=x
expect 6 "uri not starting with /"
ra validate-all protocol=http id=-bad
expect 6 "id=-bad"
ra validate-all protocol=http id=ocft_bad bindir="$scratch/none"
expect 5 "bindir without the binaries"
ra start protocol=http id=ocft_bad bindir="$scratch/none"
expect 5 "start with bindir without the binaries"
probe protocol=http id=ocft_bad bindir="$scratch/none"
expect 7 "probe with bindir without the binaries"
ra stop protocol=http id=ocft_bad bindir="$scratch/none"
expect 0 "stop with bindir without the binaries"
ra validate-all protocol=http id=ocft_ok server=127.0.0.1 port=8080 uri=/health http_version=1.0
expect 0 "valid http settings"
ra validate-all protocol=smtp server=::1
expect 0 "valid smtp settings, id from the resource name"

echo
if [ "$failures" -ne 0 ]; then
	echo "contrib/ocf/test.sh: $failures check(s) FAILED" >&2
	echo "--- monitor log:" >&2
	cat "$log" >&2 2>/dev/null
	exit 1
fi
echo "contrib/ocf/test.sh: all checks passed"
exit 0
