//! The write-coherence protocol of `Tiered`: how writes, fills and reads of one key agree.
//!
//! **Invariant.** After any set of writes completes, fails or is cancelled, a read through the
//! tier returns what the lower tier holds, or a value written after it.
//!
//! How it holds:
//! 1. **Intent.** Before its lower write, a writer registers an intent on each of its keys.
//!    While a key has a writer in flight, or is *suspect*, reads of it bypass the upper tier:
//!    they read the lower tier and fill nothing.
//! 2. **Settle.** After the lower write, the writer takes the keys' stripe locks (which
//!    serialise every upper-tier mutation and fill of those keys, so they apply in lock order)
//!    and, per key: if its lower write succeeded and no other writer overlapped it (none in
//!    flight when it registered, none registered since), it applies its own operation to the
//!    upper tier — its lower commit is then the latest. Otherwise the commit order below is
//!    unknown, so it invalidates the key (a cache) or copies the lower tier's current value
//!    up (a replica). Only then does it withdraw its intent.
//! 3. **Unknown outcomes.** A lower error may hide a commit (a remote timeout), and a writer
//!    dropped before settling may still land below. Both invalidate or mark the key suspect;
//!    a suspect key bypasses the upper tier until a later write settles alone and succeeds,
//!    or a read repairs it (copies the lower value up with no write begun since its lower
//!    read, under the stripe lock — the same rule as a fill). A failed invalidation, and in
//!    a replica any invalidation, also marks the key suspect.
//! 4. **Fills.** A reader notes its stripe's epoch before its lower read. Every intent and
//!    every settle bumps the epoch, and a fill goes in, under the stripe lock, only if the
//!    epoch is unchanged and the key is not busy: a fill never lands after a newer write.
//!
//! `Tiered` runs every write to its end even when the caller drops the future (see
//! `detach.rs`), so step 3's drop path is the fallback for a runtime shutting down.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use foldhash::fast::FixedState;
use parking_lot::Mutex;
use tokio::sync::{Mutex as AsyncMutex, MutexGuard};

use super::single_flight::Flights;
use crate::{Error, Result, StorageBackend, WriteBatch};

const STRIPES: usize = 256;

/// Coordination of one keyspace of a `Tiered` store, shared by all its handles.
pub(crate) struct Coherence {
    stripes: Box<[Stripe]>,
    hasher: FixedState,
    /// Keys marked suspect, over all stripes (a replica scans the lower tier while > 0).
    suspects: AtomicUsize,
    /// Busy keys over all stripes, never below the true count: raised before a stripe shows
    /// a new key, lowered after it stops showing one. At 0 a hit skips hashing its key to a
    /// stripe (a cache miss on a random stripe, most of what `Tiered` added to a hit).
    busy_keys: AtomicUsize,
    /// Lower reads in progress, so a write can detach readers that may hold the old value.
    pub(crate) flights: Arc<Flights>,
}

struct Stripe {
    /// Held while mutating the upper tier for a key of this stripe, or deciding to.
    upper: AsyncMutex<()>,
    /// Bumped by every intent and settle: a fill proceeds only if it did not move.
    epoch: AtomicU64,
    /// `keys.len()`, readable without the lock (the hit path checks it first).
    busy: AtomicUsize,
    keys: Mutex<HashMap<Bytes, KeyState>>,
}

/// A key with writers in flight or under suspicion.
#[derive(Default)]
struct KeyState {
    writers: u32,
    /// Bumped whenever a writer registers while another is in flight.
    overlaps: u64,
    suspect: bool,
}

/// One writer's registration on its keys; settle it after the lower write.
pub(crate) struct Intent {
    coherence: Arc<Coherence>,
    /// (key, `overlaps` after registering, overlapped at registration), sorted by key, no
    /// key twice.
    keys: Vec<(Bytes, u64, bool)>,
    settled: bool,
}

/// What settling did to the upper tier.
#[derive(Debug, Default)]
pub(crate) struct Settled {
    /// Keys whose writer overlapped another, so the upper tier was invalidated or repaired.
    pub(crate) contended: u64,
    /// The upper tier's error, if its update failed.
    pub(crate) upper_error: Option<Error>,
    /// The invalidation after a failed update failed too: the keys are now suspect.
    pub(crate) invalidation_failed: bool,
}

