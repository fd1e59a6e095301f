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

/// A silent server fails each probe at TIMEOUT with `select error[110]`
/// (hostile.rs: `http_silent_after_accept`); here it stands for any failing
/// server, to pin what the retries do: RETRIES more probes, INTERVAL apart,
/// one connection each, then event 6, within the SPEC's bound and not
/// before RETRIES × INTERVAL.
#[test]
fn failed_probes_are_retried_interval_apart_each_on_a_connection_of_its_own() {
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
}

/// A trickling server fails the probe at TIMEOUT with `select error[110]`
/// (hostile.rs: `http_trickles_the_status_line`, the same server); here:
/// the monitor also lets go of the connection then, not later.
#[test]
fn a_probe_that_times_out_closes_its_connection_at_timeout() {
    let dir = TestDir::new("trickle");
    let server = http_server(LO_ANY, |_| {
        HttpReply::Trickle(b"HTTP/1.1 200 OK\r\n\r\n".to_vec(), secs(1))
    })
    .expect("bind");
    let timing = Timing::new(1, 1, 2);
    let mut monitor = start_monitor(HTTP, &dir, "drip", LO, server.port(), timing, &[]);
    monitor.wait_event(74, secs(2) + MARGIN);
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
}

/// A port where nothing listens fails each probe at once with `connect
/// error[111]` and leaves a failed record (hostile.rs:
/// `http_nothing_listening`, `smtp_nothing_listening`); here: the order of
/// a failed monitor's events, for both commands.
#[test]
fn a_failed_monitor_logs_1_2_each_failed_probe_then_6_in_that_order() {
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
    // Every sleep ends a little after its slot (timer slack, about 1 ms for
    // a wait of a second, scheduling, load), and that lateness must not
    // shift the slots that follow. Natural lateness is too small to tell
    // from noise with a generous bound, so it is made large: the monitor is
    // stopped LEAD before one slot and continued LATE after it, and so wakes
    // from LATE to LATE + LEAD late (a stopped sleep may keep what was left
    // of it), as a sleep that ends late does; less than an INTERVAL late: a
    // later one gives its slot up (see faults.rs). The probes after it must
    // stand on the grid of the first one; a schedule that counted from the
    // late start would put each of them at least LATE off it.
    const LEAD: Duration = Duration::from_millis(150);
    const LATE: Duration = Duration::from_millis(300);
    // Far below LATE, far above what start-up and load add to one probe.
    const OFF_GRID: Duration = Duration::from_millis(150);
    const AFTER: usize = 3;
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
        server.wait_connections(2, secs(1) + MARGIN),
        "2 probes should start within 1 s; stderr:\n{}",
        monitor.stderr_text()
    );
    let origin = server.record(0).expect("first connection").accepted_at;
    let slot = |k: usize| origin + secs(k as u64);
    // The first slot still far enough ahead to stop the monitor before it.
    let late = (2..)
        .find(|&k| slot(k) > Instant::now() + LEAD + ms(100))
        .expect("a slot ahead");
    // Not waits for something to happen: the fault itself, timed.
    std::thread::sleep((slot(late) - LEAD).saturating_duration_since(Instant::now()));
    monitor.signal("STOP");
    std::thread::sleep((slot(late) + LATE).saturating_duration_since(Instant::now()));
    monitor.signal("CONT");
    let probes = late + 1 + AFTER;
    assert!(
        server.wait_connections(probes, secs(AFTER as u64 + 1) + MARGIN),
        "{AFTER} probes should follow the late one within {AFTER} s; stderr:\n{}",
        monitor.stderr_text()
    );
    // Offsets from the grid, in milliseconds; negative would be early.
    let offsets: Vec<i128> = server
        .records()
        .iter()
        .take(probes)
        .enumerate()
        .map(|(k, r)| {
            let grid = slot(k);
            if r.accepted_at >= grid {
                (r.accepted_at - grid).as_millis() as i128
            } else {
                -((grid - r.accepted_at).as_millis() as i128)
            }
        })
        .collect();
    let (late_ms, off_ms) = (LATE.as_millis() as i128, OFF_GRID.as_millis() as i128);
    assert!(
        offsets[late] >= late_ms - 50,
        "probe {late} was not woken late, so this test tested nothing: offsets (ms) {offsets:?}"
    );
    for (k, offset) in offsets.iter().enumerate().filter(|&(k, _)| k != late) {
        assert!(
            -off_ms < *offset && *offset < off_ms,
            "probe {k} started {offset} ms off the 1 s grid (probe {late} woke {late_ms} ms \
             late): the schedule drifts; offsets (ms) {offsets:?}"
        );
    }
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

// ---------------------------------------------------------------------------
// --expect, --host, --contains

/// The first request a server received, once its connection is over.
fn first_request(server: &FakeServer, monitor: &Monitor) -> Vec<u8> {
    assert!(
        wait_until(QUICK, || server.record(0).map_or(false, |r| r.finished)),
        "no complete request; stderr:\n{}",
        monitor.stderr_text()
    );
    server.record(0).expect("first connection").received
}

