//! The policy driver: the one way a cache tells its W-TinyLFU policy what happened.
//!
//! [`MemoryCache`](super::MemoryCache) and [`Bounded`](super::Bounded) both feed their policy
//! through a [`PolicyDriver`], so they cannot drift apart again (one of them once fed the
//! policy its own hash on misses, and its sketch and ghost lists learned nothing). The driver
//! owns three things that must agree for the policy to work:
//!
//! - **The key hash** ([`key_hash`]): inserts and misses carry the same hash, because the
//!   frequency sketch and the ghost lists know keys only by it.
//! - **The order of events**: a thread notes its hits in a buffer of its own, without
//!   locking or touching memory another core writes, and every miss, insert or remove it
//!   makes first applies its buffer under the policy lock. So a thread's events reach the
//!   policy in the order it made them, and a single-threaded replay through the product gives
//!   exactly the policy's own decisions. Other threads' hits arrive when those threads next
//!   hand theirs over (a full buffer, or their own next miss or write), as in Caffeine.
//! - **Evictions**: what the policy pushed out, handed back for the caller to delete.
//!
//! Only hits are buffered: they are the hot path, and a lost hit costs little (a buffer that
//! stays full while another thread holds the lock drops its notes, as Caffeine's does). A
//! thread keeps buffers for [`LOCAL_BUFFERS`] caches; using more in turn hands the least
//! recently used buffer's notes to its own policy before reusing it.
//! Misses take the lock: each is usually followed by an insert that takes it anyway, and the
//! window only adapts if the policy sees every miss.

use std::cell::RefCell;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use bytes::Bytes;
use foldhash::fast::FixedState;
use parking_lot::{Mutex, MutexGuard};

use super::deque::NodeId;
use super::policy::{EvictionCause, PolicyConfig, WTinyLfu};
use super::sketch::mix;

/// A key as the policy tracks it: the keyspace id and the key's bytes.
pub(crate) type PolicyKey = (u32, Bytes);

/// Hit notes a thread gathers before it tries to hand them to the policy.
const DRAIN_AT: usize = 32;
/// Capacity of a thread's buffer; while the policy stays busy, a full buffer is dropped.
const BUFFER_SLOTS: usize = 128;
/// Caches a thread keeps hit buffers for at once.
const LOCAL_BUFFERS: usize = 8;
const HASHER: FixedState = FixedState::with_seed(0x5ca1_ab1e_cac4_e000);

/// The hash of `key` in keyspace `ks`, for the policy and for anything else that wants one
/// hash per key (shard selection), so a lookup hashes its key once.
pub(crate) fn key_hash(ks: u32, key: &[u8]) -> u64 {
    mix(HASHER.hash_one((ks, key)))
}

/// The stripe of the calling thread (its hit buffer, its counter slots): threads keep their
/// own order, and rarely contend.
pub(crate) fn stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    // During thread teardown: any stripe will do.
    STRIPE.try_with(|s| *s).unwrap_or(0)
}

/// A thread's hit notes for one driver.
struct LocalNotes {
    /// The driver's policy; a dropped driver's notes are simply dropped.
    driver: Weak<Mutex<State>>,
    /// When this thread last used the buffer (its own counter), to pick one to reuse.
    last_use: u64,
    notes: Vec<(NodeId, u64)>,
}

thread_local! {
    static LOCAL: RefCell<Local> = const { RefCell::new(Local { clock: 0, buffers: Vec::new() }) };
}

struct Local {
    clock: u64,
    buffers: Vec<LocalNotes>,
}

impl Local {
    /// This thread's buffer for `driver`, taking over the least recently used one if needed
    /// (after handing its notes to their policy, if that is free).
    fn buffer(&mut self, driver: &Arc<Mutex<State>>) -> &mut Vec<(NodeId, u64)> {
        self.clock += 1;
        let index = match self
            .buffers
            .iter()
            .position(|b| std::ptr::eq(b.driver.as_ptr(), Arc::as_ptr(driver)))
        {
            Some(i) => i,
            None if self.buffers.len() < LOCAL_BUFFERS => {
                self.buffers.push(LocalNotes {
                    driver: Arc::downgrade(driver),
                    last_use: 0,
                    notes: Vec::with_capacity(BUFFER_SLOTS),
                });
                self.buffers.len() - 1
            }
            None => {
                let (i, _) = self
                    .buffers
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, b)| b.last_use)
                    .expect("LOCAL_BUFFERS > 0");
                let old = &mut self.buffers[i];
                if let Some(state) = old.driver.upgrade()
                    && let Some(mut state) = state.try_lock()
                {
                    apply(&mut state, &mut old.notes);
                }
                old.notes.clear();
                old.driver = Arc::downgrade(driver);
                i
            }
        };
        let buffer = &mut self.buffers[index];
        buffer.last_use = self.clock;
        &mut buffer.notes
    }
}

/// Feeds one W-TinyLFU policy shared by every keyspace of a cache.
pub(crate) struct PolicyDriver {
    /// Shared with the threads' buffers (weakly), so a buffer can hand its notes over.
    state: Arc<Mutex<State>>,
}

