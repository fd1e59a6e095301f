//! Any bytes through the `--contains` body matcher, fed in random pieces:
//! the verdict must not depend on the pieces, and must be what a plain
//! search says where one can: see `ismon_fuzz::check_body`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let (seed, data) = ismon_fuzz::split_seed(input);
    ismon_fuzz::check_body(seed, data);
});
