//! `Bounded` never holds more than its capacity in the tier it bounds, even when a write is
//! cancelled half-way (its future dropped) or an eviction delete fails.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use strata::cache::{Bounded, PolicyConfig};
use strata::{
    Capabilities, Error, ErrorKind, KeyRange, MemoryBackend, Operation, Result, StorageBackend,
    WriteBatch,
};
use tokio::sync::Semaphore;

const CAPACITY: u64 = 10;
/// Bound on every wait: a hang fails the test instead of stalling CI.
const PATIENCE: Duration = Duration::from_secs(5);

/// A backend whose writes can pause before or after they land, and whose batches can fail.
#[derive(Debug, Clone)]
struct Gate {
    inner: MemoryBackend,
    /// Puts pause after landing.
    pause_puts: Arc<AtomicBool>,
    /// Batches pause before landing (`BEFORE`) or after (`AFTER`).
    pause_batches: Arc<AtomicU8>,
    /// Deletes pause before landing.
    pause_deletes: Arc<AtomicBool>,
    fail_batches: Arc<AtomicU32>,
    paused: Arc<Semaphore>,
}

const NEVER: u8 = 0;
const BEFORE: u8 = 1;
const AFTER: u8 = 2;

impl Gate {
    fn new() -> Self {
        Gate {
            inner: MemoryBackend::new(),
            pause_puts: Arc::default(),
            pause_batches: Arc::default(),
            pause_deletes: Arc::default(),
            fail_batches: Arc::default(),
            paused: Arc::new(Semaphore::new(0)),
        }
    }

    async fn hold(&self) {
        self.paused.add_permits(1);
        std::future::pending::<()>().await;
    }

    async fn resident(&self) -> usize {
        self.inner.scan(KeyRange::all(), None).await.unwrap().len()
    }
}

impl StorageBackend for Gate {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn keyspace(&self, name: &str) -> Result<Self> {
        Ok(Gate {
            inner: self.inner.keyspace(name)?,
            ..self.clone()
        })
    }
    async fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        self.inner.get(key).await
    }
    async fn get_many(&self, keys: &[Bytes]) -> Result<Vec<Option<Bytes>>> {
        self.inner.get_many(keys).await
    }
    async fn put(&self, key: Bytes, value: Bytes) -> Result<()> {
        self.inner.put(key, value).await?;
        if self.pause_puts.load(Ordering::SeqCst) {
            self.hold().await;
        }
        Ok(())
    }
    async fn delete(&self, key: &[u8]) -> Result<bool> {
        if self.pause_deletes.load(Ordering::SeqCst) {
            self.hold().await;
        }
        self.inner.delete(key).await
    }
    async fn write_batch(&self, batch: WriteBatch) -> Result<()> {
        if self
            .fail_batches
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(Error::new(
                ErrorKind::Unavailable,
                Operation::WriteBatch,
                "injected fault",
            ));
        }
        if self.pause_batches.load(Ordering::SeqCst) == BEFORE {
            self.hold().await;
        }
        self.inner.write_batch(batch).await?;
        if self.pause_batches.load(Ordering::SeqCst) == AFTER {
            self.hold().await;
        }
        Ok(())
    }
    async fn scan(&self, range: KeyRange, limit: Option<usize>) -> Result<Vec<(Bytes, Bytes)>> {
        self.inner.scan(range, limit).await
    }
    async fn flush(&self) -> Result<()> {
        Ok(())
    }
}

fn key(i: u32) -> Bytes {
    Bytes::from(format!("k{i:03}"))
}

async fn full_cache() -> (Bounded<Gate>, Gate) {
    let gate = Gate::new();
    let bounded = Bounded::open(gate.clone(), PolicyConfig::entries(CAPACITY), &[])
        .await
        .unwrap();
    for i in 0..CAPACITY as u32 {
        bounded.put(key(i), Bytes::from_static(b"v")).await.unwrap();
    }
    assert_eq!(gate.resident().await, CAPACITY as usize);
    (bounded, gate)
}

/// Reads `key` (a miss) a few times, so the policy admits it over a resident seen only once:
/// the write under test then really reaches the tier.
async fn make_wanted(bounded: &Bounded<Gate>, key: &[u8]) {
    for _ in 0..3 {
        let get = bounded.get(key);
        assert_eq!(
            tokio::time::timeout(PATIENCE, get).await.unwrap().unwrap(),
            None
        );
    }
}

/// Polls `write` until the gate holds it, then drops it: a cancellation at that very point.
async fn cancel_when_paused<F: Future>(gate: &Gate, write: F) {
    let paused = gate.paused.clone();
    tokio::time::timeout(PATIENCE, async move {
        tokio::select! {
            _ = write => panic!("the write was expected to pause"),
            permit = paused.acquire() => permit.unwrap().forget(),
        }
    })
    .await
    .expect("the write reached the gate");
}

