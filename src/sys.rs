//! The only module with `unsafe`: thin wrappers around the libc calls std
//! does not offer. Each wrapper turns errno into an `io::Error` on the spot
//! and retries `EINTR` where a retry is harmless.
//!
//! Why not std's sockets: std can connect with a timeout and read with
//! `SO_RCVTIMEO`, but such a blocking call ends only for its socket or its
//! timeout. A monitor must end any wait at once when it is told to stop or
//! pause, so every wait here is one `ppoll` on the socket together with the
//! monitor's signalfd. The rest is what std lacks altogether: signalfd,
//! timerfd,
//! getaddrinfo with its own error code, `*at` calls relative to a directory
//! descriptor, flock, kill, geteuid, localtime_r, and a shared mapping of
//! a file with the SIGBUS handler that lets it be truncated under us.

use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::unix::io::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{compiler_fence, AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// Turns a `-1` return into the thread's errno.
fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Like `cvt`, retrying while the call was interrupted by a signal.
fn cvt_r(mut call: impl FnMut() -> libc::c_int) -> io::Result<libc::c_int> {
    loop {
        match cvt(call()) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

fn cvt_size(ret: libc::ssize_t) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

/// Takes ownership of a descriptor a successful call just returned.
fn owned(fd: libc::c_int) -> OwnedFd {
    // SAFETY: `fd` was just returned by a successful syscall that created it,
    // and nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

// ---------------------------------------------------------------- signals

/// The signals the monitor takes through its signalfd.
pub const SIGNALS: [libc::c_int; 4] = [libc::SIGTERM, libc::SIGINT, libc::SIGUSR1, libc::SIGUSR2];

fn signal_set(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it before use.
    let mut set: libc::sigset_t = unsafe { mem::zeroed() };
    // SAFETY: `set` is a valid, exclusively borrowed sigset_t.
    unsafe { libc::sigemptyset(&mut set) };
    for &sig in signals {
        // SAFETY: as above; `sig` is a valid signal number.
        unsafe { libc::sigaddset(&mut set, sig) };
    }
    set
}

/// Blocks `signals` for this (single-threaded) process and returns a
/// non-blocking signalfd that reports them instead.
pub fn signalfd(signals: &[libc::c_int]) -> io::Result<OwnedFd> {
    let set = signal_set(signals);
    // SAFETY: `set` is initialised; a null old-set pointer is allowed.
    cvt(unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) })?;
    // SAFETY: -1 asks for a new descriptor; `set` is initialised.
    let fd = cvt(unsafe { libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) })?;
    Ok(owned(fd))
}

/// Reads one pending signal number from a signalfd, if any.
pub fn read_signal(fd: BorrowedFd<'_>) -> io::Result<Option<i32>> {
    // SAFETY: signalfd_siginfo is plain data.
    let mut info: libc::signalfd_siginfo = unsafe { mem::zeroed() };
    let size = mem::size_of::<libc::signalfd_siginfo>();
    // SAFETY: the buffer is `size` bytes of writable memory we own.
    let n = unsafe {
        libc::read(
            fd.as_raw_fd(),
            &mut info as *mut _ as *mut libc::c_void,
            size,
        )
    };
    match cvt_size(n) {
        Ok(n) if n == size => Ok(Some(info.ssi_signo as i32)),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e),
    }
}

/// Sets `signal` to be ignored.
pub fn ignore_signal(signal: libc::c_int) -> io::Result<()> {
    // SAFETY: SIG_IGN is a valid disposition for the catchable `signal`.
    if unsafe { libc::signal(signal, libc::SIG_IGN) } == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The effective user ID of this process.
pub fn euid() -> u32 {
    // SAFETY: geteuid cannot fail and has no preconditions.
    unsafe { libc::geteuid() }
}

/// Sends `signal` to `pid`.
pub fn kill(pid: u32, signal: libc::c_int) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    if pid <= 0 {
        // 0 and negative pids address process groups: never ours to signal.
        return Err(io::Error::from_raw_os_error(libc::ESRCH));
    }
    // SAFETY: kill has no memory-safety preconditions.
    cvt(unsafe { libc::kill(pid, signal) }).map(drop)
}

