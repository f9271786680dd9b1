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

#[test]
fn threads_racing_on_the_stripes_never_hide_a_held_key_and_the_total_matches_the_maps() {
    use std::sync::atomic::AtomicBool;
    let c = Arc::new(Coherence::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for t in 0..4u64 {
        let c = c.clone();
        let stop = stop.clone();
        handles.push(std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let upper = MemoryBackend::new();
            let mut s = 0x1234_5678u64 + t;
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let keys: Vec<Bytes> = (0..(1 + s % 4))
                    .map(|i| b(&format!("k{}", (s >> (8 * i)) % 600)))
                    .collect();
                let intent = c.begin(keys.iter());
                for k in &keys {
                    assert!(c.is_busy(k), "a held key read as not busy");
                }
                match s % 7 {
                    0 => drop(intent),
                    _ => {
                        rt.block_on(intent.settle(
                            &upper,
                            Repair::<MemoryBackend>::Invalidate,
                            Some(WriteBatch::new()),
                        ));
                    }
                }
                if s % 5 == 0 {
                    let k = &keys[0];
                    let seen = c.epoch(k);
                    let _ = rt.block_on(c.repair(&upper, k, &None, seen));
                }
                n += 1;
            }
            n
        }));
    }
    // Meanwhile the total never underflows (a huge value); at the end, with every thread
    // stopped, it equals the keys left in the maps.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    while std::time::Instant::now() < deadline {
        let total = c.busy_keys.load(Ordering::SeqCst);
        assert!(total < 100_000, "underflow: {total}");
    }
    stop.store(true, Ordering::Relaxed);
    let n: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let in_maps: usize = c.stripes.iter().map(|s| s.keys.lock().len()).sum();
    let in_busy: usize = c
        .stripes
        .iter()
        .map(|s| s.busy.load(Ordering::SeqCst))
        .sum();
    assert_eq!(
        c.busy_keys.load(Ordering::SeqCst),
        in_maps,
        "after {n} intents"
    );
    assert_eq!(in_busy, in_maps);
    assert_eq!(c.suspects.load(Ordering::SeqCst), in_maps);
}
