//! An arbitrary sequence of operations against the memory and redb backends, checked step by
//! step against a `BTreeMap` model (see `strata_tests::ops`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    strata_tests::ops::run_input(data);
});
