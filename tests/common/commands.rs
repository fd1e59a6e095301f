//! The two commands under test, and the texts of their events as the SPEC
//! words them.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmd {
    Http,
    Smtp,
}

pub const BOTH: [Cmd; 2] = [Cmd::Http, Cmd::Smtp];

impl Cmd {
    pub fn exe(self) -> &'static str {
        match self {
            Cmd::Http => env!("CARGO_BIN_EXE_clp_httpmon"),
            Cmd::Smtp => env!("CARGO_BIN_EXE_clp_smtpmon"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Cmd::Http => "clp_httpmon",
            Cmd::Smtp => "clp_smtpmon",
        }
    }

    /// The `<type: …>` tag of its log lines.
    pub fn kind(self) -> &'static str {
        match self {
            Cmd::Http => "httpmon",
            Cmd::Smtp => "smtpmon",
        }
    }

    pub fn protocol(self) -> &'static str {
        match self {
            Cmd::Http => "HTTP",
            Cmd::Smtp => "SMTP",
        }
    }

    pub fn other(self) -> Cmd {
        match self {
            Cmd::Http => Cmd::Smtp,
            Cmd::Smtp => Cmd::Http,
        }
    }
}

/// The text of an event as the SPEC's table words it; `nn` fills the
/// `[nn]` of the network and status events.
pub fn event_text(cmd: Cmd, event: u32, id: &str, nn: &str) -> String {
    let name = cmd.name();
    let proto = cmd.protocol();
    match event {
        1 => format!("{name} started monitoring the {proto} daemon. [ID:{id}]"),
        2 => format!("{name} will start monitoring the {proto} daemon. [ID:{id}]"),
        3 => format!("{name} will stop monitoring the {proto} daemon. [ID:{id}]"),
        6 => format!("{name} detected an error and will be terminated. [ID:{id}]"),
        7 => format!("{name} will stop monitoring. [ID:{id}]"),
        8 => format!("{name} will start monitoring. [ID:{id}]"),
        13 => format!("An identifier is not specified in the {name} command."),
        14 => format!("The specified identifier is already used. [ID:{id}]"),
        15 => format!("{name} could not perform the end processing. [ID:{id}]"),
        72 => format!("{name} has detected network error(connect error[{nn}]). [ID:{id}]"),
        73 => format!("{name} has detected network error(send error[{nn}]). [ID:{id}]"),
        74 => format!("{name} has detected network error(select error[{nn}]). [ID:{id}]"),
        75 => format!("{name} has detected network error(recv error[{nn}]). [ID:{id}]"),
        82 => format!("{name} has detected an error in {proto}(invalid response). [ID:{id}]"),
        83 => {
            format!("{name} has detected an error in {proto}(invalid status code[{nn}]). [ID:{id}]")
        }
        _ => panic!("event {event} has no expected text in the tests"),
    }
}

/// The message part of a log line: `<type: httpmon><event: N> TEXT`.
pub fn event_body(cmd: Cmd, event: u32, id: &str, nn: &str) -> String {
    format!(
        "<type: {}><event: {}> {}",
        cmd.kind(),
        event,
        event_text(cmd, event, id, nn)
    )
}

/// The `<type: …><event: N>` tag alone.
pub fn event_tag(cmd: Cmd, event: u32) -> String {
    format!("<type: {}><event: {}>", cmd.kind(), event)
}

/// `OsString`s from byte strings, for arguments that are not UTF-8.
pub fn os(bytes: &[u8]) -> OsString {
    OsStr::from_bytes(bytes).to_os_string()
}
