#!/bin/sh
# Build a Debian package of ismon with dpkg-deb, next to the RPM.
#
# Packages the static binaries that `make` (or `make i686`) left in build/
# (run that first), their man pages (gzipped, as `make install` puts
# them), the Pacemaker OCF agent as ocf:ismon:ismon, the systemd unit
# templates (installed, not enabled), and the documentation. The architecture comes from build/TARGET: x86_64 is
# amd64, i686 is i386. Everything it writes stays under build/deb/; the
# package is build/deb/ismon_VERSION_ARCH.deb, its name printed last.
# When lintian is installed it checks the package and fails on errors.
#
# usage: sh contrib/deb/build.sh
# needs: dpkg-deb (dpkg), gzip; optional: lintian

set -eu

cd "$(dirname "$0")/../.."

command -v dpkg-deb >/dev/null 2>&1 || {
	echo "deb: dpkg-deb not installed (Debian: apt-get install dpkg)" >&2
	exit 1
}
for p in clp_httpmon clp_smtpmon; do
	[ -x "build/$p" ] || {
		echo "deb: no build/$p: run make (or make i686) first" >&2
		exit 1
	}
done
target=$(cat build/TARGET)
case ${target%%-*} in
x86_64) arch=amd64 ;;
i686) arch=i386 ;;
*)
	echo "deb: build/TARGET names $target: only x86_64 and i686 are packaged" >&2
	exit 1
	;;
esac

version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -n 1)
[ -n "$version" ] || {
	echo "deb: no version in Cargo.toml" >&2
	exit 1
}

out=build/deb
root=$out/ismon_${version}_$arch
rm -rf "$out"
mkdir -p "$root/DEBIAN"
# Files as a package holds them: 0755 directories, 0644 files, 0755
# programs; dpkg-deb --root-owner-group makes them root's.
umask 022

make -s install DESTDIR="$root" PREFIX=/usr >/dev/null
install -d -m 0755 "$root/usr/lib/ocf/resource.d/ismon" "$root/usr/share/doc/ismon"
install -m 0755 contrib/ocf/ismon "$root/usr/lib/ocf/resource.d/ismon/ismon"
install -m 0644 README.md "$root/usr/share/doc/ismon/README.md"
install -m 0644 contrib/ocf/README.md "$root/usr/share/doc/ismon/README.ocf.md"
# The systemd unit templates, as the RPM has them: installed, never
# enabled or started (a cluster manager starts a monitor itself). Debian 12
# keeps packaged units in /lib/systemd/system.
install -d -m 0755 "$root/lib/systemd/system"
install -m 0644 contrib/systemd/clp_httpmon@.service contrib/systemd/clp_smtpmon@.service \
	"$root/lib/systemd/system/"
install -m 0644 contrib/systemd/README.md "$root/usr/share/doc/ismon/README.systemd.md"

# The binaries are static PIEs: ELF type DYN with no needed libraries,
# which lintian takes for a shared library.
install -d -m 0755 "$root/usr/share/lintian/overrides"
cat >"$root/usr/share/lintian/overrides/ismon" <<'EOF'
# Static PIE executables (no libraries to depend on), not shared libraries.
ismon: shared-library-lacks-prerequisites [usr/sbin/clp_httpmon]
ismon: shared-library-lacks-prerequisites [usr/sbin/clp_smtpmon]
EOF
chmod 0644 "$root/usr/share/lintian/overrides/ismon"

cat >"$root/usr/share/doc/ismon/copyright" <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: ismon
Comment: clp_httpmon and clp_smtpmon, free re-creations of the commands of
 the same names in ExpressCluster's Internet Server Agent.

