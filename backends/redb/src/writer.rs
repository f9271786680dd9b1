//! The writer thread: the only place redb write transactions happen.
//!
//! Callers send requests over a channel and await a reply. The writer takes the first
//! request, gathers whatever else is already queued (up to `max_group_size`), applies the
//! whole group in one transaction and commits once (group commit): under `SyncMode::Full`,
//! 64 concurrent writers share one fsync instead of paying 64. Each caller is answered only
//! after the commit holding its data returns, with the durability its mode promises.

use std::sync::Arc;
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};
use redb::{Database, Durability, Table, TableDefinition};
use strata::{BatchOp, Error, Operation, Result, SyncMode};
use tokio::sync::oneshot;

use crate::activity::Activity;
use crate::error::{WriterFault, redb_error};
use crate::stats::WriterCounters;
use crate::sync_policy::SyncPolicy;
use crate::transact::{Txn, TxnWork};

/// Every keyspace is a redb table of byte keys to byte values.
pub(crate) type KvTable<'t> = Table<'t, &'static [u8], &'static [u8]>;

/// The definition of a keyspace's table.
pub(crate) fn table_def(table: &str) -> TableDefinition<'_, &'static [u8], &'static [u8]> {
    TableDefinition::new(table)
}

/// A request to the writer thread.
pub(crate) enum Request {
    /// Apply `ops` to `table` atomically; reply whether any delete removed a key.
    Write {
        op: Operation,
        table: Arc<str>,
        ops: Vec<BatchOp>,
        reply: oneshot::Sender<Result<bool>>,
    },
    /// Run a closure in the write transaction (see `transact.rs`).
    Transact {
        run: TxnWork,
        reply: oneshot::Sender<Result<()>>,
    },
    /// Make every earlier commit durable.
    Flush { reply: oneshot::Sender<Result<()>> },
}

pub(crate) struct WriterConfig {
    pub(crate) sync_mode: SyncMode,
    pub(crate) max_group_size: usize,
    pub(crate) spin: Duration,
    pub(crate) group_wait: Duration,
    /// Values are stored with a checksum (see `checksum.rs`).
    pub(crate) checksums: bool,
}

/// Runs until every sender is dropped, then makes the last commits durable (a clean close)
/// and drops the database on this thread.
pub(crate) fn run(
    db: Arc<Database>,
    requests: Receiver<Request>,
    config: WriterConfig,
    counters: Arc<WriterCounters>,
    fault: WriterFault,
    (damaged, shut): (Arc<AtomicBool>, Arc<AtomicBool>),
    activity: &Activity,
) {
    crate::blocking::record_faults_in(&fault);
    let mut policy = SyncPolicy::new(config.sync_mode, Instant::now(), counters.clone());
    let mut group: Vec<Request> = Vec::with_capacity(config.max_group_size);
    let mut last_group_len = 1;
    loop {
        let Some(first) = next_request(&requests, &db, &mut policy, config.spin, activity) else {
            break;
        };
        group.push(first);
        gather(&requests, &mut group, config.max_group_size);
        // An fsync is about to be paid. If the last group was larger, its writers are likely
        // re-submitting right now: wait a moment for them so they share this fsync instead of
        // paying the next one (PostgreSQL's commit_delay, made adaptive). A lone writer never
        // waits.
        let target = last_group_len.min(config.max_group_size);
        let fsync_due = matches!(
            policy.durability_for_next(false, writes_in(&group), Instant::now()),
            Durability::Immediate
        );
        if fsync_due && group.len() < target {
            let deadline = Instant::now() + config.group_wait;
            while group.len() < target && Instant::now() < deadline {
                match requests.try_recv() {
                    Ok(request) => group.push(request),
                    Err(TryRecvError::Empty) => std::thread::yield_now(),
                    Err(TryRecvError::Disconnected) => break,
                }
            }
        }
        // Remember the recent peak, decaying slowly, so one short group (writers that were
        // late) does not shrink every following group.
        last_group_len = group.len().max(last_group_len * 7 / 8).max(1);
        counters.record_group(group.len());
        // redb panics on some damaged pages: the reason is recorded (by the panic hook, before
        // unwinding closes this group's reply channels, so every caller sees it), and the
        // writer stops — after a panic inside a transaction, redb's state is not to be
        // trusted. A write of this group may have committed before the panic: its outcome
        // is unknown to its caller, like any write whose answer was lost.
        if let Err(err) = crate::blocking::catch(Operation::WriteBatch, || {
            commit_group(&db, &mut group, &mut policy, config.checksums)
        }) {
            tracing::error!(error = %err, "redb writer stopped");
            *fault.lock() = Some(err.to_string());
            group.clear();
            // After a panic inside a transaction redb's state is not to be trusted.
            damaged.store(true, Ordering::SeqCst);
            shutdown(db, &fault, &damaged, &shut);
            return;
        }
    }
    if policy.has_unsynced()
        && let Err(err) = commit_empty(&db, Durability::Immediate, &counters)
    {
        tracing::error!(error = %err, "redb: final fsync at close failed");
        *fault.lock() = Some(format!("the final fsync at close failed: {err}"));
    }
    shutdown(db, &fault, &damaged, &shut);
}

