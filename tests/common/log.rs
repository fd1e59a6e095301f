//! The layout of a log line, on stderr and in a syslog datagram.

/// One line as the commands write it: `Mmm dd hh:mm:ss ident[pid]: body`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub ident: String,
    pub pid: u32,
    pub body: String,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn is_syslog_timestamp(stamp: &[u8]) -> bool {
    // "Mmm dd hh:mm:ss", the day padded with a space as syslog(3) does.
    if stamp.len() != 15 {
        return false;
    }
    let month_ok = MONTHS.iter().any(|m| &stamp[0..3] == m.as_bytes());
    let day_ok = match (stamp[4], stamp[5]) {
        (b' ', b'1'..=b'9') => true,
        (b'1'..=b'3', b'0'..=b'9') => !(stamp[4] == b'3' && stamp[5] > b'1'),
        _ => false,
    };
    let digits = |i: usize| stamp[i].is_ascii_digit() && stamp[i + 1].is_ascii_digit();
    month_ok
        && stamp[3] == b' '
        && day_ok
        && stamp[6] == b' '
        && digits(7)
        && stamp[9] == b':'
        && digits(10)
        && stamp[12] == b':'
        && digits(13)
}

/// Parses a stderr line (without its newline). `None` when it does not have
/// the syslog(3) layout.
pub fn parse_log_line(line: &str) -> Option<LogLine> {
    let bytes = line.as_bytes();
    if bytes.len() < 16 || !is_syslog_timestamp(&bytes[..15]) || bytes[15] != b' ' {
        return None;
    }
    let rest = &line[16..];
    let open = rest.find('[')?;
    let close = rest[open..].find("]: ")? + open;
    let ident = &rest[..open];
    let pid_text = &rest[open + 1..close];
    if ident.is_empty() || pid_text.is_empty() || !pid_text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(LogLine {
        ident: ident.to_string(),
        pid: pid_text.parse().ok()?,
        body: rest[close + 3..].to_string(),
    })
}

/// Parses a syslog datagram `<PRI>Mmm dd hh:mm:ss ident[pid]: body` into its
/// priority and line. A trailing newline or NUL is tolerated.
pub fn parse_syslog_datagram(datagram: &[u8]) -> Option<(u32, LogLine)> {
    let text = std::str::from_utf8(datagram).ok()?;
    let text = text.trim_end_matches(&['\n', '\0'][..]);
    let rest = text.strip_prefix('<')?;
    let close = rest.find('>')?;
    let pri_text = &rest[..close];
    if pri_text.is_empty() || pri_text.len() > 3 || !pri_text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let pri = pri_text.parse().ok()?;
    Some((pri, parse_log_line(&rest[close + 1..])?))
}
