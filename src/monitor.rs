//! The monitor: the only place with policy. It takes the ID, probes on a
//! fixed schedule of the monotonic clock, counts failed retries, obeys
//! pause, resume and stop, keeps the record current, and decides when to
//! exit and with which status.
//!
//! Signals arrive through a signalfd that every wait also watches (the sleep
//! between probes and each wait inside a probe), so a stop request ends the
//! monitor at once, whatever it is waiting on, and no signal is lost between
//! a check and a sleep. Only a stop (SIGTERM, SIGINT) or a pause (SIGUSR1 to
//! a monitor that is not paused) ends a probe early; every other signal is
//! taken and the wait goes on with the probe's deadline, so that no signal
//! or verb, however often it comes, can postpone a verdict.

use std::fmt::Write as _;
use std::os::unix::io::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::cli::Config;
use crate::error::SysError;
use crate::error::{EXIT_FAILED, EXIT_IN_USE, EXIT_STOPPED, EXIT_SYSTEM};
use crate::escape::{write_escaped, LineBuf};
use crate::event::{Event, Failure, Level};
use crate::log::{epoch_now, Logger};
use crate::probe::{ProbeError, Prober, Requests};
use crate::protocol::Protocol;
use crate::record::{self, key, State, BODY_MAX};
use crate::registry::{self, AcquireError, Lease, StateDir, Written};
use crate::sys;

/// What the signals read so far ask of the loop: go on, or stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

/// What one signal asks of a monitor in a given state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Request {
    Stop,
    Pause,
    Resume,
    /// A pause to a paused monitor, a resume to one that is not: nothing.
    Nothing,
}

impl Request {
    fn of(signal: i32, paused: bool) -> Request {
        match signal {
            libc::SIGTERM | libc::SIGINT => Request::Stop,
            libc::SIGUSR1 if !paused => Request::Pause,
            libc::SIGUSR2 if paused => Request::Resume,
            _ => Request::Nothing,
        }
    }

    /// Whether the request changes what a probe in flight is for.
    fn ends_probe(self) -> bool {
        matches!(self, Request::Stop | Request::Pause)
    }
}

/// The monitor's signalfd, and a signal that ended a probe which the loop
/// has yet to act on.
struct Signals {
    fd: OwnedFd,
    pending: Option<i32>,
}

impl Requests for Signals {
    fn fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.fd.as_fd())
    }

    /// A probe runs only while the monitor is not paused: a stop or a pause
    /// ends it (the loop acts on it right after); anything else is taken
    /// here and means nothing to a running monitor.
    fn take(&mut self) -> bool {
        while let Ok(Some(signal)) = sys::read_signal(self.fd.as_fd()) {
            if Request::of(signal, false).ends_probe() {
                self.pending = Some(signal);
                return true;
            }
        }
        false
    }
}

/// Runs a monitor for `cfg` until it is stopped (0), its server fails (1),
/// its ID is taken (3) or the system fails it (4).
pub fn run(proto: Protocol, cfg: &Config, log: &mut Logger) -> i32 {
    let id = cfg.id.as_str();
    // Signals first: a stop sent as soon as the record names us must be
    // taken as a request, not kill us.
    for sig in [libc::SIGHUP, libc::SIGPIPE] {
        if let Err(e) = sys::ignore_signal(sig) {
            let err = SysError::new("signal", e, "ignoring SIGHUP/SIGPIPE");
            return log.system_failure(id, &err);
        }
    }
    let signals = match sys::signalfd(&sys::SIGNALS) {
        Ok(fd) => Signals { fd, pending: None },
        Err(e) => {
            let err = SysError::new("signalfd", e, "setting up signals");
            return log.system_failure(id, &err);
        }
    };
    let dir = match StateDir::create() {
        Ok(dir) => dir,
        Err(e) => return log.system_failure(id, &e),
    };
    let lease = match dir.acquire(&cfg.id) {
        Ok(lease) => lease,
        Err(AcquireError::InUse) => {
            log.event(Event::IdentifierInUse, Some(id));
            return EXIT_IN_USE;
        }
        Err(AcquireError::Sys(e)) => return log.system_failure(id, &e),
    };
    let mut m = Monitor {
        proto,
        cfg,
        pid: std::process::id(),
        process_start: registry::process_start(std::process::id()),
        prober: Prober::new(cfg),
        lease,
        signals,
        timer: sys::timerfd().ok(),
        state: State::Monitoring,
        failed_in_row: 0,
        started: epoch_now(),
        last_probe: None,
        last_result: LineBuf::new(),
        probes: 0,
        failures: 0,
        last_millis: 0,
        succeeded: false,
        history: Box::new(History::new()),
        run: Run::new(),
        record_failing: false,
        record_cut: false,
        poll_failing: false,
        body: Box::new(LineBuf::new()),
    };
    let _ = m.last_result.write_str("-");
    log.report_drops();
    m.format_record(log);
    if let Err(e) = m.lease.write(m.body.as_bytes()) {
        let err = SysError::new("pwrite", e, m.lease.path.clone());
        m.lease.abandon(&dir, &cfg.id);
        return log.system_failure(id, &err);
    }
    log.event(Event::Started, Some(id));
    m.run(log)
}

