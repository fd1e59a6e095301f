//! The control verbs: `--stop`, `--pause`, `--resume`, `--disp`, `--del`.
//! Each looks the ID up in the state directory, refuses an ID that belongs
//! to the other command, and talks to a live monitor only through signals
//! sent to the PID that holds the ID's lock.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::{Duration, Instant};

use crate::cli::Command;
use crate::log::{write_local_time, Event, Level, Logger};
use crate::registry::{Found, Look, Removal, StateDir};
use crate::{monitor, sys, Protocol, EXIT_IN_USE, EXIT_STOPPED};

/// How long `--pause` and `--resume` wait for the monitor to confirm.
const CONFIRM_WAIT: Duration = Duration::from_secs(10);
/// How often a waiting verb looks again.
const LOOK_PAUSE: Duration = Duration::from_millis(10);

pub fn run(proto: Protocol, cmd: Command, log: &mut Logger) -> i32 {
    match cmd {
        Command::Stop { id, wait } => stop(proto, &id, wait, log),
        Command::Pause { id } => signal_and_confirm(proto, &id, libc::SIGUSR1, true, log),
        Command::Resume { id } => signal_and_confirm(proto, &id, libc::SIGUSR2, false, log),
        Command::Disp { id } => disp(proto, &id, log),
        Command::Del { id } => del(proto, &id, log),
        Command::Help | Command::Version | Command::Monitor(_) => {
            unreachable!("handled by the caller")
        }
    }
}

/// Looks `id` up. `Err(status)` when the caller should exit with it (a
/// system error, or the record belongs to the other command).
fn look(proto: Protocol, id: &str, log: &mut Logger) -> Result<Option<(StateDir, Found)>, i32> {
    let dir = match StateDir::open(false) {
        Ok(Some(dir)) => dir,
        Ok(None) => return Ok(None),
        Err(e) => return Err(monitor::system_failure(log, id, &e)),
    };
    let found = match dir.look(id) {
        Ok(Look::Found(f)) => f,
        Ok(Look::Absent) => return Ok(None),
        Err(e) => return Err(monitor::system_failure(log, id, &e)),
    };
    if let Some(owner) = found.get("command") {
        if owner != proto.command() {
            let text = format!("{id} belongs to {owner}; use {owner} to control it");
            log.note(Level::Err, &text);
            return Err(EXIT_IN_USE);
        }
    }
    Ok(Some((dir, found)))
}

fn not_running(log: &mut Logger, id: &str, status: i32) -> i32 {
    log.note(Level::Info, &format!("{id} is not running"));
    status
}

/// The PID to signal: the record's, when it is the process holding the
/// lock. A monitor writes its record right after taking the lock, so a
/// mismatch lasts a moment; look again briefly rather than signal a PID the
/// record names from an earlier run.
fn monitor_pid(dir: &StateDir, id: &str, mut found: Found, log: &mut Logger) -> Result<u32, i32> {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let pid: Option<u32> = found.get("pid").and_then(|p| p.parse().ok());
        match (pid, found.lock_holder()) {
            (Some(pid), Some(holder)) if pid == holder => return Ok(pid),
            // /proc/locks is not readable here: the lock still says the
            // record's writer is alive, and only it writes the record.
            (Some(pid), None) => return Ok(pid),
            _ => {}
        }
        if Instant::now() >= deadline {
            log.note(
                Level::Err,
                &format!("{id}: cannot tell which process holds it; not signalled"),
            );
            return Err(EXIT_IN_USE);
        }
        std::thread::sleep(LOOK_PAUSE);
        found = match dir.look(id) {
            Ok(Look::Found(f)) if f.live => f,
            Ok(_) => return Err(not_running(log, id, EXIT_IN_USE)),
            Err(e) => return Err(monitor::system_failure(log, id, &e)),
        };
    }
}

/// The state directory and the PID of the live monitor of `id`, or the
/// status to exit with: `if_not_running` when none runs.
fn live_monitor(
    proto: Protocol,
    id: &str,
    if_not_running: i32,
    log: &mut Logger,
) -> Result<(StateDir, u32), i32> {
    let (dir, found) = match look(proto, id, log)? {
        Some((dir, found)) if found.live => (dir, found),
        _ => return Err(not_running(log, id, if_not_running)),
    };
    let pid = monitor_pid(&dir, id, found, log)?;
    Ok((dir, pid))
}

