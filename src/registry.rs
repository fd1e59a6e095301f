//! The per-ID state files: one file per ID in the state directory, named
//! exactly as the ID, flocked exclusively by the running monitor for its whole
//! life. Liveness is that lock, never a PID: a monitor killed with `kill -9`
//! leaves a file nobody holds, which the next start simply takes over.
//!
//! What a record says and how it is framed is `record`'s; here is where it
//! lives, who holds it, and how the holder rewrites it: through a shared
//! mapping of the file, made whole again when someone cuts the file short
//! (`Lease::write`). Every name is opened relative to the directory's
//! descriptor,
//! without following symlinks; an ID (letters, digits, `_`, `-`) can never
//! name anything outside the directory.
//!
//! Trust, as OpenSSH's StrictModes has it: the directory must belong to the
//! caller or to root and be writable by its owner only, and a record must
//! belong to the caller. Otherwise another user could hold an ID's lock (no
//! start of it would ever succeed) or forge a record naming someone else's
//! process. A start and every verb that writes or signals refuse what is not
//! trusted; `--disp`, which only reads, shows it and says so.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::error::SysError;
use crate::id::Id;
use crate::record::{self, RECORD_SIZE};
use crate::retry;
use crate::sys::{self, LockKind};

/// Where state lives unless `ISMON_STATE_DIR` says otherwise.
pub const DEFAULT_STATE_DIR: &str = "/var/run/ismon";
pub const STATE_DIR_ENV: &str = "ISMON_STATE_DIR";

/// How long a start tries again while another process holds the ID's lock
/// for a moment (a reader's shared lock, another start or a `--del`).
const ACQUIRE_WAIT: Duration = Duration::from_millis(250);

/// The state directory, held open so that every name is looked up in it.
pub struct StateDir {
    dir: File,
    pub path: PathBuf,
    /// Why the directory is not to be trusted, if it is not.
    distrust: Option<String>,
}

impl StateDir {
    /// The directory the environment names, or the default.
    pub fn path_from_env() -> PathBuf {
        match std::env::var_os(STATE_DIR_ENV) {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => PathBuf::from(DEFAULT_STATE_DIR),
        }
    }

    /// Opens the state directory for a monitor, making it (0755) if
    /// missing, and refuses it unless it is trusted.
    pub fn create() -> Result<StateDir, SysError> {
        let (path, c) = StateDir::named()?;
        sys::mkdir(&c).map_err(|e| {
            SysError::new("mkdir", e, format!("state directory {}", path.display()))
        })?;
        let dir = StateDir::open_named(path, &c)?;
        dir.require_trust()?;
        Ok(dir)
    }

