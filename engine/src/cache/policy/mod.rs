//! Adaptive W-TinyLFU: which keys a bounded cache keeps.
//!
//! New keys enter a small LRU **window**. Keys leaving the window are *candidates* for the
//! **main** area, a segmented LRU (probation, then protected once hit again). When the cache
//! is over capacity a candidate must beat the main area's victim (the probation LRU) on
//! estimated frequency ([`FrequencySketch`]) to be admitted; otherwise it is dropped.
//!
//! The window adapts, so the policy behaves like LRU on recency-heavy workloads and like LFU
//! on frequency-heavy and looping ones. Two signals move it: a [`HillClimber`] on the hit rate
//! of each sample of requests (coarse steps, restarted when the workload changes), and ghost
//! lists of recently dropped keys (fine steps on every miss that a larger window, or a larger
//! main area, would have turned into a hit).
//!
//! Capacity is strict: after `insert` returns, the resident weight and entry count are within
//! the limits. Weights are caller-defined (bytes, or 1 per entry).

use std::hash::{BuildHasher, Hash};

use foldhash::fast::FixedState;
use hashbrown::HashTable;

use super::climber::HillClimber;
use super::deque::{Deque, NodeId, Region, Slab};
use super::ghost::Ghost;
use super::sketch::{FrequencySketch, mix};

mod maintenance;

/// The hasher of [`WTinyLfu::hash_of`].
const KEY_HASHER: FixedState = FixedState::with_seed(0x7e1a_b1e5);

/// Limits and tuning of the adaptive W-TinyLFU policy of a [`Bounded`](crate::cache::Bounded)
/// or [`MemoryCache`](crate::cache::MemoryCache).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PolicyConfig {
    /// Largest total weight resident.
    pub max_weight: u64,
    /// Largest number of entries resident (`u64::MAX` for no count limit).
    pub max_entries: u64,
    /// About how many entries will be resident; sizes the frequency sketch.
    pub expected_entries: usize,
    /// Initial share of the capacity given to the admission window. Default 1 %.
    pub initial_window: f64,
    /// Share of the main area kept for protected (re-used) entries. Default 80 %.
    pub protected_share: f64,
    /// Whether the hill climber resizes the window. Default `true`.
    pub adaptive: bool,
}

impl PolicyConfig {
    /// A policy holding at most `entries` entries of weight 1.
    pub fn entries(entries: u64) -> Self {
        PolicyConfig {
            max_weight: entries,
            max_entries: entries,
            expected_entries: entries.min(1 << 26) as usize,
            initial_window: 0.01,
            protected_share: 0.8,
            adaptive: true,
        }
    }

    /// A policy holding at most `bytes` of weight, expecting values of about `typical_weight`.
    pub fn weight(bytes: u64, typical_weight: u64) -> Self {
        let expected = (bytes / typical_weight.max(1)).clamp(16, 1 << 26);
        PolicyConfig {
            max_weight: bytes,
            max_entries: u64::MAX,
            expected_entries: expected as usize,
            ..Self::entries(0)
        }
    }
}

/// Why a key left the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvictionCause {
    /// Pushed out to respect the capacity.
    Capacity,
    /// Refused on insert: heavier than the whole capacity.
    TooLarge,
}

/// The adaptive W-TinyLFU policy over keys `K`. It tracks keys and weights only; the caller
/// stores the values and removes the keys the policy evicts.
#[derive(Debug)]
pub struct WTinyLfu<K> {
    /// Node ids, found by the hash each key was inserted with and told apart by the key the
    /// node holds: four bytes a slot, where a map owning a copy of each key took ~100 bytes
    /// an entry at the table's load (a quarter of a `MemoryCache` entry's overhead).
    index: HashTable<NodeId>,
    slab: Slab<K>,
    window: Deque,
    probation: Deque,
    protected: Deque,
    sketch: FrequencySketch,
    climber: HillClimber,
    config: PolicyConfig,
    window_max: u64,
    protected_max: u64,
    rng: u64,
    pending_increment: Option<u64>,
    /// Keys the window gave up (rejected candidates) and keys main gave up (victims).
    ghost_window: Ghost,
    ghost_main: Ghost,
}

impl<K: Hash + Eq + Clone> WTinyLfu<K> {
    /// An empty policy.
    pub fn new(config: PolicyConfig) -> Self {
        let sketch = FrequencySketch::new(config.expected_entries);
        let climber = HillClimber::new(config.max_weight, sketch.sample_size());
        let mut policy = WTinyLfu {
            index: HashTable::new(),
            slab: Slab::new(),
            window: Deque::new(),
            probation: Deque::new(),
            protected: Deque::new(),
            sketch,
            climber,
            config,
            window_max: 0,
            protected_max: 0,
            rng: 0x2545_f491_4f6c_dd1d,
            pending_increment: None,
            // Short memories: a ghost hit must mean "dropped *recently*". A quarter of the
            // capacity for rejected candidates and half for main's victims was the best fit
            // across recency-, frequency- and loop-shaped traces (docs/BENCHMARKS.md).
            ghost_window: Ghost::new((config.expected_entries / 4).max(1)),
            ghost_main: Ghost::new((config.expected_entries / 2).max(1)),
        };
        policy.set_window((config.max_weight as f64 * config.initial_window).round() as u64);
        policy
    }
}

