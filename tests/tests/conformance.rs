//! The conformance suite against every backend; tests read `<backend>::<case>`.

use strata::SyncMode;
use strata_tests::harness::{DoubleDyn, RedbHarness, SharedMemoryHarness};

mod memory {
    use super::*;
    strata::conformance_suite!(SharedMemoryHarness::default());
}

mod memory_dyn {
    use super::*;
    strata::conformance_suite!(DoubleDyn(SharedMemoryHarness::default()));
}

mod redb_full {
    use super::*;
    strata::conformance_suite!(RedbHarness::new(SyncMode::Full), persistent);
}

mod redb_normal {
    use super::*;
    strata::conformance_suite!(RedbHarness::new(SyncMode::normal(8)), persistent);
}

mod redb_checkpoint {
    use super::*;
    strata::conformance_suite!(RedbHarness::new(SyncMode::Checkpoint), persistent);
}

mod redb_off {
    use super::*;
    strata::conformance_suite!(RedbHarness::new(SyncMode::Off), persistent);
}

mod redb_shared_reads {
    use super::*;
    strata::conformance_suite!(RedbHarness::shared_reads(SyncMode::Full), persistent);
}

mod redb_dyn {
    use super::*;
    strata::conformance_suite!(DoubleDyn(RedbHarness::new(SyncMode::Full)), persistent);
}

mod memory_cache {
    strata::conformance_suite!(strata_tests::harness::tiered_harness("memory_cache"));
}

mod tiered_memory_over_memory {
    strata::conformance_suite!(strata_tests::harness::tiered_harness("memory_over_memory"));
}

mod tiered_cache_over_redb {
    strata::conformance_suite!(
        strata_tests::harness::tiered_harness("cache_over_redb"),
        persistent
    );
}

mod tiered_redb_over_redb {
    strata::conformance_suite!(
        strata_tests::harness::tiered_harness("redb_over_redb"),
        persistent
    );
}

mod tiered_bounded_redb_over_redb {
    strata::conformance_suite!(
        strata_tests::harness::tiered_harness("bounded_redb_over_redb"),
        persistent
    );
}

mod tiered_three_tiers {
    strata::conformance_suite!(
        strata_tests::harness::tiered_harness("three_tiers"),
        persistent
    );
}

mod tiered_replica {
    strata::conformance_suite!(strata_tests::harness::tiered_harness("replica"));
}

mod tiered_dyn {
    strata::conformance_suite!(
        strata_tests::harness::DoubleDyn(strata_tests::harness::tiered_harness("cache_over_redb")),
        persistent
    );
}

mod compressed_memory {
    strata::conformance_suite!(strata_tests::harness::tiered_harness("compressed_memory"));
}

mod compressed_redb {
    strata::conformance_suite!(
        strata_tests::harness::tiered_harness("compressed_redb"),
        persistent
    );
}

mod tiered_cache_over_compressed_redb {
    strata::conformance_suite!(
        strata_tests::harness::tiered_harness("cache_over_compressed_redb"),
        persistent
    );
}

#[cfg(feature = "remote")] // strata-sync comes with the remote feature (on by default)
mod synced_memory_remote {
    strata::conformance_suite!(strata_tests::harness::SyncedHarness::default(), persistent);
}
