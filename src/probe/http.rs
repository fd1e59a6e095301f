//! The HTTP check: send the request, read the status line, decide.
//! Interim 1xx responses are skipped; the first final status line decides.
//! With `--contains`, the request is `GET` and the body is read as it
//! streams, in constant memory, until the string shows or the body ends
//! (`body`).

use std::fmt;
use std::io::Write;

use super::body::{self, BodyError, BodyMatcher, Needle, Verdict};
use super::{Conn, Failure, Parse, ProbeError, Reply};
use crate::cli::{Config, HttpCheck, Server};
use crate::record::{self, key, Escaped};

/// The HTTP dialogue: its request, built once at start, and how it judges
/// the reply.
pub(super) struct Http {
    request: Vec<u8>,
    check: HttpCheck,
    /// `--contains`, with its search table, made once (boxed: the
    /// dialogue of a probe without it stays small).
    needle: Option<Box<Needle>>,
    /// A 4xx or 5xx status fails (any URI but `/`, as the guides have it),
    /// when `--expect` does not say which pass.
    error_status_fails: bool,
}

impl Http {
    pub(super) fn new(cfg: &Config, check: &HttpCheck) -> Http {
        Http {
            request: request(cfg, check),
            check: check.clone(),
            // The option's check allows 1 to 255 bytes, what Needle takes.
            needle: check
                .contains
                .as_deref()
                .and_then(|c| Needle::new(c.as_bytes()))
                .map(Box::new),
            error_status_fails: check.uri != "/",
        }
    }

    /// Sends the request, reads the status line, decides; with
    /// `--contains`, reads the body too.
    pub(super) fn talk(&self, reply: &mut Reply, conn: &mut Conn<'_>) -> Result<(), ProbeError> {
        conn.send_all(&self.request)?;
        let code = reply.read(conn, parse_status)?;
        let passes = match &self.check.expect {
            Some(ranges) => ranges
                .iter()
                .any(|&(low, high)| (low..=high).contains(&code)),
            None => !(self.error_status_fails && (400..=599).contains(&code)),
        };
        if !passes {
            return Err(Failure::Status(code).into());
        }
        match &self.needle {
            Some(needle) => read_body(reply, conn, code, needle),
            None => Ok(()),
        }
    }

    pub(super) fn sought(&self) -> Option<&[u8]> {
        self.check.contains.as_deref().map(str::as_bytes)
    }

    /// The settings the record shows: `version`, `uri`, and those given of
    /// `expect`, `host` and `contains`.
    pub(super) fn write_settings(&self, out: &mut impl fmt::Write) -> fmt::Result {
        record::field(out, key::VERSION, self.check.version.as_str())?;
        record::field(out, key::URI, Escaped(&self.check.uri))?;
        if let Some(ranges) = &self.check.expect {
            write!(out, "{}: ", key::EXPECT)?;
            for (k, (low, high)) in ranges.iter().enumerate() {
                let comma = if k == 0 { "" } else { "," };
                match low == high {
                    true => write!(out, "{comma}{low}")?,
                    false => write!(out, "{comma}{low}-{high}")?,
                }
            }
            out.write_str("\n")?;
        }
        if let Some(host) = &self.check.host {
            record::field(out, key::HOST, Escaped(host))?;
        }
        if let Some(needle) = &self.check.contains {
            record::field(out, key::CONTAINS, Escaped(needle))?;
        }
        Ok(())
    }
}

/// Reads the rest of the head, then the body as it streams, until
/// `needle` shows, the body ends, or `body::LIMIT` bytes of it have
/// passed; every read by the probe's deadline.
fn read_body(
    reply: &mut Reply,
    conn: &mut Conn<'_>,
    code: u16,
    needle: &Needle,
) -> Result<(), ProbeError> {
    let framing = reply
        .read(conn, |rest| body::parse_head(rest, code))?
        .map_err(|_| Failure::InvalidResponse)?;
    let mut matcher = BodyMatcher::new(needle, framing);
    let mut verdict = matcher.feed(reply.unread());
    loop {
        match verdict {
            Verdict::More => {}
            Verdict::Found => return Ok(()),
            Verdict::Missing { body_bytes, .. } => {
                let searched = body_bytes.min(u64::from(u32::MAX)) as u32;
                return Err(Failure::BodyLacks(searched).into());
            }
            // The server closed before the body's end: a reply cut short.
            Verdict::Invalid(BodyError::Truncated) => return Err(Failure::Recv(0).into()),
            Verdict::Invalid(_) => return Err(Failure::InvalidResponse.into()),
        }
        verdict = match reply.refill(conn)? {
            0 => matcher.end(),
            _ => matcher.feed(reply.unread()),
        };
    }
}

