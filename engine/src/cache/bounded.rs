//! `Bounded<B>`: any backend turned into a capacity-bounded cache tier by the W-TinyLFU policy.
//!
//! The policy tracks the tier's keys and weights in memory and evicts by deleting from the
//! tier. Opening it scans the tier to rebuild the policy, so a persistent tier (redb) is warm
//! after a restart: what it held before still serves hits at once. Keyspaces not listed at
//! open are tracked from their first use in this process only.
//!
//! # Capacity under failures and cancellation
//! The invariant: every key the tier may hold is resident in the policy or an *orphan* (a key
//! the policy let go of whose delete has not been seen to land, see [`Orphans`]). So the tier
//! holds at most the capacity plus the orphans, and each write deletes every orphan before it
//! adds anything. To keep the invariant through failed and cancelled calls (a dropped future
//! stops at any `.await`, possibly after the inner write landed):
//! - a write records its keys in the policy *before* the inner write, so a write that lands
//!   after its caller gave up is still counted;
//! - an orphan is forgotten only once its delete succeeded; a failed or cancelled delete is
//!   retried by the next write, which fails rather than add to a tier it could not trim;
//! - after the inner write (also when it failed or was dropped: a guard runs on drop), any
//!   written key the policy evicted meanwhile becomes an orphan.
//!
//! No lock is held across an inner call: the policy's lock is synchronous and short.
//!
//! Like an eviction, an orphan's delete may land after a concurrent put of the same key and
//! drop it: the tier then misses that key (it never serves an older value). That is a
//! cache's right, which is why `Bounded` reports [`Capabilities::evicts`]; use it as the
//! upper tier of a [`Tiered`](crate::Tiered) store, not as a store of record.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use super::driver::{PolicyDriver, PolicyKey, key_hash};
use super::listener::{Notices, RemovalCause};
use super::orphans::Orphans;
use super::policy::PolicyConfig;
use crate::{
    BatchOp, Capabilities, DEFAULT_KEYSPACE, KeyRange, Result, StorageBackend, WriteBatch,
};

/// A backend bounded by the W-TinyLFU policy. Build it with [`Bounded::open`].
pub struct Bounded<B> {
    inner: B,
    ks: u32,
    shared: Arc<Shared<B>>,
}

struct Shared<B> {
    driver: PolicyDriver,
    /// Locked after the driver, never before.
    orphans: Mutex<Orphans>,
    registry: Mutex<Registry<B>>,
    by_bytes: bool,
    /// Told of every key the policy lets go (see [`Bounded::eviction_listener`]).
    listener: parking_lot::RwLock<Option<super::listener::Listener>>,
}

/// One handle per keyspace id, to delete what the policy evicts.
struct Registry<B> {
    handles: Vec<Arc<B>>,
    ids: HashMap<String, u32>,
    /// Keyspace names by id (for eviction notices).
    names: Vec<Arc<str>>,
}

impl<B: StorageBackend> Shared<B> {
    fn weight(&self, key: &[u8], value: &[u8]) -> u64 {
        if self.by_bytes {
            (key.len() + value.len()) as u64
        } else {
            1
        }
    }

    /// Deletes every orphan from the tier; each stops being one once its delete landed.
    async fn delete_orphans(&self) -> Result<()> {
        let snapshot = {
            let orphans = self.orphans.lock();
            if orphans.is_empty() {
                return Ok(());
            }
            orphans.snapshot()
        };
        let mut per_keyspace: BTreeMap<u32, (WriteBatch, Vec<(PolicyKey, u64)>)> = BTreeMap::new();
        for (key, generation) in snapshot {
            let (batch, keys) = per_keyspace.entry(key.0).or_default();
            batch.delete(key.1.clone());
            keys.push((key, generation));
        }
        for (id, (batch, keys)) in per_keyspace {
            let handle = self.registry.lock().handles[id as usize].clone();
            handle.write_batch(batch).await?;
            self.orphans.lock().settle(&keys);
        }
        Ok(())
    }

