//! Every cache in the hit-ratio comparison behind one small trait, each held strictly to its
//! capacity in entries.

use std::num::NonZeroUsize;

use strata::cache::{PolicyConfig, WTinyLfu};

/// A cache replayed on a trace: `access` returns whether the key was a hit, and inserts it
/// on a miss.
pub trait Simulated {
    /// The policy's name in tables and plots.
    fn name(&self) -> &'static str;
    /// One request.
    fn access(&mut self, key: u64) -> bool;
}

/// Strata's adaptive W-TinyLFU.
pub struct Strata {
    policy: WTinyLfu<u64>,
    evicted: Vec<(u64, strata::cache::EvictionCause)>,
}

impl Strata {
    /// A cache of `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Strata {
            policy: WTinyLfu::new(PolicyConfig::entries(capacity as u64)),
            evicted: Vec::new(),
        }
    }
}

impl Simulated for Strata {
    fn name(&self) -> &'static str {
        "strata"
    }
    fn access(&mut self, key: u64) -> bool {
        if self.policy.record_hit(&key) {
            return true;
        }
        self.policy.record_miss(&key);
        self.evicted.clear();
        self.policy.insert(key, 1, &mut self.evicted);
        false
    }
}

/// Plain LRU (`lru` crate).
pub struct Lru(lru::LruCache<u64, ()>);

impl Lru {
    /// A cache of `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Lru(lru::LruCache::new(
            NonZeroUsize::new(capacity.max(1)).unwrap(),
        ))
    }
}

impl Simulated for Lru {
    fn name(&self) -> &'static str {
        "lru"
    }
    fn access(&mut self, key: u64) -> bool {
        if self.0.get(&key).is_some() {
            return true;
        }
        self.0.put(key, ());
        false
    }
}

/// moka's W-TinyLFU, with pending maintenance run after each insert so it never holds more
/// than its capacity.
pub struct Moka(moka::sync::Cache<u64, ()>);

impl Moka {
    /// A cache of `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Moka(
            moka::sync::Cache::builder()
                .max_capacity(capacity as u64)
                .build(),
        )
    }
}

impl Simulated for Moka {
    fn name(&self) -> &'static str {
        "moka"
    }
    fn access(&mut self, key: u64) -> bool {
        if self.0.get(&key).is_some() {
            return true;
        }
        self.0.insert(key, ());
        self.0.run_pending_tasks();
        false
    }
}

/// quick_cache's CLOCK-Pro-like policy (single-threaded variant).
pub struct QuickCache(quick_cache::unsync::Cache<u64, ()>);

impl QuickCache {
    /// A cache of `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        QuickCache(quick_cache::unsync::Cache::new(capacity.max(1)))
    }
}

impl Simulated for QuickCache {
    fn name(&self) -> &'static str {
        "quick_cache"
    }
    fn access(&mut self, key: u64) -> bool {
        if self.0.get(&key).is_some() {
            return true;
        }
        self.0.insert(key, ());
        false
    }
}

/// foyer's in-memory cache with one of its eviction algorithms, one shard.
pub struct Foyer {
    name: &'static str,
    cache: foyer_memory::Cache<u64, ()>,
}

impl Foyer {
    /// foyer with `algorithm` = `"lfu"`, `"s3fifo"` or `"sieve"`.
    pub fn new(capacity: usize, algorithm: &'static str) -> Self {
        let (name, config) = match algorithm {
            "lfu" => (
                "foyer_lfu",
                foyer_memory::EvictionConfig::Lfu(foyer_memory::LfuConfig::default()),
            ),
            "s3fifo" => (
                "foyer_s3fifo",
                foyer_memory::EvictionConfig::S3Fifo(foyer_memory::S3FifoConfig::default()),
            ),
            // SieveConfig is not exported by foyer-memory 0.22; its config is serde-visible.
            "sieve" => (
                "foyer_sieve",
                serde_json::from_str(r#"{"Sieve":null}"#).expect("sieve config"),
            ),
            other => panic!("unknown foyer algorithm {other}"),
        };
        let cache = foyer_memory::CacheBuilder::new(capacity.max(1))
            .with_shards(1)
            .with_eviction_config(config)
            .build();
        Foyer { name, cache }
    }
}

impl Simulated for Foyer {
    fn name(&self) -> &'static str {
        self.name
    }
    fn access(&mut self, key: u64) -> bool {
        if self.cache.get(&key).is_some() {
            return true;
        }
        self.cache.insert(key, ());
        false
    }
}

/// Every policy compared, in table order, for a capacity: Strata's raw policy, its product
/// paths ([`crate::product`]), then the peers.
pub fn all(capacity: usize) -> Vec<Box<dyn Simulated>> {
    vec![
        Box::new(Strata::new(capacity)),
        Box::new(crate::product::CachePath::new(capacity)),
        Box::new(crate::product::TieredPath::new(capacity)),
        Box::new(Moka::new(capacity)),
        Box::new(QuickCache::new(capacity)),
        Box::new(Foyer::new(capacity, "lfu")),
        Box::new(Foyer::new(capacity, "s3fifo")),
        Box::new(Foyer::new(capacity, "sieve")),
        Box::new(Lru::new(capacity)),
    ]
}

/// The hit ratio of one policy on a trace.
pub fn hit_ratio(cache: &mut dyn Simulated, keys: &[u64]) -> f64 {
    let hits = keys.iter().filter(|&&k| cache.access(k)).count();
    hits as f64 / keys.len().max(1) as f64
}
