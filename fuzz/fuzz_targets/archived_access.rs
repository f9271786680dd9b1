//! Checked access to an archived record on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    strata_tests::fuzzing::archived_access(data);
});
