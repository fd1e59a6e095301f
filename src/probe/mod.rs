//! One probe of a server: resolve, connect, talk, decide. A probe returns
//! `Ok` or why it failed; it never sleeps, retries or logs (that is the
//! monitor's policy). Every step shares one deadline, computed by the caller
//! once per probe, and every wait also watches the monitor's requests (its
//! signal descriptor), so that a stop or a pause ends a probe at once while
//! anything else that arrives is taken and the wait goes on with the same
//! deadline.

pub mod body;
pub mod http;
pub mod smtp;

use std::io;
use std::net::SocketAddr;
use std::os::unix::io::{AsFd, BorrowedFd, OwnedFd};
use std::time::Instant;

use crate::cli::{Check, Config, Server};
pub use crate::event::Failure;
use crate::event::TIMED_OUT;
use crate::sys::{self, AddrList};

/// Why a probe did not pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeError {
    Failed(Failure),
    /// A request that ends the probe (stop, pause) arrived; the probe was
    /// abandoned without a verdict.
    Abandoned,
}

impl From<Failure> for ProbeError {
    fn from(f: Failure) -> ProbeError {
        ProbeError::Failed(f)
    }
}

/// What every wait of a probe watches besides its socket: the monitor's
/// requests. The probe knows nothing of what they mean; it asks `take`
/// whether what arrived ends it. Only a request that changes what the probe
/// is for may do so: anything else is taken and the wait goes on with the
/// same deadline, so no signal or verb can postpone a verdict.
pub trait Requests {
    /// Readable when a request may have arrived; None: nothing to watch.
    fn fd(&self) -> Option<BorrowedFd<'_>>;
    /// Takes what has arrived; true when the probe must be abandoned.
    fn take(&mut self) -> bool;
}

/// No requests at all: a probe that only its deadline ends.
pub struct NoRequests;

impl Requests for NoRequests {
    fn fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }

    fn take(&mut self) -> bool {
        false
    }
}

/// The size of the buffer a reply is read into; a longer reply fails.
pub const REPLY_MAX: usize = 4096;

/// The result of parsing the bytes received so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parse<T> {
    /// Not decided yet: more bytes are needed.
    Incomplete,
    Done(T),
    /// These bytes can never become a valid reply.
    Invalid,
}

/// Everything a probe needs, made once at start so that a probe allocates
/// nothing.
pub struct Prober {
    server: Server,
    port: u16,
    dialogue: Dialogue,
    reply: Reply,
}

/// What a probe says and decides once connected: each protocol's own.
enum Dialogue {
    Http(http::Http),
    Smtp(smtp::Smtp),
}

impl Prober {
    pub fn new(cfg: &Config) -> Prober {
        let dialogue = match &cfg.check {
            Check::Http { version, uri } => Dialogue::Http(http::Http::new(cfg, *version, uri)),
            Check::Smtp => Dialogue::Smtp(smtp::Smtp),
        };
        Prober {
            server: cfg.server.clone(),
            port: cfg.port,
            dialogue,
            reply: Reply {
                buf: Box::new([0; REPLY_MAX]),
                start: 0,
                end: 0,
            },
        }
    }

    /// Probes the server once; every step ends by `deadline`, or when
    /// `requests` says a request ends the probe.
    pub fn probe(
        &mut self,
        deadline: Instant,
        requests: &mut dyn Requests,
    ) -> Result<(), ProbeError> {
        self.reply.start = 0;
        self.reply.end = 0;
        let mut conn = connect(&self.server, self.port, deadline, requests)?;
        match &self.dialogue {
            Dialogue::Http(http) => http.talk(&mut self.reply, &mut conn),
            Dialogue::Smtp(smtp) => smtp.talk(&mut self.reply, &mut conn),
        }
    }

    /// The first bytes of the reply last examined, for the record.
    pub fn reply_excerpt(&self) -> &[u8] {
        let reply = &self.reply.buf[self.reply.start..self.reply.end];
        &reply[..reply.len().min(64)]
    }

    /// Writes the protocol's own settings as record lines.
    pub fn write_settings(&self, out: &mut impl std::fmt::Write) -> std::fmt::Result {
        match &self.dialogue {
            Dialogue::Http(http) => http.write_settings(out),
            Dialogue::Smtp(_) => Ok(()),
        }
    }
}

/// The buffer replies are read into; the reply under examination is
/// `buf[start..end]`, and bytes after it (sent ahead of time) wait there
/// for the next.
pub(crate) struct Reply {
    buf: Box<[u8; REPLY_MAX]>,
    start: usize,
    end: usize,
}

impl Reply {
    /// Reads until `parse` decides on the bytes of the current reply. On
    /// `Done((value, used))` the reply's `used` bytes are consumed; bytes
    /// after them stay for the next reply.
    pub(crate) fn read<T>(
        &mut self,
        conn: &mut Conn<'_>,
        parse: impl Fn(&[u8]) -> Parse<(T, usize)>,
    ) -> Result<T, ProbeError> {
        loop {
            match parse(&self.buf[self.start..self.end]) {
                Parse::Done((value, used)) => {
                    self.start += used;
                    return Ok(value);
                }
                Parse::Invalid => return Err(Failure::InvalidResponse.into()),
                Parse::Incomplete => {}
            }
            if self.end == REPLY_MAX {
                if self.start == 0 {
                    return Err(Failure::InvalidResponse.into());
                }
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            match conn.recv(&mut self.buf[self.end..])? {
                0 => return Err(Failure::Recv(0).into()),
                n => self.end += n,
            }
        }
    }

    /// Where the reply under examination stands, to come back to it.
    pub(crate) fn mark(&self) -> (usize, usize) {
        (self.start, self.end)
    }

    pub(crate) fn restore(&mut self, mark: (usize, usize)) {
        (self.start, self.end) = mark;
    }
}

/// A connected socket and the deadline every wait on it shares.
pub(crate) struct Conn<'a> {
    sock: OwnedFd,
    deadline: Instant,
    requests: &'a mut dyn Requests,
}

