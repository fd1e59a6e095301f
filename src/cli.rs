//! The command line: arguments in, a validated `Command` out, or a
//! `UsageError` that names the option and its valid range. Nothing here
//! touches the system; every check happens before anything starts.
//!
//! One table, `OPTIONS`, says what each option is: its name, its argument,
//! which command takes it, what it is for (probe setting, verb), its range
//! and default, and its help line. It drives getopts' registration, the
//! usage text, and the rule that a verb takes no probe setting; nothing
//! asks getopts about an option the table did not give it (getopts panics
//! then), because every question goes through the same table.

use std::ffi::{CString, OsString};
use std::net::IpAddr;
use std::os::unix::ffi::OsStrExt;

pub use crate::id::Id;
use crate::protocol::Protocol;

/// Longest server name and Request-URI, in bytes.
pub const MAX_TEXT: usize = 255;

/// What one invocation asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Help,
    Version,
    Monitor(Config),
    Control { id: Id, verb: Verb },
}

/// A control verb: what a second invocation asks of a running monitor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    /// `--stop`: end it, waiting this many seconds for it to go.
    Stop {
        wait: u32,
    },
    Pause,
    Resume,
    Disp,
    Del,
}

/// The HTTP version a probe speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpVersion {
    V1_0,
    V1_1,
}

impl HttpVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpVersion::V1_0 => "1.0",
            HttpVersion::V1_1 => "1.1",
        }
    }
}

/// Where the server is: an address literal needs no resolver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Server {
    Address(IpAddr),
    /// A host name, NUL-terminated for getaddrinfo.
    Name(CString),
}

/// What a probe checks: each protocol's own settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    Http(HttpCheck),
    Smtp,
}

/// clp_httpmon's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpCheck {
    pub version: HttpVersion,
    pub uri: String,
    /// `--expect`: the statuses that pass, as inclusive ranges; any other
    /// final status fails (event 83), on `/` too.
    pub expect: Option<Vec<(u16, u16)>>,
    /// `--host`: the Host header's value instead of `-s`'s (and the port's).
    pub host: Option<String>,
    /// `--contains`: GET, and the body must hold this.
    pub contains: Option<String>,
}

/// A validated monitor configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub id: Id,
    /// `-s` as given (brackets of an IPv6 literal removed).
    pub server_text: String,
    pub server: Server,
    pub port: u16,
    pub interval: u32,
    pub retries: u32,
    pub response_timeout: u32,
    /// `--retry-interval`: seconds from a failed probe's start to the
    /// next, until one succeeds (`interval` unless given).
    pub retry_interval: u32,
    /// `--grace`: seconds from the start during which, until a probe has
    /// succeeded, failed probes are logged but not counted.
    pub grace: u32,
    pub check: Check,
}

/// Why a command line was refused.
#[derive(Debug, PartialEq, Eq)]
pub struct UsageError {
    /// The ID, when one was given (possibly itself the invalid part).
    pub id: Option<String>,
    /// True when the error is that no ID was given (event 13).
    pub missing_id: bool,
    /// One line naming the option and what it accepts.
    pub detail: String,
}

impl UsageError {
    fn new(id: Option<&str>, detail: String) -> UsageError {
        UsageError {
            id: id.map(str::to_owned),
            missing_id: false,
            detail,
        }
    }
}

pub const DEFAULT_WAIT: u32 = 10;
const LIMIT: u32 = 10000;

/// What an option is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// A setting of the monitor's probes (refused with a verb).
    Probe,
    /// A control verb.
    Verb(Verb),
    Help,
    Version,
}

/// What an option takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arg {
    None,
    Required,
    /// `--stop[=WAIT]`.
    Optional,
}

/// A number's range and default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Default {
    Value(u32),
    /// The protocol's port.
    Port,
    /// Another option's value, named so in the help line.
    Like(&'static str),
}

/// One option of the table.
struct Opt {
    /// One letter for the guides' short options, a word for long ones.
    name: &'static str,
    arg: Arg,
    /// Only this command takes it; None: both.
    only: Option<Protocol>,
    role: Role,
    /// How the usage synopsis shows the argument ("": not shown there).
    synopsis: &'static str,
    /// How the help lines name the argument ("": no help line).
    hint: &'static str,
    /// What it is, for the help line.
    help: &'static str,
    /// For a number: its range and default, which the help line adds.
    range: Option<(u32, u32, Default)>,
    /// Added to the help line's default, e.g. an alias.
    note: &'static str,
}

