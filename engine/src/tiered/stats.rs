//! Counters of a `Tiered` store.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::cache::stats::StripedCounter;

/// Live counters (internal).
#[derive(Debug, Default)]
pub(crate) struct TierCounters {
    /// Bumped by every hit: on per-thread stripes, so hits on two cores share no line.
    pub(crate) hits: StripedCounter,
    pub(crate) misses: AtomicU64,
    pub(crate) fills: AtomicU64,
    pub(crate) stale_fills_skipped: AtomicU64,
    pub(crate) merged: AtomicU64,
    pub(crate) lower_reads: AtomicU64,
    pub(crate) upper_errors: AtomicU64,
    pub(crate) invalidation_failures: AtomicU64,
    pub(crate) bypassed: AtomicU64,
    pub(crate) contended_writes: AtomicU64,
    pub(crate) repairs: AtomicU64,
}

/// What a `Tiered` store has done since it was built (all keyspaces).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TierStats {
    /// Reads served by the upper tier.
    pub hits: u64,
    /// Reads the upper tier could not serve.
    pub misses: u64,
    /// Values copied into the upper tier after a miss.
    pub fills: u64,
    /// Fills skipped because a write to the key raced them.
    pub stale_fills_skipped: u64,
    /// Misses that waited for another caller's lower read instead of making their own.
    pub merged: u64,
    /// Reads sent to the lower tier (`get`s; a `get_many` counts once).
    pub lower_reads: u64,
    /// Upper-tier operations that failed (absorbed unless the tier is strict).
    pub upper_errors: u64,
    /// Upper-tier invalidations that failed; those keys bypass the upper tier until a later
    /// write repairs them.
    pub invalidation_failures: u64,
    /// Reads that went straight to the lower tier because the key had a write in flight or
    /// was suspect.
    pub bypassed: u64,
    /// Keys written while another write of the same key was in flight: their upper copy was
    /// invalidated (or, in a replica, copied up from the lower tier) instead of updated.
    pub contended_writes: u64,
    /// Suspect keys brought back in line by a read (the lower value copied up).
    pub repairs: u64,
}

impl TierStats {
    /// Lower-tier reads avoided: hits plus merged misses.
    pub fn lower_reads_avoided(&self) -> u64 {
        self.hits + self.merged
    }

    /// Hits over reads.
    pub fn hit_ratio(&self) -> f64 {
        crate::cache::stats::hit_ratio(self.hits, self.misses)
    }
}

impl TierCounters {
    pub(crate) fn snapshot(&self) -> TierStats {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TierStats {
            hits: self.hits.sum(),
            misses: l(&self.misses),
            fills: l(&self.fills),
            stale_fills_skipped: l(&self.stale_fills_skipped),
            merged: l(&self.merged),
            lower_reads: l(&self.lower_reads),
            upper_errors: l(&self.upper_errors),
            invalidation_failures: l(&self.invalidation_failures),
            bypassed: l(&self.bypassed),
            contended_writes: l(&self.contended_writes),
            repairs: l(&self.repairs),
        }
    }
}

pub(crate) use crate::cache::stats::bump;
