//! Expiry of [`MemoryCache`] entries: per-entry TTLs, their adaptation, and the cleanup pass.
//!
//! An entry expires once `now ≥ inserted_at + ttl`. Entries get a TTL from the cache's
//! [`TtlConfig`] (its default TTL, adapted on hits and at cleanup) or from
//! [`MemoryCache::put_with_ttl`] — with or without a `TtlConfig`: a per-entry TTL holds on
//! its own, so the clock is read as soon as any entry may carry one.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;

use super::{Inner, MemoryCache, Shards};
use crate::cache::driver::{Feed, key_hash};
use crate::cache::listener::{Notices, RemovalCause};
use crate::cache::stats::{add, bump};
use crate::cache::ttl::TtlConfig;
use crate::validate::check_put;
use crate::{Operation, Result};

/// The TTL of an entry that never expires.
pub(crate) const NO_TTL: u64 = u64::MAX;

/// A cached value with its expiry state.
pub(crate) struct Entry {
    pub(crate) value: Bytes,
    pub(crate) inserted_at: u64,
    pub(crate) ttl: AtomicU64,
    pub(crate) accesses: AtomicU32,
    /// The policy's node for this key (`NIL` until the policy took it): hits are noted
    /// against it, so noting one copies two integers and touches no reference count.
    pub(crate) node: AtomicU32,
}

impl Entry {
    pub(crate) fn expired(&self, now: u64) -> bool {
        let ttl = self.ttl.load(Ordering::Relaxed);
        ttl != NO_TTL && now >= self.inserted_at.saturating_add(ttl)
    }

    /// Counts a hit and stretches the TTL of a hot entry.
    pub(crate) fn adapt_on_hit(&self, config: &TtlConfig) {
        let accesses = self
            .accesses
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        let t = self.ttl.load(Ordering::Relaxed);
        if t != NO_TTL && accesses >= config.hot_threshold {
            self.ttl
                .store(config.after_hit(t, accesses), Ordering::Relaxed);
        }
    }
}

impl MemoryCache {
    /// Stores `value` with its own time-to-live, whether or not the cache has a default TTL
    /// (if it has a [`TtlConfig`], adaptation applies to this entry too).
    pub fn put_with_ttl(&self, key: Bytes, value: Bytes, ttl: Duration) -> Result<()> {
        check_put(&self.inner.caps(), Operation::Put, &key, &value)?;
        // Before the entry takes its insertion time: from now on reads consult the clock.
        self.inner.timed.store(true, Ordering::Release);
        self.insert_now(
            key,
            value,
            ttl.as_nanos().min(u128::from(NO_TTL - 1)) as u64,
        );
        Ok(())
    }

    /// One cleanup pass over every keyspace: shrinks the TTL of cold entries (with a
    /// [`TtlConfig`]) and drops expired ones. Returns how many were dropped.
    /// [`spawn_cleanup`](Self::spawn_cleanup) runs it periodically.
    pub fn run_cleanup(&self) -> usize {
        let inner = &self.inner;
        if !inner.timed.load(Ordering::Acquire) {
            return 0;
        }
        let now = inner.clock.now_nanos();
        let mut notices = inner.notices();
        let mut feed = inner.driver.lock();
        let mut dropped = 0;
        let by_id: Vec<Arc<Shards>> = inner.by_id.read().clone();
        for (ks, shards) in by_id.iter().enumerate() {
            for map in shards.maps.iter() {
                let mut map = map.write();
                map.retain(|slot| {
                    let (key, entry) = (&slot.key, &slot.entry);
                    let t = entry.ttl.load(Ordering::Relaxed);
                    if let Some(config) = &inner.config.ttl
                        && t != NO_TTL
                    {
                        let accesses = entry.accesses.load(Ordering::Relaxed);
                        entry
                            .ttl
                            .store(config.after_cleanup(t, accesses), Ordering::Relaxed);
                    }
                    if entry.expired(now) {
                        feed.remove(ks as u32, key.clone());
                        notices.push(
                            &shards.name,
                            key.clone(),
                            Some(entry.value.clone()),
                            RemovalCause::Expired,
                        );
                        dropped += 1;
                        false
                    } else {
                        true
                    }
                });
            }
        }
        add(&inner.counters.evicted_ttl, dropped as u64);
        inner.publish_residency(&feed);
        drop(feed);
        notices.deliver();
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

    /// Drops `key` if it is (still) expired at `now` (caller holds the policy).
    pub(crate) fn expire(
        &self,
        feed: &mut Feed<'_>,
        notices: &mut Notices<'_>,
        key: &[u8],
        hash: u64,
        now: u64,
    ) {
        debug_assert_eq!(hash, key_hash(self.ks, key));
        let mut shard = self.shards.of(hash).write();
        if shard.get(hash, key).is_some_and(|s| s.entry.expired(now))
            && let Some(slot) = shard.remove(hash, key)
        {
            feed.remove(self.ks, slot.key.clone());
            bump(&self.inner.counters.evicted_ttl);
            notices.push(
                &self.shards.name,
                slot.key,
                Some(slot.entry.value),
                RemovalCause::Expired,
            );
        }
        drop(shard);
        self.inner.publish_residency(feed);
    }
}
