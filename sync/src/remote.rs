//! The server a synced store talks to: anything that can take replayed writes by
//! last-writer-wins and hand back changes in its own order. [`TursoBackend`] (a real `sqld` or
//! Turso) is the one users run; [`MemoryRemote`](crate::MemoryRemote) follows the same rules
//! in memory, for simulation.

use std::future::Future;
use std::time::Duration;

use strata::{Capabilities, Result, StorageBackend};
use strata_turso::{PulledRecord, PushOutcome, SyncRecord, TursoBackend};

/// A sync server for one keyspace.
pub trait SyncRemote: Clone + Send + Sync + Sized + 'static {
    /// Key and value limits of the server: a synced store refuses writes it could not push.
    fn sync_capabilities(&self) -> Capabilities;

    /// The same server, another keyspace.
    fn sync_keyspace(&self, name: &str) -> Result<Self>;

    /// Applies each record (one per key) only if it is newer, by last-writer-wins, than what
    /// the server holds; says which were applied, already there, or lost (and to what).
    /// Replaying the same records is harmless.
    fn push(&self, records: &[SyncRecord]) -> impl Future<Output = Result<PushOutcome>> + Send;

    /// Up to `limit` records changed after `cursor`, in the server's change order
    /// (tombstones included); each carries the `seq` to store as the next cursor. A page may
    /// hold fewer while more remain (cut to fit the server's response limit, when values are
    /// large): only an empty page says nothing remains.
    fn pull(
        &self,
        cursor: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<PulledRecord>>> + Send;

    /// The highest change sequence a tombstone purge removed (0 if none): a store whose
    /// cursor is below it may have missed a delete, and resyncs in full.
    fn purged_through(&self) -> impl Future<Output = Result<u64>> + Send;

    /// Removes tombstones older than `retention` by the server's own clock (never a device's:
    /// one with a fast clock must not purge a fresh delete), raising the purge mark first;
    /// returns how many went.
    fn purge_tombstones(&self, retention: Duration) -> impl Future<Output = Result<u64>> + Send;
}

impl SyncRemote for TursoBackend {
    fn sync_capabilities(&self) -> Capabilities {
        StorageBackend::capabilities(self)
    }

    fn sync_keyspace(&self, name: &str) -> Result<Self> {
        StorageBackend::keyspace(self, name)
    }

    fn push(&self, records: &[SyncRecord]) -> impl Future<Output = Result<PushOutcome>> + Send {
        TursoBackend::push(self, records)
    }

    fn pull(
        &self,
        cursor: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<PulledRecord>>> + Send {
        TursoBackend::pull(self, cursor, limit)
    }

    fn purged_through(&self) -> impl Future<Output = Result<u64>> + Send {
        TursoBackend::purged_through(self)
    }

    fn purge_tombstones(&self, retention: Duration) -> impl Future<Output = Result<u64>> + Send {
        TursoBackend::purge_tombstones(self, retention)
    }
}