#[test]
fn expect_lists_the_statuses_that_pass_on_root_too() {
    let dir = TestDir::new("expect");
    // (status, --expect, -h, passes)
    let cases: &[(u16, &str, &str, bool)] = &[
        (503, "200-299", "/", false),
        (200, "200-299", "/", true),
        (301, "200,301", "/", true),
        (302, "200-299,301", "/", false),
        (404, "404", "/missing", true),
        (204, "200", "/health", false),
    ];
    let mut running = Vec::new();
    for (k, &(status, list, uri, passes)) in cases.iter().enumerate() {
        let server = http_status_server(status);
        let id = format!("ex{k}");
        let monitor = start_monitor(
            HTTP,
            &dir,
            &id,
            LO,
            server.port(),
            Timing::new(1, 1, 1),
            &["--expect", list, "-h", uri],
        );
        running.push((monitor, server, id, status, list, passes));
    }
    for (monitor, _server, id, status, list, passes) in running.iter_mut() {
        if *passes {
            let shown = wait_probes(monitor, &dir, id, 2, secs(2) + MARGIN);
            assert_eq!(
                shown.num("failures"),
                Some(0),
                "{status} with --expect {list}"
            );
            assert_eq!(shown.get("expect"), Some(*list), "{}", shown.stdout);
        } else {
            monitor.expect_exit(1, Timing::new(1, 1, 1).bound());
            monitor.assert_logged(&event_body(HTTP, 83, id, &status.to_string()));
        }
    }
}

#[test]
fn host_sets_the_host_header_and_head_is_sent_without_contains() {
    let dir = TestDir::new("hosthdr");
    let server = http_status_server(200);
    let monitor = start_monitor(
        HTTP,
        &dir,
        "vh1",
        LO,
        server.port(),
        FAST,
        &["--host", "www.example.org:8443"],
    );
    let (line, headers) = parse_request(&first_request(&server, &monitor));
    assert_eq!(line, "HEAD / HTTP/1.1");
    assert_eq!(header(&headers, "host"), ["www.example.org:8443"]);
    let shown = disp(HTTP, &dir, "vh1");
    assert_eq!(
        shown.get("host"),
        Some("www.example.org:8443"),
        "{}",
        shown.stdout
    );
}

/// A server that answers every request with `head` and `body`, written in
/// pieces of `piece` bytes (a pause between them, so they arrive apart),
/// then closes, or holds the connection open with `hold`.
fn body_server(head: &str, body: Vec<u8>, piece: usize, hold: bool) -> FakeServer {
    let head = head.as_bytes().to_vec();
    FakeServer::start(LO_ANY, move |conn| {
        if conn.read_until(b"\r\n\r\n", QUICK).is_none() || !conn.send(&head) {
            return;
        }
        for chunk in body.chunks(piece.max(1)) {
            if !conn.send(chunk) {
                return;
            }
            if piece < 16 {
                std::thread::sleep(ms(1));
            }
        }
        if hold {
            conn.hold(HOLD_LIMIT);
        }
    })
    .expect("bind")
}

const CHUNKED: &str = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

/// "Welcome" split over three chunks, sizes in both cases of hex, one with
/// an extension, a trailer after the last.
fn chunked_welcome() -> Vec<u8> {
    b"4\r\nWelc\r\n3;note=split\r\nome\r\nA\r\n to ismon!\r\nc\r\n more text..\r\n0\r\nX-Trailer: 1\r\n\r\n"
        .to_vec()
}

/// Starts a `--contains Welcome` monitor against `server`.
fn contains_monitor(dir: &TestDir, id: &str, server: &FakeServer, timeout: u64) -> Monitor {
    start_monitor(
        HTTP,
        dir,
        id,
        LO,
        server.port(),
        Timing::new(1, 1, timeout),
        &["--contains", "Welcome"],
    )
}

#[test]
fn contains_passes_when_the_body_holds_the_string_however_it_is_sent() {
    let dir = TestDir::new("containsok");
    let page = b"<html><h1>Welcome</h1></html>".to_vec();
    let length = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", page.len());
    let servers = [
        ("cl", body_server(&length, page.clone(), 4096, false)),
        ("cl1byte", body_server(&length, page.clone(), 1, false)),
        (
            "close",
            body_server("HTTP/1.0 200 OK\r\n\r\n", page, 4096, false),
        ),
        (
            "chunked",
            body_server(CHUNKED, chunked_welcome(), 4096, false),
        ),
        (
            "chunked1byte",
            body_server(CHUNKED, chunked_welcome(), 1, false),
        ),
        // Found before the end: the rest is never waited for.
        (
            "open",
            body_server(
                &length.replace("29", "100000"),
                b"..Welcome..".to_vec(),
                4096,
                true,
            ),
        ),
    ];
    let monitors: Vec<(Monitor, &str)> = servers
        .iter()
        .map(|(id, server)| (contains_monitor(&dir, id, server, 2), *id))
        .collect();
    for ((monitor, id), (_, server)) in monitors.iter().zip(servers.iter()) {
        let shown = wait_probes(monitor, &dir, id, 2, secs(2) + MARGIN);
        assert_eq!(
            shown.num("failures"),
            Some(0),
            "{id}: {}",
            monitor.stderr_text()
        );
        let (line, _) = parse_request(&first_request(server, monitor));
        assert_eq!(line, "GET / HTTP/1.1", "{id}");
    }
}

