#!/bin/sh
#
# start.sh - start script of the exec resource that runs clp_httpmon
#
# The monitor runs in the foreground of this script for as long as it
# monitors, and ends when the HTTP server has failed.  Configure the exec
# resource so that
#   - this start script runs asynchronously and the stop script synchronously;
#   - a PID monitor resource watches it and fails the group over;
#   - it depends on the resource that starts the HTTP server.
# See README.md in this directory and clp_httpmon(8).

PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH

# Set by the cluster: CLP_EVENT is START or FAILOVER, CLP_DISK SUCCESS or
# FAILURE, CLP_SERVER HOME (the group's primary server) or OTHER.
CLP_EVENT=${CLP_EVENT:-}
CLP_DISK=${CLP_DISK:-}
CLP_SERVER=${CLP_SERVER:-}

# ---- settings: edit these; MON_ID must be the same in stop.sh ----------
MON_ID=httpwatch    # identifier: letters, digits, _ and -, unique on the node
SERVER=127.0.0.1    # -s: an address keeps the time bound exact (clp_httpmon(8))
PORT=80             # -n
INTERVAL=60         # -i: seconds from one probe to the next
RETRIES=3           # -c: retries after a failed probe
TIMEOUT=10          # -r: seconds one probe may take
HTTP_VERSION=1.1    # -v: 1.0 or 1.1
URI=/               # -h: a path other than / also fails on 4xx and 5xx
# Beyond the guides (clp_httpmon(8)): empty is not given; uncomment to set.
RETRY_INTERVAL='' GRACE='' EXPECT='' HOST_HEADER='' CONTAINS=''
#RETRY_INTERVAL=5   # --retry-interval: while failing, probe every 5 s
#GRACE=120          # --grace: no failure counts until 120 s or a pass
#EXPECT=200-299,301 # --expect: the statuses that pass, also with URI /
#HOST_HEADER=www.example.com  # --host: the Host header, instead of SERVER
#CONTAINS="all is well"       # --contains: GET; the body must hold it
# A dead server ends the monitor within RETRIES x max(RETRY_INTERVAL,
# TIMEOUT) + TIMEOUT seconds after its first failed probe (RETRY_INTERVAL
# is INTERVAL when not set), plus at most GRACE at the start.
# --------------------------------------------------------------------------

# Run the monitor until it ends and return its exit status:
# 1 the server failed, 0 stopped by stop.sh, 2 bad settings above,
# 3 identifier already in use, 4 system error.
run_monitor() {
	set -- "$MON_ID" -s "$SERVER" -n "$PORT" -i "$INTERVAL" \
	    -c "$RETRIES" -r "$TIMEOUT" -v "$HTTP_VERSION" -h "$URI"
	if [ -n "$RETRY_INTERVAL" ]; then
		set -- "$@" --retry-interval "$RETRY_INTERVAL"
	fi
	if [ -n "$GRACE" ]; then
		set -- "$@" --grace "$GRACE"
	fi
	if [ -n "$EXPECT" ]; then
		set -- "$@" --expect "$EXPECT"
	fi
	if [ -n "$HOST_HEADER" ]; then
		set -- "$@" --host "$HOST_HEADER"
	fi
	if [ -n "$CONTAINS" ]; then
		set -- "$@" --contains "$CONTAINS"
	fi
	date +"%Y/%m/%d %T"
	echo "clp_httpmon start"
	clp_httpmon "$@"
	status=$?
	date +"%Y/%m/%d %T"
	echo "clp_httpmon ended with exit status $status"
	return "$status"
}

rc=0
if [ "$CLP_EVENT" = "START" ]; then
	if [ "$CLP_DISK" = "SUCCESS" ]; then
		echo "NORMAL1"
		if [ "$CLP_SERVER" = "HOME" ]; then
			echo "NORMAL2"
		else
			echo "ON_OTHER1"
		fi
		run_monitor
		rc=$?
	else
		# The monitor is not started; the PID monitor sees this script
		# end and treats it as a failure.
		echo "ERROR_DISK from START"
	fi
elif [ "$CLP_EVENT" = "FAILOVER" ]; then
	if [ "$CLP_DISK" = "SUCCESS" ]; then
		echo "FAILOVER1"
		if [ "$CLP_SERVER" = "HOME" ]; then
			echo "FAILOVER2"
		else
			echo "ON_OTHER2"
		fi
		run_monitor
		rc=$?
	else
		echo "ERROR_DISK from FAILOVER"
	fi
else
	# Not run by the cluster.
	echo "NO_CLP"
fi
echo "EXIT"
exit "$rc"