enum Waited {
    Ready(sys::Ready),
    TimedOut,
}

impl<'a> Conn<'a> {
    fn wait(&mut self, events: libc::c_short) -> Result<Waited, ProbeError> {
        wait_fd(
            self.sock.as_fd(),
            events,
            self.deadline,
            &mut *self.requests,
        )
    }

    /// Sends all of `bytes` by the deadline.
    pub(crate) fn send_all(&mut self, mut bytes: &[u8]) -> Result<(), ProbeError> {
        while !bytes.is_empty() {
            match sys::send(self.sock.as_fd(), bytes) {
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    match self.wait(sys::WANT_WRITE)? {
                        Waited::Ready(_) => {}
                        Waited::TimedOut => return Err(Failure::Wait(TIMED_OUT).into()),
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Failure::Send(errno(&e)).into()),
            }
        }
        Ok(())
    }

    /// Receives what has come, waiting for it until the deadline. `Ok(0)`:
    /// the server closed the connection.
    pub(crate) fn recv(&mut self, buf: &mut [u8]) -> Result<usize, ProbeError> {
        loop {
            match self.wait(sys::WANT_READ)? {
                Waited::Ready(_) => {}
                Waited::TimedOut => return Err(Failure::Wait(TIMED_OUT).into()),
            }
            match sys::recv(self.sock.as_fd(), buf) {
                Ok(n) => return Ok(n),
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Failure::Recv(errno(&e)).into()),
            }
        }
    }
}

/// Waits for `fd` until `deadline`, or until a request ends the probe.
fn wait_fd(
    fd: BorrowedFd<'_>,
    events: libc::c_short,
    deadline: Instant,
    requests: &mut dyn Requests,
) -> Result<Waited, ProbeError> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let woken = match sys::wait_for(Some(fd), events, requests.fd(), Some(left)) {
            Ok(w) => w,
            // poll itself failing (EINVAL, ENOMEM) leaves nothing to wait on.
            Err(e) => return Err(Failure::System("poll", errno(&e)).into()),
        };
        if woken.watched && requests.take() {
            return Err(ProbeError::Abandoned);
        }
        if woken.fd.readable || woken.fd.writable || woken.fd.error {
            return Ok(Waited::Ready(woken.fd));
        }
        if Instant::now() >= deadline {
            return Ok(Waited::TimedOut);
        }
    }
}

fn errno(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

/// Resolves `server` and connects to the first address that answers, all by
/// `deadline`.
fn connect<'a>(
    server: &Server,
    port: u16,
    deadline: Instant,
    requests: &'a mut dyn Requests,
) -> Result<Conn<'a>, ProbeError> {
    let addrs = match server {
        Server::Address(ip) => AddrList::one(SocketAddr::new(*ip, port)),
        Server::Name(name) => sys::resolve(name, port).map_err(Failure::Resolve)?,
    };
    let mut last = Failure::Connect(TIMED_OUT);
    let mut any_socket = false;
    for addr in addrs.as_slice() {
        if Instant::now() >= deadline {
            break;
        }
        let sock = match sys::tcp_socket(addr) {
            Ok(s) => s,
            // This host has no such family (IPv6 disabled): try the next address.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EAFNOSUPPORT) | Some(libc::EPROTONOSUPPORT)
                ) =>
            {
                if !any_socket {
                    last = Failure::Socket(errno(&e));
                }
                continue;
            }
            Err(e) => return Err(Failure::Socket(errno(&e)).into()),
        };
        any_socket = true;
        let connected = match sys::connect_start(sock.as_fd(), addr) {
            Ok(true) => true,
            Ok(false) => match wait_fd(sock.as_fd(), sys::WANT_WRITE, deadline, &mut *requests)? {
                Waited::TimedOut => {
                    last = Failure::Connect(TIMED_OUT);
                    break;
                }
                // Writable with neither error nor hangup: connected, and
                // no getsockopt is needed to say so (one call less a probe).
                Waited::Ready(r) if r.writable && !r.error && !r.hangup => true,
                Waited::Ready(_) => match sys::take_socket_error(sock.as_fd()) {
                    Ok(0) => true,
                    // A reset can only follow an established connection (a
                    // refused one is ECONNREFUSED): the server accepted and
                    // reset before we looked, as it would after our send.
                    Ok(err) if err == libc::ECONNRESET => return Err(Failure::Recv(err).into()),
                    Ok(err) => {
                        last = Failure::Connect(err);
                        false
                    }
                    Err(e) => {
                        last = Failure::Connect(errno(&e));
                        false
                    }
                },
            },
            Err(e) => {
                last = Failure::Connect(errno(&e));
                false
            }
        };
        if connected {
            return Ok(Conn {
                sock,
                deadline,
                requests,
            });
        }
    }
    Err(last.into())
}
