//! The syncer: rounds of push-then-pull, run in the background and on demand.
//!
//! A round pushes the outbox oldest first in batches (one request each) and acknowledges each
//! batch in one local transaction — an entry leaves only if it still holds the version that
//! was pushed, so a write made meanwhile stays queued. Then it pulls the server's changes
//! after the stored cursor in pages, applying each page by last-writer-wins and storing the
//! new cursor in the same transaction. Every step is idempotent: a round cut off anywhere (a
//! crash, a lost answer, a cancelled future) is redone by the next one with the same effect.
//!
//! Why a pushed write that lost still converges: a local write is newer than every version
//! this device holds for its key (`store.rs`), so a server version that beats it has not been
//! applied here yet — its `seq` lies past the cursor, and the pull that follows brings it.

use std::future::Future;
use std::ops::Bound;
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use strata::{Error, ErrorKind, KeyRange, Operation, Result};
use strata_redb::{Snapshot, Txn};
use strata_turso::SyncRecord;
use strata_turso::hlc::Hlc;

use crate::config::SyncConfig;
use crate::outbox::{self, Outbox, Queued, Tables};
use crate::record::{self, Local};
use crate::remote::SyncRemote;
use crate::status::Counters;
use crate::store::Core;

/// What a round needs, taken from the store at its start. It reaches the local store through
/// a weak reference, upgraded only to queue each read or transaction (whose futures hold no
/// handle): a round in flight never keeps a dropped store's file open.
pub(crate) struct Round<R> {
    core: Weak<Core<R>>,
    tables: Tables,
    config: SyncConfig,
    remote: R,
    clock: Arc<Hlc>,
    counters: Arc<Counters>,
    cursor: Arc<Mutex<Option<u64>>>,
    unanswered: Arc<Mutex<std::collections::HashSet<(Bytes, u64)>>>,
    lock: Arc<tokio::sync::Mutex<()>>,
}

/// Unanswered pushes remembered at most (past it, the oldest knowledge is dropped: a replay
/// could then count a write overwritten after it landed as lost).
const MAX_UNANSWERED: usize = 100_000;

impl<R: SyncRemote> Round<R> {
    pub(crate) fn of(core: &Arc<Core<R>>) -> Self {
        Round {
            core: Arc::downgrade(core),
            tables: core.tables.clone(),
            config: core.config.clone(),
            remote: core.remote.clone(),
            clock: core.clock.clone(),
            counters: core.counters.clone(),
            cursor: core.cursor.clone(),
            unanswered: core.unanswered.clone(),
            lock: core.round.clone(),
        }
    }

    fn closed() -> Error {
        Error::new(ErrorKind::Closed, Operation::Sync, "the store was closed")
    }