// ------------------------------------------------------------------ poll

/// What `poll` reported for one descriptor.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ready {
    /// Data, or the end of the stream (POLLIN, POLLHUP).
    pub readable: bool,
    pub writable: bool,
    /// POLLERR, POLLNVAL.
    pub error: bool,
    /// POLLHUP alone: both directions are shut (a reset, a refusal).
    pub hangup: bool,
}

pub const WANT_READ: libc::c_short = libc::POLLIN;
pub const WANT_WRITE: libc::c_short = libc::POLLOUT;

/// What ended a `wait_for`: the readiness of the socket and whether the
/// watched descriptor became readable; neither means the time ran out (or a
/// signal without a handler interrupted the call).
#[derive(Clone, Copy, Debug, Default)]
pub struct Woken {
    pub fd: Ready,
    pub watched: bool,
}

/// Waits up to `timeout` (None: for ever) for `fd` to become ready for
/// `events`, or for `watched` (the monitor's signalfd) to become readable.
///
/// A wait may end a little early, never late. The kernel lets a poll's
/// timeout run long by its slack: 0.1 % of the timeout, 0.5 % for a niced
/// process, at most 100 ms. So a timeout above 50 ms is shortened by 0.5 %
/// (at most 100 ms), and the caller, which loops until its own deadline,
/// waits out the small rest with a second `ppoll`, whose slack below 50 ms
/// is the default 50 us. `EINTR` is reported as an empty `Woken`, so the
/// caller rechecks its deadline.
pub fn wait_for(
    fd: Option<BorrowedFd<'_>>,
    events: libc::c_short,
    watched: Option<BorrowedFd<'_>>,
    timeout: Option<Duration>,
) -> io::Result<Woken> {
    let woken = wait_any(&[fd], events, watched, timeout)?;
    Ok(Woken {
        fd: woken.fds[0],
        watched: woken.watched,
    })
}

impl Ready {
    fn from(revents: libc::c_short) -> Ready {
        Ready {
            readable: revents & (libc::POLLIN | libc::POLLHUP) != 0,
            writable: revents & libc::POLLOUT != 0,
            error: revents & (libc::POLLERR | libc::POLLNVAL) != 0,
            hangup: revents & libc::POLLHUP != 0,
        }
    }
}

/// What ended a `wait_any`: the readiness of each socket, at the index it
/// was given (a `None` stays not ready), and whether the watched descriptor
/// became readable.
#[derive(Clone, Copy, Debug, Default)]
pub struct WokenAny {
    pub fds: [Ready; MAX_ADDRS],
    pub watched: bool,
}

