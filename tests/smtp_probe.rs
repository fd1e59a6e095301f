//! `clp_smtpmon` against fake SMTP servers: the dialogue it holds and the
//! replies that pass or fail.

mod common;

use common::*;

const LO: &str = "127.0.0.1";
const LO_ANY: &str = "127.0.0.1:0";
const SMTP: Cmd = Cmd::Smtp;

/// Waits until connection `index` is over and returns what the monitor
/// sent on it.
fn transcript(server: &FakeServer, monitor: &Monitor, index: usize) -> String {
    assert!(
        wait_until(QUICK, || server.record(index).map_or(false, |r| r.finished)),
        "connection {index} never finished; stderr:\n{}",
        monitor.stderr_text()
    );
    let record = server.record(index).expect("finished above");
    String::from_utf8_lossy(&record.received).into_owned()
}

#[test]
fn multi_line_greeting_passes_and_the_probe_sends_noop_then_quit() {
    let dir = TestDir::new("smtpok");
    let server = smtp_server(LO_ANY, |_| {
        SmtpReplies::new(
            "220-mail.test ESMTP\r\n220-second line\r\n220 ready\r\n",
            "250 2.0.0 OK\r\n",
        )
    })
    .expect("bind");
    let mut monitor = start_monitor(SMTP, &dir, "mx1", LO, server.port(), FAST, &[]);
    let shown = wait_probes(&monitor, &dir, "mx1", 2, secs(2) + MARGIN);
    assert_eq!(shown.num("failures"), Some(0), "{}", shown.stdout);
    assert_eq!(shown.get("last_result"), Some("ok"), "{}", shown.stdout);
    for index in 0..2 {
        assert_eq!(
            transcript(&server, &monitor, index),
            "NOOP\r\nQUIT\r\n",
            "what the monitor sent on connection {index}"
        );
    }
    run_expect(SMTP, &dir, &["mx1", "--stop"], 0);
    monitor.expect_exit(0, QUICK);
}

#[test]
fn multi_line_noop_reply_passes() {
    let dir = TestDir::new("smtpmulti");
    let server = smtp_server(LO_ANY, |_| {
        SmtpReplies::new("220 ready\r\n", "250-first\r\n250-second\r\n250 OK\r\n")
    })
    .expect("bind");
    let mut monitor = start_monitor(SMTP, &dir, "mx2", LO, server.port(), FAST, &[]);
    let shown = wait_probes(&monitor, &dir, "mx2", 2, secs(2) + MARGIN);
    assert_eq!(shown.num("failures"), Some(0), "{}", shown.stdout);
    run_expect(SMTP, &dir, &["mx2", "--stop"], 0);
    monitor.expect_exit(0, QUICK);
}

#[test]
fn greeting_421_fails_with_invalid_status_code_and_still_says_quit() {
    let dir = TestDir::new("smtp421");
    let server = smtp_server(LO_ANY, |_| {
        SmtpReplies::new("421 4.3.2 mail.test too busy, try later\r\n", "250 OK\r\n")
    })
    .expect("bind");
    let mut monitor = start_monitor(SMTP, &dir, "busy", LO, server.port(), FAST, &[]);
    monitor.expect_exit(1, FAST.bound());
    monitor.assert_logged(&event_body(SMTP, 83, "busy", "421"));
    monitor.assert_logged(&event_body(SMTP, 6, "busy", ""));
    assert_eq!(
        transcript(&server, &monitor, 0),
        "QUIT\r\n",
        "after a bad greeting the probe sends QUIT only"
    );
    let shown = disp(SMTP, &dir, "busy");
    assert_eq!(shown.code, Some(3), "{}", shown.stdout);
    assert_eq!(
        shown.get("last_result"),
        Some("invalid status code[421]"),
        "{}",
        shown.stdout
    );
}

#[test]
fn noop_answered_500_fails_with_invalid_status_code() {
    let dir = TestDir::new("smtp500");
    let server = smtp_server(LO_ANY, |_| {
        SmtpReplies::new("220 ready\r\n", "500 5.5.1 Command unrecognized\r\n")
    })
    .expect("bind");
    let mut monitor = start_monitor(SMTP, &dir, "noop500", LO, server.port(), FAST, &[]);
    monitor.expect_exit(1, FAST.bound());
    monitor.assert_logged(&event_body(SMTP, 83, "noop500", "500"));
    monitor.assert_logged(&event_body(SMTP, 6, "noop500", ""));
    assert_eq!(transcript(&server, &monitor, 0), "NOOP\r\nQUIT\r\n");
}

#[test]
fn replies_sent_early_in_one_packet_are_parsed_as_a_stream() {
    let dir = TestDir::new("smtppipe");
    // Greeting and the NOOP reply arrive together, before NOOP is sent; the
    // server then answers NOOP with nothing more.
    let server =
        smtp_server(LO_ANY, |_| SmtpReplies::new("220 ready\r\n250 OK\r\n", "")).expect("bind");
    let mut monitor = start_monitor(SMTP, &dir, "early", LO, server.port(), FAST, &[]);
    let shown = wait_probes(&monitor, &dir, "early", 2, secs(2) + MARGIN);
    assert_eq!(shown.num("failures"), Some(0), "{}", shown.stdout);
    run_expect(SMTP, &dir, &["early", "--stop"], 0);
    monitor.expect_exit(0, QUICK);
}

#[test]
fn ipv6_smtp_server_on_loopback_is_monitored() {
    if !ipv6_loopback_available() {
        skip(
            "ipv6_smtp_server_on_loopback_is_monitored",
            "cannot bind [::1]",
        );
        return;
    }
    let dir = TestDir::new("smtp6");
    let server = smtp_server("[::1]:0", |_| SmtpReplies::healthy()).expect("bind [::1]:0");
    let mut monitor = start_monitor(SMTP, &dir, "mx6", "::1", server.port(), FAST, &[]);
    let shown = wait_probes(&monitor, &dir, "mx6", 2, secs(2) + MARGIN);
    assert_eq!(shown.num("failures"), Some(0), "{}", shown.stdout);
    assert_eq!(shown.get("last_result"), Some("ok"), "{}", shown.stdout);
    run_expect(SMTP, &dir, &["mx6", "--stop"], 0);
    monitor.expect_exit(0, QUICK);
}

#[test]
fn a_server_that_greets_after_the_timeout_hears_nothing_from_the_monitor() {
    // postscreen's greet wait, exim's slow banner: a client that speaks
    // before the greeting is flagged as a spambot (PREGREET). The probe
    // fails at TIMEOUT and closes without a word.
    let dir = TestDir::new("smtpslowgreet");
    let timing = Timing::new(1, 1, 1);
    let server = FakeServer::start(LO_ANY, move |conn| {
        if conn.linger(secs(timing.timeout) + std::time::Duration::from_millis(500)) {
            conn.send(b"220 late ESMTP\r\n");
            conn.linger(QUICK);
        }
    })
    .expect("bind");
    let mut monitor = start_monitor(SMTP, &dir, "late", LO, server.port(), timing, &[]);
    monitor.expect_exit(1, timing.bound());
    monitor.assert_logged(&event_body(SMTP, 74, "late", "110"));
    for index in 0..2 {
        assert_eq!(
            transcript(&server, &monitor, index),
            "",
            "what the monitor sent before the greeting on connection {index}"
        );
    }
}
