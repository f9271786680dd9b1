//! Strata's product paths in the hit-ratio comparison: the policy as users get it, behind the
//! `StorageBackend` trait, rather than the raw policy.
//!
//! - [`CachePath`]: a [`MemoryCache`] of the same capacity, replayed as `get`, then `put` on
//!   a miss.
//! - [`TieredPath`]: `Tiered::new(MemoryCache, MemoryBackend)`; a request is a hit when the
//!   cache tier serves it (counted by the tier's own stats). A miss reads the lower tier and
//!   fills the cache; a key the lower tier has never seen is `put` through the tier.
//!
//! Both hold exactly their capacity after every call (the cache evicts before returning).

use std::future::Future;

use bytes::Bytes;
use strata::{MemoryBackend, MemoryCache, StorageBackend, Tiered};

use crate::peers::Simulated;

/// Runs one call of the product path to completion on a single-threaded runtime.
fn run<F: Future>(runtime: &tokio::runtime::Runtime, f: F) -> F::Output {
    runtime.block_on(f)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime")
}

fn value() -> Bytes {
    Bytes::from_static(b"v")
}

/// `MemoryCache` through the trait.
pub struct CachePath {
    cache: MemoryCache,
    runtime: tokio::runtime::Runtime,
}

impl CachePath {
    /// A cache of `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        CachePath {
            cache: MemoryCache::with_max_entries(capacity.max(1) as u64).expect("a cache"),
            runtime: runtime(),
        }
    }
}

impl Simulated for CachePath {
    fn name(&self) -> &'static str {
        "strata_cache"
    }
    fn access(&mut self, key: u64) -> bool {
        let key = key.to_be_bytes();
        let cache = &self.cache;
        run(&self.runtime, async {
            if cache.get(&key).await.expect("get").is_some() {
                return true;
            }
            cache
                .put(Bytes::copy_from_slice(&key), value())
                .await
                .expect("put");
            false
        })
    }
}

/// `Tiered(MemoryCache, MemoryBackend)` through the trait.
pub struct TieredPath {
    tiered: Tiered<MemoryCache, MemoryBackend>,
    runtime: tokio::runtime::Runtime,
}

impl TieredPath {
    /// A tier whose cache holds `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        let cache = MemoryCache::with_max_entries(capacity.max(1) as u64).expect("a cache");
        TieredPath {
            tiered: Tiered::new(cache, MemoryBackend::new()),
            runtime: runtime(),
        }
    }
}

impl Simulated for TieredPath {
    fn name(&self) -> &'static str {
        "strata_tiered"
    }
    fn access(&mut self, key: u64) -> bool {
        let key = key.to_be_bytes();
        let tiered = &self.tiered;
        run(&self.runtime, async {
            let hits = tiered.stats().hits;
            if tiered.get(&key).await.expect("get").is_none() {
                tiered
                    .put(Bytes::copy_from_slice(&key), value())
                    .await
                    .expect("put");
            }
            tiered.stats().hits > hits
        })
    }
}
