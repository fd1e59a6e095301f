//! The ExpressCluster exec resource templates in contrib/expresscluster/,
//! run as the cluster runs them: copied, their settings block edited the
//! way an administrator edits it, and started with the CLP_EVENT, CLP_DISK
//! and CLP_SERVER values the cluster sets, against a fake server on
//! loopback. start.sh must run the monitor in its foreground and end with
//! the monitor's status; stop.sh must stop it.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// The templates of one command, copied with their settings set for a test:
/// the ID, the fake server's port, short timings, and a PATH that finds the
/// commands under test first.
struct Scripts {
    start: PathBuf,
    stop: PathBuf,
}

impl Scripts {
    fn install(cmd: Cmd, dir: &TestDir, id: &str, port: u16) -> Scripts {
        let template = match cmd {
            Cmd::Http => "http-monitor",
            Cmd::Smtp => "smtp-monitor",
        };
        let source = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("contrib/expresscluster")
            .join(template);
        let bin_dir = Path::new(cmd.exe())
            .parent()
            .expect("the binary's directory");
        let target = dir.root().join(template);
        fs::create_dir_all(&target).unwrap();
        let mut paths = Vec::new();
        for name in ["start.sh", "stop.sh"] {
            let text = fs::read_to_string(source.join(name)).unwrap();
            let mut edited = Vec::new();
            let mut set = Vec::new();
            for line in text.lines() {
                let setting = line.split('=').next().unwrap_or("");
                let value = match setting {
                    "PATH" => Some(format!(
                        "{}:/usr/sbin:/usr/bin:/sbin:/bin",
                        bin_dir.display()
                    )),
                    "MON_ID" => Some(id.to_owned()),
                    "PORT" => Some(port.to_string()),
                    "INTERVAL" | "RETRIES" | "TIMEOUT" => Some("1".to_owned()),
                    "STOP_WAIT" => Some("5".to_owned()),
                    _ => None,
                };
                match value {
                    Some(v) if !line.starts_with(' ') && !line.starts_with('\t') => {
                        set.push(setting.to_owned());
                        edited.push(format!("{setting}={v}"));
                    }
                    _ => edited.push(line.to_owned()),
                }
            }
            // The templates keep their settings where this test looks.
            assert!(
                set.contains(&"PATH".to_owned()),
                "{name}: no PATH line to set"
            );
            assert!(
                set.contains(&"MON_ID".to_owned()),
                "{name}: no MON_ID setting"
            );
            let path = target.join(name);
            fs::write(&path, edited.join("\n") + "\n").unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
            paths.push(path);
        }
        Scripts {
            start: paths[0].clone(),
            stop: paths[1].clone(),
        }
    }

    fn command(&self, script: &Path, dir: &TestDir, env: &[(&str, &str)]) -> Command {
        let mut command = Command::new("sh");
        command.arg(script).env("ISMON_STATE_DIR", dir.state());
        for var in ["CLP_EVENT", "CLP_DISK", "CLP_SERVER"] {
            command.env_remove(var);
        }
        for (k, v) in env {
            command.env(k, v);
        }
        command
    }
}

const START_HOME: &[(&str, &str)] = &[
    ("CLP_EVENT", "START"),
    ("CLP_DISK", "SUCCESS"),
    ("CLP_SERVER", "HOME"),
];
const FAILOVER_OTHER: &[(&str, &str)] = &[
    ("CLP_EVENT", "FAILOVER"),
    ("CLP_DISK", "SUCCESS"),
    ("CLP_SERVER", "OTHER"),
];

