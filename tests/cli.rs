//! The command line: what is refused (exit 2, event 11 or 13 and a second
//! line naming the option, nothing written, nothing left running), what is
//! accepted, `--help` and `--version`.

mod common;

use common::*;
use std::ffi::OsString;

/// One command line that must be refused.
struct Refused {
    args: Vec<OsString>,
    /// Either of these events is acceptable.
    events: &'static [u32],
    /// The second line must contain one of these (the option it names).
    names: &'static [&'static str],
}

const ID_NAMES: &[&str] = &["ID", "identifier"];

fn refused(args: &[&str], names: &'static [&'static str]) -> Refused {
    Refused {
        args: args.iter().map(OsString::from).collect(),
        events: &[11],
        names,
    }
}

fn refused_owned(args: Vec<String>, names: &'static [&'static str]) -> Refused {
    Refused {
        args: args.into_iter().map(OsString::from).collect(),
        events: &[11],
        names,
    }
}

fn describe(args: &[OsString]) -> String {
    let shown: Vec<String> = args
        .iter()
        .map(|a| {
            let text = format!("{a:?}");
            if text.len() > 40 {
                format!("{}…({} bytes)", &text[..30], a.len())
            } else {
                text
            }
        })
        .collect();
    shown.join(" ")
}

/// Runs one refused command line in a fresh state dir; returns what was
/// wrong, if anything.
fn check_refused(cmd: Cmd, case: &Refused) -> Option<String> {
    let dir = TestDir::new("cli");
    let mut command = dir.command(cmd);
    command.args(&case.args);
    let out = run_command(command, QUICK);
    let mut problems = Vec::new();

    if out.timed_out {
        problems.push(format!("still running after {QUICK:?} (it started?)"));
    } else if out.code != Some(2) {
        problems.push(format!("exit {:?}, want 2", out.code));
    }

    let lines = out.stderr_lines();
    let tags: Vec<String> = case.events.iter().map(|&e| event_tag(cmd, e)).collect();
    match lines
        .iter()
        .position(|l| tags.iter().any(|t| l.contains(t.as_str())))
    {
        None => problems.push(format!("no line with {tags:?}")),
        Some(at) => {
            match parse_log_line(lines[at]) {
                None => problems.push(format!("event line not in log layout: {:?}", lines[at])),
                Some(first) => {
                    if first.ident != cmd.name() || first.pid != out.pid {
                        problems.push(format!(
                            "event line names {}[{}], want {}[{}]",
                            first.ident,
                            first.pid,
                            cmd.name(),
                            out.pid
                        ));
                    }
                    let invalid = format!(
                        "{} The parameter value of the {} is invalid.",
                        event_tag(cmd, 11),
                        cmd.name()
                    );
                    let no_id = event_body(cmd, 13, "", "");
                    if !(first.body.starts_with(&invalid) || first.body == no_id) {
                        problems.push(format!("event text is {:?}", first.body));
                    }
                }
            }
            match lines.get(at + 1).map(|l| (l, parse_log_line(l))) {
                None => problems.push("no second line naming the option".to_string()),
                Some((raw, None)) => {
                    problems.push(format!("second line not in log layout: {raw:?}"))
                }
                Some((raw, Some(second))) => {
                    if second.ident != cmd.name() || second.pid != out.pid {
                        problems.push(format!("second line from another process: {raw:?}"));
                    }
                    if !case.names.iter().any(|n| second.body.contains(n)) {
                        problems.push(format!(
                            "second line {:?} names none of {:?}",
                            second.body, case.names
                        ));
                    }
                }
            }
        }
    }

    if dir.root_entries() != ["state"] || !dir.state_entries().is_empty() {
        problems.push(format!(
            "files written: root {:?}, state {:?}",
            dir.root_entries(),
            dir.state_entries()
        ));
    }
    let left = pids_using_state_dir(&dir);
    if !left.is_empty() {
        problems.push(format!("processes left running: {left:?}"));
        for pid in left {
            // Only processes carrying this test's private state dir.
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
        }
    }

    if problems.is_empty() {
        None
    } else {
        Some(format!(
            "`{} {}`: {}\n  stderr: {:?}",
            cmd.name(),
            describe(&case.args),
            problems.join("; "),
            out.stderr
        ))
    }
}

