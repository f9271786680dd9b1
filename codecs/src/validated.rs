//! The buffers a collection has validated, readable without a lock.
//!
//! A hit that re-serves a cached `Bytes` must not pay bytecheck again, and must not take a
//! lock either (every typed hit would meet on it). So each remembered buffer sits in a slot,
//! found by its address and length, published under a sequence number (a seqlock): a reader
//! loads the sequence, the address and the length, then the sequence again, and trusts its
//! buffer only if nothing changed in between and both match. Writers — one per validation,
//! rare — take a mutex.
//!
//! Why an address is enough: each slot also holds a clone of its buffer, so that allocation
//! stays alive while the slot names it, and no other allocation can be at that address. A
//! reader holds its own `Bytes`, alive since before it read the slot; if it sits at the
//! slot's address while the slot's buffer is alive, it is that same allocation, and with
//! the same length the same (immutable) bytes. A slot is emptied (sequence odd) before its
//! clone is dropped, so a reader that saw the slot unchanged saw it while the clone lived.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering, fence};

use bytes::Bytes;
use parking_lot::Mutex;

struct Slot {
    /// Even: stable; odd: being rewritten.
    seq: AtomicU64,
    addr: AtomicUsize,
    len: AtomicUsize,
}

/// A fixed set of validated buffers; a new one replaces whichever shares its slot.
pub(crate) struct ValidatedSet {
    slots: Box<[Slot]>,
    /// The clones that keep each slot's buffer alive; only writers touch them.
    held: Mutex<Vec<Option<Bytes>>>,
}

impl ValidatedSet {
    /// A set of `capacity` slots (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        ValidatedSet {
            slots: (0..capacity)
                .map(|_| Slot {
                    seq: AtomicU64::new(0),
                    addr: AtomicUsize::new(0),
                    len: AtomicUsize::new(0),
                })
                .collect(),
            held: Mutex::new(vec![None; capacity]),
        }
    }

    fn slot_of(&self, addr: usize, len: usize) -> usize {
        // Allocations are at least 8-aligned: mix the address before taking the modulus.
        let h = (addr as u64 ^ (len as u64).rotate_left(32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (h >> 32) as usize % self.slots.len()
    }

    /// Whether `bytes` (this very buffer) was validated. Lock-free.
    pub(crate) fn contains(&self, bytes: &Bytes) -> bool {
        let (addr, len) = (bytes.as_ptr() as usize, bytes.len());
        let slot = &self.slots[self.slot_of(addr, len)];
        let before = slot.seq.load(Ordering::Acquire);
        if before % 2 == 1 {
            return false;
        }
        let (a, l) = (
            slot.addr.load(Ordering::Relaxed),
            slot.len.load(Ordering::Relaxed),
        );
        fence(Ordering::Acquire);
        let after = slot.seq.load(Ordering::Relaxed);
        before == after && a == addr && l == len && addr != 0
    }

    /// Remembers `bytes` as validated (a clone keeps it alive while remembered).
    pub(crate) fn insert(&self, bytes: &Bytes) {
        let (addr, len) = (bytes.as_ptr() as usize, bytes.len());
        let index = self.slot_of(addr, len);
        let slot = &self.slots[index];
        let mut held = self.held.lock();
        let seq = slot.seq.load(Ordering::Relaxed);
        slot.seq.store(seq + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        slot.addr.store(addr, Ordering::Relaxed);
        slot.len.store(len, Ordering::Relaxed);
        // The old buffer goes only now, with the slot marked as changing.
        let old = held[index].replace(bytes.clone());
        slot.seq.store(seq + 2, Ordering::Release);
        drop(held);
        drop(old);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_buffers_by_identity_not_content() {
        let set = ValidatedSet::new(8);
        let a = Bytes::from(vec![1u8; 32]);
        let same_content = Bytes::from(vec![1u8; 32]);
        assert!(!set.contains(&a));
        set.insert(&a);
        assert!(set.contains(&a));
        assert!(set.contains(&a.clone()), "a clone is the same buffer");
        assert!(
            !set.contains(&same_content),
            "equal bytes elsewhere are not trusted"
        );
        assert!(
            !set.contains(&a.slice(0..16)),
            "a shorter view is another identity"
        );
        // Many more than the slots: earlier ones may be forgotten, never confused.
        let many: Vec<Bytes> = (0..100).map(|i| Bytes::from(vec![i as u8; 24])).collect();
        for b in &many {
            set.insert(b);
            assert!(set.contains(b));
        }
        for b in &many {
            let trusted = set.contains(b);
            assert!(
                !trusted
                    || set
                        .slots
                        .iter()
                        .any(|s| s.addr.load(Ordering::Relaxed) == b.as_ptr() as usize)
            );
        }
    }

    #[test]
    fn concurrent_readers_and_writers_never_trust_an_unvalidated_buffer() {
        // Writers churn through fresh buffers; readers check fresh buffers that were never
        // inserted (and are alive, so cannot share an inserted one's address): none may be
        // trusted, whatever the interleaving.
        let set = std::sync::Arc::new(ValidatedSet::new(4));
        std::thread::scope(|s| {
            for _ in 0..2 {
                let set = set.clone();
                s.spawn(move || {
                    for i in 0..20_000u32 {
                        set.insert(&Bytes::from(i.to_le_bytes().repeat(4)));
                    }
                });
            }
            for _ in 0..2 {
                let set = set.clone();
                s.spawn(move || {
                    for i in 0..20_000u32 {
                        let fresh = Bytes::from(i.to_le_bytes().repeat(4));
                        assert!(!set.contains(&fresh));
                    }
                });
            }
        });
    }
}
