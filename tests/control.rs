//! Identifiers, the state record and the control verbs: `--disp`,
//! `--pause`, `--resume`/`--continue`, `--stop`, `--del`, signals, and the
//! lock that decides which monitor owns an ID.

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

const LO: &str = "127.0.0.1";

#[test]
fn disp_shows_pid_first_and_the_live_monitoring_record() {
    let dir = TestDir::new("disp");
    let server = http_status_server(200);
    let mut monitor = start_monitor(
        Cmd::Http,
        &dir,
        "disp1",
        LO,
        server.port(),
        Timing::new(1, 2, 1),
        &["-v", "1.0", "-h", "/status"],
    );
    let shown = wait_probes(&monitor, &dir, "disp1", 1, QUICK);
    assert_eq!(
        shown.fields.first().map(|(k, _)| k.as_str()),
        Some("pid"),
        "--disp must print pid first:\n{}",
        shown.stdout
    );
    let expected = [
        ("pid", monitor.pid().to_string()),
        ("status", "live".to_string()),
        ("command", "clp_httpmon".to_string()),
        ("id", "disp1".to_string()),
        ("state", "monitoring".to_string()),
        ("server", LO.to_string()),
        ("port", server.port_arg()),
        ("interval", "1".to_string()),
        ("retries", "2".to_string()),
        ("timeout", "1".to_string()),
        ("version", "1.0".to_string()),
        ("uri", "/status".to_string()),
        ("last_result", "ok".to_string()),
        ("failures", "0".to_string()),
    ];
    for (key, value) in &expected {
        assert_eq!(
            shown.get(key),
            Some(value.as_str()),
            "--disp {key}:\n{}",
            shown.stdout
        );
    }
    let order = [
        "pid",
        "status",
        "command",
        "id",
        "state",
        "server",
        "port",
        "interval",
        "retries",
        "timeout",
        "version",
        "uri",
        "started",
        "last_probe",
        "last_result",
        "probes",
        "failures",
        "syslog_dropped",
    ];
    let keys: Vec<&str> = shown
        .fields
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| order.contains(k))
        .collect();
    assert_eq!(keys, order, "--disp key order:\n{}", shown.stdout);
    // The host may have no syslog daemon: lines dropped there are counted.
    assert!(
        shown.num("syslog_dropped").is_some(),
        "syslog_dropped is a count:\n{}",
        shown.stdout
    );

    let record = dir.state().join("disp1");
    let meta = fs::symlink_metadata(&record).expect("the record is <state dir>/<ID>");
    assert!(meta.file_type().is_file(), "{record:?} is a regular file");
    assert_eq!(
        meta.permissions().mode() & 0o7777,
        0o644,
        "mode of {record:?}"
    );

    run_expect(Cmd::Http, &dir, &["disp1", "--stop"], 0);
    monitor.expect_exit(0, QUICK);
}

#[test]
fn smtp_disp_names_its_command_and_has_no_http_fields() {
    let dir = TestDir::new("smtpdisp");
    let server = smtp_server(LO_ANY, |_| SmtpReplies::healthy()).expect("bind");
    let mut monitor = start_monitor(Cmd::Smtp, &dir, "mail1", LO, server.port(), FAST, &[]);
    let shown = wait_probes(&monitor, &dir, "mail1", 1, QUICK);
    assert_eq!(
        shown.get("command"),
        Some("clp_smtpmon"),
        "{}",
        shown.stdout
    );
    assert_eq!(shown.get("state"), Some("monitoring"), "{}", shown.stdout);
    assert_eq!(shown.get("last_result"), Some("ok"), "{}", shown.stdout);
    assert_eq!(shown.get("version"), None, "{}", shown.stdout);
    assert_eq!(shown.get("uri"), None, "{}", shown.stdout);
    run_expect(Cmd::Smtp, &dir, &["mail1", "--stop"], 0);
    monitor.expect_exit(0, QUICK);
    monitor.assert_logged(&event_body(Cmd::Smtp, 3, "mail1", ""));
}

const LO_ANY: &str = "127.0.0.1:0";

