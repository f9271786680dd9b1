//! The product paths hit like the policy they wrap: replaying one deterministic trace through
//! [`MemoryCache`], [`Bounded`] and `Tiered` via the [`StorageBackend`] trait (get, put on a
//! miss) must give the raw [`WTinyLfu`]'s hit ratio, within a point. They once did not: the
//! cache fed the policy its own hash on misses, so the sketch and ghosts learned nothing.

use bytes::Bytes;

use super::policy::WTinyLfu;
use super::{Bounded, MemoryCache, PolicyConfig};
use crate::{MemoryBackend, StorageBackend, Tiered};

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Zipf(`s`) ranks over `n` keys by inverse CDF, mapped to scattered key ids from `base`.
fn zipf(rng: &mut Rng, n: usize, s: f64, count: usize, base: u64, out: &mut Vec<u64>) {
    let mut cdf = Vec::with_capacity(n);
    let mut total = 0.0;
    for rank in 1..=n {
        total += 1.0 / (rank as f64).powf(s);
        cdf.push(total);
    }
    for _ in 0..count {
        let u = rng.unit() * total;
        let rank = cdf.partition_point(|&c| c < u) as u64;
        out.push(base + rank.wrapping_mul(0x9e37_79b9) % (1 << 40));
    }
}

/// A skewed trace with a shifting hot set, a scan and a loop: frequency, recency and
/// adaptation all matter, as on the real traces.
fn trace() -> Vec<u64> {
    let mut rng = Rng(0x5eed_cafe);
    let mut keys = Vec::new();
    zipf(&mut rng, 20_000, 0.9, 60_000, 0, &mut keys);
    // A one-off scan that frequency-based admission should keep out.
    keys.extend((0..5_000u64).map(|k| (1 << 41) + k));
    // The hot set moves: recency first, frequency later.
    zipf(&mut rng, 20_000, 0.9, 60_000, 1 << 42, &mut keys);
    // A loop longer than the cache, mixed with the current hot set.
    for round in 0..20u64 {
        keys.extend((0..1_500u64).map(|k| (1 << 43) + k));
        zipf(
            &mut rng,
            20_000,
            0.9,
            1_000 + round as usize,
            1 << 42,
            &mut keys,
        );
    }
    keys
}

fn raw_policy(keys: &[u64], capacity: u64) -> f64 {
    let mut policy = WTinyLfu::new(PolicyConfig::entries(capacity));
    let mut evicted = Vec::new();
    let mut hits = 0usize;
    for &k in keys {
        if policy.record_hit(&k) {
            hits += 1;
        } else {
            policy.record_miss(&k);
            evicted.clear();
            policy.insert(k, 1, &mut evicted);
        }
    }
    hits as f64 / keys.len() as f64
}

/// Replays `keys` through any backend: get, and put on a miss.
async fn through_trait<B: StorageBackend>(backend: &B, keys: &[u64]) -> f64 {
    let value = Bytes::from_static(b"v");
    let mut hits = 0usize;
    for &k in keys {
        let key = k.to_be_bytes();
        if backend.get(&key).await.unwrap().is_some() {
            hits += 1;
        } else {
            backend
                .put(Bytes::copy_from_slice(&key), value.clone())
                .await
                .unwrap();
        }
    }
    hits as f64 / keys.len() as f64
}

fn capacities(keys: &[u64]) -> Vec<u64> {
    let mut distinct = keys.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    [1, 5, 10]
        .iter()
        .map(|pct| (distinct.len() as u64 * pct / 100).max(1))
        .collect()
}

/// Checks every cell before failing, so a failure shows the whole picture.
fn assert_close(path: &str, cells: &[(u64, f64, f64)]) {
    let report: Vec<String> = cells
        .iter()
        .map(|(capacity, product, policy)| {
            format!(
                "{capacity} entries: {:.2} % vs {:.2} % ({:+.2})",
                product * 100.0,
                policy * 100.0,
                (product - policy) * 100.0
            )
        })
        .collect();
    eprintln!("{path} vs its policy: {report:?}");
    assert!(
        cells.iter().all(|(_, a, b)| (a - b).abs() <= 0.01),
        "{path} strays more than a point from its policy: {report:?}"
    );
}

#[tokio::test]
async fn memory_cache_hits_like_its_policy() {
    let keys = trace();
    let mut cells = Vec::new();
    for capacity in capacities(&keys) {
        let cache = MemoryCache::with_max_entries(capacity).unwrap();
        let product = through_trait(&cache, &keys).await;
        cells.push((capacity, product, raw_policy(&keys, capacity)));
    }
    assert_close("MemoryCache", &cells);
}

#[tokio::test]
async fn tiered_memory_cache_hits_like_its_policy() {
    let keys = trace();
    let mut cells = Vec::new();
    for capacity in capacities(&keys) {
        let tiered = Tiered::new(
            MemoryCache::with_max_entries(capacity).unwrap(),
            MemoryBackend::new(),
        );
        through_trait(&tiered, &keys).await;
        let product = tiered.stats().hit_ratio();
        cells.push((capacity, product, raw_policy(&keys, capacity)));
    }
    assert_close("Tiered(MemoryCache, MemoryBackend)", &cells);
}

#[tokio::test]
async fn bounded_hits_like_its_policy() {
    let keys = trace();
    let mut cells = Vec::new();
    for capacity in capacities(&keys) {
        let bounded = Bounded::open(MemoryBackend::new(), PolicyConfig::entries(capacity), &[])
            .await
            .unwrap();
        let product = through_trait(&bounded, &keys).await;
        cells.push((capacity, product, raw_policy(&keys, capacity)));
    }
    assert_close("Bounded(MemoryBackend)", &cells);
}
