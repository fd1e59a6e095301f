//! Who may be trusted with the state: a state directory must belong to the
//! caller or to root and be writable by its owner only, and a record must
//! belong to the caller. A start and every verb that writes or signals
//! refuse anything else (event 42, exit 4) before writing or signalling
//! anything; `--disp` still shows the record and says it is not trusted.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use common::*;

const LO: &str = "127.0.0.1";
/// nobody, on Debian and most distributions.
const OTHER_UID: u32 = 65534;

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {path:?}: {e}"));
}

fn chown(path: &Path, uid: u32) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("no NUL in a test path");
    // SAFETY: `c` is NUL-terminated; -1 leaves the group alone.
    let rc = unsafe { libc::chown(c.as_ptr(), uid, u32::MAX) };
    assert_eq!(
        rc,
        0,
        "chown {uid} {path:?}: {}",
        std::io::Error::last_os_error()
    );
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Skips (loudly) a test that must give files away, which only root can.
fn needs_root(test: &str) -> bool {
    if is_root() {
        return true;
    }
    skip(test, "giving a file to another user needs root");
    false
}

/// Refused as not trusted: event 42 with EPERM, exit 4, and the reason.
fn assert_refused(out: &Outcome, cmd: Cmd, what: &str) {
    assert_eq!(out.code, Some(4), "{what}: exit; stderr:\n{}", out.stderr);
    let tag = event_tag(cmd, 42);
    assert!(
        out.stderr.contains(&tag) && out.stderr.contains("(open 1)"),
        "{what}: event 42 (open 1); stderr:\n{}",
        out.stderr
    );
    assert!(out.stderr.contains("refused"), "{what}: {}", out.stderr);
}

/// A start in a state directory of `mode` is refused and writes nothing.
fn start_is_refused_in_a_directory_of_mode(mode: u32) {
    let dir = TestDir::new("dirmode");
    chmod(&dir.state(), mode);
    let server = http_status_server(200);
    for cmd in BOTH {
        let port = server.port_arg();
        let out = run(cmd, &dir, &["t1", "-s", LO, "-n", &port, "-i", "1"]);
        assert_refused(&out, cmd, &format!("start in a {mode:o} directory"));
        assert!(
            out.stderr.contains("writable by group or others"),
            "{}",
            out.stderr
        );
        assert_eq!(dir.state_entries(), Vec::<String>::new(), "nothing written");
        assert_eq!(server.connections(), 0, "no probe");
    }
}

#[test]
fn a_world_writable_state_directory_is_refused() {
    start_is_refused_in_a_directory_of_mode(0o777);
}

#[test]
fn a_sticky_world_writable_state_directory_is_refused() {
    start_is_refused_in_a_directory_of_mode(0o1777);
}

#[test]
fn a_group_writable_state_directory_is_refused() {
    start_is_refused_in_a_directory_of_mode(0o775);
}

#[test]
fn a_state_directory_of_another_user_is_refused() {
    if !needs_root("a_state_directory_of_another_user_is_refused") {
        return;
    }
    let dir = TestDir::new("dirowner");
    chown(&dir.state(), OTHER_UID);
    let out = run(Cmd::Http, &dir, &["t1", "-s", LO, "-n", "1", "-i", "1"]);
    assert_refused(&out, Cmd::Http, "start in another user's directory");
    assert!(
        out.stderr.contains(&format!("belongs to uid {OTHER_UID}")),
        "{}",
        out.stderr
    );
    assert_eq!(dir.state_entries(), Vec::<String>::new(), "nothing written");
}

