//! `clp_httpmon` against fake HTTP servers: what it sends, which answers
//! pass, which fail and how fast, and the schedule of its probes.

mod common;

use common::*;
use std::time::{Duration, Instant};

const LO: &str = "127.0.0.1";
const LO_ANY: &str = "127.0.0.1:0";
const HTTP: Cmd = Cmd::Http;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Asserts the stale record a failed monitor leaves: `--disp` exits 3 and
/// says why.
fn assert_failed_record(dir: &TestDir, id: &str, last_result: &str) {
    let shown = disp(HTTP, dir, id);
    assert_eq!(
        shown.code,
        Some(3),
        "--disp after a failure:\n{}",
        shown.stdout
    );
    assert_eq!(shown.get("status"), Some("stale"), "{}", shown.stdout);
    assert_eq!(shown.get("state"), Some("failed"), "{}", shown.stdout);
    assert_eq!(
        shown.get("last_result"),
        Some(last_result),
        "{}",
        shown.stdout
    );
}

#[test]
fn silent_server_fails_at_response_timeout_within_detection_bound() {
    let dir = TestDir::new("silent");
    let server = http_server(LO_ANY, |_| HttpReply::Silent).expect("bind");
    let timing = Timing::new(2, 2, 1);
    let mut monitor = start_monitor(HTTP, &dir, "quiet", LO, server.port(), timing, &[]);
    let detected = monitor.expect_exit(1, timing.bound());
    assert!(
        detected >= secs(timing.retries * timing.interval),
        "exited after {detected:?}, before RETRIES × INTERVAL; stderr:\n{}",
        monitor.stderr_text()
    );
    let timeouts = monitor.lines_with_body(&event_body(HTTP, 74, "quiet", "110"));
    assert_eq!(
        timeouts.len(),
        3,
        "one select error[110] per probe (first + 2 retries); stderr:\n{}",
        monitor.stderr_text()
    );
    let first = timeouts[0].at - monitor.spawned_at;
    assert!(
        first >= ms(900) && first <= secs(2),
        "the first probe failed after {first:?}, TIMEOUT is 1 s"
    );
    monitor.assert_logged(&event_body(HTTP, 6, "quiet", ""));
    assert_eq!(server.connections(), 3, "one connection per probe");
    assert_failed_record(&dir, "quiet", "select error[110]");
}

#[test]
fn trickling_server_fails_the_probe_at_timeout_not_later() {
    let dir = TestDir::new("trickle");
    let server = http_server(LO_ANY, |_| {
        HttpReply::Trickle(b"HTTP/1.1 200 OK\r\n\r\n".to_vec(), secs(1))
    })
    .expect("bind");
    let timing = Timing::new(1, 1, 2);
    let mut monitor = start_monitor(HTTP, &dir, "drip", LO, server.port(), timing, &[]);
    let (_, first_failure) = monitor.wait_event(74, secs(2) + MARGIN);
    assert!(
        first_failure >= ms(1900) && first_failure <= secs(3),
        "a probe against a trickling server failed after {first_failure:?}, TIMEOUT is 2 s; stderr:\n{}",
        monitor.stderr_text()
    );
    monitor.assert_logged(&event_body(HTTP, 74, "drip", "110"));
    let record = server.record(0).expect("first connection");
    assert!(
        wait_until(QUICK, || server
            .record(0)
            .map_or(false, |r| r.peer_closed_at.is_some())),
        "the monitor never closed the trickling connection"
    );
    let held = server
        .record(0)
        .and_then(|r| r.peer_closed_at)
        .expect("closed")
        - record.accepted_at;
    assert!(
        held >= ms(1800) && held <= secs(3),
        "the monitor held the trickling connection for {held:?}, TIMEOUT is 2 s"
    );
    monitor.expect_exit(1, timing.bound());
    monitor.assert_logged(&event_body(HTTP, 6, "drip", ""));
}

