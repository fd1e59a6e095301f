//! A monitor running in the background as a child of the test, its stderr
//! read as it comes.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::{event_tag, parse_log_line, wait_disp, wait_until, Cmd, Disp, TestDir, Timing, QUICK};

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
