//! The body check of `--contains`: does the response body hold a string
//! within its first `LIMIT` bytes? Pure and streaming: the head's framing
//! fields come in as bytes, the body as the wire bytes in whatever pieces
//! `recv` returns, and a verdict comes out as soon as those bytes decide
//! it. Nothing here reads a socket, allocates, or keeps more than a fixed
//! few hundred bytes, whatever the server sends, so a body that floods
//! costs the probe no memory and its deadline bounds its time.
//!
//! How the body is delimited (`framing`, RFC 9112 section 6.3):
//!
//! - A status that never has a body (1xx, 204, 304) has none, whatever
//!   the fields say: `Length(0)`.
//! - Else `Transfer-Encoding`, when present, overrides `Content-Length`
//!   (which is then not even checked): `Chunked` when its last coding is
//!   `chunked` (case-insensitive; codings are comma-separated, parameters
//!   after `;` ignored, several fields one list), else the body runs until
//!   the server closes (`UntilClose`). A field with no coding at all is as
//!   if absent.
//! - Else `Content-Length`: each value decimal digits only (no sign, no
//!   space inside), fitting a u64. Several fields, or a comma-separated
//!   list, must all say the same number (RFC 9110 section 8.6 lets a
//!   recipient take `42, 42`); an empty value, a non-number or two
//!   different numbers are `BodyError::ContentLength`.
//! - Else the body runs until close.
//! - Field names are matched case-insensitively, with whitespace before the
//!   colon dropped (RFC 9112 section 5.1); lines that are not one of these
//!   two fields (the status line among them) are skipped. An obsolete
//!   line folding (a line starting with SP or HT) that continues one of
//!   these two fields is `BodyError::FoldedHeader`: its meaning is the
//!   kind of doubt framing cannot afford. A fold elsewhere is skipped.
//!
//! How the body is read (`BodyMatcher`):
//!
//! - Body bytes are counted, framing bytes (chunk-size lines, CRLFs) are
//!   not. The string must end within the first `LIMIT` body bytes: `Found`
//!   at the byte that completes it, even mid-body; `Missing` with
//!   `cut_at_limit` once `LIMIT` body bytes have passed without it (the
//!   rest is never read, so a body of exactly `LIMIT` bytes is cut too:
//!   a chunked one could only tell by waiting for its next size line), or
//!   without when the body ended first.
//! - The search is Knuth-Morris-Pratt, one body byte at a time, with its
//!   table and partial match in the matcher, so a string split across two
//!   reads or two chunks is found, and one that overlaps itself (`aab` in
//!   `aaab`) too. Pieces of any size give the same verdict at the same
//!   byte: the fuzz target `body_stream` checks that.
//! - `Length(n)`: the body is the next n bytes; bytes past them (a longer
//!   body than announced, or pipelined garbage) are never looked at. A
//!   close before the n-th byte is `BodyError::Truncated`: the length
//!   lied, or the server died mid-body.
//! - `UntilClose`: the close ends the body; `end()` says `Missing`.
//! - `Chunked` (RFC 9112 section 7.1): a size in hex digits, either case,
//!   leading zeros allowed, that fits a u64 (else `ChunkSize`); then
//!   optional SP or HT, then optional `;` extensions, ignored whatever they
//!   hold except CR and LF; then CRLF. A bare LF is taken for CRLF
//!   wherever a line ends (as RFC 9112 section 2.2 allows), but a CR must be
//!   followed by LF. Anything else on a size line, no digit at all
//!   included, is `ChunkSize`, at the first byte that shows it. A size
//!   line longer than `SIZE_LINE_MAX` bytes (its LF not counted) is
//!   `ChunkLineTooLong`, so a line that never ends cannot hold the probe
//!   until its deadline for nothing. The chunk's data must be followed by
//!   CRLF (or LF), else `ChunkEnd`. The last chunk (size 0) ends the body
//!   at its size line's LF: the trailer section that follows holds no body
//!   bytes and is never read, so trailers, valid or not, change nothing.
//!   A close before the last chunk is `Truncated`.
//! - Once decided, a verdict stays: later `feed`s and `end` return it and
//!   look at no byte. `feed(&[])` returns the verdict so far, so a
//!   bodiless response (`Length(0)`) is decided before any byte is read.

/// At most this many body bytes are searched (the issue's 64 KiB).
pub const LIMIT: u64 = 64 * 1024;

/// The longest string `--contains` takes.
pub const NEEDLE_MAX: usize = 255;

/// The longest chunk-size line (size, extensions, CR; not its LF).
pub const SIZE_LINE_MAX: u16 = 1024;

/// How the body is delimited, from the response head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Exactly this many bytes (`Content-Length`, or 0 for a bodiless status).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the server closes the connection.
    UntilClose,
}

/// Why a response's body cannot be read as its head says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyError {
    /// `Content-Length` is not a number, or says two different ones.
    ContentLength,
    /// `Content-Length` or `Transfer-Encoding` continued by an obsolete
    /// line folding.
    FoldedHeader,
    /// A chunk-size line that is not hex digits, optional whitespace and
    /// extensions, and its line end; or a size that overflows a u64.
    ChunkSize,
    /// A chunk-size line longer than `SIZE_LINE_MAX`.
    ChunkLineTooLong,
    /// A chunk's data not followed by its CRLF.
    ChunkEnd,
    /// The server closed before the body's end: before `Content-Length`
    /// bytes, or before the last chunk.
    Truncated,
}

impl BodyError {
    /// A short phrase for a log line.
    pub fn as_str(self) -> &'static str {
        match self {
            BodyError::ContentLength => "invalid Content-Length",
            BodyError::FoldedHeader => "folded framing header",
            BodyError::ChunkSize => "invalid chunk size",
            BodyError::ChunkLineTooLong => "chunk size line too long",
            BodyError::ChunkEnd => "chunk data not followed by CRLF",
            BodyError::Truncated => "connection closed before the end of the body",
        }
    }
}

