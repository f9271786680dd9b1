#![allow(missing_docs)] // criterion_group! generates undocumented items
//! The cache hit with metrics off and on: "on" installs a Prometheus recorder and publishes
//! the cache's counters every millisecond from another thread (a hundred times more often than
//! an exporter would scrape), the worst a user can configure. The hit path itself records
//! nothing (see `strata::telemetry`); this measures what publishing costs the hits around it.
//!
//! `cargo bench -p strata-bench --bench metrics_hit`

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use strata::telemetry::publish_cache;
use strata::{MemoryCache, StorageBackend};
use strata_tests::deadline::ready;

const KEYS: usize = 10_000;

fn hits(c: &mut Criterion) {
    let cache = MemoryCache::builder()
        .max_entries(2 * KEYS as u64)
        .build()
        .unwrap();
    let keys: Vec<Bytes> = (0..KEYS)
        .map(|i| Bytes::from(format!("user/{i:08}")))
        .collect();
    for key in &keys {
        let value = Bytes::from(vec![42u8; 100]);
        let _shared = value.clone();
        ready(cache.put(key.clone(), value)).unwrap();
    }
    let mut group = c.benchmark_group("metrics_hit");
    let run = |b: &mut criterion::Bencher<'_>| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 7) % KEYS;
            black_box(ready(cache.get(&keys[i])).unwrap())
        })
    };
    // Off first: a recorder, once installed, stays for the process.
    group.bench_function("off", run);
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .expect("the only recorder");
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = {
        let (cache, stop) = (cache.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                publish_cache("bench", &cache);
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    group.bench_function("on", run);
    stop.store(true, Ordering::Relaxed);
    publisher.join().unwrap();
    assert!(
        handle.render().contains("strata_cache_hits_total"),
        "the exporter saw the hits"
    );
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    targets = hits
}
criterion_main!(benches);
