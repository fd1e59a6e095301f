//! What reaches the system log: the datagrams, their priorities and
//! layout, and the count and notice of lines a full log did not take. (A
//! log daemon that stalls, vanishes or restarts is a fault of the monitor's
//! world: faults.rs.) Each monitor runs in a mount namespace of its own
//! whose `/dev/log` is a datagram socket of the test; the host's log is
//! never touched.

mod common;

use common::*;
use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

const LO: &str = "127.0.0.1";

fn bind_log_socket(dir: &TestDir) -> (UnixDatagram, PathBuf) {
    let path = dir.root().join("log.sock");
    let socket = UnixDatagram::bind(&path).expect("bind the private /dev/log socket");
    (socket, path)
}

fn start_with_log(cmd: Cmd, dir: &TestDir, socket: &Path, args: &[&str]) -> Monitor {
    Monitor::spawn(cmd, command_with_private_dev_log(cmd, dir, socket, args))
}

/// A private /dev/log that is bound and never read, as when a syslog
/// daemon stops reading, with its queue already full, so that the monitor's
/// very first datagram would block on a blocking socket. Returns the socket,
/// the filler whose datagrams fill it (both must live as long as the test),
/// and its path.
fn stalled_log_socket(dir: &TestDir) -> (UnixDatagram, UnixDatagram, PathBuf) {
    let (never_read, path) = bind_log_socket(dir);
    let filler = UnixDatagram::unbound().expect("a filler socket");
    filler.set_nonblocking(true).expect("nonblocking filler");
    let mut queued = 0;
    let full = loop {
        match filler.send_to(b"<30>Jan  1 00:00:00 filler[1]: filler", &path) {
            Ok(_) => queued += 1,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break true,
            Err(e) => panic!("filling the private /dev/log: {e}"),
        }
        if queued > 10_000 {
            break false;
        }
    };
    assert!(
        full && queued > 0,
        "could not fill the socket queue ({queued} queued)"
    );
    (never_read, filler, path)
}

#[test]
fn syslog_lines_use_the_syslog3_layout_with_level_priorities_and_the_monitor_pid() {
    const TEST: &str =
        "syslog_lines_use_the_syslog3_layout_with_level_priorities_and_the_monitor_pid";
    if !private_dev_available() {
        skip(
            TEST,
            "`unshare -m` with a tmpfs over /dev is not permitted here",
        );
        return;
    }
    for cmd in BOTH {
        let dir = TestDir::new("syslog");
        let (socket, path) = bind_log_socket(&dir);
        let port = closed_port().to_string();
        let mut monitor = start_with_log(
            cmd,
            &dir,
            &path,
            &[
                "logged", "-s", LO, "-n", &port, "-i", "1", "-c", "1", "-r", "1",
            ],
        );
        let failed = event_body(cmd, 6, "logged", "");
        let datagrams = receive_until(&socket, FAST.bound(), <[u8]>::to_vec, |got| {
            got.iter()
                .any(|d| parse_syslog_datagram(d).map_or(false, |(_, line)| line.body == failed))
        });
        monitor.expect_exit(1, FAST.bound());

        let parsed: Vec<(u32, LogLine)> = datagrams
            .iter()
            .map(|d| {
                parse_syslog_datagram(d).unwrap_or_else(|| {
                    panic!(
                        "{}: datagram not in syslog(3) layout: {:?}",
                        cmd.name(),
                        String::from_utf8_lossy(d)
                    )
                })
            })
            .collect();
        for (_, line) in &parsed {
            assert_eq!(line.ident, cmd.name(), "ident of {line:?}");
            assert_eq!(line.pid, monitor.pid(), "pid of {line:?}");
        }
        // PRI = LOG_DAEMON (24) + level: info 6, warning 4, err 3.
        let expected = [
            (30, event_body(cmd, 1, "logged", "")),
            (30, event_body(cmd, 2, "logged", "")),
            (28, event_body(cmd, 72, "logged", "111")),
            (27, failed.clone()),
        ];
        for (pri, body) in &expected {
            assert!(
                parsed
                    .iter()
                    .any(|(p, line)| p == pri && &line.body == body),
                "{}: no <{pri}> datagram with {body:?}; got:\n{:#?}",
                cmd.name(),
                datagrams
                    .iter()
                    .map(|d| String::from_utf8_lossy(d).into_owned())
                    .collect::<Vec<_>>()
            );
        }
        let shown = disp(cmd, &dir, "logged");
        assert_eq!(shown.num("syslog_dropped"), Some(0), "{}", shown.stdout);
    }
}

#[test]
fn dropped_syslog_lines_are_counted_and_reported_on_stderr_in_the_log_layout() {
    const TEST: &str = "dropped_syslog_lines_are_counted_and_reported_on_stderr_in_the_log_layout";
    if !private_dev_available() {
        skip(
            TEST,
            "`unshare -m` with a tmpfs over /dev is not permitted here",
        );
        return;
    }
    let dir = TestDir::new("dropped");
    let (_never_read, _filler, path) = stalled_log_socket(&dir);
    let port = closed_port().to_string();
    let mut monitor = start_with_log(
        Cmd::Smtp,
        &dir,
        &path,
        &[
            "dropped", "-s", LO, "-n", &port, "-i", "1", "-c", "1", "-r", "1",
        ],
    );
    monitor.expect_exit(1, FAST.bound());
    let text = monitor.stderr_text();
    assert!(
        text.contains("drop"),
        "lines dropped on a full /dev/log should be reported on stderr:\n{text}"
    );
    // The exec resource's log is read by the same watchers as the system
    // log: every line has the layout, the notice about drops included.
    for line in monitor.stderr_lines() {
        let parsed = parse_log_line(&line.text());
        assert!(
            parsed.map_or(false, |p| p.ident == "clp_smtpmon"
                && p.pid == monitor.pid()),
            "stderr line not in the `Mmm dd hh:mm:ss clp_smtpmon[pid]: ` layout: {:?}",
            line.text()
        );
    }
    let shown = disp(Cmd::Smtp, &dir, "dropped");
    assert!(
        shown.num("syslog_dropped").unwrap_or(0) >= 4,
        "events 1, 2, 72, 72 and 6 were all dropped:\n{}",
        shown.stdout
    );
}
