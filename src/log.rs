//! Event numbers and their texts, and the two places every message goes: the
//! system log and standard error.
//!
//! syslog(3) sends on a blocking socket and hangs for good once the syslog
//! daemon stops reading, so the datagrams are written here, to `/dev/log`,
//! without ever blocking: a line the socket does not take at once is dropped
//! and counted, and the socket is reopened when the daemon comes back.
//! Standard error is written only when it can take the line at once, for the
//! same reason (a pipe nobody reads must not stop detection).

use std::fmt::{self, Write as _};
use std::io;
use std::os::unix::io::AsFd;
use std::os::unix::net::UnixDatagram;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{SysError, EXIT_SYSTEM};
use crate::escape::LineBuf;
use crate::protocol::Protocol;
use crate::sys;

/// Where the system log listens.
const SYSLOG_PATH: &str = "/dev/log";
/// LOG_DAEMON, as syslog.h numbers it.
const FACILITY_DAEMON: u8 = 3 << 3;

/// syslog severity of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Err = 3,
    Warning = 4,
    Info = 6,
}

/// Everything the commands report, numbered as the product's message table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    Started,
    WillStart,
    WillStop,
    Terminating,
    Paused,
    Resumed,
    InvalidParameter,
    NoIdentifier,
    IdentifierInUse,
    CouldNotStop,
    SystemError { func: &'static str, errno: i32 },
    SocketError(i32),
    ConnectError(i32),
    SendError(i32),
    SelectError(i32),
    RecvError(i32),
    ResolveError(i32),
    InvalidResponse,
    InvalidStatus(u16),
}

impl Event {
    /// Every event the commands can log, with `n` for each number they
    /// carry and `func` for a system call's name: what a check that the man
    /// pages list them all enumerates.
    pub fn catalogue(func: &'static str, n: i32) -> [Event; 19] {
        [
            Event::Started,
            Event::WillStart,
            Event::WillStop,
            Event::Terminating,
            Event::Paused,
            Event::Resumed,
            Event::InvalidParameter,
            Event::NoIdentifier,
            Event::IdentifierInUse,
            Event::CouldNotStop,
            Event::SystemError { func, errno: n },
            Event::SocketError(n),
            Event::ConnectError(n),
            Event::SendError(n),
            Event::SelectError(n),
            Event::RecvError(n),
            Event::ResolveError(n),
            Event::InvalidResponse,
            Event::InvalidStatus(n as u16),
        ]
    }

    pub fn number(self) -> u32 {
        match self {
            Event::Started => 1,
            Event::WillStart => 2,
            Event::WillStop => 3,
            Event::Terminating => 6,
            Event::Paused => 7,
            Event::Resumed => 8,
            Event::InvalidParameter => 11,
            Event::NoIdentifier => 13,
            Event::IdentifierInUse => 14,
            Event::CouldNotStop => 15,
            Event::SystemError { .. } => 42,
            Event::SocketError(_) => 71,
            Event::ConnectError(_) => 72,
            Event::SendError(_) => 73,
            Event::SelectError(_) => 74,
            Event::RecvError(_) => 75,
            Event::ResolveError(_) => 81,
            Event::InvalidResponse => 82,
            Event::InvalidStatus(_) => 83,
        }
    }

    pub fn level(self) -> Level {
        match self {
            Event::Started
            | Event::WillStart
            | Event::WillStop
            | Event::Paused
            | Event::Resumed => Level::Info,
            Event::Terminating
            | Event::InvalidParameter
            | Event::NoIdentifier
            | Event::IdentifierInUse
            | Event::CouldNotStop
            | Event::SystemError { .. }
            | Event::SocketError(_) => Level::Err,
            _ => Level::Warning,
        }
    }

    /// The text of the English guide, without the `[ID:…]` suffix.
    pub fn write_text(self, out: &mut impl fmt::Write, proto: Protocol) -> fmt::Result {
        let cmd = proto.command();
        let p = proto.name();
        match self {
            Event::Started => write!(out, "{cmd} started monitoring the {p} daemon."),
            Event::WillStart => write!(out, "{cmd} will start monitoring the {p} daemon."),
            Event::WillStop => write!(out, "{cmd} will stop monitoring the {p} daemon."),
            Event::Terminating => write!(out, "{cmd} detected an error and will be terminated."),
            Event::Paused => write!(out, "{cmd} will stop monitoring."),
            Event::Resumed => write!(out, "{cmd} will start monitoring."),
            Event::InvalidParameter => write!(out, "The parameter value of the {cmd} is invalid."),
            Event::NoIdentifier => {
                write!(out, "An identifier is not specified in the {cmd} command.")
            }
            Event::IdentifierInUse => write!(out, "The specified identifier is already used."),
            Event::CouldNotStop => write!(out, "{cmd} could not perform the end processing."),
            Event::SystemError { func, errno } => {
                write!(out, "{cmd} has detected system error ({func} {errno}).")
            }
            Event::SocketError(n) => {
                write!(out, "{cmd} has detected network error(socket error[{n}]).")
            }
            Event::ConnectError(n) => {
                write!(out, "{cmd} has detected network error(connect error[{n}]).")
            }
            Event::SendError(n) => {
                write!(out, "{cmd} has detected network error(send error[{n}]).")
            }
            Event::SelectError(n) => {
                write!(out, "{cmd} has detected network error(select error[{n}]).")
            }
            Event::RecvError(n) => {
                write!(out, "{cmd} has detected network error(recv error[{n}]).")
            }
            Event::ResolveError(n) => write!(out, "Failed to obtain the IP address.(error[{n}])."),
            Event::InvalidResponse => {
                write!(out, "{cmd} has detected an error in {p}(invalid response).")
            }
            Event::InvalidStatus(n) => write!(
                out,
                "{cmd} has detected an error in {p}(invalid status code[{n}])."
            ),
        }
    }
}

