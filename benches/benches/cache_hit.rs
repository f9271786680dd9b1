#![allow(missing_docs)] // criterion_group! generates undocumented items
//! Cache hits: Strata's `MemoryCache` and `Tiered`(cache over redb) against moka and
//! quick_cache, on one and two threads, plus a Zipf(0.99) 90/10 get/put mix.
//!
//! `cargo bench -p strata-bench --bench cache_hit`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use strata::{MemoryCache, StorageBackend, SyncMode, Tiered};
use strata_redb::RedbBackend;
use strata_tests::deadline::ready;

const KEYS: usize = 10_000;

fn keys() -> Arc<Vec<Bytes>> {
    Arc::new(
        (0..KEYS)
            .map(|i| Bytes::from(format!("user/{i:08}")))
            .collect(),
    )
}

/// A value as applications usually hold one: already shared (a slice of a network buffer, a
/// clone kept elsewhere), so its reference count lives in a header allocated when it was
/// made, not when a cache first hands it out. Every cache here gets such values: a `Bytes`
/// straight from a `Vec` would let a cache that never clones at insert allocate the headers
/// during the benchmark, in hit order, close together (quick_cache measured 45 ns that way
/// against 83 ns with shared values), which no real workload arranges.
fn value() -> Bytes {
    let value = Bytes::from(vec![42u8; 100]);
    let _shared = value.clone();
    value
}

/// Runs `per_thread(iterations / threads, thread_index)` on `threads` threads and returns the
/// wall time: criterion then reports time per operation across the threads.
fn on_threads(threads: usize, iters: u64, run: impl Fn(u64, usize) + Sync) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let run = &run;
            s.spawn(move || run(iters / threads as u64, t));
        }
    });
    start.elapsed()
}

fn bench_hits(c: &mut Criterion) {
    let keys = keys();
    let strata = MemoryCache::builder()
        .max_entries(2 * KEYS as u64)
        .build()
        .unwrap();
    let moka: moka::sync::Cache<Bytes, Bytes> = moka::sync::Cache::new(2 * KEYS as u64);
    let quick: quick_cache::sync::Cache<Bytes, Bytes> = quick_cache::sync::Cache::new(2 * KEYS);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let redb = rt
        .block_on(
            RedbBackend::builder(dir.path().join("t.redb"))
                .sync_mode(SyncMode::Off)
                .open(),
        )
        .unwrap();
    let tiered = Tiered::new(
        MemoryCache::builder()
            .max_entries(2 * KEYS as u64)
            .build()
            .unwrap(),
        redb,
    );
    for k in keys.iter() {
        ready(strata.put(k.clone(), value())).unwrap();
        moka.insert(k.clone(), value());
        quick.insert(k.clone(), value());
        rt.block_on(tiered.put(k.clone(), value())).unwrap();
    }
    moka.run_pending_tasks();

    for threads in [1usize, 2] {
        let mut group = c.benchmark_group(format!("hit/{threads}_thread"));
        group.bench_function("strata_cache", |b| {
            b.iter_custom(|iters| {
                on_threads(threads, iters, |n, t| {
                    for i in 0..n as usize {
                        black_box(ready(strata.get(&keys[(i * 7 + t * 13) % KEYS])).unwrap());
                    }
                })
            })
        });
        group.bench_function("strata_tiered", |b| {
            b.iter_custom(|iters| {
                on_threads(threads, iters, |n, t| {
                    for i in 0..n as usize {
                        black_box(ready(tiered.get(&keys[(i * 7 + t * 13) % KEYS])).unwrap());
                    }
                })
            })
        });
        group.bench_function("moka", |b| {
            b.iter_custom(|iters| {
                on_threads(threads, iters, |n, t| {
                    for i in 0..n as usize {
                        black_box(moka.get(&keys[(i * 7 + t * 13) % KEYS]));
                    }
                })
            })
        });
        group.bench_function("quick_cache", |b| {
            b.iter_custom(|iters| {
                on_threads(threads, iters, |n, t| {
                    for i in 0..n as usize {
                        black_box(quick.get(&keys[(i * 7 + t * 13) % KEYS]));
                    }
                })
            })
        });
        group.finish();
    }
}