const fn opt(name: &'static str, arg: Arg, role: Role) -> Opt {
    Opt {
        name,
        arg,
        only: None,
        role,
        synopsis: "",
        hint: "",
        help: "",
        range: None,
        note: "",
    }
}

/// The options, in the order the usage text lists them.
const OPTIONS: &[Opt] = &[
    Opt {
        synopsis: "SERVER",
        hint: "SERVER",
        help: "server name or address (default localhost)",
        ..opt("s", Arg::Required, Role::Probe)
    },
    Opt {
        synopsis: "PORT",
        hint: "PORT",
        help: "TCP port",
        range: Some((1, 65535, Default::Port)),
        ..opt("n", Arg::Required, Role::Probe)
    },
    Opt {
        synopsis: "INTERVAL",
        hint: "INTERVAL",
        help: "seconds between probes",
        range: Some((1, LIMIT, Default::Value(60))),
        ..opt("i", Arg::Required, Role::Probe)
    },
    Opt {
        synopsis: "RETRIES",
        hint: "RETRIES",
        help: "failed retries before the command exits 1",
        range: Some((1, LIMIT, Default::Value(3))),
        ..opt("c", Arg::Required, Role::Probe)
    },
    Opt {
        synopsis: "TIMEOUT",
        hint: "TIMEOUT",
        help: "seconds one probe may take",
        range: Some((1, LIMIT, Default::Value(10))),
        note: "; -t is an alias",
        ..opt("r", Arg::Required, Role::Probe)
    },
    // The English guide's synopsis spells -r so.
    Opt {
        range: Some((1, LIMIT, Default::Value(10))),
        ..opt("t", Arg::Required, Role::Probe)
    },
    Opt {
        only: Some(Protocol::Http),
        synopsis: "1.0|1.1",
        hint: "VERSION",
        help: "HTTP version, 1.0 or 1.1 (default 1.1)",
        ..opt("v", Arg::Required, Role::Probe)
    },
    Opt {
        only: Some(Protocol::Http),
        synopsis: "URI",
        hint: "URI",
        help: "Request-URI, starting with / (default /)",
        ..opt("h", Arg::Required, Role::Probe)
    },
    Opt {
        synopsis: "SEC",
        hint: "SEC",
        help: "seconds from a failed probe's start to the next, until one succeeds",
        range: Some((1, LIMIT, Default::Like("INTERVAL"))),
        ..opt("retry-interval", Arg::Required, Role::Probe)
    },
    Opt {
        synopsis: "SEC",
        hint: "SEC",
        help: "seconds from the start in which failures before a success do not count",
        range: Some((0, LIMIT, Default::Value(0))),
        ..opt("grace", Arg::Required, Role::Probe)
    },
    Opt {
        only: Some(Protocol::Http),
        synopsis: "LIST",
        hint: "LIST",
        help: "statuses that pass, as 200-299,301 (default: any on /, else not 4xx/5xx)",
        ..opt("expect", Arg::Required, Role::Probe)
    },
    Opt {
        only: Some(Protocol::Http),
        synopsis: "NAME",
        hint: "NAME",
        help: "Host header, a name or address and optional :port (default: the server's)",
        ..opt("host", Arg::Required, Role::Probe)
    },
    Opt {
        only: Some(Protocol::Http),
        synopsis: "STRING",
        hint: "STRING",
        help: "GET, and the body's first 64 KiB must contain STRING",
        ..opt("contains", Arg::Required, Role::Probe)
    },
    Opt {
        synopsis: "WAIT",
        hint: "WAIT",
        help: "seconds to wait for the monitor to end",
        range: Some((1, LIMIT, Default::Value(DEFAULT_WAIT))),
        ..opt(
            "stop",
            Arg::Optional,
            Role::Verb(Verb::Stop { wait: DEFAULT_WAIT }),
        )
    },
    opt("pause", Arg::None, Role::Verb(Verb::Pause)),
    opt("resume", Arg::None, Role::Verb(Verb::Resume)),
    // The older guide's name of --resume.
    opt("continue", Arg::None, Role::Verb(Verb::Resume)),
    opt("disp", Arg::None, Role::Verb(Verb::Disp)),
    opt("del", Arg::None, Role::Verb(Verb::Del)),
    opt("help", Arg::None, Role::Help),
    opt("version", Arg::None, Role::Version),
];

