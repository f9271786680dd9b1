//! A read that begins after another read returned never sees an older state (monotonic
//! reads), with four reader threads caching snapshots. redb shows a commit to fresh readers
//! inside `commit()`, before it returns: a reader that kept its snapshot through that window
//! served the older state (found by review, "read 48 after 49 had been read", within 1.5 s),
//! which the commit marks around every commit now prevent.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use strata::{StorageBackend, SyncMode};
use strata_redb::RedbBackend;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_never_go_back_in_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbBackend::builder(dir.path().join("s.redb"))
        .sync_mode(SyncMode::Full)
        .reader_threads(4)
        .reader_spin(Duration::from_millis(10))
        .open()
        .await
        .unwrap();
    // Some bulk so durable commits have freed pages to process after publication.
    for i in 0..200u32 {
        store
            .put(Bytes::from(format!("pad{i}")), Bytes::from(vec![1u8; 2048]))
            .await
            .unwrap();
    }
    let max_seen = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let violations = Arc::new(AtomicU64::new(0));
    let writer = {
        let (store, stop) = (store.clone(), stop.clone());
        tokio::spawn(async move {
            let mut v = 1u64;
            while !stop.load(Ordering::SeqCst) {
                store
                    .put(
                        Bytes::from_static(b"k"),
                        Bytes::copy_from_slice(&v.to_be_bytes()),
                    )
                    .await
                    .unwrap();
                // churn some pages too
                store
                    .put(
                        Bytes::from(format!("pad{}", v % 200)),
                        Bytes::from(vec![v as u8; 2048]),
                    )
                    .await
                    .unwrap();
                v += 1;
            }
        })
    };
    let mut readers = Vec::new();
    for _ in 0..6 {
        let (store, max_seen, stop, violations) = (
            store.clone(),
            max_seen.clone(),
            stop.clone(),
            violations.clone(),
        );
        readers.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let floor = max_seen.load(Ordering::SeqCst);
                let got = store.get(b"k").await.unwrap();
                let seen = got.map_or(0, |v| u64::from_be_bytes(v[..8].try_into().unwrap()));
                if seen < floor {
                    violations.fetch_add(1, Ordering::SeqCst);
                    eprintln!("read {seen} after {floor} had been read");
                }
                max_seen.fetch_max(seen, Ordering::SeqCst);
            }
        }));
    }
    let until = Instant::now() + Duration::from_secs(8);
    while Instant::now() < until && violations.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let limit = Duration::from_secs(30);
    tokio::time::timeout(limit, writer)
        .await
        .expect("writer stops")
        .unwrap();
    for r in readers {
        tokio::time::timeout(limit, r)
            .await
            .expect("reader stops")
            .unwrap();
    }
    assert_eq!(
        violations.load(Ordering::SeqCst),
        0,
        "a read went back in time"
    );
}