/// Like `wait_for`, for up to `MAX_ADDRS` sockets at once (the `Some` of
/// `fds`, all waited on for `events`): one `ppoll` on the sockets, in the
/// order given, and then `watched`, so that with a single socket it is the
/// very call `wait_for` makes. More than `MAX_ADDRS` sockets: EINVAL.
pub fn wait_any(
    fds: &[Option<BorrowedFd<'_>>],
    events: libc::c_short,
    watched: Option<BorrowedFd<'_>>,
    timeout: Option<Duration>,
) -> io::Result<WokenAny> {
    if fds.len() > MAX_ADDRS {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let unused = libc::pollfd {
        fd: -1,
        events: 0,
        revents: 0,
    };
    let mut polled = [unused; MAX_ADDRS + 1];
    // Where each of `polled` came from in `fds`.
    let mut from = [0usize; MAX_ADDRS];
    let mut n = 0;
    for (i, fd) in fds.iter().enumerate() {
        if let Some(fd) = fd {
            polled[n] = libc::pollfd {
                fd: fd.as_raw_fd(),
                events,
                revents: 0,
            };
            from[n] = i;
            n += 1;
        }
    }
    polled[n] = libc::pollfd {
        fd: watched.map_or(-1, |f| f.as_raw_fd()),
        events: libc::POLLIN,
        revents: 0,
    };
    let mut woken = WokenAny::default();
    if !ppoll(&mut polled[..=n], timeout)? {
        return Ok(woken);
    }
    for (p, &i) in polled[..n].iter().zip(&from) {
        woken.fds[i] = Ready::from(p.revents);
    }
    woken.watched = polled[n].revents != 0;
    Ok(woken)
}

/// One `ppoll` on `fds` for `timeout` (None: for ever), shortened by the
/// kernel's slack as `wait_for` says. `Ok(false)`: interrupted by a signal,
/// nothing reported.
fn ppoll(fds: &mut [libc::pollfd], timeout: Option<Duration>) -> io::Result<bool> {
    // SAFETY: timespec is plain data.
    let mut ts: libc::timespec = unsafe { mem::zeroed() };
    let ts_ptr = match timeout {
        None => std::ptr::null(),
        Some(t) => {
            let slack = if t > Duration::from_millis(50) {
                (t / 200).min(Duration::from_millis(100))
            } else {
                Duration::ZERO
            };
            let t = t - slack;
            // Beyond any timeout the command accepts; saturate, don't wrap.
            ts.tv_sec = t.as_secs().min(i32::MAX as u64) as _;
            ts.tv_nsec = t.subsec_nanos() as _;
            &ts as *const libc::timespec
        }
    };
    // SAFETY: `fds` is a valid array of `fds.len()` pollfd (negative fds
    // are ignored); `ts_ptr` is null or points to `ts`, alive for the call;
    // a null signal mask leaves the mask alone.
    let ret = unsafe {
        libc::ppoll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            ts_ptr,
            std::ptr::null(),
        )
    };
    match cvt(ret) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
        Err(e) => Err(e),
    }
}

// ----------------------------------------------------------------- timers

/// A one-shot timer on CLOCK_MONOTONIC that a poll can wait on: it fires
/// at its time, with none of the slack the kernel adds to a poll's own
/// timeout (0.1 % of it, up to 100 ms), so a sleep is one wake-up.
pub fn timerfd() -> io::Result<OwnedFd> {
    let flags = libc::TFD_NONBLOCK | libc::TFD_CLOEXEC;
    // SAFETY: timerfd_create has no memory-safety preconditions.
    let fd = cvt(unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, flags) })?;
    Ok(owned(fd))
}

/// Arms `timer` to fire once, `after` from now (at least 1 ns: zero would
/// disarm it). Arming clears an expiry not yet read (timerfd_settime sets
/// its count to 0), so a fired timer needs no read before it is armed again.
pub fn arm_timer(timer: BorrowedFd<'_>, after: Duration) -> io::Result<()> {
    let after = after.max(Duration::from_nanos(1));
    // SAFETY: itimerspec is plain data; zero is a disarmed interval.
    let mut spec: libc::itimerspec = unsafe { mem::zeroed() };
    spec.it_value.tv_sec = after.as_secs().min(i32::MAX as u64) as _;
    spec.it_value.tv_nsec = after.subsec_nanos() as _;
    // SAFETY: `spec` is initialised; a null old-value pointer is allowed.
    cvt(unsafe { libc::timerfd_settime(timer.as_raw_fd(), 0, &spec, std::ptr::null_mut()) })
        .map(drop)
}

// --------------------------------------------------------------- sockets

/// Creates a non-blocking, close-on-exec TCP socket for `addr`'s family.
pub fn tcp_socket(addr: &SocketAddr) -> io::Result<OwnedFd> {
    let family = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    let kind = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: socket has no memory-safety preconditions.
    let fd = cvt(unsafe { libc::socket(family, kind, 0) })?;
    Ok(owned(fd))
}

