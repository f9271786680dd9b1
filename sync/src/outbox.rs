//! The outbox: writes made locally and not yet on the server, kept in the same redb
//! transaction as the write itself (so a write is never acknowledged without its outbox
//! entry, and never lost from the outbox without having reached the server).
//!
//! Two tables (see `record.rs`): an index `key → (timestamp, len)` that coalesces repeated
//! writes of a key into the last one, and a queue `(timestamp, key)` in clock order that the
//! syncer drains oldest first. An entry leaves only when the server acknowledged exactly
//! that version (or a newer one beat it): removal is conditional on the timestamp, so a write
//! made while its older version was being pushed stays queued.

use bytes::Bytes;
use strata::{KeyRange, Result};
use strata_redb::{Snapshot, TableRef, Txn};
use strata_turso::SyncRecord;

use crate::record::{
    self, decode_pending, decode_u64, encode_pending, encode_u64, queue_key, split_queue_key,
};

/// Meta key of the pending bytes counter.
pub(crate) const PENDING_BYTES: &[u8] = b"pending_bytes";
/// Meta key of the pull cursor.
pub(crate) const CURSOR: &[u8] = b"cursor";

/// The tables of one synced keyspace.
#[derive(Clone, Debug)]
pub(crate) struct Tables {
    pub(crate) data: TableRef,
    pub(crate) pending: TableRef,
    pub(crate) queue: TableRef,
    pub(crate) meta: TableRef,
}

/// Changes to the pending bytes counter made within one transaction, written once at its end.
pub(crate) struct Pending<'a> {
    tables: &'a Tables,
    bytes: i128,
}

impl<'a> Pending<'a> {
    pub(crate) fn new(tables: &'a Tables) -> Self {
        Pending { tables, bytes: 0 }
    }

    /// Queues the write of `key` at `timestamp` (`len` value bytes), replacing the key's
    /// earlier pending write if there is one.
    pub(crate) fn enqueue(
        &mut self,
        txn: &mut Txn<'_>,
        key: &[u8],
        timestamp: u64,
        len: usize,
    ) -> Result<()> {
        self.remove(txn, key)?;
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        txn.put(&self.tables.pending, key, &encode_pending(timestamp, len))?;
        txn.put(&self.tables.queue, &queue_key(timestamp, key), &[])?;
        self.bytes += i128::from(len);
        Ok(())
    }

    /// The timestamp of `key`'s pending write, if it has one.
    pub(crate) fn pending(&self, txn: &mut Txn<'_>, key: &[u8]) -> Result<Option<u64>> {
        txn.get(&self.tables.pending, key)?
            .map(|stored| decode_pending(key, &stored).map(|(ts, _)| ts))
            .transpose()
    }

    /// Removes `key`'s pending write if its timestamp is `timestamp`; whether it did.
    pub(crate) fn ack(&mut self, txn: &mut Txn<'_>, key: &[u8], timestamp: u64) -> Result<bool> {
        match self.pending(txn, key)? {
            Some(ts) if ts == timestamp => self.remove(txn, key),
            _ => Ok(false),
        }
    }

    /// Removes `key`'s pending write, whatever its timestamp; whether there was one.
    pub(crate) fn remove(&mut self, txn: &mut Txn<'_>, key: &[u8]) -> Result<bool> {
        let Some(stored) = txn.get(&self.tables.pending, key)? else {
            return Ok(false);
        };
        let (ts, len) = decode_pending(key, &stored)?;
        txn.delete(&self.tables.pending, key)?;
        txn.delete(&self.tables.queue, &queue_key(ts, key))?;
        self.bytes -= i128::from(len);
        Ok(true)
    }

    /// Writes the pending bytes counter (call once, at the end of the transaction).
    pub(crate) fn finish(self, txn: &mut Txn<'_>) -> Result<()> {
        if self.bytes == 0 {
            return Ok(());
        }
        let now = decode_u64(txn.get(&self.tables.meta, PENDING_BYTES)?.as_deref());
        let next = (i128::from(now) + self.bytes).clamp(0, i128::from(u64::MAX));
        let next = u64::try_from(next).unwrap_or(0);
        txn.put(&self.tables.meta, PENDING_BYTES, &encode_u64(next))
    }
}

/// A pending write to push, with the timestamp its outbox entry was queued at (the ack
/// removes the entry only if it still has that timestamp).
pub(crate) struct Queued {
    pub(crate) record: SyncRecord,
    pub(crate) queued_at: u64,
}

/// The oldest pending writes: at most `max_records`, and stopping once `max_bytes` of keys
/// and values are gathered (always at least one).
pub(crate) fn oldest(
    snap: &Snapshot,
    tables: &Tables,
    max_records: usize,
    max_bytes: usize,
) -> Result<Vec<Queued>> {
    let queued = snap.scan(&tables.queue, &KeyRange::all(), max_records)?;
    let mut out = Vec::with_capacity(queued.len());
    let mut bytes = 0usize;
    for (queue_entry, _) in queued {
        let (queued_at, key) = split_queue_key(&queue_entry)?;
        // The data record carries the pending write (both change in one transaction). If it
        // is missing the store was damaged: what it holds is "nothing", pushed as a delete.
        let record = match snap.get(&tables.data, &key)? {
            Some(stored) => record::decode(strata::Operation::Sync, &key, &stored)?.into_sync(key),
            None => SyncRecord {
                key,
                value: None,
                timestamp: queued_at,
                node: 0,
            },
        };
        bytes += record.key.len() + record.value.as_ref().map_or(0, Bytes::len);
        out.push(Queued { record, queued_at });
        if bytes >= max_bytes {
            break;
        }
    }
    Ok(out)
}

/// Pending writes, pending value bytes, the oldest pending timestamp, and the pull cursor.
pub(crate) fn depth(snap: &Snapshot, tables: &Tables) -> Result<(u64, u64, Option<u64>, u64)> {
    let cursor = decode_u64(snap.get(&tables.meta, CURSOR)?.as_deref());
    let count = snap.len(&tables.pending)?;
    let bytes = decode_u64(snap.get(&tables.meta, PENDING_BYTES)?.as_deref());
    let oldest = snap
        .scan(&tables.queue, &KeyRange::all(), 1)?
        .first()
        .map(|(k, _)| split_queue_key(k).map(|(ts, _)| ts))
        .transpose()?;
    Ok((count, bytes, oldest, cursor))
}
