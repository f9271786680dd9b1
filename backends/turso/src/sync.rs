//! The server side of offline sync: pushing writes made offline (replayed, last writer wins on
//! the hybrid logical clock) and pulling what other devices changed (in the server's change
//! order).
//!
//! Online writes are arbitrated by the server (see `backend.rs`): they always apply. A write
//! made offline is different: by the time it arrives, another device may have written the
//! same key later in clock order, and then the offline write must lose — visibly. [`push`]
//! applies each record only if its `(version, node)` is newer than the stored one, in one
//! statement per chunk, and reports every record it did not apply: as a *duplicate* when the
//! server already holds exactly that version (a replay after a lost answer, harmless), or as
//! *lost* with the winning version otherwise. [`pull`] pages through this keyspace's records
//! with `seq` above a cursor; the caller stores the last `seq` it applied as its cursor.
//!
//! Nodes compare as the signed 64-bit integers SQLite stores ([`RecordVersion::newer_than`]),
//! on the server and here alike, so every device breaks ties the same way.
//!
//! [`push`]: TursoBackend::push
//! [`pull`]: TursoBackend::pull

use std::collections::HashMap;

use bytes::Bytes;
use strata::validate::check_key;
use strata::{Error, Operation, Result};

use crate::backend::{RecordVersion, TursoBackend, node_from_sql, node_to_sql};
use crate::pipeline::{Arg, integer_cell};
use crate::request_size::{ARG_OVERHEAD, split_by_size, wire_bytes};
use crate::sql;

/// Records per push statement (6 parameters each, under SQLite's limit).
const PUSH_ROWS_PER_STATEMENT: usize = 5_000;
/// Keys per versions lookup.
const KEYS_PER_LOOKUP: usize = 30_000;

/// A record as sync carries it: a value or a tombstone, with the version it was written at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncRecord {
    /// The key.
    pub key: Bytes,
    /// The value; `None` for a delete (a tombstone).
    pub value: Option<Bytes>,
    /// The hybrid-logical-clock timestamp it was written at (see [`crate::hlc`]).
    pub timestamp: u64,
    /// The node that wrote it.
    pub node: u64,
}

impl SyncRecord {
    /// This record's version.
    pub fn version(&self) -> RecordVersion {
        RecordVersion {
            timestamp: self.timestamp,
            node: self.node,
            deleted: self.value.is_none(),
        }
    }
}

/// What a [`TursoBackend::push`] did with each record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PushOutcome {
    /// Records applied: they were newer than what the server held.
    pub applied: usize,
    /// Records the server already held at exactly their version (replays).
    pub duplicates: usize,
    /// Records that lost to a newer version on the server: the key and the winner.
    pub lost: Vec<(Bytes, RecordVersion)>,
}

/// A change pulled from the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PulledRecord {
    /// The record as the server holds it.
    pub record: SyncRecord,
    /// Its place in the server's change order: the cursor to store once it is applied.
    pub seq: u64,
}

impl RecordVersion {
    /// Whether `self` wins over `other` by last-writer-wins: the later timestamp, then the
    /// larger node as SQLite compares it (a signed 64-bit integer).
    pub fn newer_than(&self, other: &RecordVersion) -> bool {
        (self.timestamp, node_to_sql(self.node)) > (other.timestamp, node_to_sql(other.node))
    }
}

