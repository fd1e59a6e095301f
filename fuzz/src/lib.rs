//! The properties the fuzz targets check. Each must hold for ANY bytes a
//! server may send, so a failed assertion here is a bug in the parser (or in
//! the property: read the rule in the parser's comments before deciding).
//!
//! Common to both parsers (`ismon::probe::http::parse_status`,
//! `ismon::probe::smtp::parse_reply`):
//! - `Done((code, used))`: `0 < used <= input.len()`, the reply ends with
//!   its LF (`input[used - 1] == b'\n'`), and the reply alone decides the
//!   same (`parse(&input[..used])` is the same `Done`, one byte less is
//!   `Incomplete`): the parser never looks past the reply it returns.
//! - Monotonicity: more bytes never change a decision. For every prefix,
//!   the parser says `Incomplete` or exactly what it says on the whole
//!   input; so `Invalid` on a prefix means `Invalid` on the whole, `Done` on
//!   a prefix means the same `Done` on the whole, and `Incomplete` on the
//!   whole means `Incomplete` on every prefix.
//!
//! Then each parser's own rules: see `check_http` and `check_smtp`.

use ismon::probe::body::{BodyError, BodyMatcher, Framing, Needle, Verdict, LIMIT};
use ismon::probe::{http, smtp, Parse, REPLY_MAX};

pub type Reply = Parse<(u16, usize)>;
pub type Parser = fn(&[u8]) -> Reply;

/// The properties of `http::parse_status` on `input`.
pub fn check_http(input: &[u8]) {
    let whole = check_common(input, http::parse_status, check_http_done);
    if let Parse::Done(_) = whole {
        assert!(input.starts_with(b"HTTP/"), "Done without HTTP/");
    }
}

/// The properties of `smtp::parse_reply` on `input`.
pub fn check_smtp(input: &[u8]) {
    check_common(input, smtp::parse_reply, check_smtp_done);
}

/// `Done((code, used))` from `parse_status`: `reply` is `input[..used]`.
/// The code is three digits and final (not 1xx); the reply's last line is
/// the final status line, `HTTP/`version SP code; what comes before it is
/// zero or more interim heads, the last ending with its blank line.
fn check_http_done(reply: &[u8], code: u16) {
    assert!(
        (100..=599).contains(&code),
        "HTTP status code {code} is outside 100..=599 (RFC 9110)"
    );
    assert!(
        !(100..200).contains(&code),
        "interim (1xx) status {code} returned as final"
    );
    let line = last_line(reply);
    let start = reply.len() - line.len();
    assert!(
        line.starts_with(b"HTTP/"),
        "final line is not a status line"
    );
    let sp = line
        .iter()
        .position(|&c| c == b' ')
        .expect("no SP after version");
    assert!(sp > 5, "empty HTTP version");
    assert_eq!(line.get(sp + 1..sp + 4), Some(&digits(code)[..]), "code");
    if start > 0 {
        let before = &reply[..start];
        assert!(
            before.ends_with(b"\n\n") || before.ends_with(b"\n\r\n"),
            "what precedes the final status line does not end a head"
        );
        assert!(before.starts_with(b"HTTP/"), "interim head is not HTTP/");
    }
}

/// `Done((code, used))` from `parse_reply`: `reply` is `input[..used]`.
/// RFC 5321 codes (first digit 2-5, second 0-5, third 0-9); every line
/// carries the code; every line but the last has `-` after it, the last
/// SP, CR or LF.
fn check_smtp_done(reply: &[u8], code: u16) {
    assert!(
        (200..=559).contains(&code) && (code / 10) % 10 <= 5,
        "SMTP reply code {code} is not one RFC 5321 allows"
    );
    let mut lines = reply.split_inclusive(|&c| c == b'\n').peekable();
    while let Some(line) = lines.next() {
        assert_eq!(line.get(..3), Some(&digits(code)[..]), "line's code");
        let last = lines.peek().is_none();
        match line.get(3) {
            Some(b'-') => assert!(!last, "last line continues with -"),
            Some(b' ' | b'\r' | b'\n') => assert!(last, "a line before the last ends the reply"),
            other => panic!("line's 4th byte {other:?}"),
        }
    }
}

