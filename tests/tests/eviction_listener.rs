//! `MemoryCache`'s eviction listener, as users call it: every cause, called outside the
//! cache's locks, and — with many tasks writing at once — exactly one notice for every value
//! that left.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use strata::cache::{Eviction, ManualClock, RemovalCause};
use strata::{MemoryCache, StorageBackend, TtlConfig, WriteBatch};
use strata_tests::deadline::bounded;

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

type Seen = Arc<Mutex<Vec<Eviction>>>;

fn recording() -> (Seen, impl Fn(Eviction) + Send + Sync + 'static) {
    let seen: Seen = Arc::default();
    let sink = seen.clone();
    (seen, move |e| sink.lock().push(e))
}

fn causes(seen: &Seen) -> Vec<(String, Option<String>, RemovalCause)> {
    seen.lock()
        .iter()
        .map(|e| {
            (
                String::from_utf8_lossy(&e.key).into_owned(),
                e.value
                    .as_ref()
                    .map(|v| String::from_utf8_lossy(v).into_owned()),
                e.cause,
            )
        })
        .collect()
}

#[tokio::test]
async fn each_cause_is_reported_with_the_value_that_left() {
    let (seen, listener) = recording();
    let clock = ManualClock::new();
    let cache = MemoryCache::builder()
        .max_entries(2)
        .ttl(
            TtlConfig::default()
                .default_ttl(Duration::from_secs(60))
                .min_ttl(Duration::from_secs(10)),
        )
        .clock(clock.clone())
        .eviction_listener(listener)
        .build()
        .unwrap();
    cache.put(b("k"), b("v1")).await.unwrap();
    cache.put(b("k"), b("v2")).await.unwrap();
    assert_eq!(
        causes(&seen),
        vec![("k".into(), Some("v1".into()), RemovalCause::Replaced)]
    );
    assert!(cache.delete(b"k").await.unwrap());
    assert_eq!(
        causes(&seen)[1],
        ("k".into(), Some("v2".into()), RemovalCause::Removed)
    );
    assert!(!cache.delete(b"k").await.unwrap(), "nothing to remove");
    assert_eq!(
        seen.lock().len(),
        2,
        "no notice for a key that was not there"
    );
    // Over capacity: three keys in a cache of two, each looked at so the policy can choose.
    for k in ["a", "b", "c"] {
        cache.put(b(k), b(&format!("value of {k}"))).await.unwrap();
    }
    let sized: Vec<_> = causes(&seen)
        .into_iter()
        .filter(|(_, _, cause)| *cause == RemovalCause::Size)
        .collect();
    assert_eq!(sized.len(), 1, "{sized:?}");
    let (gone, value, _) = &sized[0];
    assert_eq!(value.as_deref(), Some(format!("value of {gone}").as_str()));
    assert_eq!(cache.get(gone.as_bytes()).await.unwrap(), None);
    // Expiry, found by a read and by the cleanup pass.
    seen.lock().clear();
    clock.advance(Duration::from_secs(61));
    let survivors: Vec<String> = ["a", "b", "c"]
        .into_iter()
        .filter(|k| k != gone)
        .map(String::from)
        .collect();
    assert_eq!(cache.get(survivors[0].as_bytes()).await.unwrap(), None);
    assert_eq!(cache.run_cleanup(), 1);
    let mut expired = causes(&seen);
    expired.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        expired,
        survivors
            .iter()
            .map(|k| (
                k.clone(),
                Some(format!("value of {k}")),
                RemovalCause::Expired
            ))
            .collect::<Vec<_>>()
    );
    // A put over an expired entry reports it expired, not replaced.
    cache.put(b("x"), b("old")).await.unwrap();
    clock.advance(Duration::from_secs(61));
    seen.lock().clear();
    cache.put(b("x"), b("new")).await.unwrap();
    assert_eq!(
        causes(&seen),
        vec![("x".into(), Some("old".into()), RemovalCause::Expired)]
    );
}