/// One syslog or stderr line: the longest ID and an errno fit many times.
type Line = LineBuf<1024>;

/// The commands' only way to say something.
pub struct Logger {
    proto: Protocol,
    pid: u32,
    socket: Option<UnixDatagram>,
    /// Lines the system log did not take, in all.
    dropped: u64,
    /// Lines dropped since the log last took one.
    dropping: u64,
    /// Lines standard error could not take at once.
    stderr_dropped: u64,
    /// Say on standard error when the system log starts dropping lines (a
    /// running monitor; a one-shot verb has nothing to report it to).
    report_drops: bool,
}

impl Logger {
    pub fn new(proto: Protocol) -> Logger {
        Logger {
            proto,
            pid: std::process::id(),
            socket: None,
            dropped: 0,
            dropping: 0,
            stderr_dropped: 0,
            report_drops: false,
        }
    }

    /// From now on, report on standard error when system log lines are dropped.
    pub fn report_drops(&mut self) {
        self.report_drops = true;
    }

    /// Lines the system log did not take since start.
    pub fn syslog_dropped(&self) -> u64 {
        self.dropped
    }

    /// Lines standard error could not take at once since start.
    pub fn stderr_dropped(&self) -> u64 {
        self.stderr_dropped
    }

    /// Logs `event` for the monitor `id` (None for event 13 and for a
    /// command line whose ID is itself unreadable).
    pub fn event(&mut self, event: Event, id: Option<&str>) {
        let mut body = Line::new();
        let _ = write!(
            body,
            "<type: {}><event: {}> ",
            self.proto.tag(),
            event.number()
        );
        let _ = event.write_text(&mut body, self.proto);
        if event != Event::NoIdentifier {
            let _ = body.write_str(" [ID:");
            let _ = crate::escape::write_escaped(&mut body, id.unwrap_or("").as_bytes());
            let _ = body.write_str("]");
        }
        self.line(event.level(), body.as_str());
    }

    /// Logs a system error (event 42) with its detail, and gives exit
    /// status 4.
    pub fn system_failure(&mut self, id: &str, e: &SysError) -> i32 {
        self.event(
            Event::SystemError {
                func: e.func,
                errno: e.errno(),
            },
            Some(id),
        );
        self.note(Level::Err, &e.to_string());
        EXIT_SYSTEM
    }

    /// Logs a line with no event number (details that follow an event). The
    /// text is ours, with anything from outside already escaped; control
    /// bytes are escaped again here all the same.
    pub fn note(&mut self, level: Level, text: &str) {
        let mut body = Line::new();
        let _ = write!(body, "{}: ", self.proto.command());
        for c in text.chars() {
            let _ = if c.is_control() {
                write!(body, "\\x{:02x}", u32::from(c))
            } else {
                body.write_char(c)
            };
        }
        self.line(level, body.as_str());
    }

    fn line(&mut self, level: Level, body: &str) {
        let now = epoch_now();
        let mut line = Line::new();
        let _ = write!(line, "<{}>", FACILITY_DAEMON + level as u8);
        let header_end = line.len();
        write_syslog_time(&mut line, now);
        let _ = write!(line, " {}[{}]: {}", self.proto.command(), self.pid, body);
        let taken = self.send_syslog(line.as_bytes());
        // Room for the newline, so a truncated line still ends with one.
        line.truncate(Line::CAPACITY - 1);
        let _ = line.write_str("\n");
        self.stderr(&line.as_bytes()[header_end..]);
        if !taken && self.dropping == 1 && self.report_drops {
            // Standard error only: the system log is what is not listening.
            line.clear();
            write_syslog_time(&mut line, now);
            let _ = writeln!(
                line,
                " {}[{}]: {}: the system log ({}) is not taking lines; dropping them ({} dropped in all)",
                self.proto.command(),
                self.pid,
                self.proto.command(),
                SYSLOG_PATH,
                self.dropped
            );
            self.stderr(line.as_bytes());
        }
    }

