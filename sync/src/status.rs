//! What a synced store reports about its sync: [`SyncStatus`] and the counters behind it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;

/// A synced store's sync, as [`SyncedStore::sync_status`](crate::SyncedStore::sync_status)
/// sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncStatus {
    /// Writes waiting to be pushed (repeated writes of a key count once).
    pub pending: u64,
    /// Value bytes of those writes.
    pub pending_bytes: u64,
    /// How long ago (by this device's wall clock) the oldest pending write was made.
    pub oldest_pending_age: Option<Duration>,
    /// When a sync round last completed (everything pushed, everything pulled).
    pub last_success: Option<SystemTime>,
    /// The error that ended the last failed round, cleared by the next success.
    pub last_error: Option<String>,
    /// Rounds that failed since the last success (the syncer backs off exponentially).
    pub consecutive_failures: u64,
    /// Local writes that lost to a newer write of the same key made elsewhere before they
    /// reached the server — refused by the server at push, or beaten by a newer record pulled
    /// first — plus records this store held that the server went back on (a tombstone purge
    /// let an older write in). Their value is replaced by the server's. (A write that reached
    /// the server and was later overwritten there by a newer one is a later write winning, not
    /// a loss; a replay after a lost answer is not counted either.) Stored with the changes it
    /// counts: it survives restarts.
    pub conflicts_lost: u64,
    /// Pulled records that lost to a newer local write of the same key (pushed next). Stored,
    /// like `conflicts_lost`.
    pub conflicts_won: u64,
    /// Records the server accepted from this store (replays it already had not counted).
    pub pushed: u64,
    /// Records pulled and applied locally.
    pub pulled: u64,
    /// The server change sequence this store has applied up to.
    pub cursor: u64,
    /// Full resyncs done since open: the store's cursor was below a tombstone purge, so it
    /// pulled everything again and dropped what the server no longer holds.
    pub resyncs: u64,
}

/// Counters the syncer and the write path update.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) pushed: AtomicU64,
    pub(crate) pulled: AtomicU64,
    pub(crate) resyncs: AtomicU64,
    pub(crate) consecutive_failures: AtomicU64,
    pub(crate) last_success: Mutex<Option<SystemTime>>,
    pub(crate) last_error: Mutex<Option<String>>,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn succeeded(&self) {
        self.consecutive_failures.store(0, Ordering::Relaxed);
        *self.last_success.lock() = Some(SystemTime::now());
        *self.last_error.lock() = None;
    }

    pub(crate) fn failed(&self, why: String) -> u64 {
        *self.last_error.lock() = Some(why);
        self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(crate) fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// A synced keyspace's sync state as its file holds it, read without a remote or a running
/// syncer (for tools such as `strata sync status`): from [`stored_status`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredSyncStatus {
    /// The keyspace.
    pub keyspace: String,
    /// Writes waiting to be pushed (repeated writes of a key count once).
    pub pending: u64,
    /// Value bytes of those writes.
    pub pending_bytes: u64,
    /// The clock timestamp (milliseconds since the Unix epoch) the oldest pending write was
    /// queued at.
    pub oldest_pending_unix_ms: Option<u64>,
    /// The server change sequence this keyspace has applied up to.
    pub cursor: u64,
    /// See [`SyncStatus::conflicts_lost`].
    pub conflicts_lost: u64,
    /// See [`SyncStatus::conflicts_won`].
    pub conflicts_won: u64,
}

/// The stored sync state of every keyspace of `store` that was ever opened by a
/// [`SyncedStore`](crate::SyncedStore), in name order, read from one read-only snapshot per
/// keyspace: no remote, no running syncer, no network, and nothing written to the file.
pub fn stored_status(store: &strata_redb::ReadOnlyStore) -> strata::Result<Vec<StoredSyncStatus>> {
    let mut out = Vec::new();
    for table in store.system_tables()? {
        let Some(name) = table
            .strip_prefix("sync.")
            .and_then(|t| t.strip_suffix(".queue"))
        else {
            continue;
        };
        let tables = crate::outbox::Tables {
            data: store.table_ref(name),
            queue: store.system_table_ref(&format!("sync.{name}.queue")),
            cursor: store.system_table_ref(&format!("sync.{name}.cursor")),
            seen: store.system_table_ref(&format!("sync.{name}.seen")),
        };
        let status = store.snapshot(|snap| {
            let (pending, pending_bytes, oldest, cursor) = crate::outbox::depth(snap, &tables)?;
            let (conflicts_lost, conflicts_won) = crate::outbox::conflicts(snap, &tables)?;
            Ok(StoredSyncStatus {
                keyspace: name.to_string(),
                pending,
                pending_bytes,
                oldest_pending_unix_ms: oldest.map(strata_turso::hlc::unix_ms_of),
                cursor,
                conflicts_lost,
                conflicts_won,
            })
        })?;
        out.push(status);
    }
    Ok(out)
}