    fn read<T, F>(&self, read: F) -> Result<impl Future<Output = Result<T>> + use<T, F, R>>
    where
        F: FnOnce(&Snapshot) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let core = self.core.upgrade().ok_or_else(Self::closed)?;
        Ok(core.read(read))
    }

    fn transact<T, F>(&self, work: F) -> Result<impl Future<Output = Result<T>> + use<T, F, R>>
    where
        F: FnMut(&mut Txn<'_>) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let core = self.core.upgrade().ok_or_else(Self::closed)?;
        Ok(core.local.transact(work))
    }

    /// One round: push everything, then pull everything. One round at a time per keyspace.
    pub(crate) async fn run(self) -> Result<()> {
        let _one_at_a_time = self.lock.clone().lock_owned().await;
        let result = async {
            self.push_all().await?;
            self.pull_all().await
        }
        .await;
        match &result {
            Ok(()) => self.counters.succeeded(),
            Err(e) => {
                let failures = self.counters.failed(e.to_string());
                tracing::debug!(error = %e, failures, "sync round failed");
            }
        }
        result
    }

    async fn push_all(&self) -> Result<()> {
        loop {
            let tables = self.tables.clone();
            let (records, bytes) = (self.config.push_batch, self.config.push_bytes);
            let node = self.clock.node();
            let batch = self
                .read(move |snap| outbox::oldest(snap, &tables, node, records, bytes))?
                .await?;
            if batch.is_empty() {
                return Ok(());
            }
            let records: Vec<SyncRecord> = batch.iter().map(|q| q.record.clone()).collect();
            let outcome = match self.remote.push(&records).await {
                Ok(outcome) => outcome,
                Err(e) => {
                    // Unless it never left, it may have been applied: remember, so a replay's
                    // answer is read right.
                    if !strata_turso::never_sent(&e) {
                        let mut unanswered = self.unanswered.lock();
                        if unanswered.len() + records.len() > MAX_UNANSWERED {
                            unanswered.clear();
                        }
                        unanswered.extend(records.iter().map(|r| (r.key.clone(), r.timestamp)));
                    }
                    return Err(e);
                }
            };
            let lost = {
                let unanswered = self.unanswered.lock();
                let pushed_at: std::collections::HashMap<&Bytes, u64> =
                    records.iter().map(|r| (&r.key, r.timestamp)).collect();
                outcome
                    .lost
                    .iter()
                    .filter(|(key, _)| {
                        let at = pushed_at.get(key).copied().unwrap_or(0);
                        !unanswered.contains(&(key.clone(), at))
                    })
                    .count() as u64
            };
            Counters::add(&self.counters.pushed, outcome.applied as u64);
            self.acknowledge(batch, lost)?.await?;
            // Only once the answer is stored: a replay after a failed ack still reads right.
            let mut unanswered = self.unanswered.lock();
            for record in &records {
                unanswered.remove(&(record.key.clone(), record.timestamp));
            }
        }
    }

    /// Removes the pushed entries that still hold the version pushed. Entries that lost are
    /// removed too: the winner arrives with the pull that follows (see the module docs).
    fn acknowledge(
        &self,
        batch: Vec<Queued>,
        lost: u64,
    ) -> Result<impl Future<Output = Result<()>> + use<R>> {
        let tables = self.tables.clone();
        self.transact(move |txn| {
            let outbox = Outbox::new(&tables);
            for queued in &batch {
                outbox.remove(txn, &queued.record.key, queued.queued_at)?;
            }
            outbox::count_conflicts(txn, &tables, lost, 0)
        })
    }

    async fn cursor(&self) -> Result<u64> {
        if let Some(cursor) = *self.cursor.lock() {
            return Ok(cursor);
        }
        let tables = self.tables.clone();
        let stored = self
            .read(move |snap| outbox::cursor(snap, &tables))?
            .await?;
        *self.cursor.lock() = Some(stored);
        Ok(stored)
    }

    async fn pull_all(&self) -> Result<()> {
        let cursor = self.cursor().await?;
        let purged = self.remote.purged_through().await?;
        if cursor < purged {
            return self.resync(purged).await;
        }
        let (start, mut cursor) = (cursor, cursor);
        loop {
            let Some((last, full)) = self.pull_page(cursor, false).await? else {
                break;
            };
            cursor = last;
            if !full {
                break;
            }
        }
        // A purge that ran while we pulled may have removed a tombstone we had not reached.
        let purged = self.remote.purged_through().await?;
        if start < purged {
            return self.resync(purged).await;
        }
        Ok(())
    }

    /// Pulls and applies one page after `from`; with `resync`, marks its keys seen and leaves
    /// the stored cursor alone. Returns the page's last `seq` and whether to pull on.
    async fn pull_page(&self, from: u64, resync: bool) -> Result<Option<(u64, bool)>> {
        let page = self.remote.pull(from, self.config.pull_page).await?;
        let Some(last) = page.last().map(|p| p.seq) else {
            return Ok(None);
        };
        if last <= from {
            return Err(Error::unexpected(
                Operation::Sync,
                "the server returned changes at or before the cursor",
            ));
        }
        // A short page may be one cut to fit the server's response limit: only an empty one
        // ends the pull (one more request per round that saw changes).
        let full = !page.is_empty();
        for pulled in &page {
            self.clock.observe(pulled.record.timestamp);
        }
        let records: Vec<SyncRecord> = page.into_iter().map(|p| p.record).collect();
        let tables = self.tables.clone();
        let store_cursor = (!resync).then_some(last);
        let (applied, lost, won) = self
            .transact(move |txn| apply_page(txn, &tables, &records, store_cursor, resync))?
            .await?;
        if !resync {
            *self.cursor.lock() = Some(last);
        }
        let _ = (lost, won); // stored by `apply_page`
        Counters::add(&self.counters.pulled, applied);
        Ok(Some((last, full)))
    }

    /// A full resync, for a store whose cursor fell below a tombstone purge: it may have
    /// missed deletes whose tombstones are gone. Pulls everything again (by last-writer-wins,
    /// noting each key the server holds), then drops local records the server no longer
    /// holds — unless a local write of them is pending (a write made here, pushed next).
    /// Cut off, it starts over: only the last step moves the cursor.
    async fn resync(&self, purged: u64) -> Result<()> {
        let tables = self.tables.clone();
        self.transact(move |txn| txn.clear(&tables.seen))?.await?;
        let mut from = 0;
        while let Some((last, full)) = self.pull_page(from, true).await? {
            from = last;
            if !full {
                break;
            }
        }
        let mut after: Option<Bytes> = None;
        loop {
            let (tables, start) = (self.tables.clone(), after.clone());
            let page = self
                .read(move |snap| {
                    let range = match start {
                        Some(k) => KeyRange::new(Bound::Excluded(k), Bound::Unbounded),
                        None => KeyRange::all(),
                    };
                    snap.scan(&tables.data, &range, 1_000)
                })?
                .await?;
            let Some((last, _)) = page.last() else { break };
            after = Some(last.clone());
            let full = page.len() == 1_000;
            let mut seen_at = Vec::with_capacity(page.len());
            for (key, stored) in page {
                let timestamp = record::decode(Operation::Sync, &key, &stored)?.timestamp;
                seen_at.push((key, timestamp));
            }
            let tables = self.tables.clone();
            self.transact(move |txn| {
                let outbox = Outbox::new(&tables);
                for (key, timestamp) in &seen_at {
                    if txn.get(&tables.seen, key)?.is_some()
                        || outbox.is_pending(txn, key, *timestamp)?
                    {
                        continue;
                    }
                    // Only the record read above: a write since then is newer than any purge.
                    let current = txn
                        .get(&tables.data, key)?
                        .map(|s| record::decode(Operation::Sync, key, &s))
                        .transpose()?;
                    if current.is_some_and(|c| c.timestamp == *timestamp) {
                        txn.delete(&tables.data, key)?;
                    }
                }
                Ok(())
            })?
            .await?;
            if !full {
                break;
            }
        }
        let cursor = from.max(purged);
        let tables = self.tables.clone();
        self.transact(move |txn| {
            outbox::store_cursor(txn, &tables, cursor)?;
            txn.clear(&tables.seen)
        })?
        .await?;
        *self.cursor.lock() = Some(cursor);
        Counters::add(&self.counters.resyncs, 1);
        Ok(())
    }
}

