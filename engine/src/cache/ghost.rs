//! Ghost lists: remember the hashes of recently evicted keys, so a miss on one of them tells
//! which side of the cache gave the key up too early.

use std::collections::{HashSet, VecDeque};

/// A bounded FIFO set of key hashes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ghost {
    order: VecDeque<u64>,
    members: HashSet<u64, foldhash::fast::FixedState>,
    capacity: usize,
}

impl Ghost {
    /// A ghost list remembering at most `capacity` hashes.
    pub(crate) fn new(capacity: usize) -> Self {
        Ghost {
            order: VecDeque::new(),
            members: HashSet::default(),
            capacity: capacity.max(1),
        }
    }

    /// Remembers `hash`, forgetting the oldest one when full.
    pub(crate) fn push(&mut self, hash: u64) {
        if !self.members.insert(hash) {
            return;
        }
        self.order.push_back(hash);
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.members.remove(&old);
            }
        }
    }

    /// Whether `hash` is remembered; forgets it if so.
    pub(crate) fn take(&mut self, hash: u64) -> bool {
        // The stale copy left in `order` is skipped when it reaches the front.
        self.members.remove(&hash)
    }

    /// Number of hashes remembered.
    pub(crate) fn len(&self) -> usize {
        self.members.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_fifo() {
        let mut g = Ghost::new(2);
        g.push(1);
        g.push(2);
        g.push(3);
        assert!(!g.take(1), "the oldest was forgotten");
        assert!(g.take(3));
        assert!(!g.take(3), "taken once");
        assert_eq!(g.len(), 1);
    }
}
