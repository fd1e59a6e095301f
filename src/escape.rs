//! Escaping of bytes that came from outside (a server, a command line)
//! before they reach a log, a terminal or a record: printable ASCII stays,
//! `"` and `\` are escaped, everything else becomes `\xNN`. The result can
//! never contain CR, LF or any other control byte.

use std::fmt;

/// Writes `bytes` escaped into `out`.
pub fn write_escaped(out: &mut impl fmt::Write, bytes: &[u8]) -> fmt::Result {
    for &b in bytes {
        match b {
            b'"' => out.write_str("\\\"")?,
            b'\\' => out.write_str("\\\\")?,
            0x20..=0x7e => out.write_char(b as char)?,
            _ => write!(out, "\\x{b:02x}")?,
        }
    }
    Ok(())
}

/// Writes text that is ours (with anything from outside already escaped),
/// escaping control characters all the same so that no line can be split
/// or forged; quotes and backslashes stay as they are.
pub fn write_controls_escaped(out: &mut impl fmt::Write, text: &str) -> fmt::Result {
    for c in text.chars() {
        if c.is_control() {
            write!(out, "\\x{:02x}", u32::from(c))?;
        } else {
            out.write_char(c)?;
        }
    }
    Ok(())
}

/// `bytes` escaped, as a new string (for the command line and control verbs,
/// never on the probe path).
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    // Writing into a String cannot fail.
    let _ = write_escaped(&mut s, bytes);
    s
}

/// A fixed-size text buffer that silently truncates: formatting into it never
/// allocates and never fails, so it is safe on the probe path.
pub struct LineBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> LineBuf<N> {
    pub const CAPACITY: usize = N;

    pub fn new() -> Self {
        LineBuf {
            buf: [0; N],
            len: 0,
        }
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    pub fn as_str(&self) -> &str {
        // Only whole `str`s are ever copied in, and truncation backs off to a
        // character boundary, so the contents are always UTF-8.
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Shortens the contents to `len` bytes (no-op when already shorter).
    pub fn truncate(&mut self, mut len: usize) {
        if len < self.len {
            // Back off to the start of a UTF-8 character.
            while len > 0 && self.buf[len] & 0xc0 == 0x80 {
                len -= 1;
            }
            self.len = len;
        }
    }
}

impl<const N: usize> Default for LineBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Write for LineBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = N - self.len;
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        self.buf[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write;

    #[test]
    fn control_bytes_never_survive() {
        let e = escape(b"a\r\n<13>Nov  1 forged\x00\x1b[31m\"\\\xff");
        assert_eq!(e, "a\\x0d\\x0a<13>Nov  1 forged\\x00\\x1b[31m\\\"\\\\\\xff");
        assert!(e.bytes().all(|b| (0x20..0x7f).contains(&b)));
    }

    #[test]
    fn linebuf_truncates_on_a_char_boundary() {
        let mut b = LineBuf::<4>::new();
        write!(b, "ab\u{e9}\u{e9}").unwrap();
        assert_eq!(b.as_str(), "ab\u{e9}");
        write!(b, "zzz").unwrap();
        assert_eq!(b.as_str(), "ab\u{e9}");
    }
}