/// start.sh runs the monitor until stop.sh stops it; both end 0, and the
/// branch the cluster's variables select is the one taken.
fn start_then_stop(cmd: Cmd, port: u16, tag: &str, env: &[(&str, &str)], branch: &[&str]) {
    let dir = TestDir::new(tag);
    let scripts = Scripts::install(cmd, &dir, tag, port);
    let mut start = Monitor::spawn(cmd, scripts.command(&scripts.start, &dir, env));
    let live = wait_disp(
        cmd,
        &dir,
        tag,
        "a live monitor with a good probe",
        QUICK,
        |d| {
            d.is_live()
                && d.num("probes").map_or(false, |n| n >= 1)
                && d.get("failures") == Some("0")
        },
    );
    assert_eq!(live.get("state"), Some("monitoring"));
    let stop = run_command(scripts.command(&scripts.stop, &dir, env), VERB_LIMIT);
    assert_eq!(
        stop.code,
        Some(0),
        "stop.sh: {}{}",
        stop.stdout,
        stop.stderr
    );
    start.expect_exit(0, QUICK);
    assert_logged(&start, &event_body(cmd, 3, tag, ""));
    assert!(
        !disp(cmd, &dir, tag).is_live(),
        "the monitor outlived stop.sh"
    );
    // start.sh's standard output went to /dev/null in Monitor::spawn; its
    // branch shows in stop.sh's, which takes the same one.
    for word in branch {
        assert!(
            stop.stdout.contains(word),
            "stop.sh did not take the {word} branch:\n{}",
            stop.stdout
        );
    }
}

/// The monitor is start.sh's child, not the process the test spawned, so
/// `Monitor::assert_logged` (which checks the line's PID) does not apply.
fn assert_logged(start: &Monitor, body: &str) {
    let text = start.stderr_text();
    assert!(
        text.lines().any(|l| l.ends_with(body)),
        "start.sh's output lacks `{body}`:\n{text}"
    );
}

#[test]
fn http_start_sh_runs_the_monitor_until_stop_sh_stops_it() {
    let server = http_status_server(200);
    start_then_stop(
        Cmd::Http,
        server.port(),
        "ecx-http-home",
        START_HOME,
        &["NORMAL1", "NORMAL2"],
    );
}

#[test]
fn smtp_start_sh_runs_the_monitor_until_stop_sh_stops_it_after_a_failover() {
    let server = smtp_server("127.0.0.1:0", |_| SmtpReplies::healthy()).expect("bind");
    start_then_stop(
        Cmd::Smtp,
        server.port(),
        "ecx-smtp-fo",
        FAILOVER_OTHER,
        &["FAILOVER1", "ON_OTHER2"],
    );
}

#[test]
fn start_sh_ends_with_status_1_when_the_server_fails() {
    for cmd in BOTH {
        let dir = TestDir::new("ecx-fail");
        let id = format!("ecx-fail-{}", cmd.kind());
        let scripts = Scripts::install(cmd, &dir, &id, closed_port());
        let mut start = Monitor::spawn(cmd, scripts.command(&scripts.start, &dir, START_HOME));
        // -i 1 -c 1 -r 1: a dead server ends the monitor within 1 + 1 s.
        start.expect_exit(1, detection_bound(1, 1, 1) + MARGIN);
        assert_logged(&start, &event_body(cmd, 6, &id, ""));
    }
}

#[test]
fn start_sh_starts_nothing_without_the_shared_disk_or_outside_the_cluster() {
    for (env, says) in [
        (
            &[
                ("CLP_EVENT", "START"),
                ("CLP_DISK", "FAILURE"),
                ("CLP_SERVER", "HOME"),
            ][..],
            "ERROR_DISK from START",
        ),
        (
            &[
                ("CLP_EVENT", "FAILOVER"),
                ("CLP_DISK", "FAILURE"),
                ("CLP_SERVER", "OTHER"),
            ][..],
            "ERROR_DISK from FAILOVER",
        ),
        (&[][..], "NO_CLP"),
    ] {
        for cmd in BOTH {
            let dir = TestDir::new("ecx-none");
            let server = http_status_server(200);
            let scripts = Scripts::install(cmd, &dir, "ecx-none", server.port());
            let out = run_command(scripts.command(&scripts.start, &dir, env), QUICK);
            assert_eq!(out.code, Some(0), "{env:?}: {}{}", out.stdout, out.stderr);
            assert!(
                out.stdout.contains(says) && out.stdout.contains("EXIT"),
                "{env:?}: {}",
                out.stdout
            );
            assert!(
                dir.state_entries().is_empty(),
                "{env:?}: a monitor was started: {:?}",
                dir.state_entries()
            );
            // stop.sh is safe whether or not start.sh started anything.
            let stop = run_command(scripts.command(&scripts.stop, &dir, env), QUICK);
            assert_eq!(
                stop.code,
                Some(0),
                "{env:?}: stop.sh: {}{}",
                stop.stdout,
                stop.stderr
            );
        }
    }
}
