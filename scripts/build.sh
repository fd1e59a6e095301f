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
# The standard library is built again from the toolchain's own source
# (rustup's rust-src component), with its default features off, the
# backtrace symbolizer among them. That symbolizer (gimli, addr2line,
# miniz_oxide, rustc_demangle: about 220 KB, 40 % of a binary) is linked in
# for the default panic hook even with panic = "abort", and in a stripped
# binary it has no debug information to read: it could only print
# "<unknown>". A panic still prints its message and aborts. Building std
# needs cargo's -Zbuild-std, which a stable toolchain accepts with
# RUSTC_BOOTSTRAP=1; ismon's own code uses no unstable feature (CI builds it
# with Debian's rustc 1.63). When rust-src is missing and rustup cannot add
# it, the build falls back, loudly, to the prebuilt std: the same program,
# about 220 KB bigger.
#
# usage: scripts/build.sh [x86_64|i686]
#        scripts/build.sh --twin DIR [x86_64|i686]
#	the same build, unstripped and with line tables, with the example
#	probe_loop, into the target directory DIR (for make bench); build/ is
#	left alone

set -eu

twin=
if [ "${1:-}" = --twin ]; then
	[ $# -ge 2 ] || {
		echo "usage: $0 --twin DIR [x86_64|i686]" >&2
		exit 2
	}
	twin=$2
	shift 2
fi
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

# The source of the toolchain's standard library, added with rustup if it is
# missing; fail if it stays missing.
std_src() {
	sysroot=$(rustc --print sysroot) || return 1
	src=$sysroot/lib/rustlib/src/rust/library/std/Cargo.toml
	[ -f "$src" ] && return 0
	command -v rustup >/dev/null 2>&1 || return 1
	echo "build: the standard library's source is not installed; trying: rustup component add rust-src"
	rustup component add rust-src && [ -f "$src" ]
}

# cargo build --release for $target with the arguments given, into
# target/lean (std built without its default features) or target/ (the
# prebuilt std); sets $out to the directory the binaries are in.
release() {
	if [ -n "$twin" ]; then
		export CARGO_TARGET_DIR="$twin" CARGO_PROFILE_RELEASE_STRIP=false \
			CARGO_PROFILE_RELEASE_DEBUG=1
		set -- "$@" --bins --example probe_loop
	fi
	if [ "$lean" = yes ]; then
		dir=${CARGO_TARGET_DIR:-target/lean}
		echo "build: RUSTC_BOOTSTRAP=1 cargo build --release --target $target" \
			"-Zbuild-std=std,panic_abort -Zbuild-std-features= $*"
		RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=$dir cargo build --release \
			--target "$target" -Zbuild-std=std,panic_abort -Zbuild-std-features= "$@"
	else
		dir=${CARGO_TARGET_DIR:-target}
		echo "build: cargo build --release --target $target $*"
		cargo build --release --target "$target" "$@"
	fi || {
		link_hint
		exit 1
	}
	out=$dir/$target/release
}

lean=no
if add_target "$musl"; then
	target=$musl
	if std_src; then
		lean=yes
	else
		cat >&2 <<EOF
build: *************************************************************
build: The standard library's source (rustup component rust-src) is
build: not installed and could not be added.
build: FALLING BACK to the prebuilt standard library: the same program,
build: about 220 KB bigger (its backtrace symbolizer), over the 512 KiB
build: a binary may have. Install rust-src for the binaries this
build: project ships.
build: *************************************************************
EOF
	fi
	release
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
	echo "build: with RUSTFLAGS='-C target-feature=+crt-static'"
	RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" release
fi

if [ -n "$twin" ]; then
	echo "build: unstripped twin for $target in $out"
	exit 0
fi
mkdir -p build
for prog in $progs; do
	cp "$out/$prog" "build/$prog.tmp"
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