/// Releases the database when the writer ends. redb's close commits its allocator state, and
/// on damaged pages that commit can panic twice and abort the process (see `crate::storage`).
/// So once the store has met damaged data (a value failing its checksum, redb reporting
/// corruption, a panic caught inside redb) the storage is shut first: redb's closing commit
/// then fails on I/O instead of walking bad pages, and the file is released — left as after
/// a crash, for the next open to repair. Otherwise the close runs under the panic catch. A
/// failure either way is the writer's fault, which `close()` reports.
fn shutdown(db: Arc<Database>, fault: &WriterFault, damaged: &AtomicBool, shut: &AtomicBool) {
    if damaged.load(Ordering::SeqCst) {
        shut.store(true, Ordering::SeqCst);
        fault.lock().get_or_insert_with(|| {
            "the store met damaged data: closed without redb's final commit".to_string()
        });
    }
    // A read still in flight holds a reference; redb closes when the last one goes.
    let Ok(db) = Arc::try_unwrap(db) else { return };
    let why = match crate::blocking::catch(Operation::Close, || db.close()) {
        Ok(Ok(())) => return,
        Ok(Err(err)) => format!("closing the redb file failed: {err}"),
        Err(err) => err.to_string(),
    };
    if !damaged.load(Ordering::SeqCst) {
        tracing::error!(error = %why, "redb: close failed");
    }
    fault.lock().get_or_insert(why);
}

/// The writes (puts, deletes, batches) among `group`'s requests.
fn writes_in(group: &[Request]) -> usize {
    group
        .iter()
        .filter(|r| matches!(r, Request::Write { .. } | Request::Transact { .. }))
        .count()
}

/// Moves every request already queued into `group`, up to `max` in all.
fn gather(requests: &Receiver<Request>, group: &mut Vec<Request>, max: usize) {
    while group.len() < max {
        match requests.try_recv() {
            Ok(request) => group.push(request),
            Err(_) => break,
        }
    }
}

/// What the writer's idle spin ended with.
enum Spun {
    Got(Request),
    Gone,
    /// Nothing came within the spin, or a read in flight needs the CPU.
    Idle,
}

/// Spins up to `spin` for the next request, giving up at once while a read is in flight.
fn spin_for_request(requests: &Receiver<Request>, spin: Duration, activity: &Activity) -> Spun {
    if spin.is_zero() {
        return Spun::Idle;
    }
    let until = Instant::now() + spin;
    loop {
        match requests.try_recv() {
            Ok(request) => return Spun::Got(request),
            Err(TryRecvError::Disconnected) => return Spun::Gone,
            Err(TryRecvError::Empty) if activity.reads() > 0 || Instant::now() >= until => {
                return Spun::Idle;
            }
            Err(TryRecvError::Empty) => std::hint::spin_loop(),
        }
    }
}

