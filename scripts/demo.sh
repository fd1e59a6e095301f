#!/bin/bash
# make demo: watch clp_httpmon and clp_smtpmon detect servers that stop.
#
# Builds the release binaries (make) and the throwaway servers of
# examples/demo_server.rs, starts one HTTP and one SMTP server on 127.0.0.1
# with ports the kernel chooses, and a monitor for each (1 s interval, 2
# retries, 1 s response timeout) with a private state directory. After a
# couple of probes it shows --disp of both, stops the servers and waits,
# bounded, for both monitors to exit 1, then shows what they logged.
# Everything it started is ended by PID on the way out, also on failure
# and Ctrl-C. Exit 0 when both monitors exited 1 in time.

set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

interval=1
retries=2
timeout=1
# Failure detected at most retries × max(interval, timeout) + timeout after
# the first failed probe starts, and that probe starts at most one interval
# after the server stops; the rest is margin for a loaded machine.
exit_deadline=$((retries * interval + timeout + interval + 10))

tmp=
started=()   # PIDs of what this script started and has not yet reaped

step() { printf '\n==> %s\n' "$*"; }
say() { printf '    %s\n' "$*"; }
fail() {
	printf '\ndemo: FAILED: %s\n' "$*" >&2
	exit 1
}

forget() {
	local pid=$1 i
	for i in "${!started[@]}"; do
		if [ "${started[$i]}" = "$pid" ]; then unset 'started[i]'; fi
	done
}

cleanup() {
	local status=$? pid
	trap - EXIT INT TERM
	for pid in "${started[@]}"; do
		if alive "$pid"; then
			kill "$pid" 2>/dev/null || true
			say "cleanup: sent SIGTERM to PID $pid"
			if ! wait_until 5 "PID $pid to end" exited "$pid"; then
				kill -KILL "$pid" 2>/dev/null || true
			fi
		fi
		wait "$pid" 2>/dev/null || true
	done
	if [ -n "$tmp" ]; then rm -rf "$tmp"; fi
	exit "$status"
}
trap cleanup EXIT
trap 'printf "\ndemo: interrupted\n" >&2; exit 130' INT TERM

# alive PID: the process runs (a zombie not yet reaped does not count).
alive() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}
exited() { ! alive "$1"; }

# wait_until SECONDS WHAT COMMAND...: poll COMMAND until it succeeds.
wait_until() {
	local seconds=$1 what=$2
	local deadline=$((SECONDS + seconds + 1))
	shift 2
	until "$@"; do
		if ((SECONDS >= deadline)); then
			say "timed out after $seconds s waiting for $what" >&2
			return 1
		fi
		sleep 0.1
	done
}

has_line() { [ -s "$1" ] && [ "$(wc -l <"$1")" -ge 1 ]; }

# probes_done COMMAND ID N: the monitor's record counts N probes or more.
probes_done() {
	local n
	n=$("build/$1" "$2" --disp 2>/dev/null | sed -n 's/^probes: //p') || true
	[ -n "$n" ] && [ "$n" -ge "$3" ]
}

# probed_or_gone COMMAND ID N PID: N probes done, or no point waiting longer.
probed_or_gone() { probes_done "$1" "$2" "$3" || exited "$4"; }

# start_server PROTOCOL: start a demo server, set server_pid and server_port.
start_server() {
	local proto=$1
	"$demo_server" "$proto" 0 >"$tmp/$proto-server.port" 2>"$tmp/$proto-server.log" &
	server_pid=$!
	started+=("$server_pid")
	wait_until 5 "the $proto server's port" has_line "$tmp/$proto-server.port" ||
		fail "the $proto demo server did not start: $(cat "$tmp/$proto-server.log")"
	server_port=$(head -n 1 "$tmp/$proto-server.port")
	say "$proto server: PID $server_pid, listening on 127.0.0.1:$server_port"
}

# start_monitor COMMAND ID PORT [OPTIONS...]: start a monitor, set monitor_pid.
start_monitor() {
	local cmd=$1 id=$2 port=$3
	shift 3
	say "\$ build/$cmd $id -s 127.0.0.1 -n $port -i $interval -c $retries -r $timeout${*:+ $*} &"
	"build/$cmd" "$id" -s 127.0.0.1 -n "$port" -i "$interval" -c "$retries" -r "$timeout" "$@" \
		>"$tmp/$cmd.out" 2>&1 &
	monitor_pid=$!
	started+=("$monitor_pid")
	say "$cmd: PID $monitor_pid, messages captured in $tmp/$cmd.out"
}

