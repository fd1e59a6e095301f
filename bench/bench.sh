#!/bin/bash
# make bench: measure clp_httpmon and clp_smtpmon against the targets of the
# benchmark issue and write the table to bench/RESULTS.md (also printed).
#
#	bash bench/bench.sh		the full run (about 7 minutes)
#	BENCH_QUICK=1 bash bench/bench.sh	a shorter run for development:
#					fewer probes, runs and monitors
#
# Runs as root on Debian (12): installs what it measures with and against
# when missing (nginx-light, postfix, monitoring-plugins-basic for check_http
# and check_smtp, haproxy, curl, valgrind, strace, python3), builds the release
# binaries (make) and the in-process probe loop (examples/probe_loop.rs),
# then hands over to bench/bench.py, which does the measuring. Servers are
# private instances on 127.0.0.1 (tests/daemons/), at ports the kernel
# picks; every process started is ended by PID, every wait is bounded.
#
# When the host has a system log (/dev/log), the run is moved into a private
# mount namespace where /dev/log is an empty file: the hundreds of monitors
# it starts and fails must not reach the host's log (nor its log watchers).

set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

say() { printf 'bench: %s\n' "$*"; }

# A private /dev/log first, before anything is started.
if [ -e /dev/log ] && [ -z "${ISMON_BENCH_NS:-}" ]; then
	if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null 2>&1 &&
		unshare -m --propagation private true 2>/dev/null; then
		ISMON_BENCH_NS=1 exec unshare -m --propagation private bash "$0" "$@"
	fi
	say "WARNING: cannot make a private mount namespace: the monitors' messages go to the host's system log"
fi

work=$(mktemp -d /tmp/ismon-bench.XXXXXX)
chmod 0755 "$work"
cleanup() {
	if [ -n "${ISMON_BENCH_NS:-}" ]; then umount /dev/log 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

if [ -n "${ISMON_BENCH_NS:-}" ]; then
	: >"$work/devlog"
	mount --bind "$work/devlog" /dev/log
	say "private mount namespace: /dev/log is an empty file, messages are dropped"
fi

# ------------------------------------------------------------------ tools
export DEBIAN_FRONTEND=noninteractive
need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "$1" ]; }
have nginx || have /usr/sbin/nginx || need+=(nginx-light)
have /usr/lib/postfix/sbin/master || need+=(postfix)
have /usr/lib/nagios/plugins/check_http || need+=(monitoring-plugins-basic)
have haproxy || have /usr/sbin/haproxy || need+=(haproxy)
have curl || need+=(curl)
have valgrind || need+=(valgrind)
have callgrind_annotate || need+=(valgrind)
have strace || need+=(strace)
have python3 || need+=(python3)
have make || need+=(make)
have /usr/bin/time || need+=(time)
have nm || need+=(binutils)
if [ "${#need[@]}" -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		say "missing: ${need[*]}; run as root (or install them) first" >&2
		exit 1
	fi
	say "installing: ${need[*]}"
	# postfix asks what kind of mail system this is: none, the benchmark
	# configures its own instances; and no package starts a system service.
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	policy_rc=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 0755 /usr/sbin/policy-rc.d
		policy_rc=yes
	fi
	apt_install() { apt-get install -y -q --no-install-recommends "${need[@]}"; }
	apt_install || { apt-get update -q && apt_install; } || {
		[ -z "$policy_rc" ] || rm -f /usr/sbin/policy-rc.d
		say "could not install ${need[*]}" >&2
		exit 1
	}
	[ -z "$policy_rc" ] || rm -f /usr/sbin/policy-rc.d
fi
if [ "$(id -u)" -ne 0 ]; then
	say "must run as root (postfix's master, strace -p)" >&2
	exit 1
fi

# ------------------------------------------------------------------ build
say "make (release binaries into build/)"
make
target=$(cat build/TARGET)
# The probe loop, and an unstripped twin of each binary for symbol names in
# callgrind and nm: the same build as make's (same code: bench.py checks that
# .text is the same size), kept apart in target/bench.
say "scripts/build.sh --twin target/bench ${target%%-*} (unstripped, with probe_loop)"
sh scripts/build.sh --twin target/bench "${target%%-*}" >/dev/null

args=(--root "$root" --work "$work" --twin "target/bench/$target/release")
if [ -n "${BENCH_QUICK:-}" ] && [ "${BENCH_QUICK}" != 0 ]; then
	args+=(--quick)
fi
python3 -B bench/bench.py "${args[@]}"
