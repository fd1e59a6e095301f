//! Ports on the loopback: one free for a server, one where nothing listens.

use std::io;
use std::net::TcpListener;
use std::sync::Mutex;

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
