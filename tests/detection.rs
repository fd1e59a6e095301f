//! Faster detection beyond the guides' schedule: `--retry-interval`
//! (retries closer together than healthy probes), `--grace` (a server
//! still starting), the line that sums up a failed run after event 6, and
//! the last probes `--disp` shows.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

const LO: &str = "127.0.0.1";

/// A server that answers 200 while `up`, and otherwise closes at once.
fn switchable(up: Arc<AtomicBool>) -> FakeServer {
    http_server("127.0.0.1:0", move |_| {
        if up.load(Ordering::SeqCst) {
            http_status(200)
        } else {
            HttpReply::Close
        }
    })
    .expect("bind 127.0.0.1:0")
}

/// The gaps between the starts of consecutive connections.
fn gaps(server: &FakeServer) -> Vec<Duration> {
    let records = server.records();
    records
        .windows(2)
        .map(|w| w[1].accepted_at - w[0].accepted_at)
        .collect()
}

fn within(gap: Duration, want: Duration) -> bool {
    // Early never (but for the clock's grain); late by scheduling at most.
    gap + Duration::from_millis(20) >= want && gap <= want + Duration::from_millis(500)
}

/// A server whose connection `index` is answered 200 when `ok(index)`, and
/// closed at once otherwise.
fn scripted(ok: fn(usize) -> bool) -> FakeServer {
    http_server("127.0.0.1:0", move |index| {
        if ok(index) {
            http_status(200)
        } else {
            HttpReply::Close
        }
    })
    .expect("bind 127.0.0.1:0")
}

#[test]
fn retries_come_retry_interval_apart_and_healthy_probes_interval_apart() {
    let dir = TestDir::new("retrygap");
    // Two healthy probes, then failures.
    let server = scripted(|index| index < 2);
    let timing = Timing::new(3, 2, 1);
    let mut monitor = start_monitor(
        Cmd::Http,
        &dir,
        "g1",
        LO,
        server.port(),
        timing,
        &["--retry-interval", "1"],
    );
    // Failing from the third probe, 6 s in: RETRIES × max(RETRY_INTERVAL,
    // TIMEOUT) + TIMEOUT after it, where -i 3 alone would take 2 × 3 + 1.
    monitor.expect_exit(1, secs(6) + detection_bound(1, 2, 1));
    let gaps = gaps(&server);
    assert_eq!(gaps.len(), 4, "two healthy probes, three failed: {gaps:?}");
    for gap in &gaps[..2] {
        assert!(
            within(*gap, secs(3)),
            "INTERVAL is 3 s after a success: {gaps:?}"
        );
    }
    for gap in &gaps[2..] {
        assert!(
            within(*gap, secs(1)),
            "RETRY_INTERVAL is 1 s after a failure: {gaps:?}"
        );
    }
    let first_failure = server.records()[2].accepted_at;
    let exited = monitor.spawned_at + monitor.expect_exit(1, QUICK);
    let took = exited - first_failure;
    assert!(
        took <= detection_bound(1, 2, 1),
        "exit {took:?} after the first failed probe; the bound is 2 × max(1, 1) + 1 s"
    );
}

#[test]
fn a_success_brings_back_the_interval_after_retries() {
    let dir = TestDir::new("retryback");
    // Two failures, then healthy.
    let server = scripted(|index| index >= 2);
    let monitor = start_monitor(
        Cmd::Http,
        &dir,
        "g2",
        LO,
        server.port(),
        Timing::new(3, 5, 1),
        &["--retry-interval", "1"],
    );
    assert!(server.wait_connections(5, secs(8) + MARGIN), "probes go on");
    let gaps = gaps(&server);
    // Failed, failed (1 s after each), ok (3 s after it), ok.
    assert!(
        within(gaps[0], secs(1)) && within(gaps[1], secs(1)),
        "{gaps:?}"
    );
    assert!(
        within(gaps[2], secs(3)) && within(gaps[3], secs(3)),
        "{gaps:?}"
    );
    drop(monitor);
}

