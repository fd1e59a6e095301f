#!/bin/sh
# make soak: the monitors against busy, healthy servers. A monitor that exits
# while its server is well fails a group over for nothing; this soak makes
# sure none does.
#
#	sh scripts/soak.sh [SECONDS]	(default $SOAK_SECONDS, else 600)
#
#	SOAK_HTTP_LOAD=python		the Python HTTP loop even when wrk
#					is there
#
# Builds the release binaries (make), starts a private nginx and a private
# postfix (tests/daemons/) on 127.0.0.1 at free ports, four clp_httpmon
# (URIs / and /index.html, HTTP/1.0 and 1.1) and two clp_smtpmon, all at
# -i 1 -c 3 -r 1 with a private ISMON_STATE_DIR, and once each has probed
# its server, loads both servers for SECONDS: wrk against nginx (installed
# from Debian's packages when missing; without it, a bounded Python HTTP
# loop) and a bounded Python loop of SMTP sessions (greeting, EHLO, NOOP,
# QUIT) against postfix (those loops, the free ports and the readiness
# checks: scripts/soak_load.py). Every second it checks that each monitor
# still runs and samples its state; at the end it takes each monitor's
# --disp (probes, failures, state), stops the load, the monitors (--stop)
# and the servers, and prints a markdown table: probes made, failures seen,
# and exits. A monitor that ended during the soak is a FALSE EXIT: its servers
# were healthy (the load generators say how healthy), so its standard
# error and the servers' logs are printed.
#
# The load stays inside what the private servers are configured for, so
# that the servers never turn a client away: nginx.sh gives nginx one
# worker with 64 connections (wrk keeps 32 open, the monitors add at most
# 4); smtpd.sh gives postfix 10 smtpd processes (the SMTP load holds 2
# sessions at a time, the monitors at most 2 more). A failure a monitor
# counts is reported with its cause; only an exit fails the soak.
#
# Everything runs on 127.0.0.1. Every loop is bounded in count and time.
# Only the processes this script started are ended, by PID, also on
# failure and on Ctrl-C.
#
# Exit status: 0 when no monitor exited and every one kept probing; 1 when
# a monitor exited during the soak (a false exit) or stopped probing; 2
# when the soak could not be set up.

set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

usage() {
	echo "usage: $0 [SECONDS]   (10 to 86400; default \$SOAK_SECONDS, else 600)" >&2
	exit 2
}

[ "$#" -le 1 ] || usage
seconds=${1:-${SOAK_SECONDS:-600}}
case $seconds in '' | *[!0-9]*) usage ;; esac
# Decimal, even with leading zeros (which $((...)) would read as octal).
while :; do case $seconds in 0?*) seconds=${seconds#0} ;; *) break ;; esac; done
case $seconds in ?????????*) usage ;; esac
if [ "$seconds" -lt 10 ] || [ "$seconds" -gt 86400 ]; then usage; fi

# The monitors' settings: the tightest the commands allow.
interval=1
retries=3
timeout=1
# wrk: threads and open connections (nginx.sh: 1 worker, 64 connections).
wrk_threads=2
wrk_connections=32
# SMTP load: concurrent sessions (smtpd.sh: maxproc 10), and the pause of
# each client between two sessions, in milliseconds.
smtp_clients=2
smtp_pause_ms=5
# A monitor that made fewer probes than this share (percent) of the
# seconds it ran has stalled: it could not have seen a failure in time.
min_probe_share=80

tmp=
started=    # PIDs this script started and has not reaped yet
nginx_pid=
postfix_pid=
say() { printf '%s\n' "$*"; }
step() { printf '\n==> %s\n' "$*"; }
die() {
	printf 'soak: %s\n' "$*" >&2
	exit 2
}