/// Lets the handshake's last ACK wait for the first data instead of going
/// out alone (TCP_QUICKACK off, as HAProxy's checks do): for a client that
/// sends at once, one packet fewer through both sides' TCP per connection.
/// Not for a client that waits for the server to speak first (SMTP): the
/// server could not accept until the delayed ACK left, up to 200 ms later.
pub fn ack_with_first_data(fd: BorrowedFd<'_>) -> io::Result<()> {
    let off: libc::c_int = 0;
    // SAFETY: `off` is valid for reads of the size given.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_QUICKACK,
            &off as *const _ as *const libc::c_void,
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

fn sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data, valid when zeroed.
    let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            let sin = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr = libc::in_addr {
                s_addr: u32::from_ne_bytes(a.ip().octets()),
            };
            mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr = libc::in6_addr {
                s6_addr: a.ip().octets(),
            };
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_scope_id = a.scope_id();
            mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// Starts a non-blocking connect. `Ok(true)`: connected at once; `Ok(false)`:
/// in progress, wait for writability and then ask `take_socket_error`.
pub fn connect_start(fd: BorrowedFd<'_>, addr: &SocketAddr) -> io::Result<bool> {
    let (storage, len) = sockaddr(addr);
    // SAFETY: `storage` holds a valid sockaddr of `len` bytes.
    let ret = unsafe {
        libc::connect(
            fd.as_raw_fd(),
            &storage as *const _ as *const libc::sockaddr,
            len,
        )
    };
    match cvt(ret) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(false),
        // A signal interrupted connect: it goes on in the background.
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
        Err(e) => Err(e),
    }
}

/// Reads and clears the socket's pending error (SO_ERROR): 0 when none.
pub fn take_socket_error(fd: BorrowedFd<'_>) -> io::Result<i32> {
    let mut err: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `err` and `len` are valid for writes of the sizes given.
    cvt(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            &mut err as *mut _ as *mut libc::c_void,
            &mut len,
        )
    })?;
    Ok(err)
}

/// Sends without blocking and without SIGPIPE.
pub fn send(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    let flags = libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT;
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes.
    cvt_size(unsafe {
        libc::send(
            fd.as_raw_fd(),
            buf.as_ptr() as *const libc::c_void,
            buf.len(),
            flags,
        )
    })
}

/// Receives without blocking; `Ok(0)` is end of stream.
pub fn recv(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    cvt_size(unsafe {
        libc::recv(
            fd.as_raw_fd(),
            buf.as_mut_ptr() as *mut libc::c_void,
            buf.len(),
            libc::MSG_DONTWAIT,
        )
    })
}

// -------------------------------------------------------------- resolver

/// At most this many addresses of one name are tried.
pub const MAX_ADDRS: usize = 8;

/// The addresses a name resolved to, in the resolver's order.
#[derive(Clone, Copy, Debug)]
pub struct AddrList {
    addrs: [SocketAddr; MAX_ADDRS],
    len: usize,
}

impl AddrList {
    pub fn one(addr: SocketAddr) -> AddrList {
        AddrList {
            addrs: [addr; MAX_ADDRS],
            len: 1,
        }
    }

    pub fn as_slice(&self) -> &[SocketAddr] {
        &self.addrs[..self.len]
    }
}

