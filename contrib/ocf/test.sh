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
#     OCF_ERR_INSTALLED (OCF_NOT_RUNNING for a probe);
#  3. the parameters of the long options (retry_interval, grace, expect,
#     host, contains): their ranges in validate-all, the http-only ones
#     refused with protocol=smtp, and - when the commands' --help lists
#     the options - that start passes them (the monitor's --disp and the
#     request the server sees), that they take effect, and that the hang
#     check allows a retry_interval longer than the interval. With binaries
#     that predate the options those cases print SKIPPED on stderr; with
#     CI=true that is a failure.
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
	for id in ocft_http ocft_smtp ocft_fail ocft_kill ocft_hang ocft_pause \
		ocft_opts ocft_sopts ocft_body ocft_expect ocft_grace ocft_nograce \
		ocft_slow; do
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
# is written to a file once it listens. The HTTP server serves the scratch
# directory and appends "METHOD PATH HOST" for each request to
# $scratch/requests.
server_py='
import socketserver, sys, http.server, threading
mode, portfile = sys.argv[1], sys.argv[2]
lock = threading.Lock()
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
    def note(self):
        with lock, open("requests", "a") as f:
            f.write("%s %s %s\n" % (self.command, self.path, self.headers.get("Host", "-")))
    def do_HEAD(self):
        self.note()
        super().do_HEAD()
    def do_GET(self):
        self.note()
        super().do_GET()
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
# OCF_RESKEY_NAME=VALUE for each argument; sets rc and out. A VALUE may
# hold spaces, or any byte but NUL.
ra() {
	ra_action=$1
	shift
	for kv in "$@"; do
		set -- "$@" "OCF_RESKEY_$kv"
		shift
	done
	out=$(env OCF_ROOT="${OCF_ROOT:-/usr/lib/ocf}" OCF_RESOURCE_INSTANCE=ocftest \
		OCF_RESKEY_CRM_meta_timeout=20000 \
		OCF_RESKEY_CRM_meta_interval="${ra_interval:-10000}" \
		OCF_RESKEY_state_dir="$state" OCF_RESKEY_bindir="$bindir" \
		OCF_RESKEY_logfile="$log" "$@" "$agent" "$ra_action" 2>&1)
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

echo "== the long options' parameters: validate-all"
# Each NAME=VALUE with the rc validate-all must give; 6 is
# OCF_ERR_CONFIGURED.
long255=$(printf '%0255d' 0)
long256=$(printf '%0256d' 0)
items32=$(printf '200,%.0s' $(seq 31))200
items33=$(printf '200,%.0s' $(seq 32))200
tab=$(printf 'a\tb')
newline=$(printf 'a\nb')
nonascii=$(printf 'caf\303\251')
for case in \
	"0:retry_interval=1" "0:retry_interval=10000" "0:retry_interval=0005" \
	"6:retry_interval=0" "6:retry_interval=10001" "6:retry_interval=-1" \
	"6:retry_interval=5s" "0:grace=0" "0:grace=10000" "6:grace=10001" \
	"6:grace=-1" "6:grace=x" "0:expect=200" "0:expect=200-299,301,302" \
	"0:expect=100-599" "0:expect=404,200-204" "0:expect=$items32" \
	"6:expect=$items33" "6:expect=099" "6:expect=600" "6:expect=2000" \
	"6:expect=20" "6:expect=2xx" "6:expect=200-" "6:expect=-200" \
	"6:expect=299-200" "6:expect=200-300-400" "6:expect=200,,301" \
	"6:expect=200," "6:expect=,200" "6:expect=200, 301" \
	"0:host=www.example.com" "0:host=www.example.com:8080" \
	"0:host=192.0.2.1" "0:host=a_b.example:1" "0:host=localhost:65535" \
	"0:host=[::1]" "0:host=[2001:db8::1]:443" "0:host=[::ffff:192.0.2.1]" \
	"0:host=$(printf '%0251d' 0).com" "6:host=$(printf '%0252d' 0).com" \
	"6:host=-bad" "6:host=.bad" "6:host=bad host" "6:host=bad/x" \
	"6:host=host:0" "6:host=host:65536" "6:host=host:" "6:host=a:b:c" \
	"6:host=::1" "6:host=[::1" "6:host=[::1]80" "6:host=[::1]:" \
	"6:host=[zz::1]" "6:host=[1.2.3.4]" "6:host=[]" "6:host=[:::]" \
	"6:host=[1::2::3]" "0:host=[1:2:3:4:5:6:7:8]:80" "0:host=[1:2:3:4:5:6:7::]" \
	"6:host=[1:2:3:4:5:6:7:8:9]" "6:host=[12345::]" "6:host=[::ffff:01.2.3.4]" \
	"6:host=[fe80::1%eth0]" \
	"0:contains=all is well" "0:contains= <ok>~" "0:contains=$long255" \
	"6:contains=$long256" "6:contains=$tab" "6:contains=$newline" \
	"6:contains=$nonascii"; do
	want=${case%%:*}
	kv=${case#*:}
	ra validate-all protocol=http id=ocft_bad "$kv"
	shown=$(printf '%.40s' "$kv" | tr '\t\n' '??')
	expect "$want" "validate-all $shown"
done

echo "== http-only parameters with protocol=smtp"
for kv in expect=200 host=www.example.com contains=ok; do
	ra validate-all protocol=smtp id=ocft_bad "$kv"
	expect 6 "$kv with protocol=smtp"
	case $out in
	*"ocf-exit-reason:"*"http only"*"${kv%%=*}"*) pass "the exit reason names ${kv%%=*}" ;;
	*) fail "no exit reason naming ${kv%%=*}: $out" ;;
	esac
	ra start protocol=smtp id=ocft_bad "$kv"
	expect 6 "start with $kv and protocol=smtp"
