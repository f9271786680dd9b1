//! Harnesses opening every backend and composition under test.

use std::path::PathBuf;
use std::sync::Arc;

use strata::conformance::Harness;
use strata::{BoxFuture, DynBackend, IntoDyn, MemoryBackend, Result, SyncMode};
use strata_redb::RedbBackend;
use tempfile::TempDir;

/// A redb store in a fresh temporary directory, reopened at the same path on every `open`.
#[derive(Debug)]
pub struct RedbHarness {
    dir: TempDir,
    mode: SyncMode,
    shared_reads: bool,
}

impl RedbHarness {
    /// A harness for a new, empty store with the given sync mode.
    pub fn new(mode: SyncMode) -> Self {
        RedbHarness {
            dir: tempfile::tempdir().expect("temporary directory"),
            mode,
            shared_reads: false,
        }
    }

    /// The same, with the store opened `shared_reads` (redb's `SingleWriter` mode).
    pub fn shared_reads(mode: SyncMode) -> Self {
        RedbHarness {
            shared_reads: true,
            ..Self::new(mode)
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
            .shared_reads(self.shared_reads)
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

    fn open_with_truth(&self) -> BoxFuture<'_, Result<(DynBackend, Option<DynBackend>)>> {
        Box::pin(async move {
            let (inner, truth) = self.0.open_with_truth().await?;
            Ok((inner.into_dyn(), truth))
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

/// The upper tier of the cache compositions: large enough to hold every conformance case.
pub fn test_cache() -> strata::MemoryCache {
    strata::MemoryCache::builder()
        .max_entries(100_000)
        .build()
        .expect("cache")
}

/// A store and, for a composition, its lowest tier read directly.
type Opened = (DynBackend, Option<DynBackend>);
type Opener = Box<dyn Fn() -> BoxFuture<'static, Result<Opened>> + Send + Sync>;

/// A composition of tiers under test, opened by a closure; keeps its files alive.
pub struct Composition {
    open: Opener,
    _dir: Arc<TempDir>,
}

impl std::fmt::Debug for Composition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Composition")
    }
}

impl Harness for Composition {
    fn open(&self) -> BoxFuture<'_, Result<DynBackend>> {
        let opened = (self.open)();
        Box::pin(async move { Ok(opened.await?.0) })
    }

    fn open_with_truth(&self) -> BoxFuture<'_, Result<Opened>> {
        (self.open)()
    }
}

fn boxed(
    fut: impl std::future::Future<Output = Result<Opened>> + Send + 'static,
) -> BoxFuture<'static, Result<Opened>> {
    Box::pin(fut)
}

/// A store with no lower tier to compare against.
fn alone(store: DynBackend) -> Opened {
    (store, None)
}

/// `upper` over `lower`, with `lower` as the truth.
fn over<U: strata::StorageBackend, L: strata::StorageBackend + Clone>(
    upper: U,
    lower: L,
) -> Opened {
    let truth = lower.clone().into_dyn();
    (strata::Tiered::new(upper, lower).into_dyn(), Some(truth))
}

/// Opens a redb store at `path` with `mode`.
pub async fn redb_at(path: PathBuf, mode: SyncMode) -> Result<RedbBackend> {
    RedbBackend::builder(path).sync_mode(mode).open().await
}

/// Every tier composition under test, by name. Persistent ones reopen the same files.
pub fn tiered_harness(name: &str) -> Composition {
    use strata::{TierMode, Tiered};
    let dir = Arc::new(tempfile::tempdir().expect("temporary directory"));
    let (a, b) = (dir.path().join("a.redb"), dir.path().join("b.redb"));
    let open: Opener = match name {
        "memory_over_memory" => {
            let (upper, lower) = (MemoryBackend::new(), MemoryBackend::new());
            Box::new(move || {
                let t = over(upper.clone(), lower.clone());
                boxed(async move { Ok(t) })
            })
        }
        "cache_over_redb" => Box::new(move || {
            let b = b.clone();
            boxed(async move { Ok(over(test_cache(), redb_at(b, SyncMode::Full).await?)) })
        }),
        "redb_over_redb" => Box::new(move || {
            let (a, b) = (a.clone(), b.clone());
            boxed(async move {
                let upper = redb_at(a, SyncMode::Off).await?;
                Ok(over(upper, redb_at(b, SyncMode::Full).await?))
            })
        }),
        "bounded_redb_over_redb" => Box::new(move || {
            let (a, b) = (a.clone(), b.clone());
            boxed(async move {
                let config = strata::cache::PolicyConfig::entries(100_000);
                let upper =
                    strata::cache::Bounded::open(redb_at(a, SyncMode::Off).await?, config, &[])
                        .await?;
                Ok(over(upper, redb_at(b, SyncMode::Full).await?))
            })
        }),
        "compressed_memory" => {
            let inner = MemoryBackend::new();
            Box::new(move || {
                let c = strata_codecs::Compressed::new(inner.clone());
                boxed(async move { Ok(alone(c.into_dyn())) })
            })
        }
        "compressed_redb" => Box::new(move || {
            let b = b.clone();
            boxed(async move {
                let c = strata_codecs::Compressed::new(redb_at(b, SyncMode::Full).await?);
                Ok(alone(c.into_dyn()))
            })
        }),
        "cache_over_compressed_redb" => Box::new(move || {
            let b = b.clone();
            boxed(async move {
                let lower = strata_codecs::Compressed::new(redb_at(b, SyncMode::Full).await?);
                Ok(over(test_cache(), lower))
            })
        }),
        "three_tiers" => Box::new(move || {
            let (a, b) = (a.clone(), b.clone());
            boxed(async move {
                let bottom = redb_at(b, SyncMode::Full).await?;
                let truth = bottom.clone().into_dyn();
                let middle = Tiered::new(redb_at(a, SyncMode::Off).await?, bottom);
                Ok((Tiered::new(test_cache(), middle).into_dyn(), Some(truth)))
            })
        }),
        "replica" => {
            let (upper, lower) = (MemoryBackend::new(), MemoryBackend::new());
            Box::new(move || {
                let t = Tiered::builder(upper.clone(), lower.clone())
                    .mode(TierMode::Replica)
                    .build()
                    .expect("a memory backend does not evict");
                let truth = lower.clone().into_dyn();
                boxed(async move { Ok((t.into_dyn(), Some(truth))) })
            })
        }
        "memory_cache" => {
            let cache = test_cache();
            Box::new(move || {
                let c = cache.clone();
                boxed(async move { Ok(alone(c.into_dyn())) })
            })
        }
        other => panic!("unknown composition {other}"),
    };
    Composition { open, _dir: dir }
}

