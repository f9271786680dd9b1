#![allow(missing_docs)] // criterion_group! generates undocumented items
//! strata-redb against raw redb at the same durability, in one run.
//!
//! `cargo bench -p strata-bench --bench redb`
//!
//! - `put/{full,off}/{strata,raw}`: one put, awaited, per iteration.
//! - `get/{strata,raw}`: a point read of a present key.
//! - `get_tasks/{strata,raw}/{2,64}`: 1,024 point reads shared by 2 or 64 tasks on a
//!   2-worker runtime (raw redb reads on the workers themselves); throughput in reads/s.
//! - `batch1000/{strata,raw}`: 1,000 puts in one atomic batch (Full).
//! - `group_commit/…`: `Full` puts from 1, 8 and 64 concurrent writers, against raw redb
//!   with one fsync per put; throughput is in puts per second.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use redb::Durability;
use strata::{StorageBackend, SyncMode, WriteBatch};
use strata_bench::raw_redb::RawRedb;
use strata_redb::RedbBackend;

const VALUE_LEN: usize = 128;

fn key(n: u64) -> Vec<u8> {
    format!("key-{n:012}").into_bytes()
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn bench_put(c: &mut Criterion) {
    let value = vec![7u8; VALUE_LEN];
    for (name, mode, durability) in [
        ("full", SyncMode::Full, Durability::Immediate),
        ("off", SyncMode::Off, Durability::None),
    ] {
        let mut group = c.benchmark_group(format!("put/{name}"));
        let dir = tempfile::tempdir().unwrap();
        let rt = current_thread();
        let store = rt
            .block_on(
                RedbBackend::builder(dir.path().join("s.redb"))
                    .sync_mode(mode)
                    .open(),
            )
            .unwrap();
        // The same store without per-value checksums: what they cost, in the same run.
        let unchecked = rt
            .block_on(
                RedbBackend::builder(dir.path().join("u.redb"))
                    .sync_mode(mode)
                    .checksums(false)
                    .open(),
            )
            .unwrap();
        let counter = AtomicU64::new(0);
        for (label, store) in [("strata", &store), ("strata_no_checksums", &unchecked)] {
            group.bench_function(label, |b| {
                b.to_async(&rt).iter(|| {
                    let k = Bytes::from(key(counter.fetch_add(1, Ordering::Relaxed)));
                    let v = Bytes::from(value.clone());
                    async move { store.put(k, v).await.unwrap() }
                })
            });
        }
        let raw = RawRedb::create(&dir.path().join("raw.redb"));
        group.bench_function("raw", |b| {
            b.iter(|| {
                raw.put(
                    &key(counter.fetch_add(1, Ordering::Relaxed)),
                    &value,
                    durability,
                )
            })
        });
        group.finish();
    }
}

/// Keys and values as raw redb takes them.
type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// 10,000 entries of `VALUE_LEN` bytes, as a batch and as pairs.
fn ten_thousand() -> (WriteBatch, Pairs) {
    let value = vec![7u8; VALUE_LEN];
    let entries: Pairs = (0..10_000).map(|n| (key(n), value.clone())).collect();
    let mut batch = WriteBatch::new();
    for (k, v) in &entries {
        batch.put(k.clone(), v.clone());
    }
    (batch, entries)
}

/// A strata store (`SyncMode::Off`) and a raw redb one in `dir`, both holding
/// [`ten_thousand`].
fn filled(rt: &tokio::runtime::Runtime, dir: &std::path::Path) -> (RedbBackend, RawRedb) {
    let store = rt
        .block_on(
            RedbBackend::builder(dir.join("s.redb"))
                .sync_mode(SyncMode::Off)
                .open(),
        )
        .unwrap();
    let raw = RawRedb::create(&dir.join("raw.redb"));
    let (batch, entries) = ten_thousand();
    rt.block_on(store.write_batch(batch)).unwrap();
    raw.put_batch(&entries, Durability::Immediate);
    (store, raw)
}

/// `reads` reads of present keys shared by `tasks` spawned tasks, each read by `read`.
async fn read_in_tasks<F, Fut>(tasks: u64, reads: u64, counter: Arc<AtomicU64>, read: F)
where
    F: Fn(Vec<u8>) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let (read, counter) = (read.clone(), counter.clone());
            tokio::spawn(async move {
                for _ in 0..reads / tasks {
                    let n = counter.fetch_add(7919, Ordering::Relaxed) % 10_000;
                    assert!(read(key(n)).await, "a present key");
                }
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
}

fn bench_get(c: &mut Criterion) {
    let mut group = c.benchmark_group("get");
    let dir = tempfile::tempdir().unwrap();
    let rt = multi_thread();
    let (store, raw) = filled(&rt, dir.path());
    let unchecked = rt
        .block_on(
            RedbBackend::builder(dir.path().join("u.redb"))
                .sync_mode(SyncMode::Off)
                .checksums(false)
                .open(),
        )
        .unwrap();
    rt.block_on(unchecked.write_batch(ten_thousand().0))
        .unwrap();
    let counter = AtomicU64::new(0);
    for (label, store) in [("strata", &store), ("strata_no_checksums", &unchecked)] {
        group.bench_function(label, |b| {
            b.to_async(&rt).iter(|| {
                let k = key(counter.fetch_add(7919, Ordering::Relaxed) % 10_000);
                async move { assert!(store.get(&k).await.unwrap().is_some()) }
            })
        });
    }
    group.bench_function("raw", |b| {
        b.iter(|| {
            assert!(
                raw.get(&key(counter.fetch_add(7919, Ordering::Relaxed) % 10_000))
                    .is_some()
            )
        })
    });
    group.finish();
}

fn bench_get_tasks(c: &mut Criterion) {
    const READS: u64 = 1_024;
    let mut group = c.benchmark_group("get_tasks");
    group.throughput(Throughput::Elements(READS));
    let dir = tempfile::tempdir().unwrap();
    let rt = multi_thread();
    let (store, raw) = filled(&rt, dir.path());
    let raw = Arc::new(raw);
    let counter = Arc::new(AtomicU64::new(0));
    for tasks in [2u64, 64] {
        group.bench_with_input(BenchmarkId::new("strata", tasks), &tasks, |b, &tasks| {
            b.to_async(&rt).iter(|| {
                let store = store.clone();
                read_in_tasks(tasks, READS, counter.clone(), move |k| {
                    let store = store.clone();
                    async move { store.get(&k).await.unwrap().is_some() }
                })
            })
        });
        group.bench_with_input(BenchmarkId::new("raw", tasks), &tasks, |b, &tasks| {
            b.to_async(&rt).iter(|| {
                let raw = raw.clone();
                read_in_tasks(tasks, READS, counter.clone(), move |k| {
                    let found = raw.get(&k).is_some();
                    async move { found }
                })
            })
        });
    }
    group.finish();
}

fn bench_scan(c: &mut Criterion) {
    let mut group = c.benchmark_group("scan100");
    group.throughput(Throughput::Elements(100));
    let dir = tempfile::tempdir().unwrap();
    let rt = multi_thread();
    let (store, raw) = filled(&rt, dir.path());
    let counter = AtomicU64::new(0);
    group.bench_function("strata", |b| {
        b.to_async(&rt).iter(|| {
            let start = key(counter.fetch_add(7919, Ordering::Relaxed) % 9_900);
            let store = &store;
            async move {
                let range = strata::KeyRange::from_key(start);
                assert_eq!(store.scan(range, Some(100)).await.unwrap().len(), 100)
            }
        })
    });
    group.bench_function("raw", |b| {
        b.iter(|| {
            let start = key(counter.fetch_add(7919, Ordering::Relaxed) % 9_900);
            assert_eq!(raw.scan(&start, 100).len(), 100)
        })
    });
    group.finish();
}

fn bench_batch(c: &mut Criterion) {
    let mut group = c.benchmark_group("batch1000");
    group.throughput(Throughput::Elements(1000));
    let dir = tempfile::tempdir().unwrap();
    let rt = current_thread();
    let store = rt
        .block_on(RedbBackend::builder(dir.path().join("s.redb")).open())
        .unwrap();
    let raw = RawRedb::create(&dir.path().join("raw.redb"));
    let value = vec![7u8; VALUE_LEN];
    let counter = AtomicU64::new(0);
    group.bench_function("strata", |b| {
        b.to_async(&rt).iter(|| {
            let mut batch = WriteBatch::with_capacity(1000);
            for _ in 0..1000 {
                batch.put(key(counter.fetch_add(1, Ordering::Relaxed)), value.clone());
            }
            let store = &store;
            async move { store.write_batch(batch).await.unwrap() }
        })
    });
    group.bench_function("raw", |b| {
        b.iter(|| {
            let entries: Vec<(Vec<u8>, Vec<u8>)> = (0..1000)
                .map(|_| (key(counter.fetch_add(1, Ordering::Relaxed)), value.clone()))
                .collect();
            raw.put_batch(&entries, Durability::Immediate)
        })
    });
    group.finish();
}

fn bench_group_commit(c: &mut Criterion) {
    const PUTS_PER_ITER: u64 = 1024;
    let mut group = c.benchmark_group("group_commit");
    group.throughput(Throughput::Elements(PUTS_PER_ITER));
    let dir = tempfile::tempdir().unwrap();
    let rt = multi_thread();
    let store = rt
        .block_on(
            RedbBackend::builder(dir.path().join("s.redb"))
                .sync_mode(SyncMode::Full)
                .open(),
        )
        .unwrap();
    let counter = Arc::new(AtomicU64::new(0));
    let value = Bytes::from(vec![7u8; VALUE_LEN]);
    for writers in [1u64, 8, 64] {
        group.bench_with_input(
            BenchmarkId::new("strata_full", writers),
            &writers,
            |b, &writers| {
                b.to_async(&rt).iter(|| {
                    let (store, counter, value) = (store.clone(), counter.clone(), value.clone());
                    async move {
                        let tasks: Vec<_> = (0..writers)
                            .map(|_| {
                                let (store, counter, value) =
                                    (store.clone(), counter.clone(), value.clone());
                                tokio::spawn(async move {
                                    for _ in 0..PUTS_PER_ITER / writers {
                                        let k = Bytes::from(key(
                                            counter.fetch_add(1, Ordering::Relaxed)
                                        ));
                                        store.put(k, value.clone()).await.unwrap();
                                    }
                                })
                            })
                            .collect();
                        for t in tasks {
                            t.await.unwrap();
                        }
                    }
                })
            },
        );
    }
    let raw = RawRedb::create(&dir.path().join("raw.redb"));
    group.bench_function("raw_fsync_per_put", |b| {
        b.iter(|| {
            for _ in 0..PUTS_PER_ITER {
                raw.put(
                    &key(counter.fetch_add(1, Ordering::Relaxed)),
                    &value,
                    Durability::Immediate,
                );
            }
        })
    });
    group.finish();
}

/// What redb's `SingleWriter` mode (`shared_reads`, which lets other processes read the file)
/// costs the owner: point reads and fsynced single puts, against the default exclusive lock.
fn bench_shared_reads(c: &mut Criterion) {
    let mut group = c.benchmark_group("shared_reads");
    let dir = tempfile::tempdir().unwrap();
    let rt = multi_thread();
    let open = |name: &str, shared: bool| {
        let store = rt
            .block_on(
                RedbBackend::builder(dir.path().join(name))
                    .sync_mode(SyncMode::Full)
                    .shared_reads(shared)
                    .open(),
            )
            .unwrap();
        rt.block_on(store.write_batch(ten_thousand().0)).unwrap();
        store
    };
    let stores = [
        ("exclusive", open("e.redb", false)),
        ("shared", open("s.redb", true)),
    ];
    let counter = AtomicU64::new(0);
    let value = vec![7u8; VALUE_LEN];
    for (label, store) in &stores {
        group.bench_function(format!("get/{label}"), |b| {
            b.to_async(&rt).iter(|| {
                let k = key(counter.fetch_add(7919, Ordering::Relaxed) % 10_000);
                async move { assert!(store.get(&k).await.unwrap().is_some()) }
            })
        });
    }
    for (label, store) in &stores {
        group.bench_function(format!("put_full/{label}"), |b| {
            b.to_async(&rt).iter(|| {
                let k = key(counter.fetch_add(7919, Ordering::Relaxed) % 10_000);
                let v = value.clone();
                async move { store.put(k.into(), v.into()).await.unwrap() }
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = bench_put, bench_get, bench_get_tasks, bench_scan, bench_batch, bench_group_commit, bench_shared_reads
}
criterion_main!(benches);
