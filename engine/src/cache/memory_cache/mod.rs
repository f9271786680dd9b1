//! `MemoryCache`: a bounded, concurrent in-memory backend governed by the W-TinyLFU policy.
//!
//! Reads hash the key once (the hash picks the shard, finds the slot and names the key to the
//! policy), take one shard's read lock, clone the value (`Bytes`: a reference count, no copy),
//! and note the hit — the entry's policy node and the hash, two plain integers — with the
//! [`PolicyDriver`] in a per-thread buffer; the policy learns of it before the next miss or
//! write. Hits are counted on per-thread stripes. So the hit path takes no global lock, writes
//! no shared cache line and allocates nothing. Misses and writes go to the policy under its
//! lock, in order, and writes evict before returning: the capacity is never exceeded once a
//! call has returned.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};

use crate::cache::clock::Clock;
use crate::cache::deque::NIL;
use crate::cache::driver::{Feed, PolicyDriver, key_hash};
use crate::cache::listener::{Listener, Notices, RemovalCause};
use crate::cache::stats::{CacheCounters, CacheStats, StripedCounter, bump, set};
use crate::{BatchOp, Capabilities, DEFAULT_KEYSPACE, KeyRange, Result, WriteBatch};
use expiry::{Entry, NO_TTL};
use shard::ShardMap;

mod backend;
mod config;
mod expiry;
mod shard;

pub use config::{MemoryCacheBuilder, MemoryCacheConfig};

/// What one entry costs in memory beyond its key and value bytes, as a `max_bytes` budget
/// counts it: its hash-table slot, its policy node and index entry, its share of the
/// frequency sketch, the allocator's rounding and the buffers' shared headers. Measured:
/// 330 bytes per entry for 500,000 entries of 16-byte keys and 100-byte values
/// (`cargo run --release -p strata-bench --bin memory`).
pub const ENTRY_OVERHEAD_BYTES: u64 = 330;

/// Keyspace name -> (id, its shards).
type KeyspaceIndex = HashMap<Arc<str>, (u32, Arc<Shards>)>;
pub(crate) type Shard = RwLock<ShardMap>;

/// A bounded, concurrent, in-memory key-value cache (adaptive W-TinyLFU, optional adaptive
/// TTL). It is a [`StorageBackend`](crate::StorageBackend), so it can be the upper tier of a `Tiered` store.
///
/// Keyspaces share one capacity and one policy. Scans work (collect, filter, sort) but cost
/// O(n); a cache in front of an ordered store is not asked to scan.
#[derive(Clone)]
pub struct MemoryCache {
    pub(crate) ks: u32,
    pub(crate) name: Arc<str>,
    pub(crate) shards: Arc<Shards>,
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: MemoryCacheConfig,
    caps: Capabilities,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) driver: PolicyDriver,
    keyspaces: Mutex<KeyspaceIndex>,
    pub(crate) by_id: RwLock<Vec<Arc<Shards>>>,
    pub(crate) counters: CacheCounters,
    /// Hits, on per-thread stripes (folded into `stats().hits`).
    pub(crate) hits: StripedCounter,
    /// Whether any entry may carry a TTL: set from the start by a default TTL, or by the
    /// first `put_with_ttl`. Until then reads skip the clock (it costs more than the lookup).
    pub(crate) timed: AtomicBool,
    /// Told of every entry that leaves, after the locks are released (see `listener.rs`).
    pub(crate) listener: Option<Listener>,
}

pub(crate) struct Shards {
    pub(crate) maps: Box<[Shard]>,
    /// The keyspace's name (for eviction notices).
    pub(crate) name: Arc<str>,
}

impl Shards {
    pub(crate) fn of(&self, hash: u64) -> &Shard {
        &self.maps[(hash as usize) % self.maps.len()]
    }
}

impl Inner {
    fn keyspace_shards(&self, name: &str) -> (u32, Arc<Shards>) {
        let mut keyspaces = self.keyspaces.lock();
        if let Some((id, shards)) = keyspaces.get(name) {
            return (*id, shards.clone());
        }
        let mut by_id = self.by_id.write();
        let id = by_id.len() as u32;
        let shards = Arc::new(Shards {
            name: Arc::from(name),
            maps: (0..self.config.shards)
                .map(|_| RwLock::new(ShardMap::new(id)))
                .collect(),
        });
        by_id.push(shards.clone());
        keyspaces.insert(Arc::from(name), (id, shards.clone()));
        (id, shards)
    }

    fn weight(&self, key: &[u8], value: &[u8]) -> u64 {
        if self.config.max_bytes.is_some() {
            (key.len() + value.len()) as u64 + ENTRY_OVERHEAD_BYTES
        } else {
            1
        }
    }

    pub(crate) fn caps(&self) -> Capabilities {
        self.caps
    }

