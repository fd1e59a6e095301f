//! The one way a command waits for another process to finish a step it has
//! begun (a monitor writing its first record, a reader holding a lock for a
//! moment, a monitor confirming a pause): try again, briefly, until the
//! caller's own deadline. No function here or elsewhere counts its own
//! tries, so waits never nest into more than the caller allowed.

use std::time::{Duration, Instant};

/// How long to let the other process work before looking again.
pub const PAUSE: Duration = Duration::from_millis(10);

/// Calls `attempt` until it gives an answer or `deadline` has passed; at
/// least once, even with a deadline already past.
pub fn until<T>(deadline: Instant, mut attempt: impl FnMut() -> Option<T>) -> Option<T> {
    loop {
        if let Some(answer) = attempt() {
            return Some(answer);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        std::thread::sleep(PAUSE.min(left));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_ends_the_wait() {
        let mut calls = 0;
        let got = until(Instant::now() + Duration::from_secs(5), || {
            calls += 1;
            (calls == 3).then_some(calls)
        });
        assert_eq!(got, Some(3));
    }

    #[test]
    fn a_past_deadline_still_tries_once() {
        let mut calls = 0;
        let got: Option<()> = until(Instant::now(), || {
            calls += 1;
            None
        });
        assert_eq!((got, calls), (None, 1));
    }
}