# alive PID: the process runs (a zombie not yet reaped does not count).
alive() {
	al_stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	al_stat=${al_stat##*) }
	[ "${al_stat%% *}" != Z ]
}

remember() { started="$started $1"; }
forget() {
	fg_new=
	for fg_pid in $started; do
		[ "$fg_pid" = "$1" ] || fg_new="$fg_new $fg_pid"
	done
	started=$fg_new
}

# end_pid PID SIGNAL: send SIGNAL to our child PID, wait up to 10 s for it
# to end, then SIGKILL it; reap it and set end_rc to its exit status.
end_pid() {
	if alive "$1"; then
		kill -s "$2" "$1" 2>/dev/null || true
		ep_left=100
		while alive "$1" && [ "$ep_left" -gt 0 ]; do
			sleep 0.1
			ep_left=$((ep_left - 1))
		done
		if alive "$1"; then kill -s KILL "$1" 2>/dev/null || true; fi
	fi
	end_rc=0
	wait "$1" 2>/dev/null || end_rc=$?
	forget "$1"
}

# stop_daemon SCRIPT DIR PID: end a private server and everything under it
# (the helper acts on the master it recorded, by PID), then reap the master.
stop_daemon() {
	if [ -n "$3" ]; then
		sh "tests/daemons/$1" stop "$2" || true
		end_pid "$3" KILL
	fi
}

cleanup() {
	rc=$?
	# Clean up to the end, even on a second Ctrl-C (every wait is bounded).
	trap - EXIT
	trap '' INT TERM
	# Monitors and load generators first, then the servers they use.
	for cl_pid in $started; do
		if [ "$cl_pid" != "$nginx_pid" ] && [ "$cl_pid" != "$postfix_pid" ]; then
			end_pid "$cl_pid" TERM
		fi
	done
	if [ -n "$tmp" ]; then
		case " $started " in *" $nginx_pid "*) stop_daemon nginx.sh "$tmp/nginx" "$nginx_pid" ;; esac
		case " $started " in *" $postfix_pid "*) stop_daemon smtpd.sh "$tmp/postfix" "$postfix_pid" ;; esac
		# Kept for a failed soak (1) or setup (2); gone otherwise.
		if [ "$rc" -eq 1 ] || [ "$rc" -eq 2 ]; then
			say "soak: logs kept in $tmp" >&2
		else
			rm -rf "$tmp"
		fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'say "soak: interrupted" >&2; exit 130' INT
trap 'say "soak: terminated" >&2; exit 143' TERM

step "Building the release binaries (make)"
make --no-print-directory all
for cmd in clp_httpmon clp_smtpmon; do
	[ -x "build/$cmd" ] || die "make left no build/$cmd"
done

step "Checking the tools"
command -v python3 >/dev/null 2>&1 || die "python3 is needed for the SMTP load (apt-get install python3)"
sh tests/daemons/nginx.sh available || die "no nginx: the soak needs one (apt-get install nginx-light)"
sh tests/daemons/smtpd.sh available || die "no postfix: the soak needs one (apt-get install postfix)"
case ${SOAK_HTTP_LOAD:-wrk} in
wrk | python) ;;
*) die "SOAK_HTTP_LOAD must be wrk or python" ;;
esac
if [ "${SOAK_HTTP_LOAD:-wrk}" = wrk ] && ! command -v wrk >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
	say "installing wrk (apt-get install -y wrk)"
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null 2>&1; then
		DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null 2>&1 || true
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null 2>&1 || true
	fi
fi
if [ "${SOAK_HTTP_LOAD:-wrk}" = python ]; then
	http_load=python
	say "HTTP load: a bounded Python HTTP loop (SOAK_HTTP_LOAD=python)"
elif command -v wrk >/dev/null 2>&1; then
	http_load=wrk
	say "HTTP load: $(wrk --version 2>&1 | head -n 1)"
else
	http_load=python
	say "HTTP load: wrk is not available; using a bounded Python HTTP loop instead"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ismon-soak.XXXXXX")
# postfix's services run as the user postfix and must reach their directory.
chmod 0755 "$tmp"
mkdir "$tmp/mon"
export ISMON_STATE_DIR="$tmp/state"

# load VERB ARGS...: run a helper of scripts/soak_load.py in the foreground.
# (What runs in the background is started directly, never through a
# function, so that $! is the process itself and not a subshell.)
load() { python3 scripts/soak_load.py "$@"; }

# start_daemon SCRIPT NAME PORT: start a private server in $tmp/NAME; the
# helper prints the master's PID and execs into it, so $! is the master.
start_daemon() {
	sh "tests/daemons/$1" start "$tmp/$2" "$3" >"$tmp/$2.start" 2>&1 &
	daemon_pid=$!
	remember "$daemon_pid"
}

step "Starting a private nginx and postfix on 127.0.0.1"
# shellcheck disable=SC2046 # two port numbers
set -- $(load ports 2)
http_port=$1
smtp_port=$2
start_daemon nginx.sh nginx "$http_port"
nginx_pid=$daemon_pid
start_daemon smtpd.sh postfix "$smtp_port"
postfix_pid=$daemon_pid
load http "$http_port" 15 ||
	die "nginx does not answer on 127.0.0.1:$http_port: $(cat "$tmp/nginx.start" "$tmp/nginx/error.log" 2>/dev/null)"