struct Monitor<'a> {
    proto: Protocol,
    cfg: &'a Config,
    /// getpid is a system call on every libc; the record needs it each probe.
    pid: u32,
    /// When this process started (ticks after boot), for the verbs to tell
    /// it from a later process given the same PID; None without /proc.
    process_start: Option<u64>,
    prober: Prober,
    lease: Lease,
    signals: Signals,
    /// What the sleep between probes waits on; None if the kernel would
    /// not give one (the sleep is then a poll timeout).
    timer: Option<OwnedFd>,
    state: State,
    failed_in_row: u32,
    started: i64,
    last_probe: Option<i64>,
    last_result: LineBuf<320>,
    probes: u64,
    failures: u64,
    /// How long the last probe took, in milliseconds.
    last_millis: u64,
    /// A probe has passed since the start (which ends any grace).
    succeeded: bool,
    /// The last probes, for `--disp`.
    history: Box<History>,
    /// The failures counted in a row, for the line after event 6.
    run: Run,
    /// The last record write failed (reported once until one succeeds).
    record_failing: bool,
    /// The last record write found the file cut short (reported once
    /// until one finds it whole).
    record_cut: bool,
    /// The last wait between probes could not poll (reported once until
    /// one can again).
    poll_failing: bool,
    /// The record being formatted, kept to format the next in place.
    body: Box<LineBuf<BODY_MAX>>,
}

impl<'a> Monitor<'a> {
    fn run(&mut self, log: &mut Logger) -> i32 {
        let interval = Duration::from_secs(u64::from(self.cfg.interval));
        let timeout = Duration::from_secs(u64::from(self.cfg.response_timeout));
        let retry_gap = Duration::from_secs(u64::from(self.cfg.retry_interval));
        let id = self.cfg.id.as_str();
        log.event(Event::WillStart, Some(id));
        let mut next = Instant::now();
        let grace_ends = next + Duration::from_secs(u64::from(self.cfg.grace));
        let mut gap = interval;
        loop {
            if self.sleep_until(next, log) == Flow::Stop {
                return self.finish(log, State::Stopped, EXIT_STOPPED);
            }
            let start = Instant::now();
            // The slot this probe stands for: the one it waited for, so that
            // the moment the sleep happened to end (a little late, always)
            // never shifts the schedule. A slot a whole gap or more in the
            // past (the monitor was stopped and continued, or paused) is
            // given up for now: missed slots are not made up in a burst.
            let slot = if start.saturating_duration_since(next) >= gap {
                start
            } else {
                next
            };
            let started_at = epoch_now();
            let outcome = self.prober.probe(start + timeout, &mut self.signals);
            let ended = Instant::now();
            // Start to start: INTERVAL after a success, RETRY_INTERVAL after
            // a failure, or at once if this probe overran its next slot
            // (and from then on, slots follow that late start).
            gap = match outcome {
                Err(ProbeError::Failed(_)) => retry_gap,
                _ => interval,
            };
            next = (slot + gap).max(ended);
            if outcome != Err(ProbeError::Abandoned) {
                self.probes += 1;
                self.last_probe = Some(epoch_now());
                self.last_millis = millis(ended - start);
                let failure = match outcome {
                    Err(ProbeError::Failed(f)) => Some(f),
                    _ => None,
                };
                self.set_result(failure);
                self.history
                    .push(started_at, self.last_millis, &self.last_result);
            }
            match outcome {
                Ok(()) => {
                    self.failed_in_row = 0;
                    self.succeeded = true;
                    self.run.clear();
                    self.state = State::Monitoring;
                }
                Err(ProbeError::Abandoned) => {
                    // Abandoned for a stop or a pause, not counted: the
                    // slot is redone at once after a resume.
                    next = slot;
                    if self.take_signals(log) == Flow::Stop {
                        return self.finish(log, State::Stopped, EXIT_STOPPED);
                    }
                    continue;
                }
                Err(ProbeError::Failed(f)) => {
                    self.failures += 1;
                    log.event(Event::Failed(f), Some(id));
                    if let Failure::BodyLacks(_) = f {
                        // Event 82's text is the guide's: say what was missing.
                        log.note(
                            Level::Warning,
                            &format!("{id}: {}", self.last_result.as_str()),
                        );
                    }
                    // In the grace of a server still starting, failures
                    // are logged but not counted, until one probe passes.
                    if !self.succeeded && start < grace_ends {
                        self.save(log);
                        continue;
                    }
                    self.run.add(start, f);
                    self.failed_in_row += 1;
                    if self.failed_in_row > self.cfg.retries {
                        log.event(Event::Terminating, Some(id));
                        self.run.report(log, id, ended);
                        // Retried like any failure, but when the last one is
                        // this host's own fault (no socket, poll failing), the
                        // status says so.
                        let status = match f {
                            Failure::Socket(_) | Failure::System(..) => EXIT_SYSTEM,
                            _ => EXIT_FAILED,
                        };
                        return self.finish(log, State::Failed, status);
                    }
                    self.state = State::Retrying(self.failed_in_row);
                }
            }
            self.save(log);
        }
    }

