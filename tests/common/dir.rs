//! A private directory per test, whose `state/` the commands use.

use std::env;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::Cmd;

/// A directory of its own under the system temp dir, removed on drop. The
/// commands get `<root>/state` as `ISMON_STATE_DIR`, so a file written
/// outside the state dir (an ID with `..`) shows up in `<root>`.
pub struct TestDir {
    root: PathBuf,
}

impl TestDir {
    /// Creates `<tmp>/ismon-test-<pid>-<n>-<tag>/state`.
    pub fn new(tag: &str) -> TestDir {
        let dir = TestDir::without_state(tag);
        fs::create_dir(dir.state()).expect("create the test's state dir");
        // Whatever the umask: a state directory writable by group or
        // others is refused.
        fs::set_permissions(dir.state(), fs::Permissions::from_mode(0o755))
            .expect("chmod the test's state dir");
        dir
    }

    /// Like `new`, but leaves `state` for the command to create.
    pub fn without_state(tag: &str) -> TestDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let root = env::temp_dir().join(format!(
            "ismon-test-{}-{}-{}-{}",
            std::process::id(),
            n,
            nanos,
            tag
        ));
        fs::create_dir(&root).expect("create the test's private temp dir");
        TestDir { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn state(&self) -> PathBuf {
        self.root.join("state")
    }

    /// Names in `dir`, sorted; empty when it does not exist.
    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = match fs::read_dir(dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        };
        names.sort();
        names
    }

    pub fn state_entries(&self) -> Vec<String> {
        TestDir::names_in(&self.state())
    }

    pub fn root_entries(&self) -> Vec<String> {
        TestDir::names_in(&self.root)
    }

    /// A command with `ISMON_STATE_DIR` pointing at this test's state dir.
    pub fn command(&self, cmd: Cmd) -> Command {
        let mut command = Command::new(cmd.exe());
        command.env("ISMON_STATE_DIR", self.state());
        command
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// PIDs of the processes whose environment carries this state dir: anything
/// a command of this test left running, forked daemons included.
pub fn pids_using_state_dir(dir: &TestDir) -> Vec<u32> {
    let mut wanted = b"ISMON_STATE_DIR=".to_vec();
    wanted.extend_from_slice(dir.state().as_os_str().as_bytes());
    let mut pids = Vec::new();
    let entries = match fs::read_dir("/proc") {
        Ok(entries) => entries,
        Err(_) => return pids,
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let pid: u32 = match entry.file_name().to_str().and_then(|s| s.parse().ok()) {
            Some(pid) => pid,
            None => continue,
        };
        if let Ok(environ) = fs::read(entry.path().join("environ")) {
            if environ
                .split(|&b| b == 0)
                .any(|var| var == wanted.as_slice())
            {
                pids.push(pid);
            }
        }
    }
    pids
}
