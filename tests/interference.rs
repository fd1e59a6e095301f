//! Nothing but a stop or a pause may delay detection. Every storm here —
//! verbs and signals an operator's scripts send, as often as they like —
//! runs against a server that has failed, and the monitor must still exit 1
//! within the SPEC's bound, plus only the time it spent paused or stopped
//! (SIGSTOP), and never before the server failed. The record's counts must
//! agree with the events logged.
//!
//! The randomized schedules (`random_interference_never_delays_detection`)
//! mix all of it against servers that die at a random moment; a failing
//! schedule prints the seed that reproduces it (`ISMON_SEED=N`).
//! `make stress STRESS_RUNS=N` runs N schedules instead of the default.

mod common;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

const LO: &str = "127.0.0.1";

/// A silent server: accepts, reads, never answers.
fn silent(cmd: Cmd) -> FakeServer {
    match cmd {
        Cmd::Http => http_server("127.0.0.1:0", |_| HttpReply::Silent),
        Cmd::Smtp => smtp_server("127.0.0.1:0", |_| SmtpReplies::new("", "")),
    }
    .expect("bind 127.0.0.1:0")
}

/// `-i 1 -c 1 -r 3` against a silent server: two probes of 3 s each.
const STORMED: Timing = Timing {
    interval: 1,
    retries: 1,
    timeout: 3,
};

/// What a storm did to the monitor that adds to the bound: time paused or
/// stopped.
#[derive(Default)]
struct Held {
    paused_or_stopped: Duration,
}

/// Starts a monitor against a silent server, runs `storm` every `period`
/// until it exits, and checks the bound (plus what the storm held it), the
/// exit status, and that the record's counts agree with the events.
fn weather(
    cmd: Cmd,
    tag: &str,
    period: Duration,
    mut storm: impl FnMut(&Monitor, &TestDir, &str, &mut Held),
) {
    let dir = TestDir::new(tag);
    let server = silent(cmd);
    let mut monitor = start_monitor(cmd, &dir, tag, LO, server.port(), STORMED, &[]);
    // Signals are the monitor's to take from the moment its record names it
    // (before that, a SIGHUP meets the default action of a process that has
    // only just been started).
    wait_disp(cmd, &dir, tag, "live", QUICK, |d| d.is_live());
    let mut held = Held::default();
    let mut storms = 0u32;
    // Past this the monitor has been delayed for good: stop storming and
    // let expect_exit report it.
    let give_up = Instant::now() + STORMED.bound() * 4;
    while monitor.is_running() && Instant::now() < give_up {
        storm(&monitor, &dir, tag, &mut held);
        storms += 1;
        thread::sleep(period);
    }
    let limit = STORMED.bound() + held.paused_or_stopped;
    let took = monitor.expect_exit(1, limit.saturating_sub(monitor.spawned_at.elapsed()) + POLL);
    assert!(
        took <= limit,
        "{tag}: exit after {took:?}, bound {limit:?} ({storms} storms, held {:?}); stderr:\n{}",
        held.paused_or_stopped,
        monitor.stderr_text()
    );
    // Two probes of TIMEOUT each: no exit before both have run out.
    let earliest = secs((STORMED.retries + 1) * STORMED.timeout) - Duration::from_millis(100);
    assert!(
        took >= earliest,
        "{tag}: exit after {took:?}, before the bound allows ({earliest:?}); stderr:\n{}",
        monitor.stderr_text()
    );
    assert!(storms >= 10, "{tag}: only {storms} storms ran");
    counts_agree(&monitor, &dir, tag);
}

/// The events counted in the record (`failures`) are the failure events
/// logged; the record ends `failed`.
fn counts_agree(monitor: &Monitor, dir: &TestDir, id: &str) {
    let shown = disp(monitor.cmd, dir, id);
    let logged: usize = [71, 72, 73, 74, 75, 81, 82, 83]
        .iter()
        .map(|&e| monitor.event_lines(e).len())
        .sum();
    assert_eq!(
        shown.num("failures"),
        Some(logged as u64),
        "{id}: the record's failures against the events logged:\n{}\nstderr:\n{}",
        shown.stdout,
        monitor.stderr_text()
    );
    assert!(
        shown.num("probes").unwrap_or(0) >= logged as u64,
        "{id}: fewer probes than failures:\n{}",
        shown.stdout
    );
    assert_eq!(
        shown.get("state"),
        Some("failed"),
        "{id}:\n{}",
        shown.stdout
    );
}

