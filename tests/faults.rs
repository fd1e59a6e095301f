//! Faults of the monitor's own world, not of its server: the monitor killed
//! with `kill -9` and restarted, many starts of one ID racing, a stop while
//! a probe waits, the monitor itself stopped and continued, a state
//! directory that is a symlink, read-only, full, or holds a corrupt or
//! foreign record, identifiers that try to leave the state directory, a
//! record cut short under a running monitor, and a system log daemon that
//! stalls, vanishes or restarts.
//!
//! What needs a file system or a `/dev/log` of its own runs in a mount
//! namespace of its own (`unshare -m`); the host's mounts and log are never
//! touched. Where that is not permitted the test says so and is skipped,
//! except under `CI=true`, where it fails.

mod common;

use common::*;
use std::fs;
use std::io::{self, BufRead, BufReader};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

const LO: &str = "127.0.0.1";
const LO_ANY: &str = "127.0.0.1:0";

// ---------------------------------------------------------------------------
// Helpers of this file

/// `ID -s 127.0.0.1 -n PORT -i … -c … -r …`, as owned strings.
fn probe_args(id: &str, port: u16, timing: Timing) -> Vec<String> {
    vec![
        id.to_string(),
        "-s".to_string(),
        LO.to_string(),
        "-n".to_string(),
        port.to_string(),
        "-i".to_string(),
        timing.interval.to_string(),
        "-c".to_string(),
        timing.retries.to_string(),
        "-r".to_string(),
        timing.timeout.to_string(),
    ]
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// `n` bytes from the kernel's random source.
fn random_bytes(n: usize) -> Vec<u8> {
    use std::io::Read;
    let mut bytes = vec![0u8; n];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("read /dev/urandom");
    bytes
}

/// Waits until `--disp` shows `monitor` live under its own PID. Fails at
/// once, with the monitor's stderr, if it ends first.
fn wait_live(monitor: &mut Monitor, dir: &TestDir, id: &str, limit: Duration) -> Disp {
    let pid = u64::from(monitor.pid());
    let mut last = None;
    let live = wait_until(limit, || {
        if !monitor.is_running() {
            return true;
        }
        let shown = disp(monitor.cmd, dir, id);
        let ok = shown.is_live() && shown.num("pid") == Some(pid);
        last = Some(shown);
        ok
    });
    assert!(
        monitor.is_running(),
        "{} {id} (pid {pid}) ended ({:?}) instead of running; stderr:\n{}",
        monitor.cmd.name(),
        monitor.poll_exit(),
        monitor.stderr_text()
    );
    let last = last.expect("polled at least once while running");
    assert!(
        live,
        "`{id} --disp` never showed pid {pid} live within {limit:?}; last (exit {:?}):\n{}{}",
        last.code, last.stdout, last.stderr
    );
    last
}

/// The lines of `text` that carry `<event: N>` of `cmd`.
fn event_lines_in(cmd: Cmd, text: &str, event: u32) -> Vec<String> {
    let tag = event_tag(cmd, event);
    text.lines()
        .filter(|l| l.contains(&tag))
        .map(str::to_string)
        .collect()
}

/// Asserts that a one-shot command exited 4 after logging one event 42 for
/// `id`, and returns its `(FUNC nn)`.
fn assert_system_error(what: &str, out: &Outcome, cmd: Cmd, id: &str) -> (String, i32) {
    assert_eq!(
        out.code,
        Some(4),
        "{what}: exit status; stdout:\n{}\nstderr:\n{}",
        out.stdout,
        out.stderr
    );
    let prefix = format!(
        "<type: {}><event: 42> {} has detected system error (",
        cmd.kind(),
        cmd.name()
    );
    let suffix = format!("). [ID:{id}]");
    let parsed: Vec<(String, i32)> = event_lines_in(cmd, &out.stderr, 42)
        .iter()
        .filter_map(|l| parse_log_line(l))
        .filter_map(|p| {
            let inner = p.body.strip_prefix(&prefix)?.strip_suffix(&suffix)?;
            let (func, errno) = inner.split_once(' ')?;
            Some((func.to_string(), errno.parse().ok()?))
        })
        .collect();
    assert!(
        parsed.len() == 1,
        "{what}: expected one event 42 `system error (FUNC nn)`; stderr:\n{}",
        out.stderr
    );
    parsed[0].clone()
}

/// Asserts, once every other check has passed, that each event 42 named
/// the call that failed as the man page says: `what`, `(FUNC nn)` pairs.
fn assert_system_calls(
    seen: &[(String, (String, i32))],
    expected: &str,
    right: impl Fn(&str, i32) -> bool,
) {
    let wrong: Vec<String> = seen
        .iter()
        .filter(|(_, (func, errno))| !right(func, *errno))
        .map(|(what, (func, errno))| format!("{what}: ({func} {errno})"))
        .collect();
    assert!(
        wrong.is_empty(),
        "event 42 should read {expected} (the man page: FUNC names the call that \
         failed); got:\n{}",
        wrong.join("\n")
    );
}

/// A mount namespace of its own, set up by a shell script and kept alive
/// by a `sleep` that is this test's child. Commands enter it with
/// `nsenter`, which execs them, so a spawned monitor's PID is its own; the
/// test sees its files through `/proc/PID/root`.
struct MountNs {
    holder: Child,
}

impl MountNs {
    /// Runs `script` (with `args` as `$1`…) in a new mount namespace. None
    /// when that is not permitted here or the script fails.
    fn start(script: &str, args: &[&Path]) -> Option<MountNs> {
        let mut holder = Command::new("unshare")
            .args([
                "-m",
                "sh",
                "-c",
                &format!("{script} && echo ready && exec sleep 600"),
                "sh",
            ])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let stdout = holder.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let ready = matches!(rx.recv_timeout(QUICK), Ok(line) if line.trim() == "ready");
        let ns = MountNs { holder };
        if ready {
            Some(ns)
        } else {
            None
        }
    }

    /// `cmd args` inside the namespace, with `ISMON_STATE_DIR` = `state`.
    fn command(&self, cmd: Cmd, state: &Path, args: &[&str]) -> Command {
        let mut command = Command::new("nsenter");
        command
            .arg("-t")
            .arg(self.holder.id().to_string())
            .args(["-m", "--"])
            .arg(cmd.exe())
            .args(args)
            .env("ISMON_STATE_DIR", state);
        command
    }

    /// Runs a one-shot command inside the namespace.
    fn run(&self, cmd: Cmd, state: &Path, args: &[&str]) -> Outcome {
        let out = run_command(self.command(cmd, state, args), VERB_LIMIT);
        assert!(
            !out.timed_out,
            "`{} {}` in the namespace did not end within {VERB_LIMIT:?}; stderr:\n{}",
            cmd.name(),
            args.join(" "),
            out.stderr
        );
        out
    }

    /// Where the test sees `path` of the namespace.
    fn path(&self, path: &Path) -> PathBuf {
        let inside = path.strip_prefix("/").unwrap_or(path);
        PathBuf::from(format!("/proc/{}/root", self.holder.id())).join(inside)
    }
}

impl Drop for MountNs {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// Whether a mount namespace with a tmpfs can be set up here; reports the
/// test as skipped when not.
fn namespaces_or_skip(test: &str) -> bool {
    if private_dev_available() {
        return true;
    }
    skip(
        test,
        "`unshare -m` with a tmpfs mount is not permitted here",
    );
    false
}

/// A datagram from the monitor, parsed; anything not in syslog(3)'s layout
/// fails the test.
fn syslog_line(datagram: &[u8]) -> (u32, LogLine) {
    parse_syslog_datagram(datagram).unwrap_or_else(|| {
        panic!(
            "datagram not in syslog(3) layout: {:?}",
            String::from_utf8_lossy(datagram)
        )
    })
}

/// The server of `monitor` died at `died`: the monitor exits 1 with event 6
/// within the detection bound, counted from the first probe after the death
/// (at most one interval later).
fn expect_detected_in_bound(
    monitor: &mut Monitor,
    cmd: Cmd,
    id: &str,
    timing: Timing,
    died: Instant,
) {
    let bound = secs(timing.interval) + timing.bound();
    monitor.expect_exit(1, bound);
    let detected = died.elapsed();
    assert!(
        detected <= bound,
        "detected {detected:?} after the server died; bound {bound:?}"
    );
    monitor.assert_logged(&event_body(cmd, 6, id, ""));
}

fn has_body(got: &[(u32, LogLine)], body: &str) -> bool {
    got.iter().any(|(_, line)| line.body == body)
}

/// Fills the receive queue of the socket at `path` until it takes no more,
/// as a syslog daemon that stopped reading leaves it. The filler must live
/// as long as the queue should stay full.
fn fill_queue(path: &Path) -> UnixDatagram {
    let filler = UnixDatagram::unbound().expect("a filler socket");
    filler.set_nonblocking(true).expect("nonblocking filler");
    for _ in 0..10_000 {
        match filler.send_to(b"<30>Jan  1 00:00:00 filler[1]: filler", path) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return filler,
            Err(e) => panic!("filling the private /dev/log: {e}"),
        }
    }
    panic!("the private /dev/log never filled up");
}

// ---------------------------------------------------------------------------
// The monitor killed, raced, stopped mid-probe, frozen

#[test]
fn kill_9_and_restart_a_hundred_times_never_blocks_the_id() {
    const ROUNDS: usize = 100;
    const LOOP_LIMIT: Duration = Duration::from_secs(60);
    let dir = TestDir::new("kill9loop");
    let server = http_status_server(200);
    let started = Instant::now();
    for round in 0..ROUNDS {
        let mut monitor = start_monitor(Cmd::Http, &dir, "k9", LO, server.port(), FAST, &[]);
        wait_live(&mut monitor, &dir, "k9", QUICK);
        monitor.kill9();
        assert!(
            started.elapsed() < LOOP_LIMIT,
            "{round} kill -9/restart rounds took {:?}",
            started.elapsed()
        );
    }
    let shown = disp(Cmd::Http, &dir, "k9");
    assert_eq!(
        (shown.code, shown.get("status")),
        (Some(3), Some("stale")),
        "after the last kill -9:\n{}",
        shown.stdout
    );

    let mut last = start_monitor(Cmd::Http, &dir, "k9", LO, server.port(), FAST, &[]);
    let shown = wait_probes(&last, &dir, "k9", 1, QUICK);
    assert_eq!(shown.get("state"), Some("monitoring"), "{}", shown.stdout);
    assert_eq!(shown.get("last_result"), Some("ok"), "{}", shown.stdout);
    last.assert_logged(&event_body(Cmd::Http, 1, "k9", ""));
    run_expect(Cmd::Http, &dir, &["k9", "--stop"], 0);
    last.expect_exit(0, QUICK);
    assert_eq!(
        dir.state_entries(),
        ["k9"],
        "one record, whatever the kills"
    );
    assert!(
        started.elapsed() < LOOP_LIMIT,
        "{ROUNDS} rounds and a clean stop took {:?}",
        started.elapsed()
    );
}

#[test]
fn fifty_simultaneous_starts_of_one_id_leave_exactly_one_running() {
    const STARTS: usize = 50;
    let dir = TestDir::new("race50");
    let server = http_status_server(200);
    let args = probe_args("race", server.port(), FAST);
    // Every start waits at one barrier and spawns at once, so that the
    // commands reach the lock together.
    let barrier = Arc::new(Barrier::new(STARTS));
    let spawners: Vec<_> = (0..STARTS)
        .map(|_| {
            let mut command = dir.command(Cmd::Http);
            command.args(&args);
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                Monitor::spawn(Cmd::Http, command)
            })
        })
        .collect();
    let mut monitors: Vec<Monitor> = spawners
        .into_iter()
        .map(|s| s.join().expect("a spawner thread"))
        .collect();

    let (settled, running) = survivors_of_a_race(&mut monitors, secs(10));
    assert!(
        settled && running.len() == 1,
        "running after {STARTS} simultaneous starts: {running:?}"
    );
    let winner = running[0];
    let refused = event_body(Cmd::Http, 14, "race", "");
    let started = event_body(Cmd::Http, 1, "race", "");
    for loser in monitors.iter_mut().filter(|m| m.pid() != winner) {
        loser.expect_exit(3, QUICK);
        loser.assert_logged(&refused);
        assert!(
            loser.lines_with_body(&started).is_empty(),
            "a refused start logged event 1; stderr:\n{}",
            loser.stderr_text()
        );
    }
    let shown = wait_disp(Cmd::Http, &dir, "race", "the winner", QUICK, |d| {
        d.is_live() && d.num("probes").unwrap_or(0) >= 1
    });
    assert_eq!(
        shown.num("pid"),
        Some(u64::from(winner)),
        "{}",
        shown.stdout
    );
    assert_eq!(shown.get("state"), Some("monitoring"), "{}", shown.stdout);
    run_expect(Cmd::Http, &dir, &["race", "--stop"], 0);
    let winner = monitors
        .iter_mut()
        .find(|m| m.pid() == winner)
        .expect("found above");
    winner.expect_exit(0, QUICK);
    winner.assert_logged(&started);
}