#[test]
fn port_with_nothing_listening_fails_with_connect_error_111() {
    let dir = TestDir::new("refused");
    let mut monitors: Vec<Monitor> = BOTH
        .iter()
        .map(|&cmd| {
            let id = format!("nobody-{}", cmd.kind());
            start_monitor(cmd, &dir, &id, LO, closed_port(), FAST, &[])
        })
        .collect();
    for monitor in monitors.iter_mut() {
        let cmd = monitor.cmd;
        let id = format!("nobody-{}", cmd.kind());
        monitor.expect_exit(1, FAST.bound());
        let bodies: Vec<String> = monitor
            .stderr_lines()
            .iter()
            .filter_map(|l| parse_log_line(&l.text()).map(|p| p.body))
            .collect();
        let expected = [
            event_body(cmd, 1, &id, ""),
            event_body(cmd, 2, &id, ""),
            event_body(cmd, 72, &id, "111"),
            event_body(cmd, 72, &id, "111"),
            event_body(cmd, 6, &id, ""),
        ];
        let seen: Vec<&String> = bodies.iter().filter(|b| expected.contains(b)).collect();
        assert_eq!(
            seen,
            expected.iter().collect::<Vec<_>>(),
            "{}: events 1, 2, 72 (first probe and one retry), 6 in order; stderr:\n{}",
            cmd.name(),
            monitor.stderr_text()
        );
        for body in &expected {
            monitor.assert_logged(body);
        }
    }
    for cmd in BOTH {
        let shown = disp(cmd, &dir, &format!("nobody-{}", cmd.kind()));
        assert_eq!(shown.code, Some(3), "{}", shown.stdout);
        assert_eq!(shown.get("state"), Some("failed"), "{}", shown.stdout);
        assert_eq!(
            shown.get("last_result"),
            Some("connect error[111]"),
            "{}",
            shown.stdout
        );
    }
}

#[test]
fn error_statuses_fail_when_uri_is_not_root() {
    let codes = [400u16, 404, 503, 599];
    let dir = TestDir::new("badstatus");
    let servers: Vec<FakeServer> = codes.iter().map(|&c| http_status_server(c)).collect();
    let mut monitors: Vec<Monitor> = codes
        .iter()
        .zip(&servers)
        .map(|(code, server)| {
            start_monitor(
                HTTP,
                &dir,
                &format!("status{code}"),
                LO,
                server.port(),
                FAST,
                &["-h", "/x"],
            )
        })
        .collect();
    for (code, monitor) in codes.iter().zip(monitors.iter_mut()) {
        let id = format!("status{code}");
        monitor.expect_exit(1, FAST.bound());
        monitor.assert_logged(&event_body(HTTP, 83, &id, &code.to_string()));
        monitor.assert_logged(&event_body(HTTP, 6, &id, ""));
    }
    for code in codes {
        let id = format!("status{code}");
        assert_failed_record(&dir, &id, &format!("invalid status code[{code}]"));
    }
}

#[test]
fn any_status_passes_for_root_uri_and_non_error_statuses_pass_for_others() {
    let cases: [(u16, &str); 4] = [(503, "/"), (404, "/"), (302, "/x"), (200, "/x")];
    let dir = TestDir::new("goodstatus");
    let servers: Vec<FakeServer> = cases.iter().map(|&(c, _)| http_status_server(c)).collect();
    let mut monitors: Vec<Monitor> = cases
        .iter()
        .zip(&servers)
        .enumerate()
        .map(|(i, ((_, uri), server))| {
            start_monitor(
                HTTP,
                &dir,
                &format!("pass{i}"),
                LO,
                server.port(),
                FAST,
                &["-h", uri],
            )
        })
        .collect();
    for (i, monitor) in monitors.iter_mut().enumerate() {
        let id = format!("pass{i}");
        let shown = wait_probes(monitor, &dir, &id, 3, secs(3) + MARGIN);
        assert_eq!(
            shown.num("failures"),
            Some(0),
            "status {} with -h {}:\n{}",
            cases[i].0,
            cases[i].1,
            shown.stdout
        );
        assert_eq!(shown.get("state"), Some("monitoring"), "{}", shown.stdout);
        assert_eq!(shown.get("last_result"), Some("ok"), "{}", shown.stdout);
        run_expect(HTTP, &dir, &[&id, "--stop"], 0);
        monitor.expect_exit(0, QUICK);
    }
}

