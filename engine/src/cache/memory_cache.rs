//! `MemoryCache`: a bounded, concurrent in-memory backend governed by the W-TinyLFU policy.
//!
//! Reads take one shard's read lock, clone the value (`Bytes`: a reference count, no copy),
//! and leave a note of the access in a lock-free buffer (`crossbeam` `ArrayQueue`); the policy
//! learns of it when a writer, or a reader finding the buffer full, drains the buffers. So
//! the hit path takes no global lock and allocates nothing. Writes take the policy lock,
//! update the shard, and evict before returning: the capacity is never exceeded once a call
//! has returned.

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use crossbeam_queue::ArrayQueue;
use foldhash::fast::FixedState;
use parking_lot::{Mutex, RwLock};

use super::clock::{Clock, SystemClock};
use super::policy::{EvictionCause, PolicyConfig, WTinyLfu};
use super::stats::{CacheCounters, CacheStats, add, bump, set};
use super::ttl::TtlConfig;
use crate::validate::{check_batch, check_key, check_keyspace_name, check_put};
use crate::{
    BatchOp, Capabilities, DEFAULT_KEYSPACE, Error, KeyRange, Operation, Result, StorageBackend,
    WriteBatch,
};

const NO_TTL: u64 = u64::MAX;
/// Access notes per buffer before a reader tries to hand them to the policy.
const DRAIN_AT: usize = 48;
const BUFFER_SLOTS: usize = 128;

type PolicyKey = (u32, Bytes);
/// Keyspace name -> (id, its shards).
type KeyspaceIndex = HashMap<Arc<str>, (u32, Arc<Shards>)>;

/// Settings of a [`MemoryCache`]; build one with [`MemoryCache::builder`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MemoryCacheConfig {
    /// Most entries resident, if bounded by count.
    pub max_entries: Option<u64>,
    /// Most bytes (key + value) resident, if bounded by weight.
    pub max_bytes: Option<u64>,
    /// Expiry; `None` keeps entries until evicted. Default: `None`.
    pub ttl: Option<TtlConfig>,
    /// Number of lock shards. Default: 4 × available parallelism, at least 8.
    pub shards: usize,
    /// Largest key accepted. Default: [`crate::DEFAULT_MAX_KEY_SIZE`].
    pub max_key_size: usize,
    /// Largest value accepted. Default: [`crate::DEFAULT_MAX_VALUE_SIZE`].
    pub max_value_size: usize,
}

/// Builds a [`MemoryCache`].
#[derive(Debug, Clone)]
#[must_use]
pub struct MemoryCacheBuilder {
    config: MemoryCacheConfig,
    clock: Arc<dyn Clock>,
}

impl MemoryCacheBuilder {
    /// Bounds the number of entries.
    pub fn max_entries(mut self, n: u64) -> Self {
        self.config.max_entries = Some(n);
        self
    }

    /// Bounds the resident bytes (key + value of each entry).
    pub fn max_bytes(mut self, n: u64) -> Self {
        self.config.max_bytes = Some(n);
        self
    }

    /// Turns on adaptive expiry.
    pub fn ttl(mut self, ttl: TtlConfig) -> Self {
        self.config.ttl = Some(ttl);
        self
    }

    /// Sets the number of lock shards.
    pub fn shards(mut self, n: usize) -> Self {
        self.config.shards = n;
        self
    }

    /// Sets the largest key and value accepted.
    pub fn limits(mut self, max_key_size: usize, max_value_size: usize) -> Self {
        self.config.max_key_size = max_key_size;
        self.config.max_value_size = max_value_size;
        self
    }

