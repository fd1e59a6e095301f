//! The SMTP check, as it happens on the wire: read the greeting, send
//! `NOOP`, read its reply, send `QUIT`. Replies may be multi-line.
//!
//! The client speaks only after the server's complete greeting (RFC 5321,
//! 3.1). A client that talks first is what postfix's postscreen logs as
//! `PREGREET` and fail2ban-style filters ban, so a probe that fails before
//! the greeting is whole (no greeting within the deadline, a broken or
//! invalid one) closes without a word; `QUIT` goes only to a server that
//! has greeted.

use super::{Conn, Failure, Parse, ProbeError, Reply};

/// The SMTP dialogue: nothing to set up, nothing of its own to record.
pub(super) struct Smtp;

impl Smtp {
    pub(super) fn talk(&self, reply: &mut Reply, conn: &mut Conn<'_>) -> Result<(), ProbeError> {
        let greeting = reply.read(conn, parse_reply)?;
        let verdict = if is_positive(greeting) {
            noop(reply, conn)
        } else {
            // A complete greeting that refuses service (421 from a loaded server).
            Err(Failure::Status(greeting).into())
        };
        // The server has greeted: say goodbye, whatever the verdict. One that
        // has stopped talking gets a QUIT it may never read, at no cost.
        if verdict != Err(ProbeError::Abandoned) {
            quit(reply, conn);
        }
        verdict
    }
}

fn noop(reply: &mut Reply, conn: &mut Conn<'_>) -> Result<(), ProbeError> {
    conn.send_all(b"NOOP\r\n")?;
    let code = reply.read(conn, parse_reply)?;
    if !is_positive(code) {
        return Err(Failure::Status(code).into());
    }
    Ok(())
}

fn is_positive(code: u16) -> bool {
    (200..300).contains(&code)
}

/// Says goodbye and waits for the answer until the probe's deadline; the
/// verdict is already made, so nothing here can fail the probe.
fn quit(reply: &mut Reply, conn: &mut Conn<'_>) {
    // The reply examined stays the one that decided, for the record.
    let decided = reply.mark();
    if conn.send_all(b"QUIT\r\n").is_ok() {
        let _ = reply.read(conn, parse_reply);
    }
    reply.restore(decided);
}

/// Parses one reply, possibly multi-line (`250-…` lines, then `250 …`):
/// `Done((code, bytes used))`. Reply codes are those RFC 5321 allows
/// (2-5, 0-5, 0-9); every line must carry the same code.
pub fn parse_reply(buf: &[u8]) -> Parse<(u16, usize)> {
    let mut pos = 0;
    let mut first: Option<u16> = None;
    loop {
        let line = &buf[pos..];
        let mut code: u16 = 0;
        for (k, allowed) in [b'2'..=b'5', b'0'..=b'5', b'0'..=b'9'].iter().enumerate() {
            match line.get(k) {
                None => return Parse::Incomplete,
                Some(c) if allowed.contains(c) => code = code * 10 + u16::from(c - b'0'),
                Some(_) => return Parse::Invalid,
            }
        }
        if first.map_or(false, |f| f != code) {
            return Parse::Invalid;
        }
        first = Some(code);
        let last = match line.get(3) {
            None => return Parse::Incomplete,
            Some(b'-') => false,
            Some(b' ') | Some(b'\r') | Some(b'\n') => true,
            Some(_) => return Parse::Invalid,
        };
        let end = match line.iter().position(|&c| c == b'\n') {
            Some(nl) => pos + nl + 1,
            None => return Parse::Incomplete,
        };
        if last {
            return Parse::Done((code, end));
        }
        pos = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_and_multi_line_replies() {
        assert_eq!(parse_reply(b"220 mail ESMTP\r\n"), Parse::Done((220, 16)));
        assert_eq!(
            parse_reply(b"220-mail\r\n220-more\r\n220 ready\r\n"),
            Parse::Done((220, 31))
        );
        assert_eq!(parse_reply(b"250\r\n"), Parse::Done((250, 5)));
        assert_eq!(parse_reply(b"250 ok\n"), Parse::Done((250, 7)));
    }

    #[test]
    fn a_reply_is_complete_only_with_its_last_line() {
        assert_eq!(parse_reply(b""), Parse::Incomplete);
        assert_eq!(parse_reply(b"22"), Parse::Incomplete);
        assert_eq!(parse_reply(b"220 ready"), Parse::Incomplete);
        assert_eq!(parse_reply(b"220-one\r\n220-two\r\n"), Parse::Incomplete);
    }

    #[test]
    fn what_follows_a_reply_is_left_for_the_next() {
        let both = b"220 hi\r\n250 ok\r\n";
        assert_eq!(parse_reply(both), Parse::Done((220, 8)));
        assert_eq!(parse_reply(&both[8..]), Parse::Done((250, 8)));
    }

    #[test]
    fn not_smtp_is_invalid() {
        assert_eq!(parse_reply(b"HTTP/1.1 200 OK\r\n"), Parse::Invalid);
        assert_eq!(parse_reply(b"120 x\r\n"), Parse::Invalid);
        assert_eq!(parse_reply(b"260 x\r\n"), Parse::Invalid);
        assert_eq!(parse_reply(b"220x\r\n"), Parse::Invalid);
        assert_eq!(parse_reply(b"220-a\r\n250 b\r\n"), Parse::Invalid);
        assert_eq!(parse_reply(b"\0\0\0"), Parse::Invalid);
    }

    #[test]
    fn negative_codes_parse() {
        assert_eq!(parse_reply(b"421 busy\r\n"), Parse::Done((421, 10)));
        assert_eq!(parse_reply(b"554 no\r\n"), Parse::Done((554, 8)));
    }
}
