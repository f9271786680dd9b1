//! `Tiered<Upper, Lower>`: two backends composed into one, itself a backend, so tiers nest.
//!
//! - **Reads** try the upper tier; on a miss they read the lower tier — once per key however
//!   many callers miss together (single-flight) — and fill the upper tier.
//! - **Writes** go through: lower first (the source of truth), then the upper tier; a call is
//!   acknowledged after both. Deletes invalidate the upper tier after the lower commit.
//! - **No stale fill**: a fill racing a write of the same key never leaves the upper tier
//!   older than the lower one (see `versions.rs`).
//! - **Upper-tier failures** are counted and absorbed (a failed read is a miss; a failed
//!   update invalidates the key, and if even that fails the key bypasses the upper tier until
//!   an invalidation succeeds), unless the tier is built strict.
//! - **Modes**: [`TierMode::Cache`] scans the lower tier; [`TierMode::Replica`] (the upper
//!   tier holds everything and never evicts) scans the upper one.

mod single_flight;
mod stats;
mod versions;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;

use crate::validate::{check_batch, check_key, check_keyspace_name, check_put};
use crate::{
    Capabilities, DEFAULT_KEYSPACE, Error, KeyRange, Operation, Result, StorageBackend, WriteBatch,
};
use single_flight::{Flights, Role};
pub use stats::TierStats;
use stats::{TierCounters, bump};
use versions::Versions;

/// What the upper tier is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TierMode {
    /// A cache: it may evict, so scans are served by the lower tier. The default.
    #[default]
    Cache,
    /// A full replica: it holds every key written through this store and never evicts, so
    /// scans are served by it.
    Replica,
}

/// Builds a [`Tiered`] store.
#[derive(Debug)]
#[must_use]
pub struct TieredBuilder<U, L> {
    upper: U,
    lower: L,
    mode: TierMode,
    strict: bool,
}

impl<U: StorageBackend, L: StorageBackend> TieredBuilder<U, L> {
    /// Sets the mode (default [`TierMode::Cache`]).
    pub fn mode(mut self, mode: TierMode) -> Self {
        self.mode = mode;
        self
    }

    /// Makes upper-tier failures fail the operation (default `false`: they are counted and
    /// absorbed).
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Builds the store on the default keyspace of both tiers.
    pub fn build(self) -> Tiered<U, L> {
        let shared = Arc::new(Shared {
            mode: self.mode,
            strict: self.strict,
            states: Mutex::new(HashMap::new()),
            counters: TierCounters::default(),
        });
        let state = shared.state_for(DEFAULT_KEYSPACE);
        Tiered {
            upper: self.upper,
            lower: self.lower,
            state,
            shared,
        }
    }
}

/// Two backends as one: see the [module docs](self).
pub struct Tiered<U, L> {
    upper: U,
    lower: L,
    state: Arc<KeyspaceState>,
    shared: Arc<Shared>,
}

struct Shared {
    mode: TierMode,
    strict: bool,
    states: Mutex<HashMap<String, Arc<KeyspaceState>>>,
    counters: TierCounters,
}

/// Coordination shared by every handle on one keyspace.
#[derive(Default)]
struct KeyspaceState {
    versions: Versions,
    flights: Arc<Flights>,
    /// Keys whose upper copy may be stale because an invalidation failed.
    suspects: Mutex<HashSet<Bytes>>,
    suspect_count: AtomicUsize,
}

impl Shared {
    fn state_for(&self, keyspace: &str) -> Arc<KeyspaceState> {
        self.states
            .lock()
            .entry(keyspace.to_string())
            .or_default()
            .clone()
    }
}

impl<U: StorageBackend, L: StorageBackend> Tiered<U, L> {
    /// A builder stacking `upper` over `lower`.
    pub fn builder(upper: U, lower: L) -> TieredBuilder<U, L> {
        TieredBuilder {
            upper,
            lower,
            mode: TierMode::Cache,
            strict: false,
        }
    }

    /// `upper` as a cache over `lower`, with the defaults.
    pub fn new(upper: U, lower: L) -> Self {
        Self::builder(upper, lower).build()
    }

    /// The upper tier.
    pub fn upper(&self) -> &U {
        &self.upper
    }

    /// The lower tier.
    pub fn lower(&self) -> &L {
        &self.lower
    }

    /// Counters since the store was built.
    pub fn stats(&self) -> TierStats {
        self.shared.counters.snapshot()
    }