    /// Uses `clock` for expiry (tests use a [`ManualClock`](super::ManualClock)).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Builds the cache; a bound (entries or bytes) is required.
    pub fn build(self) -> Result<MemoryCache> {
        let c = &self.config;
        let bad = |m: &str| {
            Err(Error::invalid_input(Operation::Open, m).with_context("backend", "memory-cache"))
        };
        if c.max_entries.is_none() && c.max_bytes.is_none() {
            return bad(
                "a cache needs max_entries or max_bytes (use MemoryBackend for an unbounded store)",
            );
        }
        if c.max_entries == Some(0) || c.max_bytes == Some(0) || c.shards == 0 {
            return bad("max_entries, max_bytes and shards must be positive");
        }
        if let Some(ttl) = &c.ttl
            && (ttl.min_ttl > ttl.max_ttl
                || ttl.default_ttl.is_zero()
                || !(0.0..1.0).contains(&ttl.adaptation_rate))
        {
            return bad("ttl needs min <= max, a positive default and a rate in [0, 1)");
        }
        let policy_config = match (c.max_bytes, c.max_entries) {
            (Some(bytes), entries) => PolicyConfig {
                max_entries: entries.unwrap_or(u64::MAX),
                ..PolicyConfig::weight(bytes, 256)
            },
            (None, Some(entries)) => PolicyConfig::entries(entries),
            (None, None) => unreachable!("checked above"),
        };
        let caps = Capabilities {
            max_key_size: c.max_key_size,
            max_value_size: c.max_value_size,
            ttl: c.ttl.is_some(),
            evicts: true,
            ..Capabilities::default()
        };
        let hasher = FixedState::with_seed(0xcac4e);
        let inner = Arc::new(Inner {
            caps,
            clock: self.clock,
            policy: Mutex::new(PolicyState {
                policy: WTinyLfu::new(policy_config),
                evicted: Vec::new(),
            }),
            keyspaces: Mutex::new(HashMap::new()),
            by_id: RwLock::new(Vec::new()),
            buffers: (0..c.shards.min(64))
                .map(|_| ArrayQueue::new(BUFFER_SLOTS))
                .collect(),
            counters: CacheCounters::default(),
            hasher,
            config: self.config,
        });
        let (ks, shards) = inner.keyspace_shards(DEFAULT_KEYSPACE);
        Ok(MemoryCache {
            ks,
            name: Arc::from(DEFAULT_KEYSPACE),
            shards,
            inner,
        })
    }
}

/// A bounded, concurrent, in-memory key-value cache (adaptive W-TinyLFU, optional adaptive
/// TTL). It is a [`StorageBackend`], so it can be the upper tier of a `Tiered` store.
///
/// Keyspaces share one capacity and one policy. Scans work (collect, filter, sort) but cost
/// O(n); a cache in front of an ordered store is not asked to scan.
#[derive(Clone)]
pub struct MemoryCache {
    ks: u32,
    name: Arc<str>,
    shards: Arc<Shards>,
    inner: Arc<Inner>,
}

struct Inner {
    config: MemoryCacheConfig,
    caps: Capabilities,
    clock: Arc<dyn Clock>,
    policy: Mutex<PolicyState>,
    keyspaces: Mutex<KeyspaceIndex>,
    by_id: RwLock<Vec<Arc<Shards>>>,
    buffers: Box<[ArrayQueue<ReadEvent>]>,
    counters: CacheCounters,
    hasher: FixedState,
}

struct PolicyState {
    policy: WTinyLfu<PolicyKey>,
    evicted: Vec<(PolicyKey, EvictionCause)>,
}

struct Shards {
    maps: Box<[RwLock<HashMap<Bytes, Entry, FixedState>>]>,
}

struct Entry {
    value: Bytes,
    inserted_at: u64,
    ttl: AtomicU64,
    accesses: AtomicU32,
}

enum ReadEvent {
    Hit(u32, Bytes),
    Miss(u64),
}

impl Entry {
    fn expired(&self, now: u64) -> bool {
        let ttl = self.ttl.load(Ordering::Relaxed);
        ttl != NO_TTL && now >= self.inserted_at.saturating_add(ttl)
    }
}