/// The properties shared by both parsers; returns what `parse` says on the
/// whole input.
fn check_common(input: &[u8], parse: Parser, check_done: fn(&[u8], u16)) -> Reply {
    let whole = parse(input);
    check_shape(input, whole);
    if let Parse::Done((code, used)) = whole {
        check_done(&input[..used], code);
        // The reply alone decides, and only when complete.
        assert_eq!(parse(&input[..used]), whole, "reply alone");
        assert_eq!(
            parse(&input[..used - 1]),
            Parse::Incomplete,
            "reply less its LF"
        );
    }
    for k in prefix_lengths(input.len(), whole) {
        let p = parse(&input[..k]);
        check_shape(&input[..k], p);
        assert!(
            p == Parse::Incomplete || p == whole,
            "prefix of {k} bytes says {p:?}, the whole {} bytes {whole:?}",
            input.len()
        );
    }
    if whole == Parse::Invalid {
        // Where it turns Invalid, one byte less is Incomplete: a binary
        // search that relies on monotonicity, which the loop above samples.
        let (mut lo, mut hi) = (0, input.len()); // lo: not Invalid; hi: Invalid
        assert_ne!(parse(&input[..0]), Parse::Invalid, "empty input is Invalid");
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if parse(&input[..mid]) == Parse::Invalid {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        assert_eq!(parse(&input[..lo]), Parse::Incomplete, "before Invalid");
    }
    whole
}

/// What any result must look like on `input`.
fn check_shape(input: &[u8], r: Reply) {
    if let Parse::Done((_, used)) = r {
        assert!(used > 0, "Done with 0 bytes used");
        assert!(used <= input.len(), "used {used} > {}", input.len());
        assert_eq!(input[used - 1], b'\n', "reply does not end with LF");
    }
}

/// The prefixes to compare with the whole: all of them for a short input,
/// else the first 64, every 1/32nd, and those around the end of a reply.
fn prefix_lengths(n: usize, whole: Reply) -> impl Iterator<Item = usize> {
    let step = (n / 32).max(1);
    let around = match whole {
        Parse::Done((_, used)) => [used.saturating_sub(1), used, used + 1],
        _ => [n.saturating_sub(1); 3],
    };
    (0..=n.min(64))
        .chain((64..n).step_by(step))
        .chain(around)
        .filter(move |&k| k <= n)
}

/// The last line of `reply`, which ends with LF.
fn last_line(reply: &[u8]) -> &[u8] {
    let body = &reply[..reply.len() - 1];
    match body.iter().rposition(|&c| c == b'\n') {
        Some(nl) => &reply[nl + 1..],
        None => reply,
    }
}

/// The three ASCII digits of `code` (< 1000).
fn digits(code: u16) -> [u8; 3] {
    let c = code % 1000;
    [
        b'0' + (c / 100) as u8,
        b'0' + (c / 10 % 10) as u8,
        b'0' + (c % 10) as u8,
    ]
}

/// What reading a stream of replies comes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A reply with this code, ending at this offset of the stream.
    Reply(u16, usize),
    /// `Invalid`: the probe fails with "invalid response".
    Invalid,
    /// A reply longer than the buffer: also "invalid response".
    TooLong,
    /// The stream ended in the middle of a reply (or before one).
    Closed,
}

/// The replies in `data` as the probe must see them, whatever sizes the
/// bytes arrive in: each reply is judged on at most its first `REPLY_MAX`
/// bytes, and one that is still `Incomplete` there is too long.
pub fn whole_stream(data: &[u8], parse: Parser) -> Vec<Event> {
    let mut events = Vec::new();
    let mut pos = 0;
    loop {
        let rest = &data[pos..];
        match parse(&rest[..rest.len().min(REPLY_MAX)]) {
            Parse::Done((code, used)) => {
                assert!(used > 0 && used <= rest.len());
                pos += used;
                events.push(Event::Reply(code, pos));
            }
            Parse::Invalid => {
                events.push(Event::Invalid);
                return events;
            }
            Parse::Incomplete if rest.len() >= REPLY_MAX => {
                events.push(Event::TooLong);
                return events;
            }
            Parse::Incomplete => {
                events.push(Event::Closed);
                return events;
            }
        }
    }
}

/// The replies in `data` read as `Prober::read_reply` (src/probe/mod.rs)
/// reads them, `recv` by `recv`, into a buffer of `REPLY_MAX` bytes that
/// slides the unread bytes to its start when it fills. `chunk` says how
/// much the next `recv` may return (at least 1). A copy of that loop, since
/// `read_reply` needs a socket: keep the two alike.
pub fn chunked_stream(data: &[u8], parse: Parser, mut chunk: impl FnMut() -> usize) -> Vec<Event> {
    let mut events = Vec::new();
    let mut buf = [0u8; REPLY_MAX];
    let (mut start, mut len) = (0, 0);
    // The stream offset of buf[0], and how much of data was received.
    let (mut base, mut fed) = (0, 0);
    loop {
        match parse(&buf[start..len]) {
            Parse::Done((code, used)) => {
                assert!(used > 0 && used <= len - start, "used {used}");
                start += used;
                events.push(Event::Reply(code, base + start));
                continue;
            }
            Parse::Invalid => {
                events.push(Event::Invalid);
                return events;
            }
            Parse::Incomplete => {}
        }
        if len == REPLY_MAX {
            if start == 0 {
                events.push(Event::TooLong);
                return events;
            }
            buf.copy_within(start..len, 0);
            len -= start;
            base += start;
            start = 0;
        }
        let n = chunk().max(1).min(REPLY_MAX - len).min(data.len() - fed);
        if n == 0 {
            events.push(Event::Closed);
            return events;
        }
        buf[len..len + n].copy_from_slice(&data[fed..fed + n]);
        len += n;
        fed += n;
    }
}