/// Keyed by the policy's own hash: the benchmark and the tests drive the policy this way.
/// The caches go through their driver, which brings its own hash for every key.
#[cfg_attr(not(feature = "bench-internals"), allow(dead_code))]
impl<K: Hash + Eq + Clone> WTinyLfu<K> {
    /// The policy's own hash of `key`, used by the keyed methods below.
    pub fn hash_of(&self, key: &K) -> u64 {
        mix(KEY_HASHER.hash_one(key))
    }

    /// Whether no key is resident.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The limits in force.
    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    /// The admission window's current share of the capacity (for reports).
    pub fn window_share(&self) -> f64 {
        self.window_max as f64 / self.config.max_weight.max(1) as f64
    }

    /// Records a request for `key` that missed (it is usually inserted next).
    pub fn record_miss(&mut self, key: &K) {
        self.record_miss_hash(self.hash_of(key));
    }

    /// Inserts or re-weighs `key`, then evicts until within capacity. Evicted keys (possibly
    /// `key` itself) are appended to `evicted`. Returns whether `key` is resident afterwards.
    pub fn insert(&mut self, key: K, weight: u64, evicted: &mut Vec<(K, EvictionCause)>) -> bool {
        let hash = self.hash_of(&key);
        self.insert_hashed(key, hash, weight, evicted)
    }

    /// Whether `key` is resident (inserted with [`insert`](Self::insert)).
    pub fn contains(&self, key: &K) -> bool {
        self.find(key, self.hash_of(key)).is_some()
    }

    /// Records a request that found `key` resident; returns `false` if it is not resident
    /// (then nothing is recorded).
    pub fn record_hit(&mut self, key: &K) -> bool {
        self.record_hit_hashed(key, self.hash_of(key))
    }

    /// Forgets `key` (inserted with [`insert`](Self::insert)); returns whether it was
    /// resident.
    pub fn remove(&mut self, key: &K) -> bool {
        self.remove_hashed(key, self.hash_of(key))
    }
}

impl<K: Hash + Eq + Clone> WTinyLfu<K> {
    /// Number of resident keys.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Total resident weight.
    pub fn weight(&self) -> u64 {
        self.window.weight + self.probation.weight + self.protected.weight
    }

    /// Whether `key`, inserted with `hash`, is resident.
    pub(crate) fn contains_hashed(&self, key: &K, hash: u64) -> bool {
        self.find(key, hash).is_some()
    }

    /// [`record_hit`](Self::record_hit) for a key inserted with `hash`.
    pub(crate) fn record_hit_hashed(&mut self, key: &K, hash: u64) -> bool {
        let Some(id) = self.find(key, hash) else {
            return false;
        };
        self.on_hit(id);
        true
    }

    /// The node of `key`, inserted with `hash`, if resident.
    fn find(&self, key: &K, hash: u64) -> Option<NodeId> {
        self.index
            .find(hash, |&id| self.slab.get(id).key == *key)
            .copied()
    }

    /// Drops node `id` (whose hash is `hash`) from the index.
    fn unindex(&mut self, id: NodeId, hash: u64) {
        if let Ok(entry) = self.index.find_entry(hash, |&i| i == id) {
            entry.remove();
        }
    }

    /// Records a hit on the node `id` noted earlier for the key whose hash is `hash`; nothing
    /// if that node has since left (or now holds another key). Returns whether it recorded.
    pub(crate) fn record_hit_node(&mut self, id: NodeId, hash: u64) -> bool {
        if self.slab.try_get(id).is_none_or(|node| node.hash != hash) {
            return false;
        }
        self.on_hit(id);
        true
    }

    /// The node holding `key` (inserted with `hash`), if resident: what a cache notes hits
    /// against.
    pub(crate) fn node_of(&self, key: &K, hash: u64) -> Option<NodeId> {
        self.find(key, hash)
    }

    /// The sketch's estimate of how often the key with `hash` was seen (0–15).
    pub(crate) fn frequency_hashed(&self, hash: u64) -> u8 {
        self.sketch.frequency(hash)
    }

    /// Raises the sketch's count for `hash` to at least `frequency` (a hot set restored after
    /// a restart), without counting requests for the climber.
    pub(crate) fn seed_frequency(&mut self, hash: u64, frequency: u8) {
        let mut guard = 0;
        while self.sketch.frequency(hash) < frequency && guard < 16 {
            self.sketch.increment(hash);
            guard += 1;
        }
    }