#[test]
fn pause_stops_probing_until_resume_and_continue_is_an_alias() {
    let dir = TestDir::new("pause");
    let server = http_status_server(200);
    let mut monitor = start_monitor(Cmd::Http, &dir, "p1", LO, server.port(), FAST, &[]);
    wait_probes(&monitor, &dir, "p1", 1, QUICK);

    run_expect(Cmd::Http, &dir, &["p1", "--pause"], 0);
    let shown = disp(Cmd::Http, &dir, "p1");
    assert_eq!(shown.get("state"), Some("paused"), "{}", shown.stdout);
    assert_eq!(shown.code, Some(0));
    monitor.assert_logged(&event_body(Cmd::Http, 7, "p1", ""));
    let before = server.connections();
    assert!(
        holds_for(secs(2) + Duration::from_millis(500), || server
            .connections()
            == before),
        "a paused monitor probed: {} connections after {before}",
        server.connections()
    );
    monitor.assert_running("paused");

    run_expect(Cmd::Http, &dir, &["p1", "--resume"], 0);
    let shown = disp(Cmd::Http, &dir, "p1");
    assert_eq!(shown.get("state"), Some("monitoring"), "{}", shown.stdout);
    monitor.assert_logged(&event_body(Cmd::Http, 8, "p1", ""));
    assert!(
        server.wait_connections(before + 1, secs(2) + MARGIN),
        "no probe after --resume"
    );

    run_expect(Cmd::Http, &dir, &["p1", "--pause"], 0);
    let paused_at = server.connections();
    run_expect(Cmd::Http, &dir, &["p1", "--continue"], 0);
    let shown = disp(Cmd::Http, &dir, "p1");
    assert_eq!(shown.get("state"), Some("monitoring"), "{}", shown.stdout);
    assert_eq!(
        monitor
            .lines_with_body(&event_body(Cmd::Http, 8, "p1", ""))
            .len(),
        2,
        "--continue should log event 8 like --resume; stderr:\n{}",
        monitor.stderr_text()
    );
    assert!(
        server.wait_connections(paused_at + 1, secs(2) + MARGIN),
        "no probe after --continue"
    );

    // A paused monitor still stops on request.
    run_expect(Cmd::Http, &dir, &["p1", "--pause"], 0);
    run_expect(Cmd::Http, &dir, &["p1", "--stop"], 0);
    monitor.expect_exit(0, QUICK);
}

#[test]
fn resume_starts_from_a_clean_retry_count() {
    let dir = TestDir::new("resume");
    let server = http_status_server(503);
    let timing = Timing::new(2, 3, 1);
    let monitor = start_monitor(
        Cmd::Http,
        &dir,
        "r1",
        LO,
        server.port(),
        timing,
        &["-h", "/health"],
    );
    // Failures at 0 s and 2 s make it "retrying 2/3"; the next slot is 4 s.
    wait_disp(
        Cmd::Http,
        &dir,
        "r1",
        "retrying 2/3",
        secs(4) + MARGIN,
        |d| d.get("state") == Some("retrying 2/3"),
    );
    run_expect(Cmd::Http, &dir, &["r1", "--pause"], 0);
    let shown = disp(Cmd::Http, &dir, "r1");
    assert_eq!(shown.get("state"), Some("paused"), "{}", shown.stdout);
    let probes = shown.num("probes").expect("probes: N");
    run_expect(Cmd::Http, &dir, &["r1", "--resume"], 0);
    let shown = wait_disp(
        Cmd::Http,
        &dir,
        "r1",
        "the first probe after --resume",
        secs(2) + MARGIN,
        |d| d.num("probes").unwrap_or(0) > probes,
    );
    assert_eq!(
        shown.get("state"),
        Some("retrying 1/3"),
        "a failure right after --resume counts from 1:\n{}",
        shown.stdout
    );
    drop(monitor);
}

#[test]
fn stop_ends_the_monitor_with_event_3_and_leaves_a_stale_record_for_del() {
    let dir = TestDir::new("stop");
    let server = http_status_server(200);
    let mut monitor = start_monitor(Cmd::Http, &dir, "s1", LO, server.port(), FAST, &[]);
    wait_probes(&monitor, &dir, "s1", 1, QUICK);

    let stop = run_expect(Cmd::Http, &dir, &["s1", "--stop"], 0);
    assert!(
        stop.elapsed < secs(2),
        "--stop of an idle monitor took {:?}",
        stop.elapsed
    );
    monitor.expect_exit(0, QUICK);
    monitor.assert_logged(&event_body(Cmd::Http, 3, "s1", ""));

    let shown = disp(Cmd::Http, &dir, "s1");
    assert_eq!(
        shown.code,
        Some(3),
        "--disp of an ended monitor:\n{}",
        shown.stdout
    );
    assert_eq!(shown.get("status"), Some("stale"), "{}", shown.stdout);
    assert_eq!(shown.get("state"), Some("stopped"), "{}", shown.stdout);

    run_expect(Cmd::Http, &dir, &["s1", "--stop"], 0);
    run_expect(Cmd::Http, &dir, &["s1", "--del"], 0);
    assert!(
        dir.state_entries().is_empty(),
        "--del left {:?}",
        dir.state_entries()
    );
    let absent = run_expect(Cmd::Http, &dir, &["s1", "--disp"], 3);
    assert!(
        absent.stderr.contains("not running"),
        "--disp of an absent ID: {:?}",
        absent.stderr
    );
    run_expect(Cmd::Http, &dir, &["s1", "--del"], 0);
    run_expect(Cmd::Http, &dir, &["s1", "--stop"], 0);
}