impl Inner {
    fn keyspace_shards(self: &Arc<Self>, name: &str) -> (u32, Arc<Shards>) {
        let mut keyspaces = self.keyspaces.lock();
        if let Some((id, shards)) = keyspaces.get(name) {
            return (*id, shards.clone());
        }
        let shards = Arc::new(Shards {
            maps: (0..self.config.shards)
                .map(|_| RwLock::new(HashMap::with_hasher(FixedState::with_seed(7))))
                .collect(),
        });
        let mut by_id = self.by_id.write();
        let id = by_id.len() as u32;
        by_id.push(shards.clone());
        keyspaces.insert(Arc::from(name), (id, shards.clone()));
        (id, shards)
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    fn weight(&self, key: &[u8], value: &[u8]) -> u64 {
        if self.config.max_bytes.is_some() {
            (key.len() + value.len()) as u64
        } else {
            1
        }
    }

    fn now(&self) -> u64 {
        if self.config.ttl.is_some() {
            self.clock.now_nanos()
        } else {
            0
        }
    }

    fn record(&self, hash: u64, event: ReadEvent) {
        let buffer = &self.buffers[(hash as usize) % self.buffers.len()];
        let full = buffer.push(event).is_err();
        if (full || buffer.len() >= DRAIN_AT)
            && let Some(mut state) = self.policy.try_lock()
        {
            self.drain(&mut state);
        }
    }

    /// Hands buffered accesses to the policy (caller holds the policy lock).
    fn drain(&self, state: &mut PolicyState) {
        for buffer in self.buffers.iter() {
            while let Some(event) = buffer.pop() {
                match event {
                    ReadEvent::Hit(ks, key) => {
                        state.policy.record_hit(&(ks, key));
                    }
                    ReadEvent::Miss(hash) => state.policy.record_miss_hash(hash),
                }
            }
        }
    }

    /// Removes what the policy evicted from the maps (caller holds the policy lock).
    fn apply_evictions(&self, state: &mut PolicyState) {
        if state.evicted.is_empty() {
            return;
        }
        let by_id = self.by_id.read();
        for ((ks, key), _cause) in state.evicted.drain(..) {
            let shards = &by_id[ks as usize];
            shards.maps[(self.hash(&key) as usize) % shards.maps.len()]
                .write()
                .remove(&key);
            bump(&self.counters.evicted_capacity);
        }
    }

    fn publish_residency(&self, state: &PolicyState) {
        set(&self.counters.resident_entries, state.policy.len() as u64);
        set(&self.counters.resident_weight, state.policy.weight());
    }
}

impl MemoryCache {
    /// A builder; set `max_entries` and/or `max_bytes`.
    pub fn builder() -> MemoryCacheBuilder {
        let shards = std::thread::available_parallelism().map_or(8, |n| (n.get() * 4).max(8));
        MemoryCacheBuilder {
            config: MemoryCacheConfig {
                max_entries: None,
                max_bytes: None,
                ttl: None,
                shards,
                max_key_size: crate::DEFAULT_MAX_KEY_SIZE,
                max_value_size: crate::DEFAULT_MAX_VALUE_SIZE,
            },
            clock: Arc::new(SystemClock::new()),
        }
    }

    /// A cache of at most `n` entries, no expiry.
    pub fn with_max_entries(n: u64) -> Result<Self> {
        Self::builder().max_entries(n).build()
    }

    /// Counters since creation.
    pub fn stats(&self) -> CacheStats {
        self.inner.counters.snapshot()
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
        let state = self.inner.policy.lock();
        (state.policy.len() as u64, state.policy.weight())
    }

    /// Stores `value` with its own time-to-live (adaptation still applies to it).
    pub fn put_with_ttl(&self, key: Bytes, value: Bytes, ttl: Duration) -> Result<()> {
        check_put(&self.inner.caps, Operation::Put, &key, &value)?;
        self.insert_now(
            key,
            value,
            ttl.as_nanos().min(u128::from(NO_TTL - 1)) as u64,
        );
        Ok(())
    }

    /// The entries this keyspace would evict last: hottest first (for persisting a hot set).
    pub fn hot_keys(&self, limit: usize) -> Vec<Bytes> {
        let state = self.inner.policy.lock();
        state
            .policy
            .hottest(usize::MAX)
            .into_iter()
            .filter(|(ks, _)| *ks == self.ks)
            .map(|(_, k)| k)
            .take(limit)
            .collect()
    }

    /// One cleanup pass: shrinks the TTL of cold entries and drops expired ones. Returns how
    /// many were dropped. [`spawn_cleanup`](Self::spawn_cleanup) runs it periodically.
    pub fn run_cleanup(&self) -> usize {
        let Some(ttl) = self.inner.config.ttl else {
            return 0;
        };
        let now = self.inner.clock.now_nanos();
        let mut state = self.inner.policy.lock();
        self.inner.drain(&mut state);
        let mut dropped = 0;
        let by_id: Vec<Arc<Shards>> = self.inner.by_id.read().clone();
        for (ks, shards) in by_id.iter().enumerate() {
            for map in shards.maps.iter() {
                let mut map = map.write();
                map.retain(|key, entry| {
                    let t = entry.ttl.load(Ordering::Relaxed);
                    if t != NO_TTL {
                        entry.ttl.store(
                            ttl.after_cleanup(t, entry.accesses.load(Ordering::Relaxed)),
                            Ordering::Relaxed,
                        );
                    }
                    if entry.expired(now) {
                        state.policy.remove(&(ks as u32, key.clone()));
                        dropped += 1;
                        false
                    } else {
                        true
                    }
                });
            }
        }
        add(&self.inner.counters.evicted_ttl, dropped as u64);
        self.inner.publish_residency(&state);
        dropped
    }