impl Opt {
    fn offered_to(&self, proto: Protocol) -> bool {
        self.only.map_or(true, |only| only == proto)
    }

    /// `-s` or `--stop`.
    fn flag(&self) -> String {
        if self.name.len() == 1 {
            format!("-{}", self.name)
        } else {
            format!("--{}", self.name)
        }
    }

    fn default_value(&self, proto: Protocol) -> Option<u32> {
        match self.range? {
            (_, _, Default::Value(v)) => Some(v),
            (_, _, Default::Port) => Some(u32::from(proto.default_port())),
            (_, _, Default::Like(_)) => None,
        }
    }

    /// The default as the help line names it.
    fn default_text(&self, proto: Protocol) -> Option<String> {
        match self.range? {
            (_, _, Default::Like(other)) => Some(other.to_owned()),
            _ => self.default_value(proto).map(|v| v.to_string()),
        }
    }
}

/// The options `proto`'s command takes.
fn offered(proto: Protocol) -> impl Iterator<Item = &'static Opt> {
    OPTIONS.iter().filter(move |o| o.offered_to(proto))
}

fn options(proto: Protocol) -> getopts::Options {
    let mut o = getopts::Options::new();
    for opt in offered(proto) {
        let (short, long) = if opt.name.len() == 1 {
            (opt.name, "")
        } else {
            ("", opt.name)
        };
        match opt.arg {
            Arg::None => o.optflag(short, long, opt.help),
            Arg::Required => o.optopt(short, long, opt.help, opt.hint),
            Arg::Optional => o.optflagopt(short, long, opt.help, opt.hint),
        };
    }
    o
}

/// The options given, asked about only through the table: an option that
/// `proto`'s command does not take is never given.
struct Given {
    matches: getopts::Matches,
    proto: Protocol,
}

impl Given {
    fn find(&self, name: &str) -> Option<&'static Opt> {
        offered(self.proto).find(|o| o.name == name)
    }

    fn present(&self, name: &str) -> bool {
        self.find(name)
            .map_or(false, |o| self.matches.opt_present(o.name))
    }

    fn value(&self, name: &str) -> Option<String> {
        self.find(name).and_then(|o| self.matches.opt_str(o.name))
    }

    /// The number given for `name`, checked against its range, or its
    /// default (`otherwise` where the default is another option's value).
    fn number_or(&self, id: &Id, name: &str, otherwise: u32) -> Result<u32, UsageError> {
        let opt = match self.find(name) {
            Some(opt) => opt,
            None => return Ok(otherwise),
        };
        let (min, max, _) = opt.range.unwrap_or((0, u32::MAX, Default::Value(0)));
        match self.value(name) {
            Some(v) => number(Some(id.as_str()), &opt.flag(), &v, min, max),
            None => Ok(opt.default_value(self.proto).unwrap_or(otherwise)),
        }
    }

    fn number(&self, id: &Id, name: &str) -> Result<u32, UsageError> {
        self.number_or(id, name, 0)
    }
}

/// The usage text printed by `--help`.
pub fn usage(proto: Protocol) -> String {
    let name = proto.command();
    let mut probe = Vec::new();
    let mut with_arg = Vec::new();
    let mut flags = Vec::new();
    let mut own = Vec::new();
    let mut lines = String::new();
    for opt in offered(proto) {
        match opt.role {
            Role::Probe if !opt.synopsis.is_empty() => {
                probe.push(format!("[{} {}]", opt.flag(), opt.synopsis))
            }
            Role::Probe => {}
            // A verb's argument may also be given as -r (the older guide).
            Role::Verb(_) if opt.arg != Arg::None => with_arg.push(format!(
                "{f} [{a}] | {f} -r {a}",
                f = opt.flag(),
                a = opt.synopsis
            )),
            Role::Verb(_) => flags.push(opt.flag()),
            Role::Help | Role::Version => own.push(opt.flag()),
        }
        if !opt.hint.is_empty() {
            // The help in a column of its own; a name too long for it
            // gets a line of its own, the help below it in the column.
            const COLUMN: usize = 13;
            let named = format!("{} {}", opt.flag(), opt.hint);
            if named.len() + 2 > COLUMN {
                lines.push_str(&format!("{named}\n{:COLUMN$}{}", "", opt.help));
            } else {
                lines.push_str(&format!("{named:<COLUMN$}{}", opt.help));
            }
            if let (Some((min, max, _)), Some(default)) = (opt.range, opt.default_text(proto)) {
                lines.push_str(&format!(", {min} to {max} (default {default}{})", opt.note));
            }
            lines.push('\n');
        }
    }
    let mut text = format!("usage: {name} ID {}\n", probe.join(" "));
    for verbs in [with_arg.join(" | "), flags.join(" | ")] {
        text.push_str(&format!("       {name} ID {verbs}\n"));
    }
    text.push_str(&format!("       {name} {}\n\n", own.join(" | ")));
    text.push_str(&lines);
    text.push_str(&format!("\nSee {name}(8).\n"));
    text
}

