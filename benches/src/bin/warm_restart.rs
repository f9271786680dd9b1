//! Warm restart: the hit ratio over the first 10 % of a trace replayed after a restart, with
//! the cache cold and with it warmed from the hot set saved before the restart, beside the
//! steady state before it.
//!
//! ```text
//! cargo run --release -p strata-bench --bin warm_restart -- [TRACE] [--cache-percent P]
//! ```
//! TRACE defaults to `../shared/traces/orm-busy.be32.zst`; P to 10 (% of distinct keys).
//!
//! The product path throughout: `Tiered(MemoryCache, MemoryBackend)` holding every key of the
//! trace below; the hot set goes through a file (`HotSet::save` / `load`), as on a real restart.

use std::path::PathBuf;

use bytes::Bytes;
use strata::cache::HotSet;
use strata::{MemoryBackend, MemoryCache, StorageBackend, Tiered, WriteBatch};
use strata_bench::traces::read_trace;

fn key(k: u64) -> Bytes {
    Bytes::copy_from_slice(&k.to_be_bytes())
}

/// Hit ratios (percent) over the first `ends[i]` keys of `keys`, read through `tiered`.
async fn replay_prefixes(
    tiered: &Tiered<MemoryCache, MemoryBackend>,
    keys: &[u64],
    ends: &[usize],
) -> Vec<f64> {
    let before = tiered.stats().hits;
    let mut out = Vec::new();
    let mut done = 0;
    for &end in ends {
        for &k in &keys[done..end] {
            tiered.get(&key(k)).await.expect("a memory read");
        }
        done = end;
        out.push(100.0 * (tiered.stats().hits - before) as f64 / end.max(1) as f64);
    }
    out
}

/// Hit ratio of `keys` read through `tiered`, in percent.
async fn replay(tiered: &Tiered<MemoryCache, MemoryBackend>, keys: &[u64]) -> f64 {
    let before = tiered.stats().hits;
    for &k in keys {
        tiered.get(&key(k)).await.expect("a memory read");
    }
    100.0 * (tiered.stats().hits - before) as f64 / keys.len().max(1) as f64
}

fn main() {
    let mut trace_path = PathBuf::from("../shared/traces/orm-busy.be32.zst");
    let mut percent = 10u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--cache-percent" => {
                percent = args
                    .next()
                    .and_then(|p| p.parse().ok())
                    .expect("--cache-percent P")
            }
            "-h" | "--help" => {
                println!("usage: warm_restart [TRACE] [--cache-percent P]");
                return;
            }
            path => trace_path = PathBuf::from(path),
        }
    }
    let trace = read_trace(&trace_path).unwrap_or_else(|e| panic!("{e}"));
    let capacity = (trace.distinct() as u64 * percent / 100).max(1);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let lower = MemoryBackend::new();
        let mut distinct: Vec<u64> = trace.keys.clone();
        distinct.sort_unstable();
        distinct.dedup();
        for chunk in distinct.chunks(10_000) {
            let mut batch = WriteBatch::new();
            for &k in chunk {
                batch.put(key(k), Bytes::from_static(b"value of 16 byte"));
            }
            lower.write_batch(batch).await.unwrap();
        }
        let cache = |n| MemoryCache::builder().max_entries(n).build().unwrap();
        let n = trace.keys.len();
        let (restart, window) = (n / 2, n / 10);
        // Before the restart: the first half, the steady state read over its last 10 %.
        let first = cache(capacity);
        let before = Tiered::new(first.clone(), lower.clone());
        replay(&before, &trace.keys[..restart - window]).await;
        let steady = replay(&before, &trace.keys[restart - window..restart]).await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cache.hot");
        first.hot_set(capacity as usize).save(&file).unwrap();
        let after = &trace.keys[restart..restart + window];
        // Windows after the restart: as many requests as the cache holds, 1 % and 10 % of
        // the trace.
        let ends = [capacity as usize, n / 100, window];
        // Cold: a new cache, nothing restored.
        let cold = replay_prefixes(&Tiered::new(cache(capacity), lower.clone()), after, &ends).await;
        // Warm: the saved hot set restored.
        let hot = HotSet::load(&file).unwrap().expect("saved above");
        let warm_cache = cache(capacity);
        warm_cache.restore_frequencies(&hot);
        let warm_tier = Tiered::new(warm_cache, lower.clone());
        let loaded = warm_tier.warm(&hot).await.unwrap();
        let warm = replay_prefixes(&warm_tier, after, &ends).await;
        println!(
            "{}: {} requests, {} distinct, cache {} entries ({percent} %), hot set {} keys ({} loaded, {} bytes on disk)",
            trace.name,
            n,
            trace.distinct(),
            capacity,
            hot.len(),
            loaded,
            std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0)
        );
        println!("| hit ratio, % | first {} requests (the cache's size) | first 1 % | first 10 % |", ends[0]);
        println!("|---|---:|---:|---:|");
        println!("| steady state (last 10 % before the restart) | {steady:.2} | {steady:.2} | {steady:.2} |");
        println!("| after the restart, cold | {:.2} | {:.2} | {:.2} |", cold[0], cold[1], cold[2]);
        println!("| after the restart, warm | {:.2} | {:.2} | {:.2} |", warm[0], warm[1], warm[2]);
        println!(
            "first 10 %: warm {:.2} points from steady state, cold {:.2}",
            steady - warm[2],
            steady - cold[2]
        );
    });
}
