//! `Tiered<Upper, Lower>`: two backends composed into one, itself a backend, so tiers nest.
//!
//! - **Reads** try the upper tier; on a miss they read the lower tier — once per key however
//!   many callers miss together (single-flight) — and fill the upper tier.
//! - **Writes** go through: lower first (the source of truth), then the upper tier; a call is
//!   acknowledged after both.
//! - **Coherence**: after any set of writes completes, fails or is cancelled, a read returns
//!   what the lower tier holds, or a value written after it — whatever the concurrency (see
//!   `coherence.rs` for the protocol). A write whose caller drops its future still runs to
//!   its end in the background; [`flush`](StorageBackend::flush) waits for it.
//! - **Upper-tier failures** are counted and absorbed (a failed read is a miss; a failed
//!   update invalidates the key, and if even that fails the key bypasses the upper tier until
//!   a later write repairs it), unless the tier is built strict.
//! - **Modes**: [`TierMode::Cache`] scans the lower tier; [`TierMode::Replica`] (the upper
//!   tier holds everything and never evicts) scans the upper one.

mod builder;
mod coherence;
mod detach;
mod single_flight;
mod stats;
mod write;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use crate::validate::{check_batch, check_key, check_keyspace_name, check_put};
use crate::{Capabilities, Error, KeyRange, Operation, Result, StorageBackend, WriteBatch};
pub use builder::{TierMode, TieredBuilder};
use coherence::Coherence;
use detach::{Detached, RunToEnd};
use single_flight::Role;
pub use stats::TierStats;
use stats::{TierCounters, bump};
use write::Write;

/// Two backends as one: see the [module docs](self).
pub struct Tiered<U, L> {
    tiers: Arc<Tiers<U, L>>,
    coherence: Arc<Coherence>,
    shared: Arc<Shared>,
}

struct Tiers<U, L> {
    upper: U,
    lower: L,
}

struct Shared {
    mode: TierMode,
    strict: bool,
    coherence: Mutex<HashMap<String, Arc<Coherence>>>,
    detached: Arc<Detached>,
    counters: TierCounters,
}

impl Shared {
    fn new(mode: TierMode, strict: bool) -> Self {
        Shared {
            mode,
            strict,
            coherence: Mutex::new(HashMap::new()),
            detached: Arc::default(),
            counters: TierCounters::default(),
        }
    }

    fn coherence_for(&self, keyspace: &str) -> Arc<Coherence> {
        self.coherence
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
        Self::assemble(
            Arc::new(Tiers { upper, lower }),
            Arc::new(Shared::new(TierMode::Cache, false)),
            crate::DEFAULT_KEYSPACE,
        )
    }

    fn assemble(tiers: Arc<Tiers<U, L>>, shared: Arc<Shared>, keyspace: &str) -> Self {
        Tiered {
            tiers,
            coherence: shared.coherence_for(keyspace),
            shared,
        }
    }

    /// The upper tier.
    pub fn upper(&self) -> &U {
        &self.tiers.upper
    }

    /// The lower tier.
    pub fn lower(&self) -> &L {
        &self.tiers.lower
    }

    /// Reads the keys of `hot` (a cache's saved [`HotSet`](crate::cache::HotSet)) through
    /// this tier, so the upper tier holds their current values: in batches of 1,000 per
    /// keyspace, through the same coherent read-through path as any read (a write racing the
    /// warm-up wins). Returns how many keys the lower tier still held. Counted as misses and
    /// fills in [`stats`](Self::stats).
    pub async fn warm(&self, hot: &crate::cache::HotSet) -> Result<usize> {
        let mut by_keyspace: Vec<(&str, Vec<Bytes>)> = Vec::new();
        for k in hot.keys() {
            match by_keyspace.iter_mut().find(|(name, _)| *name == k.keyspace) {
                Some((_, keys)) => keys.push(k.key.clone()),
                None => by_keyspace.push((&k.keyspace, vec![k.key.clone()])),
            }
        }
        let mut found = 0;
        for (name, keys) in by_keyspace {
            // A hot set comes from a file: a name no keyspace could have is skipped.
            if crate::validate::check_keyspace_name(name).is_err() {
                continue;
            }
            let tier = self.keyspace(name)?;
            for chunk in keys.chunks(1_000) {
                found += tier.get_many(chunk).await?.iter().flatten().count();
            }
        }
        Ok(found)
    }

