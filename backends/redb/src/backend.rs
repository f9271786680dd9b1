//! `RedbBackend`: the handle users hold, reads via the reader threads, writes via the writer.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::thread::JoinHandle;

use bytes::Bytes;
use crossbeam_channel::Sender;
use redb::Database;
use strata::validate::{check_batch, check_key, check_keyspace_name, check_put};
use strata::{
    BatchOp, Capabilities, DEFAULT_KEYSPACE, Error, ErrorKind, KeyRange, Operation, Result,
    StorageBackend, SyncMode, WriteBatch,
};
use tokio::sync::oneshot;

use crate::activity::{Activity, Kind};
use crate::blocking;
use crate::config::{RedbBuilder, RedbConfig};
use crate::error::{WriterFault, redb_error, writer_gone};
use crate::stats::{RedbStats, WriterCounters};
use crate::writer::{self, Request, WriterConfig};

/// Prefix of the redb tables holding keyspaces; other prefixes are kept for internal tables.
pub(crate) const KEYSPACE_TABLE_PREFIX: &str = "kv.";

/// A key-value store in one redb file: local, crash-safe, ordered.
///
/// Reads run on the store's reader threads, which keep a read transaction open until the
/// next commit; all writes go through one writer thread that gathers concurrent writes into
/// one transaction (group commit) and fsyncs as the [`SyncMode`] says. No redb call ever runs
/// on an async runtime's worker thread.
///
/// Clones and [`keyspace`](StorageBackend::keyspace) handles share the file. The file closes
/// when the last handle is dropped: the writer makes pending commits durable first (a clean
/// close), so dropping the last handle may block for one fsync; call
/// [`close`](RedbBackend::close) to do that without blocking.
#[derive(Clone)]
pub struct RedbBackend {
    pub(crate) table: Arc<str>,
    shared: Arc<Shared>,
}

struct Shared {
    /// `None` only while dropping, so the writer thread drops the last reference.
    db: Option<Arc<Database>>,
    requests: Option<Sender<Request>>,
    writer: Option<JoinHandle<()>>,
    /// Stopped before the writer: they hold the database too.
    readers: crate::reader::Readers,
    caps: Capabilities,
    config: RedbConfig,
    counters: Arc<WriterCounters>,
    /// Why the writer stopped, if it stopped on a fault (a panic, a failed final fsync).
    fault: WriterFault,
    /// Values carry checksums (every store created since they exist).
    checksums: bool,
    /// Reads and writes sent and not yet answered (see `activity.rs`).
    activity: Arc<Activity>,
    /// Set once any call met damaged data: the writer then leaves the file without redb's
    /// final commit (see `writer::shutdown`).
    damaged: Arc<std::sync::atomic::AtomicBool>,
}

impl RedbBackend {
    /// A builder for a store in the file at `path` (created if missing).
    pub fn builder(path: impl Into<std::path::PathBuf>) -> RedbBuilder {
        RedbBuilder::new(path)
    }

