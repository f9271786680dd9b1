//! How hard a persistent backend works to keep acknowledged writes across a crash.

use std::time::Duration;

/// When an acknowledged write reaches stable storage.
///
/// No mode may corrupt a store: after any crash it opens and holds a prefix of the
/// acknowledged history. The modes differ only in how long that prefix is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SyncMode {
    /// A write is acknowledged only once it is fsynced: a crash (process or power) loses no
    /// acknowledged write. Concurrent writers share one transaction and one fsync (group
    /// commit), so throughput grows with concurrency.
    Full,
    /// A write is acknowledged once committed; every `every`-th commit (and, if `interval`
    /// is set, the first commit after that much time, or an idle timer) is fsynced, with all
    /// commits before it. A crash loses at most the last `every - 1` commits, or the commits of
    /// the last `interval`, whichever bound is hit first.
    Normal {
        /// Fsync every this many commits (at least 1; 1 behaves like [`SyncMode::Full`]).
        every: u32,
        /// Also fsync once this much time has passed since the last fsync, if set.
        interval: Option<Duration>,
    },
    /// A write is acknowledged once committed; it is fsynced at the next
    /// [`flush`](crate::StorageBackend::flush), checkpoint or clean close. A crash loses what
    /// was written since the last of those.
    Checkpoint,
    /// Never fsynced while running (tests, benchmarks, caches); only an explicit `flush` or a
    /// clean close persists. A crash may lose everything since the store was opened.
    Off,
}

impl SyncMode {
    /// `Normal` with an fsync every `every` commits and no interval.
    pub fn normal(every: u32) -> Self {
        SyncMode::Normal {
            every,
            interval: None,
        }
    }

    /// A short name for logs, benchmark labels and test names.
    pub fn name(&self) -> &'static str {
        match self {
            SyncMode::Full => "full",
            SyncMode::Normal { .. } => "normal",
            SyncMode::Checkpoint => "checkpoint",
            SyncMode::Off => "off",
        }
    }

    /// Whether an acknowledged write survives a crash before any explicit flush.
    pub fn is_crash_durable(&self) -> bool {
        matches!(self, SyncMode::Full | SyncMode::Normal { every: 1, .. })
    }
}

impl Default for SyncMode {
    /// [`SyncMode::Full`]: nothing acknowledged is ever lost unless the user opts in.
    fn default() -> Self {
        SyncMode::Full
    }
}
