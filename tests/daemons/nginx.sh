#!/bin/sh
# A private nginx for the real-daemon tests (tests/real_daemons.rs): its own
# configuration, pid file, logs and temporary paths under DIR, listening on
# 127.0.0.1:PORT only. The system's nginx, its configuration and its logs
# are never touched (-c and -e name files in DIR, -p makes DIR the prefix).
#
#	nginx.sh available		exit 0 when nginx can run here, else
#					say why on stderr and exit 1
#	nginx.sh start DIR PORT		write DIR/nginx.conf, print the master's
#					PID, then become that master (exec, in
#					the foreground: `daemon off`); run it in
#					the background from a shell
#	nginx.sh freeze|thaw DIR	SIGSTOP / SIGCONT the master and workers
#	nginx.sh kill DIR		SIGKILL them, as a crash would
#	nginx.sh stop DIR		end them: SIGTERM, then SIGKILL
#	nginx.sh pids DIR		list the master's and workers' PIDs
#
# Every verb acts by PID on the master recorded by `start` (checked by its
# start time) and on the processes under it; see proc.sh.

set -eu

here=$(dirname "$0")
# shellcheck source-path=SCRIPTDIR source=proc.sh
. "$here/proc.sh"

usage() {
	echo "usage: $0 available | start DIR PORT | freeze|thaw|kill|stop|pids DIR" >&2
	exit 2
}

find_nginx() {
	nginx=$(command -v nginx 2>/dev/null || true)
	if [ -z "$nginx" ] && [ -x /usr/sbin/nginx ]; then
		nginx=/usr/sbin/nginx
	fi
	[ -n "$nginx" ]
}

verb_available() {
	find_nginx || { echo "nginx is not installed (apt-get install nginx-light)" >&2; exit 1; }
}

verb_start() {
	dir=$1
	port=$2
	check_port "$port"
	find_nginx || { echo "$0: nginx is not installed" >&2; exit 1; }
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	# As root the master hands the workers to an unprivileged user (the
	# directive is ignored, with a warning, when not root).
	user_line=
	if [ "$(id -u)" -eq 0 ]; then
		user_line='user nobody nogroup;'
	fi
	cat >"$dir/nginx.conf" <<EOF
# Written by tests/daemons/nginx.sh for one test; removed with its directory.
$user_line
daemon off;
master_process on;
worker_processes 1;
pid $dir/nginx.pid;
lock_file $dir/nginx.lock;
error_log $dir/error.log info;
events {
	worker_connections 64;
}
http {
	access_log $dir/access.log;
	client_body_temp_path $dir/body;
	proxy_temp_path $dir/proxy;
	fastcgi_temp_path $dir/fastcgi;
	uwsgi_temp_path $dir/uwsgi;
	scgi_temp_path $dir/scgi;
	server {
		listen 127.0.0.1:$port;
		server_name localhost;
		location / {
			return 200 "ok\n";
		}
	}
}
EOF
	record_master "$dir"
	echo "$$"
	exec "$nginx" -e "$dir/error.log" -p "$dir/" -c "$dir/nginx.conf" \
		</dev/null >>"$dir/daemon.log" 2>&1
}

run_verb "$@"