#[test]
fn stop_during_a_probe_waiting_on_a_ten_second_timeout_is_prompt() {
    for cmd in BOTH {
        let dir = TestDir::new("stopwait");
        let server = match cmd {
            Cmd::Http => http_server(LO_ANY, |_| HttpReply::Silent),
            // An empty greeting: accept and say nothing.
            Cmd::Smtp => smtp_server(LO_ANY, |_| SmtpReplies::new("", "")),
        }
        .expect("bind 127.0.0.1:0");
        let mut monitor = start_monitor(
            cmd,
            &dir,
            "wait10",
            LO,
            server.port(),
            Timing::new(1, 1, 10),
            &[],
        );
        // The probe is inside its wait once the server holds the
        // connection: for HTTP, once the whole request has arrived.
        assert!(
            wait_until(QUICK, || server.record(0).map_or(false, |r| match cmd {
                Cmd::Http => r.received.ends_with(b"\r\n\r\n"),
                Cmd::Smtp => true,
            })),
            "{}: the first probe never reached the server",
            cmd.name()
        );
        wait_live(&mut monitor, &dir, "wait10", QUICK);
        let stop = run_expect(cmd, &dir, &["wait10", "--stop"], 0);
        assert!(
            stop.elapsed < secs(2),
            "{}: --stop during a 10 s probe took {:?}; stderr:\n{}",
            cmd.name(),
            stop.elapsed,
            stop.stderr
        );
        // --stop returns once the monitor has let go of its ID: it has
        // ended, or is just ending.
        monitor.expect_exit(0, secs(1));
        monitor.assert_logged(&event_body(cmd, 3, "wait10", ""));
        for event in [6, 74] {
            assert!(
                monitor.event_lines(event).is_empty(),
                "{}: an abandoned probe is neither a failure nor a timeout; stderr:\n{}",
                cmd.name(),
                monitor.stderr_text()
            );
        }
        let shown = disp(cmd, &dir, "wait10");
        assert_eq!(shown.get("state"), Some("stopped"), "{}", shown.stdout);
    }
}

