//! Atomic read-modify-write across keyspaces, for layers built on a store (sync's outbox).
//!
//! [`RedbBackend::transact`] runs a closure on the writer thread inside the write
//! transaction of its group commit: what it writes to any keyspace of the file commits
//! together, durably as the store's [`SyncMode`](strata::SyncMode) says, and what it reads
//! includes every write committed or grouped before it. [`RedbBackend::read_snapshot`] runs a
//! closure over one read transaction, off the runtime. Tables are named by [`TableRef`]s (not
//! handles: a handle dropped on the writer thread could be the file's last and would join the
//! writer from itself).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use redb::{
    ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableError,
    WriteTransaction,
};
use strata::{Error, KeyRange, Operation, Result};
use tokio::sync::oneshot;

use crate::backend::RedbBackend;
use crate::error::{redb_error, writer_gone};
use crate::writer::{KvTable, Request, table_def};

/// Names one keyspace (or system table) of one file, for [`Txn`] and [`Snapshot`] calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableRef {
    pub(crate) table: Arc<str>,
    /// Identity of the file's shared state: a `TableRef` of another file is refused.
    pub(crate) file: usize,
}

/// The work a [`RedbBackend::transact`] closure does, boxed for the writer's queue. It may
/// run more than once (a group that fails is retried one request at a time), each time in a
/// fresh transaction.
pub(crate) type TxnWork = Box<dyn FnMut(&mut Txn<'_>) -> Result<()> + Send>;

/// One write transaction, as a [`RedbBackend::transact`] closure sees it.
pub struct Txn<'t> {
    txn: &'t WriteTransaction,
    tables: Vec<(Arc<str>, KvTable<'t>)>,
    checksums: bool,
    file: usize,
}

impl<'t> Txn<'t> {
    pub(crate) fn new(txn: &'t WriteTransaction, checksums: bool, file: usize) -> Self {
        Txn {
            txn,
            tables: Vec::with_capacity(2),
            checksums,
            file,
        }
    }

    /// The table `name`, opened once per transaction (a short list beats hashing: a group
    /// touches one or a few).
    pub(crate) fn table(&mut self, op: Operation, name: &Arc<str>) -> Result<&mut KvTable<'t>> {
        let index = match self.tables.iter().position(|(n, _)| n == name) {
            Some(index) => index,
            None => {
                let opened = self
                    .txn
                    .open_table(table_def(name))
                    .map_err(|e| redb_error(op, e))?;
                self.tables.push((name.clone(), opened));
                self.tables.len() - 1
            }
        };
        Ok(&mut self.tables[index].1)
    }

    fn check(&self, table: &TableRef) -> Result<()> {
        if table.file == self.file {
            Ok(())
        } else {
            Err(Error::invalid_input(
                Operation::WriteBatch,
                "a TableRef of another store was used in a transaction",
            )
            .with_context("backend", "redb"))
        }
    }

    /// The value stored under `key`, checked against its checksum.
    pub fn get(&mut self, table: &TableRef, key: &[u8]) -> Result<Option<Bytes>> {
        self.check(table)?;
        let op = Operation::Get;
        let checksums = self.checksums;
        let kv = self.table(op, &table.table)?;
        let stored = kv.get(key).map_err(|e| redb_error(op, e))?;
        stored
            .map(|v| crate::backend::stored_value(checksums, op, key, v.value()))
            .transpose()
    }

    /// Stores `value` under `key`.
    pub fn put(&mut self, table: &TableRef, key: &[u8], value: &[u8]) -> Result<()> {
        self.check(table)?;
        self.insert(Operation::Put, &table.table, key, value)
    }

    pub(crate) fn insert(
        &mut self,
        op: Operation,
        table: &Arc<str>,
        key: &[u8],
        value: &[u8],
    ) -> Result<()> {
        let checksums = self.checksums;
        let kv = self.table(op, table)?;
        if checksums {
            let sealed = crate::checksum::seal(key, value);
            kv.insert(key, sealed.as_slice())
        } else {
            kv.insert(key, value)
        }
        .map(|_| ())
        .map_err(|e| redb_error(op, e).with_key(key))
    }

    /// Removes `key`; whether it was there.
    pub fn delete(&mut self, table: &TableRef, key: &[u8]) -> Result<bool> {
        self.check(table)?;
        self.remove(Operation::Delete, &table.table, key)
    }

    /// Removes every entry of `table` (the table itself goes; it is made again on first use).
    pub fn clear(&mut self, table: &TableRef) -> Result<()> {
        self.check(table)?;
        self.tables.retain(|(name, _)| *name != table.table);
        self.txn
            .delete_table(table_def(&table.table))
            .map(|_| ())
            .map_err(|e| redb_error(Operation::WriteBatch, e))
    }

    pub(crate) fn remove(&mut self, op: Operation, table: &Arc<str>, key: &[u8]) -> Result<bool> {
        let kv = self.table(op, table)?;
        kv.remove(key)
            .map(|old| old.is_some())
            .map_err(|e| redb_error(op, e).with_key(key))
    }
}