#[test]
fn the_listener_runs_outside_the_caches_locks_and_may_use_the_cache() {
    // A listener that reads the cache (shard locks) and its residency (the policy lock):
    // called under either lock, it would deadlock; the thread's bounded wait names that.
    let slot: Arc<Mutex<Option<MemoryCache>>> = Arc::default();
    let calls = Arc::new(Mutex::new(0u32));
    let cache = {
        let (slot, calls) = (slot.clone(), calls.clone());
        MemoryCache::builder()
            .max_entries(4)
            .eviction_listener(move |e: Eviction| {
                let cache = slot.lock().clone().expect("set before any write");
                let _ = strata_tests::deadline::ready(cache.get(&e.key));
                let _ = cache.residency();
                let _ = cache.len();
                *calls.lock() += 1;
            })
            .build()
            .unwrap()
    };
    *slot.lock() = Some(cache.clone());
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for i in 0..50u32 {
            let key = Bytes::from(format!("k{}", i % 10));
            strata_tests::deadline::ready(cache.put(key.clone(), Bytes::from("v"))).unwrap();
            if i % 7 == 0 {
                strata_tests::deadline::ready(cache.delete(&key)).unwrap();
            }
            let mut batch = WriteBatch::new();
            batch
                .put(format!("b{}", i % 9), "w")
                .delete(format!("k{}", (i + 3) % 10));
            strata_tests::deadline::ready(cache.write_batch(batch)).unwrap();
        }
        done_tx.send(()).unwrap();
    });
    done_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the writes finished: a listener called under a cache lock deadlocks here");
    assert!(*calls.lock() > 20, "the listener ran: {}", calls.lock());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_many_writers_every_value_that_left_is_reported_exactly_once() {
    // Each stored value ends either resident or in exactly one notice. Values are unique, so
    // the ledger can match them one for one.
    let (seen, listener) = recording();
    let cache = MemoryCache::builder()
        .max_entries(64)
        .eviction_listener(listener)
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..16u32)
        .map(|t| {
            let cache = cache.clone();
            tokio::spawn(async move {
                let mut stored = Vec::new();
                for i in 0..2_000u32 {
                    let key = Bytes::from(format!("key{}", (i * 31 + t * 7) % 200));
                    let value = Bytes::from(format!("{t}/{i}"));
                    match i % 10 {
                        0 => {
                            cache.delete(&key).await.unwrap();
                        }
                        1 => {
                            let mut batch = WriteBatch::new();
                            batch.put(key.clone(), value.clone());
                            let other = Bytes::from(format!("key{}", (i + t) % 200));
                            let other_value = Bytes::from(format!("{t}/{i}/b"));
                            batch.put(other, other_value.clone());
                            cache.write_batch(batch).await.unwrap();
                            stored.push(value);
                            stored.push(other_value);
                        }
                        _ => {
                            cache.put(key, value.clone()).await.unwrap();
                            stored.push(value);
                        }
                    }
                    if i % 64 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
                stored
            })
        })
        .collect();
    let mut stored: HashMap<Bytes, u32> = HashMap::new();
    for task in tasks {
        for value in bounded("a writer", task).await.unwrap() {
            *stored.entry(value).or_default() += 1;
        }
    }
    let mut accounted: HashMap<Bytes, u32> = HashMap::new();
    for e in seen.lock().iter() {
        let value = e.value.clone().expect("a memory cache reports the value");
        *accounted.entry(value).or_default() += 1;
    }
    for (_, value) in cache.scan(strata::KeyRange::all(), None).await.unwrap() {
        *accounted.entry(value).or_default() += 1;
    }
    assert_eq!(
        stored.len(),
        accounted.len(),
        "values stored against values accounted for"
    );
    let wrong: Vec<_> = stored
        .iter()
        .filter(|(v, n)| accounted.get(*v) != Some(n))
        .take(5)
        .collect();
    assert!(
        wrong.is_empty(),
        "values not accounted exactly once: {wrong:?}"
    );
    let by_cause = |c| seen.lock().iter().filter(|e| e.cause == c).count();
    assert!(by_cause(RemovalCause::Size) > 0);
    assert!(by_cause(RemovalCause::Replaced) > 0);
    assert!(by_cause(RemovalCause::Removed) > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bounded_reports_what_its_policy_lets_go_exactly_once() {
    use strata::cache::{Bounded, PolicyConfig};
    let (seen, listener) = recording();
    let tier = Bounded::open(strata::MemoryBackend::new(), PolicyConfig::entries(32), &[])
        .await
        .unwrap()
        .eviction_listener(listener);
    tier.put(b("k"), b("1")).await.unwrap();
    tier.put(b("k"), b("2")).await.unwrap();
    assert!(tier.delete(b"k").await.unwrap());
    assert_eq!(
        causes(&seen),
        vec![
            ("k".into(), None, RemovalCause::Replaced),
            ("k".into(), None, RemovalCause::Removed)
        ]
    );
    seen.lock().clear();
    // Many writers: every value stored is resident at the end or in one notice.
    let tier = Arc::new(tier);
    let tasks: Vec<_> = (0..8u32)
        .map(|t| {
            let tier = tier.clone();
            tokio::spawn(async move {
                let mut puts = 0u64;
                for i in 0..500u32 {
                    let key = Bytes::from(format!("key{}", (i * 13 + t) % 100));
                    if i % 9 == 0 {
                        tier.delete(&key).await.unwrap();
                    } else {
                        tier.put(key, Bytes::from(format!("{t}/{i}")))
                            .await
                            .unwrap();
                        puts += 1;
                    }
                }
                puts
            })
        })
        .collect();
    let mut puts = 0;
    for task in tasks {
        puts += bounded("a writer", task).await.unwrap();
    }
    let (resident, _) = tier.residency().await;
    let notices = seen.lock().len() as u64;
    assert_eq!(
        puts,
        resident + notices,
        "{puts} puts, {resident} resident, {notices} notices"
    );
    let by_cause = |c| seen.lock().iter().filter(|e| e.cause == c).count();
    assert!(by_cause(RemovalCause::Size) > 0 && by_cause(RemovalCause::Removed) > 0);
    assert!(
        seen.lock()
            .iter()
            .all(|e| e.value.is_none() && &*e.keyspace == "default")
    );
}

#[test]
fn a_batch_never_loses_its_own_last_write_nor_leaves_the_policy_and_map_apart() {
    // Found by review: a batch fed the policy op by op and evicted after each, so a key
    // evicted by one op and put again by a later one lost the value the batch had stored,
    // while the policy kept holding it.
    let cache = MemoryCache::builder().max_bytes(3_000).build().unwrap();
    let mut batch = WriteBatch::new();
    batch.put("k", vec![b'x'; 4_000]).put("k", "small");
    strata_tests::deadline::ready(cache.write_batch(batch)).unwrap();
    assert_eq!(
        strata_tests::deadline::ready(cache.get(b"k")).unwrap(),
        Some(b("small"))
    );
    assert_eq!(cache.residency().0 as usize, cache.len());
    // Random batches with repeated keys and values of every size.
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let cache = MemoryCache::builder().max_bytes(8_000).build().unwrap();
    for round in 0..2_000u32 {
        let mut batch = WriteBatch::new();
        let mut last: HashMap<String, Option<Bytes>> = HashMap::new();
        for op in 0..rng.random_range(1..8) {
            let key = format!("k{}", rng.random_range(0..12));
            if rng.random_range(0..5) == 0 {
                batch.delete(key.clone());
                last.insert(key, None);
            } else {
                let len = [10, 300, 2_500, 9_000][rng.random_range(0..4)];
                let value = Bytes::from(format!("{round}/{op}/{}", "v".repeat(len)));
                batch.put(key.clone(), value.clone());
                last.insert(key, Some(value));
            }
        }
        strata_tests::deadline::ready(cache.write_batch(batch)).unwrap();
        for (key, value) in &last {
            let got = strata_tests::deadline::ready(cache.get(key.as_bytes())).unwrap();
            match value {
                None => assert_eq!(got, None, "round {round}: {key} was deleted"),
                Some(v) => assert!(
                    got.is_none() || got.as_ref() == Some(v),
                    "round {round}: {key} holds an older value"
                ),
            }
        }
        assert_eq!(cache.residency().0 as usize, cache.len(), "round {round}");
    }
}

#[test]
fn eviction_counters_count_each_departure_once() {
    let cache = MemoryCache::with_max_entries(2).unwrap();
    for _ in 0..10 {
        for k in ["c", "d"] {
            let _ = strata_tests::deadline::ready(cache.get(k.as_bytes()));
        }
    }
    strata_tests::deadline::ready(cache.put("a".into(), "1".into())).unwrap();
    strata_tests::deadline::ready(cache.put("b".into(), "1".into())).unwrap();
    let mut batch = WriteBatch::new();
    batch.put("c", "1").put("d", "1").delete("a").delete("b");
    strata_tests::deadline::ready(cache.write_batch(batch)).unwrap();
    let s = cache.stats();
    assert_eq!(
        s.evicted_capacity + s.evicted_explicit + cache.len() as u64,
        s.inserts,
        "{s:?}"
    );
}

#[test]
fn a_listener_that_writes_to_the_cache_never_recurses_deeper() {
    // Each evicted entry of "hot" moves to "cold" in the same cache, which evicts again. Found
    // by review: delivered recursively, this overflowed the stack at a few hundred levels.
    let slot: Arc<Mutex<Option<MemoryCache>>> = Arc::default();
    let moved = Arc::new(Mutex::new(0u64));
    let cache = {
        let (slot, moved) = (slot.clone(), moved.clone());
        MemoryCache::builder()
            .max_entries(2_000)
            .eviction_listener(move |e: Eviction| {
                // Every entry evicted for space moves once more, 5,000 moves in all: each move
                // is a put into a full cache, which evicts again, so the chain is 5,000 long.
                let mut n = moved.lock();
                if e.cause == RemovalCause::Size && *n < 5_000 {
                    *n += 1;
                    drop(n);
                    let cold = slot.lock().clone().unwrap().keyspace("cold").unwrap();
                    let key = Bytes::from(format!(
                        "{}/{}",
                        String::from_utf8_lossy(&e.key),
                        e.keyspace
                    ));
                    strata_tests::deadline::ready(cold.put(key, e.value.unwrap())).unwrap();
                }
            })
            .build()
            .unwrap()
    };
    *slot.lock() = Some(cache.clone());
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            let hot = cache.keyspace("hot").unwrap();
            for i in 0..2_001u32 {
                strata_tests::deadline::ready(hot.put(Bytes::from(format!("k{i}")), b("v")))
                    .unwrap();
            }
            done_tx.send(()).unwrap();
        })
        .unwrap();
    done_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the writes finished on a small stack");
    assert_eq!(*moved.lock(), 5_000, "every move made");
}