/// Applies a pulled page by last-writer-wins and stores the new cursor, in one transaction.
/// Returns (applied, local pending writes that lost, local pending writes that won).
fn apply_page(
    txn: &mut Txn<'_>,
    tables: &Tables,
    records: &[SyncRecord],
    cursor: Option<u64>,
    mark_seen: bool,
) -> Result<(u64, u64, u64)> {
    let (mut applied, mut lost, mut won) = (0u64, 0u64, 0u64);
    let outbox = Outbox::new(tables);
    for incoming in records {
        let key = &incoming.key;
        if mark_seen {
            txn.put(&tables.seen, key, &[])?;
        }
        let local = txn
            .get(&tables.data, key)?
            .map(|stored| record::decode(Operation::Sync, key, &stored))
            .transpose()?;
        let newer = match &local {
            None => true,
            Some(local) => incoming.version().newer_than(&local.version()),
        };
        if newer {
            txn.put(&tables.data, key, &Local::from_sync(incoming).encode())?;
            applied += 1;
            // A pending local write older than this one has lost.
            if let Some(local) = &local
                && outbox.remove(txn, key, local.timestamp)?
            {
                lost += 1;
            }
        } else if let Some(local) = &local {
            let same = (local.timestamp, local.node) == (incoming.timestamp, incoming.node);
            if outbox.is_pending(txn, key, local.timestamp)? {
                // Our newer write is pushed next and wins there too.
                won += 1;
            } else if !same {
                // The server holds an older version than one it held (or took from us)
                // before: only a tombstone purge lets that happen (an older write arrived
                // after the delete's tombstone was gone). The server is the arbiter: follow
                // it, so every device agrees, and count what this store had as lost.
                txn.put(&tables.data, key, &Local::from_sync(incoming).encode())?;
                applied += 1;
                lost += 1;
            }
        }
    }
    outbox::count_conflicts(txn, tables, lost, won)?;
    if let Some(cursor) = cursor {
        outbox::store_cursor(txn, tables, cursor)?;
    }
    Ok((applied, lost, won))
}

/// The background loop: a round soon after writes, at least every `interval`, and after a
/// failure only once its backoff has passed. It holds the store weakly and ends once the
/// store is gone (the store also aborts it when its last handle goes).
pub(crate) async fn run<R: SyncRemote>(core: Weak<Core<R>>, interval: Duration) {
    let Some((wake, config)) = core.upgrade().map(|c| (c.wake.clone(), c.config.clone())) else {
        return;
    };
    let mut failures = 0u64;
    loop {
        if failures > 0 {
            tokio::time::sleep(config.backoff_after(failures)).await;
        } else {
            let _ = tokio::time::timeout(interval, wake.notified()).await;
        }
        let Some(strong) = core.upgrade() else { return };
        let round = Round::of(&strong);
        drop(strong);
        failures = match round.run().await {
            Ok(()) => 0,
            Err(e) if e.kind() == ErrorKind::Closed => return,
            Err(_) => failures + 1,
        };
    }
}