    /// Waits until `next` (for ever while paused), acting on signals.
    fn sleep_until(&mut self, next: Instant, log: &mut Logger) -> Flow {
        // A stop or a pause that came while a probe was past its verdict
        // (an SMTP QUIT) was taken from the signalfd but not yet acted on.
        if self.signals.pending.is_some() && self.take_signals(log) == Flow::Stop {
            return Flow::Stop;
        }
        loop {
            let timeout = if self.state == State::Paused {
                None
            } else {
                let left = next.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Flow::Continue;
                }
                Some(left)
            };
            // One wake-up per interval: the timer fires on time, where a
            // poll's own timeout runs long by its slack and would need a
            // second, short poll to end exactly (measured: 24 us of CPU a
            // probe at -i 1). Without a timer, that second poll it is.
            let timer = match (&self.timer, timeout) {
                (Some(timer), Some(left)) => match sys::arm_timer(timer.as_fd(), left) {
                    Ok(()) => Some(timer.as_fd()),
                    Err(_) => None,
                },
                _ => None,
            };
            let waited = match timer {
                Some(t) => sys::wait_for(Some(t), sys::WANT_READ, self.signals.fd(), None),
                None => sys::wait_for(None, 0, self.signals.fd(), timeout),
            };
            match waited {
                Ok(woken) => {
                    self.poll_failing = false;
                    // A fired timer stays readable until it is read or
                    // armed again; it is armed again before every wait on
                    // it, which clears it: no read (one call less a probe).
                    if woken.watched && self.take_signals(log) == Flow::Stop {
                        return Flow::Stop;
                    }
                }
                Err(e) => {
                    // ppoll on a signalfd and a timerfd cannot fail but for
                    // lack of memory; say so once (until it works again)
                    // and keep the schedule with a plain sleep.
                    if !self.poll_failing {
                        self.poll_failing = true;
                        let errno = e.raw_os_error().unwrap_or(0);
                        log.event(
                            Event::Failed(Failure::System("poll", errno)),
                            Some(self.cfg.id.as_str()),
                        );
                    }
                    std::thread::sleep(
                        timeout
                            .unwrap_or(Duration::from_secs(1))
                            .min(Duration::from_secs(1)),
                    );
                    // Signals still count while poll fails.
                    if self.take_signals(log) == Flow::Stop {
                        return Flow::Stop;
                    }
                }
            }
        }
    }

    /// Acts on the signal that ended a probe, then on every signal pending
    /// on the signalfd, in order.
    fn take_signals(&mut self, log: &mut Logger) -> Flow {
        let mut flow = Flow::Continue;
        if let Some(signal) = self.signals.pending.take() {
            flow = self.act(signal, log);
        }
        while let Ok(Some(signal)) = sys::read_signal(self.signals.fd.as_fd()) {
            if self.act(signal, log) == Flow::Stop {
                flow = Flow::Stop;
            }
        }
        flow
    }

    fn act(&mut self, signal: i32, log: &mut Logger) -> Flow {
        let id = self.cfg.id.as_str();
        match Request::of(signal, self.state == State::Paused) {
            Request::Stop => return Flow::Stop,
            Request::Pause => {
                self.state = State::Paused;
                log.event(Event::Paused, Some(id));
                self.save(log);
            }
            Request::Resume => {
                self.state = State::Monitoring;
                self.failed_in_row = 0;
                self.run.clear();
                log.event(Event::Resumed, Some(id));
                self.save(log);
            }
            Request::Nothing => {}
        }
        Flow::Continue
    }

    fn finish(&mut self, log: &mut Logger, state: State, status: i32) -> i32 {
        if state == State::Stopped {
            log.event(Event::WillStop, Some(self.cfg.id.as_str()));
        }
        self.state = state;
        self.save(log);
        status
    }

    fn set_result(&mut self, failure: Option<Failure>) {
        let r = &mut self.last_result;
        r.clear();
        match failure {
            None => {
                let _ = r.write_str("ok");
            }
            Some(f) => {
                let _ = f.write_cause(r);
                if f == Failure::InvalidResponse {
                    let _ = r.write_str(" \"");
                    let _ = write_escaped(r, self.prober.reply_excerpt());
                    let _ = r.write_str("\"");
                }
                if let (Failure::BodyLacks(_), Some(sought)) = (f, self.prober.sought()) {
                    let _ = r.write_str(": \"");
                    let _ = write_escaped(r, sought);
                    let _ = r.write_str("\"");
                }
            }
        }
    }

    /// Writes the record; a failure is reported once and does not stop the
    /// monitor (a full disk must not fail a healthy service over).
    fn save(&mut self, log: &mut Logger) {
        self.format_record(log);
        match self.lease.write(self.body.as_bytes()) {
            Ok(written) => {
                self.record_failing = false;
                self.note_restored(written, log);
            }
            Err(e) if !self.record_failing => {
                self.record_failing = true;
                let mut note = LineBuf::<512>::new();
                let _ = write!(
                    note,
                    "cannot update the record {}: {}; monitoring goes on",
                    self.lease.path, e
                );
                log.note(Level::Warning, note.as_str());
            }
            Err(_) => {}
        }
    }

    /// Says once that the record had been cut short under the monitor
    /// (and was written again): once until a record is found whole again,
    /// however many records in a row found it cut.
    fn note_restored(&mut self, written: Written, log: &mut Logger) {
        match written {
            Written::InPlace => self.record_cut = false,
            Written::Restored { .. } if self.record_cut => {}
            Written::Restored { found } => {
                self.record_cut = true;
                let mut note = LineBuf::<512>::new();
                let _ = write!(
                    note,
                    "the record {} was cut to {found} bytes by another process; written again in full, monitoring goes on",
                    self.lease.path
                );
                log.note(Level::Warning, note.as_str());
            }
        }
    }

    /// Formats the record into the monitor's own buffer.
    fn format_record(&mut self, log: &Logger) {
        let cfg = self.cfg;
        let b = &mut *self.body;
        b.clear();
        // Writing into the fixed buffer cannot fail but by filling it,
        // which the frame then cuts at a line's end.
        let _ = record::field(b, key::PID, self.pid);
        let _ = record::field(b, key::COMMAND, self.proto.command());
        let _ = record::field(b, key::ID, cfg.id.as_str());
        let _ = b.write_str(key::STATE);
        let _ = b.write_str(": ");
        let _ = self.state.write(b, cfg.retries);
        let _ = b.write_str("\n");
        let _ = record::field(b, key::SERVER, cfg.server_text.as_str());
        let _ = record::field(b, key::PORT, cfg.port);
        let _ = record::field(b, key::INTERVAL, cfg.interval);
        let _ = record::field(b, key::RETRIES, cfg.retries);
        let _ = record::field(b, key::TIMEOUT, cfg.response_timeout);
        let _ = record::field(b, key::RETRY_INTERVAL, cfg.retry_interval);
        let _ = record::field(b, key::GRACE, cfg.grace);
        let _ = self.prober.write_settings(b);
        let _ = record::field(b, key::STARTED, self.started);
        let _ = match self.process_start {
            Some(t) => record::field(b, key::PROCESS_START, t),
            None => record::field(b, key::PROCESS_START, "-"),
        };
        let _ = match self.last_probe {
            Some(t) => record::field(b, key::LAST_PROBE, t),
            None => record::field(b, key::LAST_PROBE, "-"),
        };
        let _ = record::field(b, key::LAST_RESULT, self.last_result.as_str());
        let _ = match self.last_probe {
            Some(_) => record::field(b, key::LAST_DURATION_MS, self.last_millis),
            None => record::field(b, key::LAST_DURATION_MS, "-"),
        };
        let _ = record::field(b, key::PROBES, self.probes);
        let _ = record::field(b, key::FAILURES, self.failures);
        let _ = record::field(b, key::SYSLOG_DROPPED, log.syslog_dropped());
        let _ = record::field(b, key::STDERR_DROPPED, log.stderr_dropped());
        self.history.write(b);
    }
}

