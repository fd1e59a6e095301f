//! The clock of the tests: how long a wait may last (derived from the
//! SPEC's bounds), and the two ways of waiting for a condition.

use std::thread;
use std::time::{Duration, Instant};

/// How often a waiting test looks at its condition again.
pub const POLL: Duration = Duration::from_millis(20);

/// Slack added to every timing bound the SPEC gives: process start-up,
/// scheduling of a loaded test machine, the test's own polling.
pub const MARGIN: Duration = Duration::from_secs(2);

/// Upper bound for a command line that must be refused or a verb that must
/// answer at once.
pub const QUICK: Duration = Duration::from_secs(5);

/// The limit for a verb that may itself wait (`--stop` waits up to 10 s).
pub const VERB_LIMIT: Duration = Duration::from_secs(20);

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The SPEC's detection bound, RETRIES × max(INTERVAL, TIMEOUT) + TIMEOUT,
/// plus `MARGIN`.
pub fn detection_bound(interval: u64, retries: u64, timeout: u64) -> Duration {
    secs(retries * interval.max(timeout) + timeout) + MARGIN
}

/// Polls `cond` every `POLL` until it holds (true) or `limit` passes (false).
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(POLL);
    }
}

/// Polls `cond` every `POLL` for `span`; true when it held every time.
pub fn holds_for(span: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + span;
    while Instant::now() < deadline {
        if !cond() {
            return false;
        }
        thread::sleep(POLL);
    }
    cond()
}

/// `-i`, `-c`, `-r` of a monitor.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub interval: u64,
    pub retries: u64,
    pub timeout: u64,
}

/// `-i 1 -c 1 -r 1`.
pub const FAST: Timing = Timing {
    interval: 1,
    retries: 1,
    timeout: 1,
};

impl Timing {
    pub fn new(interval: u64, retries: u64, timeout: u64) -> Timing {
        Timing {
            interval,
            retries,
            timeout,
        }
    }

    /// The SPEC's detection bound for these settings, plus `MARGIN`.
    pub fn bound(self) -> Duration {
        detection_bound(self.interval, self.retries, self.timeout)
    }
}
