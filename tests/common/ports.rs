//! Ports on the loopback: one free for a server, one where nothing listens,
//! one where a connection never completes.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::io::AsRawFd;
use std::sync::Mutex;
use std::time::Duration;

/// A TCP port on 127.0.0.1 that is free now, for a server the test starts
/// (a real daemon binds it itself): bound by the kernel's choice, then
/// released. Not for "nothing listening": use `closed_port` for that.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

/// A TCP port on 127.0.0.1 with nothing listening, for the rest of this
/// test process: a socket bound there (the kernel's choice) that never
/// listens, so a connection is refused, and that is kept open, so no server
/// started by a test running alongside can be given the same port (which a
/// port merely bound and released could be).
pub fn closed_port() -> u16 {
    use std::os::unix::io::{FromRawFd, OwnedFd};
    static HELD: Mutex<Vec<OwnedFd>> = Mutex::new(Vec::new());
    // SAFETY: socket has no memory-safety preconditions.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0, "socket: {}", io::Error::last_os_error());
    // SAFETY: `fd` was just created and nothing else owns it.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_in is plain data, valid when zeroed.
    let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    addr.sin_family = libc::AF_INET as libc::sa_family_t;
    addr.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    let sa = &mut addr as *mut libc::sockaddr_in as *mut libc::sockaddr;
    // SAFETY: `sa` points to a sockaddr_in of `len` bytes, for both calls.
    let bound = unsafe { libc::bind(fd, sa, len) == 0 && libc::getsockname(fd, sa, &mut len) == 0 };
    assert!(bound, "bind 127.0.0.1:0: {}", io::Error::last_os_error());
    HELD.lock().unwrap().push(sock);
    u16::from_be(addr.sin_port)
}

/// Whether `[::1]` can be bound here.
pub fn ipv6_loopback_available() -> bool {
    TcpListener::bind("[::1]:0").is_ok()
}

/// A listener with a backlog of 0 whose accept queue is full and that
/// never accepts: the kernel drops every further SYN, so a connect there
/// never completes, as on a server too busy to take connections or an
/// address whose packets are dropped.
pub struct FullBacklog {
    listener: TcpListener,
    _queued: Vec<TcpStream>,
}

impl FullBacklog {
    /// At `bind` (port 0: the kernel's choice).
    pub fn at(bind: SocketAddr) -> Result<FullBacklog, String> {
        let listener = TcpListener::bind(bind).map_err(|e| format!("bind {bind}: {e}"))?;
        // SAFETY: listen(2) on the descriptor `listener` owns; on a socket
        // that already listens it only changes the backlog.
        let rc = unsafe { libc::listen(listener.as_raw_fd(), 0) };
        assert_eq!(rc, 0, "listen(fd, 0): {}", io::Error::last_os_error());
        let addr = listener
            .local_addr()
            .map_err(|e| format!("local_addr: {e}"))?;
        let mut queued = Vec::new();
        // Connect until a connection is no longer completed: the queue is
        // full from then on, since nothing accepts.
        for _ in 0..8 {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
                Ok(stream) => queued.push(stream),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    return Ok(FullBacklog {
                        listener,
                        _queued: queued,
                    })
                }
                Err(e) => return Err(format!("filling the accept queue of {addr}: {e}")),
            }
        }
        Err(format!(
            "{} connections to {addr} completed without accept: its backlog never filled",
            queued.len()
        ))
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().expect("local_addr").port()
    }

    /// The queue stayed full: one more connection is still not completed.
    pub fn assert_still_full(&self) {
        let addr = self.listener.local_addr().expect("local_addr");
        let late = TcpStream::connect_timeout(&addr, Duration::from_millis(300));
        assert!(
            late.is_err(),
            "a connection to the full backlog at {addr} completed: the case proved nothing"
        );
    }
}
