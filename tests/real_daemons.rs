//! `clp_httpmon` against a real nginx and `clp_smtpmon` against a real
//! postfix. Each test starts a private instance of its server with
//! `tests/daemons/nginx.sh` or `tests/daemons/smtpd.sh`: its own
//! configuration, pid file, logs and queue in the test's directory,
//! listening on 127.0.0.1 at a port the kernel picked. The instance's
//! master is the test's own child; it and every process under it are
//! ended by PID when the test is over, also when it fails. The system's
//! instance of either server is never touched.
//!
//! For each server, with `-i 1 -c 2 -r 1`: healthy for several probes;
//! frozen (SIGSTOP of the master and everything under it — the kernel
//! still completes TCP handshakes on the listening socket, so the probe
//! waits for a reply that does not come) → `select error[110]`, then event
//! 6 and exit 1 within the detection bound; killed → `connect error[111]`
//! and exit 1; back during the retries (continued, or restarted on the
//! same port) → `state: monitoring` again, the monitor keeps running, and
//! a later failure gets its full retries.
//!
//! A server that is not installed makes its tests print `SKIPPED: …` and
//! pass, except under CI=true, where they fail.

mod common;

use common::*;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const LO: &str = "127.0.0.1";

/// `-i 1 -c 2 -r 1`: failure detected 2 × 1 + 1 s after the first failed
/// probe starts.
const TIMING: Timing = Timing {
    interval: 1,
    retries: 2,
    timeout: 1,
};

/// How long a server may take to answer its first request after it was
/// started.
const START_LIMIT: Duration = Duration::from_secs(15);

/// Events 71 to 83: a failed probe.
const PROBE_FAILURES: std::ops::RangeInclusive<u32> = 71..=83;

// ---------------------------------------------------------------------------
// The servers

#[derive(Clone, Copy, Debug)]
enum Server {
    Nginx,
    Postfix,
}

impl Server {
    fn name(self) -> &'static str {
        match self {
            Server::Nginx => "nginx",
            Server::Postfix => "postfix",
        }
    }

    /// The monitor that watches it.
    fn cmd(self) -> Cmd {
        match self {
            Server::Nginx => Cmd::Http,
            Server::Postfix => Cmd::Smtp,
        }
    }

    fn script(self) -> PathBuf {
        let file = match self {
            Server::Nginx => "nginx.sh",
            Server::Postfix => "smtpd.sh",
        };
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/daemons")
            .join(file)
    }

    /// The files of an instance's directory worth showing when a test fails.
    fn logs(self) -> &'static [&'static str] {
        match self {
            Server::Nginx => &["daemon.log", "error.log"],
            Server::Postfix => &["daemon.log", "maillog"],
        }
    }

    fn script_command(self, args: &[&str]) -> Command {
        let mut command = Command::new("sh");
        command.arg(self.script()).args(args);
        command
    }

    /// Whether this test can run: the script says whether the server can
    /// run here. When it cannot, the test is skipped, loudly — or fails,
    /// under CI=true.
    fn available_for(self, test: &str) -> bool {
        let outcome = run_command(self.script_command(&["available"]), QUICK);
        if outcome.code == Some(0) {
            return true;
        }
        let why = outcome.stderr.trim();
        let in_ci = std::env::var("CI").map(|v| v == "true").unwrap_or(false);
        assert!(
            !in_ci,
            "{test}: {} cannot run here and CI=true requires it \
             (.ci/run installs nginx-light and postfix): {why}",
            self.name()
        );
        common::loud(&format!(
            "SKIPPED: {test}: {} cannot run here: {why}",
            self.name()
        ));
        false
    }

    /// One exchange as a client would hold it: the server answered like a
    /// healthy one (an HTTP status line; an SMTP 220 greeting, then 221 to
    /// QUIT).
    fn answers(self, port: u16) -> bool {
        let limit = Duration::from_secs(1);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut stream = match TcpStream::connect_timeout(&addr, limit) {
            Ok(stream) => stream,
            Err(_) => return false,
        };
        if stream.set_read_timeout(Some(limit)).is_err()
            || stream.set_write_timeout(Some(limit)).is_err()
        {
            return false;
        }
        match self {
            Server::Nginx => {
                if stream
                    .write_all(b"HEAD / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                    .is_err()
                {
                    return false;
                }
                let mut reply = Vec::new();
                let _ = stream.take(64).read_to_end(&mut reply);
                reply.starts_with(b"HTTP/1.1 200 ")
            }
            Server::Postfix => {
                let mut reader = BufReader::new(stream.take(4096));
                let mut greeting = String::new();
                if reader.read_line(&mut greeting).is_err() || !greeting.starts_with("220 ") {
                    return false;
                }
                let mut stream = reader.into_inner().into_inner();
                if stream.write_all(b"QUIT\r\n").is_err() {
                    return false;
                }
                let mut bye = String::new();
                let _ = BufReader::new(stream.take(4096)).read_line(&mut bye);
                bye.starts_with("221")
            }
        }
    }
}