#[test]
fn del_refuses_a_live_record() {
    let dir = TestDir::new("del");
    let server = http_status_server(200);
    let mut monitor = start_monitor(Cmd::Http, &dir, "d1", LO, server.port(), FAST, &[]);
    wait_probes(&monitor, &dir, "d1", 1, QUICK);
    run_expect(Cmd::Http, &dir, &["d1", "--del"], 3);
    assert_eq!(dir.state_entries(), ["d1"]);
    monitor.assert_running("after a refused --del");
    let shown = disp(Cmd::Http, &dir, "d1");
    assert!(shown.is_live(), "{}", shown.stdout);
    run_expect(Cmd::Http, &dir, &["d1", "--stop"], 0);
    monitor.expect_exit(0, QUICK);
}

#[test]
fn verbs_on_an_id_never_started() {
    for cmd in BOTH {
        let dir = TestDir::new("absent");
        run_expect(cmd, &dir, &["ghost", "--disp"], 3);
        run_expect(cmd, &dir, &["ghost", "--pause"], 3);
        run_expect(cmd, &dir, &["ghost", "--resume"], 3);
        run_expect(cmd, &dir, &["ghost", "--continue"], 3);
        run_expect(cmd, &dir, &["ghost", "--stop"], 0);
        run_expect(cmd, &dir, &["ghost", "--stop", "1"], 0);
        run_expect(cmd, &dir, &["ghost", "--del"], 0);
        assert!(
            dir.state_entries().is_empty(),
            "verbs on an absent ID wrote {:?}",
            dir.state_entries()
        );
    }
}

#[test]
fn stop_accepts_wait_in_all_three_spellings() {
    let dir = TestDir::new("stopwait");
    let server = http_status_server(200);
    let spellings: [(&str, &[&str]); 3] = [
        ("w-arg", &["--stop", "5"]),
        ("w-eq", &["--stop=5"]),
        ("w-r", &["--stop", "-r", "5"]),
    ];
    let mut monitors: Vec<Monitor> = spellings
        .iter()
        .map(|(id, _)| start_monitor(Cmd::Http, &dir, id, LO, server.port(), FAST, &[]))
        .collect();
    for ((id, verb), monitor) in spellings.iter().zip(monitors.iter_mut()) {
        wait_probes(monitor, &dir, id, 1, QUICK);
        let mut args = vec![*id];
        args.extend_from_slice(verb);
        run_expect(Cmd::Http, &dir, &args, 0);
        monitor.expect_exit(0, QUICK);
    }
}

#[test]
fn stop_gives_up_on_a_frozen_monitor_with_event_15_and_exit_3() {
    let dir = TestDir::new("frozen");
    let server = http_status_server(200);
    let mut monitor = start_monitor(Cmd::Http, &dir, "f1", LO, server.port(), FAST, &[]);
    wait_probes(&monitor, &dir, "f1", 1, QUICK);
    monitor.signal("STOP");
    let stop = run_expect(Cmd::Http, &dir, &["f1", "--stop", "1"], 3);
    monitor.signal("CONT");
    assert!(
        stop.elapsed >= Duration::from_millis(900) && stop.elapsed < secs(1) + MARGIN,
        "--stop 1 gave up after {:?}",
        stop.elapsed
    );
    let tag = event_tag(Cmd::Http, 15);
    assert!(
        stop.stderr.lines().any(|l| l.contains(&tag)
            && parse_log_line(l).map_or(false, |p| p.body == event_body(Cmd::Http, 15, "f1", ""))),
        "--stop that timed out should log event 15; stderr:\n{}",
        stop.stderr
    );
    // The SIGTERM it sent is delivered once the monitor runs again.
    monitor.expect_exit(0, QUICK);
}

