//! `SyncedStore`: a local redb store that is the source of truth for reads and writes, kept
//! in sync with a remote one in the background (write-behind).

use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use strata::validate::{check_batch, check_key, check_keyspace_name, check_put};
use strata::{
    BatchOp, Capabilities, Error, ErrorKind, KeyRange, Operation, Result, StorageBackend,
    WriteBatch,
};
use strata_redb::RedbBackend;
use strata_turso::hlc::{Hlc, unix_ms_of};
use strata_turso::{ClockFile, RecordVersion};
use tokio::sync::Notify;

use crate::config::SyncConfig;
use crate::outbox::{self, Outbox, Tables};
use crate::record::{self, HEADER_LEN};
use crate::remote::SyncRemote;
use crate::status::{Counters, SyncStatus};

/// An offline-first store: every read and write is served by the local redb file and
/// acknowledged under its [`SyncMode`](strata::SyncMode) without waiting for the network;
/// each write also leaves an outbox entry **in the same local transaction**, which a
/// background syncer pushes to the remote (last writer wins on a hybrid logical clock) while
/// pulling what other devices wrote. See the crate docs for the guarantees.
///
/// Clones share the store; [`keyspace`](StorageBackend::keyspace) handles share its file and
/// clock, each keyspace with its own outbox, cursor and syncer.
pub struct SyncedStore<R: SyncRemote> {
    pub(crate) core: Arc<Core<R>>,
    _syncer: Arc<SyncerHandle>,
    /// What every handle of one open shares: its keyspaces (so each has one outbox reader and
    /// one syncer) and its claim on the file.
    open: Arc<Opened<R>>,
}

type OpenKeyspaces<R> = std::collections::HashMap<String, (Weak<Core<R>>, Weak<SyncerHandle>)>;

struct Opened<R> {
    keyspaces: Mutex<OpenKeyspaces<R>>,
    _claim: FileClaim,
}

/// Files a `SyncedStore` is open on in this process. A second open of one file would run a
/// second syncer over the same outbox and resync state (two resyncs sharing one `seen` table
/// can drop records the server holds), and a second clock over the same clock file.
static SYNCED_FILES: std::sync::LazyLock<Mutex<std::collections::HashSet<std::path::PathBuf>>> =
    std::sync::LazyLock::new(Default::default);

/// This process's claim on a store file, released when the last handle of the open goes.
struct FileClaim(std::path::PathBuf);

impl FileClaim {
    fn take(path: &std::path::Path) -> Result<Self> {
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if SYNCED_FILES.lock().insert(path.clone()) {
            Ok(FileClaim(path))
        } else {
            Err(Error::invalid_input(
                Operation::Open,
                "a SyncedStore is already open on this file in this process: share its handles \
                 (clone it, or take keyspaces from it) instead of opening it again",
            )
            .with_context("path", path.display()))
        }
    }
}

impl Drop for FileClaim {
    fn drop(&mut self) {
        SYNCED_FILES.lock().remove(&self.0);
    }
}

impl<R: SyncRemote> Clone for SyncedStore<R> {
    fn clone(&self) -> Self {
        SyncedStore {
            core: self.core.clone(),
            _syncer: self._syncer.clone(),
            open: self.open.clone(),
        }
    }
}