    pub(crate) fn open_with(
        config: RedbConfig,
        storage: Option<Box<dyn redb::StorageBackend>>,
    ) -> Result<Self> {
        config.validate()?;
        // redb would take an empty file for a new store: that hides a lost or truncated file.
        if storage.is_none()
            && !config.create_over_empty_file
            && let Ok(meta) = std::fs::metadata(&config.path)
            && meta.len() == 0
        {
            return Err(Error::new(
                ErrorKind::Corrupted,
                Operation::Open,
                "the file is empty, not a redb store (delete it, or open with create_over_empty_file, to start a new store)",
            )
            .with_context("backend", "redb")
            .with_context("path", config.path.display()));
        }
        let mut builder = Database::builder();
        builder.set_cache_size(config.cache_size);
        if config.shared_reads {
            builder.set_concurrency_mode(redb::ConcurrencyMode::SingleWriter);
        }
        let open_error = |e: redb::Error| {
            redb_error(Operation::Open, e).with_context("path", config.path.display())
        };
        let storage: Box<dyn redb::StorageBackend> = match storage {
            Some(storage) => storage,
            // What `Builder::create(path)` does, with the file backend in our hands.
            None => {
                let file = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(&config.path)
                    .map_err(|e| open_error(redb::StorageError::Io(e).into()))?;
                Box::new(redb::backends::FileBackend::new(file).map_err(|e| open_error(e.into()))?)
            }
        };
        let shut = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let gated = crate::storage::GatedStorage::new(storage, shut.clone());
        let mut db = builder
            .create_with_backend(gated)
            .map_err(|e| open_error(e.into()))?;
        if config.verify_on_open {
            match db.check_integrity() {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(path = %config.path.display(), "redb: damage found at open and repaired")
                }
                Err(e) => {
                    // Leave the damaged file without redb's closing commit (see
                    // `writer::shutdown`).
                    std::mem::forget(db);
                    return Err(
                        redb_error(Operation::Open, e).with_context("path", config.path.display())
                    );
                }
            }
        }
        let checksums =
            crate::checksum::settle_format(&db, KEYSPACE_TABLE_PREFIX, config.checksums)
                .map_err(|e| e.with_context("path", config.path.display()))?;
        let db = Arc::new(db);
        let (tx, rx) = crossbeam_channel::unbounded();
        let writer_config = WriterConfig {
            checksums,
            sync_mode: config.sync_mode,
            max_group_size: config.max_group_size,
            spin: config.writer_spin,
            group_wait: config.group_wait,
        };
        let writer_db = db.clone();
        let activity = Arc::new(Activity::default());
        let counters = Arc::new(WriterCounters::default());
        let fault = WriterFault::default();
        let damaged = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = std::thread::Builder::new()
            .name("strata-redb-writer".into())
            .spawn({
                let (counters, fault, damaged) = (counters.clone(), fault.clone(), damaged.clone());
                let shut = shut.clone();
                let activity = activity.clone();
                move || {
                    writer::run(
                        writer_db,
                        rx,
                        writer_config,
                        counters,
                        fault,
                        (damaged, shut),
                        &activity,
                    )
                }
            })
            .map_err(|e| {
                Error::unexpected(Operation::Open, "cannot start the redb writer thread")
                    .with_source(e)
            })?;
        let readers = crate::reader::Readers::start(
            &db,
            &counters,
            &activity,
            config.reader_threads,
            config.reader_spin,
        )
        .map_err(|e| {
            Error::unexpected(Operation::Open, "cannot start the redb reader threads")
                .with_source(e)
        })?;
        let caps = Capabilities {
            max_key_size: config.max_key_size,
            max_value_size: config.max_value_size,
            persistent: true,
            crash_durable: config.sync_mode.is_crash_durable(),
            ..Capabilities::default()
        };
        let shared = Shared {
            checksums,
            activity,
            damaged,
            counters,
            fault,
            db: Some(db),
            requests: Some(tx),
            writer: Some(writer),
            readers,
            caps,
            config,
        };
        Ok(RedbBackend {
            table: table_name(DEFAULT_KEYSPACE),
            shared: Arc::new(shared),
        })
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &RedbConfig {
        &self.shared.config
    }

    /// Counters of the write path (commits, fsyncs, group sizes) since the store was opened.
    pub fn stats(&self) -> RedbStats {
        self.shared.counters.snapshot()
    }

    /// The sync mode in force.
    pub fn sync_mode(&self) -> SyncMode {
        self.shared.config.sync_mode
    }

    /// The keyspace this handle addresses.
    pub fn keyspace_name(&self) -> &str {
        self.table
            .strip_prefix(KEYSPACE_TABLE_PREFIX)
            .or_else(|| {
                self.table
                    .strip_prefix(crate::transact::SYSTEM_TABLE_PREFIX)
            })
            .unwrap_or(&self.table)
    }

    /// A handle on another table of the same file.
    pub(crate) fn with_table(&self, table: Arc<str>) -> RedbBackend {
        RedbBackend {
            table,
            shared: self.shared.clone(),
        }
    }

    /// The identity of this handle's file (its database's address, as the writer sees it).
    pub(crate) fn file_id(&self) -> usize {
        Arc::as_ptr(&self.db()) as usize
    }

    pub(crate) fn database(&self) -> Arc<Database> {
        self.db()
    }

    pub(crate) fn checksums(&self) -> bool {
        self.shared.checksums
    }

    /// Counts a `transact` in flight until the returned guard drops (see `activity.rs`).
    pub(crate) fn enter_transact(&self) -> crate::activity::OwnedInFlight {
        self.shared.activity.enter_owned(Kind::Write)
    }

