//! Test doubles that wrap any backend: count calls, pause at a chosen point, inject faults.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use bytes::Bytes;
use strata::{
    Capabilities, Error, ErrorKind, KeyRange, Operation, Result, StorageBackend, WriteBatch,
};
use tokio::sync::Semaphore;

/// Counts `get` and `get_many` calls reaching the inner backend.
#[derive(Debug, Clone)]
pub struct Counting<B> {
    inner: B,
    gets: Arc<AtomicU64>,
}

impl<B> Counting<B> {
    /// Wraps `inner`.
    pub fn new(inner: B) -> Self {
        Counting {
            inner,
            gets: Arc::default(),
        }
    }

    /// Reads that reached the inner backend.
    pub fn gets(&self) -> u64 {
        self.gets.load(Ordering::SeqCst)
    }
}

/// Holds every `get` after it has read the inner backend, until released: the reader has its
/// (possibly old) value in hand but cannot return it yet.
#[derive(Debug, Clone)]
pub struct Paused<B> {
    inner: B,
    reached: Arc<Semaphore>,
    release: Arc<Semaphore>,
    /// Whether `get_many` pauses too.
    many: bool,
}

impl<B> Paused<B> {
    /// Wraps `inner`, with every `get` paused after reading.
    pub fn new(inner: B) -> Self {
        Paused {
            inner,
            reached: Arc::new(Semaphore::new(0)),
            release: Arc::new(Semaphore::new(0)),
            many: false,
        }
    }

    /// Wraps `inner`, with every `get` and `get_many` paused after reading.
    pub fn with_get_many(inner: B) -> Self {
        Paused {
            many: true,
            ..Self::new(inner)
        }
    }

    /// Waits until a `get` has read and is paused.
    pub async fn wait_until_paused(&self) {
        self.reached.acquire().await.expect("open").forget();
    }

    /// Lets one paused `get` return.
    pub fn release_one(&self) {
        self.release.add_permits(1);
    }
}

/// Fails every operation with `Unavailable` once `countdown` operations have succeeded
/// (a negative countdown never fails).
#[derive(Debug, Clone)]
pub struct Faulty<B> {
    inner: B,
    countdown: Arc<AtomicI64>,
}

impl<B> Faulty<B> {
    /// Wraps `inner`, failing after `countdown` successful operations.
    pub fn new(inner: B, countdown: i64) -> Self {
        Faulty {
            inner,
            countdown: Arc::new(AtomicI64::new(countdown)),
        }
    }

    /// Whether it has started failing.
    pub fn is_failing(&self) -> bool {
        self.countdown.load(Ordering::SeqCst) == 0
    }

    fn check(&self, op: Operation) -> Result<()> {
        let left = self.countdown.load(Ordering::SeqCst);
        if left == 0 {
            return Err(Error::new(ErrorKind::Unavailable, op, "injected fault"));
        }
        if left > 0 {
            self.countdown.fetch_sub(1, Ordering::SeqCst);
        }
        Ok(())
    }
}

macro_rules! forward_writes {
    () => {
        fn capabilities(&self) -> Capabilities {
            self.inner.capabilities()
        }
        async fn put(&self, key: Bytes, value: Bytes) -> Result<()> {
            self.inner.put(key, value).await
        }
        async fn delete(&self, key: &[u8]) -> Result<bool> {
            self.inner.delete(key).await
        }
        async fn write_batch(&self, batch: WriteBatch) -> Result<()> {
            self.inner.write_batch(batch).await
        }
        async fn scan(&self, range: KeyRange, limit: Option<usize>) -> Result<Vec<(Bytes, Bytes)>> {
            self.inner.scan(range, limit).await
        }
        async fn flush(&self) -> Result<()> {
            self.inner.flush().await
        }
        async fn close(&self) -> Result<()> {
            self.inner.close().await
        }
    };
}

impl<B: StorageBackend + Clone> StorageBackend for Counting<B> {
    forward_writes!();
    fn keyspace(&self, name: &str) -> Result<Self> {
        Ok(Counting {
            inner: self.inner.keyspace(name)?,
            gets: self.gets.clone(),
        })
    }
    async fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get(key).await
    }
    async fn get_many(&self, keys: &[Bytes]) -> Result<Vec<Option<Bytes>>> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get_many(keys).await
    }
}

impl<B: StorageBackend + Clone> StorageBackend for Paused<B> {
    forward_writes!();
    fn keyspace(&self, name: &str) -> Result<Self> {
        Ok(Paused {
            inner: self.inner.keyspace(name)?,
            reached: self.reached.clone(),
            release: self.release.clone(),
            many: self.many,
        })
    }
    async fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        let value = self.inner.get(key).await;
        self.reached.add_permits(1);
        self.release.acquire().await.expect("open").forget();
        value
    }
    async fn get_many(&self, keys: &[Bytes]) -> Result<Vec<Option<Bytes>>> {
        let values = self.inner.get_many(keys).await;
        if self.many {
            self.reached.add_permits(1);
            self.release.acquire().await.expect("open").forget();
        }
        values
    }
}

impl<B: StorageBackend + Clone> StorageBackend for Faulty<B> {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn keyspace(&self, name: &str) -> Result<Self> {
        Ok(Faulty {
            inner: self.inner.keyspace(name)?,
            countdown: self.countdown.clone(),
        })
    }
    async fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        self.check(Operation::Get)?;
        self.inner.get(key).await
    }
    async fn get_many(&self, keys: &[Bytes]) -> Result<Vec<Option<Bytes>>> {
        self.check(Operation::GetMany)?;
        self.inner.get_many(keys).await
    }
    async fn put(&self, key: Bytes, value: Bytes) -> Result<()> {
        self.check(Operation::Put)?;
        self.inner.put(key, value).await
    }
    async fn delete(&self, key: &[u8]) -> Result<bool> {
        self.check(Operation::Delete)?;
        self.inner.delete(key).await
    }
    async fn write_batch(&self, batch: WriteBatch) -> Result<()> {
        self.check(Operation::WriteBatch)?;
        self.inner.write_batch(batch).await
    }
    async fn scan(&self, range: KeyRange, limit: Option<usize>) -> Result<Vec<(Bytes, Bytes)>> {
        self.check(Operation::Scan)?;
        self.inner.scan(range, limit).await
    }
    async fn flush(&self) -> Result<()> {
        self.check(Operation::Flush)?;
        self.inner.flush().await
    }
    async fn close(&self) -> Result<()> {
        self.check(Operation::Close)?;
        self.inner.close().await
    }
}
