# shellcheck shell=sh
# Sourced by nginx.sh and smtpd.sh: the verbs they share, which act on
# exactly the processes one private instance started, by PID.
#
# `start` (in each script) writes "PID STARTTIME" of the instance's master
# to DIR/master.pid and then execs into the master, so the master is the
# caller's own child: the caller reaps it, and until then its PID cannot be
# reused. Every other verb finds the master there, checks that the process
# with that PID still has that start time (field 22 of /proc/PID/stat), and
# finds the master's descendants (workers, smtpd) through the PPID fields
# of /proc/*/stat: no pgrep, no process names, nothing but this tree.

set -eu

# Sets st_state, st_ppid and st_start from /proc/$1/stat; false when the
# process is gone.
read_stat() {
	st_line=
	{ read -r st_line <"/proc/$1/stat"; } 2>/dev/null || return 1
	# The command name, in parentheses, may hold spaces and parentheses:
	# the fields that matter come after its last ')'.
	st_rest=${st_line##*) }
	set -f
	# shellcheck disable=SC2086 # split into fields on purpose
	set -- $st_rest
	set +f
	[ "$#" -ge 20 ] || return 1
	st_state=$1
	st_ppid=$2
	st_start=${20}
}

# True when PID $1 is running (not a zombie) and, when $2 is given, is the
# process that started at $2.
alive() {
	read_stat "$1" || return 1
	case $st_state in Z | X | x) return 1 ;; esac
	[ -z "${2:-}" ] || [ "$st_start" = "$2" ]
}

# Prints "PID STARTTIME" of $1 and of every descendant of it, $1 first.
tree() {
	for st_path in /proc/[0-9]*/stat; do
		st_pid=${st_path#/proc/}
		st_pid=${st_pid%/stat}
		if read_stat "$st_pid"; then
			printf '%s %s %s\n' "$st_pid" "$st_ppid" "$st_start"
		fi
	done | awk -v root="$1" '
		{ parent[$1] = $2; start[$1] = $3 }
		END {
			if (!(root in parent)) exit
			member[root] = 1
			do {
				grown = 0
				for (p in parent)
					if (!(p in member) && (parent[p] in member)) {
						member[p] = 1
						grown = 1
					}
			} while (grown)
			print root, start[root]
			for (p in member) if (p != root) print p, start[p]
		}'
}

# Sets master and master_start from DIR/master.pid; false when the master
# that file names is no longer running.
find_master() {
	master=
	master_start=
	[ -r "$1/master.pid" ] || return 1
	read -r master master_start <"$1/master.pid" || return 1
	case $master in '' | *[!0-9]*) return 1 ;; esac
	alive "$master" "$master_start"
}

# Records the running master of this shell ($$, which the caller then
# execs into) in DIR/master.pid.
record_master() {
	read_stat $$ || { echo "$0: cannot read /proc/$$/stat" >&2; exit 1; }
	printf '%s %s\n' "$$" "$st_start" >"$1/master.pid"
}

# Sends signal $2 to each "PID STARTTIME" line of $1 that is still that
# process.
signal_list() {
	printf '%s\n' "$1" | while read -r sl_pid sl_start; do
		if [ -n "$sl_pid" ] && alive "$sl_pid" "$sl_start"; then
			kill -s "$2" "$sl_pid" 2>/dev/null || true
		fi
	done
}

# True when none of the "PID STARTTIME" lines of $1 is running.
all_gone() {
	printf '%s\n' "$1" | {
		while read -r ag_pid ag_start; do
			if [ -n "$ag_pid" ] && alive "$ag_pid" "$ag_start"; then
				exit 1
			fi
		done
		exit 0
	}
}

# Polls all_gone for up to $2 tenths of a second.
wait_gone() {
	wg_left=$2
	while ! all_gone "$1"; do
		[ "$wg_left" -gt 0 ] || return 1
		wg_left=$((wg_left - 1))
		sleep 0.1
	done
}

# The instance's tree, taken with the master stopped so that it cannot
# start a new process between the listing and the signal that follows.
frozen_tree() {
	kill -s STOP "$master"
	tree "$master"
}

# freeze DIR: SIGSTOP the master, then every process under it. What
# accepts and answers (an nginx worker, a postfix smtpd) stops too; the
# listening socket's backlog still completes TCP handshakes.
verb_freeze() {
	find_master "$1" || { echo "$0 freeze: no running master in $1" >&2; return 1; }
	procs=$(frozen_tree)
	signal_list "$procs" STOP
	printf '%s\n' "$procs" | cut -d' ' -f1
}

# thaw DIR: SIGCONT to the processes under the master, then to the master.
verb_thaw() {
	find_master "$1" || return 0
	procs=$(frozen_tree)
	signal_list "$procs" CONT
}

# kill DIR: SIGKILL the master and every process under it, as a crash
# would; waits (bounded) until they are gone.
verb_kill() {
	find_master "$1" || { echo "$0 kill: no running master in $1" >&2; return 1; }
	procs=$(frozen_tree)
	signal_list "$procs" KILL
	wait_gone "$procs" 50 || { echo "$0 kill: still running: $procs" >&2; return 1; }
}

# stop DIR: SIGTERM to the whole tree (continued, should it be stopped),
# up to 10 s to end, then SIGKILL to what is left of it. Nothing to do
# when the master has already gone.
verb_stop() {
	find_master "$1" || return 0
	procs=$(frozen_tree)
	signal_list "$procs" TERM
	signal_list "$procs" CONT
	if ! wait_gone "$procs" 100; then
		signal_list "$procs" KILL
		wait_gone "$procs" 50 || { echo "$0 stop: still running: $procs" >&2; return 1; }
	fi
}

# pids DIR: the master and the processes under it, one PID a line.
verb_pids() {
	find_master "$1" || return 0
	tree "$master" | cut -d' ' -f1
}

# Runs a shared verb: VERB DIR.
shared_verb() {
	[ "$#" -eq 2 ] || usage
	case $1 in
	freeze) verb_freeze "$2" ;;
	thaw) verb_thaw "$2" ;;
	kill) verb_kill "$2" ;;
	stop) verb_stop "$2" ;;
	pids) verb_pids "$2" ;;
	*) usage ;;
	esac
}

# The command line of a server script, which defines usage, verb_available
# and verb_start (START DIR PORT) and leaves the other verbs to this file.
run_verb() {
	[ "$#" -ge 1 ] || usage
	case $1 in
	available)
		[ "$#" -eq 1 ] || usage
		verb_available
		;;
	start)
		[ "$#" -eq 3 ] || usage
		verb_start "$2" "$3"
		;;
	*) shared_verb "$@" ;;
	esac
}

# Checks START's port argument.
check_port() {
	case $1 in
	'' | *[!0-9]*) echo "$0: bad port: $1" >&2; exit 2 ;;
	esac
	if [ "$1" -lt 1 ] || [ "$1" -gt 65535 ]; then
		echo "$0: bad port: $1" >&2
		exit 2
	fi
}