done
ra validate-all protocol=smtp id=ocft_ok retry_interval=5 grace=120
expect 0 "retry_interval and grace with protocol=smtp"
ra validate-all protocol=http id=ocft_ok retry_interval=5 grace=120 expect=200-299 host=www.example.com:8080 "contains=all is well"
expect 0 "every long option with protocol=http"

# --------------------------------------- the long options, end to end

# disp_has CMD ID LINE WHAT: the monitor's --disp shows LINE.
disp_has() {
	dh_out=$(ISMON_STATE_DIR=$state "$bindir/$1" "$2" --disp 2>&1)
	if printf '%s\n' "$dh_out" | grep -qxF -- "$3"; then
		pass "$4: --disp shows \"$3\""
	else
		fail "$4: --disp does not show \"$3\""
		printf '%s\n' "$dh_out" | sed 's/^/    /' >&2
	fi
}

# disp_num CMD ID KEY: the number KEY has in the monitor's --disp, or 0.
disp_num() {
	dn_v=$(ISMON_STATE_DIR=$state "$bindir/$1" "$2" --disp 2>/dev/null | sed -n "s/^$3: //p" | head -n 1)
	case $dn_v in
	'' | *[!0-9]*) echo 0 ;;
	*) echo "$dn_v" ;;
	esac
}

# monitor_until RC SECONDS NAME=VALUE...: run the monitor action until it
# returns RC or SECONDS have passed (at most 10 runs a second).
monitor_until() {
	mu_want=$1
	mu_end=$(($(date +%s) + $2))
	shift 2
	mu_n=0
	while :; do
		ra monitor "$@"
		[ "$rc" -eq "$mu_want" ] && return 0
		mu_n=$((mu_n + 1))
		[ "$(date +%s)" -ge "$mu_end" ] && return 1
		[ "$mu_n" -ge $((10 * 60)) ] && return 1
		sleep 0.1
	done
}

long_opts=yes
for prog in clp_httpmon clp_smtpmon; do
	"$bindir/$prog" --help 2>&1 | grep -q -- '--retry-interval' || long_opts=no
done
if [ "$long_opts" = no ]; then
	if [ "${CI:-}" = true ]; then
		fail "$bindir/clp_httpmon or clp_smtpmon --help does not list --retry-interval (CI=true: the long options' cases must run)"
	else
		{
			echo "**************************************************************"
			echo "SKIPPED: the long options end to end (start with them, their"
			echo "effect, the hang check with retry_interval): the binaries in"
			echo "$bindir"
			echo "do not list --retry-interval in --help. Only validate-all was"
			echo "checked for them."
			echo "**************************************************************"
		} >&2
	fi
fi

