//! Envelope decoding on arbitrary bytes (see `strata_tests::fuzzing`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    strata_tests::fuzzing::envelope_decode(data);
});
