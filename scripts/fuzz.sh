#!/bin/bash
# Coverage-guided fuzzing of the reply parsers (fuzz/, cargo-fuzz and
# libFuzzer): runs each fuzz target for FUZZ_SECONDS (default 60) seconds,
# prints a summary table, and fails if any target found a crash: a failed
# invariant (see fuzz/src/lib.rs), a panic, more than 512 MB of memory, or
# one input taking more than 10 s.
#
# usage: scripts/fuzz.sh [TARGET...]	(default: every target in fuzz/)
#
#	FUZZ_SECONDS=N		seconds per target (default 60)
#	FUZZ_SANITIZER=S	cargo fuzz --sanitizer (default none: the parsers
#				are safe Rust; address works too, slower)
#
# Needs the nightly toolchain (rustup toolchain install nightly); installs
# cargo-fuzz if it is missing. Seeds are read from fuzz/corpus/TARGET (kept
# small, in git); what the fuzzer adds goes to fuzz/corpus-grown/TARGET and
# crashing inputs to fuzz/artifacts/TARGET, both ignored by git and kept
# from run to run. To replay one input:
#	cargo +nightly fuzz run -s none TARGET fuzz/artifacts/TARGET/crash-...

set -euo pipefail

cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
sanitizer=${FUZZ_SANITIZER:-none}
case $seconds in
'' | *[!0-9]*)
	echo "fuzz: FUZZ_SECONDS must be a whole number of seconds, not '$seconds'" >&2
	exit 2
	;;
esac
if [ "$seconds" -eq 0 ]; then
	echo "fuzz: FUZZ_SECONDS must be at least 1" >&2
	exit 2
fi

if [ -f "$HOME/.cargo/env" ]; then
	# shellcheck source=/dev/null
	. "$HOME/.cargo/env"
fi
if ! cargo +nightly --version >/dev/null 2>&1; then
	echo "fuzz: cargo fuzz needs the nightly toolchain: rustup toolchain install nightly" >&2
	exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
	echo "fuzz: installing cargo-fuzz"
	cargo install cargo-fuzz --locked
fi

fuzz() { cargo +nightly fuzz "$@"; }

if [ $# -gt 0 ]; then
	targets=("$@")
else
	mapfile -t targets < <(fuzz list)
fi

# Build every target first, so that each one's time is spent fuzzing.
for t in "${targets[@]}"; do
	fuzz build --sanitizer "$sanitizer" "$t"
done

logs=fuzz/target/fuzz-logs
mkdir -p "$logs"
failed=0
rows=()
for t in "${targets[@]}"; do
	grown=fuzz/corpus-grown/$t
	artifacts=fuzz/artifacts/$t
	log=$logs/$t.log
	mkdir -p "$grown" "$artifacts"
	stamp=$logs/$t.start
	: >"$stamp"
	corpora=("$grown")
	if [ -d "fuzz/corpus/$t" ]; then
		corpora+=("fuzz/corpus/$t")
	fi
	echo "fuzz: $t for $seconds s (log: $log)"
	start=$(date +%s)
	rc=0
	fuzz run --sanitizer "$sanitizer" "$t" "${corpora[@]}" -- \
		-max_total_time="$seconds" -max_len=8192 -rss_limit_mb=512 \
		-timeout=10 -print_final_stats=1 >"$log" 2>&1 || rc=$?
	took=$(($(date +%s) - start))

	# What libFuzzer says at the end (its final stats come even on a crash).
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	corpus=$(grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' "$log" | tail -n 1 | cut -d' ' -f2)
	found=$(find "$artifacts" -type f -newer "$stamp" ! -name 'slow-unit-*' | sort)
	if [ -n "$found" ]; then
		result="FAIL: $(echo "$found" | sed 's,.*/,,; s/-.*//' | sort -u | paste -sd ' ' -)"
	elif [ "$rc" -ne 0 ]; then
		result="FAIL: exit $rc"
	else
		result=ok
	fi
	if [ "$result" != ok ]; then
		failed=1
		echo "fuzz: $t: $result"
		grep -E -A 3 "panicked at|ERROR: libFuzzer|==ERROR|SUMMARY" "$log" | head -n 20 || true
		for f in $found; do
			echo "fuzz: $t: input $f ($(wc -c <"$f") bytes), hex:"
			od -A d -t x1 -v "$f" | head -n 32
			echo "fuzz: replay: cargo +nightly fuzz run -s $sanitizer $t $f"
		done
		if [ -z "$found" ]; then
			tail -n 20 "$log"
		fi
	fi
	rows+=("$(printf '%-12s %12s %9s %8s %10s  %s' "$t" "${runs:-?}" "${speed:-?}" \
		"$took" "${corpus:-?}" "$result")")
done

echo
printf '%-12s %12s %9s %8s %10s  %s\n' target runs runs/s seconds corpus result
for row in "${rows[@]}"; do
	echo "$row"
done
if [ "$failed" -ne 0 ]; then
	echo "fuzz: FAILED: the inputs are in fuzz/artifacts/; each is a bug (or a wrong invariant) to look at" >&2
	exit 1
fi
echo "fuzz: no crash in ${#targets[@]} targets, $seconds s each"
