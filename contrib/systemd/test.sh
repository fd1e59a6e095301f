#!/bin/sh
# Check the unit templates in contrib/systemd with `systemd-analyze verify`,
# as instances (clp_httpmon@web1, clp_smtpmon@mail1) installed in a scratch
# root directory: the system's own units (for the targets they refer to),
# stand-ins for /usr/sbin/clp_httpmon and clp_smtpmon, and an
# /etc/ismon/ID.conf each. systemd need not be running. Any message from
# systemd-analyze (an unknown key, a value it cannot parse) is a failure:
# it exits 0 for those.
#
# Without systemd-analyze it prints SKIPPED and exits 0, unless CI=true:
# then it fails.
#
# usage: sh contrib/systemd/test.sh

set -u

here=$(cd "$(dirname "$0")" && pwd) || exit 1

if ! command -v systemd-analyze >/dev/null 2>&1; then
	if [ "${CI:-}" = true ]; then
		echo "FAILED: systemd-analyze not installed (CI=true: it must be; Debian: systemd)" >&2
		exit 1
	fi
	echo "SKIPPED: systemd-analyze not installed"
	exit 0
fi

sysunits=
for d in /usr/lib/systemd/system /lib/systemd/system; do
	if [ -f "$d/multi-user.target" ]; then
		sysunits=$d
		break
	fi
done
if [ -z "$sysunits" ]; then
	echo "FAILED: no system unit directory with multi-user.target" >&2
	exit 1
fi

scratch=$(mktemp -d) || exit 1
trap 'rm -rf "$scratch"' EXIT
trap 'exit 1' HUP INT TERM
root=$scratch/root
mkdir -p "$root/usr/lib/systemd/system" "$root/etc/systemd/system" \
	"$root/usr/sbin" "$root/etc/ismon"
cp -R "$sysunits/." "$root/usr/lib/systemd/system/"
for prog in clp_httpmon clp_smtpmon; do
	printf '#!/bin/sh\nexit 0\n' >"$root/usr/sbin/$prog"
	chmod 0755 "$root/usr/sbin/$prog"
	cp "$here/$prog@.service" "$root/etc/systemd/system/"
done
echo 'ISMON_ARGS="-s 127.0.0.1 -n 80 -i 60"' >"$root/etc/ismon/web1.conf"
echo 'ISMON_ARGS="-s 127.0.0.1 -n 25 -i 60"' >"$root/etc/ismon/mail1.conf"

systemd-analyze verify --man=no --root="$root" \
	clp_httpmon@web1.service clp_smtpmon@mail1.service >"$scratch/out" 2>&1
rc=$?
if [ "$rc" -ne 0 ] || [ -s "$scratch/out" ]; then
	cat "$scratch/out" >&2
	echo "FAILED: systemd-analyze verify (exit $rc)" >&2
	exit 1
fi
echo "ok: systemd-analyze verify clp_httpmon@web1.service clp_smtpmon@mail1.service"
exit 0