load smtp "$smtp_port" 15 ||
	die "postfix does not answer on 127.0.0.1:$smtp_port: $(cat "$tmp/postfix.start" "$tmp/postfix/maillog" 2>/dev/null)"
# The helpers print the master's PID first: it must be our child's.
check_master() {
	[ "$(head -n 1 "$tmp/$1.start")" = "$2" ] ||
		die "$1 reported master PID $(head -n 1 "$tmp/$1.start"), not our child $2"
}
check_master nginx "$nginx_pid"
check_master postfix "$postfix_pid"
say "nginx:   master PID $nginx_pid, 127.0.0.1:$http_port"
say "postfix: master PID $postfix_pid, 127.0.0.1:$smtp_port"

monitors=
# start_monitor COMMAND ID PORT [OPTIONS...]
start_monitor() {
	sm_cmd=$1
	sm_id=$2
	sm_port=$3
	shift 3
	"build/$sm_cmd" "$sm_id" -s 127.0.0.1 -n "$sm_port" -i "$interval" -c "$retries" \
		-r "$timeout" "$@" >"$tmp/mon/$sm_id.log" 2>&1 &
	echo "$!" >"$tmp/mon/$sm_id.pid"
	remember "$!"
	echo "$sm_cmd" >"$tmp/mon/$sm_id.cmd"
	echo "-i $interval -c $retries -r $timeout${*:+ $*}" >"$tmp/mon/$sm_id.opts"
	echo 0 >"$tmp/mon/$sm_id.worst"
	monitors="$monitors $sm_id"
	say "\$ build/$sm_cmd $sm_id -s 127.0.0.1 -n $sm_port $(cat "$tmp/mon/$sm_id.opts") &   (PID $!)"
}

# disp ID: the monitor's record into $tmp/mon/ID.disp; its status as --disp's.
disp() {
	"build/$(cat "$tmp/mon/$1.cmd")" "$1" --disp >"$tmp/mon/$1.disp" 2>&1
}
field() { sed -n "s/^$2: //p" "$tmp/mon/$1.disp"; }
# count ID FIELD: a number field of the last record taken, 0 when absent.
count() {
	ct_n=$(field "$1" "$2")
	case $ct_n in '' | *[!0-9]*) echo 0 ;; *) echo "$ct_n" ;; esac
}

step "Starting the monitors (interval $interval s, $retries retries, timeout $timeout s)"
start_monitor clp_httpmon soak-http-root-11 "$http_port"
start_monitor clp_httpmon soak-http-root-10 "$http_port" -v 1.0
start_monitor clp_httpmon soak-http-index-11 "$http_port" -h /index.html
start_monitor clp_httpmon soak-http-index-10 "$http_port" -v 1.0 -h /index.html
start_monitor clp_smtpmon soak-smtp-a "$smtp_port"
# clp_smtpmon has no -v or -h: the second one differs by its identifier only.
start_monitor clp_smtpmon soak-smtp-b "$smtp_port"

# Each monitor must have probed its idle server twice, without a failure,
# before the load starts.
for id in $monitors; do
	n=0
	while [ "$n" -lt 150 ]; do
		if disp "$id" && [ "$(count "$id" probes)" -ge 2 ]; then break; fi
		alive "$(cat "$tmp/mon/$id.pid")" || break
		sleep 0.1
		n=$((n + 1))
	done
	disp "$id" || { cat "$tmp/mon/$id.log" >&2; die "monitor $id did not start"; }
	[ "$(count "$id" probes)" -ge 2 ] || { cat "$tmp/mon/$id.log" >&2; die "monitor $id did not probe"; }
	[ "$(count "$id" failures)" -eq 0 ] ||
		say "WARNING: $id failed a probe of its idle server: $(field "$id" last_result)"
done
say "every monitor has probed its idle server"

step "Loading the servers for $seconds s"
# The load outlives the soak's window (each generator is bounded by its own
# duration too) and is stopped when the window ends, so that the last
# probes are made under load as well.
load_seconds=$((seconds + 60))
if [ "$http_load" = wrk ]; then
	say "\$ wrk -t$wrk_threads -c$wrk_connections -d${load_seconds}s --latency http://127.0.0.1:$http_port/   (stopped after $seconds s)"
	wrk -t"$wrk_threads" -c"$wrk_connections" -d"${load_seconds}s" --latency \
		"http://127.0.0.1:$http_port/" >"$tmp/http-load.out" 2>&1 &
