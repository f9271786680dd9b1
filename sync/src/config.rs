//! How a synced store syncs: batch sizes, intervals, backoff, the clock.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use strata_turso::{SystemClock, WallClock};

/// Records per push, by default.
pub const DEFAULT_PUSH_BATCH: usize = 5_000;
/// Key and value bytes per push, by default (a push stops gathering past it).
pub const DEFAULT_PUSH_BYTES: usize = 4 * 1024 * 1024;
/// Records per pull page, by default.
pub const DEFAULT_PULL_PAGE: usize = 5_000;
/// How often the syncer pulls when nothing is written, by default.
pub const DEFAULT_PULL_INTERVAL: Duration = Duration::from_secs(30);
/// The first retry delay after a failed round, by default (doubling up to the maximum).
pub const DEFAULT_BACKOFF_BASE: Duration = Duration::from_millis(200);
/// The longest retry delay, by default.
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How far ahead of this device's wall clock a pulled version may be before the clock
/// refuses to follow it, by default.
pub const DEFAULT_MAX_CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// How long tombstones are kept, by default: every device must sync within it, or resync in
/// full when it comes back (see [`SyncedStore::purge_tombstones`](crate::SyncedStore::purge_tombstones)).
pub const DEFAULT_TOMBSTONE_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// Settings of a [`SyncedStore`](crate::SyncedStore).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SyncConfig {
    /// Records per push (default [`DEFAULT_PUSH_BATCH`]).
    pub push_batch: usize,
    /// Key and value bytes per push (default [`DEFAULT_PUSH_BYTES`]).
    pub push_bytes: usize,
    /// Records per pull page (default [`DEFAULT_PULL_PAGE`]).
    pub pull_page: usize,
    /// Background sync: `Some(interval)` pushes soon after every write and pulls at least
    /// every `interval`; `None` syncs only when asked ([`sync_now`](crate::SyncedStore::sync_now),
    /// [`flush_sync`](crate::SyncedStore::flush_sync)). Default [`DEFAULT_PULL_INTERVAL`].
    pub background: Option<Duration>,
    /// First retry delay after a failed round (default [`DEFAULT_BACKOFF_BASE`]); it doubles
    /// per failure, with full jitter, up to `backoff_max`.
    pub backoff_base: Duration,
    /// Longest retry delay (default [`DEFAULT_BACKOFF_MAX`]).
    pub backoff_max: Duration,
    /// See [`DEFAULT_MAX_CLOCK_SKEW`].
    pub max_clock_skew: Duration,
    /// The file holding this device's node id and clock high-water mark; default: the store's
    /// path with `.clock` appended.
    pub clock_file: Option<PathBuf>,
    /// The wall clock (tests give a skewed one).
    pub wall_clock: Arc<dyn WallClock>,
    /// How old a tombstone must be before a purge removes it (default
    /// [`DEFAULT_TOMBSTONE_RETENTION`]).
    pub tombstone_retention: Duration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            push_batch: DEFAULT_PUSH_BATCH,
            push_bytes: DEFAULT_PUSH_BYTES,
            pull_page: DEFAULT_PULL_PAGE,
            background: Some(DEFAULT_PULL_INTERVAL),
            backoff_base: DEFAULT_BACKOFF_BASE,
            backoff_max: DEFAULT_BACKOFF_MAX,
            max_clock_skew: DEFAULT_MAX_CLOCK_SKEW,
            clock_file: None,
            wall_clock: Arc::new(SystemClock),
            tombstone_retention: DEFAULT_TOMBSTONE_RETENTION,
        }
    }
}

impl SyncConfig {
    /// Sets the most records per push request. Default [`DEFAULT_PUSH_BATCH`].
    pub fn push_batch(mut self, records: usize) -> Self {
        self.push_batch = records.max(1);
        self
    }

    /// Sets the most value bytes per push request. Default [`DEFAULT_PUSH_BYTES`] (4 MiB).
    pub fn push_bytes(mut self, bytes: usize) -> Self {
        self.push_bytes = bytes.max(1);
        self
    }

    /// Sets the records per pull page. Default [`DEFAULT_PULL_PAGE`].
    pub fn pull_page(mut self, records: usize) -> Self {
        self.pull_page = records.max(1);
        self
    }

    /// Sets how often the background syncer pulls (`None`: only on demand). Default
    /// [`DEFAULT_PULL_INTERVAL`] (30 s).
    pub fn background(mut self, pull_interval: Option<Duration>) -> Self {
        self.background = pull_interval;
        self
    }

    /// Sets the failed rounds' backoff, from `base` doubling up to `max`. Defaults
    /// [`DEFAULT_BACKOFF_BASE`] (200 ms) and [`DEFAULT_BACKOFF_MAX`] (30 s).
    pub fn backoff(mut self, base: Duration, max: Duration) -> Self {
        self.backoff_base = base;
        self.backoff_max = max.max(base);
        self
    }

    /// Sets the largest clock skew accepted from the server. Default
    /// [`DEFAULT_MAX_CLOCK_SKEW`] (5 minutes).
    pub fn max_clock_skew(mut self, skew: Duration) -> Self {
        self.max_clock_skew = skew;
        self
    }

    /// Keeps the node id and the clock's lease in `path`. Default: none.
    pub fn clock_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.clock_file = Some(path.into());
        self
    }

    /// Reads wall time from `clock` (tests of skewed devices). Default: the system clock.
    pub fn wall_clock(mut self, clock: Arc<dyn WallClock>) -> Self {
        self.wall_clock = clock;
        self
    }

    /// Sets how long tombstones are kept before a purge. Default
    /// [`DEFAULT_TOMBSTONE_RETENTION`] (30 days).
    pub fn tombstone_retention(mut self, retention: Duration) -> Self {
        self.tombstone_retention = retention;
        self
    }

    /// The retry delay after `failures` consecutive failed rounds: exponential, capped, with
    /// full jitter (uniform in `[delay / 2, delay]`, so retries from many devices spread).
    pub(crate) fn backoff_after(&self, failures: u64) -> Duration {
        let shift = u32::try_from(failures.saturating_sub(1))
            .unwrap_or(u32::MAX)
            .min(20);
        let delay = self
            .backoff_base
            .saturating_mul(1u32 << shift)
            .min(self.backoff_max);
        let half = delay / 2;
        half + half.mul_f64(rand::random::<f64>())
    }
}