/// Waits for the next request: spins briefly (unless a read needs the CPU: see
/// `activity.rs`), then sleeps, waking to fsync for `Normal`'s interval or `Checkpoint`'s
/// idle checkpoint.
/// Returns `None` once every sender is gone.
fn next_request(
    requests: &Receiver<Request>,
    db: &Database,
    policy: &mut SyncPolicy,
    spin: Duration,
    activity: &Activity,
) -> Option<Request> {
    match spin_for_request(requests, spin, activity) {
        Spun::Got(request) => return Some(request),
        Spun::Gone => return None,
        Spun::Idle => {}
    }
    loop {
        let Some(deadline) = policy.idle_deadline() else {
            return requests.recv().ok();
        };
        match requests.recv_deadline(deadline) {
            Ok(request) => return Some(request),
            Err(RecvTimeoutError::Disconnected) => return None,
            Err(RecvTimeoutError::Timeout) => {
                match commit_empty(db, Durability::Immediate, &policy.counters()) {
                    Ok(()) => policy.committed(Durability::Immediate, 0, Instant::now()),
                    Err(err) => {
                        tracing::warn!(error = %err, "redb: interval fsync failed");
                        return requests.recv().ok();
                    }
                }
            }
        }
    }
}

/// Commits a group and answers every caller in it; empties `group`.
fn commit_group(db: &Database, group: &mut Vec<Request>, policy: &mut SyncPolicy, checksums: bool) {
    let flush_requested = group.iter().any(|r| matches!(r, Request::Flush { .. }));
    let writes = writes_in(group);
    let durability = policy.durability_for_next(flush_requested, writes, Instant::now());

    if writes == 0 {
        // Only flushes: one empty durable commit if anything is unsynced.
        let result = if policy.has_unsynced() {
            commit_empty(db, Durability::Immediate, &policy.counters())
        } else {
            Ok(())
        };
        if result.is_ok() && policy.has_unsynced() {
            policy.committed(Durability::Immediate, 0, Instant::now());
        }
        answer_flushes(group.drain(..), &result);
        return;
    }

    match apply_in_one_transaction(
        db,
        group.iter_mut(),
        durability,
        checksums,
        &policy.counters(),
    ) {
        Ok(outcomes) => {
            policy.committed(durability, writes, Instant::now());
            let mut outcomes = outcomes.into_iter();
            for request in group.drain(..) {
                match request {
                    Request::Write { reply, .. } => {
                        let _ = reply.send(Ok(outcomes.next().unwrap_or(false)));
                    }
                    Request::Transact { reply, .. } => {
                        outcomes.next();
                        let _ = reply.send(Ok(()));
                    }
                    Request::Flush { reply } => {
                        let _ = reply.send(Ok(()));
                    }
                }
            }
        }
        Err(group_error) if writes > 1 => {
            // Somebody's write failed the shared transaction. Retry each alone, so that
            // every caller gets the outcome of its own write and batches stay atomic.
            tracing::debug!(error = %group_error, writes, "redb: group commit failed, isolating writes");
            let mut flushes = Vec::new();
            for request in group.drain(..) {
                match request {
                    Request::Write {
                        op,
                        table,
                        ops,
                        reply,
                    } => {
                        let single = Request::Write {
                            op,
                            table,
                            ops,
                            reply: oneshot::channel().0,
                        };
                        let _ = reply.send(commit_alone(
                            db,
                            policy,
                            flush_requested,
                            checksums,
                            single,
                        ));
                    }
                    Request::Transact { run, reply } => {
                        let single = Request::Transact {
                            run,
                            reply: oneshot::channel().0,
                        };
                        let result = commit_alone(db, policy, flush_requested, checksums, single);
                        let _ = reply.send(result.map(|_| ()));
                    }
                    flush @ Request::Flush { .. } => flushes.push(flush),
                }
            }
            let result = if policy.has_unsynced() && !flushes.is_empty() {
                commit_empty(db, Durability::Immediate, &policy.counters())
                    .inspect(|_| policy.committed(Durability::Immediate, 0, Instant::now()))
            } else {
                Ok(())
            };
            answer_flushes(flushes.into_iter(), &result);
        }
        Err(err) => {
            for request in group.drain(..) {
                match request {
                    Request::Write { reply, .. } => {
                        let _ = reply.send(Err(clone_error(&err)));
                    }
                    Request::Transact { reply, .. } | Request::Flush { reply } => {
                        let _ = reply.send(Err(clone_error(&err)));
                    }
                }
            }
        }
    }
}

/// Commits one write on its own (after its group failed); whether a delete removed a key.
fn commit_alone(
    db: &Database,
    policy: &mut SyncPolicy,
    flush_requested: bool,
    checksums: bool,
    mut single: Request,
) -> Result<bool> {
    let d = policy.durability_for_next(flush_requested, 1, Instant::now());
    let result = apply_in_one_transaction(
        db,
        std::iter::once(&mut single),
        d,
        checksums,
        &policy.counters(),
    );
    if result.is_ok() {
        policy.committed(d, 1, Instant::now());
    }
    result.map(|o| o.first().copied().unwrap_or(false))
}

