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

// The same over `https://`, through a TLS terminator in front of the sqld.
mod turso_tls {
    strata::conformance_suite!(
        strata_tests::harness::RemoteHarness::over_tls("turso"),
        persistent
    );
}

mod tiered_cache_over_redb_over_turso_tls {
    strata::conformance_suite!(
        strata_tests::harness::RemoteHarness::over_tls("cache_over_redb_over_turso"),
        persistent
    );
}

mod synced_turso_tls {
    strata::conformance_suite!(
        strata_tests::harness::RemoteHarness::over_tls("synced_turso"),
        persistent
    );
}
