//! Helpers shared by the black-box tests of `clp_httpmon` and `clp_smtpmon`.
//!
//! Each test gets a private directory (`TestDir`) whose `state/` subdirectory
//! is handed to the commands through `ISMON_STATE_DIR`; monitors run as child
//! processes (`Monitor`) that are killed, by their own PID only, when the test
//! drops them; verbs run to completion under a deadline (`run`); fake servers
//! (`FakeServer`, `http_server`, `smtp_server`) listen on ports the kernel
//! picks. Every wait polls a condition every `POLL` up to a deadline.

// Each test binary includes this module and uses a different subset of it.
#![allow(dead_code)]

use std::env;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How often a waiting test looks at its condition again.
pub const POLL: Duration = Duration::from_millis(20);

/// Slack added to every timing bound the SPEC gives: process start-up,
/// scheduling of a loaded test machine, the test's own polling.
pub const MARGIN: Duration = Duration::from_secs(2);

/// Upper bound for a command line that must be refused or a verb that must
/// answer at once.
pub const QUICK: Duration = Duration::from_secs(5);

/// The limit for a verb that may itself wait (`--stop` waits up to 10 s).
pub const VERB_LIMIT: Duration = Duration::from_secs(20);

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The SPEC's detection bound, RETRIES × max(INTERVAL, TIMEOUT) + TIMEOUT,
/// plus `MARGIN`.
pub fn detection_bound(interval: u64, retries: u64, timeout: u64) -> Duration {
    secs(retries * interval.max(timeout) + timeout) + MARGIN
}

// ---------------------------------------------------------------------------
// The two commands

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmd {
    Http,
    Smtp,
}

pub const BOTH: [Cmd; 2] = [Cmd::Http, Cmd::Smtp];

impl Cmd {
    pub fn exe(self) -> &'static str {
        match self {
            Cmd::Http => env!("CARGO_BIN_EXE_clp_httpmon"),
            Cmd::Smtp => env!("CARGO_BIN_EXE_clp_smtpmon"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Cmd::Http => "clp_httpmon",
            Cmd::Smtp => "clp_smtpmon",
        }
    }

    /// The `<type: …>` tag of its log lines.
    pub fn kind(self) -> &'static str {
        match self {
            Cmd::Http => "httpmon",
            Cmd::Smtp => "smtpmon",
        }
    }

    pub fn protocol(self) -> &'static str {
        match self {
            Cmd::Http => "HTTP",
            Cmd::Smtp => "SMTP",
        }
    }

    pub fn other(self) -> Cmd {
        match self {
            Cmd::Http => Cmd::Smtp,
            Cmd::Smtp => Cmd::Http,
        }
    }
}

/// The text of an event as the SPEC's table words it; `nn` fills the
/// `[nn]` of the network and status events.
pub fn event_text(cmd: Cmd, event: u32, id: &str, nn: &str) -> String {
    let name = cmd.name();
    let proto = cmd.protocol();
    match event {
        1 => format!("{name} started monitoring the {proto} daemon. [ID:{id}]"),
        2 => format!("{name} will start monitoring the {proto} daemon. [ID:{id}]"),
        3 => format!("{name} will stop monitoring the {proto} daemon. [ID:{id}]"),
        6 => format!("{name} detected an error and will be terminated. [ID:{id}]"),
        7 => format!("{name} will stop monitoring. [ID:{id}]"),
        8 => format!("{name} will start monitoring. [ID:{id}]"),
        13 => format!("An identifier is not specified in the {name} command."),
        14 => format!("The specified identifier is already used. [ID:{id}]"),
        15 => format!("{name} could not perform the end processing. [ID:{id}]"),
        72 => format!("{name} has detected network error(connect error[{nn}]). [ID:{id}]"),
        73 => format!("{name} has detected network error(send error[{nn}]). [ID:{id}]"),
        74 => format!("{name} has detected network error(select error[{nn}]). [ID:{id}]"),
        75 => format!("{name} has detected network error(recv error[{nn}]). [ID:{id}]"),
        82 => format!("{name} has detected an error in {proto}(invalid response). [ID:{id}]"),
        83 => {
            format!("{name} has detected an error in {proto}(invalid status code[{nn}]). [ID:{id}]")
        }
        _ => panic!("event {event} has no expected text in the tests"),
    }
}

