//! One probe of a server: resolve, connect, talk, decide. A probe returns
//! `Ok` or why it failed; it never sleeps, retries or logs (that is the
//! monitor's policy). Every step shares one deadline, computed by the caller
//! once per probe, and every wait also watches the monitor's requests (its
//! signal descriptor), so that a stop or a pause ends a probe at once while
//! anything else that arrives is taken and the wait goes on with the same
//! deadline.

pub mod http;
pub mod smtp;

use std::io;
use std::net::SocketAddr;
use std::os::unix::io::{AsFd, BorrowedFd, OwnedFd};
use std::time::Instant;

use crate::cli::{Config, Server};
pub use crate::event::Failure;
use crate::event::TIMED_OUT;
use crate::sys::{self, AddrList};
use crate::Protocol;

/// Why a probe ended without a verdict or with a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    Failed(Failure),
    /// A request that ends the probe (stop, pause) arrived; the probe was
    /// abandoned without a verdict.
    Interrupted,
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

impl From<Failure> for Stop {
    fn from(f: Failure) -> Stop {
        Stop::Failed(f)
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
    proto: Protocol,
    server: Server,
    port: u16,
    /// HTTP: the whole request.
    request: Vec<u8>,
    /// HTTP: whether a 4xx/5xx status fails (any URI but `/`).
    check_status: bool,
    buf: Box<[u8; REPLY_MAX]>,
    /// The reply under examination is `buf[start..len]`.
    start: usize,
    len: usize,
}

impl Prober {
    pub fn new(proto: Protocol, cfg: &Config) -> Prober {
        let request = match proto {
            Protocol::Http => http::request(cfg),
            Protocol::Smtp => Vec::new(),
        };
        Prober {
            proto,
            server: cfg.server.clone(),
            port: cfg.port,
            request,
            check_status: cfg.uri != "/",
            buf: Box::new([0; REPLY_MAX]),
            start: 0,
            len: 0,
        }
    }

    /// Probes the server once; every step ends by `deadline`, or when
    /// `requests` says a request ends the probe.
    pub fn probe(&mut self, deadline: Instant, requests: &mut dyn Requests) -> Result<(), Stop> {
        self.start = 0;
        self.len = 0;
        let mut conn = connect(&self.server, self.port, deadline, requests)?;
        match self.proto {
            Protocol::Http => http::probe(self, &mut conn),
            Protocol::Smtp => smtp::probe(self, &mut conn),
        }
    }

    /// The first bytes of the reply last examined, for the record.
    pub fn reply_excerpt(&self) -> &[u8] {
        let reply = &self.buf[self.start..self.len];
        &reply[..reply.len().min(64)]
    }

    /// Reads until `parse` decides on the bytes of the current reply. On
    /// `Done((value, used))` the reply's `used` bytes are consumed; bytes
    /// after them stay for the next reply.
    fn read_reply<T>(
        &mut self,
        conn: &mut Conn<'_>,
        parse: impl Fn(&[u8]) -> Parse<(T, usize)>,
    ) -> Result<T, Stop> {
        loop {
            match parse(&self.buf[self.start..self.len]) {
                Parse::Done((value, used)) => {
                    self.start += used;
                    return Ok(value);
                }
                Parse::Invalid => return Err(Failure::InvalidResponse.into()),
                Parse::Incomplete => {}
            }
            if self.len == REPLY_MAX {
                if self.start == 0 {
                    return Err(Failure::InvalidResponse.into());
                }
                self.buf.copy_within(self.start..self.len, 0);
                self.len -= self.start;
                self.start = 0;
            }
            match conn.recv(&mut self.buf[self.len..])? {
                0 => return Err(Failure::Recv(0).into()),
                n => self.len += n,
            }
        }
    }
}

/// A connected socket and the deadline every wait on it shares.
pub(crate) struct Conn<'a> {
    sock: OwnedFd,
    deadline: Instant,
    requests: &'a mut dyn Requests,
}

enum Waited {
    Ready,
    TimedOut,
}

impl<'a> Conn<'a> {
    fn wait(&mut self, events: libc::c_short) -> Result<Waited, Stop> {
        wait_fd(
            self.sock.as_fd(),
            events,
            self.deadline,
            &mut *self.requests,
        )
    }

    /// Sends all of `bytes` by the deadline.
    pub(crate) fn send_all(&mut self, mut bytes: &[u8]) -> Result<(), Stop> {
        while !bytes.is_empty() {
            match sys::send(self.sock.as_fd(), bytes) {
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    match self.wait(sys::WANT_WRITE)? {
                        Waited::Ready => {}
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
    pub(crate) fn recv(&mut self, buf: &mut [u8]) -> Result<usize, Stop> {
        loop {
            match self.wait(sys::WANT_READ)? {
                Waited::Ready => {}
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
) -> Result<Waited, Stop> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let woken = match sys::wait_for(Some(fd), events, requests.fd(), Some(left)) {
            Ok(w) => w,
            // poll itself failing (EINVAL, ENOMEM) leaves nothing to wait on.
            Err(e) => return Err(Failure::System("poll", errno(&e)).into()),
        };
        if woken.watched && requests.take() {
            return Err(Stop::Interrupted);
        }
        if woken.fd.readable || woken.fd.writable || woken.fd.error {
            return Ok(Waited::Ready);
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
) -> Result<Conn<'a>, Stop> {
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
                Waited::Ready => match sys::take_socket_error(sock.as_fd()) {
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