/// Compositions over a real sqld (started per harness, killed when dropped).
#[cfg(feature = "remote")]
pub struct RemoteHarness {
    // Declared first, dropped first: the terminator goes before the server behind it.
    tls: Option<crate::tls_proxy::TlsProxy>,
    sqld: crate::sqld::Sqld,
    kind: &'static str,
    dir: TempDir,
}

#[cfg(feature = "remote")]
impl std::fmt::Debug for RemoteHarness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteHarness")
            .field("kind", &self.kind)
            .finish()
    }
}

#[cfg(feature = "remote")]
impl RemoteHarness {
    /// `kind`: `"turso"`, `"cache_over_turso"`, `"cache_over_redb_over_turso"` or
    /// `"synced_turso"` (an offline-first [`strata_sync::SyncedStore`] syncing in the
    /// background).
    pub fn new(kind: &'static str) -> Self {
        RemoteHarness {
            tls: None,
            sqld: crate::sqld::Sqld::start(),
            kind,
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    /// The same composition, its remote reached over `https://` through a TLS terminator in
    /// front of the sqld (the backend trusting the terminator's test CA).
    pub fn over_tls(kind: &'static str) -> Self {
        let sqld = crate::sqld::Sqld::start();
        RemoteHarness {
            tls: Some(crate::tls_proxy::TlsProxy::start(sqld.port())),
            sqld,
            kind,
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    /// The server.
    pub fn sqld(&self) -> &crate::sqld::Sqld {
        &self.sqld
    }

    /// A Turso backend on this harness's server (over TLS when the harness is).
    pub async fn turso(&self) -> Result<strata_turso::TursoBackend> {
        let builder = match &self.tls {
            Some(tls) => strata_turso::TursoBackend::builder(tls.url())
                .ca_certificate_pem(tls.ca_pem().as_bytes()),
            None => strata_turso::TursoBackend::builder(self.sqld.url()),
        };
        builder
            .auth_token(self.sqld.token(crate::sqld::Access::ReadWrite))
            .open()
            .await
    }
}

#[cfg(feature = "remote")]
impl Harness for RemoteHarness {
    fn open(&self) -> BoxFuture<'_, Result<DynBackend>> {
        Box::pin(async move { Ok(self.open_with_truth().await?.0) })
    }

    fn open_with_truth(&self) -> BoxFuture<'_, Result<Opened>> {
        Box::pin(async move {
            use strata::Tiered;
            let remote = self.turso().await?;
            Ok(match self.kind {
                "turso" => alone(remote.into_dyn()),
                "cache_over_turso" => over(test_cache(), remote),
                "cache_over_redb_over_turso" => {
                    let truth = remote.clone().into_dyn();
                    let middle = Tiered::new(
                        redb_at(
                            self.dir.path().join("mid.redb"),
                            SyncMode::Normal {
                                every: 16,
                                interval: None,
                            },
                        )
                        .await?,
                        remote,
                    );
                    (Tiered::new(test_cache(), middle).into_dyn(), Some(truth))
                }
                "synced_turso" => {
                    let local =
                        redb_at(self.dir.path().join("synced.redb"), SyncMode::Full).await?;
                    alone(synced(local, remote).await?.into_dyn())
                }
                other => panic!("unknown remote composition {other}"),
            })
        })
    }
}

/// An offline-first store over `local`, syncing with `remote` in the background every few
/// milliseconds (so the suite's reads and writes race push and pull rounds).
#[cfg(feature = "remote")]
pub async fn synced<R: strata_sync::SyncRemote>(
    local: RedbBackend,
    remote: R,
) -> Result<strata_sync::SyncedStore<R>> {
    let config = strata_sync::SyncConfig::default()
        .background(Some(std::time::Duration::from_millis(5)))
        .backoff(
            std::time::Duration::from_millis(5),
            std::time::Duration::from_millis(100),
        );
    strata_sync::SyncedStore::open(local, remote, config).await
}

/// A [`strata_sync::SyncedStore`] over redb, syncing with an in-memory server that outlives
/// reopens (the suite's reopen cases reopen both files and server).
#[cfg(feature = "remote")]
#[derive(Debug)]
pub struct SyncedHarness {
    dir: TempDir,
    server: strata_sync::MemoryRemote,
}

#[cfg(feature = "remote")]
impl Default for SyncedHarness {
    fn default() -> Self {
        SyncedHarness {
            dir: tempfile::tempdir().expect("temporary directory"),
            server: strata_sync::MemoryRemote::new(),
        }
    }
}

#[cfg(feature = "remote")]
impl Harness for SyncedHarness {
    fn open(&self) -> BoxFuture<'_, Result<DynBackend>> {
        Box::pin(async move {
            let local = redb_at(self.dir.path().join("synced.redb"), SyncMode::Full).await?;
            Ok(synced(local, self.server.clone()).await?.into_dyn())
        })
    }
}
