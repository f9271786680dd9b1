//! Cache and tier counters: plain atomics, cheap to bump, snapshot on demand.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($(#[$meta:meta])* $live:ident => $snap:ident { $($(#[$fmeta:meta])* $field:ident),* $(,)? }) => {
        /// Live counters (internal).
        #[derive(Debug, Default)]
        pub(crate) struct $live {
            $(pub(crate) $field: AtomicU64,)*
        }

        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct $snap {
            $($(#[$fmeta])* pub $field: u64,)*
        }

        impl $live {
            pub(crate) fn snapshot(&self) -> $snap {
                $snap { $($field: self.$field.load(Ordering::Relaxed),)* }
            }
        }
    };
}

counters! {
    /// What a [`MemoryCache`](super::MemoryCache) has done since it was created.
    CacheCounters => CacheStats {
        /// Reads that found a live entry.
        hits,
        /// Reads that found nothing (or only an expired entry).
        misses,
        /// Entries written (puts and batch puts).
        inserts,
        /// Entries evicted to respect the capacity, or refused as larger than it.
        evicted_capacity,
        /// Entries dropped because their TTL ran out.
        evicted_ttl,
        /// Entries removed by delete.
        evicted_explicit,
        /// Entries resident after the last write.
        resident_entries,
        /// Weight resident after the last write: with `max_bytes`, key and value bytes plus
        /// `ENTRY_OVERHEAD_BYTES` per entry; else one per entry.
        resident_weight,
    }
}

impl CacheStats {
    /// Hits over reads, 0 when nothing was read.
    pub fn hit_ratio(&self) -> f64 {
        hit_ratio(self.hits, self.misses)
    }
}

/// Hits over reads, 0 when nothing was read.
pub(crate) fn hit_ratio(hits: u64, misses: u64) -> f64 {
    let reads = hits + misses;
    if reads == 0 {
        0.0
    } else {
        hits as f64 / reads as f64
    }
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

pub(crate) fn set(counter: &AtomicU64, n: u64) {
    counter.store(n, Ordering::Relaxed);
}

/// A counter bumped on a hot path by many threads: one cache line per stripe, so threads do
/// not fight over one line; summed when read.
pub(crate) struct StripedCounter {
    stripes: Box<[Padded]>,
}

#[repr(align(128))]
#[derive(Default)]
struct Padded(AtomicU64);

impl StripedCounter {
    const STRIPES: usize = 16;

    pub(crate) fn new() -> Self {
        StripedCounter {
            stripes: (0..Self::STRIPES).map(|_| Padded::default()).collect(),
        }
    }

    /// Adds one on the calling thread's stripe.
    pub(crate) fn bump(&self) {
        let slot = &self.stripes[super::driver::stripe() % Self::STRIPES];
        slot.0.fetch_add(1, Ordering::Relaxed);
    }

    /// The total.
    pub(crate) fn sum(&self) -> u64 {
        self.stripes
            .iter()
            .map(|s| s.0.load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }
}

impl Default for StripedCounter {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for StripedCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("StripedCounter").field(&self.sum()).finish()
    }
}
