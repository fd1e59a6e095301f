#!/bin/sh
# A private postfix for the real-daemon tests (tests/real_daemons.rs): one
# smtpd service on 127.0.0.1:PORT, with its own configuration directory,
# queue directory, data directory (master.lock), pid file and mail log, all
# under DIR. The system's postfix is never touched: its main.cf is not read
# (master -c names DIR/conf), no postfix(1), postmulti or post-install is
# run, nothing is logged to the system log (maillog_file, served by a
# private postlogd).
#
# Postfix's master is run directly, as root, in the foreground (-d):
# postfix(1) would accept a non-default configuration directory only when
# the default main.cf lists it in alternate_config_directories. The master
# must be root (it binds and drops to mail_owner = postfix per service).
#
#	smtpd.sh available		exit 0 when postfix can run here, else
#					say why on stderr and exit 1
#	smtpd.sh start DIR PORT		write the configuration under DIR, print
#					the master's PID, then become that master
#					(exec, in the foreground); run it in the
#					background from a shell
#	smtpd.sh freeze|thaw DIR	SIGSTOP / SIGCONT the master and every
#					process under it (smtpd, postlogd)
#	smtpd.sh kill DIR		SIGKILL them, as a crash would
#	smtpd.sh stop DIR		end them: SIGTERM, then SIGKILL
#	smtpd.sh pids DIR		list their PIDs
#
# Every verb acts by PID on the master recorded by `start` (checked by its
# start time) and on the processes under it; see proc.sh.

set -eu

here=$(dirname "$0")
# shellcheck source-path=SCRIPTDIR source=proc.sh
. "$here/proc.sh"

master_bin=/usr/lib/postfix/sbin/master

usage() {
	echo "usage: $0 available | start DIR PORT | freeze|thaw|kill|stop|pids DIR" >&2
	exit 2
}

verb_available() {
	if [ ! -x "$master_bin" ]; then
		echo "postfix is not installed (no $master_bin; apt-get install postfix)" >&2
		exit 1
	fi
	if ! id postfix >/dev/null 2>&1; then
		echo "postfix is installed but its user 'postfix' does not exist" >&2
		exit 1
	fi
	if [ "$(id -u)" -ne 0 ]; then
		echo "postfix's master must run as root" >&2
		exit 1
	fi
}

verb_start() {
	dir=$1
	port=$2
	check_port "$port"
	verb_available
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	# The services run as postfix: they must reach DIR.
	chmod 0755 "$dir"
	mkdir -p "$dir/conf" "$dir/queue/pid" "$dir/queue/public" \
		"$dir/queue/private" "$dir/data"
	chown postfix "$dir/data" "$dir/queue/public" "$dir/queue/private"
	chmod 0700 "$dir/queue/private"
	# Only what a greeting, NOOP and QUIT need: no lookups that would call
	# services this instance does not run (proxymap for the local
	# recipients, anvil for connection counts), no reverse DNS of the client.
	cat >"$dir/conf/main.cf" <<EOF
# Written by tests/daemons/smtpd.sh for one test; removed with its directory.
compatibility_level = 3.6
queue_directory = $dir/queue
data_directory = $dir/data
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = ismon-test.invalid
mydestination =
alias_maps =
alias_database =
local_recipient_maps =
smtpd_client_connection_count_limit = 0
smtpd_peername_lookup = no
biff = no
maillog_file_prefixes = $dir
maillog_file = $dir/maillog
EOF
	cat >"$dir/conf/master.cf" <<EOF
# service type private unpriv chroot wakeup maxproc command
127.0.0.1:$port inet n - n - 10 smtpd
postlog unix-dgram n - n - 1 postlogd
EOF
	# Postfix waits, in steps of 300 ms, until main.cf is older than a
	# second (it will not read a file that may still be being written):
	# date them back to the binary's time instead.
	touch -r "$master_bin" "$dir/conf/main.cf" "$dir/conf/master.cf"
	record_master "$dir"
	echo "$$"
	exec "$master_bin" -c "$dir/conf" -d </dev/null >>"$dir/daemon.log" 2>&1
}

run_verb "$@"