    /// Runs [`run_cleanup`](Self::run_cleanup) every `interval` on the current tokio runtime
    /// until the cache is dropped.
    pub fn spawn_cleanup(&self, interval: Duration) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let (ks, name, shards) = (self.ks, self.name.clone(), self.shards.clone());
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                MemoryCache {
                    ks,
                    name: name.clone(),
                    shards: shards.clone(),
                    inner,
                }
                .run_cleanup();
            }
        })
    }

    fn shard_of(&self, hash: u64) -> &RwLock<HashMap<Bytes, Entry, FixedState>> {
        &self.shards.maps[(hash as usize) % self.shards.maps.len()]
    }

    fn get_now(&self, key: &[u8]) -> Option<Bytes> {
        let inner = &self.inner;
        let hash = inner.hash(key);
        let now = inner.now();
        let shard = self.shard_of(hash).read();
        match shard.get_key_value(key) {
            Some((stored_key, entry)) if !entry.expired(now) => {
                if let Some(ttl) = &inner.config.ttl {
                    let accesses = entry
                        .accesses
                        .fetch_add(1, Ordering::Relaxed)
                        .saturating_add(1);
                    let t = entry.ttl.load(Ordering::Relaxed);
                    if t != NO_TTL && accesses >= ttl.hot_threshold {
                        entry
                            .ttl
                            .store(ttl.after_hit(t, accesses), Ordering::Relaxed);
                    }
                }
                let (value, stored_key) = (entry.value.clone(), stored_key.clone());
                drop(shard);
                bump(&inner.counters.hits);
                inner.record(hash, ReadEvent::Hit(self.ks, stored_key));
                Some(value)
            }
            Some(_) => {
                drop(shard);
                self.expire(key, hash, now);
                bump(&inner.counters.misses);
                inner.record(hash, ReadEvent::Miss(hash));
                None
            }
            None => {
                drop(shard);
                bump(&inner.counters.misses);
                inner.record(hash, ReadEvent::Miss(hash));
                None
            }
        }
    }

    fn expire(&self, key: &[u8], hash: u64, now: u64) {
        let mut state = self.inner.policy.lock();
        let mut shard = self.shard_of(hash).write();
        if shard.get(key).is_some_and(|e| e.expired(now))
            && let Some((k, _)) = shard.remove_entry(key)
        {
            state.policy.remove(&(self.ks, k));
            bump(&self.inner.counters.evicted_ttl);
        }
        drop(shard);
        self.inner.publish_residency(&state);
    }

    fn new_entry(&self, value: Bytes, ttl: u64) -> Entry {
        // Clone once so the stored buffer is shared (a `Bytes` from a `Vec` allocates its
        // shared header on first clone): hits then clone without allocating.
        let value = value.clone();
        Entry {
            value,
            inserted_at: self.inner.now(),
            ttl: AtomicU64::new(ttl),
            accesses: AtomicU32::new(0),
        }
    }

    fn default_ttl(&self) -> u64 {
        self.inner
            .config
            .ttl
            .map_or(NO_TTL, |t| t.default_ttl.as_nanos() as u64)
    }

    fn insert_now(&self, key: Bytes, value: Bytes, ttl: u64) {
        let inner = &self.inner;
        let hash = inner.hash(&key);
        let weight = inner.weight(&key, &value);
        let key = key.clone(); // share the key buffer between map and policy
        let mut state = inner.policy.lock();
        inner.drain(&mut state);
        self.shard_of(hash)
            .write()
            .insert(key.clone(), self.new_entry(value, ttl));
        let PolicyState { policy, evicted } = &mut *state;
        policy.insert((self.ks, key), weight, evicted);
        inner.apply_evictions(&mut state);
        bump(&inner.counters.inserts);
        inner.publish_residency(&state);
    }

    fn delete_now(&self, key: &[u8]) -> bool {
        let inner = &self.inner;
        let hash = inner.hash(key);
        let mut state = inner.policy.lock();
        inner.drain(&mut state);
        let removed = self.shard_of(hash).write().remove_entry(key);
        let present = match removed {
            Some((k, entry)) => {
                state.policy.remove(&(self.ks, k));
                bump(&inner.counters.evicted_explicit);
                !entry.expired(inner.now())
            }
            None => false,
        };
        inner.publish_residency(&state);
        present
    }

    fn write_batch_now(&self, batch: WriteBatch) {
        let inner = &self.inner;
        let ttl = self.default_ttl();
        let mut state = inner.policy.lock();
        inner.drain(&mut state);
        let ops = batch.into_ops();
        let mut indices: Vec<usize> = ops
            .iter()
            .map(|op| (inner.hash(op.key()) as usize) % self.shards.maps.len())
            .collect();
        // Apply under every touched shard's write lock at once, so readers see all or nothing.
        let mut order = indices.clone();
        order.sort_unstable();
        order.dedup();
        let mut guards: HashMap<usize, _> = order
            .iter()
            .map(|&i| (i, self.shards.maps[i].write()))
            .collect();
        let mut policy_ops = Vec::with_capacity(ops.len());
        for (op, shard) in ops.into_iter().zip(indices.drain(..)) {
            let map = guards.get_mut(&shard).expect("locked above");
            match op {
                BatchOp::Put { key, value } => {
                    let weight = inner.weight(&key, &value);
                    let key = key.clone();
                    map.insert(key.clone(), self.new_entry(value, ttl));
                    policy_ops.push((key, Some(weight)));
                }
                BatchOp::Delete { key } => {
                    if map.remove(&key).is_some() {
                        bump(&inner.counters.evicted_explicit);
                    }
                    policy_ops.push((key, None));
                }
            }
        }
        drop(guards);
        for (key, weight) in policy_ops {
            let PolicyState { policy, evicted } = &mut *state;
            match weight {
                Some(w) => {
                    policy.insert((self.ks, key), w, evicted);
                    bump(&inner.counters.inserts);
                }
                None => {
                    policy.remove(&(self.ks, key));
                }
            }
            inner.apply_evictions(&mut state);
        }
        inner.publish_residency(&state);
    }

    fn scan_now(&self, range: &KeyRange, limit: usize) -> Vec<(Bytes, Bytes)> {
        let now = self.inner.now();
        let mut out: Vec<(Bytes, Bytes)> = Vec::new();
        for map in self.shards.maps.iter() {
            let map = map.read();
            out.extend(
                map.iter()
                    .filter(|(k, e)| range.contains(k) && !e.expired(now))
                    .map(|(k, e)| (k.clone(), e.value.clone())),
            );
        }
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out.truncate(limit);
        out
    }
}

