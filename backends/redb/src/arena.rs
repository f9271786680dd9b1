//! Key-value pairs copied out of a read transaction into a few shared buffers instead of two
//! allocations per pair: a scan of 100 pairs makes one or two allocations, and every key and
//! value handed out is a slice of them.
//!
//! A pair the caller keeps holds its whole buffer alive, so buffers are capped at
//! [`ARENA_BYTES`] (a pair larger than that gets a buffer of its own): keeping one value of a
//! large scan retains at most that much besides it.

use bytes::Bytes;

/// Bytes per shared buffer.
pub(crate) const ARENA_BYTES: usize = 64 * 1024;

/// Collects pairs; [`finish`](PairArena::finish) hands them out.
pub(crate) struct PairArena {
    buf: Vec<u8>,
    /// `(key start, value start, value end)` in `buf` of the pairs not yet handed out.
    spans: Vec<(usize, usize, usize)>,
    out: Vec<(Bytes, Bytes)>,
}

impl PairArena {
    /// An arena expecting about `pairs` pairs.
    pub(crate) fn with_capacity(pairs: usize) -> Self {
        PairArena {
            buf: Vec::new(),
            spans: Vec::new(),
            out: Vec::with_capacity(pairs.min(4_096)),
        }
    }

    /// Copies one pair in.
    pub(crate) fn push(&mut self, key: &[u8], value: &[u8]) {
        let len = key.len() + value.len();
        if self.buf.len() + len > self.buf.capacity() {
            self.seal();
            self.buf.reserve_exact(len.max(ARENA_BYTES));
        }
        let k = self.buf.len();
        self.buf.extend_from_slice(key);
        let v = self.buf.len();
        self.buf.extend_from_slice(value);
        self.spans.push((k, v, self.buf.len()));
    }

    /// Pairs pushed so far.
    pub(crate) fn len(&self) -> usize {
        self.out.len() + self.spans.len()
    }

    /// Every pair, in the order pushed.
    pub(crate) fn finish(mut self) -> Vec<(Bytes, Bytes)> {
        self.seal();
        self.out
    }

    /// Turns the current buffer into shared bytes and its spans into slices of it.
    fn seal(&mut self) {
        if self.spans.is_empty() {
            self.buf.clear();
            return;
        }
        let shared = Bytes::from(std::mem::take(&mut self.buf));
        self.out.extend(
            self.spans
                .drain(..)
                .map(|(k, v, end)| (shared.slice(k..v), shared.slice(v..end))),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_come_back_whole_and_in_order_across_buffers() {
        let mut arena = PairArena::with_capacity(10);
        let big = vec![9u8; ARENA_BYTES * 2];
        let mut expected = Vec::new();
        for i in 0..2_000u32 {
            let key = i.to_be_bytes().to_vec();
            let value = if i == 1_000 {
                big.clone()
            } else {
                vec![i as u8; (i % 97) as usize]
            };
            arena.push(&key, &value);
            expected.push((key, value));
        }
        assert_eq!(arena.len(), 2_000);
        let got = arena.finish();
        assert_eq!(got.len(), expected.len());
        for ((k, v), (ek, ev)) in got.iter().zip(&expected) {
            assert_eq!((&k[..], &v[..]), (&ek[..], &ev[..]));
        }
        assert!(PairArena::with_capacity(0).finish().is_empty());
    }
}
