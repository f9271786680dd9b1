//! Write coherence of `Tiered(MemoryCache, RedbBackend)` as a user composes it: concurrent
//! writers on one key, and writes cancelled at random points, must never leave the cache
//! serving a value the lower tier does not hold.
//!
//! Each round ends by comparing, key by key, what the tier serves with what redb holds. Every
//! wait is bounded, so a hang is a named failure.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rand::{Rng, SeedableRng, rngs::StdRng};
use strata::{MemoryCache, StorageBackend, SyncMode, Tiered, WriteBatch};
use strata_redb::RedbBackend;
use strata_tests::harness::redb_at;

type Store = Tiered<MemoryCache, RedbBackend>;

use strata_tests::deadline::bounded;

async fn store(dir: &tempfile::TempDir, mode: SyncMode) -> Store {
    let cache = MemoryCache::builder().max_entries(10_000).build().unwrap();
    let redb = redb_at(dir.path().join("coherence.redb"), mode)
        .await
        .unwrap();
    Tiered::new(cache, redb)
}

fn v(tag: u64) -> Bytes {
    Bytes::from(format!("value-{tag}"))
}

/// Every key's value through the tier must equal what redb holds, once writes have settled.
async fn assert_agrees(store: &Store, keys: &[Bytes], round: usize) {
    bounded("flush", store.flush()).await.unwrap();
    for key in keys {
        let lower = store.lower().get(key).await.unwrap();
        let served = store.get(key).await.unwrap();
        assert_eq!(
            served,
            lower,
            "round {round}: the tier serves {served:?} for {:?} but redb holds {lower:?}",
            String::from_utf8_lossy(key)
        );
    }
}

/// 3 tasks putting and 3 deleting one key, 10 operations each, 200 rounds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_puts_and_deletes_of_one_key_leave_the_cache_equal_to_redb() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir, SyncMode::Off).await;
    let key = Bytes::from_static(b"contended");
    for round in 0..200 {
        // Cache the key first so a stale copy has something to survive from.
        store.put(key.clone(), v(0)).await.unwrap();
        store.get(&key).await.unwrap();
        let mut tasks = Vec::new();
        for t in 0..6u64 {
            let (store, key) = (store.clone(), key.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0..10u64 {
                    if t < 3 {
                        store.put(key.clone(), v(t * 100 + i + 1)).await.unwrap();
                    } else {
                        store.delete(&key).await.unwrap();
                    }
                    if i % 3 == 0 {
                        let _ = store.get(&key).await.unwrap();
                    }
                }
            }));
        }
        for task in tasks {
            bounded("writer", task).await.unwrap();
        }
        assert_agrees(&store, std::slice::from_ref(&key), round).await;
    }
}

/// 16 tasks writing (puts, deletes, batches) and reading 6 overlapping keys, 50 rounds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_tasks_on_overlapping_keys_leave_the_cache_equal_to_redb() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir, SyncMode::Off).await;
    let keys: Arc<Vec<Bytes>> = Arc::new((0..6).map(|k| Bytes::from(format!("k{k}"))).collect());
    for round in 0..50 {
        let mut tasks = Vec::new();
        for t in 0..16u64 {
            let (store, keys) = (store.clone(), keys.clone());
            tasks.push(tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(round as u64 * 1000 + t);
                for i in 0..12u64 {
                    let key = keys[rng.random_range(0..keys.len())].clone();
                    let tag = (round as u64) << 32 | t << 16 | i;
                    match rng.random_range(0..5) {
                        0 | 1 => store.put(key, v(tag)).await.unwrap(),
                        2 => {
                            store.delete(&key).await.unwrap();
                        }
                        3 => {
                            let other = keys[rng.random_range(0..keys.len())].clone();
                            let mut batch = WriteBatch::new();
                            batch.put(key, v(tag)).delete(other);
                            store.write_batch(batch).await.unwrap();
                        }
                        _ => {
                            store.get(&key).await.unwrap();
                        }
                    }
                }
            }));
        }
        for task in tasks {
            bounded("task", task).await.unwrap();
        }
        assert_agrees(&store, &keys, round).await;
    }
}

#[derive(Clone, Copy, Debug)]
enum Cancelled {
    Put,
    Delete,
    Batch,
}

/// A cached key, then a write cancelled after 0–200 µs (or polled once and dropped): the tier
/// must end up serving what redb holds.
async fn cancelled_writes_never_leave_the_cache_stale(mode: SyncMode, what: Cancelled) {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir, mode).await;
    let keys: Vec<Bytes> = (0..10).map(|k| Bytes::from(format!("k{k}"))).collect();
    let mut rng = StdRng::seed_from_u64(0xc0ffee);
    for round in 0..300 {
        for key in &keys {
            store.put(key.clone(), v(round as u64)).await.unwrap();
            assert!(store.get(key).await.unwrap().is_some());
        }
        let tag = 1_000_000 + round as u64;
        let write: std::pin::Pin<Box<dyn Future<Output = ()> + Send>> = match what {
            Cancelled::Put => {
                let (s, k) = (store.clone(), keys[0].clone());
                Box::pin(async move { s.put(k, v(tag)).await.unwrap() })
            }
            Cancelled::Delete => {
                let (s, k) = (store.clone(), keys[0].clone());
                Box::pin(async move {
                    s.delete(&k).await.unwrap();
                })
            }
            Cancelled::Batch => {
                let mut batch = WriteBatch::new();
                for key in &keys {
                    batch.put(key.clone(), v(tag));
                }
                let s = store.clone();
                Box::pin(async move { s.write_batch(batch).await.unwrap() })
            }
        };
        if rng.random_bool(0.25) {
            // Poll once, then drop.
            let mut write = write;
            let _ = futures_poll_once(&mut write).await;
        } else {
            let after = Duration::from_micros(rng.random_range(0..200));
            let _ = tokio::time::timeout(after, write).await;
        }
        // Reads right after the cancel: whatever they return must be the old value or the
        // new one, and never the old one again once redb is seen holding the new one.
        let served = store.get(&keys[0]).await.unwrap();
        let new = match what {
            Cancelled::Delete => None,
            _ => Some(v(tag)),
        };
        assert!(
            served == Some(v(round as u64)) || served == new,
            "round {round}: served {served:?}"
        );
        if store.lower().get(&keys[0]).await.unwrap() == new {
            assert_eq!(
                store.get(&keys[0]).await.unwrap(),
                new,
                "round {round}: redb holds the cancelled write but the tier serves the old value"
            );
        }
        // redb's writer finishes what it received; then the tier must agree with it.
        bounded("redb flush", store.lower().flush()).await.unwrap();
        assert_agrees(&store, &keys, round).await;
    }
}

/// Polls a future once and drops it.
async fn futures_poll_once<F: Future + Unpin>(fut: &mut F) -> std::task::Poll<F::Output> {
    std::future::poll_fn(|cx| std::task::Poll::Ready(std::pin::Pin::new(&mut *fut).poll(cx))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_put_under_full_never_leaves_the_cache_stale() {
    cancelled_writes_never_leave_the_cache_stale(SyncMode::Full, Cancelled::Put).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_put_under_off_never_leaves_the_cache_stale() {
    cancelled_writes_never_leave_the_cache_stale(SyncMode::Off, Cancelled::Put).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_delete_never_leaves_the_deleted_value_readable() {
    cancelled_writes_never_leave_the_cache_stale(SyncMode::Full, Cancelled::Delete).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_batch_never_leaves_the_cache_stale() {
    cancelled_writes_never_leave_the_cache_stale(SyncMode::Off, Cancelled::Batch).await;
}