fn millis(d: Duration) -> u64 {
    d.as_secs() * 1000 + u64::from(d.subsec_millis())
}

/// How many past probes `--disp` shows.
const HISTORY: usize = 8;

/// One past probe, as its `recent_K` line's value: when it started
/// (seconds since the epoch), how long it took (ms), its result. Written
/// once, when the probe ends, and copied into every record after.
struct Past {
    line: LineBuf<352>,
}

/// The last `HISTORY` probes, newest last, in fixed memory.
struct History {
    items: [Past; HISTORY],
    /// Probes recorded in all (the newest is at `(count - 1) % HISTORY`).
    count: usize,
}

impl History {
    fn new() -> History {
        History {
            items: std::array::from_fn(|_| Past {
                line: LineBuf::new(),
            }),
            count: 0,
        }
    }

    fn push(&mut self, started: i64, millis: u64, result: &LineBuf<320>) {
        let line = &mut self.items[self.count % HISTORY].line;
        line.clear();
        let _ = write!(line, "{started} {millis} {}", result.as_str());
        self.count += 1;
    }

    /// `recent_K: START MILLIS RESULT` lines, K = 1 the newest.
    fn write(&self, out: &mut impl std::fmt::Write) {
        for k in 1..=self.count.min(HISTORY) {
            let past = &self.items[(self.count - k) % HISTORY];
            let _ = out.write_str(key::RECENT);
            let _ = record::write_decimal(out, k as u64);
            let _ = out.write_str(": ");
            let _ = out.write_str(past.line.as_str());
            let _ = out.write_str("\n");
        }
    }
}