/// Stops the background syncer when the last handle on its keyspace goes. The syncer holds
/// no handle on the local store between rounds, and a round holds none across its waits (see
/// `syncer.rs`), so dropping the last handle releases the store's file at once.
struct SyncerHandle {
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Set once the keyspace's core is dropped, its local store handle with it (a round may
    /// hold the core for the few microseconds it takes to queue a read or a transaction).
    core_released: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for SyncerHandle {
    /// The last handle on a keyspace: stops the syncer, then waits (bounded) until no round
    /// holds the keyspace's core, so its local store is released when this returns.
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().take() {
            task.abort();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !self
            .core_released
            .load(std::sync::atomic::Ordering::Acquire)
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
}

impl<R> Drop for Core<R> {
    /// Waits (bounded) for the syncer's reads still running: each holds the database, and a
    /// store dropped and reopened at once must find its file free.
    fn drop(&mut self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while self.reads.load(std::sync::atomic::Ordering::Acquire) > 0
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

/// What the write path and the syncer share.
pub(crate) struct Core<R> {
    /// The data table's handle (reads, flush).
    pub(crate) local: RedbBackend,
    pub(crate) tables: Tables,
    pub(crate) remote: R,
    pub(crate) clock: Arc<Hlc>,
    pub(crate) config: SyncConfig,
    pub(crate) caps: Capabilities,
    pub(crate) counters: Arc<Counters>,
    /// Wakes the background syncer (a write was made, or a sync was asked for).
    pub(crate) wake: Arc<Notify>,
    /// One sync round at a time.
    pub(crate) round: Arc<tokio::sync::Mutex<()>>,
    /// The pull cursor, as last stored (read from the store by the first round).
    pub(crate) cursor: Arc<Mutex<Option<u64>>>,
    /// Snapshot reads of the syncer still running on the blocking pool (each holds the
    /// database): the last handle's drop waits for them, so the file is free when it returns.
    pub(crate) reads: Arc<std::sync::atomic::AtomicUsize>,
    /// Records of pushes that failed after they may have reached the server: a later "lost"
    /// answer for one of them may be the server holding it already overwritten, not a loss.
    pub(crate) unanswered: Arc<Mutex<std::collections::HashSet<(Bytes, u64)>>>,
    /// Declared last, so dropped last: set once the fields above — the local store's handle
    /// first — are gone. The last user handle's drop waits for it.
    _released: ReleasedOnDrop,
}

/// Sets its flag when dropped.
struct ReleasedOnDrop(Arc<std::sync::atomic::AtomicBool>);

impl Drop for ReleasedOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Release);
    }
}

/// Counts a snapshot read as running until its closure ends (run, or dropped unrun).
pub(crate) struct ReadRunning(Arc<std::sync::atomic::AtomicUsize>);

impl ReadRunning {
    fn start(count: &Arc<std::sync::atomic::AtomicUsize>) -> Self {
        count.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        ReadRunning(count.clone())
    }
}

impl Drop for ReadRunning {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

impl<R> Core<R> {
    /// A snapshot read of the local store, counted in `reads` while it runs (it holds the
    /// database; the last handle's drop waits for it).
    pub(crate) fn read<T, F>(
        &self,
        read: F,
    ) -> impl std::future::Future<Output = Result<T>> + Send + use<T, F, R>
    where
        F: FnOnce(&strata_redb::Snapshot) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let running = ReadRunning::start(&self.reads);
        self.local.read_snapshot(move |snap| {
            let _running = running;
            read(snap)
        })
    }
}

impl<R: SyncRemote> SyncedStore<R> {
    /// Opens the default keyspace of `local` synced with `remote`. The clock file (node id and
    /// clock high-water mark) is read or created next to the store; with
    /// [`SyncConfig::background`] set the syncer starts on the current tokio runtime.
    ///
    /// One open per file in a process: a second `open` while the first is in use fails with
    /// `InvalidInput` (clone the store or take keyspaces from it instead).
    pub async fn open(local: RedbBackend, remote: R, config: SyncConfig) -> Result<Self> {
        let claim = FileClaim::take(&local.config().path)?;
        let path = config
            .clock_file
            .clone()
            .unwrap_or_else(|| with_suffix(&local.config().path, ".clock"));
        let file = tokio::task::spawn_blocking(move || ClockFile::open_or_create(path))
            .await
            .map_err(|e| Error::unexpected(Operation::Open, e.to_string()))?
            .map_err(|e| {
                Error::new(
                    ErrorKind::Unavailable,
                    Operation::Open,
                    "cannot open the clock file",
                )
                .with_source(e)
            })?;
        let clock = Arc::new(Hlc::with_file(
            config.wall_clock.clone(),
            config.max_clock_skew,
            file,
        ));
        let opened = Arc::new(Opened {
            keyspaces: Mutex::default(),
            _claim: claim,
        });
        let store = Self::open_keyspace(local, remote, config, clock, opened)?;
        store.register(&mut store.open.keyspaces.lock());
        Ok(store)
    }

    fn register(&self, open: &mut OpenKeyspaces<R>) {
        open.retain(|_, (core, _)| core.strong_count() > 0);
        open.insert(
            self.core.local.keyspace_name().to_string(),
            (Arc::downgrade(&self.core), Arc::downgrade(&self._syncer)),
        );
    }