/// More writes after the incident must not leave the tier over capacity either.
async fn assert_bounded_from_now_on(bounded: &Bounded<Gate>, gate: &Gate, what: &str) {
    assert!(
        gate.resident().await <= CAPACITY as usize,
        "{what}: {} entries in a tier of {CAPACITY}",
        gate.resident().await
    );
    for i in 100..130 {
        let put = bounded.put(key(i), Bytes::from_static(b"w"));
        tokio::time::timeout(PATIENCE, put).await.unwrap().unwrap();
        assert!(
            gate.resident().await <= CAPACITY as usize,
            "{what}, then put {i}: {} entries in a tier of {CAPACITY}",
            gate.resident().await
        );
    }
    let (entries, _) = tokio::time::timeout(PATIENCE, bounded.residency())
        .await
        .unwrap();
    assert!(entries <= CAPACITY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_cancelled_after_its_inner_write_keeps_the_capacity() {
    let (bounded, gate) = full_cache().await;
    make_wanted(&bounded, &key(50)).await;
    gate.pause_puts.store(true, Ordering::SeqCst);
    cancel_when_paused(&gate, bounded.put(key(50), Bytes::from_static(b"x"))).await;
    gate.pause_puts.store(false, Ordering::SeqCst);
    assert_bounded_from_now_on(&bounded, &gate, "put cancelled after landing").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_cancelled_during_its_evictions_keeps_the_capacity() {
    let (bounded, gate) = full_cache().await;
    // Eviction deletes reach the tier as batches: they pause before landing.
    make_wanted(&bounded, &key(50)).await;
    gate.pause_batches.store(BEFORE, Ordering::SeqCst);
    cancel_when_paused(&gate, bounded.put(key(50), Bytes::from_static(b"x"))).await;
    gate.pause_batches.store(NEVER, Ordering::SeqCst);
    assert_bounded_from_now_on(&bounded, &gate, "put cancelled while evicting").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_cancelled_after_its_inner_write_keeps_the_capacity() {
    let (bounded, gate) = full_cache().await;
    make_wanted(&bounded, &key(50)).await;
    make_wanted(&bounded, &key(51)).await;
    gate.pause_batches.store(AFTER, Ordering::SeqCst);
    let mut batch = WriteBatch::default();
    batch.put(key(50), Bytes::from_static(b"x"));
    batch.put(key(51), Bytes::from_static(b"x"));
    cancel_when_paused(&gate, bounded.write_batch(batch)).await;
    gate.pause_batches.store(NEVER, Ordering::SeqCst);
    assert_bounded_from_now_on(&bounded, &gate, "batch cancelled").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_eviction_delete_is_retried() {
    let (bounded, gate) = full_cache().await;
    make_wanted(&bounded, &key(50)).await;
    gate.fail_batches.store(1, Ordering::SeqCst);
    let put = bounded.put(key(50), Bytes::from_static(b"x"));
    // Either outcome is allowed (the write may be refused); the capacity is not negotiable.
    let _ = tokio::time::timeout(PATIENCE, put).await.unwrap();
    assert_eq!(
        gate.fail_batches.load(Ordering::SeqCst),
        0,
        "the fault fired"
    );
    assert_bounded_from_now_on(&bounded, &gate, "eviction delete failed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_cancelled_midway_leaves_nothing_untracked() {
    let (bounded, gate) = full_cache().await;
    // Cancelled before the delete landed: the key is still in the tier, so the policy must
    // still count it (or have it deleted before anything new goes in).
    gate.pause_deletes.store(true, Ordering::SeqCst);
    cancel_when_paused(&gate, bounded.delete(b"k003")).await;
    gate.pause_deletes.store(false, Ordering::SeqCst);
    assert_bounded_from_now_on(&bounded, &gate, "delete cancelled").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_through_bounded_share_the_tiers_group_commits() {
    // No lock is held across the inner write, so 32 writers reach redb's writer together and
    // share its fsyncs (under `Full`, one per group) instead of queueing behind one another.
    let dir = tempfile::tempdir().unwrap();
    let redb = strata_redb::RedbBackend::builder(dir.path().join("b.redb"))
        .sync_mode(strata::SyncMode::Full)
        .open();
    let redb = tokio::time::timeout(PATIENCE, redb).await.unwrap().unwrap();
    let bounded = Bounded::open(redb, PolicyConfig::entries(10_000), &[]);
    let bounded = Arc::new(
        tokio::time::timeout(PATIENCE, bounded)
            .await
            .unwrap()
            .unwrap(),
    );
    let mut tasks = Vec::new();
    for t in 0..32 {
        let bounded = bounded.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..20 {
                let key = Bytes::from(format!("k{t}-{i}"));
                bounded.put(key, Bytes::from_static(b"v")).await.unwrap();
            }
        }));
    }
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("writers finish in time")
            .unwrap();
    }
    let stats = bounded.get_ref().stats();
    assert_eq!(stats.writes, 640);
    assert!(
        stats.mean_group_size() >= 2.0 && stats.fsyncs < 320,
        "640 puts took {} groups and {} fsyncs: writes through Bounded did not group",
        stats.groups,
        stats.fsyncs
    );
}
