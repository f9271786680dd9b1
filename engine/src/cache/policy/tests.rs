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

#[test]
fn a_model_check_with_colliding_hashes_reweighs_removes_and_too_large_weights() {
    use std::collections::HashMap;
    // Random operations against a model; one configuration gives every key the same hash.
    let mut s: u64 = 0x9e3779b97f4a7c15;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    for &(cap, hash_space) in &[(8u64, 3u64), (32, 7), (64, 1), (200, 50)] {
        let mut cfg = PolicyConfig::weight(cap * 4, 4);
        cfg.max_entries = cap;
        let mut p: WTinyLfu<u64> = WTinyLfu::new(cfg);
        let mut model: HashMap<u64, u64> = HashMap::new(); // key -> weight
        let h = |k: u64| (k % hash_space).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut evicted = Vec::new();
        for step in 0..200_000u32 {
            let k = next() % (cap * 5);
            match next() % 10 {
                0..=5 => {
                    let w = match next() % 20 {
                        0 => cap * 4 + 1, // too large
                        n => 1 + n % 9,
                    };
                    p.record_miss_hash(h(k));
                    let r = p.insert_hashed(k, h(k), w, &mut evicted);
                    model.insert(k, w);
                    for (e, _) in evicted.drain(..) {
                        assert!(
                            model.remove(&e).is_some(),
                            "evicted non-resident {e} at {step}"
                        );
                    }
                    assert_eq!(r, model.contains_key(&k), "return value at step {step}");
                    assert_eq!(r, p.contains_hashed(&k, h(k)), "step {step}");
                }
                6 | 7 => {
                    let r = p.record_hit_hashed(&k, h(k));
                    assert_eq!(r, model.contains_key(&k), "hit at {step}");
                }
                8 => {
                    if let Some(id) = p.node_of(&k, h(k)) {
                        assert!(p.record_hit_node(id, h(k)));
                    }
                }
                _ => {
                    let r = p.remove_hashed(&k, h(k));
                    assert_eq!(r, model.remove(&k).is_some(), "remove at {step}");
                }
            }
            if step % 97 == 0 {
                assert_eq!(p.len(), model.len(), "len at {step}");
                assert_eq!(p.weight(), model.values().sum::<u64>(), "weight at {step}");
                for k in 0..cap * 5 {
                    assert_eq!(
                        p.contains_hashed(&k, h(k)),
                        model.contains_key(&k),
                        "key {k} at {step}"
                    );
                }
                let mut hot = p.hottest(usize::MAX);
                hot.sort();
                let mut m: Vec<u64> = model.keys().copied().collect();
                m.sort();
                assert_eq!(hot, m);
            }
        }
    }
}