/// A private instance of a server, started by this test. Dropping it
/// continues and ends the master and every process under it by PID, and
/// reaps the master.
struct Daemon {
    server: Server,
    /// The instance's directory: configuration, pid file, logs.
    dir: PathBuf,
    port: u16,
    /// The master: the script execs into it, so this child is the master.
    master: Option<Child>,
}

impl Daemon {
    /// Starts an instance in `dir` on `port` and waits until it answers.
    fn start(server: Server, dir: PathBuf, port: u16) -> Daemon {
        let mut daemon = Daemon {
            server,
            dir,
            port,
            master: None,
        };
        daemon.launch();
        daemon
    }

    /// `script start DIR PORT`: the first line it prints is the master's
    /// PID, then it becomes the master.
    fn launch(&mut self) {
        assert!(self.master.is_none(), "a master is already running");
        let port = self.port.to_string();
        let dir = self.dir.to_str().expect("the temp dir is UTF-8");
        let mut command = self.server.script_command(&["start", dir, &port]);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn the daemon's start script");
        // Both pipes close when the script execs into the daemon (whose
        // output goes to DIR/daemon.log), or when the script fails.
        let (sender, printed) = mpsc::channel();
        for pipe in [
            Box::new(child.stdout.take().expect("piped")) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().expect("piped")),
        ] {
            let sender = sender.clone();
            thread::spawn(move || {
                let mut pipe = pipe;
                let mut text = String::new();
                let _ = pipe.read_to_string(&mut text);
                let _ = sender.send(text);
            });
        }
        let mut output = String::new();
        for _ in 0..2 {
            match printed.recv_timeout(QUICK) {
                Ok(text) => output.push_str(&text),
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "the {} start script printed nothing within {QUICK:?}",
                        self.server.name()
                    );
                }
            }
        }
        let pid = child.id();
        self.master = Some(child);
        assert_eq!(
            output.lines().next(),
            Some(pid.to_string().as_str()),
            "the {} start script should print the master's PID; it said:\n{output}\n{}",
            self.server.name(),
            self.logs()
        );
        let port = self.port;
        let server = self.server;
        let mut exited = None;
        let ready = wait_until(START_LIMIT, || {
            exited = self.master_exit();
            exited.is_some() || server.answers(port)
        });
        assert!(
            ready && exited.is_none(),
            "{} (PID {pid}) on 127.0.0.1:{port} {} within {START_LIMIT:?}\n{}",
            server.name(),
            match exited {
                Some(status) => format!("ended ({status}) instead of answering"),
                None => "never answered".to_string(),
            },
            self.logs()
        );
    }

    fn master_exit(&mut self) -> Option<std::process::ExitStatus> {
        self.master
            .as_mut()
            .and_then(|child| child.try_wait().expect("try_wait on our own child"))
    }

    /// Runs `script VERB DIR` to completion.
    fn verb(&self, verb: &str) -> Outcome {
        let dir = self.dir.to_str().expect("the temp dir is UTF-8");
        let outcome = run_command(self.server.script_command(&[verb, dir]), VERB_LIMIT);
        assert!(
            outcome.code == Some(0),
            "`{} {verb}` failed ({:?}): {}{}\n{}",
            self.server.script().display(),
            outcome.code,
            outcome.stdout,
            outcome.stderr,
            self.logs()
        );
        outcome
    }

    /// SIGSTOP to the master and every process under it; returns the
    /// instants just before and just after.
    fn freeze(&self) -> (Instant, Instant) {
        let before = Instant::now();
        let outcome = self.verb("freeze");
        let after = Instant::now();
        let frozen: Vec<&str> = outcome.stdout.split_whitespace().collect();
        // nginx: master and worker; postfix: master, postlogd and an
        // smtpd left idle by the last probe.
        assert!(
            frozen.len() >= 2,
            "{}: froze only {frozen:?}: the process that answers must stop too",
            self.server.name()
        );
        (before, after)
    }

    fn thaw(&self) {
        self.verb("thaw");
    }

    /// SIGKILL to the master and every process under it, as a crash;
    /// returns the instant just before.
    fn kill(&mut self) -> Instant {
        let before = Instant::now();
        self.verb("kill");
        let mut master = self.master.take().expect("a running master");
        master.wait().expect("reap the killed master");
        before
    }

    /// Starts the server again, in the same directory on the same port.
    fn restart(&mut self) {
        self.launch();
    }

    /// Continues and ends the instance by PID, then reaps its master.
    fn shutdown(&mut self) {
        let mut master = match self.master.take() {
            Some(master) => master,
            None => return,
        };
        let dir = self.dir.to_str().unwrap_or_default();
        for verb in ["thaw", "stop"] {
            let outcome = run_command(self.server.script_command(&[verb, dir]), VERB_LIMIT);
            if outcome.code != Some(0) {
                eprintln!(
                    "{} {verb} {dir}: exit {:?}: {}",
                    self.server.script().display(),
                    outcome.code,
                    outcome.stderr
                );
            }
        }
        // `stop` waited for it; should it still run, it is our own
        // unreaped child, so its PID is still its own.
        if !wait_until(QUICK, || matches!(master.try_wait(), Ok(Some(_)))) {
            let _ = master.kill();
            let _ = master.wait();
        }
    }

    /// The instance's logs, for a failure message.
    fn logs(&self) -> String {
        let mut text = String::new();
        for name in self.server.logs() {
            let path = self.dir.join(name);
            let content = fs::read(&path)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_else(|e| format!("({e})\n"));
            text.push_str(&format!("--- {}:\n{content}", path.display()));
        }
        text
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.shutdown();
    }
}

