//! Conformance cases for writes under concurrency and cancellation: concurrent writers on
//! one key, and writes whose futures are dropped part-way. A composition must end serving
//! exactly what its lowest tier holds; any store must end holding a value some writer wrote,
//! whole, and never an older one than an acknowledged write.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use rand::Rng;

use super::{CaseContext, Harness};
use crate::{DynBackend, StorageBackend, WriteBatch};

const LIMIT: Duration = Duration::from_secs(60);

async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: no progress within {LIMIT:?}"))
}

async fn open_with_truth(h: &dyn Harness) -> (DynBackend, Option<DynBackend>) {
    h.open_with_truth()
        .await
        .expect("the harness must open the store")
}

/// After writes settle: the store serves what its lowest tier holds (for a composition), and
/// the value is one of `allowed`.
async fn assert_settled(
    store: &DynBackend,
    truth: &Option<DynBackend>,
    key: &Bytes,
    allowed: &HashSet<Option<Bytes>>,
    what: &str,
) {
    bounded("flush", store.flush()).await.expect("flush");
    let served = bounded("get", store.get(key)).await.expect("get");
    if let Some(truth) = truth {
        let below = bounded("truth get", truth.get(key))
            .await
            .expect("truth get");
        assert_eq!(
            served, below,
            "{what}: the store serves {served:?} but its lowest tier holds {below:?}"
        );
    }
    assert!(
        allowed.contains(&served),
        "{what}: {served:?} is not a value any writer left"
    );
}

/// 8 tasks writing one key at once (puts, deletes, batches with a second key), with reads
/// between: every read returns a whole written value, and the store ends agreeing with its
/// lowest tier.
pub async fn concurrent_writers_on_one_key_agree_with_the_lower_tier(h: &dyn Harness) {
    let (store, truth) = open_with_truth(h).await;
    let ctx = CaseContext::new("concurrent_one_key");
    let keys = [ctx.key("hot"), ctx.key("other")];
    let written: Arc<Mutex<HashSet<Option<Bytes>>>> = Arc::new(Mutex::new(HashSet::from([None])));
    for round in 0..4 {
        let mut tasks = Vec::new();
        for t in 0..8u32 {
            let (store, keys, written) = (store.clone(), keys.clone(), written.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0..12u32 {
                    let value = Bytes::from(format!("{round}/{t}/{i}").repeat(20));
                    written.lock().insert(Some(value.clone()));
                    match (t + i) % 4 {
                        0 | 1 => store.put(keys[0].clone(), value).await.expect("put"),
                        2 => {
                            store.delete(&keys[0]).await.expect("delete");
                        }
                        _ => {
                            let mut batch = WriteBatch::new();
                            batch
                                .put(keys[1].clone(), value.clone())
                                .put(keys[0].clone(), value);
                            store.write_batch(batch).await.expect("batch");
                        }
                    }
                    let got = store.get(&keys[0]).await.expect("get");
                    assert!(
                        written.lock().contains(&got),
                        "a read returned {got:?}, which no writer wrote whole"
                    );
                }
            }));
        }
        for task in tasks {
            bounded("writer", task).await.expect("writer task panicked");
        }
        let allowed = written.lock().clone();
        for key in &keys {
            assert_settled(&store, &truth, key, &allowed, &format!("round {round}")).await;
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Put,
    Delete,
    Batch,
}

/// Polls `fut` once, then drops it.
async fn poll_once<F: Future>(fut: F) {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| {
        let _ = fut.as_mut().poll(cx);
        Poll::Ready(())
    })
    .await;
}

/// A cached value, then a write dropped after 0–150 µs (or after one poll), 40 rounds: reads
/// return the old or the new value and, once settled, the store agrees with its lowest tier.
async fn cancelled_writes(h: &dyn Harness, kind: Kind) {
    let (store, truth) = open_with_truth(h).await;
    let ctx = CaseContext::new("cancelled_writes");
    let mut rng = rand::rng();
    for round in 0..40 {
        let (key, second) = (ctx.key(format!("{round}")), ctx.key(format!("{round}b")));
        let old = Bytes::from(format!("old {round}"));
        let new = Bytes::from(format!("new {round}"));
        store.put(key.clone(), old.clone()).await.expect("put");
        assert_eq!(store.get(&key).await.expect("get"), Some(old.clone()));
        let (s, k, n) = (store.clone(), key.clone(), new.clone());
        let second_key = second.clone();
        let write = async move {
            let _ = match kind {
                Kind::Put => s.put(k, n).await,
                Kind::Delete => s.delete(&k).await.map(|_| ()),
                Kind::Batch => {
                    let mut batch = WriteBatch::new();
                    batch.put(second_key, n.clone()).put(k, n);
                    s.write_batch(batch).await
                }
            };
        };
        if rng.random_bool(0.3) {
            poll_once(write).await;
        } else {
            let after = Duration::from_micros(rng.random_range(0..150));
            let _ = tokio::time::timeout(after, write).await;
        }
        let new = match kind {
            Kind::Delete => None,
            _ => Some(new),
        };
        let allowed = HashSet::from([Some(old), new]);
        let got = store.get(&key).await.expect("get");
        assert!(allowed.contains(&got), "round {round}: read {got:?}");
        assert_settled(
            &store,
            &truth,
            &key,
            &allowed,
            &format!("{kind:?} round {round}"),
        )
        .await;
    }
}

/// A put dropped part-way: see `cancelled_writes`.
pub async fn cancelled_put_settles_to_the_lower_tier(h: &dyn Harness) {
    cancelled_writes(h, Kind::Put).await;
}

/// A delete dropped part-way never leaves the deleted value readable once settled.
pub async fn cancelled_delete_settles_to_the_lower_tier(h: &dyn Harness) {
    cancelled_writes(h, Kind::Delete).await;
}

/// A batch dropped part-way: see `cancelled_writes`.
pub async fn cancelled_batch_settles_to_the_lower_tier(h: &dyn Harness) {
    cancelled_writes(h, Kind::Batch).await;
}
