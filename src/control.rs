//! The control verbs: `--stop`, `--pause`, `--resume`, `--disp`, `--del`.
//! Each looks the ID up in the state directory, refuses an ID that belongs
//! to the other command, and talks to a live monitor only through signals
//! sent to the PID that holds the ID's lock.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::{Duration, Instant};

use crate::cli::Verb;
use crate::error::{EXIT_IN_USE, EXIT_STOPPED};
use crate::event::{Event, Level};
use crate::id::Id;
use crate::log::{write_local_time, Logger};
use crate::protocol::Protocol;
use crate::record::{key, State};
use crate::registry::{Entry, Lookup, Removal, StateDir};
use crate::{retry, sys};

/// How long `--pause`, `--resume`, `--disp` and `--del` take at most, from
/// their start, whatever they find (a record that never verifies, a lock
/// held by a stranger, a monitor that does not confirm): they answer within
/// 2 s.
const VERB_WAIT: Duration = Duration::from_millis(1500);
/// How long `--stop` looks for its monitor before its own WAIT begins: it
/// answers within WAIT + 1 s.
const STOP_LOOKUP: Duration = Duration::from_millis(500);

/// Runs `verb` on the monitor of `id`; the exit status.
pub fn run(proto: Protocol, id: &Id, verb: Verb, log: &mut Logger) -> i32 {
    let now = Instant::now();
    match verb {
        Verb::Stop { wait } => stop(proto, id, wait, now + STOP_LOOKUP, log),
        Verb::Pause => pause_or_resume(proto, id, true, now + VERB_WAIT, log),
        Verb::Resume => pause_or_resume(proto, id, false, now + VERB_WAIT, log),
        Verb::Disp => disp(proto, id, now + VERB_WAIT, log),
        Verb::Del => del(proto, id, now + VERB_WAIT, log),
    }
}

/// Looks `id` up by `deadline`. `Err(status)` when the caller should exit
/// with it (a system error, or the record belongs to the other command).
fn look(
    proto: Protocol,
    id: &Id,
    deadline: Instant,
    log: &mut Logger,
) -> Result<Option<(StateDir, Entry)>, i32> {
    let dir = match StateDir::open_existing() {
        Ok(Some(dir)) => dir,
        Ok(None) => return Ok(None),
        Err(e) => return Err(log.system_failure(id.as_str(), &e)),
    };
    let found = match dir.look(id, deadline) {
        Ok(Lookup::Present(f)) => f,
        Ok(Lookup::Absent) => return Ok(None),
        Err(e) => return Err(log.system_failure(id.as_str(), &e)),
    };
    if let Some(owner) = found.get(key::COMMAND) {
        if owner != proto.command() {
            let text = format!("{id} belongs to {owner}; use {owner} to control it");
            log.note(Level::Err, &text);
            return Err(EXIT_IN_USE);
        }
    }
    Ok(Some((dir, found)))
}

fn not_running(log: &mut Logger, id: &Id, status: i32) -> i32 {
    log.note(Level::Info, &format!("{id} is not running"));
    status
}