    /// Records writes in the policy before they reach the tier: `(key, Some(weight))` is a
    /// put, `(key, None)` a delete. Returns, per put, whether the policy keeps the key, and
    /// the orphanings of the deleted keys (to settle once the deletes land).
    fn record_writes(
        &self,
        ks: u32,
        ops: &[(Bytes, Option<u64>)],
    ) -> (Vec<bool>, Vec<(PolicyKey, u64)>) {
        let listener = self.listener.read().clone();
        let mut notices: Vec<(PolicyKey, RemovalCause)> = Vec::new();
        let mut feed = self.driver.lock();
        let mut orphans = self.orphans.lock();
        // Keys this call puts that the tier cannot hold yet: evicting them needs no delete.
        let mut fresh = HashSet::new();
        let mut deleted = Vec::new();
        for (key, weight) in ops {
            let pk = (ks, key.clone());
            match weight {
                Some(weight) => {
                    let resident = feed.contains(ks, key);
                    if !resident && !orphans.contains(&pk) {
                        fresh.insert(key.clone());
                    }
                    if resident && listener.is_some() {
                        notices.push((pk.clone(), RemovalCause::Replaced));
                    }
                    orphans.forget(&pk);
                    feed.insert(ks, key.clone(), key_hash(ks, key), *weight);
                }
                None => {
                    let resident = feed.remove(ks, key.clone());
                    if resident && listener.is_some() {
                        notices.push((pk.clone(), RemovalCause::Removed));
                    }
                    if resident || orphans.contains(&pk) {
                        let generation = orphans.add(pk.clone());
                        deleted.push((pk, generation));
                    }
                }
            }
            for (key, _cause) in feed.evicted() {
                if listener.is_some() {
                    notices.push((key.clone(), RemovalCause::Size));
                }
                if key.0 != ks || !fresh.contains(&key.1) {
                    orphans.add(key);
                }
            }
        }
        let kept = ops
            .iter()
            .map(|(key, weight)| weight.is_some() && feed.contains(ks, key))
            .collect();
        drop(orphans);
        drop(feed);
        if let Some(listener) = listener {
            let names = self.registry.lock().names.clone();
            let mut out = Notices::new(Some(&listener));
            for ((id, key), cause) in notices {
                out.push(&names[id as usize], key, None, cause);
            }
            out.deliver();
        }
        (kept, deleted)
    }
}

/// Runs when a write's inner call ends, however it ends: written keys the policy evicted
/// while the write was in flight may have landed after their delete, so they are orphans.
struct Settle<'a, B: StorageBackend> {
    shared: &'a Shared<B>,
    ks: u32,
    keys: Vec<Bytes>,
}

impl<B: StorageBackend> Drop for Settle<'_, B> {
    fn drop(&mut self) {
        let feed = self.shared.driver.lock();
        let mut orphans = self.shared.orphans.lock();
        for key in self.keys.drain(..) {
            if !feed.contains(self.ks, &key) {
                orphans.add((self.ks, key));
            }
        }
    }
}

impl<B: StorageBackend> Bounded<B> {
    /// Bounds `inner` by `config` (use [`PolicyConfig::entries`] or [`PolicyConfig::weight`],
    /// weight = key + value bytes), rebuilding the policy from what the listed keyspaces (and
    /// the default one) already hold; anything over the capacity is evicted now.
    pub async fn open(inner: B, config: PolicyConfig, keyspaces: &[&str]) -> Result<Self> {
        let by_bytes = config.max_entries == u64::MAX || config.max_weight != config.max_entries;
        let shared = Arc::new(Shared {
            // One hit buffer is enough: hits here follow a read of the inner backend.
            driver: PolicyDriver::new(config),
            orphans: Mutex::new(Orphans::default()),
            registry: Mutex::new(Registry {
                handles: Vec::new(),
                ids: HashMap::new(),
                names: Vec::new(),
            }),
            by_bytes,
            listener: parking_lot::RwLock::new(None),
        });
        let mut names: Vec<&str> = vec![DEFAULT_KEYSPACE];
        names.extend(keyspaces.iter().copied().filter(|n| *n != DEFAULT_KEYSPACE));
        for name in names {
            let handle = inner.keyspace(name)?;
            let rows = handle.scan(KeyRange::all(), None).await?;
            let id = {
                let mut registry = shared.registry.lock();
                let id = registry.handles.len() as u32;
                registry.ids.insert(name.to_string(), id);
                registry.handles.push(Arc::new(handle));
                registry.names.push(Arc::from(name));
                id
            };
            let mut feed = shared.driver.lock();
            let mut orphans = shared.orphans.lock();
            for (key, value) in rows {
                let weight = shared.weight(&key, &value);
                feed.insert(id, key.clone(), key_hash(id, &key), weight);
                // Everything evicted here is in the tier.
                feed.evicted().for_each(|(key, _)| {
                    orphans.add(key);
                });
            }
        }
        shared.delete_orphans().await?;
        Ok(Bounded {
            inner,
            ks: 0,
            shared,
        })
    }

    /// Calls `listener` for every key the policy lets go, with the cause (`Size`,
    /// `Replaced`, `Removed`; a `Bounded` tier does not expire entries) and no value (it lives
    /// in the wrapped store and is not read for the notice). Notices are delivered after the
    /// policy's locks are released, on the writing thread, before the write reaches the wrapped
    /// store (whose delete of an evicted key follows). Applies to every keyspace handle of
    /// this tier; keys evicted while `open` rebuilt the policy are not reported.
    pub fn eviction_listener(
        self,
        listener: impl Fn(super::Eviction) + Send + Sync + 'static,
    ) -> Self {
        *self.shared.listener.write() = Some(Arc::new(listener));
        self
    }