/// Runs `test` for both commands at once, each on a thread of its own.
fn for_both(test: fn(Cmd)) {
    let handles: Vec<_> = BOTH
        .iter()
        .map(|&cmd| thread::spawn(move || test(cmd)))
        .collect();
    let mut panicked = false;
    for h in handles {
        panicked |= h.join().is_err();
    }
    assert!(!panicked, "see the panic above");
}

/// Runs a verb and asserts that it answered within 2 s with `code`.
fn verb(cmd: Cmd, dir: &TestDir, id: &str, args: &[&str], code: i32) {
    let mut all = vec![id];
    all.extend_from_slice(args);
    let started = Instant::now();
    let out = run(cmd, dir, &all);
    let took = started.elapsed();
    // The monitor may have exited between two storms: "not running" (3)
    // is then the verb's right answer.
    let not_running = out.code == Some(3) && out.stderr.contains("is not running");
    assert!(
        out.code == Some(code) || not_running,
        "{args:?} exit {:?}, wanted {code}; stderr:\n{}",
        out.code,
        out.stderr
    );
    assert!(took < secs(2) + MARGIN, "{args:?} took {took:?}");
}

#[test]
fn resume_storm_on_a_running_monitor_never_delays_detection() {
    for_both(|cmd| {
        weather(
            cmd,
            "resumestorm",
            Duration::from_millis(300),
            |m, dir, id, _| {
                verb(m.cmd, dir, id, &["--resume"], 0);
            },
        )
    });
}

#[test]
fn resume_to_a_running_monitor_says_it_is_not_paused() {
    let dir = TestDir::new("resumenoop");
    let server = silent(Cmd::Http);
    let monitor = start_monitor(Cmd::Http, &dir, "r1", LO, server.port(), STORMED, &[]);
    wait_disp(Cmd::Http, &dir, "r1", "live", QUICK, |d| d.is_live());
    let out = run_expect(Cmd::Http, &dir, &["r1", "--resume"], 0);
    assert!(
        out.stderr.contains("r1 is not paused; nothing to resume"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.lines().count(), 1, "one line:\n{}", out.stderr);
    drop(monitor);
}

#[test]
fn usr2_storm_never_delays_detection() {
    for_both(|cmd| {
        weather(
            cmd,
            "usr2storm",
            Duration::from_millis(100),
            |m, _, _, _| {
                m.signal("USR2");
            },
        )
    });
}

#[test]
fn stray_signals_never_delay_detection() {
    for_both(|cmd| {
        let names = ["HUP", "CONT", "WINCH", "USR2"];
        let mut k = 0;
        weather(
            cmd,
            "straystorm",
            Duration::from_millis(50),
            |m, _, _, _| {
                m.signal(names[k % names.len()]);
                k += 1;
            },
        )
    });
}

#[test]
fn disp_storm_never_delays_detection() {
    for_both(|cmd| {
        weather(
            cmd,
            "dispstorm",
            Duration::from_millis(50),
            |m, dir, id, _| {
                // The monitor is live until its last moment; once it has
                // failed, --disp shows the stale record and exits 3.
                let out = run(m.cmd, dir, &[id, "--disp"]);
                assert!(matches!(out.code, Some(0) | Some(3)), "{}", out.stderr);
            },
        )
    });
}

#[test]
fn pause_storm_on_a_paused_monitor_changes_nothing() {
    for_both(|cmd| {
        let dir = TestDir::new("pausestorm");
        let server = silent(cmd);
        let mut monitor = start_monitor(cmd, &dir, "p1", LO, server.port(), STORMED, &[]);
        wait_disp(cmd, &dir, "p1", "live", QUICK, |d| d.is_live());
        let paused_at = Instant::now();
        run_expect(cmd, &dir, &["p1", "--pause"], 0);
        for _ in 0..15 {
            let out = run_expect(cmd, &dir, &["p1", "--pause"], 0);
            assert!(out.stderr.contains("already paused"), "{}", out.stderr);
            monitor.signal("USR1");
            thread::sleep(Duration::from_millis(100));
        }
        monitor.assert_running("paused");
        assert_eq!(disp(cmd, &dir, "p1").get("state"), Some("paused"));
        run_expect(cmd, &dir, &["p1", "--resume"], 0);
        let resumed = Instant::now();
        // A resume starts from a clean count: the whole bound from here.
        let status = monitor.wait_exit(STORMED.bound());
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(1),
            "{}",
            monitor.stderr_text()
        );
        let after = resumed.elapsed();
        assert!(
            after <= STORMED.bound(),
            "exit {after:?} after the resume (paused {:?})",
            resumed - paused_at
        );
        assert_eq!(monitor.event_lines(7).len(), 1, "{}", monitor.stderr_text());
        assert_eq!(monitor.event_lines(8).len(), 1, "{}", monitor.stderr_text());
        counts_agree(&monitor, &dir, "p1");
    });
}

