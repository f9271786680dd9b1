//! Connection reuse, measured by counting TCP connects.
#![cfg(feature = "remote")] // on by default; only the fuzz build turns it off

use bytes::Bytes;
use strata::StorageBackend;
use strata_tests::sqld::{Access, Sqld};
use strata_turso::TursoBackend;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_and_writes_reuse_connections() {
    let sqld = Sqld::start();
    let pool = 4;
    let store = TursoBackend::builder(sqld.url())
        .auth_token(sqld.token(Access::ReadWrite))
        .pool_size(pool)
        .open()
        .await
        .unwrap();
    for i in 0..100 {
        store
            .put(Bytes::from(format!("k{i}")), Bytes::from_static(b"v"))
            .await
            .unwrap();
    }
    let before = store.tcp_connects();
    for i in 0..1000 {
        assert!(
            store
                .get(format!("k{}", i % 100).as_bytes())
                .await
                .unwrap()
                .is_some()
        );
    }
    let reads = store.tcp_connects() - before;
    let before = store.tcp_connects();
    for i in 0..200 {
        store
            .put(Bytes::from(format!("w{i}")), Bytes::from_static(b"v"))
            .await
            .unwrap();
    }
    let writes = store.tcp_connects() - before;
    eprintln!("TCP connects: {reads} per 1,000 reads, {writes} per 200 writes (pool of {pool})");
    assert!(
        reads <= pool as u64,
        "{reads} TCP connects for 1,000 reads with a pool of {pool}"
    );
    assert!(
        writes <= pool as u64,
        "{writes} TCP connects for 200 writes"
    );
}