/// Parses the arguments after the program name.
pub fn parse(proto: Protocol, args: &[OsString]) -> Result<Command, UsageError> {
    let strings = utf8(args)?;
    let matches = options(proto).parse(&strings).map_err(|f| {
        let detail = match f {
            getopts::Fail::UnrecognizedOption(o) => {
                format!(
                    "{}: unknown option",
                    crate::escape::escape(dashed(&o).as_bytes())
                )
            }
            getopts::Fail::ArgumentMissing(o) => format!("{}: a value is required", dashed(&o)),
            getopts::Fail::OptionDuplicated(o) => format!("{}: given more than once", dashed(&o)),
            getopts::Fail::UnexpectedArgument(o) => format!("{}: takes no value", dashed(&o)),
            getopts::Fail::OptionMissing(o) => format!("{}: required", dashed(&o)),
        };
        UsageError::new(first_free(&strings), detail)
    })?;
    let given = Given { matches, proto };

    if given.present("help") || given.present("version") {
        if args.len() != 1 {
            return Err(UsageError::new(
                None,
                "--help and --version take nothing else".into(),
            ));
        }
        return Ok(if given.present("help") {
            Command::Help
        } else {
            Command::Version
        });
    }

    let verbs: Vec<&Opt> = offered(proto)
        .filter(|o| matches!(o.role, Role::Verb(_)) && given.present(o.name))
        .collect();
    if verbs.len() > 1 {
        return Err(UsageError::new(
            given.matches.free.first().map(String::as_str),
            format!(
                "--{} and --{}: only one control verb at a time",
                verbs[0].name, verbs[1].name
            ),
        ));
    }

    // The ID is the first free argument; `--stop` may take a second one.
    let id = match given.matches.free.first() {
        Some(id) => check_id(id)?,
        None => {
            return Err(UsageError {
                id: None,
                missing_id: true,
                detail: "ID: required (letters, digits, _ and -; 1 to 255 bytes)".into(),
            })
        }
    };
    match verbs.first() {
        Some(verb) => parse_verb(&given, verb, id),
        None => parse_monitor(&given, id).map(Command::Monitor),
    }
}

/// The arguments as UTF-8, or an error naming the one that is not.
fn utf8(args: &[OsString]) -> Result<Vec<String>, UsageError> {
    let mut strings = Vec::with_capacity(args.len());
    for (k, arg) in args.iter().enumerate() {
        match arg.to_str() {
            Some(s) => strings.push(s.to_owned()),
            None => {
                let shown = crate::escape::escape(arg.as_bytes());
                let after = k
                    .checked_sub(1)
                    .and_then(|p| args[p].to_str())
                    .filter(|p| p.starts_with('-'));
                let detail = match after {
                    Some(opt) => format!("{opt}: \"{shown}\" is not valid (not UTF-8)"),
                    None => format!("\"{shown}\": not valid (not UTF-8)"),
                };
                let id = args
                    .iter()
                    .filter_map(|a| a.to_str())
                    .find(|a| Id::new(a).is_some());
                return Err(UsageError::new(id, detail));
            }
        }
    }
    Ok(strings)
}

