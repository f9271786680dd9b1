//! The outbox: writes made locally and not yet on the server, kept in the same redb
//! transaction as the write itself (so a write is never acknowledged without its outbox
//! entry, and never lost from the outbox without having reached the server).
//!
//! Two tables (see `record.rs`): an index `key → (timestamp, len)` that coalesces repeated
//! writes of a key into the last one, and a queue `(timestamp, key)` in clock order that the
//! syncer drains oldest first. An entry leaves only when the server acknowledged exactly
//! that version (or a newer one beat it): removal is conditional on the timestamp, so a write
//! made while its older version was being pushed stays queued.

use bytes::{BufMut, Bytes, BytesMut};
use strata::{KeyRange, Result};
use strata_redb::{Snapshot, TableRef, Txn};
use strata_turso::SyncRecord;

use crate::record::{self, decode_u64, encode_u64};

/// Key of the pull cursor in the cursor table.
const CURSOR: &[u8] = b"cursor";
/// Keys of the conflict counters in the cursor table (kept with the changes they count).
const LOST: &[u8] = b"conflicts_lost";
const WON: &[u8] = b"conflicts_won";

/// The tables of one synced keyspace: its data; the outbox queue
/// (`[timestamp u64 BE][key]` → value length, u32 BE), whose entries are exactly the pending
/// writes, so its length is the pending count; and the pull cursor, written only by pulls.
#[derive(Clone, Debug)]
pub(crate) struct Tables {
    pub(crate) data: TableRef,
    pub(crate) queue: TableRef,
    pub(crate) cursor: TableRef,
    /// Keys a full resync has seen on the server (emptied when it ends).
    pub(crate) seen: TableRef,
}

/// A queue key: clock order, then the key.
fn queue_key(timestamp: u64, key: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(8 + key.len());
    out.put_u64(timestamp);
    out.put_slice(key);
    out.freeze()
}

fn split_queue_key(stored: &Bytes) -> Result<(u64, Bytes)> {
    if stored.len() < 8 {
        return Err(strata::Error::new(
            strata::ErrorKind::Corrupted,
            strata::Operation::Sync,
            "a damaged outbox queue entry",
        ));
    }
    let timestamp = u64::from_be_bytes(stored[..8].try_into().expect("8 bytes"));
    Ok((timestamp, stored.slice(8..)))
}

/// The outbox as one transaction sees it. A key's pending write, if any, is the queue entry
/// at the timestamp of the key's data record: a newer local write replaces both, an
/// acknowledgement or a newer pulled record removes the entry.
pub(crate) struct Outbox<'a> {
    tables: &'a Tables,
}

impl<'a> Outbox<'a> {
    pub(crate) fn new(tables: &'a Tables) -> Self {
        Outbox { tables }
    }

    /// Queues the write of `key` at `timestamp` (`len` value bytes), replacing the pending
    /// write at `previous` (the timestamp of the record it overwrites) if there was one.
    pub(crate) fn enqueue(
        &self,
        txn: &mut Txn<'_>,
        key: &[u8],
        previous: Option<u64>,
        timestamp: u64,
        len: usize,
    ) -> Result<()> {
        if let Some(previous) = previous {
            txn.delete(&self.tables.queue, &queue_key(previous, key))?;
        }
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        txn.put(
            &self.tables.queue,
            &queue_key(timestamp, key),
            &len.to_be_bytes(),
        )
    }

    /// Whether `key`'s write at `timestamp` is pending.
    pub(crate) fn is_pending(&self, txn: &mut Txn<'_>, key: &[u8], timestamp: u64) -> Result<bool> {
        Ok(txn
            .get(&self.tables.queue, &queue_key(timestamp, key))?
            .is_some())
    }

    /// Removes `key`'s pending write at `timestamp`; whether it was there. (An entry for an
    /// older write of the key was already replaced: removal is conditional by construction.)
    pub(crate) fn remove(&self, txn: &mut Txn<'_>, key: &[u8], timestamp: u64) -> Result<bool> {
        txn.delete(&self.tables.queue, &queue_key(timestamp, key))
    }
}

/// Stores the pull cursor.
pub(crate) fn store_cursor(txn: &mut Txn<'_>, tables: &Tables, cursor: u64) -> Result<()> {
    txn.put(&tables.cursor, CURSOR, &encode_u64(cursor))
}

/// Adds to the stored conflict counters, in the transaction whose changes they count.
pub(crate) fn count_conflicts(
    txn: &mut Txn<'_>,
    tables: &Tables,
    lost: u64,
    won: u64,
) -> Result<()> {
    for (name, n) in [(LOST, lost), (WON, won)] {
        if n > 0 {
            let now = decode_u64(txn.get(&tables.cursor, name)?.as_deref());
            txn.put(&tables.cursor, name, &encode_u64(now.saturating_add(n)))?;
        }
    }
    Ok(())
}

/// The stored conflict counters: (lost, won).
pub(crate) fn conflicts(snap: &Snapshot, tables: &Tables) -> Result<(u64, u64)> {
    Ok((
        decode_u64(snap.get(&tables.cursor, LOST)?.as_deref()),
        decode_u64(snap.get(&tables.cursor, WON)?.as_deref()),
    ))
}

/// The stored pull cursor (0 before the first pull).
pub(crate) fn cursor(snap: &Snapshot, tables: &Tables) -> Result<u64> {
    Ok(decode_u64(snap.get(&tables.cursor, CURSOR)?.as_deref()))
}

/// A pending write to push, with the timestamp its outbox entry was queued at (the ack
/// removes that entry; a newer write of the key has its own).
pub(crate) struct Queued {
    pub(crate) record: SyncRecord,
    pub(crate) queued_at: u64,
}

/// The oldest pending writes: at most `max_records`, and stopping once `max_bytes` of keys
/// and values are gathered (always at least one).
pub(crate) fn oldest(
    snap: &Snapshot,
    tables: &Tables,
    node: u64,
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
                node,
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
/// The bytes are summed over the queue: a status call reads the whole outbox.
pub(crate) fn depth(snap: &Snapshot, tables: &Tables) -> Result<(u64, u64, Option<u64>, u64)> {
    let count = snap.len(&tables.queue)?;
    let mut bytes = 0u64;
    let mut oldest = None;
    let mut from = KeyRange::all();
    loop {
        let page = snap.scan(&tables.queue, &from, 4_096)?;
        let Some((last, _)) = page.last() else { break };
        if oldest.is_none() {
            oldest = Some(split_queue_key(&page[0].0)?.0);
        }
        bytes += page.iter().map(|(_, len)| decode_len(len)).sum::<u64>();
        if page.len() < 4_096 {
            break;
        }
        from = KeyRange::new(
            std::ops::Bound::Excluded(last.clone()),
            std::ops::Bound::Unbounded,
        );
    }
    Ok((count, bytes, oldest, cursor(snap, tables)?))
}

fn decode_len(stored: &[u8]) -> u64 {
    stored
        .try_into()
        .map_or(0, |b: [u8; 4]| u64::from(u32::from_be_bytes(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_keys_sort_by_time_and_split_back() {
        let (a, b) = (queue_key(1, b"zz"), queue_key(2, b"aa"));
        assert!(a < b);
        let (ts, key) = split_queue_key(&b).unwrap();
        assert_eq!((ts, &key[..]), (2, &b"aa"[..]));
        assert!(split_queue_key(&Bytes::from_static(b"short")).is_err());
        assert_eq!(decode_len(&7u32.to_be_bytes()), 7);
    }
}