    /// Opens the state directory for a control verb: `None` when it does
    /// not exist. Trust is for the verb to require (`require_trust`).
    pub fn open_existing() -> Result<Option<StateDir>, SysError> {
        let (path, c) = StateDir::named()?;
        match StateDir::open_named(path, &c) {
            Ok(dir) => Ok(Some(dir)),
            Err(e) if e.errno() == libc::ENOENT => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn named() -> Result<(PathBuf, CString), SysError> {
        let path = StateDir::path_from_env();
        let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| {
            SysError::new(
                "open",
                io::Error::from_raw_os_error(libc::EINVAL),
                format!("state directory {}", path.display()),
            )
        })?;
        Ok((path, c))
    }

    fn open_named(path: PathBuf, c: &CString) -> Result<StateDir, SysError> {
        let shown = path.display().to_string();
        let dir = match sys::open_dir(c) {
            Ok(dir) => dir,
            Err(e) => {
                let what = match std::fs::symlink_metadata(&path) {
                    Ok(m) if m.file_type().is_symlink() => {
                        format!("state directory {shown} is a symlink; refused")
                    }
                    Ok(m) if !m.is_dir() => format!("state directory {shown} is not a directory"),
                    _ => format!("state directory {shown}"),
                };
                return Err(SysError::new("open", e, what));
            }
        };
        let meta = dir
            .metadata()
            .map_err(|e| SysError::new("fstat", e, format!("state directory {shown}")))?;
        let euid = sys::euid();
        let distrust = if meta.uid() != euid && meta.uid() != 0 {
            Some(format!(
                "state directory {shown} belongs to uid {} (mode {:04o}), neither to uid {euid} nor to root",
                meta.uid(),
                meta.mode() & 0o7777
            ))
        } else if meta.mode() & 0o022 != 0 {
            Some(format!(
                "state directory {shown} (uid {}, mode {:04o}) is writable by group or others",
                meta.uid(),
                meta.mode() & 0o7777
            ))
        } else {
            None
        };
        Ok(StateDir {
            dir,
            path,
            distrust,
        })
    }

    /// Why the directory is not trusted, if it is not.
    pub fn distrust(&self) -> Option<&str> {
        self.distrust.as_deref()
    }

    /// Refuses (EPERM) a directory that is not trusted.
    pub fn require_trust(&self) -> Result<(), SysError> {
        match &self.distrust {
            None => Ok(()),
            Some(why) => Err(untrusted(format!(
                "{why}; it must belong to the caller or root and be writable by its owner only: refused"
            ))),
        }
    }

    fn name(&self, id: &Id) -> CString {
        id.file_name()
    }

    fn file_path(&self, id: &Id) -> String {
        self.path
            .join(OsStr::new(id.as_str()))
            .display()
            .to_string()
    }

    fn open_record(&self, id: &Id, create: bool) -> Result<File, SysError> {
        let file = sys::open_in(&self.dir, &self.name(id), create).map_err(|e| {
            let what = if e.raw_os_error() == Some(libc::ELOOP) {
                format!("{} is a symlink; refused", self.file_path(id))
            } else {
                self.file_path(id)
            };
            SysError::new("open", e, what)
        })?;
        let meta = file
            .metadata()
            .map_err(|e| SysError::new("fstat", e, self.file_path(id)))?;
        if !meta.file_type().is_file() {
            return Err(SysError::new(
                "open",
                io::Error::from_raw_os_error(libc::EINVAL),
                format!("{} is not a regular file; refused", self.file_path(id)),
            ));
        }
        Ok(file)
    }

    /// Why the record `file` of `id` is not trusted (not the caller's), if
    /// it is not.
    fn record_distrust(&self, id: &Id, file: &File) -> Result<Option<String>, SysError> {
        let meta = file
            .metadata()
            .map_err(|e| SysError::new("fstat", e, self.file_path(id)))?;
        let euid = sys::euid();
        Ok((meta.uid() != euid).then(|| {
            format!(
                "record {} belongs to uid {}, not to uid {euid}",
                self.file_path(id),
                meta.uid()
            )
        }))
    }

    /// Whether `file` is still what `id` names in the directory (a `--del`
    /// may have removed it between our open and our lock).
    fn still_named(&self, id: &Id, file: &File) -> Result<bool, SysError> {
        let meta = file
            .metadata()
            .map_err(|e| SysError::new("fstat", e, self.file_path(id)))?;
        match sys::identity_in(&self.dir, &self.name(id)) {
            Ok(now) => Ok(now == (meta.dev(), meta.ino())),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(SysError::new("fstatat", e, self.file_path(id))),
        }
    }

    /// Takes the ID for a new monitor. The directory was trusted when it
    /// was made (`create`); a record that is not the caller's is refused
    /// before anything is written to it.
    pub fn acquire(&self, id: &Id) -> Result<Lease, AcquireError> {
        let deadline = Instant::now() + ACQUIRE_WAIT;
        retry::until(deadline, || self.try_acquire(id).transpose())
            .unwrap_or(Err(AcquireError::InUse))
    }

    /// One try: `Ok(None)` when someone else holds the lock or the name
    /// changed under us.
    fn try_acquire(&self, id: &Id) -> Result<Option<Lease>, AcquireError> {
        let file = self.open_record(id, true).map_err(AcquireError::Sys)?;
        if let Some(why) = self.record_distrust(id, &file).map_err(AcquireError::Sys)? {
            return Err(AcquireError::Sys(untrusted(format!("{why}: refused"))));
        }
        match sys::try_flock(&file, LockKind::Exclusive) {
            // Removed under us (a --del): open the new name next time.
            Ok(true) if !self.still_named(id, &file).map_err(AcquireError::Sys)? => Ok(None),
            Ok(true) => {
                let fresh = file.metadata().map(|m| m.len() == 0).unwrap_or(false);
                Ok(Some(Lease {
                    file,
                    record: Box::new([b'\n'; RECORD_SIZE]),
                    path: self.file_path(id),
                    fresh,
                    store: Store::First,
                }))
            }
            Ok(false) => Ok(None),
            Err(e) => Err(AcquireError::Sys(SysError::new(
                "flock",
                e,
                self.file_path(id),
            ))),
        }
    }

    /// What the directory holds for `id`. A live record that does not
    /// verify yet (a monitor that has just taken the lock writes it at
    /// once; a reader may catch a write half done) is read again until
    /// `deadline`.
    pub fn look(&self, id: &Id, deadline: Instant) -> Result<Lookup, SysError> {
        let file = match self.open_record(id, false) {
            Ok(f) => f,
            Err(e) if e.errno() == libc::ENOENT => return Ok(Lookup::Absent),
            Err(e) => return Err(e),
        };
        let live = is_locked(&file).map_err(|e| SysError::new("flock", e, self.file_path(id)))?;
        let record = retry::until(deadline, || match read_record(&file) {
            Ok(None) if live => None,
            other => Some(other),
        })
        .unwrap_or(Ok(None))
        .map_err(|e| SysError::new("read", e, self.file_path(id)))?;
        let distrust = match &self.distrust {
            Some(why) => Some(why.clone()),
            None => self.record_distrust(id, &file)?,
        };
        Ok(Lookup::Present(Entry {
            file,
            live,
            record,
            distrust,
        }))
    }

    /// Whether a monitor holds `id` now (no record: no).
    pub fn is_live(&self, id: &Id) -> Result<bool, SysError> {
        match self.open_record(id, false) {
            Ok(file) => is_locked(&file).map_err(|e| SysError::new("flock", e, self.file_path(id))),
            Err(e) if e.errno() == libc::ENOENT => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Removes the record of `id` if no monitor holds it, trying until
    /// `deadline` while another process holds its lock for a moment.
    /// The directory and the record must be trusted.
    pub fn remove_stale(&self, id: &Id, deadline: Instant) -> Result<Removal, SysError> {
        self.require_trust()?;
        retry::until(deadline, || self.try_remove(id).transpose()).unwrap_or(Ok(Removal::Live))
    }

    fn try_remove(&self, id: &Id) -> Result<Option<Removal>, SysError> {
        let file = match self.open_record(id, false) {
            Ok(f) => f,
            Err(e) if e.errno() == libc::ENOENT => return Ok(Some(Removal::Absent)),
            Err(e) => return Err(e),
        };
        if let Some(why) = self.record_distrust(id, &file)? {
            return Err(untrusted(format!("{why}: refused")));
        }
        match sys::try_flock(&file, LockKind::Exclusive) {
            Ok(true) if !self.still_named(id, &file)? => Ok(None),
            Ok(true) => {
                sys::unlink_in(&self.dir, &self.name(id))
                    .map_err(|e| SysError::new("unlink", e, self.file_path(id)))?;
                Ok(Some(Removal::Removed))
            }
            Ok(false) => Ok(None),
            Err(e) => Err(SysError::new("flock", e, self.file_path(id))),
        }
    }
}

/// A refusal of what is not trusted: event 42 with EPERM.
fn untrusted(what: String) -> SysError {
    SysError::new("open", io::Error::from_raw_os_error(libc::EPERM), what)
}

/// Why a start could not take its ID.
#[derive(Debug)]
pub enum AcquireError {
    /// A running monitor holds it (event 14).
    InUse,
    Sys(SysError),
}

/// What `look` found.
pub enum Lookup {
    Absent,
    Present(Entry),
}

pub struct Entry {
    pub file: File,
    /// A monitor holds the lock.
    pub live: bool,
    /// The record's `key: value` lines; None when the file is empty or its
    /// checksum never matched (corrupt or foreign).
    pub record: Option<Vec<(String, String)>>,
    /// Why the record or its directory is not to be trusted, if it is not.
    pub distrust: Option<String>,
}

impl Entry {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.record
            .as_ref()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Refuses (EPERM) a record that is not trusted.
    pub fn require_trust(&self) -> Result<(), SysError> {
        match &self.distrust {
            None => Ok(()),
            Some(why) => Err(untrusted(format!("{why}: refused"))),
        }
    }

    /// The PID of the live monitor that wrote this record, when the lock,
    /// the record and the process agree on it: the process holding the
    /// lock is the one the record names, it started when the record says
    /// its writer started, and it runs one of the two commands. Otherwise,
    /// why not.
    pub fn monitor_pid(&self) -> Result<u32, &'static str> {
        let pid: u32 = self
            .get("pid")
            .and_then(|p| p.parse().ok())
            .ok_or("the record names no process")?;
        let meta = self
            .file
            .metadata()
            .map_err(|_| "the record cannot be examined")?;
        match lock_holder(meta.dev(), meta.ino()) {
            Some(holder) if holder == pid => {}
            Some(_) => return Err("the process holding the lock is not the one the record names"),
            None => return Err("/proc/locks does not say which process holds the lock"),
        }
        let recorded: Option<u64> = self
            .get(record::key::PROCESS_START)
            .and_then(|t| t.parse().ok());
        match (process_start(pid), recorded) {
            (Some(now), Some(then)) if now == then => {}
            (None, _) => return Err("/proc does not say when the process started"),
            _ => return Err("the process did not start when the record's writer did"),
        }
        if !runs_a_monitor(pid) {
            return Err("the process does not run clp_httpmon or clp_smtpmon");
        }
        Ok(pid)
    }
}

/// When `pid` started, in clock ticks after boot (/proc/PID/stat field 22).
pub fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    parse_start_time(&stat)
}

/// Field 22 of a /proc/PID/stat line. The command name (field 2) is in
/// parentheses and may hold spaces and parentheses itself: the fields are
/// counted from the last `)`.
fn parse_start_time(stat: &[u8]) -> Option<u64> {
    let after = stat.iter().rposition(|&b| b == b')')? + 1;
    let rest = std::str::from_utf8(&stat[after..]).ok()?;
    // After the name come field 3 (state), 4, ...: field 22 is the 20th.
    rest.split_ascii_whitespace().nth(19)?.parse().ok()
}

/// Whether `pid` runs one of the two commands (also when its file was
/// replaced by an upgrade since it started: `… (deleted)`).
fn runs_a_monitor(pid: u32) -> bool {
    let exe = match std::fs::read_link(format!("/proc/{pid}/exe")) {
        Ok(exe) => exe,
        Err(_) => return false,
    };
    let exe = exe.as_os_str().as_bytes();
    let exe = exe.strip_suffix(b" (deleted)").unwrap_or(exe);
    let name = exe.rsplit(|&b| b == b'/').next().unwrap_or(exe);
    name == b"clp_httpmon" || name == b"clp_smtpmon"
}

/// What `remove_stale` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Removal {
    Removed,
    Absent,
    Live,
}