/// The message part of a log line: `<type: httpmon><event: N> TEXT`.
pub fn event_body(cmd: Cmd, event: u32, id: &str, nn: &str) -> String {
    format!(
        "<type: {}><event: {}> {}",
        cmd.kind(),
        event,
        event_text(cmd, event, id, nn)
    )
}

/// The `<type: …><event: N>` tag alone.
pub fn event_tag(cmd: Cmd, event: u32) -> String {
    format!("<type: {}><event: {}>", cmd.kind(), event)
}

// ---------------------------------------------------------------------------
// Log line format

/// One line as the commands write it: `Mmm dd hh:mm:ss ident[pid]: body`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub ident: String,
    pub pid: u32,
    pub body: String,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn is_syslog_timestamp(stamp: &[u8]) -> bool {
    // "Mmm dd hh:mm:ss", the day padded with a space as syslog(3) does.
    if stamp.len() != 15 {
        return false;
    }
    let month_ok = MONTHS.iter().any(|m| &stamp[0..3] == m.as_bytes());
    let day_ok = match (stamp[4], stamp[5]) {
        (b' ', b'1'..=b'9') => true,
        (b'1'..=b'3', b'0'..=b'9') => !(stamp[4] == b'3' && stamp[5] > b'1'),
        _ => false,
    };
    let digits = |i: usize| stamp[i].is_ascii_digit() && stamp[i + 1].is_ascii_digit();
    month_ok
        && stamp[3] == b' '
        && day_ok
        && stamp[6] == b' '
        && digits(7)
        && stamp[9] == b':'
        && digits(10)
        && stamp[12] == b':'
        && digits(13)
}

/// Parses a stderr line (without its newline). `None` when it does not have
/// the syslog(3) layout.
pub fn parse_log_line(line: &str) -> Option<LogLine> {
    let bytes = line.as_bytes();
    if bytes.len() < 16 || !is_syslog_timestamp(&bytes[..15]) || bytes[15] != b' ' {
        return None;
    }
    let rest = &line[16..];
    let open = rest.find('[')?;
    let close = rest[open..].find("]: ")? + open;
    let ident = &rest[..open];
    let pid_text = &rest[open + 1..close];
    if ident.is_empty() || pid_text.is_empty() || !pid_text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(LogLine {
        ident: ident.to_string(),
        pid: pid_text.parse().ok()?,
        body: rest[close + 3..].to_string(),
    })
}

/// Parses a syslog datagram `<PRI>Mmm dd hh:mm:ss ident[pid]: body` into its
/// priority and line. A trailing newline or NUL is tolerated.
pub fn parse_syslog_datagram(datagram: &[u8]) -> Option<(u32, LogLine)> {
    let text = std::str::from_utf8(datagram).ok()?;
    let text = text.trim_end_matches(&['\n', '\0'][..]);
    let rest = text.strip_prefix('<')?;
    let close = rest.find('>')?;
    let pri_text = &rest[..close];
    if pri_text.is_empty() || pri_text.len() > 3 || !pri_text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let pri = pri_text.parse().ok()?;
    Some((pri, parse_log_line(&rest[close + 1..])?))
}

// ---------------------------------------------------------------------------
// Private directories

/// A directory of its own under the system temp dir, removed on drop. The
/// commands get `<root>/state` as `ISMON_STATE_DIR`, so a file written
/// outside the state dir (an ID with `..`) shows up in `<root>`.
pub struct TestDir {
    root: PathBuf,
}

