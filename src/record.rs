//! A monitor's record: the keys `--disp` shows, in its order, shared by
//! the monitor that writes them and the verbs that read them, and the
//! frame that keeps a reader from ever taking half of one rewrite for a
//! record.
//!
//! On disk a record is exactly `RECORD_SIZE` bytes: the `key: value` lines,
//! a checksum line, and newline padding. The monitor rewrites it in place,
//! one copy into a shared mapping of the file (`registry::Lease::write`),
//! so the file never changes size, and a reader that catches a copy half
//! done sees a bad sum and reads again.

use std::fmt;

/// The keys, in the order the record holds them.
pub mod key {
    pub const PID: &str = "pid";
    pub const COMMAND: &str = "command";
    pub const ID: &str = "id";
    pub const STATE: &str = "state";
    pub const SERVER: &str = "server";
    pub const PORT: &str = "port";
    pub const INTERVAL: &str = "interval";
    pub const RETRIES: &str = "retries";
    pub const TIMEOUT: &str = "timeout";
    pub const RETRY_INTERVAL: &str = "retry_interval";
    pub const GRACE: &str = "grace";
    /// HTTP only.
    pub const VERSION: &str = "version";
    /// HTTP only.
    pub const URI: &str = "uri";
    /// HTTP only, when given.
    pub const EXPECT: &str = "expect";
    /// HTTP only, when given.
    pub const HOST: &str = "host";
    /// HTTP only, when given.
    pub const CONTAINS: &str = "contains";
    /// Seconds since the epoch; `--disp` shows local time.
    pub const STARTED: &str = "started";
    /// The writer's start time: clock ticks after boot, as field 22 of
    /// /proc/PID/stat gives it. With the PID it names one process for the
    /// machine's uptime, never a later one that was given the same PID.
    pub const PROCESS_START: &str = "process_start";
    /// Seconds since the epoch; `--disp` shows local time.
    pub const LAST_PROBE: &str = "last_probe";
    pub const LAST_RESULT: &str = "last_result";
    /// How long the last probe took, in milliseconds.
    pub const LAST_DURATION_MS: &str = "last_duration_ms";
    pub const PROBES: &str = "probes";
    pub const FAILURES: &str = "failures";
    pub const SYSLOG_DROPPED: &str = "syslog_dropped";
    pub const STDERR_DROPPED: &str = "stderr_dropped";
    /// `recent_1` (the newest) to `recent_8`, one per past probe: its
    /// start in seconds since the epoch (`--disp` shows local time), its
    /// duration in milliseconds, and its result. Numbered, so that every
    /// key of a record stands once.
    pub const RECENT: &str = "recent_";

    /// Shown by `--disp` before the record's own keys, not stored:
    /// whether a monitor holds the lock (`live`, `stale`)...
    pub const STATUS: &str = "status";
    /// ...and whether the record may be trusted (`yes`, `no`).
    pub const TRUSTED: &str = "trusted";

    /// The keys whose values are times since the epoch.
    pub const TIMES: [&str; 2] = [STARTED, LAST_PROBE];
}

/// Where the monitor is, as the record's `state` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Monitoring,
    /// After this many failed probes in a row (the next probe is retry k).
    Retrying(u32),
    Paused,
    Stopped,
    Failed,
}

impl State {
    /// The value of a paused monitor's `state`.
    pub const PAUSED: &'static str = "paused";

    /// Writes the value: `retrying k/N` with N the retries.
    pub fn write(self, out: &mut impl fmt::Write, retries: u32) -> fmt::Result {
        match self {
            State::Monitoring => out.write_str("monitoring"),
            State::Retrying(k) => write!(out, "retrying {k}/{retries}"),
            State::Paused => out.write_str(State::PAUSED),
            State::Stopped => out.write_str("stopped"),
            State::Failed => out.write_str("failed"),
        }
    }
}

/// Writes one `key: value` line. Without `fmt`'s machinery: the record
/// is rewritten after every probe, and formatting it was most of a
/// monitor's own instructions per cycle.
pub fn field<W: fmt::Write>(out: &mut W, key: &str, value: impl Value) -> fmt::Result {
    out.write_str(key)?;
    out.write_str(": ")?;
    value.write_value(out)?;
    out.write_str("\n")
}

/// A value of a record line.
pub trait Value {
    fn write_value<W: fmt::Write>(&self, out: &mut W) -> fmt::Result;
}

impl Value for &str {
    fn write_value<W: fmt::Write>(&self, out: &mut W) -> fmt::Result {
        out.write_str(self)
    }
}

/// A text from outside (a URI, a header, a string sought), escaped as the
/// man page says: a record line is never split by what it shows.
pub struct Escaped<'a>(pub &'a str);

impl Value for Escaped<'_> {
    fn write_value<W: fmt::Write>(&self, out: &mut W) -> fmt::Result {
        crate::escape::write_escaped(out, self.0.as_bytes())
    }
}

impl Value for u64 {
    fn write_value<W: fmt::Write>(&self, out: &mut W) -> fmt::Result {
        write_decimal(out, *self)
    }
}

impl Value for u32 {
    fn write_value<W: fmt::Write>(&self, out: &mut W) -> fmt::Result {
        write_decimal(out, u64::from(*self))
    }
}