/// The running monitor's hold on its ID; dropping it (or dying) releases it.
pub struct Lease {
    file: File,
    /// The record as last written, framed and padded.
    record: Box<[u8; RECORD_SIZE]>,
    pub path: String,
    /// The file was empty when taken: this start created it.
    fresh: bool,
    store: Store,
}

/// How a record gets into the file.
enum Store {
    /// Nothing written yet: the first record is one pwrite, which gives the
    /// file its full size, and the file is mapped after it.
    First,
    /// Copied into the file's page cache through a shared mapping: about
    /// 0.9 us of CPU a record, where a pwrite costs 5 to 12 (it updates
    /// the file's mtime, and on ext4 starts a journal transaction, however
    /// little it writes).
    Mapped(sys::SharedMap),
    /// One pwrite a record, as before the mapping: the file system could
    /// not map the file (or a mapping could not be made again after the
    /// file was cut short), and a pwrite works wherever a write does.
    Pwrite,
}

/// What a record write found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    /// The record was written where the last one was.
    InPlace,
    /// Someone had cut the file short (to `found` bytes, as seen after the
    /// store): the record was written again in full.
    Restored { found: u64 },
}

impl Lease {
    /// Gives the ID up after a start that could not write its first record.
    /// A file this start created is removed (still under our lock, so no
    /// other process is using it) rather than left behind empty; an earlier
    /// run's record is kept.
    pub fn abandon(self, dir: &StateDir, id: &Id) {
        if self.fresh {
            let _ = sys::unlink_in(&dir.dir, &dir.name(id));
        }
    }

