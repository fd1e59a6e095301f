//! The two places every message goes: the system log and standard error.
//! (What the messages say is `event`'s table.)
//!
//! syslog(3) sends on a blocking socket and hangs for good once the syslog
//! daemon stops reading: measured here, with the daemon stalled the
//! socket's queue (net.unix.max_dgram_qlen, 10) filled, 11 calls returned
//! and the 12th never did. So the datagrams are written here, to
//! `/dev/log`, in syslog(3)'s format, without ever blocking: a line the
//! socket does not take at once is dropped and counted, and the socket is
//! reopened when the daemon comes back.
//! Standard error is written only when it can take the line at once, for the
//! same reason (a pipe nobody reads must not stop detection).

use std::fmt::{self, Write as _};
use std::io;
use std::os::unix::io::AsFd;
use std::os::unix::net::UnixDatagram;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{SysError, EXIT_SYSTEM};
use crate::escape::LineBuf;
use crate::event::{Event, Failure, Level};
use crate::protocol::Protocol;
use crate::sys;

/// Where the system log listens.
const SYSLOG_PATH: &str = "/dev/log";
/// LOG_DAEMON, as syslog.h numbers it.
const FACILITY_DAEMON: u8 = 3 << 3;

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
        self.event(Event::Failed(Failure::System(e.func, e.errno())), Some(id));
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