else
	say "\$ python3 scripts/soak_load.py http-load $http_port $load_seconds $wrk_connections"
	python3 scripts/soak_load.py http-load "$http_port" "$load_seconds" "$wrk_connections" \
		>"$tmp/http-load.out" 2>&1 &
fi
http_load_pid=$!
remember "$http_load_pid"
say "\$ python3 scripts/soak_load.py smtp-load $smtp_port $load_seconds $smtp_clients $smtp_pause_ms   ($smtp_clients sessions at a time: greeting, EHLO, NOOP, QUIT)"
python3 scripts/soak_load.py smtp-load "$smtp_port" "$load_seconds" "$smtp_clients" \
	"$smtp_pause_ms" >"$tmp/smtp-load.out" 2>&1 &
smtp_load_pid=$!
remember "$smtp_load_pid"

for id in $monitors; do
	disp "$id" || true
	count "$id" probes >"$tmp/mon/$id.probes0"
done
soak_start=$(date +%s)
soak_end=$((soak_start + seconds))
false_exits=0
ticks=0
# One pass a second: is every monitor alive, how deep in its retries is it.
while [ "$(date +%s)" -lt "$soak_end" ] && [ "$ticks" -lt $((seconds + 10)) ]; do
	sleep 1
	ticks=$((ticks + 1))
	for id in $monitors; do
		[ ! -e "$tmp/mon/$id.exited" ] || continue
		pid=$(cat "$tmp/mon/$id.pid")
		if ! alive "$pid"; then
			echo "$(($(date +%s) - soak_start))" >"$tmp/mon/$id.exited"
			false_exits=$((false_exits + 1))
			say "FALSE EXIT: $id (PID $pid) ended $(cat "$tmp/mon/$id.exited") s into the soak"
			continue
		fi
		if disp "$id"; then
			k=$(field "$id" state | sed -n 's|^retrying \([0-9]*\)/.*|\1|p')
			if [ -n "$k" ] && [ "$k" -gt "$(cat "$tmp/mon/$id.worst")" ]; then
				echo "$k" >"$tmp/mon/$id.worst"
			fi
		fi
	done
	if [ $((ticks % 60)) -eq 0 ]; then
		say "  $ticks s: $false_exits false exit(s) so far"
	fi
done
soak_seconds=$(($(date +%s) - soak_start))
read -r load1 load5 load15 _ </proc/loadavg || true

step "Taking each monitor's record at the end of the soak (load still on)"
for id in $monitors; do
	disp_rc=0
	disp "$id" || disp_rc=$?
	echo "$disp_rc" >"$tmp/mon/$id.disp_rc"
	pid=$(cat "$tmp/mon/$id.pid")
	if [ ! -e "$tmp/mon/$id.exited" ] && { ! alive "$pid" || [ "$disp_rc" -ne 0 ]; }; then
		echo "$soak_seconds" >"$tmp/mon/$id.exited"
		false_exits=$((false_exits + 1))
		say "FALSE EXIT: $id (PID $pid) ended by the end of the soak"
	fi
done

step "Stopping the load"
# wrk stops on SIGINT and still prints its figures; soak_load.py on SIGTERM.
if [ "$http_load" = wrk ]; then end_pid "$http_load_pid" INT; else end_pid "$http_load_pid" TERM; fi
end_pid "$smtp_load_pid" TERM

step "Stopping the monitors (--stop)"
for id in $monitors; do
	pid=$(cat "$tmp/mon/$id.pid")
	if [ ! -e "$tmp/mon/$id.exited" ]; then
		"build/$(cat "$tmp/mon/$id.cmd")" "$id" --stop 10 || say "WARNING: $id --stop failed"
	fi
	end_pid "$pid" TERM
	echo "$end_rc" >"$tmp/mon/$id.rc"
done

step "Stopping the servers"
stop_daemon nginx.sh "$tmp/nginx" "$nginx_pid"
stop_daemon smtpd.sh "$tmp/postfix" "$postfix_pid"

# ---------------------------------------------------------------------------
# Report