impl TestDir {
    /// Creates `<tmp>/ismon-test-<pid>-<n>-<tag>/state`.
    pub fn new(tag: &str) -> TestDir {
        let dir = TestDir::without_state(tag);
        fs::create_dir(dir.state()).expect("create the test's state dir");
        // Whatever the umask: a state directory writable by group or
        // others is refused.
        fs::set_permissions(dir.state(), fs::Permissions::from_mode(0o755))
            .expect("chmod the test's state dir");
        dir
    }

    /// Like `new`, but leaves `state` for the command to create.
    pub fn without_state(tag: &str) -> TestDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let root = env::temp_dir().join(format!(
            "ismon-test-{}-{}-{}-{}",
            std::process::id(),
            n,
            nanos,
            tag
        ));
        fs::create_dir(&root).expect("create the test's private temp dir");
        TestDir { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn state(&self) -> PathBuf {
        self.root.join("state")
    }

    /// Names in `dir`, sorted; empty when it does not exist.
    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = match fs::read_dir(dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        };
        names.sort();
        names
    }

    pub fn state_entries(&self) -> Vec<String> {
        TestDir::names_in(&self.state())
    }

    pub fn root_entries(&self) -> Vec<String> {
        TestDir::names_in(&self.root)
    }

    /// A command with `ISMON_STATE_DIR` pointing at this test's state dir.
    pub fn command(&self, cmd: Cmd) -> Command {
        let mut command = Command::new(cmd.exe());
        command.env("ISMON_STATE_DIR", self.state());
        command
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// PIDs of the processes whose environment carries this state dir: anything
/// a command of this test left running, forked daemons included.
pub fn pids_using_state_dir(dir: &TestDir) -> Vec<u32> {
    let mut wanted = b"ISMON_STATE_DIR=".to_vec();
    wanted.extend_from_slice(dir.state().as_os_str().as_bytes());
    let mut pids = Vec::new();
    let entries = match fs::read_dir("/proc") {
        Ok(entries) => entries,
        Err(_) => return pids,
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let pid: u32 = match entry.file_name().to_str().and_then(|s| s.parse().ok()) {
            Some(pid) => pid,
            None => continue,
        };
        if let Ok(environ) = fs::read(entry.path().join("environ")) {
            if environ
                .split(|&b| b == 0)
                .any(|var| var == wanted.as_slice())
            {
                pids.push(pid);
            }
        }
    }
    pids
}

// ---------------------------------------------------------------------------
// Waiting

/// Polls `cond` every `POLL` until it holds (true) or `limit` passes (false).
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(POLL);
    }
}

/// Polls `cond` every `POLL` for `span`; true when it held every time.
pub fn holds_for(span: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + span;
    while Instant::now() < deadline {
        if !cond() {
            return false;
        }
        thread::sleep(POLL);
    }
    cond()
}

// ---------------------------------------------------------------------------
// Running a command to completion

/// What a finished command did.
#[derive(Debug)]
pub struct Outcome {
    pub pid: u32,
    /// `None` when killed by a signal or, with `timed_out`, by the test.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub stderr_raw: Vec<u8>,
    pub elapsed: Duration,
    /// The command had not ended by the limit and the test killed it.
    pub timed_out: bool,
}

impl Outcome {
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr.lines().collect()
    }

    /// Stderr lines that carry `<event: N>` of this command.
    pub fn event_lines(&self, cmd: Cmd, event: u32) -> Vec<&str> {
        let tag = event_tag(cmd, event);
        self.stderr.lines().filter(|l| l.contains(&tag)).collect()
    }
}

fn drain<R: Read + Send + 'static>(mut source: R) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = source.read_to_end(&mut bytes);
        bytes
    })
}

