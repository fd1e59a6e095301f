#!/bin/sh
# Build the RPM of ismon from this tree with contrib/rpm/ismon.spec.
#
# Packages the static binaries that `make` (or `make i686`) left in build/:
# run that first. The architecture comes from build/TARGET (x86_64 or
# i686). Everything rpmbuild writes stays under build/rpm/; the package
# ends up in build/rpm/RPMS/ARCH/ and its name is printed last.
#
# usage: sh contrib/rpm/build.sh
# needs: rpmbuild (Debian: apt-get install rpm), GNU tar

set -eu

cd "$(dirname "$0")/../.."

command -v rpmbuild >/dev/null 2>&1 || {
	echo "rpm: rpmbuild not installed (Debian: apt-get install rpm)" >&2
	exit 1
}
for p in clp_httpmon clp_smtpmon; do
	[ -x "build/$p" ] || {
		echo "rpm: no build/$p: run make (or make i686) first" >&2
		exit 1
	}
done
target=$(cat build/TARGET)
arch=${target%%-*}
case $arch in
x86_64 | i686) ;;
*)
	echo "rpm: build/TARGET names $target: only x86_64 and i686 are packaged" >&2
	exit 1
	;;
esac

version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -n 1)
[ -n "$version" ] || {
	echo "rpm: no version in Cargo.toml" >&2
	exit 1
}

top=$(pwd)/build/rpm
rm -rf "$top"
mkdir -p "$top/SOURCES" "$top/SPECS" "$top/BUILD" "$top/RPMS" "$top/SRPMS"
tar -czf "$top/SOURCES/ismon-$version.tar.gz" \
	--owner=0 --group=0 --transform "s,^,ismon-$version/," \
	Cargo.toml Cargo.lock Makefile README.md src scripts man contrib \
	build/TARGET build/clp_httpmon build/clp_smtpmon

rpmbuild -bb --target "$arch" \
	--define "_topdir $top" \
	--define "ismon_version $version" \
	contrib/rpm/ismon.spec

ls "$top/RPMS/$arch/ismon-$version-"*".$arch.rpm"