#[test]
fn grace_hides_the_failures_of_a_server_that_never_comes_up_until_it_ends() {
    let dir = TestDir::new("gracenever");
    let up = Arc::new(AtomicBool::new(false));
    let server = switchable(up);
    let timing = FAST;
    let mut monitor = start_monitor(
        Cmd::Http,
        &dir,
        "gr1",
        LO,
        server.port(),
        timing,
        &["--grace", "4"],
    );
    let (_, first) = monitor.wait_event(75, secs(1) + MARGIN);
    assert!(first < secs(2), "failures are logged during the grace");
    // No exit inside the grace: the bound counts from its end.
    let status = monitor.wait_exit(secs(4) - Duration::from_millis(300));
    assert!(
        status.is_none(),
        "exited inside the grace: {}",
        monitor.stderr_text()
    );
    let took = monitor.expect_exit(1, timing.bound() + secs(1));
    assert!(
        took <= secs(4) + timing.bound(),
        "exit {took:?} after the start; grace 4 s + the bound {:?}",
        timing.bound()
    );
    let shown = disp(Cmd::Http, &dir, "gr1");
    let logged = monitor.event_lines(75).len() as u64;
    assert_eq!(shown.num("failures"), Some(logged), "{}", shown.stdout);
    assert!(
        logged >= 5,
        "about one failure a second through the grace: {logged}"
    );
}

#[test]
fn grace_ends_with_the_first_success_and_failures_count_again() {
    let dir = TestDir::new("graceup");
    let up = Arc::new(AtomicBool::new(false));
    let server = switchable(Arc::clone(&up));
    let timing = FAST;
    let mut monitor = start_monitor(
        Cmd::Http,
        &dir,
        "gr2",
        LO,
        server.port(),
        timing,
        &["--grace", "30"],
    );
    assert!(
        server.wait_connections(3, secs(3) + MARGIN),
        "failing probes"
    );
    up.store(true, Ordering::SeqCst);
    wait_disp(Cmd::Http, &dir, "gr2", "a success", secs(2) + MARGIN, |d| {
        d.get("last_result") == Some("ok")
    });
    monitor.assert_running("came up inside the grace");
    // The grace is over with that success: the next failures count.
    let down_at = Instant::now();
    up.store(false, Ordering::SeqCst);
    monitor.expect_exit(1, timing.bound() + secs(1) + MARGIN);
    assert!(
        down_at.elapsed() <= timing.bound() + secs(1),
        "after the success the bound holds again"
    );
}

#[test]
fn an_exit_on_failure_sums_up_the_failed_run() {
    let dir = TestDir::new("summary");
    let up = Arc::new(AtomicBool::new(false));
    let server = switchable(up);
    let timing = Timing::new(1, 2, 1);
    let mut monitor = start_monitor(Cmd::Http, &dir, "sum1", LO, server.port(), timing, &[]);
    monitor.expect_exit(1, timing.bound());
    let text = monitor.stderr_text();
    let after_6: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.contains(&event_tag(Cmd::Http, 6)))
        .collect();
    assert!(after_6.len() >= 2, "a line after event 6:\n{text}");
    let line = after_6[1];
    assert!(
        line.contains("sum1: 3 probe(s) failed in a row over ")
            && line.contains(" s: 3x recv error[0]"),
        "{line}"
    );
}

#[test]
fn disp_shows_the_last_eight_probes_newest_first() {
    let dir = TestDir::new("recent");
    let server = http_status_server(200);
    let monitor = start_monitor(Cmd::Http, &dir, "rc1", LO, server.port(), FAST, &[]);
    let shown = wait_probes(&monitor, &dir, "rc1", 9, secs(9) + MARGIN);
    let recent: Vec<&str> = shown
        .fields
        .iter()
        .filter(|(k, _)| k.starts_with("recent_"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(recent.len(), 8, "{}", shown.stdout);
    for line in &recent {
        // YYYY-MM-DD hh:mm:ss +zzzz, N ms, ok
        let parts: Vec<&str> = line.split(", ").collect();
        assert_eq!(parts.len(), 3, "{line}");
        assert!(parts[1].ends_with(" ms"), "{line}");
        assert_eq!(parts[2], "ok", "{line}");
    }
    let mut starts: Vec<&str> = recent
        .iter()
        .map(|l| l.split(", ").next().unwrap())
        .collect();
    let newest_first = starts.clone();
    starts.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(newest_first, starts, "newest first");
    assert!(shown.num("last_duration_ms").is_some(), "{}", shown.stdout);
    drop(monitor);
}