#[test]
fn a_monitor_stopped_and_continued_makes_one_probe_then_keeps_its_interval() {
    let dir = TestDir::new("sigstop");
    let server = http_status_server(200);
    let mut monitor = start_monitor(
        Cmd::Http,
        &dir,
        "frozen",
        LO,
        server.port(),
        Timing::new(1, 2, 1),
        &[],
    );
    wait_probes(&monitor, &dir, "frozen", 2, secs(1) + QUICK);
    monitor.signal("STOP");
    // Not a wait for something to happen: this is the fault itself, three
    // and a half slots the frozen monitor misses.
    thread::sleep(Duration::from_millis(3500));
    let continued = Instant::now();
    monitor.signal("CONT");

    let accepts_since = |since: Instant| -> Vec<Duration> {
        server
            .records()
            .iter()
            .filter(|r| r.accepted_at >= since)
            .map(|r| r.accepted_at - since)
            .collect()
    };
    assert!(
        wait_until(secs(3) + MARGIN, || accepts_since(continued).len() >= 3),
        "probes after SIGCONT: {:?}; stderr:\n{}",
        accepts_since(continued),
        monitor.stderr_text()
    );
    let after = accepts_since(continued);
    // One probe at once, and the next a whole interval later: a burst of
    // catch-up probes for the missed slots puts several in this window.
    let window = Duration::from_millis(900);
    let early = after.iter().filter(|&&at| at < window).count();
    assert!(
        early <= 1,
        "{early} probes within {window:?} of SIGCONT (missed slots made up?): {after:?}"
    );
    for pair in after.windows(2).take(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_millis(800) && gap <= Duration::from_millis(1600),
            "probes after SIGCONT should be 1 s apart: {after:?}"
        );
    }
    monitor.assert_running("after SIGSTOP and SIGCONT");
    let shown = disp(Cmd::Http, &dir, "frozen");
    assert_eq!(shown.get("state"), Some("monitoring"), "{}", shown.stdout);
    run_expect(Cmd::Http, &dir, &["frozen", "--stop"], 0);
    monitor.expect_exit(0, QUICK);
}

// ---------------------------------------------------------------------------
// The state directory