fn assert_all_refused(commands: &[Cmd], cases: &[Refused]) {
    let failures: Vec<String> = commands
        .iter()
        .flat_map(|&cmd| {
            cases
                .iter()
                .filter_map(move |case| check_refused(cmd, case))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} command lines were not refused as they should be:\n{}",
        failures.len(),
        commands.len() * cases.len(),
        failures.join("\n")
    );
}

#[test]
fn out_of_range_and_malformed_numbers_are_refused_naming_the_option() {
    let cases = vec![
        refused(&["n1", "-i", "0"], &["-i"]),
        refused(&["n1", "-i", "10001"], &["-i"]),
        refused(&["n1", "-i", "abc"], &["-i"]),
        refused(&["n1", "-i", "-1"], &["-i"]),
        refused(&["n1", "-i", "+5"], &["-i"]),
        refused(&["n1", "-i", " 5"], &["-i"]),
        refused(&["n1", "-i", "5s"], &["-i"]),
        refused(&["n1", "-i", "1.5"], &["-i"]),
        refused(&["n1", "-i", ""], &["-i"]),
        refused(&["n1", "-i", "99999999999999999999999"], &["-i"]),
        refused(&["n1", "-i"], &["-i"]),
        refused(&["n1", "-n", "0"], &["-n"]),
        refused(&["n1", "-n", "65536"], &["-n"]),
        refused(&["n1", "-n", "-5"], &["-n"]),
        refused(&["n1", "-c", "0"], &["-c"]),
        refused(&["n1", "-c", "10001"], &["-c"]),
        refused(&["n1", "-r", "0"], &["-r"]),
        refused(&["n1", "-r", "10001"], &["-r"]),
        refused(&["n1", "-t", "0"], &["-t", "-r"]),
        refused(&["n1", "-t", "10001"], &["-t", "-r"]),
    ];
    assert_all_refused(&BOTH, &cases);
}

#[test]
fn malformed_server_values_are_refused_naming_the_option() {
    let cases = vec![
        refused_owned(vec!["s1".into(), "-s".into(), "a".repeat(256)], &["-s"]),
        refused(&["s1", "-s", ""], &["-s"]),
        refused(&["s1", "-s", "mail host"], &["-s"]),
        refused(&["s1", "-s", "host\r\nX-Injected: 1"], &["-s"]),
        refused(&["s1", "-s", "host/path"], &["-s"]),
    ];
    assert_all_refused(&BOTH, &cases);
}

#[test]
fn malformed_uri_and_version_are_refused_by_clp_httpmon_naming_the_option() {
    let cases = vec![
        refused(&["u1", "-h", "index.html"], &["-h"]),
        refused(&["u1", "-h", "/a b"], &["-h"]),
        refused(&["u1", "-h", "/a\tb"], &["-h"]),
        refused(&["u1", "-h", "/a\r\nX-Injected: 1"], &["-h"]),
        refused(&["u1", "-h", "/a\x7f"], &["-h"]),
        refused(&["u1", "-h", ""], &["-h"]),
        refused_owned(
            vec!["u1".into(), "-h".into(), format!("/{}", "a".repeat(255))],
            &["-h"],
        ),
        refused(&["u1", "-v", "2.0"], &["-v"]),
        refused(&["u1", "-v", "1"], &["-v"]),
        refused(&["u1", "-v", "1.1 "], &["-v"]),
        refused(&["u1", "-v", "HTTP/1.1"], &["-v"]),
    ];
    assert_all_refused(&[Cmd::Http], &cases);
}

#[test]
fn http_only_options_are_refused_by_clp_smtpmon() {
    let cases = vec![
        refused(&["m1", "-v", "1.1"], &["-v"]),
        refused(&["m1", "-v", "1.0"], &["-v"]),
        refused(&["m1", "-h", "/"], &["-h"]),
        refused(&["m1", "-h", "/index.html", "-n", "25"], &["-h"]),
    ];
    assert_all_refused(&[Cmd::Smtp], &cases);
}

