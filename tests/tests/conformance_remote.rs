//! The conformance suite against a real sqld: the Turso backend alone and under the tiers.

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