impl fmt::Debug for MemoryCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryCache")
            .field("keyspace", &self.name)
            .field("max_entries", &self.inner.config.max_entries)
            .field("max_bytes", &self.inner.config.max_bytes)
            .field("stats", &self.stats())
            .finish()
    }
}

impl StorageBackend for MemoryCache {
    fn capabilities(&self) -> Capabilities {
        self.inner.caps
    }

    fn keyspace(&self, name: &str) -> Result<Self> {
        check_keyspace_name(name)?;
        let (ks, shards) = self.inner.keyspace_shards(name);
        Ok(MemoryCache {
            ks,
            name: Arc::from(name),
            shards,
            inner: self.inner.clone(),
        })
    }

    async fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        check_key(&self.inner.caps, Operation::Get, key)?;
        Ok(self.get_now(key))
    }

    async fn get_many(&self, keys: &[Bytes]) -> Result<Vec<Option<Bytes>>> {
        for key in keys {
            check_key(&self.inner.caps, Operation::GetMany, key)?;
        }
        Ok(keys.iter().map(|k| self.get_now(k)).collect())
    }

    async fn put(&self, key: Bytes, value: Bytes) -> Result<()> {
        check_put(&self.inner.caps, Operation::Put, &key, &value)?;
        self.insert_now(key, value, self.default_ttl());
        Ok(())
    }

    async fn delete(&self, key: &[u8]) -> Result<bool> {
        check_key(&self.inner.caps, Operation::Delete, key)?;
        Ok(self.delete_now(key))
    }

    async fn write_batch(&self, batch: WriteBatch) -> Result<()> {
        check_batch(&self.inner.caps, &batch)?;
        if !batch.is_empty() {
            self.write_batch_now(batch);
        }
        Ok(())
    }

    async fn scan(&self, range: KeyRange, limit: Option<usize>) -> Result<Vec<(Bytes, Bytes)>> {
        let limit = limit.unwrap_or(usize::MAX);
        if range.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        Ok(self.scan_now(&range, limit))
    }

    async fn flush(&self) -> Result<()> {
        Ok(())
    }
}