    fn open_keyspace(
        local: RedbBackend,
        remote: R,
        config: SyncConfig,
        clock: Arc<Hlc>,
        open: Arc<Opened<R>>,
    ) -> Result<Self> {
        let name = local.keyspace_name().to_string();
        let tables = Tables {
            data: local.table_ref(),
            queue: local
                .system_table(&format!("sync.{name}.queue"))?
                .table_ref(),
            cursor: local
                .system_table(&format!("sync.{name}.cursor"))?
                .table_ref(),
            seen: local
                .system_table(&format!("sync.{name}.seen"))?
                .table_ref(),
        };
        let local_caps = local.capabilities();
        let remote_caps = remote.sync_capabilities();
        let caps = Capabilities {
            max_key_size: local_caps.max_key_size.min(remote_caps.max_key_size),
            max_value_size: local_caps
                .max_value_size
                .saturating_sub(HEADER_LEN)
                .min(remote_caps.max_value_size),
            ..local_caps
        };
        let background = config.background;
        let released = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let core = Arc::new(Core {
            local,
            tables,
            remote,
            clock,
            config,
            caps,
            counters: Arc::default(),
            wake: Arc::default(),
            round: Arc::default(),
            cursor: Arc::default(),
            reads: Arc::default(),
            unanswered: Arc::default(),
            _released: ReleasedOnDrop(released.clone()),
        });
        let task = match background {
            Some(interval) => {
                let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
                    Error::invalid_input(
                        Operation::Open,
                        "background sync needs a tokio runtime: open the store inside one",
                    )
                })?;
                Some(runtime.spawn(crate::syncer::run(Arc::downgrade(&core), interval)))
            }
            None => None,
        };
        let syncer = Arc::new(SyncerHandle {
            task: Mutex::new(task),
            core_released: released,
        });
        Ok(SyncedStore {
            core,
            _syncer: syncer,
            open,
        })
    }

    /// Closes this handle: the last handle on a keyspace stops its background syncer (a round
    /// in flight is abandoned; the outbox keeps its writes for the next open) and closes the
    /// local store as [`RedbBackend::close`] does — flushed, and the file released when no
    /// other handle (of another keyspace, say) holds it. Other handles just flush.
    pub async fn close(self) -> Result<()> {
        let SyncedStore {
            core,
            _syncer,
            open,
        } = self;
        let last = Arc::into_inner(_syncer);
        if let Some(handle) = &last {
            let task = handle.task.lock().take();
            if let Some(task) = task {
                task.abort();
                let _ = task.await;
            }
        }
        let result = match Arc::try_unwrap(core) {
            Ok(core) => {
                let local = core.local.clone();
                drop(core); // waits for the syncer's running reads
                local.close().await
            }
            Err(core) => core.local.flush().await,
        };
        drop((last, open)); // the core is gone: nothing to wait for
        result
    }

    /// Tombstone garbage collection, by the rule in `docs/SYNC.md`: removes tombstones older
    /// than [`SyncConfig::tombstone_retention`] here (by this device's clock; unless the
    /// delete is still pending) and on the server (by the server's clock). A device that has not pulled since
    /// before a purge resyncs in full on its next round rather than keep (or bring back)
    /// what was deleted. Returns (removed here, removed on the server); fails, having done
    /// the local part, if the server cannot be reached.
    pub async fn purge_tombstones(&self) -> Result<(u64, u64)> {
        let retention_ms =
            u64::try_from(self.core.config.tombstone_retention.as_millis()).unwrap_or(u64::MAX);
        let horizon = strata_turso::hlc::timestamp_at(
            self.core
                .config
                .wall_clock
                .now_ms()
                .saturating_sub(retention_ms)
                .max(strata_turso::hlc::EPOCH_MS),
        );
        let mut local_removed = 0;
        let mut after: Option<Bytes> = None;
        loop {
            let range = match after.take() {
                Some(k) => KeyRange::new(std::ops::Bound::Excluded(k), std::ops::Bound::Unbounded),
                None => KeyRange::all(),
            };
            let page = self.core.local.scan(range, Some(1_000)).await?;
            let Some((last, _)) = page.last() else { break };
            after = Some(last.clone());
            let full = page.len() == 1_000;
            let mut old_tombstones = Vec::new();
            for (key, stored) in page {
                let local = record::decode(Operation::Sync, &key, &stored)?;
                if local.value.is_none() && local.timestamp < horizon {
                    old_tombstones.push((key, local.timestamp));
                }
            }
            if !old_tombstones.is_empty() {
                let tables = self.core.tables.clone();
                local_removed += self
                    .core
                    .local
                    .transact(move |txn| {
                        let outbox = Outbox::new(&tables);
                        let mut removed = 0u64;
                        for (key, timestamp) in &old_tombstones {
                            let current = txn
                                .get(&tables.data, key)?
                                .map(|s| record::decode(Operation::Sync, key, &s))
                                .transpose()?;
                            // Still that tombstone, and not waiting to be pushed.
                            if current.is_some_and(|c| c.timestamp == *timestamp)
                                && !outbox.is_pending(txn, key, *timestamp)?
                            {
                                txn.delete(&tables.data, key)?;
                                removed += 1;
                            }
                        }
                        Ok(removed)
                    })
                    .await?;
            }
            if !full {
                break;
            }
        }
        let retention = self.core.config.tombstone_retention;
        let server_removed = self.core.remote.purge_tombstones(retention).await?;
        Ok((local_removed, server_removed))
    }

    /// This device's node id (ties between equal timestamps break by it).
    pub fn node_id(&self) -> u64 {
        self.core.clock.node()
    }

    /// The local store under this one.
    pub fn local(&self) -> &RedbBackend {
        &self.core.local
    }

    /// The remote this store syncs with.
    pub fn remote(&self) -> &R {
        &self.core.remote
    }

    /// Pulled versions the clock refused to follow because they were further ahead of this
    /// device's wall clock than [`SyncConfig::max_clock_skew`].
    pub fn clock_skew_clamps(&self) -> u64 {
        self.core.clock.clamped()
    }

    /// The version this store holds for `key` (tombstones included): the hybrid-logical-clock
    /// timestamp and node of the write it holds, made here or pulled.
    pub async fn version(&self, key: &[u8]) -> Result<Option<RecordVersion>> {
        check_key(&self.core.caps, Operation::Get, key)?;
        let stored = self.core.local.get(key).await?;
        stored
            .map(|stored| record::decode(Operation::Get, key, &stored).map(|r| r.version()))
            .transpose()
    }

    /// Where sync stands: the outbox's depth (read from the store) and the syncer's counters.
    pub async fn sync_status(&self) -> Result<SyncStatus> {
        let tables = self.core.tables.clone();
        let ((pending, pending_bytes, oldest, cursor), (conflicts_lost, conflicts_won)) = self
            .core
            .read(move |snap| {
                Ok((
                    outbox::depth(snap, &tables)?,
                    outbox::conflicts(snap, &tables)?,
                ))
            })
            .await?;
        let now_ms = self.core.config.wall_clock.now_ms();
        let counters = &self.core.counters;
        Ok(SyncStatus {
            pending,
            pending_bytes,
            oldest_pending_age: oldest
                .map(|ts| Duration::from_millis(now_ms.saturating_sub(unix_ms_of(ts)))),
            last_success: *counters.last_success.lock(),
            last_error: counters.last_error.lock().clone(),
            consecutive_failures: Counters::get(&counters.consecutive_failures),
            conflicts_lost,
            conflicts_won,
            pushed: Counters::get(&counters.pushed),
            pulled: Counters::get(&counters.pulled),
            resyncs: Counters::get(&counters.resyncs),
            cursor,
        })
    }

    /// Publishes this keyspace's sync counters and outbox depth to the `metrics` recorder
    /// (label `keyspace`; names in [`strata::telemetry::names`]). Reads the outbox's depth
    /// from the store. Add it to a [`MetricsReporter`](strata::telemetry::MetricsReporter)
    /// with `async_source`.
    pub async fn publish_metrics(&self) -> Result<()> {
        use strata::telemetry::names;
        let status = self.sync_status().await?;
        let keyspace = self.core.local.keyspace_name().to_string();
        metrics::counter!(names::SYNC_PUSHED, "keyspace" => keyspace.clone())
            .absolute(status.pushed);
        metrics::counter!(names::SYNC_PULLED, "keyspace" => keyspace.clone())
            .absolute(status.pulled);
        metrics::gauge!(names::SYNC_OUTBOX_DEPTH, "keyspace" => keyspace)
            .set(status.pending as f64);
        Ok(())
    }

    /// One sync round now: pushes the whole outbox, then pulls every change, whatever the
    /// backoff says. Returns the first error (what was done before it stays done).
    pub async fn sync_now(&self) -> Result<()> {
        crate::syncer::Round::of(&self.core).run().await
    }

    /// Syncs until the outbox is empty (retrying failed rounds with backoff), or fails with
    /// `Timeout` after `timeout` — with the last round's error, if any, as the reason.
    pub async fn flush_sync(&self, timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut failures = 0;
        loop {
            let round = crate::syncer::Round::of(&self.core).run();
            let round = tokio::time::timeout_at(deadline, round).await;
            let why = match round {
                Err(_) => "the round was still running".to_string(),
                Ok(Ok(())) => {
                    if self.sync_status().await?.pending == 0 {
                        return Ok(());
                    }
                    failures = 0;
                    continue;
                }
                Ok(Err(e)) => {
                    failures += 1;
                    e.to_string()
                }
            };
            let wait = self.core.config.backoff_after(failures);
            if tokio::time::Instant::now() + wait >= deadline {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    Operation::Sync,
                    format!("the outbox did not drain within {timeout:?}: {why}"),
                ));
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Applies `batch` atomically, like [`write_batch`](StorageBackend::write_batch), and
    /// returns the version each of its operations was stored at, in order — what the
    /// last-writer-wins rule will compare it by.
    pub async fn write_versioned(&self, batch: WriteBatch) -> Result<Vec<RecordVersion>> {
        check_batch(&self.core.caps, &batch)?;
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        self.write(batch.into_ops())
            .await
            .map(|(_, versions)| versions)
    }

    /// The local write: one transaction holding the records, their outbox entries and the
    /// pending-bytes counter. Returns whether any delete removed a live value, and the
    /// version of each operation.
    async fn write(&self, ops: Vec<BatchOp>) -> Result<(bool, Vec<RecordVersion>)> {
        let core = &self.core;
        let first = core.clock.reserve(1).map_err(|e| {
            Error::new(
                ErrorKind::Unavailable,
                Operation::WriteBatch,
                "cannot persist the clock",
            )
            .with_source(e)
        })?;
        let node = core.clock.node();
        let tables = core.tables.clone();
        let clock = core.clock.clone();
        let (removed, versions) = core
            .local
            .transact(move |txn| {
                let outbox = Outbox::new(&tables);
                let mut removed = false;
                let mut versions = Vec::with_capacity(ops.len());
                for op in &ops {
                    let (key, value) = match op {
                        BatchOp::Put { key, value } => (key, Some(value)),
                        BatchOp::Delete { key } => (key, None),
                    };
                    let old = txn
                        .get(&tables.data, key)?
                        .map(|stored| record::decode(Operation::WriteBatch, key, &stored))
                        .transpose()?;
                    // A write follows every version this device holds for its key, even one
                    // from a clock ahead of ours that the skew gate kept us from following —
                    // through the clock, so the clock file's lease covers it too.
                    let timestamp = match &old {
                        Some(old) if old.timestamp >= first => {
                            clock.reserve_after(old.timestamp).map_err(|e| {
                                Error::unexpected(
                                    Operation::WriteBatch,
                                    "no timestamp above the key's version",
                                )
                                .with_source(e)
                                .with_key(key)
                            })?
                        }
                        _ => first,
                    };
                    removed |= value.is_none() && old.as_ref().is_some_and(|o| o.value.is_some());
                    // The entry of the write this one replaces, if it was still pending.
                    let previous = old.map(|o| o.timestamp);
                    let encoded = record::encode(timestamp, node, value.map(|v| &v[..]));
                    txn.put(&tables.data, key, &encoded)?;
                    let len = value.map_or(0, Bytes::len);
                    outbox.enqueue(txn, key, previous, timestamp, len)?;
                    versions.push(RecordVersion {
                        timestamp,
                        node,
                        deleted: value.is_none(),
                    });
                }
                Ok((removed, versions))
            })
            .await?;
        if let Some(last) = versions.iter().map(|v| v.timestamp).max() {
            core.clock.observe(last);
        }
        core.wake.notify_one();
        Ok((removed, versions))
    }
}