    /// How long a caller may spin for its answer before parking (see `send_write_unnoted`):
    /// only alone, and never under `Full`.
    pub(crate) fn answer_spin(
        &self,
        in_flight: &crate::activity::OwnedInFlight,
    ) -> std::time::Duration {
        if in_flight.alone() && !matches!(self.shared.config.sync_mode, SyncMode::Full) {
            self.shared.config.caller_spin
        } else {
            std::time::Duration::ZERO
        }
    }

    pub(crate) fn damage_flag(&self) -> Arc<std::sync::atomic::AtomicBool> {
        self.shared.damaged.clone()
    }

    pub(crate) fn fault(&self) -> &WriterFault {
        &self.shared.fault
    }

    pub(crate) fn send_request(&self, op: Operation, request: Request) -> Result<()> {
        self.send(op, request)
    }

    /// Closes this handle and reports whether everything acknowledged is durable: other
    /// handles keep the file open, so this one flushes (an fsync) and returns its outcome;
    /// the last one also waits (off the runtime) for the writer to finish and release the
    /// file, and reports a writer that died instead of hiding it in a log line.
    ///
    /// Method resolution picks this by-value method on a `RedbBackend` value; on a
    /// `&RedbBackend`, or through `Tiered` / `DynBackend`, the trait's
    /// [`StorageBackend::close`] runs instead: it flushes and reports the same faults but
    /// leaves the file open until the last handle is dropped.
    pub async fn close(self) -> Result<()> {
        let flushed = self.flush().await;
        let RedbBackend { shared, .. } = self;
        let Some(mut shared) = Arc::into_inner(shared) else {
            return flushed;
        };
        let stopped = blocking::run(Operation::Close, move || shared.stop_writer()).await?;
        flushed.and(stopped)
    }

    fn db(&self) -> Arc<Database> {
        // `db` is only taken in `Drop`, when no handle exists any more.
        self.shared
            .db
            .clone()
            .expect("database present while a handle exists")
    }

    async fn send_write(&self, op: Operation, ops: Vec<BatchOp>) -> Result<bool> {
        let result = self.send_write_unnoted(op, ops).await;
        self.note_damage(&result);
        result
    }

    async fn send_write_unnoted(&self, op: Operation, ops: Vec<BatchOp>) -> Result<bool> {
        let (reply, mut answer) = oneshot::channel();
        let request = Request::Write {
            op,
            table: self.table.clone(),
            ops,
            reply,
        };
        let in_flight = self.shared.activity.enter(Kind::Write);
        self.send(op, request)?;
        // A lone writer whose commit will not fsync gets its answer within microseconds:
        // waiting a bounded moment for it saves parking and waking this thread, which costs
        // more than the commit itself. Never under `Full` (an fsync takes far longer) and
        // never with other calls in flight (their group commit or reads need the CPU: see
        // `activity.rs`).
        let spin = self.shared.config.caller_spin;
        if !spin.is_zero()
            && in_flight.alone()
            && !matches!(self.shared.config.sync_mode, SyncMode::Full)
        {
            let until = std::time::Instant::now() + spin;
            loop {
                match answer.try_recv() {
                    Ok(result) => return result,
                    Err(oneshot::error::TryRecvError::Closed) => {
                        return Err(writer_gone(op, &self.shared.fault));
                    }
                    Err(oneshot::error::TryRecvError::Empty)
                        if std::time::Instant::now() >= until =>
                    {
                        break;
                    }
                    Err(oneshot::error::TryRecvError::Empty) => std::hint::spin_loop(),
                }
            }
        }
        answer
            .await
            .map_err(|_| writer_gone(op, &self.shared.fault))?
    }

    fn send(&self, op: Operation, request: Request) -> Result<()> {
        match &self.shared.requests {
            Some(tx) => tx
                .send(request)
                .map_err(|_| writer_gone(op, &self.shared.fault)),
            None => Err(writer_gone(op, &self.shared.fault)),
        }
    }