/// What the body bytes so far decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Keep reading.
    More,
    /// The string ended within the first `LIMIT` body bytes.
    Found,
    /// The body ended (`cut_at_limit` false) or its first `LIMIT` bytes
    /// were searched (true) without the string; `body_bytes` were searched.
    Missing { body_bytes: u64, cut_at_limit: bool },
    /// The body's framing is broken, or the body was cut short.
    Invalid(BodyError),
}

/// The framing `head` announces for a response with `status`. `head` is
/// the response's head, with or without its status line, up to its empty
/// line (bytes after that line are not read; a head without one is read
/// to its end).
pub fn framing(head: &[u8], status: u16) -> Result<Framing, BodyError> {
    if (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(Framing::Length(0));
    }
    #[derive(PartialEq)]
    enum Field {
        TransferEncoding,
        ContentLength,
        Other,
    }
    let mut last = Field::Other;
    // The last coding seen so far is chunked; None: no coding seen.
    let mut chunked: Option<bool> = None;
    let mut length: Option<Result<u64, BodyError>> = None;
    for line in head.split(|&c| c == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if last != Field::Other {
                return Err(BodyError::FoldedHeader);
            }
            continue;
        }
        let colon = match line.iter().position(|&c| c == b':') {
            Some(i) => i,
            None => {
                last = Field::Other;
                continue;
            }
        };
        let name = trim(&line[..colon]);
        let value = &line[colon + 1..];
        if name.eq_ignore_ascii_case(b"transfer-encoding") {
            last = Field::TransferEncoding;
            for coding in value.split(|&c| c == b',') {
                let coding = trim(coding.split(|&c| c == b';').next().unwrap_or(coding));
                if !coding.is_empty() {
                    chunked = Some(coding.eq_ignore_ascii_case(b"chunked"));
                }
            }
        } else if name.eq_ignore_ascii_case(b"content-length") {
            last = Field::ContentLength;
            for item in value.split(|&c| c == b',') {
                let n = decimal(trim(item));
                length = Some(match (length, n) {
                    (Some(Err(e)), _) => Err(e),
                    (_, None) => Err(BodyError::ContentLength),
                    (Some(Ok(a)), Some(b)) if a != b => Err(BodyError::ContentLength),
                    (_, Some(b)) => Ok(b),
                });
            }
        } else {
            last = Field::Other;
        }
    }
    match (chunked, length) {
        (Some(true), _) => Ok(Framing::Chunked),
        (Some(false), _) => Ok(Framing::UntilClose),
        (None, Some(n)) => n.map(Framing::Length),
        (None, None) => Ok(Framing::UntilClose),
    }
}

/// `framing` as a parser of the bytes after the final status line, for
/// `Reply::read`: `Incomplete` until the head's empty line has come, then
/// `Done((framing, length of the head))`; never `Invalid` (a head that
/// never ends fills the reply buffer).
pub fn parse_head(buf: &[u8], status: u16) -> super::Parse<(Result<Framing, BodyError>, usize)> {
    match head_len(buf) {
        Some(n) => super::Parse::Done((framing(&buf[..n], status), n)),
        None => super::Parse::Incomplete,
    }
}

/// The length of the header fields in `buf` up to and including the empty
/// line that ends them (`buf` starts at a line's start).
fn head_len(buf: &[u8]) -> Option<usize> {
    let mut start = 0;
    for (i, &c) in buf.iter().enumerate() {
        if c == b'\n' {
            if i == start || (i == start + 1 && buf[start] == b'\r') {
                return Some(i + 1);
            }
            start = i + 1;
        }
    }
    None
}