/// A control verb and its argument; no probe setting may come with it.
fn parse_verb(given: &Given, opt: &Opt, id: Id) -> Result<Command, UsageError> {
    let err = |detail: String| Err(UsageError::new(Some(id.as_str()), detail));
    let is_stop = matches!(opt.role, Role::Verb(Verb::Stop { .. }));
    // -r is also --stop's WAIT (the older guide); checked after the rest.
    let probe_opts = offered(given.proto).filter(|o| o.role == Role::Probe && o.name != "r");
    for o in probe_opts {
        if given.present(o.name) {
            return err(format!("{}: not allowed with --{}", o.flag(), opt.name));
        }
    }
    if !is_stop && given.present("r") {
        return err(format!("-r: not allowed with --{}", opt.name));
    }
    let extra = &given.matches.free[1..];
    if !is_stop && !extra.is_empty() {
        return err(format!(
            "{}: unexpected argument",
            crate::escape::escape(extra[0].as_bytes())
        ));
    }
    let verb = match opt.role {
        Role::Verb(Verb::Stop { .. }) => {
            let mut waits: Vec<(String, String)> = Vec::new();
            if let Some(w) = given.value("stop") {
                waits.push(("--stop".into(), w));
            }
            if let Some(w) = extra.first() {
                waits.push(("--stop".into(), w.clone()));
            }
            if let Some(w) = given.value("r") {
                waits.push(("-r".into(), w));
            }
            if extra.len() > 1 {
                return err(format!(
                    "{}: unexpected argument",
                    crate::escape::escape(extra[1].as_bytes())
                ));
            }
            let (min, max) = match opt.range {
                Some((min, max, _)) => (min, max),
                None => (1, LIMIT),
            };
            let wait = match waits.as_slice() {
                [] => DEFAULT_WAIT,
                [(name, value)] => number(Some(id.as_str()), name, value, min, max)?,
                _ => return err("--stop: the wait time is given more than once".into()),
            };
            Verb::Stop { wait }
        }
        Role::Verb(verb) => verb,
        // parse() hands over only verbs.
        Role::Probe | Role::Help | Role::Version => {
            return err(format!("--{}: not a control verb", opt.name))
        }
    };
    Ok(Command::Control { id, verb })
}

/// A monitor's settings, each checked against the table.
fn parse_monitor(given: &Given, id: Id) -> Result<Config, UsageError> {
    let err = |detail: String| Err(UsageError::new(Some(id.as_str()), detail));
    if let Some(junk) = given.matches.free.get(1) {
        return err(format!(
            "{}: unexpected argument (one ID only)",
            crate::escape::escape(junk.as_bytes())
        ));
    }
    let response_timeout = match (given.present("r"), given.present("t")) {
        (true, true) => return err("-r and -t: the same option given twice".into()),
        (false, true) => given.number(&id, "t")?,
        _ => given.number(&id, "r")?,
    };
    let (server_text, server) = match given.value("s") {
        Some(s) => check_server(&id, &s)?,
        None => (
            "localhost".to_owned(),
            Server::Name(CString::new("localhost").expect("no NUL in a literal")),
        ),
    };
    let port = given.number(&id, "n")? as u16;
    let interval = given.number(&id, "i")?;
    let retries = given.number(&id, "c")?;
    let retry_interval = given.number_or(&id, "retry-interval", interval)?;
    let grace = given.number(&id, "grace")?;
    let check = match given.proto {
        Protocol::Http => {
            let version = match given.value("v").as_deref() {
                None | Some("1.1") => HttpVersion::V1_1,
                Some("1.0") => HttpVersion::V1_0,
                Some(other) => return Err(not_valid(&id, "-v", other, "valid: 1.0 or 1.1")),
            };
            let uri = match given.value("h") {
                Some(u) => check_uri(&id, u)?,
                None => "/".to_owned(),
            };
            let expect = match given.value("expect") {
                Some(list) => Some(check_expect(&id, &list)?),
                None => None,
            };
            let host = match given.value("host") {
                Some(h) => Some(check_host(&id, h)?),
                None => None,
            };
            let contains = match given.value("contains") {
                Some(c) => Some(check_contains(&id, c)?),
                None => None,
            };
            Check::Http(HttpCheck {
                version,
                uri,
                expect,
                host,
                contains,
            })
        }
        Protocol::Smtp => Check::Smtp,
    };
    Ok(Config {
        id,
        server_text,
        server,
        port,
        interval,
        retries,
        response_timeout,
        retry_interval,
        grace,
        check,
    })
}

/// getopts names options without their dashes.
fn dashed(name: &str) -> String {
    if name.starts_with('-') {
        name.to_owned()
    } else if name.chars().count() == 1 {
        format!("-{name}")
    } else {
        format!("--{name}")
    }
}