/// Runs `command` with stdout and stderr captured, killing it when it has
/// not ended within `limit`.
pub fn run_command(mut command: Command, limit: Duration) -> Outcome {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = command.spawn().expect("spawn the command under test");
    let pid = child.id();
    let stdout = drain(child.stdout.take().expect("stdout is piped"));
    let stderr = drain(child.stderr.take().expect("stderr is piped"));
    let mut status = None;
    let ended = wait_until(limit, || {
        status = child.try_wait().expect("try_wait on our own child");
        status.is_some()
    });
    let elapsed = started.elapsed();
    if !ended {
        let _ = child.kill();
        status = child.wait().ok();
    }
    let stdout = stdout.join().unwrap_or_default();
    let stderr_raw = stderr.join().unwrap_or_default();
    Outcome {
        pid,
        code: if ended {
            status.and_then(|s| s.code())
        } else {
            None
        },
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr_raw).into_owned(),
        stderr_raw,
        elapsed,
        timed_out: !ended,
    }
}

/// Runs `cmd args` with this test's state dir; panics when it does not end
/// within `VERB_LIMIT`.
pub fn run(cmd: Cmd, dir: &TestDir, args: &[&str]) -> Outcome {
    let mut command = dir.command(cmd);
    command.args(args);
    let outcome = run_command(command, VERB_LIMIT);
    assert!(
        !outcome.timed_out,
        "`{} {}` did not end within {:?}; stderr:\n{}",
        cmd.name(),
        args.join(" "),
        VERB_LIMIT,
        outcome.stderr
    );
    outcome
}

/// Runs a verb and asserts its exit code, returning the outcome.
pub fn run_expect(cmd: Cmd, dir: &TestDir, args: &[&str], code: i32) -> Outcome {
    let outcome = run(cmd, dir, args);
    assert_eq!(
        outcome.code,
        Some(code),
        "`{} {}` exit code; stdout:\n{}\nstderr:\n{}",
        cmd.name(),
        args.join(" "),
        outcome.stdout,
        outcome.stderr
    );
    outcome
}

// ---------------------------------------------------------------------------
// --disp

/// The `key: value` lines `--disp` printed, in order, and its exit code.
#[derive(Debug, Clone)]
pub struct Disp {
    pub code: Option<i32>,
    pub fields: Vec<(String, String)>,
    pub stdout: String,
    pub stderr: String,
}

impl Disp {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn num(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(|v| v.parse().ok())
    }

    pub fn is_live(&self) -> bool {
        self.code == Some(0) && self.get("status") == Some("live")
    }
}

