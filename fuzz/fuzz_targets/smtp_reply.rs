//! Any bytes through the parser: see `ismon_fuzz::check_smtp` for what must hold.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| ismon_fuzz::check_smtp(input));