    /// The mode.
    pub fn mode(&self) -> TierMode {
        self.shared.mode
    }

    fn counters(&self) -> &TierCounters {
        &self.shared.counters
    }

    /// Absorbs an upper-tier failure unless strict.
    fn upper_failed(&self, err: Error) -> Result<()> {
        bump(&self.counters().upper_errors);
        if self.shared.strict {
            Err(err.with_context("tier", "upper"))
        } else {
            Ok(())
        }
    }

    fn is_suspect(&self, key: &[u8]) -> bool {
        self.state.suspect_count.load(Ordering::Acquire) > 0
            && self.state.suspects.lock().contains(key)
    }

    fn mark_suspect(&self, key: Bytes) {
        bump(&self.counters().invalidation_failures);
        let mut suspects = self.state.suspects.lock();
        if suspects.insert(key) {
            self.state.suspect_count.fetch_add(1, Ordering::Release);
        }
    }

    fn clear_suspect(&self, key: &[u8]) {
        let mut suspects = self.state.suspects.lock();
        if suspects.remove(key) {
            self.state.suspect_count.fetch_sub(1, Ordering::Release);
        }
    }

    /// Reads the lower tier for a key whose upper copy may be stale, retrying invalidation.
    async fn read_suspect(&self, key: &[u8]) -> Result<Option<Bytes>> {
        bump(&self.counters().lower_reads);
        let value = self.lower.get(key).await?;
        let _stripe = self
            .state
            .versions
            .lock(self.state.versions.stripe_of(key))
            .await;
        match self.upper.delete(key).await {
            Ok(_) => self.clear_suspect(key),
            Err(e) => self.upper_failed(e)?,
        }
        Ok(value)
    }

    /// Copies `value` into the upper tier unless a write to `key` happened since `seen`.
    async fn fill(&self, key: &[u8], value: &Bytes, seen: u64) -> Result<()> {
        let stripe = self
            .state
            .versions
            .lock(self.state.versions.stripe_of(key))
            .await;
        if *stripe != seen {
            bump(&self.counters().stale_fills_skipped);
            return Ok(());
        }
        match self
            .upper
            .put(Bytes::copy_from_slice(key), value.clone())
            .await
        {
            Ok(()) => {
                bump(&self.counters().fills);
                Ok(())
            }
            Err(e) => self.upper_failed(e),
        }
    }

    /// After a lower-tier write of `keys`, brings the upper tier up to date (`apply`), or
    /// invalidates the keys there if that fails. Runs under the keys' stripe locks.
    async fn update_upper(&self, keys: &[&[u8]], batch: WriteBatch) -> Result<()> {
        let mut guards = self.state.versions.lock_all(keys.iter().copied()).await;
        for guard in guards.iter_mut() {
            **guard += 1;
        }
        for key in keys {
            self.state.flights.forget(key);
        }
        let Err(err) = self.upper.write_batch(batch).await else {
            if self.state.suspect_count.load(Ordering::Acquire) > 0 {
                keys.iter().for_each(|k| self.clear_suspect(k));
            }
            return Ok(());
        };
        let mut invalidate = WriteBatch::with_capacity(keys.len());
        for key in keys {
            invalidate.delete(Bytes::copy_from_slice(key));
        }
        if self.upper.write_batch(invalidate).await.is_err() {
            for key in keys {
                self.mark_suspect(Bytes::copy_from_slice(key));
            }
        }
        self.upper_failed(err)
    }
}

impl<U: Clone, L: Clone> Clone for Tiered<U, L> {
    /// Another handle on the same store (tiers cloned, coordination shared).
    fn clone(&self) -> Self {
        Tiered {
            upper: self.upper.clone(),
            lower: self.lower.clone(),
            state: self.state.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<U: StorageBackend, L: StorageBackend> fmt::Debug for Tiered<U, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tiered")
            .field("mode", &self.shared.mode)
            .field("strict", &self.shared.strict)
            .field("upper", &self.upper)
            .field("lower", &self.lower)
            .finish()
    }
}

impl<U: StorageBackend, L: StorageBackend> StorageBackend for Tiered<U, L> {
    fn capabilities(&self) -> Capabilities {
        Capabilities::stacked(self.upper.capabilities(), self.lower.capabilities())
    }

    fn keyspace(&self, name: &str) -> Result<Self> {
        check_keyspace_name(name)?;
        Ok(Tiered {
            upper: self.upper.keyspace(name)?,
            lower: self.lower.keyspace(name)?,
            state: self.shared.state_for(name),
            shared: self.shared.clone(),
        })
    }