// ---------------------------------------------------------------------------
// One test's server and monitor

/// A server instance and the monitor watching it, with the test's private
/// directory. Dropping it — also when the test panics — kills the monitor
/// by PID, then continues and ends the server by PID, then removes the
/// directory.
struct Scene {
    server: Server,
    id: String,
    monitor: Monitor,
    daemon: Daemon,
    dir: TestDir,
}

impl Scene {
    /// The server came back (`how`) within the retries: the monitor is
    /// monitoring again and keeps running, after 1 to RETRIES failures, all
    /// `event` with `nn`. Returns those failures.
    fn expect_recovery(&mut self, how: &str, event: u32, nn: &str) -> Vec<String> {
        let shown = self.wait_disp(
            &format!("monitoring again after the server was {how}"),
            secs(TIMING.retries * TIMING.interval) + MARGIN,
            |d| d.get("state") == Some("monitoring") && d.get("last_result") == Some("ok"),
        );
        let failed = self.probe_failures();
        let cause = event_body(self.cmd(), event, &self.id, nn);
        assert!(
            (1..=TIMING.retries as usize).contains(&failed.len())
                && failed.iter().all(|body| *body == cause),
            "while it was away, 1 to {} × `{cause}`; stderr:\n{}",
            TIMING.retries,
            self.monitor.stderr_text()
        );
        self.monitor
            .assert_running("its server came back within the retries");
        self.assert_keeps_monitoring(&shown);
        failed
    }