    /// Replaces the record with `body` (`key: value` lines), framed in the
    /// lease's own buffer (nothing is allocated) and copied whole into the
    /// mapped file: a reader that catches the copy half done sees a bad
    /// sum and reads again, as with one write.
    ///
    /// A file cut short under the mapping (an administrator's `: > FILE`)
    /// is made whole again here, at the latest one record later. Cut to
    /// 0, the copy faulted and went to the memory `sys::SharedMap` put in
    /// the file's place (`is_lost`); cut within the record, the copy went
    /// to the page but partly past the file's end, which only the file's
    /// size tells. So every record also asks the file's size (one lseek,
    /// 0.2 us here, against the 5 to 12 us of the pwrite it replaces; it
    /// never waits for the disk, the inode is in memory while the file is
    /// open). A pwrite then writes the record back at full size, and a
    /// lost mapping is made again over the same addresses. A file replaced or
    /// removed under the monitor goes on being written, unseen, as with
    /// pwrite: the monitor never opens its path again.
    pub fn write(&mut self, body: &[u8]) -> io::Result<Written> {
        record::encode(body, &mut self.record);
        let map = match &mut self.store {
            Store::Mapped(map) => map,
            Store::First | Store::Pwrite => {
                self.file.write_all_at(&self.record[..], 0)?;
                if let Store::First = self.store {
                    self.store = match sys::SharedMap::new(&self.file, RECORD_SIZE) {
                        Ok(map) => Store::Mapped(map),
                        Err(_) => Store::Pwrite,
                    };
                }
                return Ok(Written::InPlace);
            }
        };
        map.write(&self.record[..]);
        let lost = map.is_lost();
        // A regular file's size cannot fail to be read; if it ever did,
        // nothing would tell a cut file, so take it as whole.
        let found = sys::file_len(&self.file).unwrap_or(RECORD_SIZE as u64);
        if !lost && found >= RECORD_SIZE as u64 {
            return Ok(Written::InPlace);
        }
        // Tried again at the next record while it fails (a full disk).
        self.file.write_all_at(&self.record[..], 0)?;
        if lost && map.remap(&self.file).is_err() {
            self.store = Store::Pwrite;
        }
        Ok(Written::Restored { found })
    }
}