fn first_free(args: &[String]) -> Option<&str> {
    args.iter()
        .map(String::as_str)
        .find(|a| !a.starts_with('-') && check_id(a).is_ok())
}

/// A decimal number in `min..=max`: digits only, no sign, no spaces.
fn number(
    id: Option<&str>,
    name: &str,
    value: &str,
    min: u32,
    max: u32,
) -> Result<u32, UsageError> {
    let shown = crate::escape::escape(value.as_bytes());
    let range = format!("(valid: {min} to {max})");
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UsageError::new(
            id,
            format!("{name}: \"{shown}\" is not a number {range}"),
        ));
    }
    let digits = value.trim_start_matches('0');
    let n = if digits.len() > 9 {
        None
    } else {
        digits.parse::<u32>().ok().or(Some(0))
    };
    match n {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(UsageError::new(
            id,
            format!("{name}: \"{shown}\" is out of range {range}"),
        )),
    }
}

/// An ID names a file in the state directory: letters, digits, `_`, `-`.
pub fn check_id(id: &str) -> Result<Id, UsageError> {
    Id::new(id).ok_or_else(|| {
        invalid(
            Some(id),
            "ID",
            id,
            "letters, digits, _ and -, not starting with -; 1 to 255 bytes",
        )
    })
}

/// `NAME: "VALUE" is not valid (RULE)`, the value escaped: what every
/// check of a text says of one it refuses.
fn invalid(id: Option<&str>, name: &str, value: &str, rule: &str) -> UsageError {
    UsageError::new(
        id,
        format!(
            "{name}: \"{}\" is not valid ({rule})",
            crate::escape::escape(value.as_bytes())
        ),
    )
}

/// `invalid` for a monitor's option.
fn not_valid(id: &Id, name: &str, value: &str, rule: &str) -> UsageError {
    invalid(Some(id.as_str()), name, value, rule)
}

/// A host name's characters: letters, digits, `.`, `-`, `_` and those of
/// `more`, not starting with `-` or `.`.
fn host_name_of(name: &str, more: &[u8]) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && !name.starts_with('.')
        && name.bytes().all(|b| {
            b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_' || more.contains(&b)
        })
}

fn check_server(id: &Id, s: &str) -> Result<(String, Server), UsageError> {
    let bad = || {
        not_valid(
            id,
            "-s",
            s,
            "an IPv4 or IPv6 address or a host name of letters, digits, . - _; 1 to 255 bytes",
        )
    };
    if s.is_empty() || s.len() > MAX_TEXT {
        return Err(bad());
    }
    let inner = s.strip_prefix('[').and_then(|r| r.strip_suffix(']'));
    if let Some(v6) = inner {
        return match v6.parse::<std::net::Ipv6Addr>() {
            Ok(a) => Ok((v6.to_owned(), Server::Address(IpAddr::V6(a)))),
            Err(_) => Err(bad()),
        };
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok((s.to_owned(), Server::Address(ip)));
    }
    if !host_name_of(s, b":%") {
        return Err(bad());
    }
    // A ':' is only meaningful in an IPv6 literal, possibly with a zone
    // (fe80::1%eth0) that the resolver understands and std's parser does not.
    if s.contains(':') && !s.contains('%') {
        return Err(bad());
    }
    let c = CString::new(s).map_err(|_| bad())?;
    Ok((s.to_owned(), Server::Name(c)))
}

fn check_uri(id: &Id, u: String) -> Result<String, UsageError> {
    if !u.starts_with('/') || u.len() > MAX_TEXT || u.bytes().any(|b| b <= 0x20 || b == 0x7f) {
        return Err(not_valid(
            id,
            "-h",
            &u,
            "starts with /, 1 to 255 bytes, no space or control character",
        ));
    }
    Ok(u)
}

