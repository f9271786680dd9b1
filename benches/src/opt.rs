//! Belady's clairvoyant optimum (OPT), the upper bound every policy is compared with.

use std::collections::{BTreeSet, HashMap};

/// The hit ratio OPT reaches on `keys` with room for `capacity` entries: on a miss with a full
/// cache it evicts the key used farthest in the future — or skips caching the new key when that
/// key is itself the farthest.
pub fn opt_hit_ratio(keys: &[u64], capacity: usize) -> f64 {
    if keys.is_empty() || capacity == 0 {
        return 0.0;
    }
    // next_use[i]: index of the next request for keys[i], or usize::MAX.
    let mut next_use = vec![usize::MAX; keys.len()];
    let mut last_seen: HashMap<u64, usize> = HashMap::with_capacity(keys.len() / 4);
    for (i, &k) in keys.iter().enumerate().rev() {
        if let Some(&j) = last_seen.get(&k) {
            next_use[i] = j;
        }
        last_seen.insert(k, i);
    }
    let mut resident: HashMap<u64, usize> = HashMap::with_capacity(capacity);
    let mut by_next: BTreeSet<(usize, u64)> = BTreeSet::new();
    let mut hits = 0usize;
    for (i, &k) in keys.iter().enumerate() {
        let next = next_use[i];
        if let Some(old) = resident.get_mut(&k) {
            hits += 1;
            by_next.remove(&(*old, k));
            *old = next;
            by_next.insert((next, k));
            continue;
        }
        if resident.len() >= capacity {
            let &(farthest, victim) = by_next.last().expect("full cache has entries");
            if next >= farthest {
                continue; // the newcomer is needed last: do not cache it
            }
            by_next.pop_last();
            resident.remove(&victim);
        }
        resident.insert(k, next);
        by_next.insert((next, k));
    }
    hits as f64 / keys.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loop_gets_capacity_over_length() {
        let keys: Vec<u64> = (0..100).cycle().take(100 * 50).collect();
        let r = opt_hit_ratio(&keys, 10);
        // Keeping 10 keys forever hits 10 of every 100 requests after the first pass.
        assert!((r - 0.098).abs() < 0.005, "{r}");
    }

    #[test]
    fn everything_fits() {
        let keys: Vec<u64> = (0..10).cycle().take(100).collect();
        assert!((opt_hit_ratio(&keys, 10) - 0.9).abs() < 1e-9);
    }
}
