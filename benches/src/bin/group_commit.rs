//! Report: group commit under `SyncMode::Full` with 1, 8 and 64 concurrent writers against
//! raw redb paying one fsync per put, with the group sizes the writer achieved.
//!
//! `cargo run --release -p strata-bench --bin group_commit [-- PUTS]`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use redb::Durability;
use strata::{StorageBackend, SyncMode};
use strata_bench::raw_redb::RawRedb;
use strata_redb::RedbBackend;

fn main() {
    let puts: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(4096);
    let dir = tempfile::tempdir().unwrap();
    let value = vec![7u8; 128];

    let raw = RawRedb::create(&dir.path().join("raw.redb"));
    let raw_puts = puts.min(1024);
    let t = Instant::now();
    for i in 0..raw_puts {
        raw.put(
            format!("k{i:010}").as_bytes(),
            &value,
            Durability::Immediate,
        );
    }
    let raw_rate = raw_puts as f64 / t.elapsed().as_secs_f64();
    println!(
        "{:<28} {:>12.0} puts/s",
        "raw redb, fsync per put", raw_rate
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for writers in [1u64, 8, 64] {
        let path = dir.path().join(format!("strata-{writers}.redb"));
        let store = rt
            .block_on(RedbBackend::builder(path).sync_mode(SyncMode::Full).open())
            .unwrap();
        let counter = Arc::new(AtomicU64::new(0));
        let n = if writers == 1 { raw_puts } else { puts };
        let t = Instant::now();
        rt.block_on(async {
            let tasks: Vec<_> = (0..writers)
                .map(|_| {
                    let (store, counter, value) =
                        (store.clone(), counter.clone(), Bytes::from(value.clone()));
                    tokio::spawn(async move {
                        for _ in 0..n / writers {
                            let k = counter.fetch_add(1, Ordering::Relaxed);
                            store
                                .put(Bytes::from(format!("k{k:010}")), value.clone())
                                .await
                                .unwrap();
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
        });
        let rate = n as f64 / t.elapsed().as_secs_f64();
        let stats = store.stats();
        println!(
            "{:<28} {:>12.0} puts/s  {:>6.1}x raw  fsyncs {:>5}  mean group {:>5.1}  largest {:>3}",
            format!("strata Full, {writers} writers"),
            rate,
            rate / raw_rate,
            stats.fsyncs,
            stats.mean_group_size(),
            stats.largest_group
        );
        rt.block_on(store.close()).unwrap();
    }
}