#[test]
fn a_state_directory_that_is_a_symlink_is_refused_and_nothing_is_written_through_it() {
    let dir = TestDir::without_state("statelink");
    let real = dir.root().join("real");
    let link = dir.root().join("link");
    fs::create_dir(&real).expect("create the real directory");
    std::os::unix::fs::symlink(&real, &link).expect("symlink the state dir");
    let port = closed_port();
    let start_args = probe_args("sl1", port, FAST);

    let mut calls = Vec::new();
    for cmd in BOTH {
        let mut start = Command::new(cmd.exe());
        start.args(&start_args).env("ISMON_STATE_DIR", &link);
        let out = run_command(start, QUICK);
        let what = format!("{} start", cmd.name());
        calls.push((what.clone(), assert_system_error(&what, &out, cmd, "sl1")));
        assert!(
            out.stderr.contains("symlink") || out.stderr.contains("symbolic link"),
            "the second line should say the state directory is a symlink:\n{}",
            out.stderr
        );
        for verb in ["--disp", "--del", "--stop", "--pause", "--resume"] {
            let mut command = Command::new(cmd.exe());
            command.args(["sl1", verb]).env("ISMON_STATE_DIR", &link);
            let out = run_command(command, QUICK);
            let what = format!("{} sl1 {verb}", cmd.name());
            calls.push((what.clone(), assert_system_error(&what, &out, cmd, "sl1")));
        }
    }
    assert!(
        fs::read_dir(&real).expect("read real/").next().is_none(),
        "something was written through the symlink into {real:?}"
    );
    assert!(fs::symlink_metadata(&link)
        .expect("the link")
        .file_type()
        .is_symlink());
    assert_eq!(dir.root_entries(), ["link", "real"]);
    // The man page: "as in `(open 40)` for a state directory that is a
    // symbolic link". Opened with O_DIRECTORY, Linux says ENOTDIR (20)
    // instead of ELOOP (40); either is the truth, but the call is open(2).
    assert_system_calls(&calls, "(open 40) or (open 20)", |func, errno| {
        func == "open" && (errno == 40 || errno == 20)
    });
}

#[test]
fn a_state_directory_that_is_a_regular_file_is_refused_and_left_alone() {
    let dir = TestDir::without_state("statefile");
    fs::write(dir.state(), b"not a directory\n").expect("write a file as state");
    let port = closed_port();
    let mut calls = Vec::new();
    for cmd in BOTH {
        let out = run(cmd, &dir, &strs(&probe_args("sf1", port, FAST)));
        let what = format!("{} start", cmd.name());
        calls.push((what.clone(), assert_system_error(&what, &out, cmd, "sf1")));
        assert!(
            out.stderr.contains("not a directory"),
            "the second line should say the state directory is not one:\n{}",
            out.stderr
        );
        let out = run(cmd, &dir, &["sf1", "--disp"]);
        let what = format!("{} sf1 --disp", cmd.name());
        calls.push((what.clone(), assert_system_error(&what, &out, cmd, "sf1")));
    }
    assert_eq!(
        fs::read(dir.state()).expect("the file is still there"),
        b"not a directory\n"
    );
    assert_eq!(dir.root_entries(), ["state"]);
    // mkdir(2) found something there (EEXIST, which is fine); what failed
    // is opening it as a directory.
    assert_system_calls(&calls, "(open 20)", |func, errno| {
        func == "open" && errno == 20
    });
}

#[test]
fn a_read_only_state_directory_refuses_starts_with_event_42_and_keeps_its_records() {
    const TEST: &str =
        "a_read_only_state_directory_refuses_starts_with_event_42_and_keeps_its_records";
    if !namespaces_or_skip(TEST) {
        return;
    }
    let dir = TestDir::new("readonly");
    let server = http_status_server(200);
    // A stale record, written while the directory was writable.
    let mut earlier = start_monitor(Cmd::Http, &dir, "old1", LO, server.port(), FAST, &[]);
    wait_probes(&earlier, &dir, "old1", 1, QUICK);
    run_expect(Cmd::Http, &dir, &["old1", "--stop"], 0);
    earlier.expect_exit(0, QUICK);
    let record = fs::read(dir.state().join("old1")).expect("the stale record");

    // Root is not stopped by a mode of 0555: the directory is made
    // read-only by a bind mount instead, in a namespace of its own.
    let state = dir.state();
    let ns = MountNs::start(
        "mount --bind \"$1\" \"$1\" && mount -o remount,ro,bind \"$1\"",
        &[&state],
    );
    let ns = match ns {
        Some(ns) => ns,
        None => {
            skip(TEST, "a read-only bind mount is not permitted here");
            return;
        }
    };
    for (id, why) in [("new1", "a new ID"), ("old1", "over a stale record")] {
        let out = ns.run(
            Cmd::Http,
            &state,
            &strs(&probe_args(id, server.port(), FAST)),
        );
        let call = assert_system_error(
            &format!("a start {why} on a read-only state dir"),
            &out,
            Cmd::Http,
            id,
        );
        assert_eq!(call, ("open".to_string(), 30), "{}", out.stderr);
        assert!(
            out.stderr.contains(&state.join(id).display().to_string()),
            "the second line should name the record:\n{}",
            out.stderr
        );
    }
    let shown = ns.run(Cmd::Http, &state, &["old1", "--disp"]);
    assert_eq!(shown.code, Some(3), "{}{}", shown.stdout, shown.stderr);
    assert!(
        shown.stdout.contains("status: stale") && shown.stdout.contains("state: stopped"),
        "a read-only directory still shows its records:\n{}",
        shown.stdout
    );
    let del = ns.run(Cmd::Http, &state, &["old1", "--del"]);
    let call = assert_system_error("--del on a read-only state dir", &del, Cmd::Http, "old1");
    assert_eq!(call, ("unlink".to_string(), 30), "{}", del.stderr);
    drop(ns);
    assert_eq!(dir.state_entries(), ["old1"]);
    assert_eq!(
        fs::read(dir.state().join("old1")).expect("the stale record"),
        record,
        "the stale record changed"
    );
}

