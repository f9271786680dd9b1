//! The policy driver: the one way a cache tells its W-TinyLFU policy what happened.
//!
//! [`MemoryCache`](super::MemoryCache) and [`Bounded`](super::Bounded) both feed their policy
//! through a [`PolicyDriver`], so they cannot drift apart again (one of them once fed the
//! policy its own hash on misses, and its sketch and ghost lists learned nothing). The driver
//! owns three things that must agree for the policy to work:
//!
//! - **The key hash** ([`key_hash`]): inserts and misses carry the same hash, because the
//!   frequency sketch and the ghost lists know keys only by it.
//! - **The order of events**: hits are noted in per-thread buffers without blocking, and every
//!   miss, insert or remove first drains those buffers under the policy lock. So a thread's
//!   events reach the policy in the order it made them, and a single-threaded replay through
//!   the product gives exactly the policy's own decisions.
//! - **Evictions**: what the policy pushed out, handed back for the caller to delete.
//!
//! Only hits are buffered: they are the hot path, and a lost hit costs little (a buffer that
//! stays full while another thread holds the lock drops its newest note, as in Caffeine).
//! Misses take the lock: each is usually followed by an insert that takes it anyway, and the
//! window only adapts if the policy sees every miss.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use crossbeam_queue::ArrayQueue;
use foldhash::fast::FixedState;
use parking_lot::{Mutex, MutexGuard};

use super::policy::{EvictionCause, PolicyConfig, WTinyLfu};
use super::sketch::mix;

/// A key as the policy tracks it: the keyspace id and the key's bytes.
pub(crate) type PolicyKey = (u32, Bytes);

/// Hit notes per buffer before the noting thread tries to hand them to the policy.
const DRAIN_AT: usize = 48;
/// Capacity of one hit buffer; notes beyond it are dropped while the policy is busy.
const BUFFER_SLOTS: usize = 128;
const HASHER: FixedState = FixedState::with_seed(0x5ca1_ab1e_cac4_e000);

/// The hash of `key` in keyspace `ks`, for the policy and for anything else that wants one
/// hash per key (shard selection), so a lookup hashes its key once.
pub(crate) fn key_hash(ks: u32, key: &[u8]) -> u64 {
    mix(HASHER.hash_one((ks, key)))
}

/// The buffer of the calling thread: threads keep their own order, and rarely contend.
fn stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    STRIPE.with(|s| *s)
}

/// Feeds one W-TinyLFU policy shared by every keyspace of a cache.
pub(crate) struct PolicyDriver {
    state: Mutex<State>,
    hits: Box<[ArrayQueue<PolicyKey>]>,
}

struct State {
    policy: WTinyLfu<PolicyKey>,
    evicted: Vec<(PolicyKey, EvictionCause)>,
}

/// The policy, locked, with every buffered hit already applied.
pub(crate) struct Feed<'a> {
    state: MutexGuard<'a, State>,
}

impl PolicyDriver {
    /// A driver for a policy of `config`, with `stripes` hit buffers (at least one).
    pub(crate) fn new(config: PolicyConfig, stripes: usize) -> Self {
        PolicyDriver {
            state: Mutex::new(State {
                policy: WTinyLfu::new(config),
                evicted: Vec::new(),
            }),
            hits: (0..stripes.max(1))
                .map(|_| ArrayQueue::new(BUFFER_SLOTS))
                .collect(),
        }
    }

    /// Notes a hit on a resident `key` without waiting for the policy. `key` should share the
    /// stored key's buffer (a `Bytes` clone), so noting allocates nothing.
    pub(crate) fn hit(&self, ks: u32, key: Bytes) {
        let buffer = &self.hits[stripe() % self.hits.len()];
        match buffer.push((ks, key)) {
            Ok(()) if buffer.len() < DRAIN_AT => {}
            Ok(()) => {
                if let Some(state) = self.state.try_lock() {
                    self.drained(state);
                }
            }
            Err(note) => {
                // Full: apply it now if the policy is free, else drop it (lossy by design).
                if let Some(state) = self.state.try_lock() {
                    let mut feed = self.drained(state);
                    feed.hit(note.0, note.1);
                }
            }
        }
    }