#[test]
fn malformed_identifiers_are_refused_without_touching_the_filesystem() {
    let cases = vec![
        refused_owned(vec!["a".repeat(256)], ID_NAMES),
        refused_owned(vec![format!("{}-_9", "b".repeat(253))], ID_NAMES),
        refused(&["a/b"], ID_NAMES),
        refused(&[".."], ID_NAMES),
        refused(&["."], ID_NAMES),
        refused(&["../escape"], ID_NAMES),
        refused(&["/tmp/abs"], ID_NAMES),
        refused(&["web.1"], ID_NAMES),
        refused(&["web 1"], ID_NAMES),
        refused(&["web1\n"], ID_NAMES),
        refused(&["web*"], ID_NAMES),
        Refused {
            args: vec![OsString::from("")],
            events: &[11, 13],
            names: &["ID", "identifier", "sage"],
        },
    ];
    assert_all_refused(&BOTH, &cases);
}

#[test]
fn missing_identifier_is_refused_with_event_13() {
    let no_id = |args: &[&str]| Refused {
        args: args.iter().map(OsString::from).collect(),
        events: &[13],
        names: &["ID", "identifier", "sage"],
    };
    let cases = vec![
        no_id(&[]),
        no_id(&["-i", "5"]),
        no_id(&["-s", "127.0.0.1", "-n", "8080"]),
        no_id(&["--stop"]),
        no_id(&["--disp"]),
    ];
    assert_all_refused(&BOTH, &cases);
}

#[test]
fn unknown_duplicate_and_conflicting_options_are_refused() {
    let cases = vec![
        refused(&["o1", "-x", "1"], &["-x"]),
        refused(&["o1", "--bogus"], &["--bogus"]),
        refused(&["o1", "-i", "5", "-i", "6"], &["-i"]),
        refused(&["o1", "-n", "80", "-n", "80"], &["-n"]),
        refused(&["o1", "-r", "5", "-t", "5"], &["-r", "-t"]),
        refused(&["o1", "o2"], &["o2"]),
        refused(&["o1", "-i", "5", "junk"], &["junk"]),
        refused(&["o1", "--", "junk"], &["junk"]),
    ];
    assert_all_refused(&BOTH, &cases);
}

#[test]
fn verbs_with_probe_options_or_other_verbs_are_refused() {
    const STOP_NAMES: &[&str] = &["--stop", "-r", "WAIT"];
    let cases = vec![
        refused(&["v1", "--stop", "-i", "5"], &["-i", "--stop"]),
        refused(&["v1", "--stop", "-s", "127.0.0.1"], &["-s", "--stop"]),
        refused(&["v1", "--pause", "-n", "80"], &["-n", "--pause"]),
        refused(&["v1", "--disp", "-c", "3"], &["-c", "--disp"]),
        refused(&["v1", "--del", "-r", "5"], &["-r", "--del"]),
        refused(&["v1", "--resume", "-t", "5"], &["-t", "--resume"]),
        refused(&["v1", "--stop", "--pause"], &["--stop", "--pause"]),
        refused(&["v1", "--disp", "--del"], &["--disp", "--del"]),
        refused(
            &["v1", "--resume", "--continue"],
            &["--resume", "--continue"],
        ),
        refused(&["v1", "--stop", "--stop"], &["--stop"]),
        refused(&["v1", "--disp", "junk"], &["junk"]),
        refused(&["v1", "--stop", "0"], STOP_NAMES),
        refused(&["v1", "--stop", "10001"], STOP_NAMES),
        refused(&["v1", "--stop", "abc"], STOP_NAMES),
        refused(&["v1", "--stop=0"], STOP_NAMES),
        refused(&["v1", "--stop", "-r", "0"], STOP_NAMES),
        refused(&["v1", "--stop", "5", "-r", "5"], STOP_NAMES),
        refused(&["v1", "--stop", "5", "6"], &["6", "--stop", "WAIT"]),
    ];
    assert_all_refused(&BOTH, &cases);
}

#[test]
fn non_utf8_arguments_are_refused() {
    // The second line names the option, or shows the offending argument
    // escaped as the contract escapes bytes (`\xff`), not as what a lossy
    // conversion made of it.
    let cases = vec![
        Refused {
            args: vec![os(b"w\xff1")],
            events: &[11],
            names: &["ID", "identifier", "w\\xff1"],
        },
        Refused {
            args: vec![os(b"w1"), os(b"-s"), os(b"h\xffst")],
            events: &[11],
            names: &["-s", "h\\xffst"],
        },
        Refused {
            args: vec![os(b"w1"), os(b"-i"), os(b"7\xff")],
            events: &[11],
            names: &["-i", "7\\xff"],
        },
    ];
    assert_all_refused(&BOTH, &cases);
}

