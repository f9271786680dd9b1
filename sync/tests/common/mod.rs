//! Shared by the sync tests: a remote a test can cut off per device, skewed wall clocks,
//! bounded waits, and opening a device's store.
#![allow(dead_code)]

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use strata::{Capabilities, Error, ErrorKind, Operation, Result, SyncMode};
use strata_redb::RedbBackend;
use strata_sync::{MemoryRemote, SyncConfig, SyncRemote, SyncedStore};
use strata_turso::{PulledRecord, PushOutcome, SyncRecord, SystemClock, WallClock};

/// A remote behind a switch: one device's network, cut or restored.
#[derive(Clone, Debug)]
pub struct Link<R> {
    pub inner: R,
    pub cut: Arc<AtomicBool>,
}

impl<R> Link<R> {
    pub fn new(inner: R) -> Self {
        Link {
            inner,
            cut: Arc::default(),
        }
    }

    pub fn set_cut(&self, cut: bool) {
        self.cut.store(cut, Ordering::SeqCst);
    }

    fn check(&self) -> Result<()> {
        if self.cut.load(Ordering::SeqCst) {
            // Refused before anything left: nothing can have been applied.
            Err(strata_turso::not_sent(Error::new(
                ErrorKind::Unavailable,
                Operation::Sync,
                "link cut",
            )))
        } else {
            Ok(())
        }
    }
}

impl<R: SyncRemote + Clone> SyncRemote for Link<R> {
    fn sync_capabilities(&self) -> Capabilities {
        self.inner.sync_capabilities()
    }

    fn sync_keyspace(&self, name: &str) -> Result<Self> {
        Ok(Link {
            inner: self.inner.sync_keyspace(name)?,
            cut: self.cut.clone(),
        })
    }

    async fn push(&self, records: &[SyncRecord]) -> Result<PushOutcome> {
        self.check()?;
        self.inner.push(records).await
    }

    async fn pull(&self, cursor: u64, limit: usize) -> Result<Vec<PulledRecord>> {
        self.check()?;
        self.inner.pull(cursor, limit).await
    }

    async fn purged_through(&self) -> Result<u64> {
        self.check()?;
        self.inner.purged_through().await
    }

    async fn purge_tombstones(&self, retention: Duration) -> Result<u64> {
        self.check()?;
        self.inner.purge_tombstones(retention).await
    }
}

/// The system clock moved by `offset_ms` (hours ahead or behind in the skew tests).
#[derive(Debug)]
pub struct Skewed {
    pub offset_ms: i64,
}

impl WallClock for Skewed {
    fn now_ms(&self) -> u64 {
        SystemClock.now_ms().saturating_add_signed(self.offset_ms)
    }
}

/// Opens a device: its redb file and clock file in `dir`.
pub async fn open_device<R: SyncRemote>(
    dir: &Path,
    remote: R,
    skew_ms: i64,
    background: Option<Duration>,
) -> SyncedStore<R> {
    let local = bounded(
        "open redb",
        RedbBackend::builder(dir.join("store.redb"))
            .sync_mode(SyncMode::Off)
            .open(),
    )
    .await
    .expect("open redb");
    let config = SyncConfig::default()
        .background(background)
        .backoff(Duration::from_millis(5), Duration::from_millis(50))
        .wall_clock(Arc::new(Skewed { offset_ms: skew_ms }));
    bounded("open synced", SyncedStore::open(local, remote, config))
        .await
        .expect("open synced store")
}

/// A device with an in-memory server.
pub async fn open_memory_device(
    dir: &Path,
    server: &MemoryRemote,
) -> (SyncedStore<Link<MemoryRemote>>, Link<MemoryRemote>) {
    let link = Link::new(server.clone());
    (open_device(dir, link.clone(), 0, None).await, link)
}

/// Awaits `f` for at most 30 s: a hang is a named failure.
pub async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(30), f).await {
        Ok(v) => v,
        Err(_) => panic!("{what} did not finish within 30 s"),
    }
}