    /// Starts the server and a monitor of it; `None` when the server is
    /// not available (the test is skipped).
    fn start(server: Server, test: &str, tag: &str) -> Option<Scene> {
        if !server.available_for(test) {
            return None;
        }
        let dir = TestDir::new(&format!("{}-{tag}", server.name()));
        // The postfix services run as user postfix: they must reach the
        // instance's directory inside this one.
        fs::set_permissions(dir.root(), fs::Permissions::from_mode(0o755))
            .expect("chmod the test's directory");
        let daemon = Daemon::start(server, dir.root().join("daemon"), free_port());
        let id = format!("real-{}-{tag}-{}", server.name(), std::process::id());
        let monitor = start_monitor(server.cmd(), &dir, &id, LO, daemon.port, TIMING, &[]);
        Some(Scene {
            server,
            id,
            monitor,
            daemon,
            dir,
        })
    }

    fn cmd(&self) -> Cmd {
        self.server.cmd()
    }

    fn disp(&self) -> Disp {
        disp(self.cmd(), &self.dir, &self.id)
    }

    fn wait_disp(&self, what: &str, limit: Duration, pred: impl FnMut(&Disp) -> bool) -> Disp {
        wait_disp(self.cmd(), &self.dir, &self.id, what, limit, pred)
    }

    /// Waits for three probes that all passed.
    fn expect_healthy(&self) -> Disp {
        let shown = wait_probes(&self.monitor, &self.dir, &self.id, 3, secs(3) + MARGIN);
        assert_eq!(shown.num("failures"), Some(0), "{}", shown.stdout);
        assert_eq!(shown.get("last_result"), Some("ok"), "{}", shown.stdout);
        assert_eq!(shown.get("state"), Some("monitoring"), "{}", shown.stdout);
        shown
    }

    /// The monitor's event lines so far, in the order written: the event
    /// number and the message.
    fn events(&self) -> Vec<(u32, String)> {
        let prefix = format!("<type: {}><event: ", self.cmd().kind());
        self.monitor
            .stderr_lines()
            .iter()
            .filter_map(|line| {
                let parsed = parse_log_line(&line.text())?;
                let number = parsed.body.strip_prefix(&prefix)?.split('>').next()?;
                Some((number.parse().ok()?, parsed.body))
            })
            .collect()
    }

    /// The messages of the failed probes (events 71 to 83) so far.
    fn probe_failures(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .filter(|(n, _)| PROBE_FAILURES.contains(n))
            .map(|(_, body)| body)
            .collect()
    }

    /// Waits for the monitor to exit 1 and returns when it did. Waits past
    /// the bound, so that a late exit is reported with its time.
    fn expect_failure_exit(&mut self, since: Instant) -> Instant {
        let limit = (since + TIMING.bound() + QUICK).saturating_duration_since(Instant::now());
        let ran = self.monitor.expect_exit(1, limit);
        self.monitor.spawned_at + ran
    }

    /// Asserts that the monitor exited between RETRIES × INTERVAL after
    /// `after` and the detection bound after `before` (the instants around
    /// the server's failure).
    fn assert_exit_time(&self, exited: Instant, before: Instant, after: Instant, what: &str) {
        let bound = TIMING.bound();
        let soonest = secs(TIMING.retries * TIMING.interval);
        let since_before = exited.saturating_duration_since(before);
        let since_after = exited.saturating_duration_since(after);
        assert!(
            since_before <= bound,
            "{} exited {since_before:?} after the server was {what}, later than \
             {bound:?} (RETRIES × INTERVAL + TIMEOUT + margin); stderr:\n{}",
            self.cmd().name(),
            self.monitor.stderr_text()
        );
        assert!(
            since_after >= soonest,
            "{} exited {since_after:?} after the server was {what}: sooner than \
             RETRIES × INTERVAL = {soonest:?}; stderr:\n{}",
            self.cmd().name(),
            self.monitor.stderr_text()
        );
    }