/// Resolves `host` (a NUL-terminated name) for TCP on `port` with
/// getaddrinfo. The error is getaddrinfo's own return code (EAI_*), or for
/// EAI_SYSTEM the errno.
pub fn resolve(host: &CStr, port: u16) -> Result<AddrList, i32> {
    // SAFETY: addrinfo is plain data, valid when zeroed (null pointers).
    let mut hints: libc::addrinfo = unsafe { mem::zeroed() };
    hints.ai_family = libc::AF_UNSPEC;
    hints.ai_socktype = libc::SOCK_STREAM;
    hints.ai_flags = libc::AI_ADDRCONFIG;
    let mut res: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: `host` is NUL-terminated; `hints` is initialised; `res` receives
    // a list we free below.
    let rc = unsafe { libc::getaddrinfo(host.as_ptr(), std::ptr::null(), &hints, &mut res) };
    if rc != 0 {
        if rc == libc::EAI_SYSTEM {
            return Err(io::Error::last_os_error().raw_os_error().unwrap_or(rc));
        }
        return Err(rc);
    }
    let mut list = AddrList {
        addrs: [SocketAddr::from(([0, 0, 0, 0], port)); MAX_ADDRS],
        len: 0,
    };
    let mut cur = res;
    while !cur.is_null() && list.len < MAX_ADDRS {
        // SAFETY: `cur` is a node of the list getaddrinfo returned, not yet freed.
        let ai = unsafe { &*cur };
        if let Some(addr) = from_sockaddr(ai.ai_addr, ai.ai_addrlen, port) {
            if !list.as_slice().contains(&addr) {
                list.addrs[list.len] = addr;
                list.len += 1;
            }
        }
        cur = ai.ai_next;
    }
    // SAFETY: `res` came from a successful getaddrinfo and is freed once.
    unsafe { libc::freeaddrinfo(res) };
    if list.len == 0 {
        return Err(libc::EAI_NONAME);
    }
    Ok(list)
}

fn from_sockaddr(sa: *const libc::sockaddr, len: libc::socklen_t, port: u16) -> Option<SocketAddr> {
    if sa.is_null() {
        return None;
    }
    // SAFETY: getaddrinfo gives a sockaddr of at least `len` bytes; we read
    // the family first and the full structure only when `len` covers it.
    let family = unsafe { (*sa).sa_family } as libc::c_int;
    if family == libc::AF_INET && len as usize >= mem::size_of::<libc::sockaddr_in>() {
        // SAFETY: family and length say this is a sockaddr_in.
        let sin = unsafe { &*(sa as *const libc::sockaddr_in) };
        let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
        Some(SocketAddr::V4(SocketAddrV4::new(ip, port)))
    } else if family == libc::AF_INET6 && len as usize >= mem::size_of::<libc::sockaddr_in6>() {
        // SAFETY: family and length say this is a sockaddr_in6.
        let sin6 = unsafe { &*(sa as *const libc::sockaddr_in6) };
        let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
        Some(SocketAddr::V6(SocketAddrV6::new(
            ip,
            port,
            0,
            sin6.sin6_scope_id,
        )))
    } else {
        None
    }
}

// ------------------------------------------------------- files and locks

/// Makes the directory `path` with mode 0755; one that exists is fine.
pub fn mkdir(path: &CStr) -> io::Result<()> {
    // SAFETY: `path` is NUL-terminated.
    match cvt(unsafe { libc::mkdir(path.as_ptr(), 0o755) }) {
        Err(e) if e.raw_os_error() != Some(libc::EEXIST) => Err(e),
        _ => Ok(()),
    }
}

/// Opens the directory at `path`, refusing a symlink as its last component.
pub fn open_dir(path: &CStr) -> io::Result<File> {
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: `path` is NUL-terminated.
    let fd = cvt_r(|| unsafe { libc::open(path.as_ptr(), flags) })?;
    Ok(File::from(owned(fd)))
}

/// Opens `name` inside `dir` without following a symlink and without
/// blocking on a FIFO. With `create`, read-write and created 0644 if missing.
pub fn open_in(dir: &File, name: &CStr, create: bool) -> io::Result<File> {
    let mut flags = libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY;
    flags |= if create {
        libc::O_RDWR | libc::O_CREAT
    } else {
        libc::O_RDONLY
    };
    // SAFETY: `name` is NUL-terminated; the mode argument is read only with O_CREAT.
    let fd = cvt_r(|| unsafe {
        libc::openat(dir.as_raw_fd(), name.as_ptr(), flags, 0o644 as libc::c_uint)
    })?;
    Ok(File::from(owned(fd)))
}

