//! How hard a persistent backend works to keep acknowledged writes across a crash.

use std::time::Duration;

/// When an acknowledged write reaches stable storage.
///
/// A *write* is one `put`, `delete` or `write_batch` call. Every mode fsyncs on
/// [`flush`](crate::StorageBackend::flush) and on a clean close, and no mode may corrupt a
/// store: after any crash (process or power) it opens and holds a prefix of the acknowledged
/// history. The modes differ only in how long that prefix is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
pub enum SyncMode {
    /// A write is acknowledged only once it is fsynced: a crash loses no acknowledged write.
    /// Concurrent writers share one transaction and one fsync (group commit), so throughput
    /// grows with concurrency.
    Full,
    /// A write is acknowledged once committed, and fsynced with every write before it as soon
    /// as `every` writes are unsynced (writers sharing a commit count one each). A crash loses
    /// at most the last `every - 1` acknowledged writes; with an `interval`, also none
    /// acknowledged longer than `interval` before it (plus the time an fsync takes).
    Normal {
        /// Fsync once this many writes are unsynced (at least 1; 1 behaves like
        /// [`SyncMode::Full`]).
        every: u32,
        /// Also fsync once this much time has passed since the last fsync, at the next commit
        /// or by a timer if no write comes.
        interval: Option<Duration>,
    },
    /// A write is acknowledged once committed and fsynced at the next checkpoint: a
    /// [`flush`](crate::StorageBackend::flush), a clean close, once
    /// [`CHECKPOINT_WRITES`](SyncMode::CHECKPOINT_WRITES) writes are unsynced, or once writes
    /// have paused for [`CHECKPOINT_IDLE`](SyncMode::CHECKPOINT_IDLE). A crash loses the
    /// writes since the last checkpoint: never one acknowledged before a completed `flush`,
    /// never more than `CHECKPOINT_WRITES - 1`. Unlike `Normal`, a burst of writes pays no
    /// fsync until it ends.
    Checkpoint,
    /// A write is acknowledged once committed and never fsynced on the store's own initiative
    /// (tests, benchmarks, caches): only [`flush`](crate::StorageBackend::flush) or a clean
    /// close persists. A crash may lose every write since the last `flush`, or since open.
    Off,
}

impl SyncMode {
    /// Under [`SyncMode::Checkpoint`], this many unsynced writes make a checkpoint.
    pub const CHECKPOINT_WRITES: u32 = 1024;
    /// Under [`SyncMode::Checkpoint`], writes paused this long make a checkpoint.
    pub const CHECKPOINT_IDLE: Duration = Duration::from_secs(1);

    /// `Normal` with an fsync once `every` writes are unsynced, and no interval.
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
