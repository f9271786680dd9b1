//! What a conformance case needs from the store under test.

use bytes::Bytes;

use crate::{BoxFuture, DynBackend, IntoDyn, MemoryBackend, Result};

/// Opens the store under test.
pub trait Harness: Send + Sync {
    /// Opens the store as a dynamic backend on its default keyspace.
    ///
    /// For a persistent store, opening again after every handle of the previous open was
    /// dropped must reopen the same data (that is how the reopen cases close the store).
    fn open(&self) -> BoxFuture<'_, Result<DynBackend>>;

    /// Opens the store and, for a composition of tiers, its lowest tier read directly: the
    /// source of truth the coherence cases (`concurrent_*`, `cancelled_*`) compare what the
    /// store serves against. Default: the store alone, no truth to compare with.
    fn open_with_truth(&self) -> BoxFuture<'_, Result<(DynBackend, Option<DynBackend>)>> {
        Box::pin(async move { Ok((self.open().await?, None)) })
    }
}

/// Harness for [`MemoryBackend`] with the default limits.
#[derive(Debug, Default)]
pub struct MemoryHarness;

impl Harness for MemoryHarness {
    fn open(&self) -> BoxFuture<'_, Result<DynBackend>> {
        Box::pin(async { Ok(MemoryBackend::new().into_dyn()) })
    }
}

/// Per-case state: a random key prefix so cases never see each other's keys.
#[derive(Clone, Debug)]
pub struct CaseContext {
    prefix: Vec<u8>,
}

impl CaseContext {
    /// A context for the named case with a fresh random prefix.
    pub fn new(case: &str) -> Self {
        let tag: u64 = rand::random();
        CaseContext {
            prefix: format!("conf/{case}/{tag:016x}/").into_bytes(),
        }
    }

    /// The prefix every key of this case starts with.
    pub fn prefix(&self) -> Bytes {
        Bytes::copy_from_slice(&self.prefix)
    }

    /// The key `prefix + suffix`.
    pub fn key(&self, suffix: impl AsRef<[u8]>) -> Bytes {
        let mut key = self.prefix.clone();
        key.extend_from_slice(suffix.as_ref());
        Bytes::from(key)
    }
}