    /// Asserts that the failed probes so far are `count` times event
    /// `event` with `nn`, and that event 6 was written once, after them.
    fn assert_failed_with(&self, event: u32, nn: &str, count: usize) {
        let expected = event_body(self.cmd(), event, &self.id, nn);
        let events = self.events();
        let failures: Vec<&String> = events
            .iter()
            .filter(|(n, _)| PROBE_FAILURES.contains(n))
            .map(|(_, body)| body)
            .collect();
        assert!(
            failures.len() == count && failures.iter().all(|body| **body == expected),
            "expected {count} × `{expected}`; stderr:\n{}",
            self.monitor.stderr_text()
        );
        let last_failure = events.iter().rposition(|(n, _)| PROBE_FAILURES.contains(n));
        let terminated: Vec<usize> = (0..events.len()).filter(|&i| events[i].0 == 6).collect();
        assert!(
            terminated.len() == 1 && Some(terminated[0]) > last_failure,
            "expected event 6 once, after the last failed probe; stderr:\n{}",
            self.monitor.stderr_text()
        );
        assert_eq!(
            events[terminated[0]].1,
            event_body(self.cmd(), 6, &self.id, ""),
            "event 6"
        );
    }

    /// Asserts that the monitor runs, has not given up, and stays so for
    /// the whole detection bound — then shows `monitoring`, `ok`, more
    /// probes, and no new failure.
    fn assert_keeps_monitoring(&mut self, shown: &Disp) {
        let probes = shown.num("probes").expect("probes: N");
        let failures = shown.num("failures").expect("failures: N");
        let span = TIMING.bound();
        let monitor = &mut self.monitor;
        assert!(
            holds_for(span, || monitor.is_running()),
            "{} ended within {span:?} of its server's recovery; stderr:\n{}",
            self.server.cmd().name(),
            self.monitor.stderr_text()
        );
        assert!(
            self.events().iter().all(|(n, _)| *n != 6),
            "event 6 after the server came back; stderr:\n{}",
            self.monitor.stderr_text()
        );
        let later = self.disp();
        assert!(
            later.is_live()
                && later.get("state") == Some("monitoring")
                && later.get("last_result") == Some("ok")
                && later.num("probes").unwrap_or(0) >= probes + span.as_secs() - 1
                && later.num("failures") == Some(failures),
            "{span:?} after the recovery, --disp should show the monitor live, \
             monitoring, probing and without new failures (had {probes} probes, \
             {failures} failures):\n{}",
            later.stdout
        );
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        self.monitor.kill9();
        if thread::panicking() {
            eprintln!("{}", self.daemon.logs());
        }
        self.daemon.shutdown();
    }
}

// ---------------------------------------------------------------------------
// The behaviours, for either server

/// Healthy for three probes; frozen → `select error[110]` × (RETRIES + 1),
/// event 6, exit 1, within the bound and not before RETRIES × INTERVAL.
fn frozen_server_fails_with_select_timeout(server: Server, test: &str) {
    let mut scene = match Scene::start(server, test, "frozen") {
        Some(scene) => scene,
        None => return,
    };
    scene.expect_healthy();
    let (before, after) = scene.daemon.freeze();
    let exited = scene.expect_failure_exit(before);
    scene.assert_exit_time(exited, before, after, "frozen");
    scene.assert_failed_with(74, "110", TIMING.retries as usize + 1);
}

/// Healthy for three probes; killed → `connect error[111]` ×
/// (RETRIES + 1), event 6, exit 1, within the bound.
fn killed_server_fails_with_connection_refused(server: Server, test: &str) {
    let mut scene = match Scene::start(server, test, "killed") {
        Some(scene) => scene,
        None => return,
    };
    scene.expect_healthy();
    let before = scene.daemon.kill();
    let exited = scene.expect_failure_exit(before);
    let since = exited.saturating_duration_since(before);
    assert!(
        since <= TIMING.bound(),
        "exited {since:?} after the server was killed, later than {:?}; stderr:\n{}",
        TIMING.bound(),
        scene.monitor.stderr_text()
    );
    scene.assert_failed_with(72, "111", TIMING.retries as usize + 1);
    let shown = scene.disp();
    assert!(
        shown.code == Some(3)
            && shown.get("status") == Some("stale")
            && shown.get("state") == Some("failed")
            && shown
                .get("last_result")
                .map_or(false, |r| r.contains("connect error[111]")),
        "--disp after the exit:\n{}",
        shown.stdout
    );
}