/// Checks that `data` read in the chunk sizes `seed` draws comes to the
/// same replies as read whole.
pub fn check_stream(seed: u64, data: &[u8], parse: Parser) {
    let mut rng = seed | 1;
    let chunk = move || {
        // Sizes mostly small, sometimes up to the buffer.
        let rng = xorshift(&mut rng);
        match rng % 4 {
            0 => 1,
            1 => 1 + (rng >> 8) as usize % 16,
            2 => 1 + (rng >> 8) as usize % 512,
            _ => 1 + (rng >> 8) as usize % REPLY_MAX,
        }
    };
    let want = whole_stream(data, parse);
    let got = chunked_stream(data, parse, chunk);
    assert_eq!(got, want, "chunked (seed {seed:#x}) vs whole");
}

/// The next number of a xorshift64 sequence (`rng` not 0).
fn xorshift(rng: &mut u64) -> u64 {
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    *rng
}

/// A fuzz input for the stream targets: 8 bytes of seed, then the stream.
pub fn split_seed(input: &[u8]) -> (u64, &[u8]) {
    let n = input.len().min(8);
    let mut seed = [0u8; 8];
    seed[..n].copy_from_slice(&input[..n]);
    (u64::from_le_bytes(seed), &input[n..])
}

// The body matcher (`ismon::probe::body`), for `--contains`. A fuzz input
// is 8 bytes of seed (the sizes the bytes arrive in), then:
//
//   mode, needle length, limit, 2 bytes of Content-Length, the needle, data
//
// mode % 4: 0 `Length`, 1 `Chunked`, 2 `UntilClose`, each on `data` as
// the wire; 3: `data` is a body, sent chunked by `encode_chunked` (random
// chunk sizes, hex case, extensions, line ends, trailers, bytes after it).
// The needle is 1 to 8 bytes, so that it is found now and then; the limit
// is short (1 to 1017 bytes) half the time, so that fuzz inputs reach it.
//
// What must hold:
// - Any pieces: the verdict on the bytes fed one at a time is decided at
//   some byte (or at `end`); fed in random pieces, every feed says `More`
//   before that byte and the verdict from there on, and `end` agrees.
// - `Length` and `UntilClose` bodies are the wire's first bytes: the
//   verdict is what a plain search of them says (`plain_verdict`).
// - A body sent chunked gets the verdict it gets sent with its length.

/// The properties of the body matcher on a fuzz input (after its seed).
pub fn check_body(seed: u64, input: &[u8]) {
    let byte = |i: usize| input.get(i).copied().unwrap_or(0);
    let mode = byte(0) % 4;
    let needle_len = 1 + usize::from(byte(1) % 8);
    let limit = match byte(2) {
        b if b < 128 => 1 + u64::from(b) * 8,
        _ => LIMIT,
    };
    let length = u64::from(u16::from_le_bytes([byte(3), byte(4)]));
    let rest = input.get(5..).unwrap_or(&[]);
    let (needle, data) = rest.split_at(needle_len.min(rest.len()));
    let needle = match Needle::new(needle) {
        Some(n) => n,
        None => return,
    };
    let mut rng = seed | 1;
    match mode {
        0 => {
            let framing = Framing::Length(length);
            let got = check_pieces(&needle, framing, limit, data, &mut rng);
            assert_eq!(got, plain_verdict(&needle, framing, limit, data), "Length");
        }
        1 => {
            check_pieces(&needle, Framing::Chunked, limit, data, &mut rng);
        }
        2 => {
            let framing = Framing::UntilClose;
            let got = check_pieces(&needle, framing, limit, data, &mut rng);
            assert_eq!(
                got,
                plain_verdict(&needle, framing, limit, data),
                "UntilClose"
            );
        }
        _ => {
            let wire = encode_chunked(data, &mut rng);
            let got = check_pieces(&needle, Framing::Chunked, limit, &wire, &mut rng);
            let framing = Framing::Length(data.len() as u64);
            let want = plain_verdict(&needle, framing, limit, data);
            assert_eq!(got, want, "chunked {wire:?}");
        }
    }
}