impl Default for Coherence {
    fn default() -> Self {
        Coherence {
            stripes: (0..STRIPES)
                .map(|_| Stripe {
                    upper: AsyncMutex::new(()),
                    epoch: AtomicU64::new(0),
                    busy: AtomicUsize::new(0),
                    keys: Mutex::new(HashMap::new()),
                })
                .collect(),
            hasher: FixedState::with_seed(0x7e75),
            suspects: AtomicUsize::new(0),
            busy_keys: AtomicUsize::new(0),
            flights: Arc::default(),
        }
    }
}

impl Coherence {
    fn stripe_index(&self, key: &[u8]) -> usize {
        (self.hasher.hash_one(key) as usize) % self.stripes.len()
    }

    fn stripe(&self, key: &[u8]) -> &Stripe {
        &self.stripes[self.stripe_index(key)]
    }

    /// Whether reads of `key` must bypass the upper tier (a write in flight, or suspect).
    pub(crate) fn is_busy(&self, key: &[u8]) -> bool {
        if self.busy_keys.load(Ordering::SeqCst) == 0 {
            return false;
        }
        let stripe = self.stripe(key);
        stripe.busy.load(Ordering::SeqCst) > 0 && stripe.keys.lock().contains_key(key)
    }

    /// Publishes `stripe`'s busy-key count `len` (its map's length, the map lock held):
    /// the total rises before the stripe shows more keys and falls after it shows fewer, so
    /// a total of 0 always means no stripe is busy.
    fn publish_busy(&self, stripe: &Stripe, len: usize) {
        let before = stripe.busy.load(Ordering::SeqCst);
        if len > before {
            self.busy_keys.fetch_add(len - before, Ordering::SeqCst);
            stripe.busy.store(len, Ordering::SeqCst);
        } else {
            stripe.busy.store(len, Ordering::SeqCst);
            self.busy_keys.fetch_sub(before - len, Ordering::SeqCst);
        }
    }

    /// Whether any key is suspect (its upper copy may be stale).
    pub(crate) fn has_suspects(&self) -> bool {
        self.suspects.load(Ordering::SeqCst) > 0
    }

    /// The epoch a reader notes before its lower read, for [`Coherence::fill`].
    pub(crate) fn epoch(&self, key: &[u8]) -> u64 {
        self.stripe(key).epoch.load(Ordering::SeqCst)
    }

