//! Orphans: keys a bounded tier may still hold although its policy no longer counts them.
//!
//! A key becomes an orphan when the policy evicts it or a delete of it begins, and stops
//! being one only when a delete of it is known to have landed (or when it is written again
//! and counted anew). Each orphaning gets a generation, so a delete that started before the
//! key was orphaned again does not settle the newer orphaning.

use std::collections::HashMap;

use super::driver::PolicyKey;

/// The set of orphans, with the generation of each.
#[derive(Debug, Default)]
pub(crate) struct Orphans {
    keys: HashMap<PolicyKey, u64, foldhash::fast::FixedState>,
    next: u64,
}

impl Orphans {
    /// Marks `key` as possibly in the tier but uncounted; returns this orphaning's generation.
    pub(crate) fn add(&mut self, key: PolicyKey) -> u64 {
        self.next += 1;
        self.keys.insert(key, self.next);
        self.next
    }

    /// Whether `key` is an orphan.
    pub(crate) fn contains(&self, key: &PolicyKey) -> bool {
        self.keys.contains_key(key)
    }

    /// `key` is counted by the policy again (it is being written): no longer an orphan.
    pub(crate) fn forget(&mut self, key: &PolicyKey) {
        self.keys.remove(key);
    }

    /// Whether there is no orphan.
    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Every orphan with its generation, to delete.
    pub(crate) fn snapshot(&self) -> Vec<(PolicyKey, u64)> {
        self.keys.iter().map(|(k, g)| (k.clone(), *g)).collect()
    }

    /// These deletes landed: their keys stop being orphans, unless orphaned again since.
    pub(crate) fn settle(&mut self, deleted: &[(PolicyKey, u64)]) {
        for (key, generation) in deleted {
            if self.keys.get(key) == Some(generation) {
                self.keys.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[test]
    fn a_delete_settles_only_the_orphaning_it_saw() {
        let mut o = Orphans::default();
        let k = (0, Bytes::from_static(b"k"));
        let first = o.add(k.clone());
        let seen = o.snapshot();
        assert_eq!(seen, vec![(k.clone(), first)]);
        // Written again, then evicted again while the first delete was in flight.
        o.forget(&k);
        o.add(k.clone());
        o.settle(&seen);
        assert!(o.contains(&k), "the newer orphaning stands");
        o.settle(&o.snapshot());
        assert!(o.is_empty());
    }
}
