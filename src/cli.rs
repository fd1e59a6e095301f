//! The command line: arguments in, a validated `Command` out, or a
//! `UsageError` that names the option and its valid range. Nothing here
//! touches the system; every check happens before anything starts.

use std::ffi::{CString, OsString};
use std::net::IpAddr;
use std::os::unix::ffi::OsStrExt;

use crate::Protocol;

/// Longest ID, server name and Request-URI, in bytes.
pub const MAX_TEXT: usize = 255;

/// What one invocation asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Help,
    Version,
    Monitor(Config),
    Stop { id: String, wait: u32 },
    Pause { id: String },
    Resume { id: String },
    Disp { id: String },
    Del { id: String },
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

/// A validated monitor configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub id: String,
    /// `-s` as given (brackets of an IPv6 literal removed).
    pub server_text: String,
    pub server: Server,
    pub port: u16,
    pub interval: u32,
    pub retries: u32,
    pub response_timeout: u32,
    /// HTTP only.
    pub http_version: HttpVersion,
    /// HTTP only.
    pub uri: String,
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

fn options(proto: Protocol) -> getopts::Options {
    let mut o = getopts::Options::new();
    o.optopt("s", "", "server name or address", "SERVER")
        .optopt("n", "", "port", "PORT")
        .optopt("i", "", "interval", "INTERVAL")
        .optopt("c", "", "retries", "RETRIES")
        .optopt("r", "", "response wait time", "TIMEOUT")
        .optopt("t", "", "response wait time (alias of -r)", "TIMEOUT");
    if proto == Protocol::Http {
        o.optopt("v", "", "HTTP version", "1.0|1.1")
            .optopt("h", "", "Request-URI", "URI");
    }
    o.optflagopt("", "stop", "stop the monitor", "WAIT")
        .optflag("", "pause", "pause monitoring")
        .optflag("", "resume", "resume monitoring")
        .optflag("", "continue", "resume monitoring (older name)")
        .optflag("", "disp", "display the monitor's record")
        .optflag("", "del", "delete a stale record")
        .optflag("", "help", "print usage")
        .optflag("", "version", "print the version");
    o
}

/// The usage text printed by `--help`.
pub fn usage(proto: Protocol) -> String {
    let name = proto.command();
    let probe = match proto {
        Protocol::Http => {
            "[-s SERVER] [-n PORT] [-i INTERVAL] [-c RETRIES] [-r TIMEOUT] [-v 1.0|1.1] [-h URI]"
        }
        Protocol::Smtp => "[-s SERVER] [-n PORT] [-i INTERVAL] [-c RETRIES] [-r TIMEOUT]",
    };
    format!(
        "usage: {name} ID {probe}\n       {name} ID --stop [WAIT] | --stop -r WAIT\n       {name} ID --pause | --resume | --continue | --disp | --del\n       {name} --help | --version\n\n\
         -s SERVER    server name or address (default localhost)\n\
         -n PORT      TCP port, 1 to 65535 (default {port})\n\
         -i INTERVAL  seconds between probes, 1 to 10000 (default 60)\n\
         -c RETRIES   failed retries before the command exits 1, 1 to 10000 (default 3)\n\
         -r TIMEOUT   seconds one probe may take, 1 to 10000 (default 10; -t is an alias)\n{http}\
         --stop WAIT  seconds to wait for the monitor to end, 1 to 10000 (default 10)\n\n\
         See {name}(8).\n",
        port = proto.default_port(),
        http = match proto {
            Protocol::Http => "-v VERSION   HTTP version, 1.0 or 1.1 (default 1.1)\n-h URI       Request-URI, starting with / (default /)\n",
            Protocol::Smtp => "",
        },
    )
}

