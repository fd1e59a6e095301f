//! A server name with several addresses: each gets its chance inside the
//! probe's one deadline. The next address's connect starts when those in
//! flight have not completed after a short delay (RFC 8305's 250 ms, or a
//! fair share of the time left), or at once when one fails, and the first
//! connection made is used.
//!
//! The name is the test's own: the monitor runs in a mount namespace of its
//! own (`unshare -m`) where a file of the test's is bind mounted over
//! /etc/hosts. Its addresses are loopback ones, 127.0.0.8 to 127.0.0.15,
//! all on the port of the one that answers. An address that never
//! completes a handshake is a listener whose accept queue the test has
//! filled and that never accepts: Linux drops further SYNs to it, as a
//! firewall dropping them would. One that refuses is a socket bound there
//! that never listens. Where a mount namespace cannot be made, the test
//! says SKIPPED (a failure under `CI=true`).

mod common;

use common::*;
use std::fs;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::io::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The name the private /etc/hosts gives the addresses.
const NAME: &str = "ismon-addresses.test";

/// The addresses written there, in this order. Not 127.0.0.1: glibc's
/// getaddrinfo sorts by RFC 6724, whose longest-matching-prefix rule puts
/// the loopback's own source address, 127.0.0.1, ahead of any other; among
/// 127.0.0.8 to 127.0.0.15 that rule sees no difference (each shares 28
/// bits with it) and the file's order stands. musl does not sort IPv4
/// addresses at all. The order the resolver gives is checked all the same,
/// and it is the one the roles are given in.
const ADDRS: [&str; 8] = [
    "127.0.0.8",
    "127.0.0.9",
    "127.0.0.10",
    "127.0.0.11",
    "127.0.0.12",
    "127.0.0.13",
    "127.0.0.14",
    "127.0.0.15",
];

/// What one address of the name does with a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// The server under test: answers as a healthy one does.
    Answers,
    /// Never completes the handshake (SYNs dropped).
    Blackholed,
    /// Refuses at once (RST).
    Refuses,
}

/// The addresses of `NAME`, each playing its role, all on one port.
struct Name {
    hosts: PathBuf,
    port: u16,
    server: Option<FakeServer>,
    blackholes: Vec<FullBacklog>,
    _refusing: Vec<OwnedFd>,
}

impl Name {
    /// Gives `NAME` one address per role, in the resolver's order; `Err`
    /// says why it cannot be done here.
    fn set_up(cmd: Cmd, dir: &TestDir, roles: &[Role]) -> Result<Name, String> {
        let order = private_hosts(dir, roles.len())?;
        let answering = roles.iter().position(|&r| r == Role::Answers);
        // The port is the kernel's choice on the answering address, or on
        // the first one when none answers; the others are bound to it.
        let first = answering.unwrap_or(0);
        let bind = format!("{}:0", order[first]);
        let mut server = None;
        let port = match roles[first] {
            Role::Answers => {
                let s = match cmd {
                    Cmd::Http => http_server(&bind, |_| http_status(200)),
                    Cmd::Smtp => smtp_server(&bind, |_| SmtpReplies::healthy()),
                }
                .map_err(|e| format!("bind {bind}: {e}"))?;
                let port = s.port();
                server = Some(s);
                port
            }
            _ => TcpListener::bind(&bind)
                .and_then(|l| l.local_addr())
                .map_err(|e| format!("bind {bind}: {e}"))?
                .port(),
        };
        let mut name = Name {
            hosts: dir.root().join("hosts"),
            port,
            server,
            blackholes: Vec::new(),
            _refusing: Vec::new(),
        };
        for (role, addr) in roles.iter().zip(&order) {
            let addr: SocketAddr = format!("{addr}:{port}").parse().expect("an address");
            match role {
                Role::Answers => {}
                Role::Blackholed => name.blackholes.push(FullBacklog::at(addr)?),
                Role::Refuses => name._refusing.push(bound_not_listening(addr)?),
            }
        }
        Ok(name)
    }

    /// Starts `cmd ID -s NAME -n PORT -i … -c … -r …` where NAME is ours.
    fn start(&self, cmd: Cmd, dir: &TestDir, id: &str, timing: Timing) -> Monitor {
        let mut command = with_private_hosts(&self.hosts, cmd.exe());
        command
            .args([id, "-s", NAME, "-n", &self.port.to_string()])
            .args(["-i", &timing.interval.to_string()])
            .args(["-c", &timing.retries.to_string()])
            .args(["-r", &timing.timeout.to_string()])
            .env("ISMON_STATE_DIR", dir.state());
        Monitor::spawn(cmd, command)
    }