fn stop(proto: Protocol, id: &str, wait: u32, log: &mut Logger) -> i32 {
    let (dir, pid) = match live_monitor(proto, id, EXIT_STOPPED, log) {
        Ok(found) => found,
        Err(status) => return status,
    };
    match sys::kill(pid, libc::SIGTERM) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
        Err(e) => {
            log.event(Event::CouldNotStop, Some(id));
            log.note(Level::Err, &format!("kill {pid}: {e}"));
            return EXIT_IN_USE;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(u64::from(wait));
    loop {
        match dir.look(id) {
            Ok(Look::Found(f)) if f.live => {}
            Ok(_) => return EXIT_STOPPED,
            Err(e) => return monitor::system_failure(log, id, &e),
        }
        if Instant::now() >= deadline {
            log.event(Event::CouldNotStop, Some(id));
            log.note(
                Level::Err,
                &format!("{id} (pid {pid}) did not end within {wait} s"),
            );
            return EXIT_IN_USE;
        }
        std::thread::sleep(LOOK_PAUSE);
    }
}

fn signal_and_confirm(
    proto: Protocol,
    id: &str,
    signal: libc::c_int,
    pause: bool,
    log: &mut Logger,
) -> i32 {
    let (dir, pid) = match live_monitor(proto, id, EXIT_IN_USE, log) {
        Ok(found) => found,
        Err(status) => return status,
    };
    if let Err(e) = sys::kill(pid, signal) {
        log.note(Level::Err, &format!("kill {pid}: {e}"));
        return EXIT_IN_USE;
    }
    let deadline = Instant::now() + CONFIRM_WAIT;
    loop {
        match dir.look(id) {
            Ok(Look::Found(f)) if f.live => {
                if (f.get("state") == Some("paused")) == pause {
                    return EXIT_STOPPED;
                }
            }
            Ok(_) => return not_running(log, id, EXIT_IN_USE),
            Err(e) => return monitor::system_failure(log, id, &e),
        }
        if Instant::now() >= deadline {
            let verb = if pause { "pause" } else { "resume" };
            log.note(
                Level::Err,
                &format!(
                    "{id} (pid {pid}) did not confirm the {verb} within {} s",
                    CONFIRM_WAIT.as_secs()
                ),
            );
            return EXIT_IN_USE;
        }
        std::thread::sleep(LOOK_PAUSE);
    }
}

fn disp(proto: Protocol, id: &str, log: &mut Logger) -> i32 {
    let found = match look(proto, id, log) {
        Ok(Some((_, found))) => found,
        Ok(None) => return not_running(log, id, EXIT_IN_USE),
        Err(status) => return status,
    };
    let status = if found.live {
        EXIT_STOPPED
    } else {
        EXIT_IN_USE
    };
    let record = match &found.record {
        Some(r) => r,
        None => {
            let state = if found.live { "live" } else { "stale" };
            log.note(
                Level::Err,
                &format!("{id}: the record is corrupt or not one of ismon's (status: {state})"),
            );
            return EXIT_IN_USE;
        }
    };
    let mut out = String::new();
    let field = |out: &mut String, key: &str, value: &str| {
        let _ = write!(out, "{key}: ");
        let shown = match key {
            "started" | "last_probe" => value.parse::<i64>().ok().map(|secs| {
                let mut s = String::new();
                let _ = write_local_time(&mut s, secs);
                s
            }),
            _ => None,
        };
        // The monitor escaped what came from outside before writing it;
        // control characters are escaped here all the same.
        let _ = crate::escape::write_controls_escaped(out, shown.as_deref().unwrap_or(value));
        out.push('\n');
    };
    field(&mut out, "pid", found.get("pid").unwrap_or("-"));
    field(
        &mut out,
        "status",
        if found.live { "live" } else { "stale" },
    );
    for (k, v) in record.iter().filter(|(k, _)| k != "pid") {
        field(&mut out, k, v);
    }
    let _ = std::io::stdout().write_all(out.as_bytes());
    status
}

fn del(proto: Protocol, id: &str, log: &mut Logger) -> i32 {
    let dir = match look(proto, id, log) {
        Ok(Some((dir, _))) => dir,
        Ok(None) => {
            log.note(Level::Info, &format!("{id}: no record to delete"));
            return EXIT_STOPPED;
        }
        Err(status) => return status,
    };
    match dir.remove_stale(id) {
        Ok(Removal::Removed) => EXIT_STOPPED,
        Ok(Removal::Absent) => {
            log.note(Level::Info, &format!("{id}: no record to delete"));
            EXIT_STOPPED
        }
        Ok(Removal::Live) => {
            log.note(
                Level::Err,
                &format!("{id} is running; stop it with --stop instead"),
            );
            EXIT_IN_USE
        }
        Err(e) => monitor::system_failure(log, id, &e),
    }
}
