//! An in-process probe loop for the benchmark (bench/bench.sh): parses a
//! monitor's command line with `ismon::cli::parse`, makes one
//! `ismon::probe::Prober` and calls `probe()` N times back to back, as the
//! monitor does once per interval, with no sleep, record or log in between.
//!
//! ```text
//! probe_loop http|smtp N [--every MS] ID -s 127.0.0.1 -n PORT [other options]
//! ```
//!
//! Run under `valgrind --tool=callgrind` (or `strace -c`) with two values of
//! N: the difference divided by the difference of N is the cost of one
//! probe, start-up removed. With `--every MS` the probes start MS
//! milliseconds apart (a plain sleep between them), like a monitor's but
//! without its record and signal handling: the CPU time of many of these
//! against as many monitors is the share of everything but the probe
//! (measured by hand; on a 2-CPU VM it was lost in the noise). Exits 0 when
//! every probe passed, 1 when one failed (it says which on standard error),
//! 2 on a bad command line.

use std::ffi::OsString;
use std::process;
use std::time::{Duration, Instant};

use ismon::cli::{self, Command};
use ismon::probe::{NoRequests, Prober};
use ismon::Protocol;

fn usage() -> ! {
    eprintln!("usage: probe_loop http|smtp N [--every MS] ID [monitor options]");
    process::exit(2);
}

fn main() {
    let mut args = std::env::args_os().skip(1);
    let proto = match args.next().as_ref().and_then(|a| a.to_str()) {
        Some("http") => Protocol::Http,
        Some("smtp") => Protocol::Smtp,
        _ => usage(),
    };
    let n: u64 = match args.next().as_ref().and_then(|a| a.to_str()) {
        Some(s) => s.parse().unwrap_or_else(|_| usage()),
        None => usage(),
    };
    let mut rest: Vec<OsString> = args.collect();
    let mut every = None;
    if rest.first().map_or(false, |a| a == "--every") {
        let ms: u64 = match rest.get(1).and_then(|a| a.to_str()) {
            Some(s) => s.parse().unwrap_or_else(|_| usage()),
            None => usage(),
        };
        every = Some(Duration::from_millis(ms));
        rest.drain(..2);
    }
    let cfg = match cli::parse(proto, &rest) {
        Ok(Command::Monitor(cfg)) => cfg,
        Ok(_) => usage(),
        Err(e) => {
            eprintln!("probe_loop: {}", e.detail);
            process::exit(2);
        }
    };
    let timeout = Duration::from_secs(u64::from(cfg.response_timeout));
    let mut prober = Prober::new(&cfg);
    let mut next = Instant::now();
    for k in 0..n {
        if let Some(every) = every {
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
            next += every;
        }
        if let Err(e) = prober.probe(Instant::now() + timeout, &mut NoRequests) {
            eprintln!("probe_loop: probe {k} failed: {e:?}");
            process::exit(1);
        }
    }
}