# note_exits: record in exited_after[PID] when each monitor is first seen
# gone, in seconds since the servers were stopped; true once all are gone.
declare -A exited_after=()
note_exits() {
	local pid all_gone=0
	for pid in "$httpmon" "$smtpmon"; do
		if [ -z "${exited_after[$pid]:-}" ] && exited "$pid"; then
			exited_after[$pid]=$(elapsed "$servers_stopped")
		fi
		[ -n "${exited_after[$pid]:-}" ] || all_gone=1
	done
	return "$all_gone"
}

# reap PID NAME: collect the exit status of PID into rc, ending it if it
# still runs (that would be the bug this project must never have).
reap() {
	local pid=$1 name=$2
	if alive "$pid"; then
		say "$name is STILL RUNNING although its server is dead: stopping it" >&2
		kill "$pid" 2>/dev/null || true
	fi
	rc=0
	wait "$pid" || rc=$?
	forget "$pid"
	say "$name (PID $pid) exited with status $rc, ${exited_after[$pid]:-?} s after its server stopped"
}

elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

step "Building the release binaries (make)"
make --no-print-directory all
for cmd in clp_httpmon clp_smtpmon; do
	[ -x "build/$cmd" ] || fail "make left no build/$cmd"
done

step "Building the demo servers (cargo build --example demo_server)"
cargo build --example demo_server
demo_server=$root/target/debug/examples/demo_server

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ismon-demo.XXXXXX")
export ISMON_STATE_DIR=$tmp/state
say "private state directory: ISMON_STATE_DIR=$ISMON_STATE_DIR"

step "Starting an HTTP and an SMTP server on 127.0.0.1 (ports chosen by the kernel)"
start_server http
http_server=$server_pid http_port=$server_port
start_server smtp
smtp_server=$server_pid smtp_port=$server_port

step "Starting a monitor for each (interval $interval s, $retries retries, response timeout $timeout s)"
start_monitor clp_httpmon demo-http "$http_port"
httpmon=$monitor_pid
start_monitor clp_smtpmon demo-smtp "$smtp_port"
smtpmon=$monitor_pid

step "Waiting for two probes of each"
for pair in clp_httpmon:demo-http:$httpmon clp_smtpmon:demo-smtp:$smtpmon; do
	IFS=: read -r cmd id pid <<<"$pair"
	wait_until 15 "two probes by $cmd" probed_or_gone "$cmd" "$id" 2 "$pid" || true
	if ! probes_done "$cmd" "$id" 2; then
		if exited "$pid"; then say "$cmd is no longer running"; fi
		say "its messages:"
		sed 's/^/      /' "$tmp/$cmd.out"
		fail "$cmd did not probe its server"
	fi
	say "$cmd has probed its server twice"
done

for pair in clp_httpmon:demo-http clp_smtpmon:demo-smtp; do
	IFS=: read -r cmd id <<<"$pair"
	step "\$ $cmd $id --disp"
	"build/$cmd" "$id" --disp | sed 's/^/    /' || fail "$cmd $id --disp failed"
done

step "Stopping both servers (kill $http_server $smtp_server)"
servers_stopped=$EPOCHREALTIME
for pid in "$http_server" "$smtp_server"; do
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	forget "$pid"
done
say "servers stopped; each monitor should now fail $retries retries and exit 1"
say "(bound: retries x max(interval, timeout) + timeout = $((retries * interval + timeout)) s after its first failed probe)"

step "Waiting (at most $exit_deadline s) for the monitors to exit"
wait_until "$exit_deadline" "both monitors to exit" note_exits || true
reap "$httpmon" clp_httpmon
httpmon_rc=$rc
reap "$smtpmon" clp_smtpmon
smtpmon_rc=$rc

for cmd in clp_httpmon clp_smtpmon; do
	step "What $cmd logged (its standard error; the same lines go to /dev/log when a syslog daemon runs)"
	sed 's/^/    /' "$tmp/$cmd.out"
done

for pair in clp_httpmon:demo-http clp_smtpmon:demo-smtp; do
	IFS=: read -r cmd id <<<"$pair"
	step "\$ $cmd $id --disp   (after the exit: the record stays, stale)"
	disp_rc=0
	"build/$cmd" "$id" --disp | sed 's/^/    /' || disp_rc=$?
	say "(exit status $disp_rc)"
done

for proto in http smtp; do
	step "What the $proto server saw"
	sed 's/^/    /' "$tmp/$proto-server.log"
done

step "Result"
say "clp_httpmon exit status: $httpmon_rc (expected 1: server failed)"
say "clp_smtpmon exit status: $smtpmon_rc (expected 1: server failed)"
if [ "$httpmon_rc" != 1 ] || [ "$smtpmon_rc" != 1 ]; then
	fail "a monitor did not exit 1 after its server stopped"
fi
printf '\ndemo: OK: both monitors detected their stopped server and exited 1\n'