#[test]
fn contains_fails_when_the_string_is_missing_late_or_the_body_is_broken() {
    let dir = TestDir::new("containsbad");
    let mut big = vec![b'x'; 70 * 1024];
    big.extend_from_slice(b"Welcome");
    let endless: Vec<u8> = vec![b'y'; 1024 * 1024];
    let cases = [
        // (id, server, event, what the record says)
        (
            "absent",
            body_server(
                "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n",
                b"Hello there".to_vec(),
                4096,
                false,
            ),
            82,
            "invalid response (the first 11 body bytes lack the string): \"Welcome\"",
        ),
        (
            "pastlimit",
            body_server("HTTP/1.0 200 OK\r\n\r\n", big, 4096, false),
            82,
            "invalid response (the first 65536 body bytes lack the string): \"Welcome\"",
        ),
        (
            "endless",
            body_server("HTTP/1.0 200 OK\r\n\r\n", endless, 4096, true),
            82,
            "invalid response (the first 65536 body bytes lack the string): \"Welcome\"",
        ),
        (
            "lying",
            body_server(
                "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
                b"only ten..".to_vec(),
                4096,
                false,
            ),
            75,
            "recv error[0]",
        ),
        (
            "badhex",
            body_server(CHUNKED, b"zz\r\nWelcome\r\n0\r\n\r\n".to_vec(), 4096, false),
            82,
            "invalid response \"zz\\x0d\\x0aWelcome\\x0d\\x0a0\\x0d\\x0a\\x0d\\x0a\"",
        ),
    ];
    let mut monitors: Vec<Monitor> = cases
        .iter()
        .map(|(id, server, _, _)| contains_monitor(&dir, id, server, 2))
        .collect();
    for ((id, _server, event, result), monitor) in cases.iter().zip(monitors.iter_mut()) {
        let took = monitor.expect_exit(1, Timing::new(1, 1, 2).bound());
        assert!(
            took <= Timing::new(1, 1, 2).bound(),
            "{id}: exit after {took:?}"
        );
        assert!(
            !monitor.event_lines(*event).is_empty(),
            "{id}: event {event}; stderr:\n{}",
            monitor.stderr_text()
        );
        let shown = disp(HTTP, &dir, id);
        assert_eq!(
            shown.get("last_result"),
            Some(*result),
            "{id}: {}",
            shown.stdout
        );
    }
}

/// Whether /proc/net/tcp lists a socket in SYN_SENT (state 02) to
/// 127.0.0.1:`port`.
fn syn_sent_to(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let remote = format!("0100007F:{port:04X}");
    table.lines().skip(1).any(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        f.len() > 3 && f[2] == remote && f[3] == "02"
    })
}

/// The request goes out as connect returns, before the connection is known
/// to be made. A refusal that comes after that (here: the SYN dropped by a
/// full accept queue, the listener closed, the SYN sent again about a
/// second later and refused) is still the connect's failure, as when the
/// probe waited for the connect first: `connect error[111]`, before the
/// deadline, and no send error.
#[test]
fn a_refusal_that_comes_after_connect_returned_is_the_connects_failure() {
    let test = "late_refusal";
    let cmd = Cmd::Http;
    let dir = TestDir::new(test);
    let backlog = match FullBacklog::at("127.0.0.1:0".parse().expect("an address")) {
        Ok(b) => b,
        Err(reason) => return skip(test, &reason),
    };
    let timing = Timing::new(10, 1, 5);
    let monitor = start_monitor(cmd, &dir, test, "127.0.0.1", backlog.port(), timing, &[]);
    let mut waiting = false;
    wait_until(secs(timing.timeout) - MARGIN, || {
        waiting = syn_sent_to(backlog.port());
        waiting
    });
    assert!(waiting, "{test}: the probe's SYN never waited in SYN_SENT");
    let closed = monitor.spawned_at.elapsed();
    drop(backlog);
    let body = event_body(cmd, 72, test, "111");
    let at = monitor.wait_body(&body, secs(timing.timeout) + MARGIN);
    assert!(
        at > closed && at < secs(timing.timeout),
        "{test}: refused {at:?} after the spawn; the listener closed at {closed:?}, \
         the deadline is {}s",
        timing.timeout
    );
    let failures = monitor.event_lines(72);
    assert!(
        failures
            .iter()
            .all(|l| parse_log_line(&l.text()).map_or(false, |p| p.body == body)),
        "{test}: failures other than `{body}`:\n{}",
        monitor.stderr_text()
    );
}
