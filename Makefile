# ismon: clp_httpmon and clp_smtpmon
#
#	make			static musl binaries for x86_64 in build/
#	make i686		the same for IA-32 (i686-unknown-linux-musl)
#	make install		build/ binaries and man pages (gzipped, as
#				distributions ship them) under DESTDIR/PREFIX
#	make test		every test: cargo's, then contrib/'s
#	make test-i686		the Rust tests again, built for IA-32 (musl)
#	make lint		rustfmt, clippy, shellcheck, mandoc -Tlint
#	make man		man/clp_httpmon.8 and man/clp_smtpmon.8 again from
#				their one source, man/ismon.8.in
#	make demo		watch both monitors detect a server that stops
#	make rpm		an RPM of the build/ binaries (contrib/rpm)
#	make deb		a Debian package of the same (contrib/deb)
#	make cluster-demo	a two-node Pacemaker cluster in namespaces: freeze
#				a server, watch the group fail over (root)
#	make test-cluster	the failover behaviours in that cluster, HTTP and
#				SMTP (root; SKIPPED without Pacemaker, unless CI=true)
#	make fuzz		fuzz the reply parsers, FUZZ_SECONDS (60) per target
#	make soak		monitors against busy servers, SOAK_SECONDS (600)
#	make stress		STRESS_RUNS (500) seeded schedules of verbs and signals
#				against servers that die at a random moment
#	make bench		size, memory, syscalls, instructions, detection latency,
#				scale: a table, also written to bench/RESULTS.md

PREFIX ?=	/usr
SBINDIR ?=	$(PREFIX)/sbin
MANDIR ?=	$(PREFIX)/share/man

PROGS =		clp_httpmon clp_smtpmon
MANS =		man/clp_httpmon.8 man/clp_smtpmon.8
FUZZ_SECONDS ?=	60
SOAK_SECONDS ?=	600
STRESS_RUNS ?=	500
SCRIPTS =	.ci/run contrib/ocf/ismon $(wildcard scripts/*.sh contrib/*/*.sh \
		    contrib/*/*/*.sh tests/daemons/*.sh bench/*.sh)

all:
	sh scripts/build.sh x86_64

i686:
	sh scripts/build.sh i686

install:
	@for p in $(PROGS); do test -f build/$$p || \
	    { echo "make install: no build/$$p: run make (or make i686) first" >&2; exit 1; }; done
	install -d -m 0755 $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(PROGS:%=build/%) $(DESTDIR)$(SBINDIR)
	for m in $(MANS); do \
	    gzip -9n < $$m > $(DESTDIR)$(MANDIR)/man8/$${m##*/}.gz && \
	    chmod 0644 $(DESTDIR)$(MANDIR)/man8/$${m##*/}.gz || exit 1; done

# contrib's tests print SKIPPED for a tool that is missing (FAILED if CI=true).
test:
	cargo test --no-fail-fast
	sh contrib/ocf/test.sh
	sh contrib/systemd/test.sh

# The same black-box tests against 32-bit static binaries: cargo builds the
# commands and the tests for i686-unknown-linux-musl and runs them here.
test-i686:
	cargo test --no-fail-fast --target i686-unknown-linux-musl

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	shellcheck $(SCRIPTS)
	mandoc -Tlint -Wwarning $(MANS)

# Both pages are committed, made from man/ismon.8.in: edit that, then run
# this; tests/docs.rs fails while a page is not what it makes.
man:
	sh scripts/man.sh

demo:
	bash scripts/demo.sh

rpm:
	sh contrib/rpm/build.sh

deb:
	sh contrib/deb/build.sh

# Not part of make test: root, Pacemaker and a few minutes (contrib/pacemaker).
cluster-demo: all
	python3 contrib/pacemaker/lab.py demo

test-cluster: all
	python3 contrib/pacemaker/lab.py test

# Not part of make test: measures, prints a table, writes bench/RESULTS.md.
bench:
	bash bench/bench.sh

# Not part of make test: zero false exits of monitors at -i 1 -r 1 against
# a private nginx and postfix kept busy on loopback.
soak:
	sh scripts/soak.sh $(SOAK_SECONDS)

# Not part of make test (which runs 50): the randomized interference test
# with STRESS_RUNS schedules; a failure prints the seed (ISMON_SEED=N
# reruns one).
stress:
	STRESS_RUNS=$(STRESS_RUNS) cargo test --test interference \
	    random_interference_never_delays_detection -- --nocapture

# Not part of make test: coverage-guided, nightly toolchain, bounded time.
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash scripts/fuzz.sh

clean:
	cargo clean
	rm -rf build

.PHONY: all i686 install test test-i686 lint man demo rpm deb cluster-demo test-cluster fuzz soak stress bench clean
