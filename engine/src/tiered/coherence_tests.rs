//! Tests of the coherence bookkeeping on its own: the busy-key total.

use super::*;
use crate::MemoryBackend;

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

#[tokio::test]
async fn the_busy_total_never_hides_a_busy_key_and_returns_to_zero() {
    let c = Arc::new(Coherence::default());
    let (upper, lower) = (MemoryBackend::new(), MemoryBackend::new());
    assert!(!c.is_busy(b"a"));
    // Two writers on one key, one on another: busy while any is in flight.
    let one = c.begin([b("a"), b("b")].iter());
    let two = c.begin([b("a")].iter());
    assert!(c.is_busy(b"a") && c.is_busy(b"b") && !c.is_busy(b"c"));
    one.settle(
        &upper,
        Repair::<MemoryBackend>::Invalidate,
        Some(WriteBatch::new()),
    )
    .await;
    assert!(c.is_busy(b"a"), "the second writer is still in flight");
    // A writer dropped unsettled leaves its key suspect: still busy.
    drop(two);
    assert!(c.is_busy(b"a") && !c.is_busy(b"b"));
    // A repair clears the suspicion.
    let seen = c.epoch(b"a");
    assert!(c.repair(&upper, b"a", &None, seen).await.unwrap());
    assert!(!c.is_busy(b"a"));
    assert_eq!(c.busy_keys.load(Ordering::SeqCst), 0);
    // Many overlapping intents on many keys, settled in any order, end at zero.
    let intents: Vec<Intent> = (0..200)
        .map(|i| c.begin([b(&format!("k{}", i % 37))].iter()))
        .collect();
    assert!(c.busy_keys.load(Ordering::SeqCst) >= 37);
    for (i, intent) in intents.into_iter().enumerate() {
        assert!(c.is_busy(format!("k{}", i % 37).as_bytes()));
        intent
            .settle(&upper, Repair::CopyFrom(&lower), Some(WriteBatch::new()))
            .await;
    }
    assert_eq!(c.busy_keys.load(Ordering::SeqCst), 0);
    assert!((0..37).all(|i| !c.is_busy(format!("k{i}").as_bytes())));
}