/// Reads and checks a record once. `Ok(None)`: empty, or the checksum does
/// not match (a write in flight, or a file that is not one of ours).
fn read_record(file: &File) -> io::Result<Option<Vec<(String, String)>>> {
    let mut raw = [0u8; RECORD_SIZE * 2];
    let mut len = 0;
    loop {
        match file.read_at(&mut raw[len..], len as u64) {
            Ok(0) => break,
            Ok(n) => {
                len += n;
                if len == raw.len() {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(record::fields(&raw[..len]))
}

/// Whether another process holds an exclusive lock on `file`: a monitor (or
/// a start or `--del` at that very moment, which a caller tells apart by
/// the lock holder's PID).
fn is_locked(file: &File) -> io::Result<bool> {
    // Shared: never conflicts with another reader, only with an exclusive holder.
    if sys::try_flock(file, LockKind::Shared)? {
        sys::unlock(file)?;
        return Ok(false);
    }
    Ok(true)
}

/// The PID holding an exclusive flock on the file with this device and
/// inode, as /proc/locks lists it (`1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF`).
fn lock_holder(dev: u64, ino: u64) -> Option<u32> {
    let text = std::fs::read_to_string("/proc/locks").ok()?;
    let (major, minor) = sys::dev_major_minor(dev);
    let want = format!("{major:02x}:{minor:02x}:{ino}");
    text.lines().find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        // Waiting lockers are listed as "N: -> FLOCK ..."; skip them.
        match f.as_slice() {
            [_, "FLOCK", _, "WRITE", pid, id, ..] if *id == want => pid.parse().ok(),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_time_is_counted_from_the_last_parenthesis() {
        let line =
            b"1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 100";
        assert_eq!(parse_start_time(line), Some(98765));
        assert_eq!(parse_start_time(b"1234 (x) S 1"), None);
        assert_eq!(parse_start_time(b"garbage"), None);
        let own = process_start(std::process::id());
        assert!(own.is_some(), "this test's own /proc/self/stat");
    }

    /// The only test here that maps a record: a process has one mapping.
    #[test]
    fn a_record_cut_short_under_its_mapping_is_written_again_in_full() {
        let dir = std::env::temp_dir().join(format!("ismon-lease-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        let path = dir.join("cut");
        let open = || {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .expect("the scratch record")
        };
        let mut lease = Lease {
            file: open(),
            record: Box::new([b'\n'; RECORD_SIZE]),
            path: path.display().to_string(),
            fresh: true,
            store: Store::First,
        };
        let on_disk = |probes: u32| {
            let reader = std::fs::File::open(&path).expect("open the record to read");
            let len = reader.metadata().expect("fstat").len();
            let fields = read_record(&reader).expect("read the record");
            let want = vec![("probes".to_string(), probes.to_string())];
            assert_eq!(
                (len, fields),
                (RECORD_SIZE as u64, Some(want)),
                "size and fields after record {probes}"
            );
        };
        let body = |probes: u32| format!("probes: {probes}\n");
        assert_eq!(lease.write(body(1).as_bytes()).ok(), Some(Written::InPlace));
        assert!(
            matches!(lease.store, Store::Mapped(_)),
            "{} could not be mapped",
            path.display()
        );
        on_disk(1);
        let mut probes = 1;
        for cut in [0, 1, 100, RECORD_SIZE as u64 - 1, 0] {
            open().set_len(cut).expect("cut the record short");
            probes += 1;
            assert_eq!(
                lease.write(body(probes).as_bytes()).ok(),
                Some(Written::Restored { found: cut }),
                "the record after a cut to {cut} bytes"
            );
            on_disk(probes);
            assert!(matches!(lease.store, Store::Mapped(_)), "mapped again");
            probes += 1;
            assert_eq!(
                lease.write(body(probes).as_bytes()).ok(),
                Some(Written::InPlace),
                "the record after the one that restored it"
            );
            on_disk(probes);
        }
        drop(lease);
        std::fs::remove_dir_all(&dir).expect("remove the scratch directory");
    }
}