#[test]
fn duplicate_id_is_refused_with_event_14_across_commands() {
    for cmd in BOTH {
        let dir = TestDir::new("dup");
        let server = match cmd {
            Cmd::Http => http_status_server(200),
            Cmd::Smtp => smtp_server(LO_ANY, |_| SmtpReplies::healthy()).expect("bind"),
        };
        let mut first = start_monitor(cmd, &dir, "dup", LO, server.port(), FAST, &[]);
        wait_probes(&first, &dir, "dup", 1, QUICK);
        for second_cmd in [cmd, cmd.other()] {
            let mut second = start_monitor(second_cmd, &dir, "dup", LO, server.port(), FAST, &[]);
            second.expect_exit(3, QUICK);
            second.assert_logged(&event_body(second_cmd, 14, "dup", ""));
        }
        first.assert_running("after refused duplicates");
        let shown = disp(cmd, &dir, "dup");
        assert!(shown.is_live(), "{}", shown.stdout);
        assert_eq!(shown.num("pid"), Some(u64::from(first.pid())));
        assert_eq!(shown.get("command"), Some(cmd.name()));
        run_expect(cmd, &dir, &["dup", "--stop"], 0);
        first.expect_exit(0, QUICK);
    }
}

#[test]
fn verbs_through_the_other_command_are_refused() {
    for owner in BOTH {
        let other = owner.other();
        let dir = TestDir::new("cross");
        let server = match owner {
            Cmd::Http => http_status_server(200),
            Cmd::Smtp => smtp_server(LO_ANY, |_| SmtpReplies::healthy()).expect("bind"),
        };
        let mut monitor = start_monitor(owner, &dir, "x1", LO, server.port(), FAST, &[]);
        wait_probes(&monitor, &dir, "x1", 1, QUICK);
        for verb in [
            "--disp",
            "--pause",
            "--resume",
            "--continue",
            "--del",
            "--stop",
        ] {
            let out = run_expect(other, &dir, &["x1", verb], 3);
            assert!(
                out.stderr.contains(owner.name()),
                "`{} x1 {verb}` should say the ID belongs to {}; stderr: {:?}",
                other.name(),
                owner.name(),
                out.stderr
            );
        }
        monitor.assert_running("after verbs through the other command");
        let shown = disp(owner, &dir, "x1");
        assert!(shown.is_live(), "{}", shown.stdout);
        assert_eq!(shown.get("state"), Some("monitoring"), "{}", shown.stdout);

        // Its stale record stays its own too.
        run_expect(owner, &dir, &["x1", "--stop"], 0);
        monitor.expect_exit(0, QUICK);
        run_expect(other, &dir, &["x1", "--del"], 3);
        assert_eq!(dir.state_entries(), ["x1"]);
        run_expect(owner, &dir, &["x1", "--del"], 0);
    }
}

#[test]
fn sigterm_and_sigint_end_the_monitor_with_event_3_and_exit_0() {
    for (id, signal) in [("term1", "TERM"), ("int1", "INT")] {
        let dir = TestDir::new("signal");
        let server = http_status_server(200);
        let mut monitor = start_monitor(Cmd::Http, &dir, id, LO, server.port(), FAST, &[]);
        wait_probes(&monitor, &dir, id, 1, QUICK);
        monitor.signal(signal);
        monitor.expect_exit(0, secs(2));
        monitor.assert_logged(&event_body(Cmd::Http, 3, id, ""));
    }
}

#[test]
fn sighup_does_not_end_the_monitor() {
    let dir = TestDir::new("hup");
    let server = http_status_server(200);
    let mut monitor = start_monitor(Cmd::Http, &dir, "hup1", LO, server.port(), FAST, &[]);
    wait_probes(&monitor, &dir, "hup1", 1, QUICK);
    monitor.signal("HUP");
    assert!(
        holds_for(secs(1), || monitor.is_running()),
        "SIGHUP ended the monitor: {:?}; stderr:\n{}",
        monitor.poll_exit(),
        monitor.stderr_text()
    );
    run_expect(Cmd::Http, &dir, &["hup1", "--stop"], 0);
    monitor.expect_exit(0, QUICK);
}

#[test]
fn missing_state_dir_is_created_with_mode_0755() {
    let dir = TestDir::without_state("mkstate");
    assert!(!dir.state().exists());
    let server = http_status_server(200);
    let mut monitor = start_monitor(Cmd::Http, &dir, "mk1", LO, server.port(), FAST, &[]);
    wait_probes(&monitor, &dir, "mk1", 1, QUICK);
    let meta = fs::symlink_metadata(dir.state()).expect("state dir created");
    assert!(meta.file_type().is_dir() && !meta.file_type().is_symlink());
    assert_eq!(meta.permissions().mode() & 0o7777, 0o755);
    run_expect(Cmd::Http, &dir, &["mk1", "--stop"], 0);
    monitor.expect_exit(0, QUICK);
}