    /// Counters since the store was built.
    pub fn stats(&self) -> TierStats {
        self.shared.counters.snapshot()
    }

    /// The mode.
    pub fn mode(&self) -> TierMode {
        self.shared.mode
    }

    /// Writes whose callers dropped them and that are still finishing in the background.
    pub fn detached_writes(&self) -> usize {
        self.shared.detached.pending()
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

    /// A read of a key with a write in flight or under suspicion: the lower tier answers,
    /// and a suspect key with no write in flight is repaired from that answer.
    async fn bypass(&self, key: &[u8]) -> Result<Option<Bytes>> {
        bump(&self.counters().bypassed);
        bump(&self.counters().lower_reads);
        let seen = self.coherence.epoch(key);
        let value = self.lower().get(key).await?;
        let (this, key, found) = (self.clone(), Bytes::copy_from_slice(key), value.clone());
        let repaired = RunToEnd::new(
            async move {
                this.coherence
                    .repair(this.upper(), &key, &found, seen)
                    .await
            },
            &self.shared.detached,
        );
        match repaired.await {
            Ok(true) => bump(&self.counters().repairs),
            Ok(false) => {}
            Err(e) => self.upper_failed(e)?,
        }
        Ok(value)
    }

    /// Copies a value read below into the upper tier, if no write raced it.
    /// Runs to its end like a write, so its upper put never lands after its lock is gone.
    async fn fill(&self, key: &[u8], value: &Bytes, seen: u64) -> Result<()> {
        let (this, key, value) = (self.clone(), Bytes::copy_from_slice(key), value.clone());
        let filled = RunToEnd::new(
            async move { this.coherence.fill(this.upper(), &key, &value, seen).await },
            &self.shared.detached,
        );
        match filled.await {
            Ok(true) => bump(&self.counters().fills),
            Ok(false) => bump(&self.counters().stale_fills_skipped),
            Err(e) => self.upper_failed(e)?,
        }
        Ok(())
    }
}

impl<U, L> Clone for Tiered<U, L> {
    /// Another handle on the same store (tiers and coordination shared).
    fn clone(&self) -> Self {
        Tiered {
            tiers: self.tiers.clone(),
            coherence: self.coherence.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<U: StorageBackend, L: StorageBackend> fmt::Debug for Tiered<U, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tiered")
            .field("mode", &self.shared.mode)
            .field("strict", &self.shared.strict)
            .field("upper", self.upper())
            .field("lower", self.lower())
            .finish()
    }
}

impl<U: StorageBackend, L: StorageBackend> StorageBackend for Tiered<U, L> {
    fn capabilities(&self) -> Capabilities {
        Capabilities::stacked(self.upper().capabilities(), self.lower().capabilities())
    }

    fn keyspace(&self, name: &str) -> Result<Self> {
        check_keyspace_name(name)?;
        let tiers = Arc::new(Tiers {
            upper: self.upper().keyspace(name)?,
            lower: self.lower().keyspace(name)?,
        });
        Ok(Self::assemble(tiers, self.shared.clone(), name))
    }