/// Device and inode of what `name` in `dir` is now (not following symlinks).
pub fn identity_in(dir: &File, name: &CStr) -> io::Result<(u64, u64)> {
    // SAFETY: stat is plain data.
    let mut st: libc::stat = unsafe { mem::zeroed() };
    // SAFETY: `name` is NUL-terminated; `st` is writable.
    cvt(unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    Ok((st.st_dev as u64, st.st_ino as u64))
}

/// Removes `name` from `dir`.
pub fn unlink_in(dir: &File, name: &CStr) -> io::Result<()> {
    // SAFETY: `name` is NUL-terminated.
    cvt(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) }).map(drop)
}

/// What kind of lock `try_flock` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockKind {
    Shared,
    Exclusive,
}

/// Tries to take a flock without waiting. `Ok(false)`: someone else holds a
/// conflicting lock.
pub fn try_flock(file: &File, kind: LockKind) -> io::Result<bool> {
    let op = match kind {
        LockKind::Shared => libc::LOCK_SH,
        LockKind::Exclusive => libc::LOCK_EX,
    } | libc::LOCK_NB;
    // SAFETY: flock has no memory-safety preconditions.
    match cvt_r(|| unsafe { libc::flock(file.as_raw_fd(), op) }) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
        Err(e) => Err(e),
    }
}

/// Releases this descriptor's flock.
pub fn unlock(file: &File) -> io::Result<()> {
    // SAFETY: flock has no memory-safety preconditions.
    cvt_r(|| unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_UN) }).map(drop)
}

/// Device major and minor numbers, as /proc/locks prints them.
pub fn dev_major_minor(dev: u64) -> (u64, u64) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major, minor)
}

// -------------------------------------------------------- shared mapping

// The one `SharedMap` of the process, as the SIGBUS handler sees it: its
// first byte and its length in whole pages (0: none), and whether the
// handler has put anonymous memory over it (until the owner maps the file
// again).
static MAP_START: AtomicUsize = AtomicUsize::new(0);
static MAP_SPAN: AtomicUsize = AtomicUsize::new(0);
static MAP_LOST: AtomicBool = AtomicBool::new(false);
/// A `SharedMap` is alive: the handler knows one range, so there is one.
static MAP_TAKEN: AtomicBool = AtomicBool::new(false);
static SIGBUS_HANDLED: AtomicBool = AtomicBool::new(false);

/// The first `len` bytes of a file mapped shared and writable, so that
/// storing into them is writing the file's page cache, without a system
/// call: what a reader's `read` sees at once.
///
/// Anyone who may write the file may also cut it short under the mapping
/// (`: > FILE`, `truncate -s 0`), and a store into a page the file no
/// longer has raises SIGBUS, which would kill the process. So the first
/// `SharedMap` installs a handler that, for a fault inside this mapping
/// only, puts anonymous memory over it and returns: the store lands there,
/// lost, and `is_lost` says so until `remap` maps the file again. Any other
/// SIGBUS does what it did without the handler: it kills the process.
///
/// One at a time in a process (a second is refused with EBUSY).
pub struct SharedMap {
    addr: *mut u8,
    len: usize,
    span: usize,
}

