//! Warm restart through the product path: a hot set saved from one cache over redb brings a
//! new cache (a restart) back warm, with the lower tier's current values, even while writers
//! race the warm-up.

use bytes::Bytes;
use strata::cache::HotSet;
use strata::{MemoryCache, StorageBackend, Tiered};
use strata_redb::RedbBackend;
use strata_tests::deadline::{bounded, ready};

fn k(i: u32) -> Bytes {
    Bytes::from(format!("key{i:04}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_cache_is_warm_with_current_values_even_with_writers_racing() {
    let dir = tempfile::tempdir().unwrap();
    let (path, hot_file) = (dir.path().join("app.redb"), dir.path().join("app.hot"));
    // Before the restart: 1,000 keys below, 100 of them read often through a 100-entry cache.
    {
        let disk = RedbBackend::builder(&path).open().await.unwrap();
        let cache = MemoryCache::with_max_entries(100).unwrap();
        let tier = Tiered::new(cache.clone(), disk.clone());
        for i in 0..1_000 {
            bounded("a put", tier.put(k(i), Bytes::from(format!("v1 {i}"))))
                .await
                .unwrap();
        }
        for _ in 0..5 {
            for i in 0..100 {
                bounded("a read", tier.get(&k(i * 10))).await.unwrap();
            }
        }
        let hot = cache.hot_set(100);
        assert!(
            hot.keys().iter().all(|h| h.frequency >= 2),
            "read five times each"
        );
        hot.save(&hot_file).unwrap();
        bounded("close", disk.close()).await.unwrap();
    }
    // After: a new cache over the reopened file. A writer updates some hot keys while the
    // cache warms; one key changed before the warm-up started.
    let disk = RedbBackend::builder(&path).open().await.unwrap();
    disk.put(k(10), "changed before the restart".into())
        .await
        .unwrap();
    let cache = MemoryCache::with_max_entries(100).unwrap();
    let tier = Tiered::new(cache.clone(), disk.clone());
    let hot = HotSet::load(&hot_file).unwrap().expect("saved");
    assert_eq!(hot.len(), 100);
    cache.restore_frequencies(&hot);
    let writer = {
        let tier = tier.clone();
        tokio::spawn(async move {
            for round in 0..20u32 {
                for i in (0..100).step_by(7) {
                    tier.put(k(i * 10), Bytes::from(format!("v2 {round}")))
                        .await
                        .unwrap();
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let loaded = bounded("the warm-up", tier.warm(&hot)).await.unwrap();
    assert_eq!(loaded, 100);
    bounded("the writer", writer).await.unwrap();
    let mut hits = 0;
    for h in hot.keys() {
        let below = disk.get(&h.key).await.unwrap();
        if let Some(cached) = ready(cache.get(&h.key)).unwrap() {
            hits += 1;
            assert_eq!(
                Some(cached),
                below,
                "the cache never holds an older value than redb"
            );
        }
        assert_eq!(bounded("a read", tier.get(&h.key)).await.unwrap(), below);
    }
    assert!(
        hits >= 90,
        "the hot set is resident after the warm-up: {hits} of 100"
    );
    assert_eq!(
        tier.get(&k(10)).await.unwrap().as_deref(),
        Some(&b"changed before the restart"[..]),
        "values come from the lower tier, never from the saved set"
    );
}

#[test]
fn a_damaged_hot_set_file_is_refused_not_half_used() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.hot");
    let cache = MemoryCache::with_max_entries(10).unwrap();
    ready(cache.put("a".into(), "1".into())).unwrap();
    cache.hot_set(10).save(&file).unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 9;
    bytes[last] ^= 1;
    std::fs::write(&file, &bytes).unwrap();
    let err = HotSet::load(&file).unwrap_err();
    assert_eq!(err.kind(), strata::ErrorKind::Corrupted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_landing_while_the_warm_up_reads_is_never_overwritten_by_it() {
    // The warm-up reads the hot key's old value from the lower tier and is held there; a
    // write of the key completes; then the warm-up goes on. Its fill must not land.
    let lower = strata_tests::wrappers::Paused::with_get_many(strata::MemoryBackend::new());
    lower.put(k(1), "old".into()).await.unwrap();
    let cache = MemoryCache::with_max_entries(100).unwrap();
    let tier = Tiered::new(cache.clone(), lower.clone());
    let hot = HotSet::new(vec![strata::cache::HotKey::new("default", k(1), 9)]);
    let warming = {
        let tier = tier.clone();
        let hot = hot.clone();
        tokio::spawn(async move { tier.warm(&hot).await })
    };
    bounded("the warm-up reads", lower.wait_until_paused()).await;
    bounded("a write during the warm-up", tier.put(k(1), "new".into()))
        .await
        .unwrap();
    lower.release_one();
    bounded("the warm-up ends", warming).await.unwrap().unwrap();
    let cached = ready(cache.get(&k(1))).unwrap();
    assert!(
        cached.is_none() || cached.as_deref() == Some(&b"new"[..]),
        "the warm-up's old value landed over the write: {cached:?}"
    );
    assert_eq!(
        bounded("a read", tier.get(&k(1))).await.unwrap().as_deref(),
        Some(&b"new"[..])
    );
}
