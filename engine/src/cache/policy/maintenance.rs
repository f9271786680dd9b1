//! The policy's upkeep after each insert: resize the window, move its overflow to probation
//! as candidates, and evict until within capacity, admitting a candidate only if it is
//! estimated to be used more often than the victim it would replace.

use std::hash::Hash;

use super::{EvictionCause, Region, WTinyLfu};
use crate::cache::deque::NodeId;

/// Frequency at which a losing candidate may still be admitted, at random, so an attacker
/// cannot pin a victim by inflating its count (as in Caffeine).
const ADMIT_AT_RANDOM_FROM: u8 = 6;

impl<K: Hash + Eq + Clone> WTinyLfu<K> {
    pub(super) fn set_window(&mut self, window_max: u64) {
        let max = self.config.max_weight;
        self.window_max = window_max.min(max);
        let main = max - self.window_max;
        self.protected_max = (main as f64 * self.config.protected_share) as u64;
    }

    pub(super) fn over_capacity(&self) -> bool {
        self.weight() > self.config.max_weight || self.index.len() as u64 > self.config.max_entries
    }

    pub(super) fn demote_protected_overflow(&mut self) {
        while self.protected.weight > self.protected_max {
            let Some(id) = self.protected.front() else {
                break;
            };
            self.protected.unlink(&mut self.slab, id);
            self.slab.get_mut(id).region = Region::Probation;
            self.probation.push_back(&mut self.slab, id);
        }
    }

    /// Applies the climber's advice, moves window overflow into probation as candidates, and
    /// evicts until within capacity.
    pub(super) fn maintain(&mut self, evicted: &mut Vec<(K, EvictionCause)>) {
        if self.config.adaptive {
            let amount = self.climber.adjustment();
            if amount != 0.0 {
                let target =
                    (self.window_max as f64 + amount).clamp(0.0, self.config.max_weight as f64);
                self.set_window(target.round() as u64);
                self.demote_protected_overflow();
            }
        }
        // Window overflow becomes candidates at the back of probation; remember the first.
        let mut first_candidate = None;
        while self.window.weight > self.window_max {
            let Some(id) = self.window.front() else { break };
            self.window.unlink(&mut self.slab, id);
            self.slab.get_mut(id).region = Region::Probation;
            self.probation.push_back(&mut self.slab, id);
            first_candidate.get_or_insert(id);
        }
        self.evict_from_main(first_candidate, evicted);
    }

    pub(super) fn evict_from_main(
        &mut self,
        mut candidate: Option<NodeId>,
        evicted: &mut Vec<(K, EvictionCause)>,
    ) {
        while self.over_capacity() {
            let victim = self
                .probation
                .front()
                .or_else(|| self.protected.front())
                .or_else(|| self.window.front());
            let Some(victim) = victim else { break };
            let (loser, was_candidate) = match candidate {
                Some(c) if c != victim => {
                    if self.admit(c, victim) {
                        (victim, false)
                    } else {
                        candidate = self.probation.next_of(&self.slab, c);
                        (c, true)
                    }
                }
                Some(c) => {
                    // The victim is itself the oldest candidate: nothing to compare against.
                    candidate = self.probation.next_of(&self.slab, c);
                    (c, true)
                }
                None => (victim, false),
            };
            let (key, hash) = {
                let node = self.slab.get(loser);
                (node.key.clone(), node.hash)
            };
            if was_candidate {
                self.ghost_window.push(hash);
            } else {
                self.ghost_main.push(hash);
            }
            self.unindex(loser, hash);
            self.detach(loser);
            evicted.push((key, EvictionCause::Capacity));
        }
    }

    pub(super) fn admit(&mut self, candidate: NodeId, victim: NodeId) -> bool {
        let candidate_freq = self.sketch.frequency(self.slab.get(candidate).hash);
        let victim_freq = self.sketch.frequency(self.slab.get(victim).hash);
        if candidate_freq > victim_freq {
            true
        } else if candidate_freq >= ADMIT_AT_RANDOM_FROM {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            self.rng & 127 == 0
        } else {
            false
        }
    }
}
