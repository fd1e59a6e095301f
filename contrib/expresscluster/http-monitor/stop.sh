#!/bin/sh
#
# stop.sh - stop script of the exec resource that runs clp_httpmon
#
# Stops the monitor that start.sh runs, so that it never outlives its
# resource.  Run it synchronously.  See README.md in this directory and
# clp_httpmon(8).

PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH

# Set by the cluster: CLP_EVENT is START or FAILOVER, CLP_DISK SUCCESS or
# FAILURE, CLP_SERVER HOME (the group's primary server) or OTHER.
CLP_EVENT=${CLP_EVENT:-}
CLP_DISK=${CLP_DISK:-}
CLP_SERVER=${CLP_SERVER:-}

# ---- settings: edit these -----------------------------------------------
MON_ID=httpwatch    # the same identifier as in start.sh
STOP_WAIT=10        # seconds to wait for the monitor to end (1 to 10000);
                    # keep it below the stop script's timeout in the cluster
# --------------------------------------------------------------------------

# Stop the monitor.  An identifier that is not running is not an error
# (exit 0), so this is safe to call whether or not start.sh started it.
stop_monitor() {
	date +"%Y/%m/%d %T"
	echo "clp_httpmon stop"
	clp_httpmon "$MON_ID" --stop "$STOP_WAIT"
	status=$?
	if [ "$status" -ne 0 ]; then
		# 3: still running after STOP_WAIT seconds (event 15);
		# 2: MON_ID or STOP_WAIT is invalid.
		echo "clp_httpmon $MON_ID --stop failed with exit status $status"
	fi
}

# The monitor is stopped on every path, also when the disk is reported
# as failed: a monitor left running would hold its identifier and make
# the next start of the group on this node fail.
if [ "$CLP_EVENT" = "START" ]; then
	if [ "$CLP_DISK" = "SUCCESS" ]; then
		echo "NORMAL1"
		if [ "$CLP_SERVER" = "HOME" ]; then
			echo "NORMAL2"
		else
			echo "ON_OTHER1"
		fi
	else
		echo "ERROR_DISK from START"
	fi
	stop_monitor
elif [ "$CLP_EVENT" = "FAILOVER" ]; then
	if [ "$CLP_DISK" = "SUCCESS" ]; then
		echo "FAILOVER1"
		if [ "$CLP_SERVER" = "HOME" ]; then
			echo "FAILOVER2"
		else
			echo "ON_OTHER2"
		fi
	else
		echo "ERROR_DISK from FAILOVER"
	fi
	stop_monitor
else
	# Not run by the cluster: still stop the monitor, for a stop by hand.
	echo "NO_CLP"
	stop_monitor
fi
echo "EXIT"
# Always 0, as in the guide's template: a monitor that would not stop is
# logged above (event 15) rather than turned into a failed deactivation.
exit 0