fn answer_flushes(flushes: impl Iterator<Item = Request>, result: &Result<()>) {
    for request in flushes {
        if let Request::Flush { reply } = request {
            let _ = reply.send(result.as_ref().map(|_| ()).map_err(clone_error));
        }
    }
}

fn clone_error(err: &Error) -> Error {
    err.clone()
}

/// Applies the writes among `requests` in one transaction committed with `durability`.
/// Returns, per write request in order, whether any of its deletes removed a key (always
/// `false` for a transaction closure).
fn apply_in_one_transaction<'r>(
    db: &Database,
    requests: impl Iterator<Item = &'r mut Request>,
    durability: Durability,
    checksums: bool,
    counters: &WriterCounters,
) -> Result<Vec<bool>> {
    let op = Operation::WriteBatch;
    let mut txn = db.begin_write().map_err(|e| redb_error(op, e))?;
    txn.set_durability(durability)
        .map_err(|e| redb_error(op, e))?;
    let mut outcomes = Vec::new();
    {
        let file = std::ptr::from_ref(db) as usize;
        let mut tables = Txn::new(&txn, checksums, file);
        for request in requests {
            match request {
                Request::Write { op, table, ops, .. } => {
                    let mut removed = false;
                    for batch_op in ops.iter() {
                        match batch_op {
                            BatchOp::Put { key, value } => {
                                tables.insert(*op, table, key, value)?;
                            }
                            BatchOp::Delete { key } => {
                                removed |= tables.remove(*op, table, key)?;
                            }
                        }
                    }
                    outcomes.push(removed);
                }
                Request::Transact { run, .. } => {
                    match crate::blocking::catch_caller(op, || run(&mut tables)) {
                        Ok(result) => result?,
                        // redb panicked inside the closure (a damaged page): its state is not
                        // to be trusted — stop the writer, as for any panic inside redb.
                        Err(e) if e.kind() == strata::ErrorKind::Corrupted => {
                            std::panic::resume_unwind(Box::new(e.to_string()))
                        }
                        // A panic in the caller's own code fails its request, not the writer.
                        Err(e) => return Err(e),
                    }
                    outcomes.push(false);
                }
                Request::Flush { .. } => {}
            }
        }
    }
    commit_published(counters, || txn.commit()).map_err(|e| redb_error(op, e))?;
    Ok(outcomes)
}

/// Runs `commit` between the two marks of `WriterCounters::published`, so a reader thread
/// never keeps a snapshot older than a commit another reader may already see.
fn commit_published<T>(counters: &WriterCounters, commit: impl FnOnce() -> T) -> T {
    counters.begin_commit();
    let outcome = commit();
    counters.end_commit();
    outcome
}

/// An empty commit; with `Immediate` it makes every earlier `None` commit durable.
/// A panic inside redb here is caught (and recorded as the writer's fault by the hook).
fn commit_empty(db: &Database, durability: Durability, counters: &WriterCounters) -> Result<()> {
    let op = Operation::Flush;
    crate::blocking::catch(op, || {
        let mut txn = db.begin_write().map_err(|e| redb_error(op, e))?;
        txn.set_durability(durability)
            .map_err(|e| redb_error(op, e))?;
        commit_published(counters, || txn.commit()).map_err(|e| redb_error(op, e))
    })?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activity::Kind;

    #[test]
    fn the_idle_writer_stops_spinning_while_a_read_is_in_flight() {
        let (_tx, rx) = crossbeam_channel::unbounded::<Request>();
        let activity = Activity::default();
        let read = activity.enter(Kind::Read);
        let start = Instant::now();
        assert!(matches!(
            spin_for_request(&rx, Duration::from_secs(2), &activity),
            Spun::Idle
        ));
        assert!(
            start.elapsed() < Duration::from_millis(500),
            "{:?}",
            start.elapsed()
        );
        drop(read);
        // With nothing else in flight it spins its whole spin.
        let start = Instant::now();
        assert!(matches!(
            spin_for_request(&rx, Duration::from_millis(30), &activity),
            Spun::Idle
        ));
        assert!(start.elapsed() >= Duration::from_millis(30));
    }
}