    /// Runs a read closure against this keyspace's table on a reader thread, in the latest
    /// published snapshot.
    async fn read<T, F>(&self, op: Operation, f: F) -> Result<T>
    where
        F: FnOnce(Option<&crate::reader::ReadTable>) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let spin = self.shared.config.caller_spin;
        let result = self
            .shared
            .readers
            .run(op, self.table.clone(), spin, f)
            .await
            .map_err(|e| e.with_operation(op));
        self.note_damage(&result);
        result
    }

    /// Remembers that the store met damaged data (see `Shared::damaged`).
    pub(crate) fn note_damage<T>(&self, result: &Result<T>) {
        if result
            .as_ref()
            .is_err_and(|e| e.kind() == ErrorKind::Corrupted)
        {
            self.shared
                .damaged
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

/// The value a stored value holds: checked and stripped of its checksum when the store has
/// them, as stored otherwise.
pub(crate) fn stored_value(
    checksums: bool,
    op: Operation,
    key: &[u8],
    stored: &[u8],
) -> Result<Bytes> {
    if checksums {
        crate::checksum::unseal(op, key, stored)
    } else {
        Ok(Bytes::copy_from_slice(stored))
    }
}

fn table_name(keyspace: &str) -> Arc<str> {
    Arc::from(format!("{KEYSPACE_TABLE_PREFIX}{keyspace}"))
}

impl Shared {
    /// Hands the last database reference to the writer, closes its channel, and waits: once
    /// the join returns, pending commits are durable and the file lock is released.
    fn stop_writer(&mut self) -> Result<()> {
        self.readers.stop();
        self.db.take();
        self.requests.take();
        match self.writer.take().map(JoinHandle::join) {
            Some(Err(panic)) => {
                let why = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("no message");
                Err(Error::unexpected(
                    Operation::Close,
                    format!("the redb writer thread panicked: {why}"),
                )
                .with_context("backend", "redb"))
            }
            _ => match self.fault.lock().clone() {
                Some(why) => Err(Error::unexpected(
                    Operation::Close,
                    format!("the redb writer failed: {why}"),
                )
                .with_context("backend", "redb")),
                None => Ok(()),
            },
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Err(e) = self.stop_writer() {
            tracing::error!("{e}");
        }
    }
}

impl fmt::Debug for RedbBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedbBackend")
            .field("path", &self.shared.config.path)
            .field("keyspace", &self.keyspace_name())
            .field("sync_mode", &self.shared.config.sync_mode)
            .finish()
    }
}

impl StorageBackend for RedbBackend {
    fn capabilities(&self) -> Capabilities {
        self.shared.caps
    }

    fn keyspace(&self, name: &str) -> Result<Self> {
        check_keyspace_name(name)?;
        Ok(RedbBackend {
            table: table_name(name),
            shared: self.shared.clone(),
        })
    }

    fn get(&self, key: &[u8]) -> impl Future<Output = Result<Option<Bytes>>> + Send {
        let checked = check_key(&self.shared.caps, Operation::Get, key);
        let key = key.to_vec();
        async move {
            checked?;
            let checksums = self.shared.checksums;
            self.read(Operation::Get, move |table| {
                let Some(table) = table else { return Ok(None) };
                let value = table
                    .get(key.as_slice())
                    .map_err(|e| redb_error(Operation::Get, e))?;
                value
                    .map(|v| stored_value(checksums, Operation::Get, &key, v.value()))
                    .transpose()
            })
            .await
        }
    }

    fn get_many(&self, keys: &[Bytes]) -> impl Future<Output = Result<Vec<Option<Bytes>>>> + Send {
        let checked = keys
            .iter()
            .try_for_each(|k| check_key(&self.shared.caps, Operation::GetMany, k));
        let keys = keys.to_vec();
        async move {
            checked?;
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let checksums = self.shared.checksums;
            self.read(Operation::GetMany, move |table| {
                let Some(table) = table else {
                    return Ok(vec![None; keys.len()]);
                };
                let op = Operation::GetMany;
                keys.iter()
                    .map(|k| {
                        let value = table.get(k.as_ref()).map_err(|e| redb_error(op, e))?;
                        value
                            .map(|v| stored_value(checksums, op, k, v.value()))
                            .transpose()
                    })
                    .collect()
            })
            .await
        }
    }

    async fn put(&self, key: Bytes, value: Bytes) -> Result<()> {
        check_put(&self.shared.caps, Operation::Put, &key, &value)?;
        self.send_write(Operation::Put, vec![BatchOp::Put { key, value }])
            .await
            .map(|_| ())
    }

    fn delete(&self, key: &[u8]) -> impl Future<Output = Result<bool>> + Send {
        let checked = check_key(&self.shared.caps, Operation::Delete, key);
        let key = Bytes::copy_from_slice(key);
        async move {
            checked?;
            self.send_write(Operation::Delete, vec![BatchOp::Delete { key }])
                .await
        }
    }

    async fn write_batch(&self, batch: WriteBatch) -> Result<()> {
        check_batch(&self.shared.caps, &batch)?;
        if batch.is_empty() {
            return Ok(());
        }
        self.send_write(Operation::WriteBatch, batch.into_ops())
            .await
            .map(|_| ())
    }

    async fn scan(&self, range: KeyRange, limit: Option<usize>) -> Result<Vec<(Bytes, Bytes)>> {
        let limit = limit.unwrap_or(usize::MAX);
        if range.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let checksums = self.shared.checksums;
        self.read(Operation::Scan, move |table| {
            let Some(table) = table else {
                return Ok(Vec::new());
            };
            let op = Operation::Scan;
            // Each key and value in its own buffer: a caller that keeps one pair (a cache
            // filled from a scan, `Bounded` keeping every key at open) must not keep the
            // rest of the scan alive with it.
            let mut out = Vec::with_capacity(limit.min(128));
            for entry in table
                .range::<&[u8]>(range.as_bounds())
                .map_err(|e| redb_error(op, e))?
            {
                let (k, v) = entry.map_err(|e| redb_error(op, e))?;
                let value = if checksums {
                    crate::checksum::checked(op, k.value(), v.value())?
                } else {
                    v.value()
                };
                out.push((
                    Bytes::copy_from_slice(k.value()),
                    Bytes::copy_from_slice(value),
                ));
                if out.len() >= limit {
                    break;
                }
            }
            Ok(out)
        })
        .await
    }

    /// Flushes (an fsync of everything acknowledged) and reports the outcome, including a
    /// writer that has stopped; the file stays open for other handles. The inherent
    /// [`RedbBackend::close`], which takes the handle, also releases the file when it is the
    /// last one.
    async fn close(&self) -> Result<()> {
        self.flush().await
    }

    async fn flush(&self) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.send(Operation::Flush, Request::Flush { reply })?;
        answer
            .await
            .map_err(|_| writer_gone(Operation::Flush, &self.shared.fault))?
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    use strata::SyncMode;

    use super::RedbBackend;

    #[test]
    fn a_spin_over_10_ms_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        for builder in [
            RedbBackend::builder(&path).caller_spin(Duration::from_millis(11)),
            RedbBackend::builder(&path).reader_spin(Duration::MAX),
            RedbBackend::builder(&path).writer_spin(Duration::from_secs(1)),
        ] {
            let err = builder.open_blocking().unwrap_err();
            assert_eq!(err.kind(), strata::ErrorKind::InvalidInput, "{err}");
        }
        let ok = RedbBackend::builder(&path).caller_spin(Duration::from_millis(10));
        assert!(ok.open_blocking().is_ok());
    }

    /// A `transact` running in the writer is a write in flight like a put: idle readers stop
    /// spinning for it and read callers do not think themselves alone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_transact_in_flight_counts_as_a_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbBackend::builder(dir.path().join("s.redb"))
            .sync_mode(SyncMode::Off)
            .open()
            .await
            .unwrap();
        let (started, release) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let (s, r) = (started.clone(), release.clone());
        let done = store.transact(move |_txn| {
            s.store(true, Ordering::SeqCst);
            let until = Instant::now() + Duration::from_secs(5);
            while !r.load(Ordering::SeqCst) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(())
        });
        let until = Instant::now() + Duration::from_secs(5);
        while !started.load(Ordering::SeqCst) && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(
            started.load(Ordering::SeqCst),
            "the transact ran within 5 s"
        );
        let writes = store.shared.activity.writes();
        release.store(true, Ordering::SeqCst);
        tokio::time::timeout(Duration::from_secs(5), done)
            .await
            .expect("the transact finished")
            .unwrap();
        assert_eq!(
            writes, 1,
            "a transact in the writer counts as a write in flight"
        );
        assert_eq!(
            store.shared.activity.total(),
            0,
            "and stops counting when done"
        );
    }
}