fn bench_zipf_mix(c: &mut Criterion) {
    // Zipf(0.99) over 100k keys, cache of 10k: 90 % gets, 10 % puts; misses insert.
    let n = 100_000usize;
    let keys: Arc<Vec<Bytes>> = Arc::new(
        (0..n)
            .map(|i| Bytes::from(format!("user/{i:08}")))
            .collect(),
    );
    let mut cdf = Vec::with_capacity(n);
    let mut total = 0.0;
    for r in 0..n {
        total += 1.0 / ((r + 1) as f64).powf(0.99);
        cdf.push(total);
    }
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let trace: Vec<(usize, bool)> = (0..200_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let u = (state >> 11) as f64 / (1u64 << 53) as f64 * total;
            (
                cdf.partition_point(|&c| c < u).min(n - 1),
                state.is_multiple_of(10),
            )
        })
        .collect();
    let mut group = c.benchmark_group("zipf_mix");
    let strata = MemoryCache::builder().max_entries(10_000).build().unwrap();
    let moka: moka::sync::Cache<Bytes, Bytes> = moka::sync::Cache::new(10_000);
    group.bench_function("strata_cache", |b| {
        b.iter_custom(|iters| {
            on_threads(2, iters, |ops, t| {
                for i in 0..ops as usize {
                    let (k, write) = trace[(i + t * 100_000) % trace.len()];
                    if write || ready(strata.get(&keys[k])).unwrap().is_none() {
                        ready(strata.put(keys[k].clone(), value())).unwrap();
                    }
                }
            })
        })
    });
    group.bench_function("moka", |b| {
        b.iter_custom(|iters| {
            on_threads(2, iters, |ops, t| {
                for i in 0..ops as usize {
                    let (k, write) = trace[(i + t * 100_000) % trace.len()];
                    if write || moka.get(&keys[k]).is_none() {
                        moka.insert(keys[k].clone(), value());
                    }
                }
            })
        })
    });
    group.finish();
}

#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
struct Profile {
    id: u64,
    name: String,
    score: f64,
}

fn bench_typed_hits(c: &mut Criterion) {
    // The same MemoryCache hit, untyped and through a typed `Collection` (zero-copy access
    // after the buffer's first validation), on one thread.
    let cache = MemoryCache::builder()
        .max_entries(2 * KEYS as u64)
        .build()
        .unwrap();
    let typed: strata_codecs::Collection<u64, Profile, MemoryCache> =
        strata_codecs::Collection::new(cache.keyspace("profiles").unwrap());
    let untyped = cache.keyspace("raw").unwrap();
    let keys: Vec<u64> = (0..KEYS as u64).collect();
    for &k in &keys {
        let profile = Profile {
            id: k,
            name: format!("user {k}"),
            score: k as f64 * 0.5,
        };
        ready(typed.put(&k, &profile)).unwrap();
        let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&profile).unwrap();
        let key = Bytes::copy_from_slice(&k.to_be_bytes());
        ready(untyped.put(key, Bytes::from(bytes.into_vec()))).unwrap();
    }
    let raw_keys: Vec<[u8; 8]> = keys.iter().map(|k| k.to_be_bytes()).collect();
    // Validate every buffer once, as steady state would have.
    for k in &keys {
        ready(typed.get(k)).unwrap().unwrap();
    }
    let mut group = c.benchmark_group("typed_hit");
    group.bench_function("untyped", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 7) % KEYS;
            // Read a field's bytes, as the typed side does.
            let value = ready(untyped.get(&raw_keys[i])).unwrap().unwrap();
            black_box(u64::from_le_bytes(value[..8].try_into().unwrap()))
        })
    });
    group.bench_function("typed", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 7) % KEYS;
            let record = ready(typed.get(&keys[i])).unwrap().unwrap();
            black_box(record.id)
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = bench_hits, bench_zipf_mix, bench_typed_hits
}
criterion_main!(benches);