/// One read transaction, as a [`RedbBackend::read_snapshot`] closure sees it: every call reads
/// the same committed state.
pub struct Snapshot {
    txn: ReadTransaction,
    checksums: bool,
    file: usize,
}

impl Snapshot {
    pub(crate) fn new(txn: ReadTransaction, checksums: bool, file: usize) -> Self {
        Snapshot {
            txn,
            checksums,
            file,
        }
    }

    fn open(
        &self,
        op: Operation,
        table: &TableRef,
    ) -> Result<Option<redb::ReadOnlyTable<&'static [u8], &'static [u8]>>> {
        if table.file != self.file {
            return Err(Error::invalid_input(
                op,
                "a TableRef of another store was used in a snapshot",
            ));
        }
        match self.txn.open_table(table_def(&table.table)) {
            Ok(t) => Ok(Some(t)),
            Err(TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(redb_error(op, e)),
        }
    }

    /// The value stored under `key`.
    pub fn get(&self, table: &TableRef, key: &[u8]) -> Result<Option<Bytes>> {
        let op = Operation::Get;
        let Some(kv) = self.open(op, table)? else {
            return Ok(None);
        };
        let stored = kv.get(key).map_err(|e| redb_error(op, e))?;
        stored
            .map(|v| crate::backend::stored_value(self.checksums, op, key, v.value()))
            .transpose()
    }

    /// Up to `limit` entries of `range`, in key order.
    pub fn scan(
        &self,
        table: &TableRef,
        range: &KeyRange,
        limit: usize,
    ) -> Result<Vec<(Bytes, Bytes)>> {
        let op = Operation::Scan;
        let Some(kv) = self.open(op, table)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        if range.is_empty() || limit == 0 {
            return Ok(out);
        }
        for entry in kv
            .range::<&[u8]>(range.as_bounds())
            .map_err(|e| redb_error(op, e))?
        {
            let (k, v) = entry.map_err(|e| redb_error(op, e))?;
            let value = crate::backend::stored_value(self.checksums, op, k.value(), v.value())?;
            out.push((Bytes::copy_from_slice(k.value()), value));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// The number of entries in `table`.
    pub fn len(&self, table: &TableRef) -> Result<u64> {
        let op = Operation::Scan;
        match self.open(op, table)? {
            Some(kv) => kv.len().map_err(|e| redb_error(op, e)),
            None => Ok(0),
        }
    }
}

impl RedbBackend {
    /// A name for this handle's keyspace in [`Txn`] and [`Snapshot`] calls.
    pub fn table_ref(&self) -> TableRef {
        TableRef {
            table: self.table.clone(),
            file: self.file_id(),
        }
    }

    /// A handle on a system table named `name`: a keyspace that
    /// [`keyspace`](strata::StorageBackend::keyspace) cannot reach, for layers that keep
    /// their own state in the store's file (sync keeps its outbox and cursor there).
    pub fn system_table(&self, name: &str) -> Result<RedbBackend> {
        strata::validate::check_keyspace_name(name)?;
        Ok(self.with_table(Arc::from(format!("{SYSTEM_TABLE_PREFIX}{name}"))))
    }

    /// Runs `work` in the writer's next write transaction (grouped with concurrent writes)
    /// and returns its result once the commit holding it returned — durable as the store's
    /// `SyncMode` says. Everything it writes, in any table of this file, commits together or
    /// not at all: an `Err` from `work` rolls its writes back. `work` may run more than once
    /// (if the group it joined fails it is retried alone, in a fresh transaction), so it must
    /// not have effects outside the transaction.
    ///
    /// The work is queued when this is called, not when the future is first polled, and runs
    /// whether or not the future is awaited. The future holds no handle on the store: a store
    /// whose last handle is dropped while one is pending closes as usual (the writer finishes
    /// the queued work first).
    pub fn transact<T, F>(&self, mut work: F) -> impl Future<Output = Result<T>> + Send + use<T, F>
    where
        F: FnMut(&mut Txn<'_>) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let slot = Arc::new(parking_lot::Mutex::new(None));
        let out = slot.clone();
        let run: TxnWork = Box::new(move |txn| {
            let value = work(txn)?;
            *out.lock() = Some(value);
            Ok(())
        });
        let (reply, answer) = oneshot::channel();
        let op = Operation::WriteBatch;
        // Counted as a write until the future ends or is dropped, like a put: idle readers
        // and read callers give the writer the CPU meanwhile (see `activity.rs`).
        let in_flight = self.enter_transact();
        let sent = self.send_request(op, Request::Transact { run, reply });
        let (fault, damaged) = (self.fault().clone(), self.damage_flag());
        let spin = self.answer_spin(&in_flight);
        async move {
            let _in_flight = in_flight;
            sent?;
            let result = match spin_for(answer, spin) {
                Ok(result) => result,
                Err(answer) => answer.await.map_err(|_| writer_gone(op, &fault))?,
            };
            note_damage(&damaged, &result);
            result?;
            slot.lock()
                .take()
                .ok_or_else(|| Error::unexpected(op, "a committed transaction left no result"))
        }
    }

    /// Runs `read` over one read transaction of the latest commit, off the async runtime.
    /// The read starts when this is called (on tokio's blocking pool; inline without a
    /// runtime), not when the future is polled. Only the read itself holds the database, and
    /// only while it runs: the future holds no handle, so a store whose last handle is dropped
    /// releases its file once reads already running end.
    pub fn read_snapshot<T, F>(&self, read: F) -> impl Future<Output = Result<T>> + Send + use<T, F>
    where
        F: FnOnce(&Snapshot) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let db = self.database();
        let checksums = self.checksums();
        let file = self.file_id();
        let damaged = self.damage_flag();
        let op = Operation::Scan;
        let work = move || {
            let txn = db.begin_read().map_err(|e| redb_error(op, e))?;
            read(&Snapshot {
                txn,
                checksums,
                file,
            })
        };
        let running = run_blocking(op, work);
        async move {
            let result = running.await;
            note_damage(&damaged, &result);
            result
        }
    }
}

/// Starts `work` on tokio's blocking pool (inline without a runtime), catching a redb panic
/// as an error; the future is its result. The work starts now, not when the future is polled.
pub(crate) fn run_blocking<T, F>(
    op: Operation,
    work: F,
) -> impl Future<Output = Result<T>> + Send + use<T, F>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    let started = match tokio::runtime::Handle::try_current() {
        Ok(runtime) => Err(runtime.spawn_blocking(move || crate::blocking::catch(op, work))),
        Err(_) => Ok(crate::blocking::catch(op, work)),
    };
    async move {
        match started {
            Ok(done) => done,
            Err(task) => task.await.map_err(|join| {
                Error::unexpected(op, "a blocking redb task failed")
                    .with_context("backend", "redb")
                    .with_source(join)
            })?,
        }
        .and_then(|inner| inner)
    }
}

/// Prefix of system tables (see [`RedbBackend::system_table`]).
pub(crate) const SYSTEM_TABLE_PREFIX: &str = "sys.";

/// Waits up to `spin` for an answer without parking (a commit that does not fsync answers
/// within microseconds; parking and waking costs more). The receiver back if none came.
fn spin_for<T>(
    mut answer: oneshot::Receiver<Result<T>>,
    spin: std::time::Duration,
) -> std::result::Result<Result<T>, oneshot::Receiver<Result<T>>> {
    if spin.is_zero() {
        return Err(answer);
    }
    let until = std::time::Instant::now() + spin;
    loop {
        match answer.try_recv() {
            Ok(result) => return Ok(result),
            Err(oneshot::error::TryRecvError::Closed) => return Err(answer),
            Err(oneshot::error::TryRecvError::Empty) if std::time::Instant::now() >= until => {
                return Err(answer);
            }
            Err(oneshot::error::TryRecvError::Empty) => std::hint::spin_loop(),
        }
    }
}

/// Remembers that the store met damaged data (see `backend.rs`, `Shared::damaged`).
fn note_damage<T>(damaged: &AtomicBool, result: &Result<T>) {
    if result
        .as_ref()
        .is_err_and(|e| e.kind() == strata::ErrorKind::Corrupted)
    {
        damaged.store(true, Ordering::SeqCst);
    }
}