impl TursoBackend {
    /// Replays records written offline (one per key), each applied only if newer (by
    /// [`RecordVersion::newer_than`]) than what the server holds. Idempotent: pushing the same
    /// records again applies nothing and counts them as duplicates. Moves the clock past
    /// every winning version it learns of.
    pub async fn push(&self, records: &[SyncRecord]) -> Result<PushOutcome> {
        self.refuse_if_read_only(Operation::WriteBatch)?;
        let mut keys = std::collections::HashSet::with_capacity(records.len());
        for record in records {
            check_key(&self.shared.caps, Operation::WriteBatch, &record.key)?;
            if !keys.insert(&record.key) {
                return Err(Error::invalid_input(
                    Operation::WriteBatch,
                    "a push holds one record per key (coalesce them first)",
                )
                .with_context("backend", "turso"));
            }
        }
        let mut outcome = PushOutcome::default();
        for (i, chunk) in self.push_chunks(records).into_iter().enumerate() {
            let mut args = Vec::with_capacity(chunk.len() * sql::UPSERT_PARAMS);
            for record in chunk {
                args.extend([
                    self.ks_arg(),
                    Arg::Blob(record.key.clone()),
                    record.value.clone().map_or(Arg::Null, Arg::Blob),
                    Arg::Integer(i64::try_from(record.timestamp).unwrap_or(i64::MAX)),
                    Arg::Integer(node_to_sql(record.node)),
                    Arg::Integer(if record.value.is_some() {
                        0
                    } else {
                        sql::TOMBSTONE_OVER_NOTHING
                    }),
                ]);
            }
            let statement = sql::push(chunk.len());
            // Past the first chunk, a failure leaves earlier chunks applied: the push as a
            // whole may have been sent.
            let rows = self
                .read_rows(Operation::WriteBatch, &statement, args)
                .await
                .map_err(|e| {
                    if i > 0 {
                        crate::error::maybe_sent(e)
                    } else {
                        e
                    }
                })?;
            let applied: std::collections::HashSet<Bytes> = rows
                .into_iter()
                .filter_map(|mut row| row.swap_remove(0))
                .collect();
            outcome.applied += chunk.iter().filter(|r| applied.contains(&r.key)).count();
            let rest: Vec<&SyncRecord> =
                chunk.iter().filter(|r| !applied.contains(&r.key)).collect();
            if !rest.is_empty() {
                // The chunk was applied in part: a failure here must not read as unsent.
                self.classify_unapplied(&rest, &mut outcome)
                    .await
                    .map_err(crate::error::maybe_sent)?;
            }
        }
        Ok(outcome)
    }

    /// `records` in statements of at most [`PUSH_ROWS_PER_STATEMENT`] rows and about
    /// `max_request_bytes` on the wire each (a record larger than that goes alone).
    fn push_chunks<'r>(&self, records: &'r [SyncRecord]) -> Vec<&'r [SyncRecord]> {
        let size = |r: &SyncRecord| {
            wire_bytes(r.key.len())
                + r.value.as_ref().map_or(0, |v| wire_bytes(v.len()))
                + 4 * ARG_OVERHEAD
                + self.keyspace.len()
        };
        let cap = self.config().max_request_bytes;
        split_by_size(records, PUSH_ROWS_PER_STATEMENT, cap, size)
            .into_iter()
            .map(|range| &records[range])
            .collect()
    }

    /// Sorts records the server did not apply into duplicates and losses.
    async fn classify_unapplied(
        &self,
        records: &[&SyncRecord],
        outcome: &mut PushOutcome,
    ) -> Result<()> {
        let mut stored: HashMap<Bytes, RecordVersion> = HashMap::new();
        for chunk in records.chunks(KEYS_PER_LOOKUP) {
            let mut args = vec![self.ks_arg()];
            args.extend(chunk.iter().map(|r| Arg::Blob(r.key.clone())));
            let statement = sql::versions(chunk.len());
            for row in self
                .read_rows(Operation::WriteBatch, &statement, args)
                .await?
            {
                let op = Operation::WriteBatch;
                let key = row.first().cloned().flatten().ok_or_else(|| missing(op))?;
                let timestamp = integer_cell(op, row.get(1))?;
                let node = integer_cell(op, row.get(2))?;
                stored.insert(
                    key,
                    RecordVersion {
                        timestamp: u64::try_from(timestamp).unwrap_or(0),
                        node: node_from_sql(node),
                        deleted: false,
                    },
                );
            }
        }
        for record in records {
            let Some(winner) = stored.get(&record.key) else {
                return Err(Error::unexpected(
                    Operation::WriteBatch,
                    "a pushed record was neither applied nor found",
                )
                .with_context("backend", "turso"));
            };
            self.shared.hlc.observe(winner.timestamp);
            if (winner.timestamp, winner.node) == (record.timestamp, record.node) {
                outcome.duplicates += 1;
            } else {
                outcome.lost.push((record.key.clone(), *winner));
            }
        }
        Ok(())
    }

    /// Up to `limit` records of this keyspace changed after `cursor` (a `seq` from an earlier
    /// pull, 0 for everything), in change order, tombstones included; fewer when so many would
    /// exceed the server's response limit (only an empty page means nothing remains). Moves
    /// the clock past every version it reads (through the skew gate).
    pub async fn pull(&self, cursor: u64, limit: usize) -> Result<Vec<PulledRecord>> {
        let op = Operation::Scan;
        // An answer over sqld's response limit (large values) is asked again for half as
        // many records: the page comes back shorter, and the caller pulls on.
        let mut limit = limit.max(1);
        let rows = loop {
            let args = vec![
                self.ks_arg(),
                Arg::Integer(i64::try_from(cursor).unwrap_or(i64::MAX)),
                Arg::Integer(i64::try_from(limit).unwrap_or(i64::MAX)),
            ];
            match self.read_rows(op, sql::PULL, args).await {
                Err(e) if crate::pipeline::response_too_large(&e) && limit > 1 => limit /= 2,
                other => break other?,
            }
        };
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let key = row.first().cloned().flatten().ok_or_else(|| missing(op))?;
            let deleted = integer_cell(op, row.get(4))? != 0;
            let value = if deleted {
                None
            } else {
                Some(row.get(1).cloned().flatten().unwrap_or_default())
            };
            let timestamp = u64::try_from(integer_cell(op, row.get(2))?).unwrap_or(0);
            let node = integer_cell(op, row.get(3))?;
            let seq = u64::try_from(integer_cell(op, row.get(5))?).unwrap_or(0);
            self.shared.hlc.observe(timestamp);
            out.push(PulledRecord {
                record: SyncRecord {
                    key,
                    value,
                    timestamp,
                    node: node_from_sql(node),
                },
                seq,
            });
        }
        Ok(out)
    }
}