#[test]
fn sigstop_mid_probe_adds_only_the_stopped_time() {
    for_both(|cmd| {
        weather(
            cmd,
            "stopstorm",
            Duration::from_millis(200),
            |m, _, _, held| {
                let stopped = Instant::now();
                m.signal("STOP");
                thread::sleep(Duration::from_millis(300));
                m.signal("CONT");
                held.paused_or_stopped += stopped.elapsed();
            },
        )
    });
}

// ---------------------------------------------------------------------------
// Seeded random schedules

/// How a server that dies fails from then on.
const ALIVE: u8 = 0;
const SILENT: u8 = 1;
const CLOSES: u8 = 2;
const GARBAGE: u8 = 3;

/// A server that is healthy until `death` is set, then fails as it says.
fn mortal(cmd: Cmd, death: Arc<AtomicU8>) -> FakeServer {
    match cmd {
        Cmd::Http => http_server("127.0.0.1:0", move |_| match death.load(Ordering::SeqCst) {
            ALIVE => http_status(200),
            SILENT => HttpReply::Silent,
            CLOSES => HttpReply::Close,
            _ => HttpReply::Send(b"garbage\r\n\r\n".to_vec()),
        }),
        Cmd::Smtp => smtp_server("127.0.0.1:0", move |_| match death.load(Ordering::SeqCst) {
            ALIVE => SmtpReplies::healthy(),
            SILENT => SmtpReplies::new("", ""),
            CLOSES => SmtpReplies::new("220 ok\r\n", ""),
            _ => SmtpReplies::new("garbage\r\n", ""),
        }),
    }
    .expect("bind 127.0.0.1:0")
}

