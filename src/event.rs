//! Everything the commands report, as the product's message table: one row
//! per event with its number, level and text, and one row per way a probe
//! can fail (relayd's `HCE_*` outcomes and their one table), which also
//! gives the short cause `--disp` shows. Texts follow the English guide.

use std::fmt;

use crate::protocol::Protocol;

/// ETIMEDOUT, as the product reports a wait that ran out.
pub const TIMED_OUT: i32 = libc::ETIMEDOUT;

/// syslog severity of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Err = 3,
    Warning = 4,
    Info = 6,
}

/// Everything the commands report.
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
    /// A probe's failure, or a system call's (event 42).
    Failed(Failure),
}

/// Why a probe failed, one value per message of the product's table; also
/// a system call that failed elsewhere (`System`, event 42).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The name did not resolve (getaddrinfo's code).
    Resolve(i32),
    /// No socket could be made (errno): a fault of this host, not the server.
    Socket(i32),
    /// Connecting failed (errno; ETIMEDOUT when the deadline passed).
    Connect(i32),
    /// Sending failed (errno).
    Send(i32),
    /// Waiting for the reply failed: ETIMEDOUT when the deadline passed
    /// (the product's `select error`).
    Wait(i32),
    /// Receiving failed (errno), or 0: the server closed before a full reply.
    Recv(i32),
    /// The reply is not one of the protocol, or longer than the buffer.
    InvalidResponse,
    /// `--contains`: the body (this many bytes of it, up to its end or the
    /// 64 KiB looked at) lacks the string; event 82 too.
    BodyLacks(u32),
    /// The reply's status code says the server is not well.
    Status(u16),
    /// A call that cannot fail for the server's sake failed (function, errno).
    System(&'static str, i32),
}