/// Splits a request head into its request line and `(name, value)` headers.
fn parse_request(head: &[u8]) -> (String, Vec<(String, String)>) {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or("").to_string();
    let headers = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (request_line, headers)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

#[test]
fn request_is_head_with_host_header_and_connection_close() {
    let dir = TestDir::new("request");
    let v11 = http_status_server(200);
    let v10 = http_status_server(200);
    let mut monitors = [
        (
            start_monitor(
                HTTP,
                &dir,
                "req11",
                LO,
                v11.port(),
                FAST,
                &["-h", "/path/x?q=1"],
            ),
            &v11,
            "HEAD /path/x?q=1 HTTP/1.1",
        ),
        (
            start_monitor(HTTP, &dir, "req10", LO, v10.port(), FAST, &["-v", "1.0"]),
            &v10,
            "HEAD / HTTP/1.0",
        ),
    ];
    for (monitor, server, request_line) in monitors.iter_mut() {
        assert!(
            wait_until(QUICK, || server.record(0).map_or(false, |r| r.finished)),
            "no complete request; stderr:\n{}",
            monitor.stderr_text()
        );
        let received = server.record(0).expect("first connection").received;
        assert!(
            received.ends_with(b"\r\n\r\n"),
            "request {:?} should be a head ending in an empty line, no body",
            String::from_utf8_lossy(&received)
        );
        let (line, headers) = parse_request(&received);
        assert_eq!(
            line,
            *request_line,
            "request line of {:?}",
            String::from_utf8_lossy(&received)
        );
        assert_eq!(
            header(&headers, "host"),
            [format!("127.0.0.1:{}", server.port())],
            "Host header of {:?}",
            String::from_utf8_lossy(&received)
        );
        let connection: Vec<String> = header(&headers, "connection")
            .iter()
            .map(|v| v.to_ascii_lowercase())
            .collect();
        assert_eq!(connection, ["close"], "Connection header");
        monitor.assert_running("after a passing probe");
    }
}

#[test]
fn ipv6_server_on_loopback_is_monitored_with_bracketed_host_header() {
    if !ipv6_loopback_available() {
        skip(
            "ipv6_server_on_loopback_is_monitored_with_bracketed_host_header",
            "cannot bind [::1]",
        );
        return;
    }
    let dir = TestDir::new("ipv6");
    let server = http_server("[::1]:0", |_| http_status(200)).expect("bind [::1]:0");
    let mut plain = start_monitor(HTTP, &dir, "six", "::1", server.port(), FAST, &[]);
    let mut bracketed = start_monitor(HTTP, &dir, "sixb", "[::1]", server.port(), FAST, &[]);
    for (id, monitor) in [("six", &mut plain), ("sixb", &mut bracketed)] {
        let shown = wait_probes(monitor, &dir, id, 2, secs(2) + MARGIN);
        assert_eq!(shown.get("last_result"), Some("ok"), "{}", shown.stdout);
        assert_eq!(shown.num("failures"), Some(0), "{}", shown.stdout);
    }
    let hosts: Vec<Vec<String>> = server
        .records()
        .iter()
        .filter(|r| r.finished)
        .map(|r| {
            let (_, headers) = parse_request(&r.received);
            header(&headers, "host")
                .iter()
                .map(|h| h.to_string())
                .collect()
        })
        .collect();
    assert!(!hosts.is_empty());
    for host in hosts {
        assert_eq!(host, [format!("[::1]:{}", server.port())]);
    }
    for (id, monitor) in [("six", &mut plain), ("sixb", &mut bracketed)] {
        run_expect(HTTP, &dir, &[id, "--stop"], 0);
        monitor.expect_exit(0, QUICK);
    }
}

#[test]
fn non_http_reply_fails_at_once_with_invalid_response() {
    let dir = TestDir::new("nonhttp");
    let server = http_server(LO_ANY, |_| {
        HttpReply::SendAndHold(b"SSH-2.0-OpenSSH_9.2\r\n".to_vec())
    })
    .expect("bind");
    // TIMEOUT 5 s: waiting for it would be the bug.
    let timing = Timing::new(1, 1, 5);
    let mut monitor = start_monitor(HTTP, &dir, "ssh", LO, server.port(), timing, &[]);
    let (_, first) = monitor.wait_event(82, secs(1) + MARGIN);
    assert!(first < secs(2), "invalid response detected after {first:?}");
    monitor.assert_logged(&event_body(HTTP, 82, "ssh", ""));
    monitor.expect_exit(1, secs(1) + MARGIN);
    // The record shows an excerpt, escaped once (printable ASCII kept, `"`
    // and `\` escaped, everything else as \xNN): no `\\`, no `\"` here.
    let shown = disp(HTTP, &dir, "ssh");
    let last = shown.get("last_result").unwrap_or("");
    assert!(
        last.starts_with(r#"invalid response "SSH-2.0-OpenSSH_9.2"#)
            && last.ends_with('"')
            && !last.contains(r"\\")
            && !last.contains(r#"\""#),
        "last_result should be `invalid response \"<excerpt>\"` as in {:?}:\n{}",
        r#"invalid response "SSH-2.0-OpenSSH_9.2\x0d\x0a""#,
        shown.stdout
    );
}

#[test]
fn connection_closed_before_a_full_reply_fails_with_recv_error_0() {
    let replies = [
        ("closed", HttpReply::Close),
        ("partial", HttpReply::Send(b"HTTP/1.1 20".to_vec())),
    ];
    let dir = TestDir::new("closed");
    let servers: Vec<FakeServer> = replies
        .iter()
        .map(|(_, reply)| {
            let reply = reply.clone();
            http_server(LO_ANY, move |_| reply.clone()).expect("bind")
        })
        .collect();
    let mut monitors: Vec<Monitor> = replies
        .iter()
        .zip(&servers)
        .map(|((id, _), server)| start_monitor(HTTP, &dir, id, LO, server.port(), FAST, &[]))
        .collect();
    for ((id, _), monitor) in replies.iter().zip(monitors.iter_mut()) {
        monitor.expect_exit(1, FAST.bound());
        monitor.assert_logged(&event_body(HTTP, 75, id, "0"));
    }
    for (id, _) in &replies {
        assert_failed_record(&dir, id, "recv error[0]");
    }
}

/// One server per (id, reply), each answering every request with its reply.
fn servers_sending(replies: &[(&str, &[u8])]) -> Vec<FakeServer> {
    replies
        .iter()
        .map(|(_, bytes)| {
            let bytes = bytes.to_vec();
            http_server(LO_ANY, move |_| HttpReply::Send(bytes.clone())).expect("bind")
        })
        .collect()
}

#[test]
fn crlf_and_control_bytes_in_a_reply_never_reach_stderr_unescaped() {
    let replies: [(&str, &[u8]); 2] = [
        // Not a status line: event 82.
        (
            "inject82",
            b"HTTP/1.1 2\x1b[31m00 OK\rINJECTED <event: 6> forged\n\x00\x7f\r\n\r\n",
        ),
        // A status line whose reason phrase carries the injection: event 83.
        (
            "inject83",
            b"HTTP/1.1 503 Bad\rINJECTED <event: 6> forged\x1b[0m\r\n\r\n",
        ),
    ];
    let dir = TestDir::new("inject");
    let servers = servers_sending(&replies);
    let mut monitors: Vec<Monitor> = replies
        .iter()
        .zip(&servers)
        .map(|((id, _), server)| {
            start_monitor(HTTP, &dir, id, LO, server.port(), FAST, &["-h", "/x"])
        })
        .collect();
    for ((id, _), monitor) in replies.iter().zip(monitors.iter_mut()) {
        monitor.expect_exit(1, FAST.bound());
        let raw = monitor.stderr_raw();
        assert!(
            !raw.iter().any(|&b| (b < 0x20 && b != b'\n') || b == 0x7f),
            "{id}: a control byte reached stderr: {:?}",
            String::from_utf8_lossy(&raw)
        );
        // Every line is the monitor's own: the log layout, or at least its
        // `ident[pid]: ` (the notice about a syslog daemon not reading).
        let own = format!("{}[{}]: ", HTTP.name(), monitor.pid());
        for line in monitor.stderr_lines() {
            let text = line.text();
            let parsed = parse_log_line(&text);
            assert!(
                parsed.map_or(false, |p| p.pid == monitor.pid()) || text.starts_with(&own),
                "{id}: a stderr line not written by the monitor: {text:?}"
            );
        }
        assert_eq!(
            monitor.event_lines(6).len(),
            1,
            "{id}: exactly the monitor's own event 6; stderr:\n{}",
            monitor.stderr_text()
        );
        let shown = disp(HTTP, &dir, id);
        assert!(
            !shown
                .stdout
                .bytes()
                .any(|b| (b < 0x20 && b != b'\n') || b == 0x7f),
            "{id}: a control byte reached --disp: {:?}",
            shown.stdout
        );
    }
    monitors[0].assert_logged(&event_body(HTTP, 82, "inject82", ""));
    monitors[1].assert_logged(&event_body(HTTP, 83, "inject83", "503"));
}

/// Serves `reply` (then holds the connection open) and asserts that the
/// probe fails with event 82 and the monitor exits 1, not crashes or hangs.
fn assert_reply_is_invalid_response(id: &str, reply: Vec<u8>) {
    let dir = TestDir::new(id);
    let server = http_server(LO_ANY, move |_| HttpReply::SendAndHold(reply.clone())).expect("bind");
    let timing = Timing::new(1, 1, 2);
    let mut monitor = start_monitor(HTTP, &dir, id, LO, server.port(), timing, &[]);
    monitor.wait_event(82, timing.bound());
    monitor.assert_logged(&event_body(HTTP, 82, id, ""));
    monitor.expect_exit(1, timing.bound());
    monitor.assert_logged(&event_body(HTTP, 6, id, ""));
}

#[test]
fn status_line_longer_than_the_reply_buffer_is_an_invalid_response() {
    // A plausible start, then 100 kB without a line end.
    let mut reply = b"HTTP/1.1 200 ".to_vec();
    reply.extend(std::iter::repeat(b'x').take(100_000));
    assert_reply_is_invalid_response("longline", reply);
}

#[test]
fn binary_reply_is_an_invalid_response() {
    let reply: Vec<u8> = (0..65_536u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert_reply_is_invalid_response("binary", reply);
}

#[test]
fn interim_1xx_responses_are_skipped() {
    let replies: [(&str, &[u8]); 2] = [
        (
            "cont503",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Unavailable\r\n\r\n",
        ),
        (
            "cont200",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
        ),
    ];
    let dir = TestDir::new("interim");
    let servers = servers_sending(&replies);
    let mut failing = start_monitor(
        HTTP,
        &dir,
        "cont503",
        LO,
        servers[0].port(),
        FAST,
        &["-h", "/x"],
    );
    let mut passing = start_monitor(
        HTTP,
        &dir,
        "cont200",
        LO,
        servers[1].port(),
        FAST,
        &["-h", "/x"],
    );
    failing.expect_exit(1, FAST.bound());
    failing.assert_logged(&event_body(HTTP, 83, "cont503", "503"));
    let shown = wait_probes(&passing, &dir, "cont200", 2, secs(2) + MARGIN);
    assert_eq!(shown.num("failures"), Some(0), "{}", shown.stdout);
    run_expect(HTTP, &dir, &["cont200", "--stop"], 0);
    passing.expect_exit(0, QUICK);
}

#[test]
fn server_that_fails_then_recovers_keeps_the_monitor_running_and_resets_retries() {
    let dir = TestDir::new("recover");
    // Probes 0, 2 and 4 fail; with -c 1 a second failure in a row would end
    // the monitor, so it survives only if every success resets the count.
    let server = http_server(LO_ANY, |i| {
        if i < 5 && i % 2 == 0 {
            http_status(503)
        } else {
            http_status(200)
        }
    })
    .expect("bind");
    let mut monitor = start_monitor(HTTP, &dir, "flaky", LO, server.port(), FAST, &["-h", "/x"]);
    // Once the record exists, a --disp that is not live means it ended.
    let first = wait_probes(&monitor, &dir, "flaky", 1, QUICK);
    let mut states: Vec<String> = first.get("state").map(String::from).into_iter().collect();
    let shown = wait_disp(HTTP, &dir, "flaky", "7 probes", secs(7) + MARGIN, |d| {
        if let Some(state) = d.get("state") {
            if states.last().map(String::as_str) != Some(state) {
                states.push(state.to_string());
            }
        }
        d.num("probes").unwrap_or(0) >= 7 || d.code != Some(0)
    });
    monitor.assert_running("a server that recovers after each failure");
    assert!(
        shown.is_live(),
        "--disp of the running monitor: exit {:?}\n{}{}",
        shown.code,
        shown.stdout,
        shown.stderr
    );
    assert_eq!(shown.get("state"), Some("monitoring"), "{}", shown.stdout);
    assert_eq!(shown.get("last_result"), Some("ok"), "{}", shown.stdout);
    assert!(
        states.iter().any(|s| s == "retrying 1/1"),
        "never saw `retrying 1/1` between failure and recovery; states seen: {states:?}"
    );
    assert_eq!(
        monitor
            .lines_with_body(&event_body(HTTP, 83, "flaky", "503"))
            .len(),
        3,
        "stderr:\n{}",
        monitor.stderr_text()
    );
    assert!(monitor.event_lines(6).is_empty());
    run_expect(HTTP, &dir, &["flaky", "--stop"], 0);
    monitor.expect_exit(0, QUICK);
}

/// Start-to-start gaps between the first `n` connections.
fn gaps(server: &FakeServer, n: usize) -> Vec<Duration> {
    let records = server.records();
    records
        .windows(2)
        .take(n - 1)
        .map(|w| w[1].accepted_at - w[0].accepted_at)
        .collect()
}

#[test]
fn probes_start_interval_apart_without_drift() {
    let dir = TestDir::new("schedule");
    // Each probe takes 0.4 s; start to start must stay 1 s.
    let server = http_server(LO_ANY, |_| {
        HttpReply::Delayed(ms(400), b"HTTP/1.1 200 OK\r\n\r\n".to_vec())
    })
    .expect("bind");
    let mut monitor = start_monitor(
        HTTP,
        &dir,
        "tick",
        LO,
        server.port(),
        Timing::new(1, 1, 3),
        &[],
    );
    assert!(
        server.wait_connections(5, secs(4) + MARGIN),
        "5 probes should start within 4 s; stderr:\n{}",
        monitor.stderr_text()
    );
    let gaps = gaps(&server, 5);
    let total: Duration = gaps.iter().sum();
    assert!(
        total >= ms(3900) && total <= ms(4300),
        "probes 0 to 4 should start 4 s apart in all, got gaps {gaps:?}"
    );
    for gap in &gaps {
        assert!(*gap >= ms(900), "probes started {gap:?} apart: {gaps:?}");
    }
    monitor.assert_running("healthy server");
}

#[test]
fn wake_up_latency_never_accumulates_into_drift() {
    // Every sleep ends a little after its slot (timer slack, scheduling,
    // load): that lateness is noise around the 1 s grid, always positive,
    // and must not add up from one probe to the next. The smallest offset
    // from the grid among the last probes is compared with the smallest
    // among the first: load only adds noise on top of each, while drift of
    // even 1 ms a probe would put 8 ms between them.
    const PROBES: usize = 13;
    let dir = TestDir::new("drift");
    let server = http_status_server(200);
    let mut monitor = start_monitor(
        HTTP,
        &dir,
        "drift",
        LO,
        server.port(),
        Timing::new(1, 1, 3),
        &[],
    );
    assert!(
        server.wait_connections(PROBES, secs(PROBES as u64 - 1) + MARGIN),
        "{PROBES} probes should start within {} s; stderr:\n{}",
        PROBES - 1,
        monitor.stderr_text()
    );
    let accepted: Vec<Instant> = server
        .records()
        .iter()
        .take(PROBES)
        .map(|r| r.accepted_at)
        .collect();
    // Offsets from the grid, in microseconds; negative would be early.
    let offsets: Vec<i64> = accepted
        .iter()
        .enumerate()
        .map(|(k, at)| (*at - accepted[0]).as_micros() as i64 - k as i64 * 1_000_000)
        .collect();
    let first = offsets[1..5].iter().min().copied().unwrap();
    let last = offsets[PROBES - 4..].iter().min().copied().unwrap();
    assert!(
        last - first < 5_000,
        "the schedule drifts: offsets from the 1 s grid (us) {offsets:?}"
    );
    assert!(
        offsets.iter().all(|&o| o > -5_000),
        "a probe started early: {offsets:?}"
    );
    monitor.assert_running("healthy server");
}

#[test]
fn a_slow_probe_is_followed_at_once_and_missed_slots_are_not_made_up() {
    let dir = TestDir::new("slowprobe");
    // The first probe takes 2.5 s with INTERVAL 1 s: the next starts as soon
    // as it ends, and the two slots it overran are not made up in a burst.
    let server = http_server(LO_ANY, |i| {
        let delay = if i == 0 { ms(2500) } else { ms(0) };
        HttpReply::Delayed(delay, b"HTTP/1.1 200 OK\r\n\r\n".to_vec())
    })
    .expect("bind");
    let mut monitor = start_monitor(
        HTTP,
        &dir,
        "slow",
        LO,
        server.port(),
        Timing::new(1, 1, 4),
        &[],
    );
    assert!(
        server.wait_connections(4, ms(4500) + MARGIN),
        "4 probes should start within 4.5 s; stderr:\n{}",
        monitor.stderr_text()
    );
    let gaps = gaps(&server, 4);
    assert!(
        gaps[0] >= ms(2450) && gaps[0] <= ms(2800),
        "the probe after a 2.5 s one started {:?} after it, want at once: {gaps:?}",
        gaps[0]
    );
    for gap in &gaps[1..] {
        assert!(
            *gap >= ms(900) && *gap <= ms(1300),
            "probes after the slow one started {gap:?} apart, want INTERVAL: {gaps:?}"
        );
    }
    monitor.assert_running("slow but healthy server");
    let shown = disp(HTTP, &dir, "slow");
    assert_eq!(shown.num("failures"), Some(0), "{}", shown.stdout);
}