    /// The dead addresses stayed dead: the case proved what it says.
    fn assert_still_dead(&self) {
        for blackhole in &self.blackholes {
            blackhole.assert_still_full();
        }
        if let Some(server) = &self.server {
            let errors = server.errors();
            assert!(errors.is_empty(), "the test server failed: {errors:?}");
        }
    }
}

/// Writes the private /etc/hosts with the first `count` of `ADDRS` for
/// `NAME`, and returns them in the order getaddrinfo gives them there.
fn private_hosts(dir: &TestDir, count: usize) -> Result<Vec<String>, String> {
    let hosts = dir.root().join("hosts");
    let text: String = ADDRS[..count]
        .iter()
        .map(|a| format!("{a} {NAME}\n"))
        .collect();
    fs::write(&hosts, text).expect("write the private hosts file");
    let mut getent = with_private_hosts(&hosts, "getent");
    getent
        .args(["ahostsv4", NAME])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let outcome = run_command(getent, QUICK);
    if outcome.code != Some(0) {
        return Err(format!(
            "no mount namespace with a private /etc/hosts here (unshare -m, mount --bind): \
             exit {:?}: {}",
            outcome.code,
            outcome.stderr.trim()
        ));
    }
    let order: Vec<String> = outcome
        .stdout
        .lines()
        .filter(|l| l.contains("STREAM"))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    let mut wanted: Vec<String> = ADDRS[..count].iter().map(|a| a.to_string()).collect();
    wanted.sort();
    if sorted != wanted {
        return Err(format!(
            "getaddrinfo gives {NAME} {order:?} in the private /etc/hosts, not {:?}",
            &ADDRS[..count]
        ));
    }
    Ok(order)
}

/// `program` in a mount namespace of its own where `hosts` is bind
/// mounted over /etc/hosts; unshare and sh exec into it (same PID).
fn with_private_hosts(hosts: &Path, program: &str) -> Command {
    in_private_mount_namespace("mount --bind \"$1\" /etc/hosts", hosts, program)
}

/// A socket bound to `addr` that never listens: a connection there is
/// refused, and no one else can listen there while it is held.
fn bound_not_listening(addr: SocketAddr) -> Result<OwnedFd, String> {
    let SocketAddr::V4(v4) = addr else {
        panic!("only IPv4 addresses here: {addr}")
    };
    // SAFETY: socket has no memory-safety preconditions.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0, "socket: {}", io::Error::last_os_error());
    // SAFETY: `fd` was just created and nothing else owns it.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_in is plain data, valid when zeroed.
    let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sin.sin_family = libc::AF_INET as libc::sa_family_t;
    sin.sin_port = v4.port().to_be();
    sin.sin_addr.s_addr = u32::from_ne_bytes(v4.ip().octets());
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: `sin` is a sockaddr_in of `len` bytes.
    let rc = unsafe { libc::bind(fd, &sin as *const _ as *const libc::sockaddr, len) };
    if rc != 0 {
        return Err(format!("bind {addr}: {}", io::Error::last_os_error()));
    }
    Ok(sock)
}

/// The failure events a probe can log (71–83).
fn failure_lines(monitor: &Monitor) -> Vec<String> {
    (71..=83)
        .flat_map(|event| monitor.event_lines(event))
        .map(|l| l.text())
        .collect()
}

/// The monitor probes `roles`' name `probes` times without a failure: the
/// answering address is found behind the dead ones, every time.
fn probes_pass(test: &str, cmd: Cmd, roles: &[Role], timing: Timing, probes: u64) {
    let dir = TestDir::new(test);
    let name = match Name::set_up(cmd, &dir, roles) {
        Ok(name) => name,
        Err(reason) => return skip(test, &reason),
    };
    let monitor = name.start(cmd, &dir, test, timing);
    // Each probe takes well under TIMEOUT; INTERVAL apart.
    let limit = secs(timing.interval * probes + timing.timeout) + MARGIN;
    wait_probes(&monitor, &dir, test, probes, limit);
    let failures = failure_lines(&monitor);
    assert!(
        failures.is_empty(),
        "{test}: probes failed although an address answers: {failures:?}; stderr:\n{}",
        monitor.stderr_text()
    );
    let server = name.server.as_ref().expect("an answering address");
    assert!(
        server.connections() >= probes as usize,
        "{test}: the answering address had {} connections for {probes} probes",
        server.connections()
    );
    name.assert_still_dead();
}

#[test]
fn blackholed_first_address_gives_way_to_the_second_http() {
    probes_pass(
        "blackholed_first_http",
        Cmd::Http,
        &[Role::Blackholed, Role::Answers],
        Timing::new(1, 1, 2),
        3,
    );
}

