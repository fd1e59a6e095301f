//! A command run to completion under a deadline (a verb, a refused command
//! line), and what `--disp` shows.

use std::io::Read;
use std::process::{Command, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::{event_tag, wait_until, Cmd, TestDir, VERB_LIMIT};

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