    pub(crate) fn now(&self) -> u64 {
        if self.timed.load(Ordering::Acquire) {
            self.clock.now_nanos()
        } else {
            0
        }
    }

    /// Removes what the policy evicted from the maps (caller holds the policy). A key the
    /// policy holds again — evicted by one op of a batch, put by a later one — keeps the value
    /// the map has for it, and a key already gone from the map is not counted twice.
    fn apply_evictions(&self, feed: &mut Feed<'_>, notices: &mut Notices<'_>) {
        let evicted: Vec<_> = feed.evicted().collect();
        let by_id = self.by_id.read();
        for ((ks, key), _cause) in evicted {
            if feed.contains(ks, &key) {
                continue;
            }
            let hash = key_hash(ks, &key);
            let shards = &by_id[ks as usize];
            let removed = shards.of(hash).write().remove(hash, &key);
            if let Some(slot) = removed {
                // One that had expired already left for that reason, as `note_left` says.
                let cause = if slot.entry.expired(self.now()) {
                    bump(&self.counters.evicted_ttl);
                    RemovalCause::Expired
                } else {
                    bump(&self.counters.evicted_capacity);
                    RemovalCause::Size
                };
                notices.push(&shards.name, slot.key, Some(slot.entry.value), cause);
            }
        }
    }

    /// Notices for this cache's listener, if it has one.
    pub(crate) fn notices(&self) -> Notices<'_> {
        Notices::new(self.listener.as_ref())
    }

    /// Notes that `slot` left because a write replaced or deleted it (`cause`), or because it
    /// had expired by `now` (which is then the cause).
    fn note_left(
        &self,
        notices: &mut Notices<'_>,
        name: &Arc<str>,
        slot: shard::Slot,
        now: u64,
        cause: RemovalCause,
    ) {
        // Counted by what happened to it, as the notice says: an expired entry expired.
        let cause = if slot.entry.expired(now) {
            RemovalCause::Expired
        } else {
            cause
        };
        match cause {
            RemovalCause::Expired => bump(&self.counters.evicted_ttl),
            RemovalCause::Removed => bump(&self.counters.evicted_explicit),
            _ => {}
        }
        if notices.wanted() {
            notices.push(name, slot.key, Some(slot.entry.value), cause);
        }
    }

    pub(crate) fn publish_residency(&self, feed: &Feed<'_>) {
        set(&self.counters.resident_entries, feed.len() as u64);
        set(&self.counters.resident_weight, feed.weight());
    }
}

impl MemoryCache {
    /// A builder; set `max_entries` and/or `max_bytes`.
    pub fn builder() -> MemoryCacheBuilder {
        MemoryCacheBuilder::new()
    }

    /// A cache of at most `n` entries, no expiry.
    pub fn with_max_entries(n: u64) -> Result<Self> {
        Self::builder().max_entries(n).build()
    }

    pub(crate) fn from_builder(builder: MemoryCacheBuilder) -> Self {
        let config = &builder.config;
        let caps = Capabilities {
            max_key_size: config.max_key_size,
            max_value_size: config.max_value_size,
            ttl: config.ttl.is_some(),
            evicts: true,
            ..Capabilities::default()
        };
        let inner = Arc::new(Inner {
            caps,
            driver: PolicyDriver::new(builder.policy_config()),
            timed: AtomicBool::new(config.ttl.is_some()),
            clock: builder.clock,
            keyspaces: Mutex::new(HashMap::new()),
            by_id: RwLock::new(Vec::new()),
            counters: CacheCounters::default(),
            hits: StripedCounter::new(),
            listener: builder.listener,
            config: builder.config,
        });
        let (ks, shards) = inner.keyspace_shards(DEFAULT_KEYSPACE);
        MemoryCache {
            ks,
            name: Arc::from(DEFAULT_KEYSPACE),
            shards,
            inner,
        }
    }

    /// Counters since creation.
    pub fn stats(&self) -> CacheStats {
        let mut stats = self.inner.counters.snapshot();
        stats.hits = self.inner.hits.sum();
        stats
    }

    /// The configuration.
    pub fn config(&self) -> &MemoryCacheConfig {
        &self.inner.config
    }

    /// Entries resident in this keyspace (expired ones not yet cleaned up included).
    pub fn len(&self) -> usize {
        self.shards.maps.iter().map(|m| m.read().len()).sum()
    }

    /// Whether this keyspace holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Resident entries and weight across all keyspaces, as the policy counts them.
    pub fn residency(&self) -> (u64, u64) {
        let feed = self.inner.driver.lock();
        (feed.len() as u64, feed.weight())
    }