struct State {
    policy: WTinyLfu<PolicyKey>,
    evicted: Vec<(PolicyKey, EvictionCause)>,
}

/// The policy, locked, with the calling thread's buffered hits already applied.
pub(crate) struct Feed<'a> {
    state: MutexGuard<'a, State>,
}

impl PolicyDriver {
    /// A driver for a policy of `config`.
    pub(crate) fn new(config: PolicyConfig) -> Self {
        PolicyDriver {
            state: Arc::new(Mutex::new(State {
                policy: WTinyLfu::new(config),
                evicted: Vec::new(),
            })),
        }
    }

    /// Notes a hit on the key whose node is `node` (from [`Feed::node_of`]) and whose
    /// [`key_hash`] is `hash`, in the calling thread's buffer: no lock, no shared write.
    pub(crate) fn hit(&self, node: NodeId, hash: u64) {
        // During thread teardown the buffers are gone: the note is dropped.
        let _ = LOCAL.try_with(|local| {
            // Never re-entered (nothing here calls back into a cache); if it were, the note
            // is dropped, as a full buffer's would be.
            let Ok(mut local) = local.try_borrow_mut() else {
                return;
            };
            let notes = local.buffer(&self.state);
            notes.push((node, hash));
            if notes.len() >= DRAIN_AT {
                if let Some(mut state) = self.state.try_lock() {
                    apply(&mut state, notes);
                } else if notes.len() >= BUFFER_SLOTS {
                    notes.clear(); // the policy stayed busy: lossy by design
                }
            }
        });
    }

    /// Locks the policy, after applying the calling thread's buffered hits.
    pub(crate) fn lock(&self) -> Feed<'_> {
        let mut state = self.state.lock();
        let _ = LOCAL.try_with(|local| {
            if let Ok(mut local) = local.try_borrow_mut()
                && let Some(buffer) = local
                    .buffers
                    .iter_mut()
                    .find(|b| std::ptr::eq(b.driver.as_ptr(), Arc::as_ptr(&self.state)))
            {
                apply(&mut state, &mut buffer.notes);
            }
        });
        Feed { state }
    }
}

/// Applies and clears `notes`. A key evicted since it was noted is simply not found.
fn apply(state: &mut State, notes: &mut Vec<(NodeId, u64)>) {
    for (node, hash) in notes.drain(..) {
        state.policy.record_hit_node(node, hash);
    }
}

impl Feed<'_> {
    /// Records a hit on `key` now; returns `false` (recording nothing) if it is not resident.
    pub(crate) fn hit(&mut self, ks: u32, key: Bytes) -> bool {
        let hash = key_hash(ks, &key);
        self.state.policy.record_hit_hashed(&(ks, key), hash)
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
        let hash = key_hash(ks, &key);
        self.state.policy.remove_hashed(&(ks, key), hash)
    }

    /// The node holding `key` while it is resident: what [`PolicyDriver::hit`] notes.
    pub(crate) fn node_of(&self, ks: u32, key: &Bytes) -> Option<NodeId> {
        self.state
            .policy
            .node_of(&(ks, key.clone()), key_hash(ks, key))
    }

    /// Whether `key` is resident.
    pub(crate) fn contains(&self, ks: u32, key: &Bytes) -> bool {
        // The tuple owns its `Bytes`: a clone is a reference count, not a copy.
        self.state
            .policy
            .contains_hashed(&(ks, key.clone()), key_hash(ks, key))
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

    /// How often the key whose [`key_hash`] is `hash` was seen, as the sketch estimates (0–15).
    pub(crate) fn frequency(&self, hash: u64) -> u8 {
        self.state.policy.frequency_hashed(hash)
    }

    /// Raises the key's estimated frequency to at least `frequency` (see `hot_set.rs`).
    pub(crate) fn seed_frequency(&mut self, hash: u64, frequency: u8) {
        self.state.policy.seed_frequency(hash, frequency);
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
        let driver = PolicyDriver::new(PolicyConfig::entries(1));
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
        let driver = PolicyDriver::new(PolicyConfig::entries(100));
        {
            let mut feed = driver.lock();
            for i in 0..3 {
                feed.insert(0, key(i), key_hash(0, &key(i)), 1);
            }
        }
        let node = driver.lock().node_of(0, &key(0)).unwrap();
        driver.hit(node, key_hash(0, &key(0)));
        // The hit promoted key 0 within the window: it is now the most recent.
        let hottest = driver.lock().hottest(1);
        assert_eq!(hottest, vec![(0, key(0))]);
    }

    #[test]
    fn keyspaces_are_distinct_keys() {
        assert_ne!(key_hash(0, b"k"), key_hash(1, b"k"));
        let driver = PolicyDriver::new(PolicyConfig::entries(10));
        let mut feed = driver.lock();
        feed.insert(0, key(1), key_hash(0, &key(1)), 1);
        assert!(feed.contains(0, &key(1)));
        assert!(!feed.contains(1, &key(1)));
        assert!(!feed.hit(1, key(1)));
    }
}
