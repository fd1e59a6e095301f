//! ismon: `clp_httpmon` and `clp_smtpmon`, monitors of an HTTP or SMTP
//! server on a node of a high-availability cluster. A monitor probes its
//! server on a fixed interval and, once the server has failed past its
//! retries, logs why and exits, so that the cluster fails the service over.
//!
//! Module map:
//! - `cli`: arguments to a validated `Command`, or a usage error.
//! - `probe`: one check of a server (`probe::http`, `probe::smtp`); pure
//!   parsers on bytes, no policy.
//! - `monitor`: the loop and its policy: schedule, retries, pause, stop, exit.
//! - `control`: the control verbs a second invocation runs.
//! - `registry`: the per-ID state files and their locks, and who may be
//!   trusted with them.
//! - `retry`: the one way to wait for another process's step, by the
//!   caller's deadline.
//! - `log`: event numbers and texts; the system log and standard error.
//! - `escape`: bytes from outside made safe to print; fixed-size buffers.
//! - `sys`: the only `unsafe`: thin libc wrappers.

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
