//! Fake HTTP and SMTP servers that answer with canned replies.

use std::io;
use std::time::Duration;

use super::{FakeServer, QUICK};

/// How the fake HTTP server answers one request.
#[derive(Debug, Clone)]
pub enum HttpReply {
    /// Send these bytes and close.
    Send(Vec<u8>),
    /// Send these bytes, then keep the connection open without closing.
    SendAndHold(Vec<u8>),
    /// Accept, read the request, answer nothing.
    Silent,
    /// Send these bytes one at a time, `gap` apart.
    Trickle(Vec<u8>, Duration),
    /// Wait this long (reading what arrives), then send and close.
    Delayed(Duration, Vec<u8>),
    /// Read the request and close without an answer.
    Close,
}

/// `HTTP/1.1 <code> …` with an empty body.
pub fn http_status(code: u16) -> HttpReply {
    HttpReply::Send(
        format!("HTTP/1.1 {code} Test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .into_bytes(),
    )
}

/// How long a fake server holds a connection the monitor does not close.
pub const HOLD_LIMIT: Duration = Duration::from_secs(30);

/// A fake HTTP server: reads each request's head, then answers with
/// `reply(connection index)`.
pub fn http_server(
    bind: &str,
    reply: impl Fn(usize) -> HttpReply + Send + Sync + 'static,
) -> io::Result<FakeServer> {
    FakeServer::start(bind, move |conn| {
        if conn.read_until(b"\r\n\r\n", QUICK).is_none() {
            return;
        }
        match reply(conn.index) {
            HttpReply::Send(bytes) => {
                conn.send(&bytes);
            }
            HttpReply::SendAndHold(bytes) => {
                if conn.send(&bytes) {
                    conn.hold(HOLD_LIMIT);
                }
            }
            HttpReply::Silent => conn.hold(HOLD_LIMIT),
            HttpReply::Trickle(bytes, gap) => {
                for byte in bytes {
                    if !conn.send(&[byte]) || !conn.linger(gap) {
                        return;
                    }
                }
                conn.hold(HOLD_LIMIT);
            }
            HttpReply::Delayed(delay, bytes) => {
                if conn.linger(delay) {
                    conn.send(&bytes);
                }
            }
            HttpReply::Close => {}
        }
    })
}

/// A fake HTTP server on 127.0.0.1 answering every request with `code`.
pub fn http_status_server(code: u16) -> FakeServer {
    http_server("127.0.0.1:0", move |_| http_status(code)).expect("bind 127.0.0.1:0")
}

/// What the fake SMTP server says on one connection. An empty greeting
/// means: accept and say nothing.
#[derive(Debug, Clone)]
pub struct SmtpReplies {
    pub greeting: Vec<u8>,
    pub noop: Vec<u8>,
}

impl SmtpReplies {
    pub fn new(greeting: &str, noop: &str) -> SmtpReplies {
        SmtpReplies {
            greeting: greeting.as_bytes().to_vec(),
            noop: noop.as_bytes().to_vec(),
        }
    }

    pub fn healthy() -> SmtpReplies {
        SmtpReplies::new("220 mail.test ESMTP ready\r\n", "250 2.0.0 OK\r\n")
    }
}

/// A fake SMTP server: greets, answers NOOP with the script's reply, QUIT
/// with 221 (then closes), anything else with 500.
pub fn smtp_server(
    bind: &str,
    script: impl Fn(usize) -> SmtpReplies + Send + Sync + 'static,
) -> io::Result<FakeServer> {
    FakeServer::start(bind, move |conn| {
        let replies = script(conn.index);
        if replies.greeting.is_empty() {
            conn.hold(HOLD_LIMIT);
            return;
        }
        if !conn.send(&replies.greeting) {
            return;
        }
        // A probe sends two commands; a few more are answered so that a
        // wrong client is recorded rather than cut off.
        for _ in 0..8 {
            let line = match conn.read_line(QUICK) {
                Some(line) => line,
                None => return,
            };
            let command = String::from_utf8_lossy(&line).trim().to_ascii_uppercase();
            let answer: &[u8] = match command.as_str() {
                "NOOP" => &replies.noop,
                "QUIT" => b"221 2.0.0 Bye\r\n",
                _ => b"500 5.5.2 Unrecognized command\r\n",
            };
            if !conn.send(answer) || command == "QUIT" {
                return;
            }
        }
    })
}