/// `--expect`: codes and ranges of codes, 100 to 599, comma-separated.
fn check_expect(id: &Id, list: &str) -> Result<Vec<(u16, u16)>, UsageError> {
    /// Enough for any sensible list; more is a mistake.
    const MOST: usize = 32;
    let bad = || {
        not_valid(
            id,
            "--expect",
            list,
            &format!(
                "status codes 100 to 599 and ranges such as 200-299, comma-separated, at most {MOST}"
            ),
        )
    };
    let code = |text: &str| -> Option<u16> {
        if text.len() != 3 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        text.parse::<u16>().ok().filter(|c| (100..=599).contains(c))
    };
    let mut ranges = Vec::new();
    for item in list.split(',') {
        let (low, high) = match item.split_once('-') {
            Some((low, high)) => (code(low).ok_or_else(bad)?, code(high).ok_or_else(bad)?),
            None => {
                let c = code(item).ok_or_else(bad)?;
                (c, c)
            }
        };
        if low > high || ranges.len() == MOST {
            return Err(bad());
        }
        ranges.push((low, high));
    }
    Ok(ranges)
}

/// `--host`: a host name, an IPv4 address or a bracketed IPv6 address, and
/// an optional `:port`; it goes into a request header, so nothing else.
fn check_host(id: &Id, host: String) -> Result<String, UsageError> {
    let bad = || {
        not_valid(
            id,
            "--host",
            &host,
            "a host name, an IPv4 address or [IPv6 address], optional :port; 1 to 255 bytes",
        )
    };
    if host.is_empty() || host.len() > MAX_TEXT {
        return Err(bad());
    }
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let (v6, after) = rest.split_once(']').ok_or_else(bad)?;
        v6.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
        match after {
            "" => (None, None),
            _ => (None, Some(after.strip_prefix(':').ok_or_else(bad)?)),
        }
    } else {
        match host.split_once(':') {
            Some((name, port)) => (Some(name), Some(port)),
            None => (Some(host.as_str()), None),
        }
    };
    if let Some(name) = name {
        if !host_name_of(name, b"") {
            return Err(bad());
        }
    }
    if let Some(port) = port {
        number(Some(id.as_str()), "--host", port, 1, 65535).map_err(|_| bad())?;
    }
    Ok(host)
}