    /// Up to `limit` keys of every keyspace the cache would evict last, hottest first, with
    /// how often each was seen: save it on close, bring it back with
    /// [`restore_frequencies`](Self::restore_frequencies) and `Tiered::warm` (see
    /// [`HotSet`](crate::cache::HotSet)).
    pub fn hot_set(&self, limit: usize) -> crate::cache::HotSet {
        let feed = self.inner.driver.lock();
        let by_id = self.inner.by_id.read();
        let keys = feed
            .hottest(limit)
            .into_iter()
            .map(|(ks, key)| crate::cache::HotKey {
                keyspace: by_id[ks as usize].name.to_string(),
                frequency: feed.frequency(key_hash(ks, &key)),
                key,
            })
            .collect();
        crate::cache::HotSet::new(keys)
    }

    /// Teaches the policy how often the keys of `hot` were seen before a restart, so they win
    /// admission over newcomers seen once (their values are not loaded: see `Tiered::warm`).
    ///
    /// A hot set is read from a file: entries with an invalid keyspace name, or a key over
    /// this cache's limit, are skipped, and so is every keyspace beyond the first
    /// [`MAX_RESTORED_KEYSPACES`](crate::cache::MAX_RESTORED_KEYSPACES) (each costs its
    /// shards). Returns how many keys were restored.
    pub fn restore_frequencies(&self, hot: &crate::cache::HotSet) -> usize {
        let mut ids: HashMap<&str, Option<u32>> = HashMap::new();
        let mut created = 0;
        for k in hot.keys() {
            if ids.contains_key(k.keyspace.as_str()) {
                continue;
            }
            let usable = created < crate::cache::MAX_RESTORED_KEYSPACES
                && crate::validate::check_keyspace_name(&k.keyspace).is_ok();
            let id = usable.then(|| self.inner.keyspace_shards(&k.keyspace).0);
            created += usize::from(usable);
            ids.insert(&k.keyspace, id);
        }
        let max_key = self.inner.caps().max_key_size;
        let mut feed = self.inner.driver.lock();
        let mut restored = 0;
        for k in hot.keys() {
            if let Some(id) = ids[k.keyspace.as_str()]
                && k.key.len() <= max_key
            {
                feed.seed_frequency(key_hash(id, &k.key), k.frequency);
                restored += 1;
            }
        }
        restored
    }

    /// The entries this keyspace would evict last: hottest first (for persisting a hot set).
    pub fn hot_keys(&self, limit: usize) -> Vec<Bytes> {
        let feed = self.inner.driver.lock();
        feed.hottest(usize::MAX)
            .into_iter()
            .filter(|(ks, _)| *ks == self.ks)
            .map(|(_, k)| k)
            .take(limit)
            .collect()
    }

    fn get_now(&self, key: &[u8]) -> Option<Bytes> {
        let inner = &self.inner;
        let hash = key_hash(self.ks, key);
        let now = inner.now();
        let shard = self.shards.of(hash).read();
        match shard.get(hash, key) {
            Some(slot) if !slot.entry.expired(now) => {
                let entry = &slot.entry;
                if let Some(ttl) = &inner.config.ttl {
                    entry.adapt_on_hit(ttl);
                }
                let (value, node) = (entry.value.clone(), entry.node.load(Ordering::Relaxed));
                drop(shard);
                inner.hits.bump();
                if node != NIL {
                    inner.driver.hit(node, hash);
                }
                Some(value)
            }
            found => {
                let expired = found.is_some();
                drop(shard);
                let mut notices = inner.notices();
                let mut feed = inner.driver.lock();
                if expired {
                    self.expire(&mut feed, &mut notices, key, hash, now);
                }
                bump(&inner.counters.misses);
                feed.miss(hash);
                drop(feed);
                notices.deliver();
                None
            }
        }
    }

    pub(crate) fn new_entry(&self, value: Bytes, ttl: u64) -> Entry {
        // Stored as given. A `Bytes` made from a `Vec` allocates its shared header on its
        // first clone, so the first hit of such a value allocates once, and later hits never.
        // Cloning here instead (as this did once) put every header among the insert's own
        // allocations, far apart; allocated by the first hit, the hot set's headers sit
        // together in memory, which measured 190 → 127 ns per hit on 10,000 keys.
        Entry {
            value,
            inserted_at: self.inner.now(),
            ttl: AtomicU64::new(ttl),
            accesses: AtomicU32::new(0),
            node: AtomicU32::new(NIL),
        }
    }

    fn default_ttl(&self) -> u64 {
        self.inner
            .config
            .ttl
            .map_or(NO_TTL, |t| t.default_ttl.as_nanos() as u64)
    }

