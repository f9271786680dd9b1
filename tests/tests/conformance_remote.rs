//! The conformance suite against a real sqld: the Turso backend alone and under the tiers.
#![cfg(feature = "remote")] // on by default; only the fuzz build turns it off

mod turso {
    strata::conformance_suite!(
        strata_tests::harness::RemoteHarness::new("turso"),
        persistent
    );
}

mod tiered_cache_over_turso {
    strata::conformance_suite!(
        strata_tests::harness::RemoteHarness::new("cache_over_turso"),
        persistent
    );
}

mod tiered_cache_over_redb_over_turso {
    strata::conformance_suite!(
        strata_tests::harness::RemoteHarness::new("cache_over_redb_over_turso"),
        persistent
    );
}

mod synced_turso {
    strata::conformance_suite!(
        strata_tests::harness::RemoteHarness::new("synced_turso"),
        persistent
    );
}