if [ "$long_opts" = yes ]; then
	echo "== start passes the long options to the command"
	start_server http
	printf 'all is well\n' >"$scratch/health"
	: >"$scratch/requests"
	set -- protocol=http id=ocft_opts server=127.0.0.1 port="$port" interval=1 \
		retries=2 timeout=1 uri=/health retry_interval=2 grace=30 \
		expect=200-299,304 host=www.example.test:8080 "contains=all is well"
	ra start "$@"
	expect 0 "start with retry_interval, grace, expect, host and contains"
	for line in "retry_interval: 2" "grace: 30" "expect: 200-299,304" \
		"host: www.example.test:8080" "contains: all is well"; do
		disp_has clp_httpmon ocft_opts "$line" "http"
	done
	n=0
	until grep -qxF "GET /health www.example.test:8080" "$scratch/requests"; do
		n=$((n + 1))
		if [ "$n" -ge 50 ]; then
			fail "no GET /health with Host www.example.test:8080 within 5 s: $(tail -n 3 "$scratch/requests" | tr '\n' '|')"
			break
		fi
		sleep 0.1
	done
	[ "$n" -lt 50 ] && pass "the server saw GET /health with Host: www.example.test:8080"
	ra monitor "$@"
	expect 0 "monitor: the body holds the text, the status is expected"
	ra stop "$@"
	expect 0 "stop"

	echo "== contains and expect take effect: a failed probe, then OCF_ERR_GENERIC"
	# Both detected within retries x max(interval, timeout) + timeout = 3 s.
	set -- protocol=http id=ocft_body server=127.0.0.1 port="$port" interval=1 \
		retries=2 timeout=1 uri=/health "contains=no such text"
	ra start "$@"
	expect 0 "start with a text the body does not hold"
	set -- protocol=http id=ocft_expect server=127.0.0.1 port="$port" interval=1 \
		retries=2 timeout=1 uri=/health expect=500-599
	ra start "$@"
	expect 0 "start with expect=500-599 against a 200"
	set -- protocol=http id=ocft_body server=127.0.0.1 port="$port" interval=1 \
		retries=2 timeout=1 uri=/health "contains=no such text"
	monitor_until 1 10 "$@"
	expect 1 "monitor of the monitor whose body check failed"
	if grep -qF "HTTP(invalid response). [ID:ocft_body]" "$log"; then
		pass "event 82 for the missing text"
	else
		fail "no event 82 for ocft_body in the log"
	fi
	ra stop "$@"
	expect 0 "stop"
	set -- protocol=http id=ocft_expect server=127.0.0.1 port="$port" interval=1 \
		retries=2 timeout=1 uri=/health expect=500-599
	monitor_until 1 10 "$@"
	expect 1 "monitor of the monitor whose status check failed"
	if grep -qF "HTTP(invalid status code[200]). [ID:ocft_expect]" "$log"; then
		pass "event 83 for status 200 outside expect"
	else
		fail "no event 83 (status 200) for ocft_expect in the log"
	fi
	ra stop "$@"
	expect 0 "stop"
	stop_server

	echo "== retry_interval and grace with protocol=smtp"
	start_server smtp
	set -- protocol=smtp id=ocft_sopts server=127.0.0.1 port="$port" interval=1 \
		retries=1 timeout=1 retry_interval=1 grace=5
	ra start "$@"
	expect 0 "start"
	disp_has clp_smtpmon ocft_sopts "retry_interval: 1" "smtp"
	disp_has clp_smtpmon ocft_sopts "grace: 5" "smtp"
	ra monitor "$@"
	expect 0 "monitor"
	ra stop "$@"
	expect 0 "stop"
	stop_server

	echo "== grace: failures inside it are not counted"
	# A port that was just closed: every probe is refused at once.
	start_server http
	dead=$port
	stop_server
	set -- protocol=http id=ocft_nograce server=127.0.0.1 port="$dead" interval=1 \
		retries=2 timeout=1
	ra start "$@"
	expect 0 "start without grace, server down"
	set -- protocol=http id=ocft_grace server=127.0.0.1 port="$dead" interval=1 \
		retries=2 timeout=1 grace=60
	ra start "$@"
	expect 0 "start with grace=60, server down"
	# Without grace: 3 failed probes (retries + 1) and it exits, within
	# retries x max(interval, timeout) + timeout = 3 s; 5 s of slack.
	set -- protocol=http id=ocft_nograce server=127.0.0.1 port="$dead" interval=1 \
		retries=2 timeout=1
	monitor_until 1 8 "$@"
	expect 1 "monitor without grace: failed"
	ra stop "$@"
	expect 0 "stop"
	# With grace: once it has failed more probes than that, it still runs.
	n=0
	while [ "$(disp_num clp_httpmon ocft_grace failures)" -lt 4 ] && [ "$n" -lt 80 ]; do
		n=$((n + 1))
		sleep 0.1
	done
	set -- protocol=http id=ocft_grace server=127.0.0.1 port="$dead" interval=1 \
		retries=2 timeout=1 grace=60
	ra monitor "$@"
	expect 0 "monitor with grace=60 after $(disp_num clp_httpmon ocft_grace failures) failed probes"
	ra stop "$@"
	expect 0 "stop"

	echo "== the hang check allows a retry_interval longer than interval"
	# Retries come 6 s apart: the last probe ages to 6 s + the record's
	# one-second resolution. The limit is max(1, 6, 1) + 1 + 2 = 9 s; one
	# that left retry_interval out (max(1, 1) + 1 + 2 = 4 s) would call
	# this working monitor hung before its second probe.
	set -- protocol=http id=ocft_slow server=127.0.0.1 port="$dead" interval=1 \
		retry_interval=6 retries=100 timeout=1 hang_margin=2
	ra start "$@"
	expect 0 "start with retry_interval=6, server down"
	slow_end=$(($(date +%s) + 12))
	slow_bad=
	n=0
	while [ "$(disp_num clp_httpmon ocft_slow failures)" -lt 2 ]; do
		ra monitor "$@"
		if [ "$rc" -ne 0 ]; then
			slow_bad="rc $rc: $out"
			break
		fi
		n=$((n + 1))
		if [ "$(date +%s)" -ge "$slow_end" ] || [ "$n" -ge 120 ]; then
			slow_bad="no second probe within 12 s"
			break
		fi
		sleep 0.1
	done
	if [ -z "$slow_bad" ]; then
		pass "monitor said running ($n runs) through a 6 s retry gap"
	else
		fail "between two retries 6 s apart: $slow_bad"
	fi
	ra stop "$@"
	expect 0 "stop"
fi

echo
if [ "$failures" -ne 0 ]; then
	echo "contrib/ocf/test.sh: $failures check(s) FAILED" >&2
	echo "--- monitor log:" >&2
	cat "$log" >&2 2>/dev/null
	exit 1
fi
echo "contrib/ocf/test.sh: all checks passed"
exit 0