    fn stderr(&mut self, bytes: &[u8]) {
        if !write_stderr_now(bytes) {
            self.stderr_dropped += 1;
        }
    }

    /// Sends one datagram; false when it was dropped.
    fn send_syslog(&mut self, datagram: &[u8]) -> bool {
        // Two tries: the second after reopening, for a daemon that restarted
        // (its old socket refuses; the path now names a new one).
        for _ in 0..2 {
            if self.socket.is_none() {
                self.socket = open_syslog();
            }
            let sock = match self.socket.as_ref() {
                Some(sock) => sock,
                None => break,
            };
            match sock.send(datagram) {
                Ok(_) => {
                    if self.dropping > 0 {
                        let n = self.dropping;
                        self.dropping = 0;
                        let mut note = Line::new();
                        let _ = write!(
                            note,
                            "{}: the system log was not reading; {} line(s) dropped ({} in all)",
                            self.proto.command(),
                            n,
                            self.dropped
                        );
                        self.line(Level::Warning, note.as_str());
                    }
                    return true;
                }
                // Full: the daemon is alive but not reading. Drop, keep the socket.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => self.socket = None,
            }
        }
        self.dropped += 1;
        self.dropping += 1;
        false
    }
}

fn open_syslog() -> Option<UnixDatagram> {
    let sock = UnixDatagram::unbound().ok()?;
    sock.set_nonblocking(true).ok()?;
    sock.connect(SYSLOG_PATH).ok()?;
    Some(sock)
}

/// Writes `bytes` to standard error if it can take them without blocking.
fn write_stderr_now(bytes: &[u8]) -> bool {
    use std::io::Write;
    let stderr = io::stderr();
    match sys::wait_for(
        Some(stderr.as_fd()),
        sys::WANT_WRITE,
        None,
        Some(std::time::Duration::ZERO),
    ) {
        Ok(woken) if woken.fd.writable => stderr.lock().write_all(bytes).is_ok(),
        _ => false,
    }
}

/// Seconds since the epoch by the wall clock (0 if it is set before 1970).
pub fn epoch_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Mmm dd hh:mm:ss` in local time, the day padded with a space, as syslog(3).
fn write_syslog_time(out: &mut impl fmt::Write, secs: i64) {
    if let Some((_, mon, day, h, m, s, _)) = sys::local_time(secs) {
        let month = MONTHS.get(mon as usize - 1).copied().unwrap_or("Jan");
        let _ = write!(out, "{month} {day:>2} {h:02}:{m:02}:{s:02}");
    } else {
        let _ = out.write_str("Jan  1 00:00:00");
    }
}

/// `YYYY-MM-DD hh:mm:ss +hhmm` in local time, for `--disp`.
pub fn write_local_time(out: &mut impl fmt::Write, secs: i64) -> fmt::Result {
    match sys::local_time(secs) {
        Some((y, mo, d, h, mi, s, off)) => {
            let sign = if off < 0 { '-' } else { '+' };
            let off = off.abs();
            write!(
                out,
                "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} {sign}{:02}{:02}",
                off / 3600,
                off % 3600 / 60
            )
        }
        None => write!(out, "@{secs}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(e: Event, p: Protocol) -> String {
        let mut s = String::new();
        e.write_text(&mut s, p).unwrap();
        s
    }

    #[test]
    fn texts_follow_the_guide() {
        assert_eq!(
            text(Event::ConnectError(111), Protocol::Http),
            "clp_httpmon has detected network error(connect error[111])."
        );
        assert_eq!(
            text(Event::Started, Protocol::Smtp),
            "clp_smtpmon started monitoring the SMTP daemon."
        );
        assert_eq!(
            text(Event::InvalidStatus(421), Protocol::Smtp),
            "clp_smtpmon has detected an error in SMTP(invalid status code[421])."
        );
        assert_eq!(
            text(
                Event::SystemError {
                    func: "open",
                    errno: 13
                },
                Protocol::Http
            ),
            "clp_httpmon has detected system error (open 13)."
        );
    }

    #[test]
    fn the_catalogue_has_every_number_once() {
        let mut numbers: Vec<u32> = Event::catalogue("f", 1)
            .iter()
            .map(|e| e.number())
            .collect();
        numbers.dedup();
        assert_eq!(
            numbers,
            [1, 2, 3, 6, 7, 8, 11, 13, 14, 15, 42, 71, 72, 73, 74, 75, 81, 82, 83]
        );
    }

    #[test]
    fn levels() {
        assert_eq!(Event::Terminating.level(), Level::Err);
        assert_eq!(Event::SelectError(110).level(), Level::Warning);
        assert_eq!(Event::Paused.level(), Level::Info);
    }
}
