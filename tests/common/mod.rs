//! Helpers shared by the black-box tests of `clp_httpmon` and `clp_smtpmon`.
//!
//! Each test gets a private directory (`TestDir`) whose `state/` subdirectory
//! is handed to the commands through `ISMON_STATE_DIR`; monitors run as child
//! processes (`Monitor`) that are killed, by their own PID only, when the test
//! drops them; verbs run to completion under a deadline (`run`); fake servers
//! (`FakeServer`, `http_server`, `smtp_server`) listen on ports the kernel
//! picks. Every wait polls a condition every `POLL` up to a deadline.
//!
//! One file per concern; every name is re-exported here, so a test file says
//! `use common::*;` and uses `common::Monitor`, `common::run`, … whatever
//! file holds them:
//!
//! - `timing`: the bounds (`MARGIN`, `QUICK`, `detection_bound`, `Timing`)
//!   and the waits (`wait_until`, `holds_for`)
//! - `commands`: the two commands (`Cmd`) and their event texts
//! - `log`: the layout of a log line and of a syslog datagram
//! - `dir`: a test's private directory (`TestDir`)
//! - `run`: a command run to completion (`run`, `Outcome`) and `--disp`
//! - `monitor`: a monitor running in the background (`Monitor`)
//! - `server`: a fake TCP server and the server's end of a connection
//! - `canned`: fake HTTP and SMTP servers with canned replies
//! - `ports`: a free port, a port where nothing listens, IPv6 loopback
//! - `dev_log`: a command in a mount namespace of its own
//!   (`in_private_mount_namespace`), a monitor with a private /dev/log there
//! - `skip`: a test that cannot run here says so
//! - `rng`: a seeded random source (`Rng`) for reproducible schedules

// Each test binary includes this module and uses a different subset of it.
#![allow(dead_code)]

mod canned;
mod commands;
mod dev_log;
mod dir;
mod log;
mod monitor;
mod ports;
mod rng;
mod run;
mod server;
mod skip;
mod timing;

// Each test binary uses a different subset of these too: a re-export that
// none of its tests names is not a fault (dead_code above does not cover it).
#[allow(unused_imports)]
pub use {
    canned::*, commands::*, dev_log::*, dir::*, log::*, monitor::*, ports::*, rng::*, run::*,
    server::*, skip::*, timing::*,
};
