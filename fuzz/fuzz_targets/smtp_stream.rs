//! A stream of replies fed in chunks of random sizes through a buffer of
//! REPLY_MAX bytes, as the probe reads it, must come to what the parser says
//! on the whole stream: see `ismon_fuzz::check_stream`.
#![no_main]

use ismon::probe::smtp::parse_reply;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let (seed, data) = ismon_fuzz::split_seed(input);
    ismon_fuzz::check_stream(seed, data, parse_reply);
});
