//! A private /dev/log: a monitor run in a mount namespace of its own, whose
//! datagrams the test receives; and that namespace for other uses.

use std::io;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Cmd, TestDir, POLL};

/// Whether this process may run a command in a mount namespace of its own
/// with a tmpfs over /dev (needs root or CAP_SYS_ADMIN).
pub fn private_dev_available() -> bool {
    Command::new("unshare")
        .args(["-m", "sh", "-c", "mount -t tmpfs tmpfs /dev"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// A command that runs `program` in a mount namespace of its own, after
/// the shell commands `setup` have run there with `$1` set to `path`.
/// unshare and sh exec into `program`, so the child's PID is its own.
pub fn in_private_mount_namespace(setup: &str, path: &Path, program: &str) -> Command {
    let mut command = Command::new("unshare");
    command
        .args([
            "-m",
            "sh",
            "-c",
            &format!("{setup} && shift && exec \"$@\""),
            "sh",
        ])
        .arg(path)
        .arg(program);
    command
}

/// A command that runs `cmd args` in a mount namespace of its own, where
/// `/dev` is an empty tmpfs and `/dev/log` a symlink to `socket`; the
/// child's PID is the monitor's.
pub fn command_with_private_dev_log(
    cmd: Cmd,
    dir: &TestDir,
    socket: &Path,
    args: &[&str],
) -> Command {
    let mut command = in_private_mount_namespace(
        "mount -t tmpfs tmpfs /dev && ln -s \"$1\" /dev/log",
        socket,
        cmd.exe(),
    );
    command.args(args).env("ISMON_STATE_DIR", dir.state());
    command
}

/// Receives datagrams on `socket`, each turned into a `T` by `parse`, until
/// `done` says so or `limit` passes.
pub fn receive_until<T>(
    socket: &std::os::unix::net::UnixDatagram,
    limit: Duration,
    parse: impl Fn(&[u8]) -> T,
    mut done: impl FnMut(&[T]) -> bool,
) -> Vec<T> {
    socket
        .set_read_timeout(Some(POLL))
        .expect("set a read timeout");
    let deadline = Instant::now() + limit;
    let mut received = Vec::new();
    let mut buf = vec![0u8; 8192];
    while Instant::now() < deadline && !done(&received) {
        match socket.recv(&mut buf) {
            Ok(n) => received.push(parse(&buf[..n])),
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut => {
            }
            Err(e) => panic!("recv on the private /dev/log: {e}"),
        }
    }
    received
}
