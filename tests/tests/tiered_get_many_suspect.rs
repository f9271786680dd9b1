//! `Tiered::get_many` may return a stale upper-tier copy of a suspect key: it reads the upper
//! tier first and only then asks `is_busy`, so a key that was suspect while the upper tier was
//! read, and whose suspicion was lifted (a read repair, or a write settling alone) before the
//! check, is served from a copy that a delete acknowledged before the read began had
//! overtaken. (`get` checks `is_busy` before its upper read and does not have this hole.)
//! Found by `concurrent_model`'s `tiered_as_upper` composition, once in 34,000 schedules.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use strata::{
    Capabilities, Error, ErrorKind, KeyRange, MemoryBackend, Operation, Result, StorageBackend,
    Tiered, WriteBatch,
};
use strata_tests::deadline::bounded;
use tokio::sync::Semaphore;

/// An upper tier whose writes can be made to fail, and whose `get_many` can be held after it
/// has read (the reader has the value in hand but has not returned it).
#[derive(Debug, Clone)]
struct Upper {
    inner: MemoryBackend,
    fail_writes: Arc<AtomicBool>,
    hold_get_many: Arc<AtomicBool>,
    reached: Arc<Semaphore>,
    release: Arc<Semaphore>,
}

impl Upper {
    fn check(&self, op: Operation) -> Result<()> {
        if self.fail_writes.load(Ordering::SeqCst) {
            return Err(Error::new(ErrorKind::Unavailable, op, "injected fault"));
        }
        Ok(())
    }
}

impl StorageBackend for Upper {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn keyspace(&self, _name: &str) -> Result<Self> {
        Err(Error::invalid_input(
            Operation::Open,
            "this test tier has one keyspace",
        ))
    }
    async fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        self.inner.get(key).await
    }
    async fn get_many(&self, keys: &[Bytes]) -> Result<Vec<Option<Bytes>>> {
        let found = self.inner.get_many(keys).await;
        if self.hold_get_many.load(Ordering::SeqCst) {
            self.reached.add_permits(1);
            self.release.acquire().await.expect("open").forget();
        }
        found
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
        self.inner.scan(range, limit).await
    }
    async fn flush(&self) -> Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_many_never_serves_a_copy_overtaken_by_an_acknowledged_delete() {
    let upper = Upper {
        inner: MemoryBackend::new(),
        fail_writes: Arc::default(),
        hold_get_many: Arc::default(),
        reached: Arc::new(Semaphore::new(0)),
        release: Arc::new(Semaphore::new(0)),
    };
    let lower = MemoryBackend::new();
    let tiered = Tiered::new(upper.clone(), lower.clone());
    let k = Bytes::from_static(b"k");

    bounded("put", tiered.put(k.clone(), Bytes::from_static(b"v1")))
        .await
        .unwrap();
    // The delete lands below; the upper tier refuses both its update and the invalidation, so
    // it keeps v1 and the key becomes suspect. The delete is acknowledged (upper failures are
    // absorbed).
    upper.fail_writes.store(true, Ordering::SeqCst);
    bounded("delete", tiered.delete(&k)).await.unwrap();
    assert_eq!(
        upper.inner.get(&k).await.unwrap(),
        Some(Bytes::from_static(b"v1"))
    );
    upper.fail_writes.store(false, Ordering::SeqCst);

    // A read begun after the acknowledgement: it reads the upper tier (v1) and is held there.
    upper.hold_get_many.store(true, Ordering::SeqCst);
    let reader = {
        let tiered = tiered.clone();
        let k = k.clone();
        tokio::spawn(async move { tiered.get_many(&[k]).await })
    };
    tokio::time::timeout(Duration::from_secs(10), upper.reached.acquire())
        .await
        .expect("get_many reached the upper tier")
        .unwrap()
        .forget();
    upper.hold_get_many.store(false, Ordering::SeqCst);

    // Meanwhile a plain read repairs the suspect key (the upper copy is deleted, the suspicion
    // lifted).
    assert_eq!(bounded("get", tiered.get(&k)).await.unwrap(), None);
    assert_eq!(upper.inner.get(&k).await.unwrap(), None, "repaired");

    upper.release.add_permits(1);
    let got = tokio::time::timeout(Duration::from_secs(10), reader)
        .await
        .expect("get_many finished")
        .unwrap()
        .unwrap();
    assert_eq!(
        got,
        vec![None],
        "get_many began after the delete was acknowledged but served the upper tier's stale copy"
    );
}