/// Healthy; frozen until the first failure, then continued: monitoring
/// again, and it keeps running. Frozen once more, it counts its retries
/// from 1 again and fails only after all of them.
fn thawed_server_recovers_and_retry_count_starts_over(server: Server, test: &str) {
    let mut scene = match Scene::start(server, test, "thawed") {
        Some(scene) => scene,
        None => return,
    };
    scene.expect_healthy();
    scene.daemon.freeze();
    scene.monitor.wait_event(74, TIMING.bound());
    scene.daemon.thaw();
    let failed = scene.expect_recovery("continued", 74, "110");

    // A new failure starts from retry 1 and gets all its retries.
    let (before, after) = scene.daemon.freeze();
    let retrying = scene.wait_disp(
        "the first retry after the second freeze",
        TIMING.bound(),
        |d| d.get("state").map_or(false, |s| s.starts_with("retrying")),
    );
    assert_eq!(
        retrying.get("state"),
        Some(format!("retrying 1/{}", TIMING.retries).as_str()),
        "the retry count starts over after a recovery:\n{}",
        retrying.stdout
    );
    let exited = scene.expect_failure_exit(before);
    scene.assert_exit_time(exited, before, after, "frozen again");
    scene.assert_failed_with(74, "110", failed.len() + TIMING.retries as usize + 1);
}

/// Healthy; killed until the first failure, then started again on the
/// same port: monitoring again, and it keeps running.
fn restarted_server_recovers(server: Server, test: &str) {
    let mut scene = match Scene::start(server, test, "restarted") {
        Some(scene) => scene,
        None => return,
    };
    scene.expect_healthy();
    scene.daemon.kill();
    scene.monitor.wait_event(72, TIMING.bound());
    scene.daemon.restart();
    scene.expect_recovery("restarted", 72, "111");
}

// ---------------------------------------------------------------------------
// nginx and clp_httpmon

#[test]
fn nginx_healthy_then_frozen_by_sigstop_fails_with_select_timeout() {
    frozen_server_fails_with_select_timeout(
        Server::Nginx,
        "nginx_healthy_then_frozen_by_sigstop_fails_with_select_timeout",
    );
}

#[test]
fn nginx_killed_fails_with_connection_refused() {
    killed_server_fails_with_connection_refused(
        Server::Nginx,
        "nginx_killed_fails_with_connection_refused",
    );
}

#[test]
fn nginx_continued_during_retries_recovers_and_the_retry_count_starts_over() {
    thawed_server_recovers_and_retry_count_starts_over(
        Server::Nginx,
        "nginx_continued_during_retries_recovers_and_the_retry_count_starts_over",
    );
}

#[test]
fn nginx_restarted_during_retries_recovers() {
    restarted_server_recovers(Server::Nginx, "nginx_restarted_during_retries_recovers");
}

// ---------------------------------------------------------------------------
// postfix and clp_smtpmon

#[test]
fn postfix_healthy_then_frozen_by_sigstop_fails_with_select_timeout() {
    frozen_server_fails_with_select_timeout(
        Server::Postfix,
        "postfix_healthy_then_frozen_by_sigstop_fails_with_select_timeout",
    );
}

#[test]
fn postfix_killed_fails_with_connection_refused() {
    killed_server_fails_with_connection_refused(
        Server::Postfix,
        "postfix_killed_fails_with_connection_refused",
    );
}

#[test]
fn postfix_continued_during_retries_recovers_and_the_retry_count_starts_over() {
    thawed_server_recovers_and_retry_count_starts_over(
        Server::Postfix,
        "postfix_continued_during_retries_recovers_and_the_retry_count_starts_over",
    );
}

#[test]
fn postfix_restarted_during_retries_recovers() {
    restarted_server_recovers(Server::Postfix, "postfix_restarted_during_retries_recovers");
}