    async fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        check_key(&self.capabilities(), Operation::Get, key)?;
        if self.coherence.is_busy(key) {
            return self.bypass(key).await;
        }
        match self.upper().get(key).await {
            Ok(Some(value)) => {
                self.counters().hits.bump();
                return Ok(Some(value));
            }
            Ok(None) => {}
            Err(e) => self.upper_failed(e)?,
        }
        let mut counted = false;
        loop {
            let role = self.coherence.flights.join(key);
            // Counted once the caller is in the flight, so "n misses" means "n joined".
            if !counted {
                counted = true;
                bump(&self.counters().misses);
            }
            match role {
                Role::Follower(flight) => {
                    if let Some(outcome) = single_flight::wait(&flight).await {
                        bump(&self.counters().merged);
                        return outcome;
                    }
                    // The leader was cancelled: try again, perhaps as the leader.
                }
                Role::Leader(guard) => {
                    let seen = self.coherence.epoch(key);
                    bump(&self.counters().lower_reads);
                    // A slow path: traced (a hit never is).
                    let outcome = tracing::Instrument::instrument(
                        self.lower().get(key),
                        tracing::debug_span!("strata.tiered.read_through"),
                    )
                    .await;
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
        // Busy *before* the upper read, as `get` checks: a key suspect while the upper tier is
        // read may have a stale copy there, even if a repair or a lone write lifts the
        // suspicion before the read returns. (Checked after as well: a write that began
        // meanwhile makes the copy doubtful too.)
        let busy: Vec<bool> = keys.iter().map(|k| self.coherence.is_busy(k)).collect();
        let mut out = match self.upper().get_many(keys).await {
            Ok(found) => found,
            Err(e) => {
                self.upper_failed(e)?;
                vec![None; keys.len()]
            }
        };
        let mut missing: Vec<usize> = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            if out[i].is_some() && !busy[i] && !self.coherence.is_busy(key) {
                self.counters().hits.bump();
            } else {
                out[i] = None;
                missing.push(i);
                bump(&self.counters().misses);
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        let seen: Vec<u64> = missing
            .iter()
            .map(|&i| self.coherence.epoch(&keys[i]))
            .collect();
        let wanted: Vec<Bytes> = missing.iter().map(|&i| keys[i].clone()).collect();
        bump(&self.counters().lower_reads);
        let found = self.lower().get_many(&wanted).await?;
        for ((&i, value), seen) in missing.iter().zip(found).zip(seen) {
            if let Some(v) = &value {
                self.fill(&keys[i], v, seen).await?;
            }
            out[i] = value;
        }
        Ok(out)
    }

    async fn put(&self, key: Bytes, value: Bytes) -> Result<()> {
        check_put(&self.capabilities(), Operation::Put, &key, &value)?;
        self.write(Write::Put(key, value)).await.map(|_| ())
    }

    async fn delete(&self, key: &[u8]) -> Result<bool> {
        check_key(&self.capabilities(), Operation::Delete, key)?;
        self.write(Write::Delete(Bytes::copy_from_slice(key))).await
    }

    async fn write_batch(&self, batch: WriteBatch) -> Result<()> {
        check_batch(&self.capabilities(), &batch)?;
        if batch.is_empty() {
            return Ok(());
        }
        self.write(Write::Batch(batch)).await.map(|_| ())
    }

    async fn scan(&self, range: KeyRange, limit: Option<usize>) -> Result<Vec<(Bytes, Bytes)>> {
        // A replica with suspect keys may hold stale copies: the lower tier answers then.
        if self.shared.mode == TierMode::Cache || self.coherence.has_suspects() {
            return self.lower().scan(range, limit).await;
        }
        match self.upper().scan(range.clone(), limit).await {
            Ok(rows) => Ok(rows),
            Err(e) => {
                self.upper_failed(e)?;
                self.lower().scan(range, limit).await
            }
        }
    }

    /// Waits for writes finishing in the background, then closes the lower tier and the
    /// upper one; the first error wins (an upper-tier error only when strict).
    async fn close(&self) -> Result<()> {
        self.shared.detached.wait_idle().await;
        let lower = self.lower().close().await;
        let upper = match self.upper().close().await {
            Ok(()) => Ok(()),
            Err(e) => self.upper_failed(e),
        };
        lower.and(upper)
    }

    /// Waits for writes finishing in the background, then flushes the lower tier and the
    /// upper one.
    async fn flush(&self) -> Result<()> {
        self.shared.detached.wait_idle().await;
        self.lower().flush().await?;
        if let Err(e) = self.upper().flush().await {
            self.upper_failed(e)?;
        }
        Ok(())
    }
}
