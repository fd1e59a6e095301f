//! ismon: `clp_httpmon` and `clp_smtpmon`, monitors of an HTTP or SMTP
//! server on a node of a high-availability cluster. A monitor probes its
//! server on a fixed interval and, once the server has failed past its
//! retries, logs why and exits, so that the cluster fails the service over.
//!
//! Module map, from the top down (a module imports only those below it;
//! the crate root wires the top together and is imported by nobody):
//!
//! - this root: `main`, arguments in, exit status out.
//! - `monitor`: the loop and its policy, the only policy: schedule,
//!   retries, pause, stop, when to exit and with which status.
//! - `control`: the control verbs a second invocation runs.
//! - `probe`: one check of a server: resolve, connect, one deadline, the
//!   monitor's requests watched; each protocol's dialogue in its own file
//!   (`probe::http`, `probe::smtp`), which owns its request and its
//!   decision, with pure parsers on bytes. No sleeping, retrying or logging.
//! - `cli`: the option table; arguments to a validated `Command` (a
//!   `Config` with its protocol's `Check`, or a `Verb`), or a usage error
//!   naming the option and its range.
//! - `registry`: where the records live and who holds them: the state
//!   directory, per-ID files and their locks, and who may be trusted.
//! - `record`: what a record says (its keys, shared by writer and reader)
//!   and its checksummed fixed-size frame.
//! - `log`: the system log (datagrams to `/dev/log`, never blocking) and
//!   standard error.
//! - `event`: the message table: every event's number, level and text, and
//!   every probe failure's row.
//! - `retry`: the one way to wait for another process's step, by the
//!   caller's deadline.
//! - `id`: an identifier only validation makes.
//! - `protocol`: which command this is, and its facts.
//! - `error`: exit statuses and `SysError`.
//! - `escape`: bytes from outside made safe to print; fixed-size buffers.
//! - `sys`: the only `unsafe`: thin libc wrappers, each with its SAFETY.
//!
//! Two departures from plain std, each for a reason measured here: every
//! wait is a `ppoll` on a non-blocking socket together with a signalfd
//! (not a blocking socket with `SO_RCVTIMEO`), so a stop or a pause ends
//! any wait at once while nothing else can (see `sys`); and system log
//! lines are datagrams sent to `/dev/log` with `MSG_DONTWAIT` (not
//! `syslog(3)`, which blocked for good on its 12th call once the log
//! daemon stopped reading; see `log`).

// Only `sys` may use `unsafe`; `deny` (not `forbid`) so that one module can
// be allowed it explicitly.
#![deny(unsafe_code)]

pub mod cli;
pub mod control;
pub mod error;
pub mod escape;
pub mod event;
pub mod id;
pub mod log;
pub mod monitor;
pub mod probe;
pub mod protocol;
pub mod record;
pub mod registry;
mod retry;
#[allow(unsafe_code)]
mod sys;

use std::ffi::OsString;
use std::io::Write;

use crate::cli::Command;
pub use crate::error::{EXIT_FAILED, EXIT_IN_USE, EXIT_STOPPED, EXIT_SYSTEM, EXIT_USAGE};
use crate::event::{Event, Level};
use crate::log::Logger;
pub use crate::protocol::Protocol;

/// The whole command: arguments in, exit status out.
pub fn main(proto: Protocol, args: &[OsString]) -> i32 {
    let mut log = Logger::new(proto);
    match cli::parse(proto, args) {
        Err(e) => {
            if e.missing_id {
                log.event(Event::NoIdentifier, None);
            } else {
                log.event(Event::InvalidParameter, e.id.as_deref());
            }
            log.note(Level::Err, &e.detail);
            EXIT_USAGE
        }
        Ok(Command::Help) => {
            // A closed stdout is no reason to fail (or to panic, as println! would).
            let _ = std::io::stdout().write_all(cli::usage(proto).as_bytes());
            EXIT_STOPPED
        }
        Ok(Command::Version) => {
            let _ = writeln!(
                std::io::stdout(),
                "{} (ismon) {}",
                proto.command(),
                env!("CARGO_PKG_VERSION")
            );
            EXIT_STOPPED
        }
        Ok(Command::Monitor(cfg)) => monitor::run(proto, &cfg, &mut log),
        Ok(Command::Control { id, verb }) => control::run(proto, &id, verb, &mut log),
    }
}