    /// Locks the policy, after applying every buffered hit.
    pub(crate) fn lock(&self) -> Feed<'_> {
        self.drained(self.state.lock())
    }

    fn drained<'a>(&'a self, mut state: MutexGuard<'a, State>) -> Feed<'a> {
        for buffer in self.hits.iter() {
            while let Some(key) = buffer.pop() {
                // A key evicted since it was noted is simply not found.
                state.policy.record_hit(&key);
            }
        }
        Feed { state }
    }
}

impl Feed<'_> {
    /// Records a hit on `key` now; returns `false` (recording nothing) if it is not resident.
    pub(crate) fn hit(&mut self, ks: u32, key: Bytes) -> bool {
        self.state.policy.record_hit(&(ks, key))
    }

    /// Records a miss on the key whose [`key_hash`] is `hash`.
    pub(crate) fn miss(&mut self, hash: u64) {
        self.state.policy.record_miss_hash(hash);
    }

    /// Inserts or re-weighs `key` (whose [`key_hash`] is `hash`), then evicts to capacity;
    /// the evicted keys wait in [`evicted`](Self::evicted). Returns whether `key` is resident.
    pub(crate) fn insert(&mut self, ks: u32, key: Bytes, hash: u64, weight: u64) -> bool {
        let State { policy, evicted } = &mut *self.state;
        policy.insert_hashed((ks, key), hash, weight, evicted)
    }

    /// Forgets `key`; returns whether it was resident.
    pub(crate) fn remove(&mut self, ks: u32, key: Bytes) -> bool {
        self.state.policy.remove(&(ks, key))
    }

    /// Whether `key` is resident.
    pub(crate) fn contains(&self, ks: u32, key: &Bytes) -> bool {
        // The tuple owns its `Bytes`: a clone is a reference count, not a copy.
        self.state.policy.contains(&(ks, key.clone()))
    }

    /// Takes the keys evicted since the last call, oldest first.
    pub(crate) fn evicted(&mut self) -> std::vec::Drain<'_, (PolicyKey, EvictionCause)> {
        self.state.evicted.drain(..)
    }

    /// Resident entries.
    pub(crate) fn len(&self) -> usize {
        self.state.policy.len()
    }

    /// Resident weight.
    pub(crate) fn weight(&self) -> u64 {
        self.state.policy.weight()
    }

    /// Resident keys, hottest first.
    pub(crate) fn hottest(&self, limit: usize) -> Vec<PolicyKey> {
        self.state.policy.hottest(limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u32) -> Bytes {
        Bytes::from(i.to_be_bytes().to_vec())
    }

    #[test]
    fn misses_and_inserts_share_one_hash() {
        // A key missed twice before its insert has been seen: it must displace a one-off
        // resident. With mismatched hashes its sightings land elsewhere and it is refused.
        let driver = PolicyDriver::new(PolicyConfig::entries(1), 1);
        let mut feed = driver.lock();
        feed.insert(0, key(1), key_hash(0, &key(1)), 1);
        for _ in 0..3 {
            feed.miss(key_hash(0, &key(2)));
        }
        assert!(feed.insert(0, key(2), key_hash(0, &key(2)), 1), "admitted");
        let evicted: Vec<_> = feed.evicted().map(|(k, _)| k).collect();
        assert_eq!(evicted, vec![(0, key(1))]);
    }

    #[test]
    fn buffered_hits_reach_the_policy_before_the_next_write() {
        let driver = PolicyDriver::new(PolicyConfig::entries(100), 4);
        {
            let mut feed = driver.lock();
            for i in 0..3 {
                feed.insert(0, key(i), key_hash(0, &key(i)), 1);
            }
        }
        driver.hit(0, key(0));
        // The hit promoted key 0 within the window: it is now the most recent.
        let hottest = driver.lock().hottest(1);
        assert_eq!(hottest, vec![(0, key(0))]);
    }

    #[test]
    fn keyspaces_are_distinct_keys() {
        assert_ne!(key_hash(0, b"k"), key_hash(1, b"k"));
        let driver = PolicyDriver::new(PolicyConfig::entries(10), 1);
        let mut feed = driver.lock();
        feed.insert(0, key(1), key_hash(0, &key(1)), 1);
        assert!(feed.contains(0, &key(1)));
        assert!(!feed.contains(1, &key(1)));
        assert!(!feed.hit(1, key(1)));
    }
}
