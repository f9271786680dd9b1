//! A sync server in memory, with the rules of the Turso one: last-writer-wins on
//! `(timestamp, node as i64)`, a change sequence bumped by every applied record, pulls in that
//! order. It can be taken offline and can lose answers (apply, then fail), so simulations
//! can partition devices and replay pushes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;
use strata::{Capabilities, Error, ErrorKind, Operation, Result};
use strata_turso::{PulledRecord, PushOutcome, RecordVersion, SyncRecord};

use crate::remote::SyncRemote;

#[derive(Clone, Debug)]
struct Row {
    value: Option<Bytes>,
    timestamp: u64,
    node: u64,
    seq: u64,
}

#[derive(Debug, Default)]
struct Server {
    rows: BTreeMap<(String, Bytes), Row>,
    last_seq: u64,
    /// Per keyspace, the highest `seq` a tombstone purge removed.
    purged: BTreeMap<String, u64>,
}

#[derive(Debug, Default)]
struct Shared {
    server: Mutex<Server>,
    offline: AtomicBool,
    lose_answers: AtomicU32,
}

/// An in-memory sync server (see the module docs). Clones share the server.
#[derive(Clone, Debug)]
pub struct MemoryRemote {
    keyspace: String,
    shared: Arc<Shared>,
}

impl Default for MemoryRemote {
    fn default() -> Self {
        MemoryRemote::new()
    }
}

impl MemoryRemote {
    /// An empty server.
    pub fn new() -> Self {
        MemoryRemote {
            keyspace: strata::DEFAULT_KEYSPACE.to_string(),
            shared: Arc::default(),
        }
    }

    /// Takes the server off the network (every call fails `Unavailable`) or back.
    pub fn set_offline(&self, offline: bool) {
        self.shared.offline.store(offline, Ordering::SeqCst);
    }

    /// The next `n` pushes are applied and then answered with an error, as when the answer
    /// is lost on the way back.
    pub fn lose_next_answers(&self, n: u32) {
        self.shared.lose_answers.store(n, Ordering::SeqCst);
    }

    /// This keyspace's live records, in key order.
    pub fn live(&self) -> Vec<(Bytes, Bytes)> {
        let server = self.shared.server.lock();
        server
            .rows
            .iter()
            .filter(|((ks, _), _)| *ks == self.keyspace)
            .filter_map(|((_, key), row)| row.value.clone().map(|v| (key.clone(), v)))
            .collect()
    }

    /// The version the server holds for `key`, tombstones included.
    pub fn version(&self, key: &[u8]) -> Option<RecordVersion> {
        let server = self.shared.server.lock();
        server
            .rows
            .get(&(self.keyspace.clone(), Bytes::copy_from_slice(key)))
            .map(|row| RecordVersion {
                timestamp: row.timestamp,
                node: row.node,
                deleted: row.value.is_none(),
            })
    }

    fn check_online(&self, op: Operation) -> Result<()> {
        if self.shared.offline.load(Ordering::SeqCst) {
            Err(
                Error::new(ErrorKind::Unavailable, op, "the server is offline")
                    .with_context("backend", "memory-remote"),
            )
        } else {
            Ok(())
        }
    }
}

impl SyncRemote for MemoryRemote {
    fn sync_capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    fn sync_keyspace(&self, name: &str) -> Result<Self> {
        strata::validate::check_keyspace_name(name)?;
        Ok(MemoryRemote {
            keyspace: name.to_string(),
            shared: self.shared.clone(),
        })
    }

    async fn push(&self, records: &[SyncRecord]) -> Result<PushOutcome> {
        self.check_online(Operation::Sync)?;
        let mut outcome = PushOutcome::default();
        {
            let mut server = self.shared.server.lock();
            for record in records {
                let id = (self.keyspace.clone(), record.key.clone());
                let incoming = record.version();
                if let Some(row) = server.rows.get(&id) {
                    let stored = RecordVersion {
                        timestamp: row.timestamp,
                        node: row.node,
                        deleted: row.value.is_none(),
                    };
                    if (stored.timestamp, stored.node) == (incoming.timestamp, incoming.node) {
                        outcome.duplicates += 1;
                        continue;
                    }
                    if !incoming.newer_than(&stored) {
                        outcome.lost.push((record.key.clone(), stored));
                        continue;
                    }
                }
                server.last_seq += 1;
                let seq = server.last_seq;
                server.rows.insert(
                    id,
                    Row {
                        value: record.value.clone(),
                        timestamp: record.timestamp,
                        node: record.node,
                        seq,
                    },
                );
                outcome.applied += 1;
            }
        }
        let lose = self
            .shared
            .lose_answers
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if lose {
            return Err(Error::new(
                ErrorKind::Unavailable,
                Operation::Sync,
                "the answer was lost (the push was applied)",
            ));
        }
        Ok(outcome)
    }

    async fn pull(&self, cursor: u64, limit: usize) -> Result<Vec<PulledRecord>> {
        self.check_online(Operation::Sync)?;
        let server = self.shared.server.lock();
        let mut out: Vec<PulledRecord> = server
            .rows
            .iter()
            .filter(|((ks, _), row)| *ks == self.keyspace && row.seq > cursor)
            .map(|((_, key), row)| PulledRecord {
                record: SyncRecord {
                    key: key.clone(),
                    value: row.value.clone(),
                    timestamp: row.timestamp,
                    node: row.node,
                },
                seq: row.seq,
            })
            .collect();
        out.sort_by_key(|r| r.seq);
        out.truncate(limit);
        Ok(out)
    }

    async fn purged_through(&self) -> Result<u64> {
        self.check_online(Operation::Sync)?;
        Ok(self
            .shared
            .server
            .lock()
            .purged
            .get(&self.keyspace)
            .copied()
            .unwrap_or(0))
    }

    async fn purge_tombstones(&self, retention: std::time::Duration) -> Result<u64> {
        self.check_online(Operation::Sync)?;
        // The server's clock, not the caller's.
        use strata_turso::WallClock;
        let now = strata_turso::SystemClock.now_ms();
        let retention_ms = u64::try_from(retention.as_millis()).unwrap_or(u64::MAX);
        let older_than = strata_turso::hlc::timestamp_at(
            now.saturating_sub(retention_ms)
                .max(strata_turso::hlc::EPOCH_MS),
        );
        let mut server = self.shared.server.lock();
        // As on the server: never the row holding the highest seq (new changes count on it).
        let top = server.rows.values().map(|r| r.seq).max().unwrap_or(0);
        let doomed: Vec<((String, Bytes), u64)> = server
            .rows
            .iter()
            .filter(|((ks, _), row)| {
                *ks == self.keyspace
                    && row.value.is_none()
                    && row.timestamp < older_than
                    && row.seq < top
            })
            .map(|(id, row)| (id.clone(), row.seq))
            .collect();
        let mark = doomed.iter().map(|(_, seq)| *seq).max().unwrap_or(0);
        let purged = server.purged.entry(self.keyspace.clone()).or_default();
        *purged = (*purged).max(mark);
        for (id, _) in &doomed {
            server.rows.remove(id);
        }
        Ok(doomed.len() as u64)
    }
}
