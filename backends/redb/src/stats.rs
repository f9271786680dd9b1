//! Counters of the writer thread: how well group commit is working.

use std::sync::atomic::{AtomicU64, Ordering};

/// The live counters, shared by the writer thread and the handles.
#[derive(Debug, Default)]
pub(crate) struct WriterCounters {
    commits: AtomicU64,
    /// The reader threads' snapshot check (see `reader.rs`): odd while a commit is under way
    /// (redb makes it visible inside `commit()`, before returning), even once it is done;
    /// moved on by every commit, before its writers are answered.
    published: AtomicU64,
    fsyncs: AtomicU64,
    writes: AtomicU64,
    groups: AtomicU64,
    largest_group: AtomicU64,
}

impl WriterCounters {
    pub(crate) fn record_group(&self, writes: usize) {
        let writes = writes as u64;
        self.groups.fetch_add(1, Ordering::Relaxed);
        self.writes.fetch_add(writes, Ordering::Relaxed);
        self.largest_group.fetch_max(writes, Ordering::Relaxed);
        metrics::histogram!(strata::telemetry::names::REDB_GROUP_SIZE).record(writes as f64);
    }

    /// Marks a commit under way (see `published`).
    pub(crate) fn begin_commit(&self) {
        self.published.fetch_add(1, Ordering::SeqCst);
    }

    /// Marks the commit done, whether it succeeded or not (a failed commit may have been
    /// visible for a while).
    pub(crate) fn end_commit(&self) {
        self.published.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn record_commit(&self, fsynced: bool) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(strata::telemetry::names::REDB_COMMITS).increment(1);
        if fsynced {
            self.fsyncs.fetch_add(1, Ordering::Relaxed);
            metrics::counter!(strata::telemetry::names::REDB_FSYNCS).increment(1);
        }
    }

    /// The snapshot check's count (see `published`): odd while a commit is under way.
    pub(crate) fn published(&self) -> u64 {
        self.published.load(Ordering::SeqCst)
    }

    pub(crate) fn snapshot(&self) -> RedbStats {
        RedbStats {
            commits: self.commits.load(Ordering::Relaxed),
            fsyncs: self.fsyncs.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            groups: self.groups.load(Ordering::Relaxed),
            largest_group: self.largest_group.load(Ordering::Relaxed),
        }
    }
}

/// A snapshot of a redb store's write path since it was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedbStats {
    /// Transactions committed (including empty ones that only fsync).
    pub commits: u64,
    /// Commits made durable with an fsync (`Durability::Immediate`).
    pub fsyncs: u64,
    /// Write and flush requests received from callers.
    pub writes: u64,
    /// Groups of requests handled together (each usually one commit).
    pub groups: u64,
    /// The largest group so far.
    pub largest_group: u64,
}

impl RedbStats {
    /// Requests per group: how many callers shared each commit on average.
    pub fn mean_group_size(&self) -> f64 {
        if self.groups == 0 {
            0.0
        } else {
            self.writes as f64 / self.groups as f64
        }
    }
}