impl SharedMap {
    /// Maps the first `len` bytes of `file` (open for reading and writing).
    pub fn new(file: &File, len: usize) -> io::Result<SharedMap> {
        if len == 0 {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        if MAP_TAKEN
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return Err(io::Error::from_raw_os_error(libc::EBUSY));
        }
        let span = page_span(len);
        let mapped = install_sigbus_handler().and_then(|()| map_shared(file, None, span));
        match mapped {
            Ok(addr) => {
                MAP_LOST.store(false, Ordering::SeqCst);
                // The span first: the handler takes a start with no span
                // for an empty range, never the other way round.
                MAP_SPAN.store(span, Ordering::SeqCst);
                MAP_START.store(addr as usize, Ordering::SeqCst);
                Ok(SharedMap { addr, len, span })
            }
            Err(e) => {
                MAP_TAKEN.store(false, Ordering::SeqCst);
                Err(e)
            }
        }
    }

    /// Copies `bytes` (at most the mapping's length) to its start.
    pub fn write(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(self.len);
        // SAFETY: `addr` is the start of `span >= len >= n` bytes mapped
        // writable by us (the file, or the handler's anonymous memory), and
        // `bytes` is another object. A store the file cannot take faults;
        // the handler makes the range writable memory and the store is
        // made again there.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.addr, n) };
        // The copy is done before the handler's flag is looked at.
        compiler_fence(Ordering::SeqCst);
    }

    /// Whether a store since the last `remap` went to anonymous memory
    /// because the file had been cut short: the file lacks what was
    /// written and no longer backs the mapping.
    pub fn is_lost(&self) -> bool {
        MAP_LOST.load(Ordering::SeqCst)
    }

    /// Maps the file again over the same addresses (after it was made
    /// long enough again). On failure the range may be left unmapped
    /// (Linux unmaps before it maps): the caller must drop this mapping
    /// and write the file another way.
    pub fn remap(&mut self, file: &File) -> io::Result<()> {
        map_shared(file, Some(self.addr), self.span)?;
        MAP_LOST.store(false, Ordering::SeqCst);
        Ok(())
    }
}

impl Drop for SharedMap {
    fn drop(&mut self) {
        MAP_START.store(0, Ordering::SeqCst);
        MAP_SPAN.store(0, Ordering::SeqCst);
        // SAFETY: our own mapping of `span` bytes at `addr`; nothing refers
        // to it after this.
        unsafe { libc::munmap(self.addr as *mut libc::c_void, self.span) };
        MAP_TAKEN.store(false, Ordering::SeqCst);
    }
}

/// `len` rounded up to whole pages.
fn page_span(len: usize) -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let page = usize::try_from(page)
        .ok()
        .filter(|&p| p > 0)
        .unwrap_or(4096);
    (len + page - 1) / page * page
}

/// mmap of the first `span` bytes of `file`, shared and writable; at
/// `at` in place of what is there (MAP_FIXED), or where the kernel likes.
fn map_shared(file: &File, at: Option<*mut u8>, span: usize) -> io::Result<*mut u8> {
    let (addr, flags) = match at {
        Some(addr) => (
            addr as *mut libc::c_void,
            libc::MAP_SHARED | libc::MAP_FIXED,
        ),
        None => (std::ptr::null_mut(), libc::MAP_SHARED),
    };
    let prot = libc::PROT_READ | libc::PROT_WRITE;
    // SAFETY: mapping a descriptor we hold; with MAP_FIXED, `addr` is our
    // own mapping of `span` bytes, which nothing else refers to.
    let p = unsafe { libc::mmap(addr, span, prot, flags, file.as_raw_fd(), 0) };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(p as *mut u8)
}

fn install_sigbus_handler() -> io::Result<()> {
    if SIGBUS_HANDLED.load(Ordering::SeqCst) {
        return Ok(());
    }
    // SAFETY: sigaction is plain data; every field used is set below.
    let mut action: libc::sigaction = unsafe { mem::zeroed() };
    let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) = on_sigbus;
    action.sa_sigaction = handler as libc::sighandler_t;
    action.sa_flags = libc::SA_SIGINFO;
    // SAFETY: `action.sa_mask` is a valid sigset_t we own.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    // SAFETY: `action` is initialised; a null old-action pointer is allowed.
    cvt(unsafe { libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut()) })?;
    SIGBUS_HANDLED.store(true, Ordering::SeqCst);
    Ok(())
}