/// One schedule: what it did, or why the property failed.
fn schedule(seed: u64) -> Result<String, String> {
    let mut rng = Rng::new(seed);
    let cmd = if rng.below(2) == 0 {
        Cmd::Http
    } else {
        Cmd::Smtp
    };
    let timing = Timing::new(1, 1 + rng.below(2), 1 + rng.below(2));
    let mode = [SILENT, CLOSES, GARBAGE][rng.below(3) as usize];
    let death_after = rng.millis(1000, 4000);
    let id = format!("seed{seed}");
    let dir = TestDir::new(&id);
    let death = Arc::new(AtomicU8::new(ALIVE));
    let server = mortal(cmd, Arc::clone(&death));
    let mut monitor = start_monitor(cmd, &dir, &id, LO, server.port(), timing, &[]);
    wait_disp(cmd, &dir, &id, "live", QUICK, |d| d.is_live());
    let start = Instant::now();
    let mut died_at: Option<Instant> = None;
    // The bound starts again at the end of a resume (a clean count), and
    // grows by the time the monitor was stopped after that point.
    let mut reference: Option<Instant> = None;
    let mut held_after_reference = Duration::ZERO;
    let mut log = Vec::new();
    let verb = |args: &[&str]| -> Option<i32> {
        let mut all = vec![id.as_str()];
        all.extend_from_slice(args);
        run(cmd, &dir, &all).code
    };
    let hard_limit = start + death_after + timing.bound() * 6;
    let stray = ["HUP", "CONT", "WINCH", "USR2"];
    while monitor.is_running() && Instant::now() < hard_limit {
        if died_at.is_none() && start.elapsed() >= death_after {
            death.store(mode, Ordering::SeqCst);
            let now = Instant::now();
            died_at = Some(now);
            reference = Some(reference.map_or(now, |r: Instant| r.max(now)));
            held_after_reference = Duration::ZERO;
            log.push(format!("{:?} server dies ({mode})", start.elapsed()));
        }
        let pick = rng.below(100);
        let t = start.elapsed();
        if pick < 25 {
            log.push(format!("{t:?} --disp"));
            verb(&["--disp"]);
        } else if pick < 45 {
            log.push(format!("{t:?} --resume"));
            verb(&["--resume"]);
        } else if pick < 65 {
            let name = stray[rng.below(stray.len() as u64) as usize];
            log.push(format!("{t:?} kill -{name}"));
            monitor.signal(name);
        } else if pick < 75 {
            let hold = rng.millis(200, 900);
            log.push(format!("{t:?} --pause, {hold:?}, --resume"));
            verb(&["--pause"]);
            if rng.below(2) == 0 {
                verb(&["--pause"]);
                monitor.signal("USR1");
            }
            thread::sleep(hold);
            verb(&["--resume"]);
            if died_at.is_some() {
                reference = Some(Instant::now());
                held_after_reference = Duration::ZERO;
            }
        } else if pick < 85 {
            let hold = rng.millis(100, 600);
            log.push(format!("{t:?} SIGSTOP {hold:?} SIGCONT"));
            let stopped = Instant::now();
            monitor.signal("STOP");
            thread::sleep(hold);
            monitor.signal("CONT");
            if died_at.is_some() {
                held_after_reference += stopped.elapsed();
            }
        }
        thread::sleep(rng.millis(50, 300));
    }
    let ended = monitor.wait_exit(timing.bound());
    let exited_at = Instant::now();
    let report = |why: String| {
        Err(format!(
            "seed {seed} ({cmd:?}, -i {} -c {} -r {}, dies after {death_after:?}): {why}\n  {}\nstderr:\n{}",
            timing.interval,
            timing.retries,
            timing.timeout,
            log.join("\n  "),
            monitor.stderr_text()
        ))
    };
    let died_at = match died_at {
        Some(d) => d,
        None => return report("exited before the server died".into()),
    };
    if ended.and_then(|s| s.code()) != Some(1) {
        return report(format!("ended {ended:?}, not exit 1"));
    }
    // Seen a little after the fact (the test's own polling and verbs).
    let limit = timing.bound() + held_after_reference + secs(1);
    let reference = reference.unwrap_or(died_at);
    let took = exited_at.saturating_duration_since(reference);
    if took > limit {
        return report(format!(
            "exit {took:?} after the bound's start, limit {limit:?}"
        ));
    }
    let shown = disp(cmd, &dir, &id);
    let logged: usize = [71, 72, 73, 74, 75, 81, 82, 83]
        .iter()
        .map(|&e| monitor.event_lines(e).len())
        .sum();
    if shown.num("failures") != Some(logged as u64) {
        return report(format!(
            "record says {:?} failures, {logged} logged",
            shown.num("failures")
        ));
    }
    if (logged as u64) < timing.retries + 1 {
        return report(format!("exit after only {logged} failed probes"));
    }
    Ok(format!(
        "seed {seed}: exit {took:?} after the bound's start"
    ))
}

