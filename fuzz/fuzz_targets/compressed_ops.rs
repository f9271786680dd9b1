//! An arbitrary sequence of operations through `Compressed<MemoryBackend>` against a model.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    strata_tests::ops::run_compressed_input(data);
});