impl Value for u16 {
    fn write_value<W: fmt::Write>(&self, out: &mut W) -> fmt::Result {
        write_decimal(out, u64::from(*self))
    }
}

impl Value for i64 {
    fn write_value<W: fmt::Write>(&self, out: &mut W) -> fmt::Result {
        if *self < 0 {
            out.write_str("-")?;
        }
        write_decimal(out, self.unsigned_abs())
    }
}

/// `n` in decimal digits.
pub fn write_decimal<W: fmt::Write>(out: &mut W, mut n: u64) -> fmt::Result {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written: always UTF-8.
    out.write_str(std::str::from_utf8(&digits[at..]).unwrap_or("?"))
}

/// Every record is exactly this long on disk.
pub const RECORD_SIZE: usize = 4096;
const SUM_KEY: &[u8] = b"sum: ";
/// "sum: " + 16 hex digits + "\n".
const SUM_LINE: usize = 5 + 16 + 1;
/// The longest record body.
pub const BODY_MAX: usize = RECORD_SIZE - SUM_LINE;

/// Frames `body` into `out`: the body (cut at a line end if too long), the
/// checksum line, then newline padding up to the full size.
pub fn encode(body: &[u8], out: &mut [u8; RECORD_SIZE]) {
    let mut len = body.len().min(BODY_MAX);
    if len < body.len() {
        len = body[..len]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
    }
    out[..len].copy_from_slice(&body[..len]);
    let sum = fnv1a(&out[..len]);
    out[len..len + SUM_KEY.len()].copy_from_slice(SUM_KEY);
    let hex = b"0123456789abcdef";
    for i in 0..16 {
        out[len + SUM_KEY.len() + i] = hex[((sum >> (60 - 4 * i)) & 0xf) as usize];
    }
    out[len + SUM_LINE - 1] = b'\n';
    out[len + SUM_LINE..].fill(b'\n');
}

/// FNV-1a, 64 bits: enough to tell a torn or foreign record from a whole one.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Checks a record's frame: the body if its checksum matches.
fn decode(raw: &[u8]) -> Option<&[u8]> {
    let at = if raw.starts_with(SUM_KEY) {
        0
    } else {
        raw.windows(SUM_KEY.len() + 1)
            .position(|w| w[0] == b'\n' && &w[1..] == SUM_KEY)?
            + 1
    };
    let hex = raw.get(at + SUM_KEY.len()..at + SUM_KEY.len() + 16)?;
    let hex = std::str::from_utf8(hex).ok()?;
    let sum = u64::from_str_radix(hex, 16).ok()?;
    let body = &raw[..at];
    (fnv1a(body) == sum).then_some(body)
}

fn parse_body(body: &[u8]) -> Vec<(String, String)> {
    body.split(|&b| b == b'\n')
        .filter_map(|line| {
            let line = String::from_utf8_lossy(line);
            let (k, v) = line.split_once(": ")?;
            Some((k.to_owned(), v.to_owned()))
        })
        .collect()
}

/// Checks a record's frame: its `key: value` lines if the checksum matches.
pub fn fields(raw: &[u8]) -> Option<Vec<(String, String)>> {
    decode(raw).map(parse_body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_written_as_fmt_would() {
        let mut out = String::new();
        for n in [0u64, 7, 10, 65535, u64::MAX] {
            field(&mut out, "n", n).unwrap();
        }
        field(&mut out, "t", -12i64).unwrap();
        field(&mut out, "s", "text").unwrap();
        let want = format!(
            "n: 0\nn: 7\nn: 10\nn: 65535\nn: {}\nt: -12\ns: text\n",
            u64::MAX
        );
        assert_eq!(out, want);
    }

    #[test]
    fn a_record_survives_its_frame() {
        let mut rec = [0u8; RECORD_SIZE];
        encode(b"pid: 1\nstate: monitoring\n", &mut rec);
        let body = decode(&rec).expect("whole record");
        assert_eq!(
            parse_body(body),
            vec![
                ("pid".into(), "1".into()),
                ("state".into(), "monitoring".into())
            ]
        );
    }

    #[test]
    fn a_torn_record_is_refused() {
        let mut a = [0u8; RECORD_SIZE];
        let mut b = [0u8; RECORD_SIZE];
        encode(b"pid: 1\nstate: monitoring\nprobes: 1\n", &mut a);
        encode(b"pid: 1\nstate: retrying 1/3\nprobes: 2\n", &mut b);
        let mut torn = a;
        torn[..12].copy_from_slice(&b[..12]);
        torn[12..20].copy_from_slice(&a[12..20]);
        torn[20..].copy_from_slice(&b[20..]);
        assert!(decode(&torn).is_none());
        assert!(decode(b"garbage").is_none());
        assert!(decode(b"").is_none());
    }

    #[test]
    fn an_overlong_body_is_cut_at_a_line_end() {
        let mut body = Vec::new();
        while body.len() < RECORD_SIZE + 100 {
            body.extend_from_slice(b"key: value value value\n");
        }
        let mut rec = [0u8; RECORD_SIZE];
        encode(&body, &mut rec);
        let kept = decode(&rec).expect("whole record");
        assert!(kept.ends_with(b"\n") && kept.len() <= BODY_MAX);
    }
}