step "Result: $soak_seconds s of load, monitors at -i $interval -c $retries -r $timeout"
say
say "| monitor | command | options | probes | under load | failures | worst retry seen | last result | exited? |"
say "| --- | --- | --- | ---: | ---: | ---: | --- | --- | --- |"
total_probes=0
total_load_probes=0
total_failures=0
stalled=0
for id in $monitors; do
	probes=$(count "$id" probes)
	failures=$(count "$id" failures)
	under_load=$((probes - $(cat "$tmp/mon/$id.probes0")))
	total_probes=$((total_probes + probes))
	total_load_probes=$((total_load_probes + under_load))
	total_failures=$((total_failures + failures))
	if [ -e "$tmp/mon/$id.exited" ]; then
		exited="**YES** ($(cat "$tmp/mon/$id.exited") s in, status $(cat "$tmp/mon/$id.rc"), state $(field "$id" state))"
	else
		exited="no (--stop: status $(cat "$tmp/mon/$id.rc"))"
		if [ $((under_load * 100)) -lt $((soak_seconds * min_probe_share / interval)) ]; then
			stalled=$((stalled + 1))
			exited="$exited, **STALLED**"
		fi
	fi
	worst=$(cat "$tmp/mon/$id.worst")
	if [ "$worst" -eq 0 ]; then worst=-; else worst="retrying $worst/$retries"; fi
	say "| $id | $(cat "$tmp/mon/$id.cmd") | $(cat "$tmp/mon/$id.opts") | $probes | $under_load | $failures | $worst | $(field "$id" last_result) | $exited |"
done
say "| **total** | | | **$total_probes** | **$total_load_probes** | **$total_failures** | | | **$false_exits false exit(s)** |"
say
say "probes: all since each monitor started (2 or more on the idle servers first); under load: during the $soak_seconds s window."
say "machine: $(nproc 2>/dev/null || echo '?') CPU(s); load average at the end of the window: ${load1:-?} ${load5:-?} ${load15:-?}"

say
say "HTTP load ($http_load, $wrk_connections connections):"
sed 's/^/    /' "$tmp/http-load.out"
say "SMTP load ($smtp_clients sessions at a time):"
sed 's/^/    /' "$tmp/smtp-load.out"

say
say "Failures the monitors logged, by cause (events 42 and 71 to 83):"
causes=$(cat "$tmp"/mon/*.log | sed -n 's/.*<event: \([0-9]*\)> [^ ]* \(.*\) \[ID:.*/event \1: \2/p' |
	grep -v '^event [1-8]:' | sort | uniq -c | sort -rn) || true
if [ -n "$causes" ]; then say "$causes" | sed 's/^/    /'; else say "    none"; fi

say
say "What the monitors logged besides starting (events 1, 2) and stopping (event 3):"
for id in $monitors; do
	lines=$(grep -v '<event: [123]>' "$tmp/mon/$id.log" | grep -v 'is not taking lines; dropping them\|line(s) dropped' || true)
	if [ -z "$lines" ]; then
		say "    $id: nothing"
	else
		say "    $id:"
		say "$lines" | head -n 40 | sed 's/^/        /'
		n=$(say "$lines" | wc -l)
		[ "$n" -le 40 ] || say "        ... and $((n - 40)) more line(s)"
	fi
done
if grep -q 'is not taking lines' "$tmp"/mon/*.log; then
	say "    (the system log /dev/log was not taking lines here: the monitors said so and dropped them, as documented)"
fi

if [ "$false_exits" -ne 0 ]; then
	for id in $monitors; do
		[ -e "$tmp/mon/$id.exited" ] || continue
		step "FALSE EXIT of $id: its standard error"
		sed 's/^/    /' "$tmp/mon/$id.log"
		step "$id --disp after the exit"
		sed 's/^/    /' "$tmp/mon/$id.disp"
	done
	step "nginx's error log (last 40 lines)"
	tail -n 40 "$tmp/nginx/error.log" 2>/dev/null | sed 's/^/    /' || true
	step "postfix's mail log (warnings and errors, last 40)"
	grep -i 'warning\|error\|fatal\|panic' "$tmp/postfix/maillog" 2>/dev/null | tail -n 40 | sed 's/^/    /' || true
fi

say
if [ "$false_exits" -ne 0 ]; then
	say "soak: FAILED: $false_exits false exit(s) in $soak_seconds s against healthy, loaded servers"
	exit 1
elif [ "$stalled" -ne 0 ]; then
	say "soak: FAILED: $stalled monitor(s) made fewer than $min_probe_share% of the probes due"
	exit 1
else
	say "soak: OK: $total_load_probes probes under load in $soak_seconds s, $total_failures failure(s), 0 false exits"
fi
