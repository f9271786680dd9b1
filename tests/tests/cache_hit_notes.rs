//! A thread's hit notes reach the policy of every cache it reads, however many caches it
//! uses in turn (tokio workers serve them all): found by review, a thread cycling through
//! more caches than it kept buffers for cleared every buffer before it was handed over, and
//! every cache forgot its hot key.

use strata::{Bytes, ErrorKind, MemoryCache, StorageBackend};
use strata_tests::deadline::ready;

/// One-entry caches, each hit 1,000 times on "hot" by this thread in turn; then a challenger
/// seen 5 times displaces "hot" only if those hits never reached the policy.
async fn hot_kept_after_round_robin(caches: usize) -> Vec<bool> {
    let caches: Vec<MemoryCache> = (0..caches)
        .map(|_| MemoryCache::with_max_entries(1).unwrap())
        .collect();
    for c in &caches {
        c.put(Bytes::from_static(b"hot"), Bytes::from_static(b"v"))
            .await
            .unwrap();
    }
    for _ in 0..1_000 {
        for c in &caches {
            assert!(c.get(b"hot").await.unwrap().is_some());
        }
    }
    let mut kept = Vec::new();
    for c in &caches {
        for _ in 0..5 {
            assert!(c.get(b"challenger").await.unwrap().is_none());
        }
        c.put(Bytes::from_static(b"challenger"), Bytes::from_static(b"w"))
            .await
            .unwrap();
        kept.push(c.get(b"hot").await.unwrap().is_some());
    }
    kept
}

#[tokio::test]
async fn a_few_caches_learn_their_hot_key() {
    assert_eq!(hot_kept_after_round_robin(4).await, vec![true; 4]);
}

#[tokio::test]
async fn many_caches_read_in_turn_by_one_thread_still_learn_their_hot_key() {
    assert_eq!(
        hot_kept_after_round_robin(12).await,
        vec![true; 12],
        "1,000 hits per cache never reached the policies"
    );
}

#[test]
fn a_byte_budget_too_small_for_the_per_entry_bookkeeping_is_refused() {
    // Each entry counts ENTRY_OVERHEAD_BYTES: a budget that cannot hold a few entries would
    // silently cache nothing.
    let err = MemoryCache::builder().max_bytes(400).build().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    let cache = MemoryCache::builder().max_bytes(4_096).build().unwrap();
    let put = cache.put(Bytes::from_static(b"k"), Bytes::from_static(b"v"));
    ready(put).unwrap();
    assert_eq!(
        ready(cache.get(b"k")).unwrap(),
        Some(Bytes::from_static(b"v"))
    );
}
