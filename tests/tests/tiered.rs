//! Tiered semantics: write-through, invalidation, single-flight, the stale-fill race, expiry,
//! strict capacity, upper-tier failures, warm restart.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use strata::cache::ManualClock;
use strata::{
    KeyRange, MemoryBackend, MemoryCache, StorageBackend, SyncMode, TierMode, Tiered, TtlConfig,
    WriteBatch,
};
use strata_tests::harness::redb_at;
use strata_tests::wrappers::{Counting, Faulty, Paused};

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// Every wait on a paused tier is bounded: a hang is a named failure, not a stuck run.
async fn bounded<T>(fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .expect("no progress within 10 s")
}

#[tokio::test]
async fn write_through_reaches_both_tiers_and_reads_fill_the_upper() {
    let (upper, lower) = (MemoryBackend::new(), MemoryBackend::new());
    let tiered = Tiered::new(upper.clone(), lower.clone());
    tiered.put(b("k"), b("v1")).await.unwrap();
    assert_eq!(
        upper.get(b"k").await.unwrap(),
        Some(b("v1")),
        "upper written"
    );
    assert_eq!(
        lower.get(b"k").await.unwrap(),
        Some(b("v1")),
        "lower written"
    );

    // A value only in the lower tier is read through and filled.
    lower.put(b("only-lower"), b("deep")).await.unwrap();
    assert_eq!(tiered.get(b"only-lower").await.unwrap(), Some(b("deep")));
    assert_eq!(
        upper.get(b"only-lower").await.unwrap(),
        Some(b("deep")),
        "filled"
    );
    let stats = tiered.stats();
    assert_eq!((stats.misses, stats.fills, stats.lower_reads), (1, 1, 1));
    assert_eq!(tiered.get(b"only-lower").await.unwrap(), Some(b("deep")));
    assert_eq!(tiered.stats().hits, 1, "second read is a hit");
}

#[tokio::test]
async fn delete_and_batches_invalidate_the_upper_tier() {
    let (upper, lower) = (MemoryBackend::new(), MemoryBackend::new());
    let tiered = Tiered::new(upper.clone(), lower.clone());
    tiered.put(b("a"), b("1")).await.unwrap();
    tiered.put(b("b"), b("2")).await.unwrap();
    assert!(tiered.delete(b"a").await.unwrap());
    assert_eq!(upper.get(b"a").await.unwrap(), None);
    assert_eq!(tiered.get(b"a").await.unwrap(), None);
    let mut batch = WriteBatch::new();
    batch.delete(b("b")).put(b("c"), b("3"));
    tiered.write_batch(batch).await.unwrap();
    assert_eq!(
        upper.get_many(&[b("b"), b("c")]).await.unwrap(),
        vec![None, Some(b("3"))]
    );
    assert_eq!(
        lower.get_many(&[b("b"), b("c")]).await.unwrap(),
        vec![None, Some(b("3"))]
    );
}

