#!/bin/sh
# Build clp_httpmon and clp_smtpmon as static, stripped release binaries for
# ARCH (x86_64 or i686) and copy them to build/, where `make install` and
# `make demo` take them; build/TARGET names the Rust target they were built for.
#
# musl first: a static musl binary runs on any Linux distribution and its
# resolver reads /etc/hosts and /etc/resolv.conf itself. When the musl target
# is missing and `rustup target add` cannot install it, fall back, loudly, to
# a static glibc build (-C target-feature=+crt-static).
#
# usage: scripts/build.sh [x86_64|i686]

set -eu

arch=${1:-x86_64}
case $arch in
x86_64 | i686) ;;
*)
	echo "usage: $0 [x86_64|i686]" >&2
	exit 2
	;;
esac

cd "$(dirname "$0")/.."
progs="clp_httpmon clp_smtpmon"
musl=$arch-unknown-linux-musl
gnu=$arch-unknown-linux-gnu

# A target is installed when its standard library is in the sysroot; this
# holds for a rustup toolchain and a distribution's rustc alike.
have_target() {
	libdir=$(rustc --print target-libdir --target "$1" 2>/dev/null) || return 1
	ls "$libdir"/libstd-*.rlib >/dev/null 2>&1
}

# Install target $1 with rustup if it is missing; fail if it stays missing.
add_target() {
	have_target "$1" && return 0
	if ! command -v rustup >/dev/null 2>&1; then
		echo "build: Rust target $1 is not installed and there is no rustup to add it" >&2
		return 1
	fi
	echo "build: Rust target $1 is not installed; trying: rustup target add $1"
	rustup target add "$1" && have_target "$1"
}

# Say what a 32-bit link needs when one fails; nothing is installed from here.
link_hint() {
	if [ "$arch" = i686 ]; then
		echo "build: a 32-bit link may need Debian's gcc-multilib (apt-get install gcc-multilib)" >&2
	fi
}

if add_target "$musl"; then
	target=$musl
	echo "build: cargo build --release --target $target"
	cargo build --release --target "$target" || {
		link_hint
		exit 1
	}
else
	target=$gnu
	cat >&2 <<EOF
build: *************************************************************
build: The Rust target $musl is not installed and could
build: not be added (rustup target add $musl).
build: FALLING BACK to a static glibc build for $gnu:
build: larger binaries, and host names are resolved through the
build: host's NSS at run time. Install the musl target for the
build: binaries this project ships.
build: *************************************************************
EOF
	add_target "$gnu" || {
		echo "build: cannot install the Rust target $gnu either: giving up" >&2
		exit 1
	}
	echo "build: RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target $target"
	RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
		cargo build --release --target "$target" || {
		link_hint
		exit 1
	}
fi

mkdir -p build
for prog in $progs; do
	cp "target/$target/release/$prog" "build/$prog.tmp"
	mv -f "build/$prog.tmp" "build/$prog"
done
echo "$target" >build/TARGET
echo "build: built for $target:"
for prog in $progs; do
	if command -v file >/dev/null 2>&1; then
		file "build/$prog"
	fi
done
ls -l build