#[test]
fn help_and_version_exit_0_and_write_no_state() {
    for cmd in BOTH {
        let dir = TestDir::new("help");
        let help = run_expect(cmd, &dir, &["--help"], 0);
        assert!(
            help.stdout.contains(cmd.name()) && help.stdout.contains("--stop"),
            "{} --help should print its usage on stdout, got:\n{}",
            cmd.name(),
            help.stdout
        );
        let version = run_expect(cmd, &dir, &["--version"], 0);
        assert_eq!(
            version.stdout.trim_end(),
            format!("{} (ismon) {}", cmd.name(), env!("CARGO_PKG_VERSION")),
            "{} --version",
            cmd.name()
        );
        assert!(
            dir.state_entries().is_empty(),
            "{} --help/--version wrote {:?}",
            cmd.name(),
            dir.state_entries()
        );
        assert!(pids_using_state_dir(&dir).is_empty());
    }
}

#[test]
fn id_of_255_bytes_works_end_to_end() {
    let dir = TestDir::new("id255");
    let server = http_status_server(200);
    let id = format!("{}-_9Zz", "a".repeat(250));
    assert_eq!(id.len(), 255);
    let port = server.port_arg();
    let mut monitor = Monitor::start(
        Cmd::Http,
        &dir,
        &[
            &id,
            "-s",
            "127.0.0.1",
            "-n",
            &port,
            "-i",
            "1",
            "-c",
            "1",
            "-r",
            "1",
        ],
    );
    let shown = wait_disp(Cmd::Http, &dir, &id, "live", QUICK, |d| {
        d.is_live() && d.num("probes").unwrap_or(0) >= 1
    });
    assert_eq!(shown.get("id"), Some(id.as_str()));
    assert_eq!(shown.num("pid"), Some(u64::from(monitor.pid())));
    monitor.assert_logged(&event_body(Cmd::Http, 1, &id, ""));
    run_expect(Cmd::Http, &dir, &[&id, "--stop"], 0);
    monitor.expect_exit(0, QUICK);
    monitor.assert_logged(&event_body(Cmd::Http, 3, &id, ""));
}

#[test]
fn accepted_spellings_start_a_monitor() {
    let dir = TestDir::new("spellings");
    let server = http_status_server(200);
    let port = server.port_arg();
    let spellings: Vec<(&str, Vec<&str>, &str, &str)> = vec![
        // (id, arguments, expected interval, expected timeout)
        (
            "opts-first",
            vec!["-s", "127.0.0.1", "-n", &port, "-i", "1", "opts-first"],
            "1",
            "10",
        ),
        (
            "leading-zeros",
            vec![
                "leading-zeros",
                "-s",
                "127.0.0.1",
                "-n",
                &port,
                "-i",
                "01",
                "-r",
                "007",
            ],
            "1",
            "7",
        ),
        (
            "t-alias",
            vec![
                "t-alias",
                "-s",
                "127.0.0.1",
                "-n",
                &port,
                "-t",
                "3",
                "-i",
                "1",
            ],
            "1",
            "3",
        ),
        (
            "dashdash",
            vec!["-s", "127.0.0.1", "-n", &port, "-i", "1", "--", "dashdash"],
            "1",
            "10",
        ),
    ];
    let mut monitors = Vec::new();
    for (_, args, _, _) in &spellings {
        monitors.push(Monitor::start(Cmd::Http, &dir, args));
    }
    for ((id, args, interval, timeout), monitor) in spellings.iter().zip(monitors.iter_mut()) {
        let shown = wait_disp(Cmd::Http, &dir, id, "live", QUICK, |d| d.is_live());
        assert_eq!(shown.num("pid"), Some(u64::from(monitor.pid())), "{args:?}");
        assert_eq!(shown.get("interval"), Some(*interval), "{args:?}");
        assert_eq!(shown.get("timeout"), Some(*timeout), "{args:?}");
        assert_eq!(shown.get("port"), Some(port.as_str()), "{args:?}");
    }
    for ((id, _, _, _), monitor) in spellings.iter().zip(monitors.iter_mut()) {
        run_expect(Cmd::Http, &dir, &[id, "--stop"], 0);
        monitor.expect_exit(0, QUICK);
    }
}