/// A large batch, its keys out of order and some written twice, reaches the upper tier whole
/// and with each key's last value: settling looks every op's key up among the intent's sorted
/// keys (a search in the wrong order would invalidate keys instead of writing them).
#[tokio::test]
async fn a_large_unordered_batch_with_repeats_is_written_through_whole() {
    let (upper, lower) = (MemoryBackend::new(), MemoryBackend::new());
    let tiered = Tiered::new(upper.clone(), lower.clone());
    let mut batch = WriteBatch::new();
    let keys: Vec<u64> = (0..3_000u64).map(|i| (i * 7_919) % 3_000).collect();
    for &k in &keys {
        batch.put(Bytes::from(format!("key-{k}")), b("first"));
    }
    for &k in keys.iter().step_by(3) {
        batch.put(Bytes::from(format!("key-{k}")), b("second"));
    }
    bounded(tiered.write_batch(batch)).await.unwrap();
    for k in 0..3_000u64 {
        let want = if keys.iter().step_by(3).any(|&x| x == k) {
            "second"
        } else {
            "first"
        };
        let key = format!("key-{k}");
        assert_eq!(
            upper.get(key.as_bytes()).await.unwrap(),
            Some(b(want)),
            "upper {key}"
        );
        assert_eq!(
            lower.get(key.as_bytes()).await.unwrap(),
            Some(b(want)),
            "lower {key}"
        );
    }
    assert_eq!(tiered.stats().contended_writes, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_misses_make_one_lower_read() {
    let lower = MemoryBackend::new();
    lower.put(b("hot"), b("value")).await.unwrap();
    // Pause the lower read so all 100 callers are waiting on it together.
    let paused = Paused::new(lower);
    let counting = Counting::new(paused.clone());
    let tiered = Arc::new(Tiered::new(MemoryBackend::new(), counting.clone()));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let t = tiered.clone();
            tokio::spawn(async move { t.get(b"hot").await.unwrap() })
        })
        .collect();
    let limit = Duration::from_secs(10);
    tokio::time::timeout(limit, paused.wait_until_paused())
        .await
        .expect("the leader reaches the lower tier");
    // A miss is counted once its caller is in the flight: 100 misses = 100 callers joined.
    tokio::time::timeout(limit, async {
        while tiered.stats().misses < 100 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("all 100 callers join the flight");
    paused.release_one();
    for t in tasks {
        let got = tokio::time::timeout(limit, t)
            .await
            .expect("callers return");
        assert_eq!(got.unwrap(), Some(b("value")));
    }
    assert_eq!(
        counting.gets(),
        1,
        "exactly one lower read for 100 concurrent misses"
    );
    assert_eq!(tiered.stats().merged, 99);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fill_racing_a_write_never_leaves_the_upper_tier_stale() {
    let (upper, lower) = (MemoryBackend::new(), MemoryBackend::new());
    lower.put(b("k"), b("old")).await.unwrap();
    let paused = Paused::new(lower.clone());
    let tiered = Arc::new(Tiered::new(upper.clone(), paused.clone()));

    // 1. A reader misses the upper tier and reads "old" from the lower tier, then pauses.
    let reader = {
        let t = tiered.clone();
        tokio::spawn(async move { t.get(b"k").await.unwrap() })
    };
    bounded(paused.wait_until_paused()).await;
    // 2. A writer writes "new" through both tiers and returns.
    tiered.put(b("k"), b("new")).await.unwrap();
    assert_eq!(upper.get(b"k").await.unwrap(), Some(b("new")));
    // 3. The reader resumes and tries to fill the old value.
    paused.release_one();
    assert_eq!(
        bounded(reader).await.unwrap(),
        Some(b("old")),
        "the reader returns what it read"
    );
    assert_eq!(
        upper.get(b"k").await.unwrap(),
        Some(b("new")),
        "the stale fill was skipped"
    );
    assert_eq!(tiered.stats().stale_fills_skipped, 1);

    // Same race with a delete.
    lower.put(b("d"), b("old")).await.unwrap();
    let reader = {
        let t = tiered.clone();
        tokio::spawn(async move { t.get(b"d").await.unwrap() })
    };
    bounded(paused.wait_until_paused()).await;
    assert!(tiered.delete(b"d").await.unwrap());
    paused.release_one();
    bounded(reader).await.unwrap();
    assert_eq!(
        upper.get(b"d").await.unwrap(),
        None,
        "no resurrection by a stale fill"
    );
    paused.release_one(); // for the next read's pause
    assert_eq!(bounded(tiered.get(b"d")).await.unwrap(), None);
}

#[tokio::test]
async fn expired_entries_are_never_served() {
    let clock = ManualClock::new();
    let ttl = TtlConfig::default()
        .default_ttl(Duration::from_secs(60))
        .min_ttl(Duration::from_secs(10));
    let cache = MemoryCache::builder()
        .max_entries(100)
        .ttl(ttl)
        .clock(clock.clone())
        .build()
        .unwrap();
    let lower = MemoryBackend::new();
    let tiered = Tiered::new(cache.clone(), lower.clone());
    tiered.put(b("k"), b("v")).await.unwrap();
    clock.advance(Duration::from_secs(59));
    assert_eq!(
        cache.get(b"k").await.unwrap(),
        Some(b("v")),
        "alive before its TTL"
    );
    clock.advance(Duration::from_secs(1));
    assert_eq!(cache.get(b"k").await.unwrap(), None, "expired at its TTL");
    assert_eq!(
        cache.scan(KeyRange::all(), None).await.unwrap(),
        vec![],
        "not in scans either"
    );
    assert_eq!(cache.stats().evicted_ttl, 1);
    // Through the tier, an expired entry is a miss served from the lower tier.
    assert_eq!(tiered.get(b"k").await.unwrap(), Some(b("v")));
    assert_eq!(tiered.stats().lower_reads, 1);

    // Per-put TTL, and the cleanup pass.
    cache
        .put_with_ttl(b("short"), b("s"), Duration::from_secs(5))
        .unwrap();
    clock.advance(Duration::from_secs(6));
    assert_eq!(
        cache.run_cleanup(),
        1,
        "the cleanup pass drops the expired entry"
    );
    assert_eq!(cache.get(b"short").await.unwrap(), None);
}

#[tokio::test]
async fn hot_entries_live_longer_and_cold_ones_shorter() {
    let clock = ManualClock::new();
    let ttl = TtlConfig::default().default_ttl(Duration::from_secs(100));
    let cache = MemoryCache::builder()
        .max_entries(100)
        .ttl(ttl)
        .clock(clock.clone())
        .build()
        .unwrap();
    cache.put(b("hot"), b("h")).await.unwrap();
    cache.put(b("cold"), b("c")).await.unwrap();
    for _ in 0..12 {
        cache.get(b"hot").await.unwrap();
    }
    // Cold: 100 s shrinks to 75 s at this cleanup pass; hot grew past 100 s on its hits.
    cache.run_cleanup();
    clock.advance(Duration::from_secs(80));
    assert_eq!(
        cache.get(b"cold").await.unwrap(),
        None,
        "the cold entry expired early"
    );
    clock.advance(Duration::from_secs(40));
    assert_eq!(
        cache.get(b"hot").await.unwrap(),
        Some(b("h")),
        "the hot entry outlived the default TTL"
    );
}

#[tokio::test]
async fn capacity_is_strict_after_every_operation() {
    let by_entries = MemoryCache::builder().max_entries(50).build().unwrap();
    let by_bytes = MemoryCache::builder().max_bytes(4096).build().unwrap();
    for cache in [by_entries, by_bytes] {
        let other = cache.keyspace("other").unwrap();
        for i in 0..2000u32 {
            let key = Bytes::from(format!("key-{}", i % 300));
            let value = Bytes::from(vec![b'v'; (i as usize * 7) % 200]);
            match i % 5 {
                0 => {
                    let mut batch = WriteBatch::new();
                    batch
                        .put(key.clone(), value.clone())
                        .put(Bytes::from(format!("b-{i}")), value);
                    cache.write_batch(batch).await.unwrap();
                }
                1 => {
                    cache.delete(&key).await.unwrap();
                }
                2 => {
                    other.put(key, value).await.unwrap();
                }
                _ => {
                    cache.put(key.clone(), value).await.unwrap();
                    cache.get(&key).await.unwrap();
                }
            }
            let (entries, weight) = cache.residency();
            let config = cache.config();
            assert!(
                entries <= config.max_entries.unwrap_or(u64::MAX),
                "{entries} entries after op {i}"
            );
            assert!(
                weight <= config.max_bytes.unwrap_or(u64::MAX),
                "{weight} bytes after op {i}"
            );
            let in_maps = (cache.len() + other.len()) as u64;
            assert_eq!(in_maps, entries, "maps and policy agree after op {i}");
        }
        assert!(
            cache.stats().evicted_capacity > 0,
            "the test must exercise eviction"
        );
    }
}

#[tokio::test]
async fn upper_failures_are_absorbed_unless_strict() {
    let lower = MemoryBackend::new();
    let upper = Faulty::new(MemoryBackend::new(), 0); // fails from the start
    let tiered = Tiered::new(upper.clone(), lower.clone());
    tiered.put(b("k"), b("v")).await.unwrap();
    assert_eq!(
        tiered.get(b"k").await.unwrap(),
        Some(b("v")),
        "served from the lower tier"
    );
    lower.put(b("k2"), b("v2")).await.unwrap();
    assert_eq!(
        tiered.get(b"k2").await.unwrap(),
        Some(b("v2")),
        "a failed upper read is a miss"
    );
    // Failed: the put's upper write (its invalidation failed too, so k is suspect and its
    // read bypasses the upper tier), the repair that read attempts, the k2 upper read and
    // the k2 fill.
    assert_eq!(tiered.stats().upper_errors, 4);
    assert_eq!(tiered.stats().invalidation_failures, 1);
    assert_eq!(tiered.stats().bypassed, 1, "the suspect key was read below");
    assert_eq!(lower.get(b"k").await.unwrap(), Some(b("v")));

    let strict = Tiered::builder(Faulty::new(MemoryBackend::new(), 0), MemoryBackend::new())
        .strict(true)
        .build()
        .unwrap();
    let err = strict.put(b("k"), b("v")).await.unwrap_err();
    assert_eq!(err.kind(), strata::ErrorKind::Unavailable);
    assert!(
        strict.get(b"other").await.is_err(),
        "strict reads fail too (k itself is suspect and read below)"
    );
}

#[tokio::test]
async fn a_failed_invalidation_makes_the_key_bypass_the_upper_tier() {
    let inner_upper = MemoryBackend::new();
    // The upper tier works for the first write, then fails.
    let upper = Faulty::new(inner_upper.clone(), 1);
    let lower = MemoryBackend::new();
    let tiered = Tiered::new(upper, lower.clone());
    tiered.put(b("k"), b("v1")).await.unwrap(); // upper gets v1
    tiered.put(b("k"), b("v2")).await.unwrap(); // upper update and invalidation both fail
    assert_eq!(
        inner_upper.get(b"k").await.unwrap(),
        Some(b("v1")),
        "the upper copy is stale"
    );
    assert_eq!(
        tiered.get(b"k").await.unwrap(),
        Some(b("v2")),
        "but it is never served"
    );
    assert_eq!(tiered.stats().invalidation_failures, 1);
}

#[tokio::test]
async fn replica_mode_refuses_an_upper_tier_that_evicts() {
    let cache = MemoryCache::builder().max_entries(10).build().unwrap();
    let err = Tiered::builder(cache, MemoryBackend::new())
        .mode(TierMode::Replica)
        .build()
        .expect_err("an evicting replica would lose keys its scans must return");
    assert_eq!(err.kind(), strata::ErrorKind::InvalidInput);
    let cache = MemoryCache::builder().max_entries(10).build().unwrap();
    assert!(
        Tiered::builder(cache, MemoryBackend::new()).build().is_ok(),
        "a cache may evict"
    );
}

#[tokio::test]
async fn replica_mode_scans_the_upper_tier() {
    let (upper, lower) = (MemoryBackend::new(), MemoryBackend::new());
    let tiered = Tiered::builder(upper.clone(), lower.clone())
        .mode(TierMode::Replica)
        .build()
        .unwrap();
    tiered.put(b("a"), b("1")).await.unwrap();
    upper.put(b("only-upper"), b("x")).await.unwrap();
    let rows = tiered.scan(KeyRange::all(), None).await.unwrap();
    assert_eq!(rows.len(), 2, "replica scans come from the upper tier");
    let cache_mode = Tiered::new(upper, lower);
    assert_eq!(
        cache_mode.scan(KeyRange::all(), None).await.unwrap().len(),
        1,
        "cache scans come from the lower tier"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persistent_upper_tier_is_warm_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b_path) = (dir.path().join("upper.redb"), dir.path().join("lower.redb"));
    {
        let tiered = Tiered::new(
            redb_at(a.clone(), SyncMode::Off).await.unwrap(),
            redb_at(b_path.clone(), SyncMode::Full).await.unwrap(),
        );
        for i in 0..100 {
            tiered
                .put(Bytes::from(format!("k{i}")), b("v"))
                .await
                .unwrap();
        }
    }
    let lower = Counting::new(redb_at(b_path, SyncMode::Full).await.unwrap());
    let tiered = Tiered::new(redb_at(a, SyncMode::Off).await.unwrap(), lower.clone());
    for i in 0..100 {
        assert_eq!(
            tiered.get(format!("k{i}").as_bytes()).await.unwrap(),
            Some(b("v"))
        );
    }
    assert_eq!(
        lower.gets(),
        0,
        "every read after the restart was served by the upper tier"
    );
    assert_eq!(tiered.stats().hits, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_persistent_tier_respects_capacity_and_is_warm_after_restart() {
    use strata::cache::{Bounded, PolicyConfig};
    let dir = tempfile::tempdir().unwrap();
    let (a, b_path) = (dir.path().join("upper.redb"), dir.path().join("lower.redb"));
    let resident: Vec<Bytes>;
    {
        let upper = Bounded::open(
            redb_at(a.clone(), SyncMode::Off).await.unwrap(),
            PolicyConfig::entries(100),
            &[],
        )
        .await
        .unwrap();
        let tiered = Tiered::new(
            upper,
            redb_at(b_path.clone(), SyncMode::Full).await.unwrap(),
        );
        for i in 0..300 {
            tiered
                .put(Bytes::from(format!("k{i:03}")), b("v"))
                .await
                .unwrap();
            let (entries, _) = tiered.upper().residency().await;
            assert!(entries <= 100, "{entries} resident after put {i}");
        }
        resident = tiered
            .upper()
            .get_ref()
            .scan(KeyRange::all(), None)
            .await
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            resident.len(),
            100,
            "the redb tier holds exactly the capacity"
        );
        assert_eq!(
            tiered
                .lower()
                .scan(KeyRange::all(), None)
                .await
                .unwrap()
                .len(),
            300,
            "the lower tier holds everything"
        );
    }
    // Restart: the policy is rebuilt from the tier, which serves hits at once.
    let upper = Bounded::open(
        redb_at(a, SyncMode::Off).await.unwrap(),
        PolicyConfig::entries(100),
        &[],
    )
    .await
    .unwrap();
    assert_eq!(upper.residency().await.0, 100);
    let lower = Counting::new(redb_at(b_path, SyncMode::Full).await.unwrap());
    let tiered = Tiered::new(upper, lower.clone());
    for key in &resident {
        assert_eq!(tiered.get(key).await.unwrap(), Some(b("v")));
    }
    assert_eq!(
        lower.gets(),
        0,
        "warm after restart: no lower read for resident keys"
    );
    // And it keeps its capacity afterwards.
    for i in 300..400 {
        tiered
            .put(Bytes::from(format!("k{i:03}")), b("v"))
            .await
            .unwrap();
    }
    assert!(tiered.upper().residency().await.0 <= 100);
    assert!(
        tiered
            .upper()
            .get_ref()
            .scan(KeyRange::all(), None)
            .await
            .unwrap()
            .len()
            <= 100
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_cleanup_drops_expired_entries_without_reads() {
    let clock = ManualClock::new();
    let ttl = TtlConfig::default()
        .default_ttl(Duration::from_secs(60))
        .min_ttl(Duration::from_secs(1));
    let cache = MemoryCache::builder()
        .max_entries(100)
        .ttl(ttl)
        .clock(clock.clone())
        .build()
        .unwrap();
    for i in 0..10 {
        cache
            .put(Bytes::from(format!("k{i}")), b("v"))
            .await
            .unwrap();
    }
    let task = cache.spawn_cleanup(Duration::from_millis(5));
    clock.advance(Duration::from_secs(61));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while cache.stats().evicted_ttl < 10 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        cache.stats().evicted_ttl,
        10,
        "the cleanup task expired every entry"
    );
    assert_eq!(cache.residency().0, 0);
    assert!(cache.is_empty());
    drop(cache);
    // The task ends by itself once the cache is gone.
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("cleanup task stops")
        .unwrap();
}

#[tokio::test]
async fn a_suspect_key_is_repaired_by_its_next_read_once_the_upper_tier_works() {
    let upper = strata_tests::chaos::Chaos::new(MemoryBackend::new());
    let control = upper.control();
    let tiered = Tiered::new(upper.clone(), MemoryBackend::new());
    tiered.put(b("k"), b("v1")).await.unwrap();
    control.set(1000, 0, 0); // the upper tier fails everything
    tiered.put(b("k"), b("v2")).await.unwrap(); // absorbed; its invalidation failed too
    assert_eq!(
        upper.inner().get(b"k").await.unwrap(),
        Some(b("v1")),
        "stale"
    );
    assert_eq!(tiered.stats().invalidation_failures, 1);
    control.calm(true);
    assert_eq!(tiered.get(b"k").await.unwrap(), Some(b("v2")), "read below");
    assert_eq!(tiered.stats().repairs, 1, "the read repaired the key");
    assert_eq!(upper.inner().get(b"k").await.unwrap(), Some(b("v2")));
    let hits = tiered.stats().hits;
    assert_eq!(tiered.get(b"k").await.unwrap(), Some(b("v2")));
    assert_eq!(
        tiered.stats().hits,
        hits + 1,
        "served by the upper tier again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_begun_after_a_write_never_joins_a_lower_read_begun_before_it() {
    let lower = MemoryBackend::new();
    lower.put(b("k"), b("old")).await.unwrap();
    let paused = Paused::new(lower.clone());
    let tiered = Tiered::new(MemoryBackend::new(), paused.clone());
    let limit = Duration::from_secs(10);
    // A reader misses and holds "old" from the lower tier.
    let early = tokio::spawn({
        let t = tiered.clone();
        async move { t.get(b"k").await.unwrap() }
    });
    tokio::time::timeout(limit, paused.wait_until_paused())
        .await
        .expect("the early reader reaches the lower tier");
    // The key is deleted, acknowledged; a read begun after that must not see "old".
    assert!(tiered.delete(b"k").await.unwrap());
    let late = tokio::spawn({
        let t = tiered.clone();
        async move { t.get(b"k").await.unwrap() }
    });
    // The late reader makes its own lower read (it pauses too), unless it wrongly joined.
    let _ = tokio::time::timeout(Duration::from_millis(300), paused.wait_until_paused()).await;
    paused.release_one();
    paused.release_one();
    let late = tokio::time::timeout(limit, late)
        .await
        .expect("late returns");
    assert_eq!(late.unwrap(), None, "the late read saw the delete");
    let early = tokio::time::timeout(limit, early)
        .await
        .expect("early returns");
    assert_eq!(
        early.unwrap(),
        Some(b("old")),
        "the early read was concurrent"
    );
    assert_eq!(
        tiered.upper().get(b"k").await.unwrap(),
        None,
        "the early read's fill was skipped"
    );
}

#[tokio::test]
async fn close_reaches_every_tier_and_reports_the_first_error() {
    let tiered = Tiered::new(MemoryBackend::new(), MemoryBackend::new());
    tiered.put(b("k"), b("v")).await.unwrap();
    tiered.close().await.expect("both tiers close");

    // A lower tier that fails to close fails the close (it is the truth).
    let lower = Faulty::new(MemoryBackend::new(), 0);
    let err = Tiered::new(MemoryBackend::new(), lower)
        .close()
        .await
        .expect_err("the lower tier's close failed");
    assert_eq!(err.kind(), strata::ErrorKind::Unavailable);

    // An upper tier's failure is absorbed unless strict, like every upper-tier failure.
    let upper = || Faulty::new(MemoryBackend::new(), 0);
    let lenient = Tiered::new(upper(), MemoryBackend::new());
    lenient.close().await.expect("absorbed");
    assert_eq!(lenient.stats().upper_errors, 1);
    let strict = Tiered::builder(upper(), MemoryBackend::new())
        .strict(true)
        .build()
        .unwrap();
    assert!(strict.close().await.is_err(), "strict: reported");
}
