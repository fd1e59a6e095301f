//! The commands' exit statuses and the error value of a failed system call:
//! vocabulary every other module shares, depending on none of them.

use std::fmt;
use std::io;

/// Stopped on request; a control verb did what it was asked.
pub const EXIT_STOPPED: i32 = 0;
/// The monitored server failed (event 6).
pub const EXIT_FAILED: i32 = 1;
/// Invalid command line (events 11, 13).
pub const EXIT_USAGE: i32 = 2;
/// ID in use, not running, or could not be stopped (events 14, 15).
pub const EXIT_IN_USE: i32 = 3;
/// System error: event 42 at start or in a control verb, or event 6 when
/// the last failed probe was this host's own fault (events 71, 42).
pub const EXIT_SYSTEM: i32 = 4;

/// A failed system call, named for event 42.
#[derive(Debug)]
pub struct SysError {
    pub func: &'static str,
    pub err: io::Error,
    /// What was being done, for the message on standard error.
    pub what: String,
}

impl SysError {
    pub fn new(func: &'static str, err: io::Error, what: impl Into<String>) -> SysError {
        SysError {
            func,
            err,
            what: what.into(),
        }
    }

    pub fn errno(&self) -> i32 {
        self.err.raw_os_error().unwrap_or(0)
    }
}

impl fmt::Display for SysError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.err)
    }
}