fn seeds() -> Vec<u64> {
    if let Some(seed) = std::env::var("ISMON_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return vec![seed];
    }
    let runs: u64 = std::env::var("STRESS_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let base: u64 = std::env::var("STRESS_BASE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    (base..base + runs).collect()
}

#[test]
fn random_interference_never_delays_detection() {
    let seeds = seeds();
    // Concurrently, a batch at a time, so that 50 schedules take about a
    // minute on two cores.
    const BATCH: usize = 25;
    let mut failures = Vec::new();
    for batch in seeds.chunks(BATCH) {
        let handles: Vec<_> = batch
            .iter()
            .map(|&seed| thread::spawn(move || schedule(seed)))
            .collect();
        for h in handles {
            match h.join() {
                Ok(Ok(_)) => {}
                Ok(Err(why)) => failures.push(why),
                Err(_) => failures.push("a schedule panicked".into()),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} schedules failed (rerun one with ISMON_SEED=N):\n\n{}",
        failures.len(),
        seeds.len(),
        failures.join("\n\n")
    );
}

// ---------------------------------------------------------------------------
// Verbs answer in time, whatever the record

/// A process that holds an exclusive flock on `path` (util-linux `flock`
/// running `sleep`), ended by its PID on drop.
struct LockHolder(std::process::Child);

impl LockHolder {
    fn hold(path: &std::path::Path) -> LockHolder {
        let child = std::process::Command::new("flock")
            .arg("-x")
            .arg(path)
            .args(["sleep", "60"])
            .stdin(std::process::Stdio::null())
            .spawn()
            .expect("run flock (util-linux)");
        let holder = LockHolder(child);
        // Held once a shared try fails.
        let held = wait_until(QUICK, || {
            !std::process::Command::new("flock")
                .args(["-s", "-n"])
                .arg(path)
                .arg("true")
                .status()
                .map_or(false, |s| s.success())
        });
        assert!(held, "flock never took the lock on {path:?}");
        holder
    }
}

impl Drop for LockHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `args` and asserts exit `code` within `limit`.
fn answers(dir: &TestDir, args: &[&str], code: i32, limit: Duration) -> Outcome {
    let started = Instant::now();
    let out = run(Cmd::Http, dir, args);
    let took = started.elapsed();
    assert_eq!(out.code, Some(code), "{args:?}; stderr:\n{}", out.stderr);
    assert!(took <= limit, "{args:?} took {took:?}, more than {limit:?}");
    out
}

/// Within 2 s (the verbs' stated wait), plus the start of a process.
const VERB_ANSWER: Duration = Duration::from_millis(2300);

#[test]
fn verbs_answer_in_time_when_a_stranger_locks_a_record_that_never_verifies() {
    let dir = TestDir::new("oddrecord");
    let path = dir.state().join("odd1");
    std::fs::write(&path, vec![b'x'; 4096]).expect("write a record that never verifies");
    let _holder = LockHolder::hold(&path);
    let out = answers(&dir, &["odd1", "--disp"], 3, VERB_ANSWER);
    assert!(out.stderr.contains("corrupt"), "{}", out.stderr);
    for verb in ["--pause", "--resume"] {
        let out = answers(&dir, &["odd1", verb], 3, VERB_ANSWER);
        assert!(out.stderr.contains("not signalled"), "{}", out.stderr);
    }
    let out = answers(&dir, &["odd1", "--del"], 3, VERB_ANSWER);
    assert!(out.stderr.contains("is running"), "{}", out.stderr);
    // --stop 1: within WAIT + 1 s, and event 15: it could not stop it.
    let out = answers(
        &dir,
        &["odd1", "--stop", "1"],
        3,
        secs(2) + Duration::from_millis(300),
    );
    assert!(out.stderr.contains("<event: 15>"), "{}", out.stderr);
    assert_eq!(
        std::fs::read(&path).expect("the record stays"),
        vec![b'x'; 4096],
        "no verb wrote to it"
    );
}

#[test]
fn a_lock_held_by_a_process_the_record_does_not_name_is_never_signalled() {
    let dir = TestDir::new("strangerlock");
    let server = http_status_server(200);
    let mut monitor = start_monitor(Cmd::Http, &dir, "s1", LO, server.port(), FAST, &[]);
    wait_probes(&monitor, &dir, "s1", 1, QUICK);
    monitor.kill9();
    // The record names the dead monitor; a stranger now holds the lock.
    let holder = LockHolder::hold(&dir.state().join("s1"));
    let stranger = holder.0.id();
    for (args, code) in [
        (&["s1", "--pause"][..], 3),
        (&["s1", "--resume"], 3),
        (&["s1", "--stop", "1"], 3),
    ] {
        let out = answers(&dir, args, code, VERB_ANSWER);
        assert!(
            out.stderr.contains("not signalled"),
            "{args:?}: {}",
            out.stderr
        );
    }
    let alive = std::process::Command::new("kill")
        .args(["-0", &stranger.to_string()])
        .status()
        .map_or(false, |s| s.success());
    assert!(
        alive,
        "the lock's holder (pid {stranger}) was not signalled"
    );
    drop(holder);
}