impl TursoBackend {
    fn purge_mark_arg(&self) -> Arg {
        Arg::Text(format!("purged_seq:{}", &*self.keyspace).into())
    }

    /// The highest change sequence a tombstone purge of this keyspace removed (0 if none):
    /// a device whose pull cursor is below it may have missed a delete and must resync.
    pub async fn purged_through(&self) -> Result<u64> {
        let rows = self
            .read_rows(
                Operation::Sync,
                sql::PURGED_THROUGH,
                vec![self.purge_mark_arg()],
            )
            .await?;
        match rows.first() {
            Some(row) => {
                Ok(u64::try_from(integer_cell(Operation::Sync, row.first())?).unwrap_or(0))
            }
            None => Ok(0),
        }
    }

    /// Removes this keyspace's tombstones older than `retention` by the **server's** clock
    /// (so one device's fast clock cannot purge a fresh delete), raising the purge mark first
    /// — in steps of at most 1,000 rows, so no statement holds the server's write lock for
    /// long and no answer grows with the number purged. Returns how many went.
    pub async fn purge_tombstones(&self, retention: std::time::Duration) -> Result<u64> {
        self.refuse_if_read_only(Operation::WriteBatch)?;
        const STEP: i64 = 1_000;
        // Past 2^42 ms (139 years) the horizon's arithmetic in SQL would wrap around to "now"
        // and purge everything: a longer retention means "nothing yet" anyway.
        let retention_ms = i64::try_from(retention.as_millis())
            .unwrap_or(i64::MAX)
            .min(1 << 42);
        let args = || {
            vec![
                self.purge_mark_arg(),
                self.ks_arg(),
                Arg::Integer(retention_ms),
                Arg::Integer(STEP),
            ]
        };
        let mut removed = 0u64;
        loop {
            self.read_rows(Operation::Sync, sql::PURGE_MARK, args())
                .await?;
            let step = self
                .read_rows(Operation::Sync, sql::PURGE, args())
                .await?
                .len() as u64;
            removed += step;
            if step < STEP as u64 {
                return Ok(removed);
            }
        }
    }
}

fn missing(op: Operation) -> Error {
    Error::unexpected(op, "a sync row without its key").with_context("backend", "turso")
}