    /// Registers a writer on `keys` (duplicates allowed) before its lower write.
    pub(crate) fn begin<'a>(self: &Arc<Self>, keys: impl Iterator<Item = &'a Bytes>) -> Intent {
        let mut keys: Vec<&Bytes> = keys.collect();
        keys.sort_unstable();
        keys.dedup();
        let mut registered = Vec::with_capacity(keys.len());
        for key in keys {
            let stripe = self.stripe(key);
            let mut map = stripe.keys.lock();
            let state = map.entry(key.clone()).or_default();
            state.writers += 1;
            let overlapped = state.writers > 1;
            if overlapped {
                state.overlaps += 1;
            }
            registered.push((key.clone(), state.overlaps, overlapped));
            self.publish_busy(stripe, map.len());
            drop(map);
            // After the key is visible as busy: a reader that notes the new epoch sees it.
            stripe.epoch.fetch_add(1, Ordering::SeqCst);
        }
        Intent {
            coherence: self.clone(),
            keys: registered,
            settled: false,
        }
    }

    /// Copies `value` (read from the lower tier after noting `seen`) into the upper tier,
    /// unless a write to the stripe happened since or the key is busy. Returns whether it did.
    pub(crate) async fn fill<U: StorageBackend>(
        &self,
        upper: &U,
        key: &[u8],
        value: &Bytes,
        seen: u64,
    ) -> Result<bool> {
        let stripe = self.stripe(key);
        let _lock = stripe.upper.lock().await;
        if stripe.epoch.load(Ordering::SeqCst) != seen || self.is_busy(key) {
            return Ok(false);
        }
        // Dropped while the put is in flight, the fill may still land: suspect the key.
        let guard = SuspectOnDrop {
            coherence: self,
            key: Some(Bytes::copy_from_slice(key)),
        };
        let outcome = upper.put(Bytes::copy_from_slice(key), value.clone()).await;
        guard.disarm();
        outcome.map(|()| true)
    }

    /// Repairs a suspect key from `value`, read from the lower tier after noting `seen`: if
    /// no write began since and none is in flight, the upper tier gets the value (or loses
    /// the key if it is gone below) and the suspicion is lifted. Returns whether it did.
    pub(crate) async fn repair<U: StorageBackend>(
        &self,
        upper: &U,
        key: &[u8],
        value: &Option<Bytes>,
        seen: u64,
    ) -> Result<bool> {
        let stripe = self.stripe(key);
        let _lock = stripe.upper.lock().await;
        let idle_suspect = {
            let map = stripe.keys.lock();
            map.get(key).is_some_and(|s| s.suspect && s.writers == 0)
        };
        if stripe.epoch.load(Ordering::SeqCst) != seen || !idle_suspect {
            return Ok(false);
        }
        let key = Bytes::copy_from_slice(key);
        match value {
            Some(v) => upper.put(key.clone(), v.clone()).await?,
            None => {
                upper.delete(&key).await?;
            }
        }
        let mut map = stripe.keys.lock();
        if let Some(state) = map.get(&key)
            && state.suspect
            && state.writers == 0
        {
            map.remove(&key);
            self.suspects.fetch_sub(1, Ordering::SeqCst);
        }
        self.publish_busy(stripe, map.len());
        Ok(true)
    }

    fn mark_suspect(&self, key: &Bytes) {
        let stripe = self.stripe(key);
        let mut map = stripe.keys.lock();
        let state = map.entry(key.clone()).or_default();
        if !state.suspect {
            state.suspect = true;
            self.suspects.fetch_add(1, Ordering::SeqCst);
        }
        self.publish_busy(stripe, map.len());
        drop(map);
        stripe.epoch.fetch_add(1, Ordering::SeqCst);
    }

    async fn lock_stripes(&self, keys: &[(Bytes, u64, bool)]) -> Vec<MutexGuard<'_, ()>> {
        let mut indices: Vec<usize> = keys.iter().map(|(k, _, _)| self.stripe_index(k)).collect();
        indices.sort_unstable();
        indices.dedup();
        let mut guards = Vec::with_capacity(indices.len());
        for i in indices {
            guards.push(self.stripes[i].upper.lock().await);
        }
        guards
    }
}

struct SuspectOnDrop<'a> {
    coherence: &'a Coherence,
    key: Option<Bytes>,
}

impl SuspectOnDrop<'_> {
    fn disarm(mut self) {
        self.key = None;
    }
}

impl Drop for SuspectOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.coherence.mark_suspect(&key);
        }
    }
}

/// How a settle brings the upper tier in line for keys whose writer was not alone.
pub(crate) enum Repair<'a, L> {
    /// Delete the key from the upper tier (a cache).
    Invalidate,
    /// Copy the lower tier's current value up (a replica must keep every key).
    CopyFrom(&'a L),
}