    pub(crate) fn insert_now(&self, key: Bytes, value: Bytes, ttl: u64) {
        let inner = &self.inner;
        let hash = key_hash(self.ks, &key);
        let weight = inner.weight(&key, &value);
        let key = key.clone(); // share the key buffer between map and policy
        let entry = self.new_entry(value, ttl);
        let now = entry.inserted_at;
        let mut notices = inner.notices();
        let mut feed = inner.driver.lock();
        feed.insert(self.ks, key.clone(), hash, weight);
        // The node the policy holds the key at: hits are noted against it.
        if let Some(node) = feed.node_of(self.ks, &key) {
            entry.node.store(node, Ordering::Relaxed);
        }
        let replaced = self.shards.of(hash).write().insert(hash, key, entry);
        if let Some(old) = replaced {
            inner.note_left(
                &mut notices,
                &self.shards.name,
                old,
                now,
                RemovalCause::Replaced,
            );
        }
        inner.apply_evictions(&mut feed, &mut notices);
        bump(&inner.counters.inserts);
        inner.publish_residency(&feed);
        drop(feed);
        notices.deliver();
    }

    fn delete_now(&self, key: &[u8]) -> bool {
        let inner = &self.inner;
        let hash = key_hash(self.ks, key);
        let mut notices = inner.notices();
        let mut feed = inner.driver.lock();
        let removed = self.shards.of(hash).write().remove(hash, key);
        let present = match removed {
            Some(slot) => {
                feed.remove(self.ks, slot.key.clone());
                let now = inner.now();
                let present = !slot.entry.expired(now);
                inner.note_left(
                    &mut notices,
                    &self.shards.name,
                    slot,
                    now,
                    RemovalCause::Removed,
                );
                present
            }
            None => false,
        };
        inner.publish_residency(&feed);
        drop(feed);
        notices.deliver();
        present
    }

    fn write_batch_now(&self, batch: WriteBatch) {
        let inner = &self.inner;
        let ttl = self.default_ttl();
        let ops = batch.into_ops();
        let hashes: Vec<u64> = ops.iter().map(|op| key_hash(self.ks, op.key())).collect();
        let shard_of = |hash: u64| (hash as usize) % self.shards.maps.len();
        let now = inner.now();
        let mut notices = inner.notices();
        let mut feed = inner.driver.lock();
        // Apply under every touched shard's write lock at once, so readers see all or nothing.
        let mut order: Vec<usize> = hashes.iter().map(|&h| shard_of(h)).collect();
        order.sort_unstable();
        order.dedup();
        let mut guards: HashMap<usize, _> = order
            .iter()
            .map(|&i| (i, self.shards.maps[i].write()))
            .collect();
        let mut policy_ops = Vec::with_capacity(ops.len());
        for (op, &hash) in ops.into_iter().zip(&hashes) {
            let map = guards.get_mut(&shard_of(hash)).expect("locked above");
            match op {
                BatchOp::Put { key, value } => {
                    let weight = inner.weight(&key, &value);
                    let key = key.clone();
                    if let Some(old) = map.insert(hash, key.clone(), self.new_entry(value, ttl)) {
                        inner.note_left(
                            &mut notices,
                            &self.shards.name,
                            old,
                            now,
                            RemovalCause::Replaced,
                        );
                    }
                    policy_ops.push((key, hash, Some(weight)));
                }
                BatchOp::Delete { key } => {
                    if let Some(old) = map.remove(hash, &key) {
                        inner.note_left(
                            &mut notices,
                            &self.shards.name,
                            old,
                            now,
                            RemovalCause::Removed,
                        );
                    }
                    policy_ops.push((key, hash, None));
                }
            }
        }
        drop(guards);
        for (key, hash, weight) in policy_ops {
            match weight {
                Some(w) => {
                    feed.insert(self.ks, key.clone(), hash, w);
                    bump(&inner.counters.inserts);
                    // Until this, the entry's hits went unnoted (lossy, like a full buffer).
                    if let Some(node) = feed.node_of(self.ks, &key)
                        && let Some(slot) = self.shards.of(hash).read().get(hash, &key)
                    {
                        slot.entry.node.store(node, Ordering::Relaxed);
                    }
                }
                None => {
                    feed.remove(self.ks, key);
                }
            }
        }
        // Once, after every op: the map holds the batch's final values, and a key evicted by
        // one op but put again by a later one must keep its value (see `apply_evictions`).
        inner.apply_evictions(&mut feed, &mut notices);
        inner.publish_residency(&feed);
        drop(feed);
        notices.deliver();
    }

    fn scan_now(&self, range: &KeyRange, limit: usize) -> Vec<(Bytes, Bytes)> {
        let now = self.inner.now();
        let mut out: Vec<(Bytes, Bytes)> = Vec::new();
        for map in self.shards.maps.iter() {
            let map = map.read();
            out.extend(
                map.iter()
                    .filter(|slot| range.contains(&slot.key) && !slot.entry.expired(now))
                    .map(|slot| (slot.key.clone(), slot.entry.value.clone())),
            );
        }
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out.truncate(limit);
        out
    }
}
