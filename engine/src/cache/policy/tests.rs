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

#[test]
fn keys_sharing_a_hash_are_told_apart_by_the_key() {
    // The index finds nodes by hash and tells them apart by the key they hold: two keys with
    // one hash must stay two entries, each found, hit and removed on its own.
    let mut p = WTinyLfu::new(PolicyConfig::entries(10));
    let mut evicted = Vec::new();
    assert!(p.insert_hashed(1u64, 42, 1, &mut evicted));
    assert!(p.insert_hashed(2u64, 42, 1, &mut evicted));
    assert_eq!(p.len(), 2);
    assert!(p.contains_hashed(&1, 42) && p.contains_hashed(&2, 42));
    assert!(!p.contains_hashed(&3, 42));
    assert_ne!(p.node_of(&1, 42), p.node_of(&2, 42));
    // Re-inserting one re-weighs it; it does not add a third entry.
    assert!(p.insert_hashed(2u64, 42, 3, &mut evicted));
    assert_eq!((p.len(), p.weight()), (2, 4));
    assert!(p.remove_hashed(&1, 42));
    assert!(!p.contains_hashed(&1, 42));
    assert!(
        p.record_hit_hashed(&2, 42),
        "the other key survives its twin's removal"
    );
    assert!(!p.remove_hashed(&1, 42));
    assert!(evicted.is_empty());
}

#[test]
fn evictions_leave_the_index_in_step_with_the_nodes() {
    // Thousands of inserts through a small policy: every key the policy still holds is found,
    // and every evicted one is gone from the index.
    let mut p = WTinyLfu::new(PolicyConfig::entries(64));
    let mut evicted = Vec::new();
    for k in 0..5_000u64 {
        p.record_miss(&(k % 700));
        p.insert(k % 700, 1, &mut evicted);
    }
    let gone: std::collections::HashSet<u64> = evicted.iter().map(|(k, _)| *k).collect();
    let resident = (0..700u64).filter(|k| p.contains(k)).count();
    assert_eq!(resident, p.len());
    assert!(p.len() <= 64);
    let hottest = p.hottest(usize::MAX);
    assert_eq!(hottest.len(), p.len());
    assert!(hottest.iter().all(|k| p.contains(k)));
    assert!(!gone.is_empty());
}
