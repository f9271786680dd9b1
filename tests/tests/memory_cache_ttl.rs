//! Per-entry TTLs on a `MemoryCache` hold whether or not the cache has a default TTL.

use std::time::Duration;

use bytes::Bytes;
use strata::cache::{ManualClock, MemoryCache};
use strata::{KeyRange, StorageBackend, TtlConfig};

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

async fn expires_on_time(cache: MemoryCache, clock: &ManualClock) {
    cache
        .put_with_ttl(b("short"), b("s"), Duration::from_secs(5))
        .unwrap();
    cache.put(b("plain"), b("p")).await.unwrap();
    clock.advance(Duration::from_secs(4));
    assert_eq!(
        cache.get(b"short").await.unwrap(),
        Some(b("s")),
        "alive before its TTL"
    );
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        cache.get(b"short").await.unwrap(),
        None,
        "expired at its TTL"
    );
    let rows = cache.scan(KeyRange::all(), None).await.unwrap();
    assert_eq!(rows, vec![(b("plain"), b("p"))], "scans skip it too");
    assert_eq!(cache.stats().evicted_ttl, 1);
}

#[tokio::test]
async fn put_with_ttl_expires_without_a_default_ttl() {
    let clock = ManualClock::new();
    let cache = MemoryCache::builder()
        .max_entries(100)
        .clock(clock.clone())
        .build()
        .unwrap();
    expires_on_time(cache.clone(), &clock).await;
    // The plain entry has no TTL of its own: it never expires.
    clock.advance(Duration::from_secs(1_000_000));
    assert_eq!(cache.get(b"plain").await.unwrap(), Some(b("p")));
}

#[tokio::test]
async fn put_with_ttl_expires_with_a_default_ttl() {
    let clock = ManualClock::new();
    let cache = MemoryCache::builder()
        .max_entries(100)
        .ttl(TtlConfig::default())
        .clock(clock.clone())
        .build()
        .unwrap();
    expires_on_time(cache, &clock).await;
}

#[tokio::test]
async fn the_cleanup_pass_drops_expired_per_entry_ttls_without_a_default_ttl() {
    let clock = ManualClock::new();
    let cache = MemoryCache::builder()
        .max_entries(100)
        .clock(clock.clone())
        .build()
        .unwrap();
    for i in 0..3 {
        cache
            .put_with_ttl(Bytes::from(format!("k{i}")), b("v"), Duration::from_secs(5))
            .unwrap();
    }
    cache.put(b("plain"), b("p")).await.unwrap();
    clock.advance(Duration::from_secs(6));
    assert_eq!(cache.run_cleanup(), 3, "the expired entries are dropped");
    assert_eq!(cache.len(), 1);
    assert_eq!(cache.residency().0, 1, "and the policy forgot them");
}