#[test]
fn a_full_state_directory_fails_the_start_with_event_42_and_writes_no_partial_record() {
    const TEST: &str =
        "a_full_state_directory_fails_the_start_with_event_42_and_writes_no_partial_record";
    if !namespaces_or_skip(TEST) {
        return;
    }
    let dir = TestDir::new("full");
    let state = dir.state();
    // One page of tmpfs, filled: a new record has no room.
    let ns = MountNs::start(
        "mount -t tmpfs -o size=4k,mode=0755 tmpfs \"$1\" && head -c 4096 /dev/zero > \"$1/fill\" \
         && ! echo x >> \"$1/fill\" 2>/dev/null",
        &[&state],
    );
    let ns = match ns {
        Some(ns) => ns,
        None => {
            skip(
                TEST,
                "a tmpfs of 4 KiB in a mount namespace is not possible",
            );
            return;
        }
    };
    let server = http_status_server(200);
    let args = probe_args("full1", server.port(), FAST);
    let out = ns.run(Cmd::Http, &state, &strs(&args));
    let (_, errno) = assert_system_error("a start on a full state dir", &out, Cmd::Http, "full1");
    assert_eq!(errno, 28, "ENOSPC; stderr:\n{}", out.stderr);
    assert!(
        out.stderr
            .contains(&state.join("full1").display().to_string()),
        "the second line should name the record:\n{}",
        out.stderr
    );
    assert!(
        event_lines_in(Cmd::Http, &out.stderr, 1).is_empty(),
        "a start that could not write its record announced itself:\n{}",
        out.stderr
    );

    // Nothing half-written: the failed start removes the file it created
    // (it still held the lock), so nothing is left to be taken for a record.
    let seen = ns.path(&state.join("full1"));
    assert!(
        fs::symlink_metadata(&seen).is_err(),
        "a failed start left {seen:?} behind"
    );
    let shown = ns.run(Cmd::Http, &state, &["full1", "--disp"]);
    assert_eq!(shown.code, Some(3), "{}{}", shown.stdout, shown.stderr);
    assert!(
        !shown.stdout.contains("pid:"),
        "--disp showed a record the failed start never wrote:\n{}",
        shown.stdout
    );
    assert!(!shown.stderr.is_empty(), "--disp should say why: silent");

    // Room again: the next start works.
    fs::remove_file(ns.path(&state.join("fill"))).expect("remove the filler");
    let mut monitor = Monitor::spawn(Cmd::Http, ns.command(Cmd::Http, &state, &strs(&args)));
    let pid = monitor.pid().to_string();
    let live = wait_until(QUICK, || {
        let shown = ns.run(Cmd::Http, &state, &["full1", "--disp"]);
        shown.code == Some(0) && shown.stdout.starts_with(&format!("pid: {pid}\n"))
    });
    assert!(
        live,
        "the start after a full disk never went live; stderr:\n{}",
        monitor.stderr_text()
    );
    let stop = ns.run(Cmd::Http, &state, &["full1", "--stop"]);
    assert_eq!(stop.code, Some(0), "{}", stop.stderr);
    monitor.expect_exit(0, QUICK);
}

#[test]
fn a_corrupt_record_is_not_shown_can_be_deleted_and_never_blocks_a_start() {
    for cmd in BOTH {
        let dir = TestDir::new("corrupt");
        let server = match cmd {
            Cmd::Http => http_status_server(200),
            Cmd::Smtp => smtp_server(LO_ANY, |_| SmtpReplies::healthy()).expect("bind"),
        };
        let record = dir.state().join("bad1");
        fs::write(&record, random_bytes(3000)).expect("write random bytes");

        let shown = run_expect(cmd, &dir, &["bad1", "--disp"], 3);
        assert!(
            shown.stdout.is_empty(),
            "{}: --disp printed a corrupt record:\n{}",
            cmd.name(),
            shown.stdout
        );
        assert!(
            shown.stderr.contains("bad1")
                && (shown.stderr.contains("corrupt") || shown.stderr.contains("damaged")),
            "{}: --disp should say the record is damaged: {:?}",
            cmd.name(),
            shown.stderr
        );
        // Nobody holds it: there is nothing to stop, pause or resume.
        run_expect(cmd, &dir, &["bad1", "--stop"], 0);
        run_expect(cmd, &dir, &["bad1", "--pause"], 3);
        run_expect(cmd, &dir, &["bad1", "--resume"], 3);
        run_expect(cmd, &dir, &["bad1", "--del"], 0);
        assert!(
            dir.state_entries().is_empty(),
            "{}: --del left {:?}",
            cmd.name(),
            dir.state_entries()
        );
        let mut monitor = start_monitor(cmd, &dir, "bad1", LO, server.port(), FAST, &[]);
        wait_probes(&monitor, &dir, "bad1", 1, QUICK);
        run_expect(cmd, &dir, &["bad1", "--stop"], 0);
        monitor.expect_exit(0, QUICK);

        // Garbage longer than a record, started over without --del: the
        // new record replaces its head and the rest does not confuse it.
        fs::write(&record, random_bytes(10_000)).expect("write random bytes");
        let mut monitor = start_monitor(cmd, &dir, "bad1", LO, server.port(), FAST, &[]);
        let shown = wait_probes(&monitor, &dir, "bad1", 1, QUICK);
        assert_eq!(shown.get("command"), Some(cmd.name()), "{}", shown.stdout);
        assert_eq!(shown.get("last_result"), Some("ok"), "{}", shown.stdout);
        run_expect(cmd, &dir, &["bad1", "--stop"], 0);
        monitor.expect_exit(0, QUICK);
        let shown = disp(cmd, &dir, "bad1");
        assert_eq!(
            (shown.code, shown.get("status"), shown.get("state")),
            (Some(3), Some("stale"), Some("stopped")),
            "{}: the record over the garbage:\n{}{}",
            cmd.name(),
            shown.stdout,
            shown.stderr
        );
    }
}

/// What a foreign entry named like the ID is, and how to tell it is
/// unchanged.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    kind: &'static str,
    link: Option<PathBuf>,
    mtime: (i64, i64),
}

fn entry(path: &Path) -> Option<Entry> {
    let meta = fs::symlink_metadata(path).ok()?;
    let t = meta.file_type();
    let kind = if t.is_dir() {
        "directory"
    } else if t.is_fifo() {
        "fifo"
    } else if t.is_symlink() {
        "symlink"
    } else if t.is_file() {
        "file"
    } else {
        "other"
    };
    Some(Entry {
        kind,
        link: fs::read_link(path).ok(),
        mtime: (meta.mtime(), meta.mtime_nsec()),
    })
}