Files: *
Copyright: 2026 the ismon authors
License: BSD-2-Clause
 Redistribution and use in source and binary forms, with or without
 modification, are permitted provided that the following conditions are
 met:
 .
 1. Redistributions of source code must retain the above copyright
    notice, this list of conditions and the following disclaimer.
 .
 2. Redistributions in binary form must reproduce the above copyright
    notice, this list of conditions and the following disclaimer in the
    documentation and/or other materials provided with the distribution.
 .
 THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS
 IS" AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED
 TO, THE IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A
 PARTICULAR PURPOSE ARE DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT
 HOLDER OR CONTRIBUTORS BE LIABLE FOR ANY DIRECT, INDIRECT, INCIDENTAL,
 SPECIAL, EXEMPLARY, OR CONSEQUENTIAL DAMAGES (INCLUDING, BUT NOT LIMITED
 TO, PROCUREMENT OF SUBSTITUTE GOODS OR SERVICES; LOSS OF USE, DATA, OR
 PROFITS; OR BUSINESS INTERRUPTION) HOWEVER CAUSED AND ON ANY THEORY OF
 LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY, OR TORT (INCLUDING
 NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE OF THIS
 SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.
EOF

# A native package's changelog, dated by the last commit (or the
# Cargo.toml) so that two builds of one tree give the same package.
stamp=$(git log -1 --format=%ct 2>/dev/null || stat -c %Y Cargo.toml)
when=$(LC_ALL=C date -u -d "@$stamp" '+%a, %d %b %Y %H:%M:%S +0000')
{
	printf 'ismon (%s) unstable; urgency=medium\n\n' "$version"
	printf '  * Package of the static clp_httpmon and clp_smtpmon, their man\n'
	printf '    pages and the Pacemaker OCF agent ocf:ismon:ismon.\n\n'
	printf ' -- ismon authors <ismon@example.org>  %s\n' "$when"
} | gzip -9n >"$root/usr/share/doc/ismon/changelog.gz"
chmod 0644 "$root/usr/share/doc/ismon/changelog.gz"

size=$(du -k -s --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<EOF
Package: ismon
Version: $version
Architecture: $arch
Maintainer: ismon authors <ismon@example.org>
Installed-Size: $size
Section: admin
Priority: optional
Suggests: pacemaker, resource-agents
Description: HTTP and SMTP server monitors that exit when their server fails
 clp_httpmon and clp_smtpmon watch an HTTP or SMTP server for a
 high-availability cluster. A cluster resource starts one; it probes its
 server at a fixed interval and, once the server has failed through its
 retries, logs why and exits, so that the cluster fails the service over.
 The options, control verbs and messages are those of the commands of the
 same names in ExpressCluster's Internet Server Agent. The binaries are
 static. The package also holds the Pacemaker agent ocf:ismon:ismon
 and the systemd unit templates clp_httpmon@.service and
 clp_smtpmon@.service, which it does not enable.
EOF
(cd "$root" && find usr lib -type f -exec md5sum {} + | LC_ALL=C sort -k 2) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"
# New or removed unit templates: let a running systemd see the change.
# Nothing is enabled, started or stopped.
for script in postinst postrm; do
	cat >"$root/DEBIAN/$script" <<'EOF'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
EOF
	chmod 0755 "$root/DEBIAN/$script"
done

SOURCE_DATE_EPOCH=$stamp dpkg-deb --root-owner-group -Zxz --build "$root" "$out/" >/dev/null
deb=$out/ismon_${version}_$arch.deb
[ -f "$deb" ] || {
	echo "deb: dpkg-deb did not write $deb" >&2
	exit 1
}

if command -v lintian >/dev/null 2>&1; then
	# Errors fail the build; warnings and the rest are shown.
	lintian_out=$(lintian --tag-display-limit 0 "$deb" 2>&1) || true
	[ -n "$lintian_out" ] && printf '%s\n' "$lintian_out" >&2
	if printf '%s\n' "$lintian_out" | grep -q '^E: '; then
		echo "deb: lintian found errors in $deb" >&2
		exit 1
	fi
	echo "deb: lintian: no errors" >&2
else
	echo "deb: lintian not installed: the package is not checked" >&2
fi
echo "$deb"