/// Why `live_monitor` found no monitor to signal.
enum NoMonitor {
    /// None runs: exit with the caller's status for that.
    NotRunning,
    /// Exit with this status; the reason is logged.
    Refused(i32),
    /// A monitor holds the ID, but the lock, its record and the process do
    /// not agree on which process it is: nothing is signalled.
    Unknown(&'static str),
}

/// The trusted record of the live monitor of `id` and the PID that its
/// lock, its record and the process agree on, by `deadline`. Nothing that
/// is not trusted is ever signalled.
fn live_monitor(
    proto: Protocol,
    id: &Id,
    deadline: Instant,
    log: &mut Logger,
) -> Result<(StateDir, Entry, u32), NoMonitor> {
    let (dir, mut found) = match look(proto, id, deadline, log).map_err(NoMonitor::Refused)? {
        Some((dir, found)) if found.live => (dir, found),
        _ => return Err(NoMonitor::NotRunning),
    };
    // A monitor writes its record right after it takes the lock: for a
    // moment the two disagree. Look again, briefly, rather than signal a
    // PID that a record names from an earlier run.
    let mut why = "";
    let mut again = false;
    let agreed = retry::until(deadline, || {
        if again {
            found = match dir.look(id, deadline) {
                Ok(Lookup::Present(f)) if f.live => f,
                Ok(_) => return Some(Err(NoMonitor::NotRunning)),
                Err(e) => {
                    return Some(Err(NoMonitor::Refused(log.system_failure(id.as_str(), &e))))
                }
            };
        }
        again = true;
        // The record's trust covers its directory's too (`Entry::distrust`).
        if let Err(e) = found.require_trust() {
            return Some(Err(NoMonitor::Refused(log.system_failure(id.as_str(), &e))));
        }
        match found.monitor_pid() {
            Ok(pid) => Some(Ok(pid)),
            Err(w) => {
                why = w;
                None
            }
        }
    });
    match agreed {
        Some(Ok(pid)) => Ok((dir, found, pid)),
        Some(Err(e)) => Err(e),
        None => Err(NoMonitor::Unknown(why)),
    }
}

fn stop(proto: Protocol, id: &Id, wait: u32, lookup: Instant, log: &mut Logger) -> i32 {
    let (dir, pid) = match live_monitor(proto, id, lookup, log) {
        Ok((dir, _, pid)) => (dir, pid),
        Err(NoMonitor::NotRunning) => return not_running(log, id, EXIT_STOPPED),
        Err(NoMonitor::Refused(status)) => return status,
        Err(NoMonitor::Unknown(why)) => {
            log.event(Event::CouldNotStop, Some(id.as_str()));
            log.note(Level::Err, &format!("{id}: {why}; not signalled"));
            return EXIT_IN_USE;
        }
    };
    match sys::kill(pid, libc::SIGTERM) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
        Err(e) => {
            log.event(Event::CouldNotStop, Some(id.as_str()));
            log.note(Level::Err, &format!("kill {pid}: {e}"));
            return EXIT_IN_USE;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(u64::from(wait));
    let ended = retry::until(deadline, || match dir.is_live(id) {
        Ok(true) => None,
        Ok(false) => Some(Ok(())),
        Err(e) => Some(Err(e)),
    });
    match ended {
        Some(Ok(())) => EXIT_STOPPED,
        Some(Err(e)) => log.system_failure(id.as_str(), &e),
        None => {
            log.event(Event::CouldNotStop, Some(id.as_str()));
            log.note(
                Level::Err,
                &format!("{id} (pid {pid}) did not end within {wait} s"),
            );
            EXIT_IN_USE
        }
    }
}

/// `--pause` (`pause`) or `--resume`. A monitor already in the state asked
/// for is told nothing: the verb says so and succeeds.
fn pause_or_resume(
    proto: Protocol,
    id: &Id,
    pause: bool,
    deadline: Instant,
    log: &mut Logger,
) -> i32 {
    let (verb, signal) = if pause {
        ("pause", libc::SIGUSR1)
    } else {
        ("resume", libc::SIGUSR2)
    };
    let (dir, found, pid) = match live_monitor(proto, id, deadline, log) {
        Ok(live) => live,
        Err(NoMonitor::NotRunning) => return not_running(log, id, EXIT_IN_USE),
        Err(NoMonitor::Refused(status)) => return status,
        Err(NoMonitor::Unknown(why)) => {
            log.note(Level::Err, &format!("{id}: {why}; not signalled"));
            return EXIT_IN_USE;
        }
    };
    let is_paused = |f: &Entry| f.get(key::STATE) == Some(State::PAUSED);
    if is_paused(&found) == pause {
        let text = if pause {
            format!("{id} is already paused; nothing to do")
        } else {
            format!("{id} is not paused; nothing to resume")
        };
        log.note(Level::Info, &text);
        return EXIT_STOPPED;
    }
    if let Err(e) = sys::kill(pid, signal) {
        log.note(Level::Err, &format!("kill {pid}: {e}"));
        return EXIT_IN_USE;
    }
    let confirmed = retry::until(deadline, || match dir.look(id, deadline) {
        Ok(Lookup::Present(f)) if f.live => (is_paused(&f) == pause).then_some(Ok(())),
        Ok(_) => Some(Err(None)),
        Err(e) => Some(Err(Some(e))),
    });
    match confirmed {
        Some(Ok(())) => EXIT_STOPPED,
        Some(Err(None)) => not_running(log, id, EXIT_IN_USE),
        Some(Err(Some(e))) => log.system_failure(id.as_str(), &e),
        None => {
            log.note(
                Level::Err,
                &format!("{id} (pid {pid}) did not confirm the {verb} in time"),
            );
            EXIT_IN_USE
        }
    }
}

fn disp(proto: Protocol, id: &Id, deadline: Instant, log: &mut Logger) -> i32 {
    let found = match look(proto, id, deadline, log) {
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
            k if key::TIMES.contains(&k) => value.parse::<i64>().ok().map(|secs| {
                let mut s = String::new();
                let _ = write_local_time(&mut s, secs);
                s
            }),
            // START MILLIS RESULT: when, how long, what.
            k if k.starts_with(key::RECENT) => {
                let mut parts = value.splitn(3, ' ');
                let secs = parts.next().and_then(|t| t.parse::<i64>().ok());
                let millis = parts.next().and_then(|m| m.parse::<u64>().ok());
                match (secs, millis, parts.next()) {
                    (Some(secs), Some(millis), Some(result)) => {
                        let mut s = String::new();
                        let _ = write_local_time(&mut s, secs);
                        let _ = write!(s, ", {millis} ms, {result}");
                        Some(s)
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        // The monitor escaped what came from outside before writing it;
        // control characters are escaped here all the same.
        let _ = crate::escape::write_controls_escaped(out, shown.as_deref().unwrap_or(value));
        out.push('\n');
    };
    field(&mut out, key::PID, found.get(key::PID).unwrap_or("-"));
    field(
        &mut out,
        key::STATUS,
        if found.live { "live" } else { "stale" },
    );
    match &found.distrust {
        None => field(&mut out, key::TRUSTED, "yes"),
        Some(why) => {
            field(&mut out, key::TRUSTED, "no");
            log.note(
                Level::Warning,
                &format!("{id}: not trusted: {why}; verbs that write or signal refuse it"),
            );
        }
    }
    for (k, v) in record.iter().filter(|(k, _)| k != key::PID) {
        field(&mut out, k, v);
    }
    let _ = std::io::stdout().write_all(out.as_bytes());
    status
}

fn del(proto: Protocol, id: &Id, deadline: Instant, log: &mut Logger) -> i32 {
    let dir = match look(proto, id, deadline, log) {
        Ok(Some((dir, _))) => dir,
        Ok(None) => {
            log.note(Level::Info, &format!("{id}: no record to delete"));
            return EXIT_STOPPED;
        }
        Err(status) => return status,
    };
    match dir.remove_stale(id, deadline) {
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
        Err(e) => log.system_failure(id.as_str(), &e),
    }
}
