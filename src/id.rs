//! A monitor's identifier, valid by construction: only `Id::new` makes one,
//! so a name it gives the state directory can never hold a `/`, a NUL or
//! a leading `-`, nor be empty or longer than the SPEC allows.

use std::ffi::CString;
use std::fmt;

/// Longest ID, in bytes.
pub const MAX_LEN: usize = 255;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Id(String);

impl Id {
    /// Letters, digits, `_` and `-`, not starting with `-`; 1 to 255 bytes.
    pub fn new(text: &str) -> Option<Id> {
        let chars_ok = text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        let ok = chars_ok && !text.is_empty() && text.len() <= MAX_LEN && !text.starts_with('-');
        ok.then(|| Id(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name of its record in the state directory.
    pub fn file_name(&self) -> CString {
        // An Id holds letters, digits, `_` and `-` only: never a NUL.
        CString::new(self.0.as_bytes()).expect("an Id has no NUL byte")
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_of_the_state_directory_are_ids() {
        assert!(Id::new("web-1_a").is_some());
        assert!(Id::new(&"a".repeat(MAX_LEN)).is_some());
        for bad in ["", "-a", "a/b", "..", "a b", "a\0b", "é"] {
            assert!(Id::new(bad).is_none(), "{bad:?}");
        }
        assert!(Id::new(&"a".repeat(MAX_LEN + 1)).is_none());
    }
}