/// How an event's text reads; `cmd` is the command, `p` its protocol.
#[derive(Clone, Copy)]
enum Text {
    /// "{cmd} {0} the {p} daemon."
    Daemon(&'static str),
    /// "{cmd} {0}"
    Command(&'static str),
    /// "{0}{cmd}{1}"
    Around(&'static str, &'static str),
    /// "{0}"
    Plain(&'static str),
    /// "{cmd} has detected network error({call} error[{n}])."
    Network(&'static str, i32),
    /// "Failed to obtain the IP address.(error[{n}])."
    Resolve(i32),
    /// "{cmd} has detected an error in {p}(invalid response)." or
    /// "…(invalid status code[{code}])."
    Reply(Option<u16>),
    /// Event 82's text; the cause says what the body lacked.
    Lacks(u32),
    /// "{cmd} has detected system error ({func} {n})."
    System(&'static str, i32),
}

/// One row of the table.
struct Row(u32, Level, Text);

impl Event {
    fn row(self) -> Row {
        use Level::{Err, Info};
        match self {
            Event::Started => Row(1, Info, Text::Daemon("started monitoring")),
            Event::WillStart => Row(2, Info, Text::Daemon("will start monitoring")),
            Event::WillStop => Row(3, Info, Text::Daemon("will stop monitoring")),
            Event::Terminating => Row(
                6,
                Err,
                Text::Command("detected an error and will be terminated."),
            ),
            Event::Paused => Row(7, Info, Text::Command("will stop monitoring.")),
            Event::Resumed => Row(8, Info, Text::Command("will start monitoring.")),
            Event::InvalidParameter => Row(
                11,
                Err,
                Text::Around("The parameter value of the ", " is invalid."),
            ),
            Event::NoIdentifier => Row(
                13,
                Err,
                Text::Around("An identifier is not specified in the ", " command."),
            ),
            Event::IdentifierInUse => Row(
                14,
                Err,
                Text::Plain("The specified identifier is already used."),
            ),
            Event::CouldNotStop => Row(
                15,
                Err,
                Text::Command("could not perform the end processing."),
            ),
            Event::Failed(f) => f.row(),
        }
    }

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
            Event::Failed(Failure::System(func, n)),
            Event::Failed(Failure::Socket(n)),
            Event::Failed(Failure::Connect(n)),
            Event::Failed(Failure::Send(n)),
            Event::Failed(Failure::Wait(n)),
            Event::Failed(Failure::Recv(n)),
            Event::Failed(Failure::Resolve(n)),
            Event::Failed(Failure::InvalidResponse),
            Event::Failed(Failure::Status(n as u16)),
        ]
    }

    pub fn number(self) -> u32 {
        self.row().0
    }

    pub fn level(self) -> Level {
        self.row().1
    }

    /// The text of the English guide, without the `[ID:…]` suffix.
    pub fn write_text(self, out: &mut impl fmt::Write, proto: Protocol) -> fmt::Result {
        let cmd = proto.command();
        let p = proto.name();
        match self.row().2 {
            Text::Daemon(what) => write!(out, "{cmd} {what} the {p} daemon."),
            Text::Command(what) => write!(out, "{cmd} {what}"),
            Text::Around(before, after) => write!(out, "{before}{cmd}{after}"),
            Text::Plain(text) => out.write_str(text),
            Text::Network(call, n) => {
                write!(out, "{cmd} has detected network error({call} error[{n}]).")
            }
            Text::Resolve(n) => write!(out, "Failed to obtain the IP address.(error[{n}])."),
            Text::Reply(_) => {
                write!(out, "{cmd} has detected an error in {p}(")?;
                self.write_cause(out)?;
                out.write_str(").")
            }
            Text::Lacks(_) => write!(out, "{cmd} has detected an error in {p}(invalid response)."),
            Text::System(func, n) => write!(out, "{cmd} has detected system error ({func} {n})."),
        }
    }

    /// The short cause `--disp` shows as the last result (`connect
    /// error[111]`); nothing for an event that is not a failure.
    pub fn write_cause(self, out: &mut impl fmt::Write) -> fmt::Result {
        match self.row().2 {
            Text::Network(call, n) => write!(out, "{call} error[{n}]"),
            Text::Resolve(n) => write!(out, "error[{n}] resolving name"),
            Text::Reply(None) => out.write_str("invalid response"),
            Text::Lacks(n) => write!(
                out,
                "invalid response (the first {n} body bytes lack the string)"
            ),
            Text::Reply(Some(code)) => write!(out, "invalid status code[{code}]"),
            Text::System(func, n) => write!(out, "system error ({func} {n})"),
            Text::Daemon(_) | Text::Command(_) | Text::Around(..) | Text::Plain(_) => Ok(()),
        }
    }
}

impl Failure {
    fn row(self) -> Row {
        use Level::{Err, Warning};
        match self {
            Failure::Socket(n) => Row(71, Err, Text::Network("socket", n)),
            Failure::Connect(n) => Row(72, Warning, Text::Network("connect", n)),
            Failure::Send(n) => Row(73, Warning, Text::Network("send", n)),
            Failure::Wait(n) => Row(74, Warning, Text::Network("select", n)),
            Failure::Recv(n) => Row(75, Warning, Text::Network("recv", n)),
            Failure::Resolve(n) => Row(81, Warning, Text::Resolve(n)),
            Failure::InvalidResponse => Row(82, Warning, Text::Reply(None)),
            Failure::BodyLacks(n) => Row(82, Warning, Text::Lacks(n)),
            Failure::Status(code) => Row(83, Warning, Text::Reply(Some(code))),
            Failure::System(func, n) => Row(42, Err, Text::System(func, n)),
        }
    }

    /// The short phrase `--disp` shows as the last result.
    pub fn write_cause(self, out: &mut impl fmt::Write) -> fmt::Result {
        Event::Failed(self).write_cause(out)
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

    fn cause(f: Failure) -> String {
        let mut s = String::new();
        f.write_cause(&mut s).unwrap();
        s
    }

    #[test]
    fn texts_follow_the_guide() {
        assert_eq!(
            text(Event::Failed(Failure::Connect(111)), Protocol::Http),
            "clp_httpmon has detected network error(connect error[111])."
        );
        assert_eq!(
            text(Event::Started, Protocol::Smtp),
            "clp_smtpmon started monitoring the SMTP daemon."
        );
        assert_eq!(
            text(Event::Failed(Failure::Status(421)), Protocol::Smtp),
            "clp_smtpmon has detected an error in SMTP(invalid status code[421])."
        );
        assert_eq!(
            text(Event::Failed(Failure::System("open", 13)), Protocol::Http),
            "clp_httpmon has detected system error (open 13)."
        );
        assert_eq!(
            text(Event::Failed(Failure::Resolve(-2)), Protocol::Http),
            "Failed to obtain the IP address.(error[-2])."
        );
        assert_eq!(
            text(Event::InvalidParameter, Protocol::Http),
            "The parameter value of the clp_httpmon is invalid."
        );
    }

    #[test]
    fn causes_are_the_short_phrases_of_the_record() {
        assert_eq!(cause(Failure::Wait(TIMED_OUT)), "select error[110]");
        assert_eq!(cause(Failure::Recv(0)), "recv error[0]");
        assert_eq!(cause(Failure::Resolve(-2)), "error[-2] resolving name");
        assert_eq!(cause(Failure::InvalidResponse), "invalid response");
        assert_eq!(cause(Failure::Status(503)), "invalid status code[503]");
        assert_eq!(cause(Failure::System("poll", 12)), "system error (poll 12)");
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
        assert_eq!(Event::Failed(Failure::Wait(110)).level(), Level::Warning);
        assert_eq!(Event::Failed(Failure::Socket(24)).level(), Level::Err);
        assert_eq!(Event::Paused.level(), Level::Info);
    }
}