#[test]
fn a_record_of_another_user_is_refused_by_a_start_and_by_del_and_shown_untrusted() {
    if !needs_root("a_record_of_another_user_is_refused_by_a_start_and_by_del") {
        return;
    }
    let dir = TestDir::new("recowner");
    let server = http_status_server(200);
    let mut monitor = start_monitor(Cmd::Http, &dir, "r1", LO, server.port(), FAST, &[]);
    wait_probes(&monitor, &dir, "r1", 1, QUICK);
    run_expect(Cmd::Http, &dir, &["r1", "--stop"], 0);
    monitor.expect_exit(0, QUICK);
    let record = dir.state().join("r1");
    chown(&record, OTHER_UID);
    let before = fs::read(&record).expect("read the record");

    let port = server.port_arg();
    let out = run(Cmd::Http, &dir, &["r1", "-s", LO, "-n", &port, "-i", "1"]);
    assert_refused(&out, Cmd::Http, "start over another user's record");
    let out = run(Cmd::Http, &dir, &["r1", "--del"]);
    assert_refused(&out, Cmd::Http, "--del of another user's record");
    assert_eq!(fs::read(&record).expect("still there"), before, "untouched");
    assert_eq!(fs::metadata(&record).unwrap().uid(), OTHER_UID);

    let shown = disp(Cmd::Http, &dir, "r1");
    assert_eq!(shown.code, Some(3), "stale: {}", shown.stderr);
    assert_eq!(shown.get("trusted"), Some("no"), "{}", shown.stdout);
    assert_eq!(shown.get("state"), Some("stopped"), "{}", shown.stdout);
    assert!(shown.stderr.contains("not trusted"), "{}", shown.stderr);
}

/// A live monitor whose state becomes untrusted under it: `break_trust`
/// does that; no verb that signals may then touch it.
fn verbs_refuse_a_live_monitor_when(tag: &str, break_trust: fn(&TestDir), mend: fn(&TestDir)) {
    let dir = TestDir::new(tag);
    let server = http_status_server(200);
    let mut monitor = start_monitor(Cmd::Http, &dir, "l1", LO, server.port(), FAST, &[]);
    wait_probes(&monitor, &dir, "l1", 1, QUICK);
    break_trust(&dir);
    for args in [&["l1", "--stop"][..], &["l1", "--pause"], &["l1", "--del"]] {
        let out = run(Cmd::Http, &dir, args);
        assert_refused(&out, Cmd::Http, &format!("{args:?} ({tag})"));
    }
    monitor.assert_running("no verb may signal it");
    let shown = disp(Cmd::Http, &dir, "l1");
    assert_eq!(shown.code, Some(0), "live: {}", shown.stderr);
    assert_eq!(shown.get("trusted"), Some("no"), "{}", shown.stdout);
    assert_eq!(shown.get("state"), Some("monitoring"), "not paused");
    assert_eq!(monitor.event_lines(7).len(), 0, "never paused");
    mend(&dir);
    run_expect(Cmd::Http, &dir, &["l1", "--stop"], 0);
    monitor.expect_exit(0, QUICK);
}

#[test]
fn verbs_refuse_a_live_monitor_in_a_directory_made_world_writable() {
    verbs_refuse_a_live_monitor_when(
        "livedir",
        |dir| chmod(&dir.state(), 0o777),
        |dir| chmod(&dir.state(), 0o755),
    );
}

#[test]
fn verbs_refuse_a_live_monitor_whose_record_was_given_away() {
    if !needs_root("verbs_refuse_a_live_monitor_whose_record_was_given_away") {
        return;
    }
    verbs_refuse_a_live_monitor_when(
        "liverec",
        |dir| chown(&dir.state().join("l1"), OTHER_UID),
        |dir| chown(&dir.state().join("l1"), 0),
    );
}

#[test]
fn a_trusted_record_says_so() {
    let dir = TestDir::new("trusted");
    let server = http_status_server(200);
    let monitor = start_monitor(Cmd::Http, &dir, "ok1", LO, server.port(), FAST, &[]);
    let shown = wait_probes(&monitor, &dir, "ok1", 1, QUICK);
    assert_eq!(shown.get("trusted"), Some("yes"), "{}", shown.stdout);
    assert!(shown.num("process_start").is_some(), "{}", shown.stdout);
    run_expect(Cmd::Http, &dir, &["ok1", "--stop"], 0);
}