pub fn disp(cmd: Cmd, dir: &TestDir, id: &str) -> Disp {
    let outcome = run(cmd, dir, &[id, "--disp"]);
    let fields = outcome
        .stdout
        .lines()
        .filter_map(|line| {
            line.split_once(": ")
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    Disp {
        code: outcome.code,
        fields,
        stdout: outcome.stdout,
        stderr: outcome.stderr,
    }
}

/// Polls `--disp` until `pred` holds; panics with the last output otherwise.
pub fn wait_disp(
    cmd: Cmd,
    dir: &TestDir,
    id: &str,
    what: &str,
    limit: Duration,
    mut pred: impl FnMut(&Disp) -> bool,
) -> Disp {
    let mut last = None;
    let ok = wait_until(limit, || {
        let shown = disp(cmd, dir, id);
        let ok = pred(&shown);
        last = Some(shown);
        ok
    });
    let last = last.expect("wait_until calls its condition at least once");
    assert!(
        ok,
        "`{} {id} --disp` never showed {what} within {limit:?}; last output (exit {:?}):\n{}{}",
        cmd.name(),
        last.code,
        last.stdout,
        last.stderr
    );
    last
}

// ---------------------------------------------------------------------------
// A monitor running in the background

/// One line of a monitor's stderr and when the test read it.
#[derive(Debug, Clone)]
pub struct StderrLine {
    pub at: Instant,
    pub bytes: Vec<u8>,
}

impl StderrLine {
    pub fn text(&self) -> String {
        let bytes = self.bytes.strip_suffix(b"\n").unwrap_or(&self.bytes);
        String::from_utf8_lossy(bytes).into_owned()
    }
}

/// A monitor started by the test. Dropping it kills this PID (and only it)
/// if it is still running.
pub struct Monitor {
    child: Child,
    pub cmd: Cmd,
    pub spawned_at: Instant,
    status: Option<ExitStatus>,
    exited_at: Option<Instant>,
    stderr: Arc<Mutex<Vec<StderrLine>>>,
    /// Set by the reader once the pipe's last writer is gone.
    stderr_done: Arc<AtomicBool>,
}

impl Monitor {
    /// Starts `cmd args` with this test's state dir.
    pub fn start(cmd: Cmd, dir: &TestDir, args: &[&str]) -> Monitor {
        let mut command = dir.command(cmd);
        command.args(args);
        Monitor::spawn(cmd, command)
    }

    /// Starts a prepared command (e.g. wrapped in `unshare`), which must
    /// end up as `cmd` in the same process.
    pub fn spawn(cmd: Cmd, mut command: Command) -> Monitor {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let spawned_at = Instant::now();
        let mut child = command.spawn().expect("spawn the monitor under test");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&stderr);
        let stderr_done = Arc::new(AtomicBool::new(false));
        let done = Arc::clone(&stderr_done);
        let pipe = child.stderr.take().expect("stderr is piped");
        // Detached: it ends when the pipe's last writer is gone, and says so.
        thread::spawn(move || {
            let mut reader = BufReader::new(pipe);
            loop {
                let mut bytes = Vec::new();
                match reader.read_until(b'\n', &mut bytes) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => sink.lock().unwrap().push(StderrLine {
                        at: Instant::now(),
                        bytes,
                    }),
                }
            }
            done.store(true, Ordering::SeqCst);
        });
        Monitor {
            child,
            cmd,
            spawned_at,
            status: None,
            exited_at: None,
            stderr,
            stderr_done,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status, once it has ended.
    pub fn poll_exit(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            if let Some(status) = self.child.try_wait().expect("try_wait on our own child") {
                self.status = Some(status);
                self.exited_at = Some(Instant::now());
                // The process is gone, but its last lines may still sit in
                // the pipe: let the reader drain them before anyone looks.
                let done = Arc::clone(&self.stderr_done);
                wait_until(QUICK, || done.load(Ordering::SeqCst));
            }
        }
        self.status
    }

    pub fn is_running(&mut self) -> bool {
        self.poll_exit().is_none()
    }

    /// Waits for the monitor to end; `None` if it still runs after `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        wait_until(limit, || self.poll_exit().is_some());
        self.status
    }

    /// Waits for the monitor to end and asserts its exit code; returns the
    /// time from spawn to the moment the test saw it end.
    pub fn expect_exit(&mut self, code: i32, limit: Duration) -> Duration {
        let status = self.wait_exit(limit);
        assert!(
            status.is_some(),
            "{} pid {} still running after {:?}; stderr:\n{}",
            self.cmd.name(),
            self.pid(),
            limit,
            self.stderr_text()
        );
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(code),
            "{} exit status {:?}; stderr:\n{}",
            self.cmd.name(),
            status,
            self.stderr_text()
        );
        self.exited_at.expect("set with status") - self.spawned_at
    }

    /// Asserts that the monitor is still running.
    pub fn assert_running(&mut self, why: &str) {
        let status = self.poll_exit();
        assert!(
            status.is_none(),
            "{} ended ({status:?}) but should be running: {why}; stderr:\n{}",
            self.cmd.name(),
            self.stderr_text()
        );
    }

    pub fn stderr_lines(&self) -> Vec<StderrLine> {
        self.stderr.lock().unwrap().clone()
    }

    pub fn stderr_raw(&self) -> Vec<u8> {
        self.stderr_lines()
            .into_iter()
            .flat_map(|l| l.bytes)
            .collect()
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr_raw()).into_owned()
    }

    /// Stderr lines whose message is exactly `body`.
    pub fn lines_with_body(&self, body: &str) -> Vec<StderrLine> {
        self.stderr_lines()
            .into_iter()
            .filter(|l| parse_log_line(&l.text()).map_or(false, |p| p.body == body))
            .collect()
    }

    /// Stderr lines carrying `<type: …><event: N>`.
    pub fn event_lines(&self, event: u32) -> Vec<StderrLine> {
        let tag = event_tag(self.cmd, event);
        self.stderr_lines()
            .into_iter()
            .filter(|l| l.text().contains(&tag))
            .collect()
    }

    /// Waits for a stderr line whose message is exactly `body`; returns when
    /// it was read, relative to the spawn.
    pub fn wait_body(&self, body: &str, limit: Duration) -> Duration {
        let mut found = None;
        wait_until(limit, || {
            found = self.lines_with_body(body).into_iter().next();
            found.is_some()
        });
        match found {
            Some(line) => line.at - self.spawned_at,
            None => panic!(
                "{} never wrote `{body}` within {limit:?}; stderr:\n{}",
                self.cmd.name(),
                self.stderr_text()
            ),
        }
    }

    /// Waits for a stderr line of event `event`; returns it and when it was
    /// read, relative to the spawn.
    pub fn wait_event(&self, event: u32, limit: Duration) -> (String, Duration) {
        let mut found = None;
        wait_until(limit, || {
            found = self.event_lines(event).into_iter().next();
            found.is_some()
        });
        match found {
            Some(line) => (line.text(), line.at - self.spawned_at),
            None => panic!(
                "{} never logged event {event} within {limit:?}; stderr:\n{}",
                self.cmd.name(),
                self.stderr_text()
            ),
        }
    }

    /// Asserts that a line with exactly this message was written, by this
    /// process.
    pub fn assert_logged(&self, body: &str) {
        let lines = self.lines_with_body(body);
        assert!(
            !lines.is_empty(),
            "{} stderr lacks `{body}`; stderr:\n{}",
            self.cmd.name(),
            self.stderr_text()
        );
        for line in lines {
            let parsed = parse_log_line(&line.text()).expect("matched above");
            assert_eq!(parsed.ident, self.cmd.name(), "ident of {:?}", line.text());
            assert_eq!(parsed.pid, self.pid(), "pid of {:?}", line.text());
        }
    }

    /// Sends a signal by name (`TERM`, `INT`, `STOP`, `CONT`) to this PID.
    pub fn signal(&self, name: &str) {
        let status = Command::new("sh")
            .args(["-c", "kill -s \"$1\" \"$2\"", "sh", name])
            .arg(self.pid().to_string())
            .status()
            .expect("run sh -c kill");
        assert!(status.success(), "kill -s {name} {} failed", self.pid());
    }

    /// `kill -9` and reap it.
    pub fn kill9(&mut self) {
        if self.poll_exit().is_none() {
            self.child.kill().expect("SIGKILL our own child");
            let status = self.child.wait().expect("reap our own child");
            self.status = Some(status);
            self.exited_at = Some(Instant::now());
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        if self.poll_exit().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------
// Fake servers

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

/// How the fake HTTP server answers one request.
#[derive(Debug, Clone)]
pub enum HttpReply {
    /// Send these bytes and close.
    Send(Vec<u8>),
    /// Send these bytes, then keep the connection open without closing.
    SendAndHold(Vec<u8>),
    /// Accept, read the request, answer nothing.
    Silent,
    /// Send these bytes one at a time, `gap` apart.
    Trickle(Vec<u8>, Duration),
    /// Wait this long (reading what arrives), then send and close.
    Delayed(Duration, Vec<u8>),
    /// Read the request and close without an answer.
    Close,
}

/// `HTTP/1.1 <code> …` with an empty body.
pub fn http_status(code: u16) -> HttpReply {
    HttpReply::Send(
        format!("HTTP/1.1 {code} Test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .into_bytes(),
    )
}

/// How long a fake server holds a connection the monitor does not close.
pub const HOLD_LIMIT: Duration = Duration::from_secs(30);

/// A fake HTTP server: reads each request's head, then answers with
/// `reply(connection index)`.
pub fn http_server(
    bind: &str,
    reply: impl Fn(usize) -> HttpReply + Send + Sync + 'static,
) -> io::Result<FakeServer> {
    FakeServer::start(bind, move |conn| {
        if conn.read_until(b"\r\n\r\n", QUICK).is_none() {
            return;
        }
        match reply(conn.index) {
            HttpReply::Send(bytes) => {
                conn.send(&bytes);
            }
            HttpReply::SendAndHold(bytes) => {
                if conn.send(&bytes) {
                    conn.hold(HOLD_LIMIT);
                }
            }
            HttpReply::Silent => conn.hold(HOLD_LIMIT),
            HttpReply::Trickle(bytes, gap) => {
                for byte in bytes {
                    if !conn.send(&[byte]) || !conn.linger(gap) {
                        return;
                    }
                }
                conn.hold(HOLD_LIMIT);
            }
            HttpReply::Delayed(delay, bytes) => {
                if conn.linger(delay) {
                    conn.send(&bytes);
                }
            }
            HttpReply::Close => {}
        }
    })
}

/// A fake HTTP server on 127.0.0.1 answering every request with `code`.
pub fn http_status_server(code: u16) -> FakeServer {
    http_server("127.0.0.1:0", move |_| http_status(code)).expect("bind 127.0.0.1:0")
}

/// What the fake SMTP server says on one connection. An empty greeting
/// means: accept and say nothing.
#[derive(Debug, Clone)]
pub struct SmtpReplies {
    pub greeting: Vec<u8>,
    pub noop: Vec<u8>,
}

impl SmtpReplies {
    pub fn new(greeting: &str, noop: &str) -> SmtpReplies {
        SmtpReplies {
            greeting: greeting.as_bytes().to_vec(),
            noop: noop.as_bytes().to_vec(),
        }
    }

    pub fn healthy() -> SmtpReplies {
        SmtpReplies::new("220 mail.test ESMTP ready\r\n", "250 2.0.0 OK\r\n")
    }
}

/// A fake SMTP server: greets, answers NOOP with the script's reply, QUIT
/// with 221 (then closes), anything else with 500.
pub fn smtp_server(
    bind: &str,
    script: impl Fn(usize) -> SmtpReplies + Send + Sync + 'static,
) -> io::Result<FakeServer> {
    FakeServer::start(bind, move |conn| {
        let replies = script(conn.index);
        if replies.greeting.is_empty() {
            conn.hold(HOLD_LIMIT);
            return;
        }
        if !conn.send(&replies.greeting) {
            return;
        }
        // A probe sends two commands; a few more are answered so that a
        // wrong client is recorded rather than cut off.
        for _ in 0..8 {
            let line = match conn.read_line(QUICK) {
                Some(line) => line,
                None => return,
            };
            let command = String::from_utf8_lossy(&line).trim().to_ascii_uppercase();
            let answer: &[u8] = match command.as_str() {
                "NOOP" => &replies.noop,
                "QUIT" => b"221 2.0.0 Bye\r\n",
                _ => b"500 5.5.2 Unrecognized command\r\n",
            };
            if !conn.send(answer) || command == "QUIT" {
                return;
            }
        }
    })
}

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

// ---------------------------------------------------------------------------
// A private /dev/log

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

/// Reports a test that cannot run here: loudly, and as a failure under CI.
pub fn skip(test: &str, reason: &str) {
    let in_ci = env::var("CI").map(|v| v == "true").unwrap_or(false);
    assert!(!in_ci, "{test}: cannot run under CI=true: {reason}");
    loud(&format!("SKIPPED {test}: {reason}"));
}

/// Writes a line straight to the test process's standard error: unlike
/// `eprintln!`, which the test harness captures and shows only for a failed
/// test, this is seen in every run — a skipped test must say so loudly.
pub fn loud(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// A command that runs `cmd args` in a mount namespace of its own, where
/// `/dev` is an empty tmpfs and `/dev/log` a symlink to `socket`. unshare
/// and sh exec into the monitor, so the child's PID is the monitor's.
pub fn command_with_private_dev_log(
    cmd: Cmd,
    dir: &TestDir,
    socket: &Path,
    args: &[&str],
) -> Command {
    let mut command = Command::new("unshare");
    command
        .args([
            "-m",
            "sh",
            "-c",
            "mount -t tmpfs tmpfs /dev && ln -s \"$1\" /dev/log && shift && exec \"$@\"",
            "sh",
        ])
        .arg(socket)
        .arg(cmd.exe())
        .args(args)
        .env("ISMON_STATE_DIR", dir.state());
    command
}

/// `OsString`s from byte strings, for arguments that are not UTF-8.
pub fn os(bytes: &[u8]) -> OsString {
    OsStr::from_bytes(bytes).to_os_string()
}

// ---------------------------------------------------------------------------
// Starting a monitor against a fake server

/// `-i`, `-c`, `-r` of a monitor.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub interval: u64,
    pub retries: u64,
    pub timeout: u64,
}

/// `-i 1 -c 1 -r 1`.
pub const FAST: Timing = Timing {
    interval: 1,
    retries: 1,
    timeout: 1,
};

impl Timing {
    pub fn new(interval: u64, retries: u64, timeout: u64) -> Timing {
        Timing {
            interval,
            retries,
            timeout,
        }
    }

    /// The SPEC's detection bound for these settings, plus `MARGIN`.
    pub fn bound(self) -> Duration {
        detection_bound(self.interval, self.retries, self.timeout)
    }
}

/// Starts `cmd ID -s server -n port -i … -c … -r … extra…`.
pub fn start_monitor(
    cmd: Cmd,
    dir: &TestDir,
    id: &str,
    server: &str,
    port: u16,
    timing: Timing,
    extra: &[&str],
) -> Monitor {
    let port = port.to_string();
    let interval = timing.interval.to_string();
    let retries = timing.retries.to_string();
    let timeout = timing.timeout.to_string();
    let mut args = vec![
        id, "-s", server, "-n", &port, "-i", &interval, "-c", &retries, "-r", &timeout,
    ];
    args.extend_from_slice(extra);
    Monitor::start(cmd, dir, &args)
}

/// Waits until `--disp` shows this monitor live with at least `probes`
/// probes done.
pub fn wait_probes(
    monitor: &Monitor,
    dir: &TestDir,
    id: &str,
    probes: u64,
    limit: Duration,
) -> Disp {
    let pid = u64::from(monitor.pid());
    wait_disp(
        monitor.cmd,
        dir,
        id,
        &format!("pid {pid} live with {probes} probe(s) done"),
        limit,
        |d| d.is_live() && d.num("pid") == Some(pid) && d.num("probes").unwrap_or(0) >= probes,
    )
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

/// After starts of one ID raced each other: waits (up to `limit`) until at
/// most one is still running, and returns whether that happened and the
/// PIDs still running.
pub fn survivors_of_a_race(monitors: &mut [Monitor], limit: Duration) -> (bool, Vec<u32>) {
    let settled = wait_until(limit, || {
        monitors
            .iter_mut()
            .map(|m| m.is_running())
            .filter(|&running| running)
            .count()
            <= 1
    });
    let running = monitors
        .iter_mut()
        .filter_map(|m| if m.is_running() { Some(m.pid()) } else { None })
        .collect();
    (settled, running)
}