    async fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        check_key(&self.capabilities(), Operation::Get, key)?;
        if self.is_suspect(key) {
            return self.read_suspect(key).await;
        }
        match self.upper.get(key).await {
            Ok(Some(value)) => {
                bump(&self.counters().hits);
                return Ok(Some(value));
            }
            Ok(None) => {}
            Err(e) => self.upper_failed(e)?,
        }
        bump(&self.counters().misses);
        loop {
            match self.state.flights.join(key) {
                Role::Follower(flight) => {
                    if let Some(outcome) = single_flight::wait(&flight).await {
                        bump(&self.counters().merged);
                        return outcome;
                    }
                    // The leader was cancelled: try again, perhaps as the leader.
                }
                Role::Leader(guard) => {
                    let seen = self.state.versions.read(key).await;
                    bump(&self.counters().lower_reads);
                    let outcome = self.lower.get(key).await;
                    if let Ok(Some(value)) = &outcome
                        && let Err(e) = self.fill(key, value, seen).await
                    {
                        guard.finish(&Err(e.clone()));
                        return Err(e);
                    }
                    guard.finish(&outcome);
                    return outcome;
                }
            }
        }
    }

    async fn get_many(&self, keys: &[Bytes]) -> Result<Vec<Option<Bytes>>> {
        let caps = self.capabilities();
        for key in keys {
            check_key(&caps, Operation::GetMany, key)?;
        }
        let mut out = match self.upper.get_many(keys).await {
            Ok(found) => found,
            Err(e) => {
                self.upper_failed(e)?;
                vec![None; keys.len()]
            }
        };
        let mut missing: Vec<usize> = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            if out[i].is_some() && !self.is_suspect(key) {
                bump(&self.counters().hits);
            } else {
                out[i] = None;
                missing.push(i);
                bump(&self.counters().misses);
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        let mut seen = Vec::with_capacity(missing.len());
        for &i in &missing {
            seen.push(self.state.versions.read(&keys[i]).await);
        }
        let wanted: Vec<Bytes> = missing.iter().map(|&i| keys[i].clone()).collect();
        bump(&self.counters().lower_reads);
        let found = self.lower.get_many(&wanted).await?;
        for ((&i, value), seen) in missing.iter().zip(found).zip(seen) {
            if let Some(v) = &value
                && !self.is_suspect(&keys[i])
            {
                self.fill(&keys[i], v, seen).await?;
            }
            out[i] = value;
        }
        Ok(out)
    }

    async fn put(&self, key: Bytes, value: Bytes) -> Result<()> {
        check_put(&self.capabilities(), Operation::Put, &key, &value)?;
        self.lower.put(key.clone(), value.clone()).await?;
        let mut batch = WriteBatch::with_capacity(1);
        batch.put(key.clone(), value);
        self.update_upper(&[&key], batch).await
    }

    async fn delete(&self, key: &[u8]) -> Result<bool> {
        check_key(&self.capabilities(), Operation::Delete, key)?;
        let existed = self.lower.delete(key).await?;
        let mut batch = WriteBatch::with_capacity(1);
        batch.delete(Bytes::copy_from_slice(key));
        self.update_upper(&[key], batch).await?;
        Ok(existed)
    }

    async fn write_batch(&self, batch: WriteBatch) -> Result<()> {
        check_batch(&self.capabilities(), &batch)?;
        if batch.is_empty() {
            return Ok(());
        }
        self.lower.write_batch(batch.clone()).await?;
        let keys: Vec<&[u8]> = batch.ops().iter().map(|op| op.key().as_ref()).collect();
        let upper_batch: WriteBatch = batch.ops().to_vec().into();
        self.update_upper(&keys, upper_batch).await
    }

    async fn scan(&self, range: KeyRange, limit: Option<usize>) -> Result<Vec<(Bytes, Bytes)>> {
        match self.shared.mode {
            TierMode::Cache => self.lower.scan(range, limit).await,
            TierMode::Replica => match self.upper.scan(range.clone(), limit).await {
                Ok(rows) => Ok(rows),
                Err(e) => {
                    self.upper_failed(e)?;
                    self.lower.scan(range, limit).await
                }
            },
        }
    }

    async fn flush(&self) -> Result<()> {
        self.lower.flush().await?;
        if let Err(e) = self.upper.flush().await {
            self.upper_failed(e)?;
        }
        Ok(())
    }
}