impl<R: SyncRemote> std::fmt::Debug for SyncedStore<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncedStore")
            .field("local", &self.core.local)
            .field("node", &self.core.clock.node())
            .finish()
    }
}

fn with_suffix(path: &std::path::Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

fn decode_live(op: Operation, key: &[u8], stored: Option<Bytes>) -> Result<Option<Bytes>> {
    match stored {
        Some(stored) => Ok(record::decode(op, key, &stored)?.value),
        None => Ok(None),
    }
}

impl<R: SyncRemote> StorageBackend for SyncedStore<R> {
    fn capabilities(&self) -> Capabilities {
        self.core.caps
    }

    /// A handle on keyspace `name`, sharing this store's file, clock and (if the keyspace is
    /// already open) its outbox reader and syncer.
    fn keyspace(&self, name: &str) -> Result<Self> {
        check_keyspace_name(name)?;
        let mut open = self.open.keyspaces.lock();
        if let Some((core, syncer)) = open.get(name)
            && let (Some(core), Some(syncer)) = (core.upgrade(), syncer.upgrade())
        {
            return Ok(SyncedStore {
                core,
                _syncer: syncer,
                open: self.open.clone(),
            });
        }
        // Opened under the lock: two callers opening one keyspace get one syncer.
        let local = self.core.local.keyspace(name)?;
        let remote = self.core.remote.sync_keyspace(name)?;
        let (config, clock) = (self.core.config.clone(), self.core.clock.clone());
        let store = Self::open_keyspace(local, remote, config, clock, self.open.clone())?;
        store.register(&mut open);
        Ok(store)
    }

    fn get(&self, key: &[u8]) -> impl Future<Output = Result<Option<Bytes>>> + Send {
        let checked = check_key(&self.caps_ref(), Operation::Get, key);
        let key = Bytes::copy_from_slice(key);
        async move {
            checked?;
            let stored = self.core.local.get(&key).await?;
            decode_live(Operation::Get, &key, stored)
        }
    }

    fn get_many(&self, keys: &[Bytes]) -> impl Future<Output = Result<Vec<Option<Bytes>>>> + Send {
        let keys = keys.to_vec();
        async move {
            let stored = self.core.local.get_many(&keys).await?;
            keys.iter()
                .zip(stored)
                .map(|(key, stored)| decode_live(Operation::GetMany, key, stored))
                .collect()
        }
    }

    async fn put(&self, key: Bytes, value: Bytes) -> Result<()> {
        check_put(&self.core.caps, Operation::Put, &key, &value)?;
        self.write(vec![BatchOp::Put { key, value }])
            .await
            .map(|_| ())
    }

    fn delete(&self, key: &[u8]) -> impl Future<Output = Result<bool>> + Send {
        let checked = check_key(&self.caps_ref(), Operation::Delete, key);
        let key = Bytes::copy_from_slice(key);
        async move {
            checked?;
            self.write(vec![BatchOp::Delete { key }])
                .await
                .map(|(removed, _)| removed)
        }
    }

    async fn write_batch(&self, batch: WriteBatch) -> Result<()> {
        check_batch(&self.core.caps, &batch)?;
        if batch.is_empty() {
            return Ok(());
        }
        self.write(batch.into_ops()).await.map(|_| ())
    }

    async fn scan(&self, range: KeyRange, limit: Option<usize>) -> Result<Vec<(Bytes, Bytes)>> {
        let limit = limit.unwrap_or(usize::MAX);
        let mut out = Vec::new();
        let mut range = range;
        // Tombstones take room in a page of the local table: read pages until `limit` live
        // entries are found or the range ends.
        while out.len() < limit && !range.is_empty() {
            let want = (limit - out.len()).clamp(1, 4_096);
            let page = self.core.local.scan(range.clone(), Some(want)).await?;
            let full = page.len() == want;
            let Some((last, _)) = page.last() else { break };
            let end = match range.end() {
                std::ops::Bound::Included(k) => {
                    std::ops::Bound::Included(Bytes::copy_from_slice(k))
                }
                std::ops::Bound::Excluded(k) => {
                    std::ops::Bound::Excluded(Bytes::copy_from_slice(k))
                }
                std::ops::Bound::Unbounded => std::ops::Bound::Unbounded,
            };
            let next = KeyRange::new(std::ops::Bound::Excluded(last.clone()), end);
            for (key, stored) in page {
                if let Some(value) = record::decode(Operation::Scan, &key, &stored)?.value {
                    out.push((key, value));
                }
            }
            if !full {
                break;
            }
            range = next;
        }
        out.truncate(limit);
        Ok(out)
    }

    async fn flush(&self) -> Result<()> {
        self.core.local.flush().await
    }
}

impl<R: SyncRemote> SyncedStore<R> {
    fn caps_ref(&self) -> Capabilities {
        self.core.caps
    }
}