#[test]
fn blackholed_first_address_gives_way_to_the_second_smtp() {
    probes_pass(
        "blackholed_first_smtp",
        Cmd::Smtp,
        &[Role::Blackholed, Role::Answers],
        Timing::new(1, 1, 2),
        3,
    );
}

#[test]
fn blackholed_first_address_gives_way_to_the_second_at_one_second_timeout() {
    probes_pass(
        "blackholed_first_r1",
        Cmd::Http,
        &[Role::Blackholed, Role::Answers],
        Timing::new(1, 1, 1),
        3,
    );
}

/// At 250 ms each, the eighth address would start after the deadline of
/// `-r 1`; the fair share of the time left (125 ms each here) starts it
/// in time.
#[test]
fn eighth_address_still_gets_its_start_at_one_second_timeout() {
    let mut roles = [Role::Blackholed; 8];
    roles[7] = Role::Answers;
    probes_pass(
        "eighth_address_r1",
        Cmd::Http,
        &roles,
        Timing::new(1, 1, 1),
        2,
    );
}

/// Refusing addresses among the dead ones end their attempts without
/// ending the search: the answering address behind them is still found at
/// `-r 1`. (On the loopback, connect itself reports the refusal, so this
/// cannot tell whether the next start waited for the delay.)
#[test]
fn refused_addresses_do_not_end_the_search() {
    probes_pass(
        "refused_give_way",
        Cmd::Smtp,
        &[
            Role::Refuses,
            Role::Blackholed,
            Role::Refuses,
            Role::Answers,
        ],
        Timing::new(1, 1, 1),
        3,
    );
}

/// Every address blackholed: the probe fails with connect's ETIMEDOUT when
/// the deadline passes, not before and not later.
#[test]
fn all_addresses_blackholed_fail_with_connect_timeout_at_timeout() {
    let test = "all_blackholed";
    let cmd = Cmd::Http;
    let dir = TestDir::new(test);
    let name = match Name::set_up(cmd, &dir, &[Role::Blackholed; 3]) {
        Ok(name) => name,
        Err(reason) => return skip(test, &reason),
    };
    let timing = Timing::new(1, 1, 2);
    let monitor = name.start(cmd, &dir, test, timing);
    let body = event_body(cmd, 72, test, "110");
    let at = monitor.wait_body(&body, secs(timing.timeout) + MARGIN);
    // The deadline is set when the probe starts, after the spawn.
    assert!(
        at >= secs(timing.timeout),
        "{test}: the probe failed {at:?} after the spawn, before its TIMEOUT"
    );
    let failures = failure_lines(&monitor);
    assert!(
        failures.iter().all(|l| l.ends_with(&body)),
        "{test}: other failures than `{body}`: {failures:?}"
    );
    name.assert_still_dead();
}

/// Every address refusing: the probe fails at once with the last one's
/// ECONNREFUSED, long before TIMEOUT.
#[test]
fn all_addresses_refused_fail_at_once_with_connection_refused() {
    let test = "all_refused";
    let cmd = Cmd::Smtp;
    let dir = TestDir::new(test);
    let name = match Name::set_up(cmd, &dir, &[Role::Refuses; 3]) {
        Ok(name) => name,
        Err(reason) => return skip(test, &reason),
    };
    let timing = Timing::new(1, 1, 10);
    let monitor = name.start(cmd, &dir, test, timing);
    let body = event_body(cmd, 72, test, "111");
    let at = monitor.wait_body(&body, MARGIN + MARGIN);
    assert!(
        at < secs(timing.timeout),
        "{test}: refused at every address, the probe still took {at:?}"
    );
}

/// A blackholed address ahead of a refusing one: the refusal comes first,
/// but the blackholed attempt is still in flight and ends last, at the
/// deadline, so the probe's failure is ETIMEDOUT.
#[test]
fn refusal_behind_a_blackholed_address_fails_at_timeout() {
    let test = "blackholed_then_refused";
    let cmd = Cmd::Http;
    let dir = TestDir::new(test);
    let name = match Name::set_up(cmd, &dir, &[Role::Blackholed, Role::Refuses]) {
        Ok(name) => name,
        Err(reason) => return skip(test, &reason),
    };
    let timing = Timing::new(1, 1, 2);
    let monitor = name.start(cmd, &dir, test, timing);
    let body = event_body(cmd, 72, test, "110");
    let at = monitor.wait_body(&body, secs(timing.timeout) + MARGIN);
    assert!(
        at >= secs(timing.timeout),
        "{test}: the probe failed {at:?} after the spawn, before its TIMEOUT"
    );
    name.assert_still_dead();
}
