//! Tests of the W-TinyLFU policy on its own.

use super::*;

fn replay(policy: &mut WTinyLfu<u64>, keys: impl Iterator<Item = u64>) -> (u64, u64) {
    let (mut hits, mut total) = (0, 0);
    let mut evicted = Vec::new();
    for k in keys {
        total += 1;
        if policy.record_hit(&k) {
            hits += 1;
        } else {
            policy.record_miss(&k);
            policy.insert(k, 1, &mut evicted);
        }
        assert!(
            policy.len() as u64 <= policy.config().max_entries,
            "over capacity"
        );
    }
    (hits, total)
}

#[test]
fn never_exceeds_capacity_and_reports_evictions() {
    let mut p = WTinyLfu::new(PolicyConfig::entries(100));
    let mut evicted = Vec::new();
    for k in 0..1000u64 {
        p.record_miss(&k);
        p.insert(k, 1, &mut evicted);
        assert!(p.len() <= 100);
    }
    assert_eq!(
        p.len() + evicted.len(),
        1000,
        "every key is resident or was evicted once"
    );
}

#[test]
fn weight_limit_is_strict_and_oversized_entries_are_refused() {
    let mut p = WTinyLfu::new(PolicyConfig::weight(1000, 100));
    let mut evicted = Vec::new();
    for k in 0..100u64 {
        p.insert(k, 10 + k % 90, &mut evicted);
        assert!(p.weight() <= 1000, "weight {}", p.weight());
    }
    assert!(!p.insert(999, 1001, &mut evicted));
    assert_eq!(evicted.last(), Some(&(999, EvictionCause::TooLarge)));
}

#[test]
fn frequent_keys_survive_a_scan() {
    let mut p = WTinyLfu::new(PolicyConfig::entries(100));
    // A hot set of 50 keys, used often…
    for _ in 0..20 {
        replay(&mut p, 0..50);
    }
    // …then a long scan of one-off keys.
    replay(&mut p, 1000..20_000);
    let survivors = (0..50).filter(|k| p.contains(k)).count();
    assert!(
        survivors >= 45,
        "only {survivors} hot keys survived the scan"
    );
}

#[test]
fn beats_lru_on_a_loop_larger_than_the_cache() {
    let mut p = WTinyLfu::new(PolicyConfig::entries(100));
    let (hits, total) = replay(&mut p, (0..200).cycle().take(200 * 200).map(|k| k as u64));
    // LRU gets 0 here; keeping a stable half of the loop gets close to 50 %.
    assert!(
        hits * 100 / total >= 30,
        "hit ratio {}%",
        hits * 100 / total
    );
}

#[test]
fn remove_and_reinsert() {
    let mut p = WTinyLfu::new(PolicyConfig::entries(10));
    let mut evicted = Vec::new();
    p.insert(1u64, 1, &mut evicted);
    assert!(p.remove(&1));
    assert!(!p.remove(&1));
    assert!(!p.contains(&1));
    p.insert(1, 1, &mut evicted);
    p.insert(1, 3, &mut evicted);
    assert_eq!((p.len(), p.weight()), (1, 3));
}
