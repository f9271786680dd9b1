//! Harnesses opening every backend and composition under test.

use std::path::PathBuf;

use strata::conformance::Harness;
use strata::{BoxFuture, DynBackend, IntoDyn, MemoryBackend, Result, SyncMode};
use strata_redb::RedbBackend;
use tempfile::TempDir;

/// A redb store in a fresh temporary directory, reopened at the same path on every `open`.
#[derive(Debug)]
pub struct RedbHarness {
    dir: TempDir,
    mode: SyncMode,
}

impl RedbHarness {
    /// A harness for a new, empty store with the given sync mode.
    pub fn new(mode: SyncMode) -> Self {
        RedbHarness {
            dir: tempfile::tempdir().expect("temporary directory"),
            mode,
        }
    }

    /// The database file.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("store.redb")
    }

    /// Opens the store statically typed.
    pub async fn open_redb(&self) -> Result<RedbBackend> {
        RedbBackend::builder(self.path())
            .sync_mode(self.mode)
            .open()
            .await
    }
}

impl Harness for RedbHarness {
    fn open(&self) -> BoxFuture<'_, Result<DynBackend>> {
        Box::pin(async move { Ok(self.open_redb().await?.into_dyn()) })
    }
}

/// Wraps another harness's backend in a second `Arc<dyn …>`, so the suite runs through the
/// `StorageBackend` impl of [`DynBackend`] itself.
#[derive(Debug)]
pub struct DoubleDyn<H>(pub H);

impl<H: Harness> Harness for DoubleDyn<H> {
    fn open(&self) -> BoxFuture<'_, Result<DynBackend>> {
        Box::pin(async move {
            let inner: DynBackend = self.0.open().await?;
            Ok(inner.into_dyn())
        })
    }
}

/// A memory store, fresh per harness (the same store on every `open`).
#[derive(Debug, Default)]
pub struct SharedMemoryHarness {
    store: MemoryBackend,
}

impl Harness for SharedMemoryHarness {
    fn open(&self) -> BoxFuture<'_, Result<DynBackend>> {
        let store = self.store.clone();
        Box::pin(async move { Ok(store.into_dyn()) })
    }
}