    /// Resident entries and weight, as the policy counts them.
    pub async fn residency(&self) -> (u64, u64) {
        let feed = self.shared.driver.lock();
        (feed.len() as u64, feed.weight())
    }

    /// The wrapped backend.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }

    fn settle(&self, keys: Vec<Bytes>) -> Settle<'_, B> {
        Settle {
            shared: &self.shared,
            ks: self.ks,
            keys,
        }
    }

    fn record_read(&self, key: &[u8], found: bool) {
        let mut feed = self.shared.driver.lock();
        if !found || !feed.hit(self.ks, Bytes::copy_from_slice(key)) {
            feed.miss(key_hash(self.ks, key));
        }
    }
}

impl<B: StorageBackend> fmt::Debug for Bounded<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bounded")
            .field("inner", &self.inner)
            .field("keyspace_id", &self.ks)
            .finish()
    }
}

impl<B: StorageBackend> StorageBackend for Bounded<B> {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            evicts: true,
            ..self.inner.capabilities()
        }
    }

    fn keyspace(&self, name: &str) -> Result<Self> {
        let inner = self.inner.keyspace(name)?;
        let mut registry = self.shared.registry.lock();
        let id = match registry.ids.get(name) {
            Some(id) => *id,
            None => {
                let id = registry.handles.len() as u32;
                registry.handles.push(Arc::new(self.inner.keyspace(name)?));
                registry.ids.insert(name.to_string(), id);
                registry.names.push(Arc::from(name));
                id
            }
        };
        drop(registry);
        Ok(Bounded {
            inner,
            ks: id,
            shared: self.shared.clone(),
        })
    }

    async fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        let value = self.inner.get(key).await?;
        self.record_read(key, value.is_some());
        Ok(value)
    }

    async fn get_many(&self, keys: &[Bytes]) -> Result<Vec<Option<Bytes>>> {
        let values = self.inner.get_many(keys).await?;
        for (key, value) in keys.iter().zip(&values) {
            self.record_read(key, value.is_some());
        }
        Ok(values)
    }

    async fn put(&self, key: Bytes, value: Bytes) -> Result<()> {
        let weight = self.shared.weight(&key, &value);
        let (kept, _) = self
            .shared
            .record_writes(self.ks, &[(key.clone(), Some(weight))]);
        self.shared.delete_orphans().await?;
        if !kept[0] {
            // Refused by the policy: not stored (an older copy was an orphan, deleted above).
            return Ok(());
        }
        let _settle = self.settle(vec![key.clone()]);
        self.inner.put(key, value).await
    }

    async fn delete(&self, key: &[u8]) -> Result<bool> {
        let key = Bytes::copy_from_slice(key);
        let (_, deleted) = self.shared.record_writes(self.ks, &[(key.clone(), None)]);
        let existed = self.inner.delete(&key).await?;
        self.shared.orphans.lock().settle(&deleted);
        Ok(existed)
    }

    async fn write_batch(&self, batch: WriteBatch) -> Result<()> {
        let ops: Vec<(Bytes, Option<u64>)> = batch
            .ops()
            .iter()
            .map(|op| match op {
                BatchOp::Put { key, value } => (key.clone(), Some(self.shared.weight(key, value))),
                BatchOp::Delete { key } => (key.clone(), None),
            })
            .collect();
        let (kept, deleted) = self.shared.record_writes(self.ks, &ops);
        self.shared.delete_orphans().await?;
        // Puts the policy refused are left out (any older copy was an orphan, deleted above).
        let mut written = Vec::new();
        let mut filtered = WriteBatch::with_capacity(ops.len());
        for (op, kept) in batch.into_ops().into_iter().zip(kept) {
            match op {
                BatchOp::Put { key, value } if kept => {
                    written.push(key.clone());
                    filtered.put(key, value);
                }
                BatchOp::Put { .. } => {}
                BatchOp::Delete { key } => {
                    filtered.delete(key);
                }
            }
        }
        if filtered.is_empty() {
            return Ok(());
        }
        let _settle = self.settle(written);
        self.inner.write_batch(filtered).await?;
        self.shared.orphans.lock().settle(&deleted);
        Ok(())
    }

    async fn scan(&self, range: KeyRange, limit: Option<usize>) -> Result<Vec<(Bytes, Bytes)>> {
        self.inner.scan(range, limit).await
    }

    async fn flush(&self) -> Result<()> {
        self.inner.flush().await
    }

    async fn close(&self) -> Result<()> {
        self.inner.close().await
    }
}