/// Parses the arguments after the program name.
pub fn parse(proto: Protocol, args: &[OsString]) -> Result<Command, UsageError> {
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
                    .find(|a| check_id(a).is_ok());
                return Err(UsageError::new(id, detail));
            }
        }
    }
    let m = options(proto).parse(&strings).map_err(|f| {
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

    if m.opt_present("help") || m.opt_present("version") {
        if args.len() != 1 {
            return Err(UsageError::new(
                None,
                "--help and --version take nothing else".into(),
            ));
        }
        return Ok(if m.opt_present("help") {
            Command::Help
        } else {
            Command::Version
        });
    }

    let verbs: Vec<&str> = ["stop", "pause", "resume", "continue", "disp", "del"]
        .iter()
        .copied()
        .filter(|v| m.opt_present(v))
        .collect();
    if verbs.len() > 1 {
        return Err(UsageError::new(
            m.free.first().map(String::as_str),
            format!(
                "--{} and --{}: only one control verb at a time",
                verbs[0], verbs[1]
            ),
        ));
    }
    let verb = verbs.first().copied();

    // The ID is the first free argument; `--stop` may take a second one.
    let id = match m.free.first() {
        Some(id) => id.as_str(),
        None => {
            return Err(UsageError {
                id: None,
                missing_id: true,
                detail: "ID: required (letters, digits, _ and -; 1 to 255 bytes)".into(),
            })
        }
    };
    check_id(id)?;
    let extra = &m.free[1..];
    let err = |detail: String| Err(UsageError::new(Some(id), detail));

    if let Some(verb) = verb {
        let probe_opts: &[&str] = &["s", "n", "i", "c", "t", "v", "h"];
        for o in probe_opts {
            if proto == Protocol::Smtp && (*o == "v" || *o == "h") {
                continue;
            }
            if m.opt_present(o) {
                return err(format!("-{o}: not allowed with --{verb}"));
            }
        }
        if verb != "stop" && m.opt_present("r") {
            return err(format!("-r: not allowed with --{verb}"));
        }
        if verb != "stop" && !extra.is_empty() {
            return err(format!(
                "{}: unexpected argument",
                crate::escape::escape(extra[0].as_bytes())
            ));
        }
        let id = id.to_owned();
        return Ok(match verb {
            "stop" => {
                let mut waits: Vec<(&str, String)> = Vec::new();
                if let Some(w) = m.opt_str("stop") {
                    waits.push(("--stop", w));
                }
                if let Some(w) = extra.first() {
                    waits.push(("--stop", w.clone()));
                }
                if let Some(w) = m.opt_str("r") {
                    waits.push(("-r", w));
                }
                if extra.len() > 1 {
                    return err(format!(
                        "{}: unexpected argument",
                        crate::escape::escape(extra[1].as_bytes())
                    ));
                }
                let wait = match waits.as_slice() {
                    [] => DEFAULT_WAIT,
                    [(name, value)] => number(Some(&id), name, value, 1, LIMIT)?,
                    _ => return err("--stop: the wait time is given more than once".into()),
                };
                Command::Stop { id, wait }
            }
            "pause" => Command::Pause { id },
            "resume" | "continue" => Command::Resume { id },
            "disp" => Command::Disp { id },
            _ => Command::Del { id },
        });
    }

    if let Some(junk) = extra.first() {
        return err(format!(
            "{}: unexpected argument (one ID only)",
            crate::escape::escape(junk.as_bytes())
        ));
    }
    let response_timeout = match (m.opt_str("r"), m.opt_str("t")) {
        (Some(_), Some(_)) => return err("-r and -t: the same option given twice".into()),
        (Some(v), None) => number(Some(id), "-r", &v, 1, LIMIT)?,
        (None, Some(v)) => number(Some(id), "-t", &v, 1, LIMIT)?,
        (None, None) => 10,
    };
    let (server_text, server) = match m.opt_str("s") {
        Some(s) => check_server(id, &s)?,
        None => (
            "localhost".to_owned(),
            Server::Name(CString::new("localhost").expect("no NUL in a literal")),
        ),
    };
    let port = match m.opt_str("n") {
        Some(v) => number(Some(id), "-n", &v, 1, 65535)? as u16,
        None => proto.default_port(),
    };
    let interval = opt_number(&m, id, "i", 60)?;
    let retries = opt_number(&m, id, "c", 3)?;
    // getopts panics when asked about an option it was not given: ask only
    // the HTTP command about the HTTP options.
    let http = proto == Protocol::Http;
    let version = if http { m.opt_str("v") } else { None };
    let http_version = match version.as_deref() {
        None | Some("1.1") => HttpVersion::V1_1,
        Some("1.0") => HttpVersion::V1_0,
        Some(other) => {
            return err(format!(
                "-v: \"{}\" is not valid (valid: 1.0 or 1.1)",
                crate::escape::escape(other.as_bytes())
            ))
        }
    };
    let uri = match if http { m.opt_str("h") } else { None } {
        Some(u) => check_uri(id, u)?,
        None => "/".to_owned(),
    };
    Ok(Command::Monitor(Config {
        id: id.to_owned(),
        server_text,
        server,
        port,
        interval,
        retries,
        response_timeout,
        http_version,
        uri,
    }))
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

fn opt_number(m: &getopts::Matches, id: &str, name: &str, default: u32) -> Result<u32, UsageError> {
    match m.opt_str(name) {
        Some(v) => number(Some(id), &format!("-{name}"), &v, 1, LIMIT),
        None => Ok(default),
    }
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
pub fn check_id(id: &str) -> Result<(), UsageError> {
    let ok_chars = id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if id.is_empty() || id.len() > MAX_TEXT || !ok_chars || id.starts_with('-') {
        return Err(UsageError::new(
            Some(id),
            format!("ID: \"{}\" is not valid (letters, digits, _ and -, not starting with -; 1 to 255 bytes)", crate::escape::escape(id.as_bytes())),
        ));
    }
    Ok(())
}

fn check_server(id: &str, s: &str) -> Result<(String, Server), UsageError> {
    let bad = || {
        UsageError::new(
            Some(id),
            format!(
                "-s: \"{}\" is not valid (an IPv4 or IPv6 address or a host name of letters, digits, . - _; 1 to 255 bytes)",
                crate::escape::escape(s.as_bytes())
            ),
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
    let name_ok = s.bytes().all(|b| {
        b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_' || b == b':' || b == b'%'
    });
    if !name_ok || s.starts_with('-') || s.starts_with('.') {
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

fn check_uri(id: &str, u: String) -> Result<String, UsageError> {
    if !u.starts_with('/') || u.len() > MAX_TEXT || u.bytes().any(|b| b <= 0x20 || b == 0x7f) {
        return Err(UsageError::new(
            Some(id),
            format!(
                "-h: \"{}\" is not valid (starts with /, 1 to 255 bytes, no space or control character)",
                crate::escape::escape(u.as_bytes())
            ),
        ));
    }
    Ok(u)
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
        assert_eq!((c.uri.as_str(), c.http_version), ("/", HttpVersion::V1_1));
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
                Ok(Command::Stop {
                    id: "w".into(),
                    wait: 5
                }),
                "{args:?}"
            );
        }
        assert_eq!(
            p(Protocol::Http, &["w", "--stop"]),
            Ok(Command::Stop {
                id: "w".into(),
                wait: 10
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
            Ok(Command::Resume { id: "m".into() })
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
    fn servers() {
        let c = monitor(Protocol::Http, &["w", "-s", "[::1]"]);
        assert_eq!(c.server_text, "::1");
        assert!(matches!(c.server, Server::Address(IpAddr::V6(_))));
        assert!(p(Protocol::Http, &["w", "-s", "a b"]).is_err());
        assert!(p(Protocol::Http, &["w", "-s", "a\r\nX: y"]).is_err());
        assert!(p(Protocol::Http, &["w", "-s", "host.example"]).is_ok());
    }
}