    /// Records a miss known only by its hash. The hash must be the one the key is (or will
    /// be) inserted with, [`hash_of`](Self::hash_of) or the one given to
    /// [`insert_hashed`](Self::insert_hashed): the sketch and the ghost lists know keys only
    /// by it, so a miss under another hash teaches the policy nothing.
    pub fn record_miss_hash(&mut self, hash: u64) {
        // Counted after the insert that usually follows: a newcomer competes with the
        // frequency it had *before* this request, so it must have been seen before to displace
        // a resident. On loops longer than the cache this keeps a stable set resident.
        if let Some(earlier) = self.pending_increment.replace(hash) {
            self.sketch.increment(earlier);
        }
        self.climber.record(false);
        if self.config.adaptive {
            // Ghost hits say which side gave the key up too early: the window (grow it) or
            // main (shrink the window), as ARC adapts its split; steps scale with the other
            // ghost's relative size.
            let unit = (self.config.max_weight / self.config.expected_entries.max(1) as u64).max(1);
            if self.ghost_window.take(hash) {
                let ratio = (self.ghost_main.len() / self.ghost_window.len().max(1)).max(1) as u64;
                let target = self.window_max.saturating_add(unit * ratio);
                self.set_window(target);
                self.demote_protected_overflow();
            } else if self.ghost_main.take(hash) {
                let ratio = (self.ghost_window.len() / self.ghost_main.len().max(1)).max(1) as u64;
                self.set_window(self.window_max.saturating_sub(unit * ratio));
            }
        }
    }

    /// [`insert`](Self::insert) with the key's hash computed by the caller, who must then
    /// give the same hash for every later call on that key: misses, hits, lookups and
    /// removals (the `*_hashed` ones). The index finds keys by this hash, so the keyed methods
    /// ([`contains`](Self::contains) and the like, which use [`hash_of`](Self::hash_of)) do not
    /// see a key inserted under another.
    pub fn insert_hashed(
        &mut self,
        key: K,
        hash: u64,
        weight: u64,
        evicted: &mut Vec<(K, EvictionCause)>,
    ) -> bool {
        if weight > self.config.max_weight {
            if let Some(id) = self.find(&key, hash) {
                self.unindex(id, hash);
                self.detach(id);
            }
            evicted.push((key, EvictionCause::TooLarge));
            return false;
        }
        let id = match self.find(&key, hash) {
            Some(id) => {
                self.reweigh(id, weight);
                id
            }
            None => {
                let id = self.slab.insert(key, hash, weight, Region::Window);
                self.window.push_back(&mut self.slab, id);
                let slab = &self.slab;
                self.index.insert_unique(hash, id, |&i| slab.get(i).hash);
                id
            }
        };
        self.maintain(evicted);
        if let Some(pending) = self.pending_increment.take() {
            self.sketch.increment(pending);
        }
        // Resident unless `maintain` evicted it. An evicted node's id goes back on the free
        // list at once, but nothing in `maintain` inserts, so it cannot hold another key yet.
        self.slab.try_get(id).is_some_and(|node| node.hash == hash)
    }

    /// Forgets `key`, inserted with `hash`; returns whether it was resident.
    pub(crate) fn remove_hashed(&mut self, key: &K, hash: u64) -> bool {
        match self.find(key, hash) {
            Some(id) => {
                self.unindex(id, hash);
                self.detach(id);
                true
            }
            None => false,
        }
    }

    /// Resident keys from the hottest region outwards: protected (most recent first), then
    /// window, then probation. Used to persist a hot set.
    pub fn hottest(&self, limit: usize) -> Vec<K> {
        let mut out = Vec::new();
        for list in [&self.protected, &self.window, &self.probation] {
            let mut ids = Vec::new();
            let mut cur = list.front();
            while let Some(id) = cur {
                ids.push(id);
                cur = list.next_of(&self.slab, id);
            }
            out.extend(
                ids.into_iter()
                    .rev()
                    .map(|id| self.slab.get(id).key.clone()),
            );
            if out.len() >= limit {
                break;
            }
        }
        out.truncate(limit);
        out
    }

    fn on_hit(&mut self, id: NodeId) {
        let (hash, region) = {
            let node = self.slab.get(id);
            (node.hash, node.region)
        };
        self.sketch.increment(hash);
        self.climber.record(true);
        match region {
            Region::Window => self.window.move_to_back(&mut self.slab, id),
            Region::Probation => {
                self.probation.unlink(&mut self.slab, id);
                self.slab.get_mut(id).region = Region::Protected;
                self.protected.push_back(&mut self.slab, id);
                self.demote_protected_overflow();
            }
            Region::Protected => self.protected.move_to_back(&mut self.slab, id),
        }
    }

    fn list_mut(&mut self, region: Region) -> &mut Deque {
        match region {
            Region::Window => &mut self.window,
            Region::Probation => &mut self.probation,
            Region::Protected => &mut self.protected,
        }
    }

    fn reweigh(&mut self, id: NodeId, weight: u64) {
        let region = self.slab.get(id).region;
        let old = self.slab.get(id).weight;
        self.slab.get_mut(id).weight = weight;
        let list = self.list_mut(region);
        list.weight = list.weight - old + weight;
        self.on_hit(id);
    }

    fn detach(&mut self, id: NodeId) {
        let region = self.slab.get(id).region;
        match region {
            Region::Window => self.window.unlink(&mut self.slab, id),
            Region::Probation => self.probation.unlink(&mut self.slab, id),
            Region::Protected => self.protected.unlink(&mut self.slab, id),
        }
        self.slab.remove(id);
    }
}

#[cfg(test)]
mod tests;