#[test]
fn malformed_values_of_the_long_options_are_refused_naming_the_option() {
    let both = vec![
        refused(&["l1", "--retry-interval", "0"], &["--retry-interval"]),
        refused(&["l1", "--retry-interval", "10001"], &["--retry-interval"]),
        refused(&["l1", "--retry-interval", "-1"], &["--retry-interval"]),
        refused(&["l1", "--retry-interval", "5s"], &["--retry-interval"]),
        refused(&["l1", "--retry-interval", ""], &["--retry-interval"]),
        refused(&["l1", "--retry-interval"], &["--retry-interval"]),
        refused(&["l1", "--grace", "10001"], &["--grace"]),
        refused(&["l1", "--grace", "x"], &["--grace"]),
        refused(&["l1", "--grace", "1.5"], &["--grace"]),
        refused(&["l1", "--grace", "1", "--grace", "2"], &["--grace"]),
        refused(&["l1", "--stop", "--grace", "1"], &["--grace"]),
        refused(
            &["l1", "--disp", "--retry-interval", "1"],
            &["--retry-interval"],
        ),
    ];
    assert_all_refused(&BOTH, &both);
    let http = vec![
        refused(&["e1", "--expect", ""], &["--expect"]),
        refused(&["e1", "--expect", "99"], &["--expect"]),
        refused(&["e1", "--expect", "600"], &["--expect"]),
        refused(&["e1", "--expect", "099"], &["--expect"]),
        refused(&["e1", "--expect", "200-"], &["--expect"]),
        refused(&["e1", "--expect", "-200"], &["--expect"]),
        refused(&["e1", "--expect", "299-200"], &["--expect"]),
        refused(&["e1", "--expect", "200,,301"], &["--expect"]),
        refused(&["e1", "--expect", "200, 301"], &["--expect"]),
        refused(&["e1", "--expect", "2xx"], &["--expect"]),
        refused(&["e1", "--expect", "200-299-300"], &["--expect"]),
        refused_owned(
            vec!["e1".into(), "--expect".into(), vec!["200"; 33].join(",")],
            &["--expect"],
        ),
        refused(&["h1", "--host", ""], &["--host"]),
        refused(&["h1", "--host", "a b"], &["--host"]),
        refused(&["h1", "--host", "host\r\nX-Injected: 1"], &["--host"]),
        refused(&["h1", "--host", "host:0"], &["--host"]),
        refused(&["h1", "--host", "host:65536"], &["--host"]),
        refused(&["h1", "--host", "host:"], &["--host"]),
        refused(&["h1", "--host", "::1"], &["--host"]),
        refused(&["h1", "--host", "[::1"], &["--host"]),
        refused(&["h1", "--host", "[::1]x"], &["--host"]),
        refused(&["h1", "--host", "-lead"], &["--host"]),
        refused(&["h1", "--host", "a/b"], &["--host"]),
        refused_owned(
            vec!["h1".into(), "--host".into(), "a".repeat(256)],
            &["--host"],
        ),
        refused(&["c1", "--contains", ""], &["--contains"]),
        refused(&["c1", "--contains", "tab\there"], &["--contains"]),
        refused(&["c1", "--contains", "line\r\nbreak"], &["--contains"]),
        refused(&["c1", "--contains", "del\x7f"], &["--contains"]),
        refused_owned(
            vec!["c1".into(), "--contains".into(), "a".repeat(256)],
            &["--contains"],
        ),
        refused(
            &["c1", "--contains", "a", "--contains", "b"],
            &["--contains"],
        ),
        refused(&["c1", "--pause", "--contains", "a"], &["--contains"]),
    ];
    assert_all_refused(&[Cmd::Http], &http);
}

#[test]
fn http_only_long_options_are_refused_by_clp_smtpmon() {
    let cases = vec![
        refused(&["m1", "--expect", "200"], &["--expect"]),
        refused(&["m1", "--host", "mail.example"], &["--host"]),
        refused(&["m1", "--contains", "ESMTP"], &["--contains"]),
    ];
    assert_all_refused(&[Cmd::Smtp], &cases);
}