/// The request: `HEAD` (`GET` with `--contains`), a Host header (`--host`,
/// or the server with an IPv6 literal in brackets and the port when not
/// 80), our User-Agent, `Connection: close`.
pub fn request(cfg: &Config, check: &HttpCheck) -> Vec<u8> {
    let mut r = Vec::with_capacity(128 + check.uri.len() + cfg.server_text.len());
    let method = if check.contains.is_some() {
        "GET"
    } else {
        "HEAD"
    };
    // Writing into a Vec cannot fail.
    let _ = write!(
        r,
        "{method} {} HTTP/{}\r\nHost: ",
        check.uri,
        check.version.as_str()
    );
    match &check.host {
        Some(host) => r.extend_from_slice(host.as_bytes()),
        None => {
            match cfg.server {
                Server::Address(std::net::IpAddr::V6(_)) => {
                    let _ = write!(r, "[{}]", cfg.server_text);
                }
                _ => r.extend_from_slice(cfg.server_text.as_bytes()),
            }
            if cfg.port != 80 {
                let _ = write!(r, ":{}", cfg.port);
            }
        }
    }
    let _ = write!(
        r,
        "\r\nUser-Agent: clp_httpmon/{}\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    r
}

/// Parses a response head far enough to know its final status code:
/// `Done((code, bytes used))`. Decides as early as the bytes allow, so that a
/// server sending garbage fails at once instead of at the deadline.
pub fn parse_status(buf: &[u8]) -> Parse<(u16, usize)> {
    let mut pos = 0;
    loop {
        let (code, used) = match status_line(&buf[pos..]) {
            Parse::Done(v) => v,
            Parse::Incomplete => return Parse::Incomplete,
            Parse::Invalid => return Parse::Invalid,
        };
        if !(100..200).contains(&code) {
            return Parse::Done((code, pos + used));
        }
        // An interim response: skip its head and read the next one.
        match end_of_head(&buf[pos..]) {
            Some(n) => pos += n,
            None => return Parse::Incomplete,
        }
    }
}

/// `HTTP/` version SP three-digit code, then SP, CR or LF.
fn status_line(b: &[u8]) -> Parse<(u16, usize)> {
    const PREFIX: &[u8] = b"HTTP/";
    const MAX_VERSION: usize = 8;
    let n = b.len().min(PREFIX.len());
    if b[..n] != PREFIX[..n] {
        return Parse::Invalid;
    }
    let mut i = PREFIX.len();
    loop {
        match b.get(i) {
            None => return Parse::Incomplete,
            Some(c) if c.is_ascii_digit() || (*c == b'.' && i > PREFIX.len()) => {}
            Some(b' ') if i > PREFIX.len() => break,
            Some(_) => return Parse::Invalid,
        }
        i += 1;
        if i - PREFIX.len() > MAX_VERSION {
            return Parse::Invalid;
        }
    }
    i += 1;
    // Three digits whose first is the class, 1 to 5: RFC 9110 calls any
    // code outside 100..599 invalid, and so does this parser, at the first
    // digit that shows it.
    let mut code: u16 = 0;
    for first in [true, false, false] {
        match b.get(i) {
            None => return Parse::Incomplete,
            Some(c) if (first && (b'1'..=b'5').contains(c)) || (!first && c.is_ascii_digit()) => {
                code = code * 10 + u16::from(c - b'0')
            }
            Some(_) => return Parse::Invalid,
        }
        i += 1;
    }
    // The rest of the line is a reason phrase nobody reads: whatever it
    // holds, a weird phrase is no reason to fail a server over. Only the line
    // end matters: a line that never ends fails when it fills the buffer or
    // the deadline passes.
    match b.get(i) {
        None => Parse::Incomplete,
        Some(b' ') | Some(b'\r') | Some(b'\n') => match b[i..].iter().position(|&c| c == b'\n') {
            Some(nl) => Parse::Done((code, i + nl + 1)),
            None => Parse::Incomplete,
        },
        Some(_) => Parse::Invalid,
    }
}

/// The length of a response head up to and including its blank line.
fn end_of_head(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\n' {
            match b.get(i + 1) {
                Some(b'\n') => return Some(i + 2),
                Some(b'\r') if b.get(i + 2) == Some(&b'\n') => return Some(i + 3),
                _ => {}
            }
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(b: &[u8]) -> Parse<u16> {
        match parse_status(b) {
            Parse::Done((c, _)) => Parse::Done(c),
            Parse::Incomplete => Parse::Incomplete,
            Parse::Invalid => Parse::Invalid,
        }
    }

    #[test]
    fn ordinary_status_lines() {
        assert_eq!(code(b"HTTP/1.1 200 OK\r\n"), Parse::Done(200));
        assert_eq!(
            code(b"HTTP/1.0 503 Service Unavailable\r\n\r\n"),
            Parse::Done(503)
        );
        assert_eq!(code(b"HTTP/1.1 404\r\n"), Parse::Done(404));
        assert_eq!(code(b"HTTP/2 200 \r\n"), Parse::Done(200));
    }

    #[test]
    fn every_prefix_of_a_valid_line_is_incomplete() {
        let line = b"HTTP/1.1 200 OK\r\n";
        for n in 0..line.len() {
            assert_eq!(code(&line[..n]), Parse::Incomplete, "{n}");
        }
    }

    #[test]
    fn garbage_is_invalid_as_soon_as_it_shows() {
        assert_eq!(code(b"X"), Parse::Invalid);
        assert_eq!(code(b"HTTX"), Parse::Invalid);
        assert_eq!(code(b"http/1.1 200 OK\r\n"), Parse::Invalid);
        assert_eq!(code(b"HTTP/1.1\r\n"), Parse::Invalid);
        assert_eq!(code(b"HTTP/1.1 20 OK\r\n"), Parse::Invalid);
        assert_eq!(code(b"HTTP/1.1 2000 OK\r\n"), Parse::Invalid);
        assert_eq!(code(b"HTTP/1.1 abc OK\r\n"), Parse::Invalid);
        assert_eq!(code(b"HTTP/1.1 002 OK\r\n"), Parse::Invalid);
        assert_eq!(code(b"HTTP/1.1 0"), Parse::Invalid);
        assert_eq!(code(b"HTTP/1.1 600 Odd\r\n"), Parse::Invalid);
        assert_eq!(code(b"HTTP/1.1 999 Odd\r\n"), Parse::Invalid);
        assert_eq!(code(b"HTTP/ 200 OK\r\n"), Parse::Invalid);
        assert_eq!(code(b"HTTP/1.1  200 OK\r\n"), Parse::Invalid);
        assert_eq!(code(b"HTTP/1.11111111111 200"), Parse::Invalid);
        assert_eq!(code(b"\0\x1b[31m"), Parse::Invalid);
        assert_eq!(code(b"SSH-2.0-OpenSSH\r\n"), Parse::Invalid);
    }

    #[test]
    fn a_line_without_its_end_never_decides() {
        let mut long = b"HTTP/1.1 200 ".to_vec();
        long.extend(std::iter::repeat(b'x').take(100_000));
        assert_eq!(code(&long), Parse::Incomplete);
        assert_eq!(code(b"HTTP/1.1 200 OK\r\n"), Parse::Done(200));
        assert_eq!(code(b"HTTP/1.1 200 D\xc3\xa9j\xc3\xa0\n"), Parse::Done(200));
        assert_eq!(
            code(b"HTTP/1.1 503 Bad\rforged\x1b[0m\r\n"),
            Parse::Done(503)
        );
    }

    #[test]
    fn interim_responses_are_skipped() {
        assert_eq!(
            code(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n"),
            Parse::Done(204)
        );
        assert_eq!(
            code(b"HTTP/1.1 102 Processing\n\nHTTP/1.1 200 OK\n"),
            Parse::Done(200)
        );
        assert_eq!(code(b"HTTP/1.1 100 Continue\r\n\r\n"), Parse::Incomplete);
        assert_eq!(
            code(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n"),
            Parse::Incomplete
        );
        assert_eq!(
            code(b"HTTP/1.1 100 Continue\r\n\r\nnonsense"),
            Parse::Invalid
        );
    }

    #[test]
    fn request_has_host_with_port_and_connection_close() {
        let v: Vec<std::ffi::OsString> = ["w", "-s", "::1", "-n", "8080", "-h", "/x", "-v", "1.0"]
            .iter()
            .map(Into::into)
            .collect();
        let cfg = match crate::cli::parse(crate::protocol::Protocol::Http, &v) {
            Ok(crate::cli::Command::Monitor(c)) => c,
            other => panic!("{other:?}"),
        };
        let check = match &cfg.check {
            crate::cli::Check::Http(check) => check.clone(),
            other => panic!("{other:?}"),
        };
        let r = String::from_utf8(request(&cfg, &check)).unwrap();
        assert!(
            r.starts_with("HEAD /x HTTP/1.0\r\nHost: [::1]:8080\r\n"),
            "{r}"
        );
        assert!(r.ends_with("Connection: close\r\n\r\n"), "{r}");
    }
}
