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
use std::time::{Duration, Instant};

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
            Check::Http(check) => Dialogue::Http(http::Http::new(cfg, check)),
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
        let client_first = match &self.dialogue {
            Dialogue::Http(_) => true,
            Dialogue::Smtp(_) => false,
        };
        let mut conn = connect(&self.server, self.port, deadline, requests, client_first)?;
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

    /// What the dialogue looks for in a reply beyond its status, if
    /// anything (`--contains`).
    pub fn sought(&self) -> Option<&[u8]> {
        match &self.dialogue {
            Dialogue::Http(http) => http.sought(),
            Dialogue::Smtp(_) => None,
        }
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

    /// The bytes received and not yet consumed by `read`.
    pub(crate) fn unread(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Gives up what is unread and receives more into the emptied buffer,
    /// by the deadline: how many bytes came (0: the server closed).
    pub(crate) fn refill(&mut self, conn: &mut Conn<'_>) -> Result<usize, ProbeError> {
        self.start = 0;
        self.end = conn.recv(&mut self.buf[..])?;
        Ok(self.end)
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
    /// The connect may not have completed yet: a client that speaks first
    /// sends at once (on loopback the handshake is done when connect
    /// returns), and waits for writability only when the send says so. Until
    /// a send goes through, a failure or a timeout is the connect's.
    connecting: bool,
}

enum Waited {
    Ready,
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
                Ok(n) => {
                    self.connecting = false;
                    bytes = &bytes[n..];
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    match self.wait(sys::WANT_WRITE)? {
                        Waited::Ready => {}
                        Waited::TimedOut if self.connecting => {
                            return Err(Failure::Connect(TIMED_OUT).into())
                        }
                        Waited::TimedOut => return Err(Failure::Wait(TIMED_OUT).into()),
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // The socket's error, which send takes as getsockopt would.
                Err(e) if self.connecting => return Err(connect_failure(errno(&e)).into()),
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

/// Resolves `server` and connects to one of its addresses, all by
/// `deadline`. With several addresses the attempts are staggered as RFC 8305
/// does: each is started in turn, the next one when those in flight have not
/// completed after `stagger_delay`, or at once when one fails; the earlier
/// attempts go on, the first that connects is used and the others are
/// closed. All fail: the failure of the last to end (its connect error, or
/// ETIMEDOUT when the deadline passed with attempts in flight); a socket
/// error only when no socket at all could be made.
///
/// A `client_first` dialogue (HTTP) gets its one address's socket while the
/// connect is still in progress (`Conn::connecting`): its first send tells
/// what a wait for writability and SO_ERROR would, a poll and a getsockopt
/// fewer a probe; and the handshake's last ACK goes out with that send.
fn connect<'a>(
    server: &Server,
    port: u16,
    deadline: Instant,
    requests: &'a mut dyn Requests,
    client_first: bool,
) -> Result<Conn<'a>, ProbeError> {
    let addrs = match server {
        Server::Address(ip) => AddrList::one(SocketAddr::new(*ip, port)),
        Server::Name(name) => sys::resolve(name, port).map_err(Failure::Resolve)?,
    };
    let addrs = addrs.as_slice();
    // The attempts in flight, at their address's index.
    let mut attempts: [Option<OwnedFd>; sys::MAX_ADDRS] = Default::default();
    let mut in_flight = 0;
    let mut next = 0;
    let mut next_start = Instant::now();
    let mut last = Failure::Connect(TIMED_OUT);
    let mut any_socket = false;
    loop {
        // Start the next attempts that are due: one after the delay, or
        // any number at once while each fails at once.
        while next < addrs.len() && (in_flight == 0 || Instant::now() >= next_start) {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let addr = &addrs[next];
            next += 1;
            match start_attempt(addr, client_first)? {
                Started::Connected(sock) => {
                    return Ok(Conn {
                        sock,
                        deadline,
                        requests,
                        connecting: false,
                    })
                }
                Started::InProgress(sock) if client_first && addrs.len() == 1 => {
                    return Ok(Conn {
                        sock,
                        deadline,
                        requests,
                        connecting: true,
                    })
                }
                Started::InProgress(sock) => {
                    any_socket = true;
                    attempts[next - 1] = Some(sock);
                    in_flight += 1;
                    next_start = now + stagger_delay(deadline - now, addrs.len() - next + 1);
                }
                Started::Failed(failure @ Failure::Socket(_)) => {
                    if !any_socket {
                        last = failure;
                    }
                }
                Started::Failed(failure) => {
                    any_socket = true;
                    last = failure;
                }
            }
        }
        if in_flight == 0 {
            // Nothing in flight and nothing more started: all have failed,
            // or the deadline passed before the next could start.
            return Err(last.into());
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(Failure::Connect(TIMED_OUT).into());
        }
        let until = if next < addrs.len() {
            next_start.min(deadline)
        } else {
            deadline
        };
        let mut fds: [Option<BorrowedFd<'_>>; sys::MAX_ADDRS] = [None; sys::MAX_ADDRS];
        for (fd, attempt) in fds.iter_mut().zip(&attempts) {
            *fd = attempt.as_ref().map(|s| s.as_fd());
        }
        let woken = match sys::wait_any(
            &fds[..addrs.len()],
            sys::WANT_WRITE,
            requests.fd(),
            Some(until.saturating_duration_since(now)),
        ) {
            Ok(w) => w,
            // poll itself failing (EINVAL, ENOMEM) leaves nothing to wait on.
            Err(e) => return Err(Failure::System("poll", errno(&e)).into()),
        };
        if woken.watched && requests.take() {
            return Err(ProbeError::Abandoned);
        }
        for (attempt, ready) in attempts.iter_mut().zip(&woken.fds) {
            // (No let-else: the crate builds with rustc 1.63.)
            let sock = match attempt {
                Some(sock) => sock,
                None => continue,
            };
            if !(ready.readable || ready.writable || ready.error) {
                continue;
            }
            match completed(sock.as_fd(), ready)? {
                Ok(()) => {
                    let sock = attempt.take().expect("matched as Some above");
                    // The losing attempts close as `attempts` is dropped.
                    return Ok(Conn {
                        sock,
                        deadline,
                        requests,
                        connecting: false,
                    });
                }
                Err(failure) => {
                    last = failure;
                    *attempt = None;
                    in_flight -= 1;
                    // A failed attempt gives its turn to the next at once.
                    next_start = Instant::now();
                }
            }
        }
    }
}

/// How long an attempt has before the next address's starts: RFC 8305's
/// 250 ms, but never more than a fair share of the time `left`, split evenly
/// between this address and the `remaining - 1` still to start, so that even
/// at `-r 1` every address gets its start before the deadline.
fn stagger_delay(left: Duration, remaining: usize) -> Duration {
    const ATTEMPT_DELAY: Duration = Duration::from_millis(250);
    ATTEMPT_DELAY.min(left / remaining.max(1) as u32)
}

/// How an attempt to connect began.
enum Started {
    Connected(OwnedFd),
    InProgress(OwnedFd),
    /// At once: this host lacks the address's family (a socket error), or
    /// connect refused it outright. The next address may start now.
    Failed(Failure),
}

/// Makes a socket for `addr` and starts connecting it. `Err`: a socket
/// error that no other address can mend (EMFILE, ENOBUFS).
fn start_attempt(addr: &SocketAddr, client_first: bool) -> Result<Started, ProbeError> {
    let sock = match sys::tcp_socket(addr) {
        Ok(s) => s,
        // This host has no such family (IPv6 disabled): try the next address.
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EAFNOSUPPORT) | Some(libc::EPROTONOSUPPORT)
            ) =>
        {
            return Ok(Started::Failed(Failure::Socket(errno(&e))))
        }
        Err(e) => return Err(Failure::Socket(errno(&e)).into()),
    };
    if client_first {
        // Only a packet saved if it works: nothing to do if it does not.
        let _ = sys::ack_with_first_data(sock.as_fd());
    }
    Ok(match sys::connect_start(sock.as_fd(), addr) {
        Ok(true) => Started::Connected(sock),
        Ok(false) => Started::InProgress(sock),
        Err(e) => Started::Failed(Failure::Connect(errno(&e))),
    })
}

/// What the poll that woke for a connecting socket says of it: `Ok(Ok)`
/// connected, `Ok(Err)` this attempt failed, `Err` the probe has.
fn completed(sock: BorrowedFd<'_>, ready: &sys::Ready) -> Result<Result<(), Failure>, ProbeError> {
    // Writable with neither error nor hangup: connected, and no getsockopt
    // is needed to say so (one call less a probe).
    if ready.writable && !ready.error && !ready.hangup {
        return Ok(Ok(()));
    }
    match sys::take_socket_error(sock) {
        Ok(0) => Ok(Ok(())),
        Ok(err) => match connect_failure(err) {
            reset @ Failure::Recv(_) => Err(reset.into()),
            failure => Ok(Err(failure)),
        },
        Err(e) => Ok(Err(Failure::Connect(errno(&e)))),
    }
}

/// The failure a socket error `err` is while its connect is not known to
/// have completed: the connect's, but for a reset.
fn connect_failure(err: i32) -> Failure {
    match err {
        // A reset can only follow an established connection (a refused one
        // is ECONNREFUSED): the server accepted and reset before we looked,
        // as it would after our send.
        libc::ECONNRESET => Failure::Recv(err),
        _ => Failure::Connect(err),
    }
}