/// `--contains`: 1 to 255 printable bytes (space included).
fn check_contains(id: &Id, text: String) -> Result<String, UsageError> {
    if text.is_empty() || text.len() > MAX_TEXT || !text.bytes().all(|b| (0x20..0x7f).contains(&b))
    {
        return Err(not_valid(
            id,
            "--contains",
            &text,
            "1 to 255 printable characters",
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(proto: Protocol, args: &[&str]) -> Result<Command, UsageError> {
        let v: Vec<OsString> = args.iter().map(OsString::from).collect();
        parse(proto, &v)
    }

    fn monitor(proto: Protocol, args: &[&str]) -> Config {
        match p(proto, args) {
            Ok(Command::Monitor(c)) => c,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn defaults_follow_the_guide() {
        let c = monitor(Protocol::Http, &["web"]);
        assert_eq!(
            (c.port, c.interval, c.retries, c.response_timeout),
            (80, 60, 3, 10)
        );
        assert_eq!(
            c.check,
            Check::Http(HttpCheck {
                version: HttpVersion::V1_1,
                uri: "/".into(),
                expect: None,
                host: None,
                contains: None,
            })
        );
        assert_eq!((c.retry_interval, c.grace), (60, 0));
        let c = monitor(Protocol::Smtp, &["mail"]);
        assert_eq!(c.port, 25);
    }

    #[test]
    fn t_is_an_alias_of_r_but_not_both() {
        let c = monitor(Protocol::Http, &["web", "-t", "7"]);
        assert_eq!(c.response_timeout, 7);
        assert!(p(Protocol::Http, &["web", "-t", "7", "-r", "7"]).is_err());
    }

    #[test]
    fn stop_wait_spellings() {
        for args in [
            &["w", "--stop", "5"][..],
            &["w", "--stop=5"],
            &["w", "--stop", "-r", "5"],
            &["--stop", "w", "5"],
        ] {
            assert_eq!(
                p(Protocol::Http, args),
                Ok(Command::Control {
                    id: Id::new("w").unwrap(),
                    verb: Verb::Stop { wait: 5 }
                }),
                "{args:?}"
            );
        }
        assert_eq!(
            p(Protocol::Http, &["w", "--stop"]),
            Ok(Command::Control {
                id: Id::new("w").unwrap(),
                verb: Verb::Stop { wait: 10 }
            })
        );
        assert!(p(Protocol::Http, &["w", "--stop", "5", "-r", "5"]).is_err());
        assert!(p(Protocol::Http, &["w", "--stop", "0"]).is_err());
        assert!(p(Protocol::Http, &["w", "--stop", "10001"]).is_err());
    }

    #[test]
    fn continue_is_resume() {
        assert_eq!(
            p(Protocol::Smtp, &["m", "--continue"]),
            Ok(Command::Control {
                id: Id::new("m").unwrap(),
                verb: Verb::Resume
            })
        );
    }

    #[test]
    fn out_of_range_names_the_option_and_range() {
        let e = p(Protocol::Http, &["web", "-i", "0"]).unwrap_err();
        assert_eq!(e.detail, "-i: \"0\" is out of range (valid: 1 to 10000)");
        let e = p(Protocol::Http, &["web", "-n", "99999999999999999999"]).unwrap_err();
        assert!(e.detail.starts_with("-n:"), "{}", e.detail);
    }

    #[test]
    fn missing_id_is_event_13() {
        assert!(p(Protocol::Http, &["-i", "5"]).unwrap_err().missing_id);
        assert!(p(Protocol::Http, &[]).unwrap_err().missing_id);
    }

    #[test]
    fn id_length_bounds() {
        let ok = "a".repeat(255);
        assert!(p(Protocol::Http, &[&ok]).is_ok());
        let long = "a".repeat(256);
        assert!(p(Protocol::Http, &[&long]).is_err());
        assert!(p(Protocol::Http, &["../x"]).is_err());
    }

    #[test]
    fn smtp_refuses_http_options() {
        assert!(p(Protocol::Smtp, &["m", "-v", "1.0"]).is_err());
        assert!(p(Protocol::Smtp, &["m", "-h", "/"]).is_err());
    }

    #[test]
    fn every_option_the_parser_asks_about_is_in_the_table() {
        // Given::find answers None for a name the table lacks, which would
        // make that option silently unusable: every name the parser uses
        // must be there, for the commands that take it.
        for name in ["s", "n", "i", "c", "r", "t", "stop", "help", "version"] {
            for proto in [Protocol::Http, Protocol::Smtp] {
                assert!(offered(proto).any(|o| o.name == name), "{name}");
            }
        }
        for name in ["v", "h"] {
            assert!(offered(Protocol::Http).any(|o| o.name == name), "{name}");
            assert!(!offered(Protocol::Smtp).any(|o| o.name == name), "{name}");
        }
    }

    #[test]
    fn usage_lists_each_commands_own_options() {
        let http = usage(Protocol::Http);
        assert!(http.starts_with(
            "usage: clp_httpmon ID [-s SERVER] [-n PORT] [-i INTERVAL] [-c RETRIES] [-r TIMEOUT] [-v 1.0|1.1] [-h URI] "
        ), "{http}");
        assert!(
            http.contains("-n PORT      TCP port, 1 to 65535 (default 80)\n"),
            "{http}"
        );
        let smtp = usage(Protocol::Smtp);
        assert!(!smtp.contains("[-v") && !smtp.contains("-h URI"), "{smtp}");
        assert!(smtp.contains("(default 25)"), "{smtp}");
    }

    #[test]
    fn usage_never_runs_an_options_name_into_its_help() {
        for proto in [Protocol::Http, Protocol::Smtp] {
            let text = usage(proto);
            for opt in offered(proto).filter(|o| !o.hint.is_empty()) {
                let named = format!("{} {}", opt.flag(), opt.hint);
                let line = text
                    .lines()
                    .find(|l| l.starts_with(&named))
                    .unwrap_or_else(|| panic!("no line for {named}:\n{text}"));
                assert!(
                    line == named || line[named.len()..].starts_with("  "),
                    "{line:?}"
                );
            }
        }
        assert!(usage(Protocol::Http)
            .contains("--retry-interval SEC\n             seconds from a failed probe's start"));
    }

    #[test]
    fn servers() {
        let c = monitor(Protocol::Http, &["w", "-s", "[::1]"]);
        assert_eq!(c.server_text, "::1");
        assert!(matches!(c.server, Server::Address(IpAddr::V6(_))));
        assert!(p(Protocol::Http, &["w", "-s", "a b"]).is_err());
        assert!(p(Protocol::Http, &["w", "-s", "a\r\nX: y"]).is_err());
        assert!(p(Protocol::Http, &["w", "-s", "host.example"]).is_ok());
    }
}