/// SIGBUS. Only async-signal-safe calls: mmap, sigaction, raise.
extern "C" fn on_sigbus(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: with SA_SIGINFO the kernel passes a valid siginfo_t.
    let (code, addr) = unsafe { ((*info).si_code, (*info).si_addr() as usize) };
    let start = MAP_START.load(Ordering::SeqCst);
    let span = MAP_SPAN.load(Ordering::SeqCst);
    // A positive code: a fault the kernel raised, not a kill(2).
    if code > 0 && start != 0 && addr >= start && addr - start < span {
        let prot = libc::PROT_READ | libc::PROT_WRITE;
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED;
        // SAFETY: replaces our own mapping, which only the interrupted
        // store was using, with fresh memory of the same size.
        let p = unsafe { libc::mmap(start as *mut libc::c_void, span, prot, flags, -1, 0) };
        if p != libc::MAP_FAILED {
            MAP_LOST.store(true, Ordering::SeqCst);
            return;
        }
    }
    // Not ours (or no memory to put there): as if there were no handler.
    // A fault is raised again when the instruction is, a kill(2) is not.
    // SAFETY: sigaction is plain data; zeroed, it is SIG_DFL, no flags.
    let mut default: libc::sigaction = unsafe { mem::zeroed() };
    default.sa_sigaction = libc::SIG_DFL;
    // SAFETY: `default` is initialised; a null old-action pointer is allowed.
    unsafe { libc::sigaction(libc::SIGBUS, &default, std::ptr::null_mut()) };
    if code <= 0 {
        // SAFETY: raise has no memory-safety preconditions.
        unsafe { libc::raise(libc::SIGBUS) };
    }
}

/// The size of `file` now: `lseek(fd, 0, SEEK_END)`, the cheapest way to
/// read it (one system call, no `stat` to fill), which also moves the
/// descriptor's offset; callers write with offsets of their own.
pub fn file_len(file: &File) -> io::Result<u64> {
    // SAFETY: lseek has no memory-safety preconditions.
    let end = unsafe { libc::lseek(file.as_raw_fd(), 0, libc::SEEK_END) };
    if end < 0 {
        return Err(io::Error::last_os_error());
    }
    end.try_into()
        .map_err(|_| io::Error::from_raw_os_error(libc::EOVERFLOW))
}

// ------------------------------------------------------------------ time

/// Local broken-down time of `secs` since the epoch, as localtime_r gives it:
/// (year, month 1-12, day, hour, minute, second, UTC offset in seconds).
pub fn local_time(secs: i64) -> Option<(i32, u32, u32, u32, u32, u32, i64)> {
    // The width of time_t differs by target (and naming it warns on musl);
    // let the call's signature pick it, refusing what does not fit. Where it
    // is 64 bits wide the conversion is the identity, which clippy flags.
    #[allow(clippy::useless_conversion)]
    let t = secs.try_into().ok()?;
    // SAFETY: tm is plain data.
    let mut tm: libc::tm = unsafe { mem::zeroed() };
    // SAFETY: both pointers are valid; localtime_r is the thread-safe form.
    if unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
        return None;
    }
    Some((
        tm.tm_year + 1900,
        (tm.tm_mon + 1) as u32,
        tm.tm_mday as u32,
        tm.tm_hour as u32,
        tm.tm_min as u32,
        tm.tm_sec as u32,
        tm.tm_gmtoff as i64,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fault raised while its signal is blocked kills the process
    /// whatever the handler: the guard of `SharedMap` needs SIGBUS
    /// unblocked, so the signalfd must never take it.
    #[test]
    fn sigbus_is_never_one_of_the_signals_the_signalfd_takes() {
        assert!(!SIGNALS.contains(&libc::SIGBUS), "{SIGNALS:?}");
    }
}
