//! A test that cannot run here says so loudly, and fails under CI.

use std::env;

/// Reports a test that cannot run here: loudly, and as a failure under CI.
pub fn skip(test: &str, reason: &str) {
    let in_ci = env::var("CI").map(|v| v == "true").unwrap_or(false);
    assert!(!in_ci, "{test}: cannot run under CI=true: {reason}");
    loud(&format!("SKIPPED {test}: {reason}"));
}

/// Writes a line straight to the test process's standard error: unlike
/// `eprintln!`, which the test harness captures and shows only for a failed
/// test, this is seen in every run — a skipped test must say so loudly.
pub fn loud(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}