/// The verdict on `wire` fed one byte at a time (then `end` if needed),
/// checked against the same bytes fed in the random pieces `rng` draws.
fn check_pieces(
    needle: &Needle,
    framing: Framing,
    limit: u64,
    wire: &[u8],
    rng: &mut u64,
) -> Verdict {
    let mut m = BodyMatcher::with_limit(needle, framing, limit);
    let (want, at) = m.feed_bytewise(wire);
    assert_ne!(want, Verdict::More, "end says More");
    assert!(m.body_bytes() <= limit, "searched past the limit");

    let mut m = BodyMatcher::with_limit(needle, framing, limit);
    let mut fed = 0;
    loop {
        let n = match xorshift(rng) % 4 {
            0 => 0,
            1 => 1,
            2 => 1 + (xorshift(rng) % 16) as usize,
            _ => 1 + (xorshift(rng) % 2048) as usize,
        };
        let n = n.min(wire.len() - fed);
        let got = m.feed(&wire[fed..fed + n]);
        fed += n;
        match at {
            Some(a) if fed >= a => assert_eq!(got, want, "after {fed} bytes"),
            _ => assert_eq!(got, Verdict::More, "after {fed} bytes, decided at {at:?}"),
        }
        if fed == wire.len() {
            break;
        }
    }
    assert_eq!(m.end(), want, "end");
    assert_eq!(m.feed(wire), want, "feed after end");
    want
}

/// The verdict on a body that is the wire's first bytes, by a plain search
/// of them: found within the limit, else where the body or the limit ends,
/// or truncated if the wire ends first.
fn plain_verdict(needle: &Needle, framing: Framing, limit: u64, wire: &[u8]) -> Verdict {
    let have = wire.len() as u64;
    let end = match framing {
        Framing::Length(n) => n,
        _ => u64::MAX,
    };
    let searched = have.min(end).min(limit) as usize;
    let n = needle.as_bytes();
    if wire[..searched].windows(n.len()).any(|w| w == n) {
        return Verdict::Found;
    }
    let missing = |body_bytes, cut_at_limit| Verdict::Missing {
        body_bytes,
        cut_at_limit,
    };
    match framing {
        Framing::Length(n) if n < limit && have >= n => missing(n, false),
        Framing::Length(n) if n >= limit && have >= limit => missing(limit, true),
        Framing::Length(_) => Verdict::Invalid(BodyError::Truncated),
        _ if have >= limit => missing(limit, true),
        _ => missing(have, false),
    }
}

/// `body` sent chunked, every choice the encoder has drawn from `rng`:
/// chunk sizes, either case of hex, leading zeros, extensions, CRLF or LF,
/// a trailer section, and bytes after the message.
pub fn encode_chunked(body: &[u8], rng: &mut u64) -> Vec<u8> {
    const EXTENSIONS: [&[u8]; 5] = [b"", b";a=b", b" ;x", b"\t;q=\"1;2\"", b";"];
    const TRAILERS: [&[u8]; 3] = [b"", b"X-Sum: 1\r\n", b"Bad trailer\n\x00\xff\r\n"];
    let mut wire = Vec::new();
    let eol = |wire: &mut Vec<u8>, rng: &mut u64| {
        let e: &[u8] = if xorshift(rng) & 3 == 0 {
            b"\n"
        } else {
            b"\r\n"
        };
        wire.extend_from_slice(e);
    };
    let mut rest = body;
    loop {
        let n = match xorshift(rng) % 3 {
            0 => 1 + (xorshift(rng) % 4) as usize,
            1 => 1 + (xorshift(rng) % 64) as usize,
            _ => 1 + (xorshift(rng) % 1024) as usize,
        };
        let n = n.min(rest.len());
        let r = xorshift(rng);
        let zeros = (r % 3) as usize;
        let hex = if r & 8 == 0 {
            format!("{}{:x}", "0".repeat(zeros), n)
        } else {
            format!("{}{:X}", "0".repeat(zeros), n)
        };
        wire.extend_from_slice(hex.as_bytes());
        wire.extend_from_slice(EXTENSIONS[(r >> 8) as usize % EXTENSIONS.len()]);
        eol(&mut wire, rng);
        if n == 0 {
            break;
        }
        wire.extend_from_slice(&rest[..n]);
        eol(&mut wire, rng);
        rest = &rest[n..];
    }
    wire.extend_from_slice(TRAILERS[xorshift(rng) as usize % TRAILERS.len()]);
    eol(&mut wire, rng);
    let after = (xorshift(rng) % 8) as usize;
    wire.resize(wire.len() + after, b'z');
    wire
}