#[test]
fn a_foreign_entry_named_like_the_id_is_refused_and_never_followed() {
    let dir = TestDir::new("foreign");
    let state = dir.state();
    let outside = dir.root().join("outside");
    fs::write(&outside, b"precious\n").expect("write the outside file");
    let outside_meta = entry(&outside).expect("outside");
    let nowhere = dir.root().join("nowhere");

    fs::create_dir(state.join("adir")).expect("mkdir");
    fs::write(state.join("adir").join("inner"), b"inner\n").expect("write inner");
    let fifo = Command::new("mkfifo")
        .arg(state.join("afifo"))
        .status()
        .expect("run mkfifo");
    assert!(fifo.success(), "mkfifo failed");
    std::os::unix::fs::symlink(&outside, state.join("alink")).expect("symlink");
    std::os::unix::fs::symlink(&nowhere, state.join("adangle")).expect("symlink");
    let ids = ["adir", "afifo", "alink", "adangle"];
    let before: Vec<Option<Entry>> = ids.iter().map(|id| entry(&state.join(id))).collect();

    let port = closed_port();
    for cmd in BOTH {
        for id in ids {
            let shown_path = state.join(id).display().to_string();
            let mut start = dir.command(cmd);
            start.args(probe_args(id, port, FAST));
            // A FIFO must not block the open: QUICK, not VERB_LIMIT.
            let out = run_command(start, QUICK);
            let (func, _) = assert_system_error(
                &format!("{} start over a foreign {id}", cmd.name()),
                &out,
                cmd,
                id,
            );
            assert_eq!(func, "open", "{}", out.stderr);
            assert!(
                out.stderr.contains(&shown_path),
                "the second line should name {shown_path}:\n{}",
                out.stderr
            );
            for verb in ["--disp", "--del", "--stop", "--pause", "--resume"] {
                let mut command = dir.command(cmd);
                command.args([id, verb]);
                let out = run_command(command, QUICK);
                assert!(
                    matches!(out.code, Some(3) | Some(4)),
                    "`{} {id} {verb}` over a foreign entry: exit {:?} (timed out: {}); \
                     stdout:\n{}\nstderr:\n{}",
                    cmd.name(),
                    out.code,
                    out.timed_out,
                    out.stdout,
                    out.stderr
                );
                assert!(
                    out.stderr.contains(&shown_path) || out.stderr.contains(id),
                    "`{} {id} {verb}` should say what it refused:\n{}",
                    cmd.name(),
                    out.stderr
                );
                assert!(
                    !out.stdout.contains("pid:"),
                    "`{} {id} {verb}` printed a record:\n{}",
                    cmd.name(),
                    out.stdout
                );
            }
        }
    }
    let after: Vec<Option<Entry>> = ids.iter().map(|id| entry(&state.join(id))).collect();
    assert_eq!(before, after, "a foreign entry was changed");
    assert_eq!(
        fs::read(&outside).expect("the outside file"),
        b"precious\n",
        "written through a symlink"
    );
    assert_eq!(entry(&outside), Some(outside_meta));
    assert!(
        fs::symlink_metadata(&nowhere).is_err(),
        "a dangling symlink's target was created"
    );
    assert_eq!(
        fs::read_dir(state.join("adir"))
            .expect("read adir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect::<Vec<_>>(),
        ["inner"]
    );
    assert_eq!(dir.state_entries(), ["adangle", "adir", "afifo", "alink"]);
    assert_eq!(dir.root_entries(), ["outside", "state"]);
}

#[test]
fn an_id_that_names_a_path_is_refused_and_touches_nothing() {
    let dir = TestDir::without_state("pathid");
    let escape_name = format!(
        "ismon-escape-{}-{}",
        std::process::id(),
        dir.root()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    // From <root>/state, `../../NAME` is NAME beside <root>.
    let beside = dir
        .root()
        .parent()
        .expect("the test dir has a parent")
        .join(&escape_name);
    let far = format!("../../{escape_name}");
    let passwd = fs::read("/etc/passwd").ok();
    let passwd_meta = entry(Path::new("/etc/passwd"));
    let port = closed_port();
    let ids = [
        "..",
        ".",
        "../x",
        "a/b",
        "/etc/passwd",
        far.as_str(),
        "x/../y",
    ];
    for cmd in BOTH {
        for id in ids {
            let start = probe_args(id, port, FAST);
            let mut commands: Vec<Vec<&str>> = vec![strs(&start)];
            for verb in ["--disp", "--del", "--stop", "--pause", "--resume"] {
                commands.push(vec![id, verb]);
            }
            for args in commands {
                let out = run(cmd, &dir, &args);
                assert_eq!(
                    out.code,
                    Some(2),
                    "`{} {}`: exit status; stderr:\n{}",
                    cmd.name(),
                    args.join(" "),
                    out.stderr
                );
                assert!(
                    !event_lines_in(cmd, &out.stderr, 11).is_empty(),
                    "`{} {}` should log event 11; stderr:\n{}",
                    cmd.name(),
                    args.join(" "),
                    out.stderr
                );
            }
        }
    }
    assert!(
        dir.root_entries().is_empty(),
        "refused IDs created {:?} (not even the state dir may be made)",
        dir.root_entries()
    );
    assert!(
        fs::symlink_metadata(&beside).is_err(),
        "{beside:?} was created"
    );
    assert_eq!(fs::read("/etc/passwd").ok(), passwd, "/etc/passwd changed");
    assert_eq!(entry(Path::new("/etc/passwd")), passwd_meta);
}

// ---------------------------------------------------------------------------
// The record cut short under the monitor

/// The seed of a randomized schedule: `ISMON_SEED`, or the clock's.
fn seed() -> u64 {
    std::env::var("ISMON_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        })
}

/// Cuts `record` to `len` bytes as an administrator would: `: > FILE` (an
/// open with O_TRUNC) or `truncate -s LEN FILE` (ftruncate).
fn cut(record: &Path, len: u64, shell_style: bool) {
    if len == 0 && shell_style {
        fs::File::create(record).expect(": > the record");
    } else {
        fs::OpenOptions::new()
            .write(true)
            .open(record)
            .and_then(|f| f.set_len(len))
            .expect("truncate the record");
    }
}

/// Waits until `--disp` shows `monitor`'s record whole again with more
/// than `probes` probes and the file is at its full size. Fails at once,
/// with the monitor's stderr, if the monitor ends first.
fn wait_restored(
    monitor: &mut Monitor,
    dir: &TestDir,
    id: &str,
    probes: u64,
    limit: Duration,
    what: &str,
) -> Disp {
    let record = dir.state().join(id);
    let mut last = None;
    let restored = wait_until(limit, || {
        if !monitor.is_running() {
            return true;
        }
        let shown = disp(monitor.cmd, dir, id);
        let ok = shown.is_live()
            && shown.num("probes").map_or(false, |n| n > probes)
            && fs::metadata(&record).map_or(false, |m| m.len() == 4096);
        last = Some(shown);
        ok
    });
    monitor.assert_running(what);
    let last = last.expect("polled at least once while running");
    assert!(
        restored,
        "{what}: no whole record with more than {probes} probes within {limit:?} \
         (file {:?} bytes); last --disp (exit {:?}):\n{}{}\nstderr:\n{}",
        fs::metadata(&record).map(|m| m.len()).ok(),
        last.code,
        last.stdout,
        last.stderr,
        monitor.stderr_text()
    );
    last
}

#[test]
fn a_record_cut_short_under_the_monitor_is_written_again_and_the_monitor_goes_on() {
    // The record is a shared mapping of the file: a store into a page the
    // file has lost raises SIGBUS, which unhandled would kill a monitor of
    // a healthy server, a false failover.
    const CUTS_TO_ZERO: usize = 30;
    let seed = seed();
    eprintln!("seed {seed} (ISMON_SEED={seed} repeats this schedule)");
    let mut rng = Rng::new(seed);
    let dir = TestDir::new("cutrecord");
    let server = http_status_server(200);
    let mut monitor = start_monitor(Cmd::Http, &dir, "cut", LO, server.port(), FAST, &[]);
    let mut shown = wait_probes(&monitor, &dir, "cut", 1, QUICK);
    let record = dir.state().join("cut");
    // The next record after the cut makes it whole: one interval, and one
    // more for a cut that lands just after that record's size was looked at.
    let bound = secs(2 * FAST.interval) + MARGIN;
    let lengths = std::iter::repeat(0)
        .take(CUTS_TO_ZERO)
        .chain([1, 100, 4095]);
    let mut cuts = 0;
    for len in lengths {
        // Not a wait for something to happen: a random moment of the
        // interval for the fault itself.
        thread::sleep(rng.millis(0, 999));
        let probes = shown.num("probes").expect("a whole record counts probes");
        let shell_style = rng.below(2) == 0;
        cut(&record, len, shell_style);
        cuts += 1;
        let what = format!("seed {seed}: cut {cuts}, to {len} bytes (after probe {probes})");
        shown = wait_restored(&mut monitor, &dir, "cut", probes, bound, &what);
        assert_eq!(
            shown.get("last_result"),
            Some("ok"),
            "{what}: {}",
            shown.stdout
        );
    }
    let said = format!("the record {} was cut to ", record.display());
    let notes = |monitor: &Monitor| -> Vec<String> {
        monitor
            .stderr_lines()
            .iter()
            .map(|l| l.text())
            .filter(|t| t.contains(&said))
            .collect()
    };
    // Cuts that follow each other record by record are one episode, said
    // once; so there are no more lines than cuts, and at least one.
    let lines = notes(&monitor);
    assert!(
        !lines.is_empty() && lines.len() <= cuts,
        "seed {seed}: {} lines for {cuts} cuts; stderr:\n{}",
        lines.len(),
        monitor.stderr_text()
    );
    for line in &lines {
        assert!(
            line.ends_with("bytes by another process; written again in full, monitoring goes on"),
            "{line}"
        );
    }

    // One cut after a record found the file whole: exactly one line, and
    // none in the records after.
    let probes = shown.num("probes").expect("a whole record counts probes");
    shown = wait_probes(
        &monitor,
        &dir,
        "cut",
        probes + 1,
        secs(FAST.interval) + MARGIN,
    );
    let probes = shown.num("probes").expect("a whole record counts probes");
    let before = notes(&monitor).len();
    cut(&record, 0, true);
    let what = format!("seed {seed}: a last cut to 0 bytes");
    shown = wait_restored(&mut monitor, &dir, "cut", probes, bound, &what);
    let probes = shown.num("probes").expect("a whole record counts probes");
    wait_probes(
        &monitor,
        &dir,
        "cut",
        probes + 3,
        secs(3 * FAST.interval) + MARGIN,
    );
    assert_eq!(
        notes(&monitor).len(),
        before + 1,
        "seed {seed}: one cut, one line; stderr:\n{}",
        monitor.stderr_text()
    );
    assert!(
        notes(&monitor)[before].contains(&format!("{said}0 bytes")),
        "{}",
        monitor.stderr_text()
    );
    assert!(
        monitor.event_lines(6).is_empty(),
        "no probe failed; stderr:\n{}",
        monitor.stderr_text()
    );
    run_expect(Cmd::Http, &dir, &["cut", "--stop"], 0);
    monitor.expect_exit(0, QUICK);
}

#[test]
fn a_sigbus_that_is_not_a_cut_record_still_kills_the_monitor() {
    // The guard of the record's mapping takes only faults inside it; a
    // SIGBUS sent with kill(2) does what it did without the guard.
    use std::os::unix::process::ExitStatusExt;
    let dir = TestDir::new("sigbus");
    let server = http_status_server(200);
    let mut monitor = start_monitor(Cmd::Http, &dir, "bus", LO, server.port(), FAST, &[]);
    wait_probes(&monitor, &dir, "bus", 1, QUICK);
    monitor.signal("BUS");
    let status = monitor.wait_exit(QUICK);
    assert_eq!(
        status.and_then(|s| s.signal()),
        Some(libc::SIGBUS),
        "exit {status:?}; stderr:\n{}",
        monitor.stderr_text()
    );
}

// ---------------------------------------------------------------------------
// The system log stalls, vanishes, restarts

fn start_with_log(cmd: Cmd, dir: &TestDir, socket: &Path, args: &[String]) -> Monitor {
    Monitor::spawn(
        cmd,
        command_with_private_dev_log(cmd, dir, socket, &strs(args)),
    )
}

#[test]
fn a_log_daemon_that_stops_reading_never_delays_detection() {
    const TEST: &str = "a_log_daemon_that_stops_reading_never_delays_detection";
    if !namespaces_or_skip(TEST) {
        return;
    }
    let dir = TestDir::new("logstall");
    let path = dir.root().join("log.sock");
    let socket = UnixDatagram::bind(&path).expect("bind the private /dev/log");
    let server = http_status_server(200);
    let timing = Timing::new(1, 2, 1);
    let mut monitor = start_with_log(
        Cmd::Http,
        &dir,
        &path,
        &probe_args("stall1", server.port(), timing),
    );
    let will_start = event_body(Cmd::Http, 2, "stall1", "");
    let got = receive_until(&socket, QUICK, syslog_line, |got| {
        has_body(got, &will_start)
    });
    assert!(
        has_body(&got, &will_start),
        "the log took nothing before it stalled: {got:?}"
    );
    wait_probes(&monitor, &dir, "stall1", 1, QUICK);

    // The daemon stops reading: its queue fills and stays full.
    let _filler = fill_queue(&path);
    drop(server);
    expect_detected_in_bound(&mut monitor, Cmd::Http, "stall1", timing, Instant::now());
    assert!(
        monitor.stderr_text().contains("is not taking lines"),
        "the drops should be reported on stderr:\n{}",
        monitor.stderr_text()
    );
    let shown = disp(Cmd::Http, &dir, "stall1");
    assert!(
        shown.num("syslog_dropped").unwrap_or(0) >= 4,
        "three failed probes and event 6 went to a full log:\n{}",
        shown.stdout
    );
    drop(socket);
}

#[test]
fn a_log_daemon_that_disappears_never_delays_detection() {
    const TEST: &str = "a_log_daemon_that_disappears_never_delays_detection";
    if !namespaces_or_skip(TEST) {
        return;
    }
    let dir = TestDir::new("loggone");
    let path = dir.root().join("log.sock");
    let socket = UnixDatagram::bind(&path).expect("bind the private /dev/log");
    let server = smtp_server(LO_ANY, |_| SmtpReplies::healthy()).expect("bind");
    let timing = Timing::new(1, 2, 1);
    let mut monitor = start_with_log(
        Cmd::Smtp,
        &dir,
        &path,
        &probe_args("gone1", server.port(), timing),
    );
    let will_start = event_body(Cmd::Smtp, 2, "gone1", "");
    let got = receive_until(&socket, QUICK, syslog_line, |got| {
        has_body(got, &will_start)
    });
    assert!(has_body(&got, &will_start), "nothing logged: {got:?}");
    wait_probes(&monitor, &dir, "gone1", 1, QUICK);

    // The daemon exits: its socket closes and its file goes.
    drop(socket);
    fs::remove_file(&path).expect("remove the socket file");
    drop(server);
    expect_detected_in_bound(&mut monitor, Cmd::Smtp, "gone1", timing, Instant::now());
    let shown = disp(Cmd::Smtp, &dir, "gone1");
    assert!(
        shown.num("syslog_dropped").unwrap_or(0) >= 4,
        "three failed probes and event 6 had no log to go to:\n{}",
        shown.stdout
    );
}

#[test]
fn a_restarted_log_daemon_gets_the_later_lines_and_the_count_of_lost_ones() {
    const TEST: &str = "a_restarted_log_daemon_gets_the_later_lines_and_the_count_of_lost_ones";
    if !namespaces_or_skip(TEST) {
        return;
    }
    let dir = TestDir::new("logrestart");
    let path = dir.root().join("log.sock");
    let old = UnixDatagram::bind(&path).expect("bind the private /dev/log");
    // A dead server and many retries: a warning every second, and time.
    let port = closed_port();
    let mut monitor = start_with_log(
        Cmd::Http,
        &dir,
        &path,
        &probe_args("again1", port, Timing::new(1, 30, 1)),
    );
    let refused = event_body(Cmd::Http, 72, "again1", "111");
    let got = receive_until(&old, QUICK, syslog_line, |got| has_body(got, &refused));
    assert!(has_body(&got, &refused), "no event 72 logged: {got:?}");

    // The daemon goes away ...
    drop(old);
    fs::remove_file(&path).expect("remove the socket file");
    assert!(
        wait_until(secs(1) + MARGIN, || monitor
            .stderr_text()
            .contains("is not taking lines")),
        "no line was reported dropped while the log was gone; stderr:\n{}",
        monitor.stderr_text()
    );
    // ... and a new one binds the same path.
    let new = UnixDatagram::bind(&path).expect("bind the restarted /dev/log");
    let note_prefix = "clp_httpmon: the system log was not reading; ";
    let got = receive_until(&new, secs(2) + MARGIN, syslog_line, |got| {
        has_body(got, &refused) && got.iter().any(|(_, l)| l.body.starts_with(note_prefix))
    });
    assert!(
        has_body(&got, &refused),
        "the restarted log never got the later events: {got:?}\nstderr:\n{}",
        monitor.stderr_text()
    );
    let note = got
        .iter()
        .find(|(_, l)| l.body.starts_with(note_prefix))
        .unwrap_or_else(|| {
            panic!(
                "the restarted log never got the count of lost lines: {got:?}\nstderr:\n{}",
                monitor.stderr_text()
            )
        });
    assert_eq!(note.0, 28, "the count of lost lines is a daemon.warning");
    for (_, line) in &got {
        assert_eq!(
            (line.ident.as_str(), line.pid),
            ("clp_httpmon", monitor.pid())
        );
    }
    // "N line(s) dropped (M in all)"
    let in_all: u64 = note
        .1
        .body
        .rsplit_once(" (")
        .and_then(|(_, rest)| rest.strip_suffix(" in all)"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {:?}", note.1.body));
    assert!(in_all >= 1, "{:?}", note.1.body);

    run_expect(Cmd::Http, &dir, &["again1", "--stop"], 0);
    let stopping = event_body(Cmd::Http, 3, "again1", "");
    let got = receive_until(&new, QUICK, syslog_line, |got| has_body(got, &stopping));
    assert!(has_body(&got, &stopping), "no event 3 logged: {got:?}");
    monitor.expect_exit(0, QUICK);
    let shown = disp(Cmd::Http, &dir, "again1");
    assert_eq!(
        shown.num("syslog_dropped"),
        Some(in_all),
        "nothing was dropped after the restart:\n{}",
        shown.stdout
    );
}