/// How many kinds of failure the line after event 6 names; the rest are
/// summed as `other`.
const CAUSES: usize = 8;

/// The failures counted in a row: since when, and how many of each cause,
/// for the line that sums up a failed run after event 6.
struct Run {
    since: Option<Instant>,
    causes: [(Failure, u32); CAUSES],
    kinds: usize,
    /// Failures whose cause found no room in `causes` (more than 8 kinds).
    others: u32,
}

impl Run {
    fn new() -> Run {
        Run {
            since: None,
            causes: [(Failure::InvalidResponse, 0); CAUSES],
            kinds: 0,
            others: 0,
        }
    }

    fn clear(&mut self) {
        *self = Run::new();
    }

    fn add(&mut self, start: Instant, f: Failure) {
        self.since.get_or_insert(start);
        match self.causes[..self.kinds].iter_mut().find(|(c, _)| *c == f) {
            Some((_, n)) => *n += 1,
            None if self.kinds < CAUSES => {
                self.causes[self.kinds] = (f, 1);
                self.kinds += 1;
            }
            None => self.others += 1,
        }
    }

    /// `ID: N probes failed in a row over S s: 2x select error[110], 1x
    /// connect error[111]`, on standard error and in the system log.
    fn report(&self, log: &mut Logger, id: &str, now: Instant) {
        let failed: u32 = self.causes[..self.kinds]
            .iter()
            .map(|(_, n)| n)
            .sum::<u32>()
            + self.others;
        // Tenths of a second in integers: formatting an f64 would link in
        // core's float printer (about 15 KB) for this one number.
        let tenths = self.since.map_or(0, |s| ((now - s).as_millis() + 50) / 100);
        let mut line = LineBuf::<768>::new();
        let _ = write!(
            line,
            "{id}: {failed} probe(s) failed in a row over {}.{} s:",
            tenths / 10,
            tenths % 10
        );
        for (k, (f, n)) in self.causes[..self.kinds].iter().enumerate() {
            let _ = write!(line, "{} {n}x ", if k == 0 { "" } else { "," });
            let _ = f.write_cause(&mut line);
        }
        if self.others > 0 {
            let _ = write!(line, ", {}x other", self.others);
        }
        log.note(Level::Err, line.as_str());
    }
}