impl Intent {
    /// Brings the upper tier in line after the lower write: `applied` is the write as the
    /// upper tier should apply it if the lower write succeeded, `None` if it failed (its
    /// outcome is then unknown). Withdraws the intent.
    pub(crate) async fn settle<U: StorageBackend, L: StorageBackend>(
        mut self,
        upper: &U,
        repair: Repair<'_, L>,
        applied: Option<WriteBatch>,
    ) -> Settled {
        let coherence = self.coherence.clone();
        let _locks = coherence.lock_stripes(&self.keys).await;
        let mut report = Settled::default();
        let mut alone = Vec::with_capacity(self.keys.len());
        for (key, seen_overlaps, overlapped) in &self.keys {
            let map = coherence.stripe(key).keys.lock();
            let now = map.get(key).map_or(0, |s| s.overlaps);
            alone.push(applied.is_some() && !overlapped && now == *seen_overlaps);
        }
        // `begin` sorted the keys: a binary search keeps a large batch's settle O(n log n)
        // (a scan per op made a 20,000-key batch take 17× its lower write).
        let is_alone = |key: &[u8]| {
            self.keys
                .binary_search_by(|(k, _, _)| k.as_ref().cmp(key))
                .is_ok_and(|i| alone[i])
        };
        let mut batch = WriteBatch::with_capacity(self.keys.len());
        if let Some(applied) = &applied {
            for op in applied.ops().iter().filter(|op| is_alone(op.key())) {
                batch.push(op.clone());
            }
        }
        let others: Vec<Bytes> = self
            .keys
            .iter()
            .zip(&alone)
            .filter(|(_, a)| !**a)
            .map(|((k, _, _), _)| k.clone())
            .collect();
        report.contended = others.len() as u64;
        let mut suspect_all = applied.is_none();
        // A replica's scans trust the upper tier to hold every key: a key deleted there to
        // invalidate it must send scans below until a later write restores it.
        let replica = matches!(repair, Repair::CopyFrom(_));
        match repair {
            Repair::Invalidate => others.iter().for_each(|k| {
                batch.delete(k.clone());
            }),
            Repair::CopyFrom(lower) if !others.is_empty() => match lower.get_many(&others).await {
                Ok(values) => {
                    for (k, v) in others.iter().zip(values) {
                        match v {
                            Some(v) => batch.put(k.clone(), v),
                            None => batch.delete(k.clone()),
                        };
                    }
                }
                Err(_) => {
                    others.iter().for_each(|k| {
                        batch.delete(k.clone());
                    });
                    suspect_all = true;
                }
            },
            Repair::CopyFrom(_) => {}
        }
        for (key, _, _) in &self.keys {
            coherence.flights.forget(key);
        }
        let mut failed = false;
        if !batch.is_empty()
            && let Err(e) = upper.write_batch(batch).await
        {
            report.upper_error = Some(e);
            let mut invalidate = WriteBatch::with_capacity(self.keys.len());
            for (key, _, _) in &self.keys {
                invalidate.delete(key.clone());
            }
            report.invalidation_failed = upper.write_batch(invalidate).await.is_err();
            failed = report.invalidation_failed || replica;
        }
        self.release(
            |was_alone| {
                if failed || suspect_all {
                    Some(true)
                } else if was_alone {
                    Some(false)
                } else {
                    None
                }
            },
            &alone,
        );
        report
    }

    /// Withdraws the intent; `verdict(alone)` says whether a key becomes suspect
    /// (`Some(true)`), is cleared of suspicion (`Some(false)`), or keeps what it had.
    fn release(&mut self, verdict: impl Fn(bool) -> Option<bool>, alone: &[bool]) {
        self.settled = true;
        let coherence = &self.coherence;
        for ((key, _, _), was_alone) in self.keys.iter().zip(alone) {
            let stripe = coherence.stripe(key);
            let mut map = stripe.keys.lock();
            if let Some(state) = map.get_mut(key) {
                state.writers -= 1;
                match verdict(*was_alone) {
                    Some(true) if !state.suspect => {
                        state.suspect = true;
                        coherence.suspects.fetch_add(1, Ordering::SeqCst);
                    }
                    Some(false) if state.suspect => {
                        state.suspect = false;
                        coherence.suspects.fetch_sub(1, Ordering::SeqCst);
                    }
                    _ => {}
                }
                if state.writers == 0 && !state.suspect {
                    map.remove(key);
                }
            }
            coherence.publish_busy(stripe, map.len());
            drop(map);
            stripe.epoch.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Drop for Intent {
    /// A writer dropped before settling may still land below: its keys become suspect, and
    /// bumping `overlaps` keeps any writer it overlapped from trusting its own order.
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        for (key, _, _) in &self.keys {
            let map = &mut *self.coherence.stripe(key).keys.lock();
            if let Some(state) = map.get_mut(key) {
                state.overlaps += 1;
            }
        }
        let alone = vec![false; self.keys.len()];
        self.release(|_| Some(true), &alone);
    }
}

#[cfg(test)]
#[path = "coherence_tests.rs"]
mod tests;
