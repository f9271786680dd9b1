//! Compressed-frame decoding (with and without a dictionary) on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    strata_tests::fuzzing::compressed_decode(data);
});
