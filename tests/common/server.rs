//! A fake TCP server on a kernel-chosen port: a thread per connection runs
//! the test's handler on the server's end (`Conn`), which records what
//! arrives and can answer, stall, trickle, close or reset.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::io::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::wait_until;

/// What one accepted connection saw.
#[derive(Debug, Clone)]
pub struct ConnRecord {
    pub accepted_at: Instant,
    /// Everything the monitor sent on it so far.
    pub received: Vec<u8>,
    /// When the monitor closed or reset it, if the server noticed.
    pub peer_closed_at: Option<Instant>,
    /// The handler is done with it.
    pub finished: bool,
}

struct ServerShared {
    stop: AtomicBool,
    conns: Mutex<Vec<ConnRecord>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    /// What a handler could not do (`Conn::reset`).
    errors: Mutex<Vec<String>>,
}

/// A TCP server on a kernel-chosen port that runs `handler` on a thread of
/// its own for each connection. Dropping it stops the accept loop and every
/// handler (they poll the stop flag).
pub struct FakeServer {
    pub addr: SocketAddr,
    shared: Arc<ServerShared>,
    acceptor: Option<JoinHandle<()>>,
}

impl FakeServer {
    /// Binds `bind` (e.g. `127.0.0.1:0`, `[::1]:0`).
    pub fn start(
        bind: &str,
        handler: impl Fn(&mut Conn) + Send + Sync + 'static,
    ) -> io::Result<FakeServer> {
        let listener = TcpListener::bind(bind)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(ServerShared {
            stop: AtomicBool::new(false),
            conns: Mutex::new(Vec::new()),
            workers: Mutex::new(Vec::new()),
            errors: Mutex::new(Vec::new()),
        });
        let handler = Arc::new(handler);
        let accept_shared = Arc::clone(&shared);
        let acceptor = thread::spawn(move || {
            for stream in listener.incoming() {
                if accept_shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                let stream = match stream {
                    Ok(stream) => stream,
                    Err(_) => continue,
                };
                let index = {
                    let mut conns = accept_shared.conns.lock().unwrap();
                    conns.push(ConnRecord {
                        accepted_at: Instant::now(),
                        received: Vec::new(),
                        peer_closed_at: None,
                        finished: false,
                    });
                    conns.len() - 1
                };
                let mut conn = Conn {
                    stream,
                    index,
                    shared: Arc::clone(&accept_shared),
                    pending: Vec::new(),
                    peer_closed: false,
                    shut_down_when_done: true,
                };
                let handler = Arc::clone(&handler);
                let worker = thread::spawn(move || {
                    handler(&mut conn);
                    conn.finish();
                });
                accept_shared.workers.lock().unwrap().push(worker);
            }
        });
        Ok(FakeServer {
            addr,
            shared,
            acceptor: Some(acceptor),
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn port_arg(&self) -> String {
        self.port().to_string()
    }

    pub fn connections(&self) -> usize {
        self.shared.conns.lock().unwrap().len()
    }

    pub fn records(&self) -> Vec<ConnRecord> {
        self.shared.conns.lock().unwrap().clone()
    }

    pub fn record(&self, index: usize) -> Option<ConnRecord> {
        self.shared.conns.lock().unwrap().get(index).cloned()
    }

    /// Waits until at least `n` connections were accepted.
    pub fn wait_connections(&self, n: usize, limit: Duration) -> bool {
        wait_until(limit, || self.connections() >= n)
    }

    /// What the handlers could not do, e.g. set up a reset.
    pub fn errors(&self) -> Vec<String> {
        self.shared.errors.lock().unwrap().clone()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        let workers: Vec<_> = self.shared.workers.lock().unwrap().drain(..).collect();
        for worker in workers {
            let _ = worker.join();
        }
    }
}

/// The server's end of one connection, handed to the handler.
pub struct Conn {
    stream: TcpStream,
    pub index: usize,
    shared: Arc<ServerShared>,
    /// Received and not yet consumed by `read_until`.
    pending: Vec<u8>,
    peer_closed: bool,
    /// `shutdown(2)` before the close once the handler is done; without it
    /// a close with data unread sends RST alone, not FIN then RST.
    shut_down_when_done: bool,
}

/// How long one read (or `send_within` write) blocks before the handler
/// looks at the stop flag.
const SLICE: Duration = Duration::from_millis(20);

impl Conn {
    fn stopping(&self) -> bool {
        self.shared.stop.load(Ordering::SeqCst)
    }

    fn note_peer_closed(&mut self) {
        if !self.peer_closed {
            self.peer_closed = true;
            self.shared.conns.lock().unwrap()[self.index].peer_closed_at = Some(Instant::now());
        }
    }

    fn finish(&mut self) {
        self.shared.conns.lock().unwrap()[self.index].finished = true;
        if self.shut_down_when_done {
            let _ = self.stream.shutdown(Shutdown::Both);
        }
    }

    /// One bounded read; false when the peer closed, the server stops, or
    /// `deadline` has passed.
    fn read_some(&mut self, deadline: Instant) -> bool {
        if self.peer_closed || self.stopping() {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        let wait = (deadline - now).min(SLICE).max(Duration::from_millis(1));
        let _ = self.stream.set_read_timeout(Some(wait));
        let mut buf = [0u8; 4096];
        match self.stream.read(&mut buf) {
            Ok(0) => {
                self.note_peer_closed();
                false
            }
            Ok(n) => {
                self.pending.extend_from_slice(&buf[..n]);
                self.shared.conns.lock().unwrap()[self.index]
                    .received
                    .extend_from_slice(&buf[..n]);
                true
            }
            Err(e) if is_transient(&e) => true,
            Err(_) => {
                self.note_peer_closed();
                false
            }
        }
    }

    /// Reads until `pattern` arrived and returns everything up to and
    /// including it; `None` on close, stop or after `limit`.
    pub fn read_until(&mut self, pattern: &[u8], limit: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(at) = self
                .pending
                .windows(pattern.len())
                .position(|w| w == pattern)
            {
                let rest = self.pending.split_off(at + pattern.len());
                return Some(std::mem::replace(&mut self.pending, rest));
            }
            if !self.read_some(deadline) {
                return None;
            }
        }
    }

    pub fn read_line(&mut self, limit: Duration) -> Option<Vec<u8>> {
        self.read_until(b"\n", limit)
    }

    /// Writes all of `bytes`; false when the peer is gone.
    pub fn send(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).is_ok() && self.stream.flush().is_ok()
    }

    /// Keeps the connection open, reading (and recording) what arrives, for
    /// `span`; false when the peer closed or the server stops first.
    pub fn linger(&mut self, span: Duration) -> bool {
        let deadline = Instant::now() + span;
        while self.read_some(deadline) {}
        !self.peer_closed && !self.stopping()
    }

    /// Holds the connection without answering until the peer closes it, the
    /// server stops, or `limit` passes.
    pub fn hold(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.read_some(deadline) {}
    }

    /// Writes all of `bytes`, each write blocking at most `SLICE`, looking
    /// at the stop flag between them: unlike `send`, it cannot block on a peer
    /// that stopped reading. False when the peer is gone, the server stops
    /// or `limit` passes first.
    pub fn send_within(&mut self, bytes: &[u8], limit: Duration) -> bool {
        let sent = self.write_in_slices(bytes, Instant::now() + limit);
        // `send` blocks as long as it takes.
        let _ = self.stream.set_write_timeout(None);
        sent
    }

    fn write_in_slices(&mut self, mut bytes: &[u8], deadline: Instant) -> bool {
        if self.stream.set_write_timeout(Some(SLICE)).is_err() {
            return false;
        }
        while !bytes.is_empty() {
            if self.stopping() || Instant::now() >= deadline {
                return false;
            }
            match self.stream.write(bytes) {
                Ok(0) => return false,
                Ok(n) => bytes = &bytes[n..],
                Err(e) if is_transient(&e) => {}
                Err(_) => {
                    self.note_peer_closed();
                    return false;
                }
            }
        }
        true
    }

    /// Once the handler is done, closes the socket without shutting it
    /// down first, as dropping a `TcpStream` does.
    pub fn close_without_shutdown(&mut self) {
        self.shut_down_when_done = false;
    }

    /// Once the handler is done, resets the connection: SO_LINGER 0, so
    /// that the close sends RST, not FIN. A failure to set it is recorded
    /// in the server's `errors`.
    pub fn reset(&mut self) {
        self.close_without_shutdown();
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: setsockopt(2) on the descriptor `self.stream` owns, with a
        // pointer to a live `linger` and that struct's exact size.
        let rc = unsafe {
            libc::setsockopt(
                self.stream.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            self.shared.errors.lock().unwrap().push(format!(
                "setsockopt(SO_LINGER): {}",
                io::Error::last_os_error()
            ));
        }
    }
}

/// An error after which the same read or write may be tried again.
fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}