fn trim(mut b: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = b {
        b = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = b {
        b = rest;
    }
    b
}

/// Decimal digits only, at least one, fitting a u64.
fn decimal(b: &[u8]) -> Option<u64> {
    if b.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(n)
}

/// The string to find: 1 to `NEEDLE_MAX` bytes, with its search table,
/// made once (at start) and copied into each probe's matcher.
#[derive(Clone, Debug)]
pub struct Needle {
    bytes: [u8; NEEDLE_MAX],
    len: u8,
    /// `fail[i]`: the length of the longest proper prefix of
    /// `bytes[..=i]` that is also its suffix (Knuth-Morris-Pratt).
    fail: [u8; NEEDLE_MAX],
}

impl Needle {
    /// None when `s` is empty or longer than `NEEDLE_MAX`.
    pub fn new(s: &[u8]) -> Option<Needle> {
        if s.is_empty() || s.len() > NEEDLE_MAX {
            return None;
        }
        let mut n = Needle {
            bytes: [0; NEEDLE_MAX],
            len: s.len() as u8,
            fail: [0; NEEDLE_MAX],
        };
        n.bytes[..s.len()].copy_from_slice(s);
        let mut k = 0usize;
        for i in 1..s.len() {
            while k > 0 && s[i] != s[k] {
                k = usize::from(n.fail[k - 1]);
            }
            if s[i] == s[k] {
                k += 1;
            }
            n.fail[i] = k as u8;
        }
        Some(n)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// Where the reading of a body stands.
#[derive(Clone, Copy, Debug)]
enum State {
    /// `left` body bytes to come (`Length`).
    Length {
        left: u64,
    },
    UntilClose,
    Chunk(Chunk),
    Decided(Verdict),
}

/// Where the reading of a chunked body stands.
#[derive(Clone, Copy, Debug)]
enum Chunk {
    /// In a size line's hex digits (`digits`: at least one seen).
    Size { size: u64, digits: bool },
    /// Whitespace after the digits.
    Space { size: u64 },
    /// In the extensions, after a `;`.
    Extension { size: u64 },
    /// A CR that ends a size line: LF must follow.
    Cr { size: u64 },
    /// `left` data bytes of a chunk to come.
    Data { left: u64 },
    /// After a chunk's data: CR or LF.
    DataEnd,
    /// After a chunk's data and CR: LF.
    DataLf,
}

/// Reads one response body, fed in pieces, and says whether it holds the
/// needle within its first `LIMIT` bytes. Constant memory (560
/// bytes), no allocation, no panic on any bytes.
#[derive(Clone, Debug)]
pub struct BodyMatcher {
    needle: Needle,
    /// How many needle bytes the last body bytes match (< needle length).
    matched: u8,
    body_bytes: u64,
    limit: u64,
    state: State,
    /// The length of the size line read so far.
    line: u16,
}

impl BodyMatcher {
    pub fn new(needle: &Needle, framing: Framing) -> BodyMatcher {
        BodyMatcher::with_limit(needle, framing, LIMIT)
    }

    /// A matcher that searches the first `limit` body bytes instead of
    /// `LIMIT` (for tests and fuzzing, where bodies are short).
    pub fn with_limit(needle: &Needle, framing: Framing, limit: u64) -> BodyMatcher {
        let state = match framing {
            Framing::Length(n) => State::Length { left: n },
            Framing::Chunked => State::Chunk(Chunk::Size {
                size: 0,
                digits: false,
            }),
            Framing::UntilClose => State::UntilClose,
        };
        let mut m = BodyMatcher {
            needle: needle.clone(),
            matched: 0,
            body_bytes: 0,
            limit,
            state,
            line: 0,
        };
        m.settle();
        m
    }

    /// The body bytes searched so far.
    pub fn body_bytes(&self) -> u64 {
        self.body_bytes
    }

    fn decided(&self) -> bool {
        matches!(self.state, State::Decided(_))
    }

    /// Feeds `wire` one byte at a time until the verdict is decided, then
    /// `end` if it never is: the verdict, and after how many bytes it was
    /// decided (None: only at `end`). The feeding that the tests and the
    /// fuzz target hold every other feeding of the same bytes against.
    pub fn feed_bytewise(&mut self, wire: &[u8]) -> (Verdict, Option<usize>) {
        if self.verdict() != Verdict::More {
            return (self.verdict(), Some(0));
        }
        for (i, b) in wire.iter().enumerate() {
            if self.feed(std::slice::from_ref(b)) != Verdict::More {
                return (self.verdict(), Some(i + 1));
            }
        }
        (self.end(), None)
    }

    /// The verdict so far.
    pub fn verdict(&self) -> Verdict {
        match self.state {
            State::Decided(v) => v,
            _ => Verdict::More,
        }
    }

    /// Feeds the next bytes received after the head, as they came on the
    /// wire (for `Chunked`, size lines and CRLFs included).
    pub fn feed(&mut self, mut bytes: &[u8]) -> Verdict {
        while !bytes.is_empty() {
            let used = match self.state {
                State::Decided(v) => return v,
                State::Length { left } => {
                    let n = self.take(bytes, left);
                    if !self.decided() {
                        self.state = State::Length {
                            left: left - n as u64,
                        };
                    }
                    n
                }
                State::UntilClose => self.take(bytes, u64::MAX),
                State::Chunk(Chunk::Data { left }) => {
                    let n = self.take(bytes, left);
                    if !self.decided() {
                        self.state = State::Chunk(match left - n as u64 {
                            0 => Chunk::DataEnd,
                            left => Chunk::Data { left },
                        });
                    }
                    n
                }
                State::Chunk(c) => {
                    self.state = self.framing_byte(c, bytes[0]);
                    1
                }
            };
            bytes = &bytes[used..];
            self.settle();
        }
        self.verdict()
    }

    /// The server closed the connection: the verdict at the end of the
    /// stream.
    pub fn end(&mut self) -> Verdict {
        self.state = State::Decided(match self.state {
            State::Decided(v) => v,
            State::UntilClose => Verdict::Missing {
                body_bytes: self.body_bytes,
                cut_at_limit: false,
            },
            State::Length { .. } | State::Chunk(_) => Verdict::Invalid(BodyError::Truncated),
        });
        self.verdict()
    }

    /// Searches up to `most` body bytes at the start of `bytes`, no more
    /// than the limit leaves; decides `Found` at the byte that completes
    /// the needle. Returns how many bytes it took.
    fn take(&mut self, bytes: &[u8], most: u64) -> usize {
        let room = self.limit.saturating_sub(self.body_bytes).min(most);
        let n = bytes.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let needle = &self.needle.bytes[..usize::from(self.needle.len)];
        let mut m = usize::from(self.matched);
        for (i, &c) in bytes[..n].iter().enumerate() {
            while m > 0 && needle[m] != c {
                m = usize::from(self.needle.fail[m - 1]);
            }
            if needle[m] == c {
                m += 1;
                if m == needle.len() {
                    self.body_bytes += i as u64 + 1;
                    self.state = State::Decided(Verdict::Found);
                    return i + 1;
                }
            }
        }
        // m < needle.len() <= NEEDLE_MAX: fits.
        self.matched = m as u8;
        self.body_bytes += n as u64;
        n
    }

    /// Decides what the bytes so far decide without another byte: the end
    /// of a `Length` body, or the limit reached.
    fn settle(&mut self) {
        let body_bytes = self.body_bytes;
        let missing = |cut_at_limit| {
            State::Decided(Verdict::Missing {
                body_bytes,
                cut_at_limit,
            })
        };
        self.state = match self.state {
            State::Decided(v) => State::Decided(v),
            _ if self.body_bytes >= self.limit => missing(true),
            State::Length { left: 0 } => missing(false),
            s => s,
        };
    }

    /// The next state of a chunked body after byte `c` outside chunk data.
    fn framing_byte(&mut self, chunk: Chunk, c: u8) -> State {
        let invalid = |e| State::Decided(Verdict::Invalid(e));
        let in_size_line = matches!(
            chunk,
            Chunk::Size { .. } | Chunk::Space { .. } | Chunk::Extension { .. } | Chunk::Cr { .. }
        );
        if in_size_line && c != b'\n' {
            self.line += 1;
            if self.line > SIZE_LINE_MAX {
                return invalid(BodyError::ChunkLineTooLong);
            }
        }
        let next = match (chunk, c) {
            (Chunk::Size { size, .. }, _) if c.is_ascii_hexdigit() => {
                let digit = match c {
                    b'0'..=b'9' => c - b'0',
                    _ => (c | 0x20) - b'a' + 10,
                };
                if size > u64::MAX >> 4 {
                    return invalid(BodyError::ChunkSize);
                }
                Chunk::Size {
                    size: size << 4 | u64::from(digit),
                    digits: true,
                }
            }
            (Chunk::Size { digits: false, .. }, _) => return invalid(BodyError::ChunkSize),
            (Chunk::Size { size, .. } | Chunk::Space { size }, b' ' | b'\t') => {
                Chunk::Space { size }
            }
            (Chunk::Size { size, .. } | Chunk::Space { size }, b';') => Chunk::Extension { size },
            (Chunk::Extension { size }, b'\r' | b'\n') => return self.size_line_end(size, c),
            (Chunk::Extension { size }, _) => Chunk::Extension { size },
            (Chunk::Size { size, .. } | Chunk::Space { size }, b'\r' | b'\n') => {
                return self.size_line_end(size, c)
            }
            (Chunk::Size { .. } | Chunk::Space { .. }, _) => return invalid(BodyError::ChunkSize),
            (Chunk::Cr { size }, b'\n') => return self.size_line_end(size, c),
            (Chunk::Cr { .. }, _) => return invalid(BodyError::ChunkSize),
            (Chunk::DataEnd, b'\r') => Chunk::DataLf,
            (Chunk::DataEnd | Chunk::DataLf, b'\n') => {
                self.line = 0;
                Chunk::Size {
                    size: 0,
                    digits: false,
                }
            }
            (Chunk::DataEnd | Chunk::DataLf, _) => return invalid(BodyError::ChunkEnd),
            // `feed` takes data bytes itself; here for completeness.
            (Chunk::Data { left }, _) => Chunk::Data { left },
        };
        State::Chunk(next)
    }

    /// A size line's CR or LF: a CR waits for its LF; the LF starts the
    /// chunk's data, or ends the body after the last chunk.
    fn size_line_end(&mut self, size: u64, c: u8) -> State {
        if c == b'\r' {
            return State::Chunk(Chunk::Cr { size });
        }
        if size == 0 {
            return State::Decided(Verdict::Missing {
                body_bytes: self.body_bytes,
                cut_at_limit: false,
            });
        }
        State::Chunk(Chunk::Data { left: size })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needle(s: &[u8]) -> Needle {
        Needle::new(s).expect("a test needle of 1 to 255 bytes")
    }

    /// What feeding `wire` whole comes to, then `end()` if that is not
    /// enough, and after how many bytes it was decided (None: at `end`).
    fn whole(needle: &Needle, framing: Framing, wire: &[u8]) -> (Verdict, Option<usize>) {
        let (v, at) = BodyMatcher::with_limit(needle, framing, LIMIT).feed_bytewise(wire);
        assert_ne!(v, Verdict::More, "end() says More");
        (v, at)
    }

    /// The verdict on `wire` (a body after its head) for `needle` and
    /// `framing`. Fed one byte at a time it is decided at some byte; fed
    /// in two pieces split anywhere (every split for a short input, some
    /// for a long one), and whole, it must be the same, decided at the same
    /// byte, and stay so for later bytes and `end`.
    fn run(needle_bytes: &[u8], framing: Framing, wire: &[u8]) -> Verdict {
        let needle = needle(needle_bytes);
        let (want, at) = whole(&needle, framing, wire);
        let step = if wire.len() <= 2048 {
            1
        } else {
            wire.len() / 97
        };
        let splits = (0..=wire.len())
            .step_by(step)
            .chain(at)
            .chain(at.map(|a| a.saturating_sub(1)));
        for k in splits {
            let mut m = BodyMatcher::new(&needle, framing);
            let first = m.feed(&wire[..k]);
            match at {
                Some(a) if k >= a => assert_eq!(first, want, "first {k} bytes"),
                _ => assert_eq!(first, Verdict::More, "first {k} bytes"),
            }
            let second = m.feed(&wire[k..]);
            match at {
                Some(_) => assert_eq!(second, want, "split at {k}"),
                None => assert_eq!(second, Verdict::More, "split at {k}"),
            }
            assert_eq!(m.end(), want, "end after split at {k}");
            assert_eq!(m.feed(b"more"), want, "feed after end");
            assert_eq!(m.end(), want, "end again");
        }
        want
    }

    /// `run`, and the byte after which it was decided.
    fn decided_at(needle_bytes: &[u8], framing: Framing, wire: &[u8]) -> Option<usize> {
        run(needle_bytes, framing, wire);
        whole(&needle(needle_bytes), framing, wire).1
    }

    /// `body` as chunks of the given sizes, lower-case hex, then the last
    /// chunk and an empty trailer section.
    fn chunked(body: &[u8], sizes: &[usize]) -> Vec<u8> {
        let mut wire = Vec::new();
        let mut rest = body;
        for &n in sizes {
            let (chunk, after) = rest.split_at(n.min(rest.len()));
            if chunk.is_empty() {
                break;
            }
            wire.extend(format!("{:x}\r\n", chunk.len()).bytes());
            wire.extend(chunk);
            wire.extend(b"\r\n");
            rest = after;
        }
        if !rest.is_empty() {
            wire.extend(format!("{:x}\r\n", rest.len()).bytes());
            wire.extend(rest);
            wire.extend(b"\r\n");
        }
        wire.extend(b"0\r\n\r\n");
        wire
    }

    fn missing(body_bytes: u64) -> Verdict {
        Verdict::Missing {
            body_bytes,
            cut_at_limit: false,
        }
    }

    const CUT: Verdict = Verdict::Missing {
        body_bytes: LIMIT,
        cut_at_limit: true,
    };

    fn invalid(e: BodyError) -> Verdict {
        Verdict::Invalid(e)
    }

    /// A chunked `wire` is invalid for `error`, decided at byte `at`.
    fn assert_chunked_invalid_at(wire: &[u8], error: BodyError, at: usize) {
        assert_eq!(
            run(b"needle", Framing::Chunked, wire),
            invalid(error),
            "{wire:?}"
        );
        assert_eq!(
            decided_at(b"needle", Framing::Chunked, wire),
            Some(at),
            "{wire:?}"
        );
    }

    #[test]
    fn found_in_a_content_length_body_at_its_last_byte() {
        let body = b"<html>status: all systems go</html>";
        let n = body.len() as u64;
        assert_eq!(
            run(b"all systems go", Framing::Length(n), body),
            Verdict::Found
        );
        // Decided when "go" arrives, before the body's end.
        assert_eq!(
            decided_at(b"all systems go", Framing::Length(n), body),
            Some(28)
        );
        assert_eq!(run(b"<html>", Framing::Length(n), body), Verdict::Found);
        assert_eq!(run(b"</html>", Framing::Length(n), body), Verdict::Found);
    }

    #[test]
    fn missing_from_a_content_length_body_at_its_end() {
        let body = b"<html>status: degraded</html>";
        let n = body.len() as u64;
        assert_eq!(run(b"all systems go", Framing::Length(n), body), missing(n));
        assert_eq!(
            decided_at(b"all systems go", Framing::Length(n), body),
            Some(body.len())
        );
        // A case differs: not the same string.
        assert_eq!(run(b"STATUS", Framing::Length(n), body), missing(n));
    }

    #[test]
    fn bytes_past_content_length_are_not_body() {
        let wire = b"0123456789needle";
        assert_eq!(run(b"needle", Framing::Length(10), wire), missing(10));
        assert_eq!(decided_at(b"needle", Framing::Length(10), wire), Some(10));
        // The needle straddling the body's end is not in the body.
        assert_eq!(run(b"89n", Framing::Length(10), wire), missing(10));
    }

    #[test]
    fn a_content_length_that_lies_is_truncated_at_close() {
        let body = b"only forty bytes of a body said to be 100";
        assert_eq!(
            run(b"needle", Framing::Length(100), body),
            invalid(BodyError::Truncated)
        );
        assert_eq!(
            run(b"needle", Framing::Length(1), b""),
            invalid(BodyError::Truncated)
        );
        // What came is still searched: found before the close decides.
        assert_eq!(run(b"forty", Framing::Length(100), body), Verdict::Found);
    }

    #[test]
    fn an_empty_body_is_decided_before_any_byte() {
        let n = needle(b"x");
        let mut m = BodyMatcher::new(&n, Framing::Length(0));
        assert_eq!(m.verdict(), missing(0));
        assert_eq!(m.feed(b""), missing(0));
        assert_eq!(m.feed(b"x"), missing(0));
        assert_eq!(run(b"x", Framing::Length(0), b"xxx"), missing(0));
        let mut m = BodyMatcher::new(&n, Framing::UntilClose);
        assert_eq!(m.feed(b""), Verdict::More);
        assert_eq!(m.end(), missing(0));
    }

    #[test]
    fn a_body_until_close_ends_at_close() {
        assert_eq!(
            run(b"ok", Framing::UntilClose, b"all ok here"),
            Verdict::Found
        );
        assert_eq!(
            run(b"ok", Framing::UntilClose, b"all bad here"),
            missing(12)
        );
        assert_eq!(decided_at(b"ok", Framing::UntilClose, b"all bad"), None);
    }

    #[test]
    fn found_across_chunks() {
        let body = b"<p>database: reachable</p>";
        for sizes in [&[1usize][..], &[3, 7, 2], &[15, 1], &[12], &[13, 1, 1]] {
            let wire = chunked(body, sizes);
            assert_eq!(
                run(b"database: reachable", Framing::Chunked, &wire),
                Verdict::Found,
                "{sizes:?}"
            );
            assert_eq!(
                run(b"unreachable", Framing::Chunked, &wire),
                missing(body.len() as u64),
                "{sizes:?}"
            );
        }
    }

    #[test]
    fn chunk_framing_bytes_are_not_body() {
        // "ab" + "cd": the CRLF and size between them are not searched.
        let wire = b"2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n";
        assert_eq!(run(b"abcd", Framing::Chunked, wire), Verdict::Found);
        assert_eq!(run(b"b\r\n", Framing::Chunked, wire), missing(4));
        assert_eq!(run(b"2\r\ncd", Framing::Chunked, wire), missing(4));
        // The body ends at the last chunk's line: decided there.
        assert_eq!(
            decided_at(b"zz", Framing::Chunked, wire),
            Some(wire.len() - 2)
        );
    }

    #[test]
    fn chunk_sizes_in_either_case_of_hex() {
        let body: Vec<u8> = (0..26).map(|i| b'a' + i).collect();
        for size in ["1a", "1A", "001a", "001A"] {
            let mut wire = format!("{size}\r\n").into_bytes();
            wire.extend(&body);
            wire.extend(b"\r\n0\r\n\r\n");
            assert_eq!(
                run(b"xyz", Framing::Chunked, &wire),
                Verdict::Found,
                "{size}"
            );
            assert_eq!(run(b"zz", Framing::Chunked, &wire), missing(26), "{size}");
        }
        let mut wire = b"Ff\r\n".to_vec();
        wire.extend([b'.'; 255]);
        wire.extend(b"\r\n0\r\n\r\n");
        assert_eq!(run(b"x", Framing::Chunked, &wire), missing(255));
    }

    #[test]
    fn chunk_extensions_are_skipped() {
        for line in [
            "5;name=value",
            "5;a",
            "5 ;a=\"b;c\"",
            "5\t; x ; y=z",
            "5  ",
            "5;",
            "5;\u{0}\u{7f}",
        ] {
            let wire = format!("{line}\r\nhello\r\n0;last=yes\r\n\r\n");
            assert_eq!(
                run(b"hello", Framing::Chunked, wire.as_bytes()),
                Verdict::Found,
                "{line:?}"
            );
            assert_eq!(
                run(b"name", Framing::Chunked, wire.as_bytes()),
                missing(5),
                "{line:?}"
            );
        }
    }

    #[test]
    fn trailers_are_not_body_and_not_read() {
        let wire = b"3\r\nabc\r\n0\r\nX-Checksum: needle\r\nbroken trailer\n\r\n";
        assert_eq!(run(b"needle", Framing::Chunked, wire), missing(3));
        assert_eq!(decided_at(b"needle", Framing::Chunked, wire), Some(11));
        // A close in the trailers is after the verdict.
        assert_eq!(run(b"needle", Framing::Chunked, &wire[..20]), missing(3));
    }

    #[test]
    fn bare_lf_ends_chunk_lines() {
        let wire = b"3\nabc\n3;x\ndef\n0\n\n";
        assert_eq!(run(b"abcdef", Framing::Chunked, wire), Verdict::Found);
        assert_eq!(run(b"zz", Framing::Chunked, wire), missing(6));
    }

    #[test]
    fn a_chunk_size_that_is_not_hex_is_invalid_where_it_shows() {
        for (wire, at) in [
            (&b"g\r\n"[..], 1),
            (b"\r\n", 1),
            (b"\n", 1),
            (b" 5\r\n", 1),
            (b";x\r\n", 1),
            (b"-5\r\n", 1),
            (b"0x5\r\n", 2),
            (b"5x\r\n", 2),
            (b"5 x\r\n", 3),
            (b"5 5\r\n", 3),
            (b"5\rx", 3),
            (b"5;a\rx", 5),
            (b"5\r\r\n", 3),
            (b"2\r\nab\r\nzz\r\n", 8),
        ] {
            assert_chunked_invalid_at(wire, BodyError::ChunkSize, at);
        }
    }

    #[test]
    fn a_chunk_size_that_overflows_is_invalid() {
        // 16 hex digits fit a u64; a 17th significant one does not.
        let fits = b"ffffffffffffffff\r\nabc";
        assert_eq!(run(b"abc", Framing::Chunked, fits), Verdict::Found);
        let over = b"10000000000000000\r\n";
        assert_eq!(
            run(b"x", Framing::Chunked, over),
            invalid(BodyError::ChunkSize)
        );
        assert_eq!(decided_at(b"x", Framing::Chunked, over), Some(17));
        // Leading zeros are no overflow.
        let zeros = b"000000000000000000000003\r\nabc\r\n0\r\n\r\n";
        assert_eq!(run(b"abc", Framing::Chunked, zeros), Verdict::Found);
    }

    #[test]
    fn a_chunk_size_line_past_its_bound_is_invalid() {
        let mut line = b"5;".to_vec();
        line.resize(usize::from(SIZE_LINE_MAX), b'x');
        let mut ok = line.clone();
        ok.extend(b"\r\nhello\r\n0\r\n\r\n");
        // Exactly SIZE_LINE_MAX bytes and the CR: one too many.
        assert_eq!(
            run(b"hello", Framing::Chunked, &ok),
            invalid(BodyError::ChunkLineTooLong)
        );
        let mut ok = line[..line.len() - 1].to_vec();
        ok.extend(b"\r\nhello\r\n0\r\n\r\n");
        assert_eq!(run(b"hello", Framing::Chunked, &ok), Verdict::Found);
        // An extension that never ends fails at the bound, not at close.
        let mut endless = b"5;".to_vec();
        endless.resize(100_000, b'x');
        assert_eq!(
            decided_at(b"x", Framing::Chunked, &endless),
            Some(usize::from(SIZE_LINE_MAX) + 1)
        );
        // The bound is per line: the next line counts from 0.
        let mut two = line[..line.len() - 1].to_vec();
        two.extend(b"\r\nhello\r\n");
        two.extend(&line[..line.len() - 1]);
        two.extend(b"\r\nworld\r\n0\r\n\r\n");
        assert_eq!(run(b"world", Framing::Chunked, &two), Verdict::Found);
    }

    #[test]
    fn chunk_data_without_its_crlf_is_invalid() {
        for (wire, at) in [
            (&b"5\r\nhelloX"[..], 9),
            (b"5\r\nhello\rX", 10),
            (b"5\r\nhello\r\r\n", 10),
            (b"5\r\nhello world\r\n0\r\n\r\n", 9),
        ] {
            assert_chunked_invalid_at(wire, BodyError::ChunkEnd, at);
        }
        // Found in the data decides before the missing CRLF shows.
        assert_eq!(
            run(b"hello", Framing::Chunked, b"5\r\nhelloX"),
            Verdict::Found
        );
    }

    #[test]
    fn a_chunked_body_cut_short_is_truncated() {
        for wire in [
            &b""[..],
            b"5",
            b"5;ext",
            b"5\r",
            b"5\r\n",
            b"5\r\nhel",
            b"5\r\nhello",
            b"5\r\nhello\r",
            b"5\r\nhello\r\n",
            b"5\r\nhello\r\n0",
            b"5\r\nhello\r\n0\r",
        ] {
            assert_eq!(
                run(b"needle", Framing::Chunked, wire),
                invalid(BodyError::Truncated),
                "{wire:?}"
            );
        }
    }

    #[test]
    fn a_needle_that_overlaps_itself() {
        let l = |b: &[u8]| Framing::Length(b.len() as u64);
        assert_eq!(run(b"aab", l(b"aaab"), b"aaab"), Verdict::Found);
        assert_eq!(run(b"abab", l(b"abaabab"), b"abaabab"), Verdict::Found);
        assert_eq!(run(b"ababc", l(b"abababc"), b"abababc"), Verdict::Found);
        assert_eq!(run(b"aaaa", l(b"aaabaaa"), b"aaabaaa"), missing(7));
        assert_eq!(
            run(b"abcabd", l(b"abcabcabd"), b"abcabcabd"),
            Verdict::Found
        );
        assert_eq!(
            run(b"aab", Framing::Chunked, b"2\r\naa\r\n2\r\nab\r\n"),
            Verdict::Found
        );
    }

    #[test]
    fn a_needle_of_255_bytes() {
        let long: Vec<u8> = (0..255u32).map(|i| b'a' + (i % 26) as u8).collect();
        let mut body = b"prefix ".to_vec();
        body.extend(&long);
        body.extend(b" suffix");
        let n = body.len() as u64;
        assert_eq!(run(&long, Framing::Length(n), &body), Verdict::Found);
        assert_eq!(
            run(&long, Framing::Chunked, &chunked(&body, &[100, 100])),
            Verdict::Found
        );
        // Its last byte changed: not there.
        let mut other = long.clone();
        other[254] = b'!';
        assert_eq!(run(&other, Framing::Length(n), &body), missing(n));
        assert!(Needle::new(&long).is_some());
        assert_eq!(Needle::new(&long).map(|n| n.as_bytes().len()), Some(255));
        let mut too_long = long;
        too_long.push(b'z');
        assert!(Needle::new(&too_long).is_none());
        assert!(Needle::new(b"").is_none());
    }

    /// A body of `n` bytes of `.` with `needle` ending at body byte `end`.
    fn body_with(n: usize, needle: &[u8], end: usize) -> Vec<u8> {
        let mut body = vec![b'.'; n];
        body[end - needle.len()..end].copy_from_slice(needle);
        body
    }

    #[test]
    fn only_the_first_64_kib_are_searched() {
        let limit = LIMIT as usize;
        let n = limit + 1000;
        let len = Framing::Length(n as u64);
        // Ending at the limit's last byte: found.
        assert_eq!(
            run(b"needle", len, &body_with(n, b"needle", limit)),
            Verdict::Found
        );
        // One byte later: cut at the limit, decided at its last byte.
        let late = body_with(n, b"needle", limit + 1);
        assert_eq!(run(b"needle", len, &late), CUT);
        assert_eq!(decided_at(b"needle", len, &late), Some(limit));
        assert_eq!(run(b"needle", Framing::UntilClose, &late), CUT);
        let wire = chunked(&late, &[1000, 30_000, 40_000]);
        assert_eq!(run(b"needle", Framing::Chunked, &wire), CUT);
        // A body of exactly the limit is cut there too: whether it ends
        // there is not the search's business, and a chunked one cannot say.
        let exact = Framing::Length(LIMIT);
        assert_eq!(run(b"needle", exact, &vec![b'.'; limit]), CUT);
        let under = Framing::Length(LIMIT - 1);
        assert_eq!(
            run(b"needle", under, &vec![b'.'; limit]),
            missing(LIMIT - 1)
        );
    }

    #[test]
    fn only_the_first_64_kib_of_chunks_are_searched() {
        let limit = LIMIT as usize;
        let body = body_with(limit + 10, b"needle", limit + 3);
        // The limit falls inside the chunk holding the needle, then
        // between chunks.
        for sizes in [&[limit - 2][..], &[limit, 10]] {
            let wire = chunked(&body, sizes);
            assert_eq!(run(b"needle", Framing::Chunked, &wire), CUT, "{sizes:?}");
        }
        // A chunked body of exactly the limit: cut as a Length one is.
        let exact = chunked(&vec![b'.'; limit], &[limit]);
        assert_eq!(run(b"needle", Framing::Chunked, &exact), CUT);
        let found = chunked(&body_with(limit + 10, b"needle", limit), &[limit - 3]);
        assert_eq!(run(b"needle", Framing::Chunked, &found), Verdict::Found);
    }

    #[test]
    fn a_body_that_never_ends_is_cut_at_the_limit_in_constant_memory() {
        // A flood of 1 MiB, 4 KiB a read: decided at the limit, and not a
        // byte more is looked at. The matcher is a fixed few hundred bytes
        // that hold no reference to what it was fed.
        let n = needle(b"never there");
        let mut m = BodyMatcher::new(&n, Framing::UntilClose);
        let piece = [b'x'; 4096];
        let mut fed = 0usize;
        let mut verdict = Verdict::More;
        while fed < 1 << 20 {
            verdict = m.feed(&piece);
            fed += piece.len();
            if verdict != Verdict::More {
                break;
            }
        }
        assert_eq!(verdict, CUT);
        assert_eq!(fed as u64, LIMIT);
        assert_eq!(m.body_bytes(), LIMIT);
        assert!(std::mem::size_of::<BodyMatcher>() <= 640);
        // Chunked, in 1-byte chunks: framing bytes do not count.
        let mut m = BodyMatcher::new(&n, Framing::Chunked);
        let mut verdict = Verdict::More;
        let mut bytes = 0u64;
        for _ in 0..1 << 20 {
            verdict = m.feed(b"1\r\nx\r\n");
            bytes += 1;
            if verdict != Verdict::More {
                break;
            }
        }
        assert_eq!(verdict, CUT);
        assert_eq!(bytes, LIMIT);
    }

    #[test]
    fn framing_from_the_head() {
        let f = |h: &str, status| framing(h.as_bytes(), status);
        assert_eq!(
            f("HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n", 200),
            Ok(Framing::Length(42))
        );
        assert_eq!(f("content-length:7\n\n", 200), Ok(Framing::Length(7)));
        assert_eq!(
            f("Content-Length :  0 \r\n\r\n", 200),
            Ok(Framing::Length(0))
        );
        assert_eq!(
            f("Transfer-Encoding: chunked\r\n\r\n", 200),
            Ok(Framing::Chunked)
        );
        assert_eq!(
            f("TRANSFER-ENCODING: Chunked\r\n\r\n", 200),
            Ok(Framing::Chunked)
        );
        assert_eq!(f("Server: x\r\n\r\n", 200), Ok(Framing::UntilClose));
        assert_eq!(f("", 200), Ok(Framing::UntilClose));
        // A body-less status, whatever the fields say.
        for status in [100, 101, 204, 304] {
            assert_eq!(
                f(
                    "Content-Length: 42\r\nTransfer-Encoding: chunked\r\n\r\n",
                    status
                ),
                Ok(Framing::Length(0)),
                "{status}"
            );
            assert_eq!(
                f("Content-Length: x\r\n\r\n", status),
                Ok(Framing::Length(0))
            );
        }
        assert_eq!(
            f("Content-Length: 42\r\n\r\n", 404),
            Ok(Framing::Length(42))
        );
        assert_eq!(
            f("Content-Length: 42\r\n\r\n", 205),
            Ok(Framing::Length(42))
        );
    }

    #[test]
    fn transfer_encoding_beats_content_length() {
        let f = |h: &str| framing(h.as_bytes(), 200);
        assert_eq!(
            f("Content-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Ok(Framing::Chunked)
        );
        assert_eq!(
            f("Transfer-Encoding: chunked\r\nContent-Length: nonsense\r\n\r\n"),
            Ok(Framing::Chunked)
        );
        // The last coding decides; several fields are one list.
        assert_eq!(
            f("Transfer-Encoding: gzip, chunked\r\n\r\n"),
            Ok(Framing::Chunked)
        );
        assert_eq!(
            f("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked;x=1\r\n\r\n"),
            Ok(Framing::Chunked)
        );
        assert_eq!(
            f("Transfer-Encoding: chunked, gzip\r\nContent-Length: 5\r\n\r\n"),
            Ok(Framing::UntilClose)
        );
        assert_eq!(
            f("Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n"),
            Ok(Framing::UntilClose)
        );
        assert_eq!(
            f("Transfer-Encoding: chunkedx\r\n\r\n"),
            Ok(Framing::UntilClose)
        );
        // No coding at all: as if absent.
        assert_eq!(
            f("Transfer-Encoding: ,\r\nContent-Length: 3\r\n\r\n"),
            Ok(Framing::Length(3))
        );
        assert_eq!(
            f("Transfer-Encoding: chunked, \r\n\r\n"),
            Ok(Framing::Chunked)
        );
    }

    #[test]
    fn a_content_length_that_is_not_one_number_is_refused() {
        let f = |h: &str| framing(h.as_bytes(), 200);
        let bad = Err(BodyError::ContentLength);
        assert_eq!(f("Content-Length: 10\r\nContent-Length: 11\r\n\r\n"), bad);
        assert_eq!(f("Content-Length: 10, 11\r\n\r\n"), bad);
        assert_eq!(
            f("Content-Length: 10\r\nContent-Length: 10\r\n\r\n"),
            Ok(Framing::Length(10))
        );
        assert_eq!(f("Content-Length: 10, 10\r\n\r\n"), Ok(Framing::Length(10)));
        assert_eq!(f("Content-Length: 10,\r\n\r\n"), bad);
        for v in [
            "",
            "x",
            "-1",
            "+1",
            "1 0",
            "0x10",
            "1.0",
            "18446744073709551616",
        ] {
            assert_eq!(f(&format!("Content-Length: {v}\r\n\r\n")), bad, "{v:?}");
        }
        assert_eq!(
            f("Content-Length: 18446744073709551615\r\n\r\n"),
            Ok(Framing::Length(u64::MAX))
        );
        // A bad value then a good one: still bad.
        assert_eq!(f("Content-Length: x\r\nContent-Length: 1\r\n\r\n"), bad);
    }

    #[test]
    fn folded_framing_fields_are_refused() {
        let f = |h: &str| framing(h.as_bytes(), 200);
        assert_eq!(
            f("Content-Length: 1\r\n 0\r\n\r\n"),
            Err(BodyError::FoldedHeader)
        );
        assert_eq!(
            f("Transfer-Encoding: gzip,\r\n\tchunked\r\n\r\n"),
            Err(BodyError::FoldedHeader)
        );
        assert_eq!(
            f("X-Long: a\r\n b\r\nContent-Length: 1\r\n\r\n"),
            Ok(Framing::Length(1))
        );
    }

    #[test]
    fn only_the_head_is_read() {
        let f = |h: &str| framing(h.as_bytes(), 200);
        // Fields after the empty line are body.
        assert_eq!(
            f("Content-Length: 5\r\n\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Ok(Framing::Length(5))
        );
        assert_eq!(f("\r\nContent-Length: 5\r\n\r\n"), Ok(Framing::UntilClose));
        assert_eq!(f("Content-Length: 5"), Ok(Framing::Length(5)));
    }

    #[test]
    fn parse_head_waits_for_the_empty_line() {
        use super::super::Parse;
        let head = b"Content-Length: 5\r\nServer: x\r\n\r\nhello";
        for k in 0..head.len() {
            let want = if k < head.len() - 5 {
                Parse::Incomplete
            } else {
                Parse::Done((Ok(Framing::Length(5)), head.len() - 5))
            };
            assert_eq!(parse_head(&head[..k], 200), want, "{k}");
        }
        assert_eq!(
            parse_head(b"\r\nabc", 200),
            Parse::Done((Ok(Framing::UntilClose), 2))
        );
        assert_eq!(
            parse_head(b"\nabc", 200),
            Parse::Done((Ok(Framing::UntilClose), 1))
        );
        assert_eq!(
            parse_head(b"A: b\n\n", 204),
            Parse::Done((Ok(Framing::Length(0)), 6))
        );
        assert_eq!(
            parse_head(b"Content-Length: -1\r\n\r\n", 200),
            Parse::Done((Err(BodyError::ContentLength), 22))
        );
    }
}
