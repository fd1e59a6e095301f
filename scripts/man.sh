#!/bin/sh
# Makes the man pages of the commands from their one source:
#
#	sh scripts/man.sh [DIR]
#
# reads man/ismon.8.in and writes one page per name of its `.\" @pages`
# line (man/clp_httpmon.8, man/clp_smtpmon.8) into DIR (default: man/).
# `make man` runs it; tests/docs.rs runs it into a scratch directory and
# fails when a committed page is not what it makes. The source's first
# lines say how it is marked up. POSIX sh and awk only.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
src=$root/man/ismon.8.in
out=${1:-$root/man}

pages=$(sed -n 's/^\.\\" @pages //p' "$src")
[ -n "$pages" ] || { echo "$src: no .\\\" @pages line" >&2; exit 1; }

for page in $pages; do
	tmp=$out/.$page.8.tmp
	awk -v page="$page" -v src="$src" '
	function fail(why) {
		printf "%s:%d: %s\n", src, NR, why > "/dev/stderr"
		failed = 1
		exit 1
	}
	BEGIN { keep = 1 }
	# Markup: roff comments whose first word starts with @; never copied.
	/^\.\\" @/ {
		if ($2 == "@pages") {
			for (i = 3; i <= NF; i++)
				column[$i] = i - 2
			npages = NF - 2
			if (!(page in column))
				fail("page " page " is not in @pages")
		} else if ($2 == "@word") {
			# .\" @word KEY value-of-the-first-page value-of-the-second ...
			if (NF != 3 + npages)
				fail("@word " $3 ": one value per page wanted")
			word["@" $3 "@"] = $(3 + column[page])
		} else if ($2 == "@end") {
			keep = 1
		} else if ($2 == "@source") {
			keep = 0
		} else {
			# .\" @http [@smtp ...] [a note]: the lines up to the next
			# marker are in these pages only.
			keep = 0
			for (i = 2; i <= NF && $i ~ /^@/; i++) {
				name = substr($i, 2)
				if (!(name in column))
					fail($i ": not a page of @pages, nor a marker")
				if (name == page)
					keep = 1
			}
		}
		next
	}
	keep {
		line = $0
		for (w in word)
			gsub(w, word[w], line)
		if (line ~ /@[A-Z_]+@/)
			fail("a word no @word line gives: " line)
		print line
	}
	END {
		if (!failed && !keep)
			fail("the last block has no @end")
	}
	' "$src" >"$tmp" || { rm -f "$tmp"; exit 1; }
	name=$(awk -v page="$page" '
		/^\.\\" @pages / { for (i = 3; i <= NF; i++) if ($i == page) c = i - 2 }
		/^\.\\" @word NAME / { print $(3 + c); exit }
	' "$src")
	[ -n "$name" ] || { rm -f "$tmp"; echo "$src: no @word NAME" >&2; exit 1; }
	mv "$tmp" "$out/$name.8"
done
