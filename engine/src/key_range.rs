//! Key ranges for `scan`: bounds, prefixes, and the checks that keep them panic-free.

use std::ops::Bound;

use bytes::Bytes;

/// A range of keys in ascending byte order, as taken by
/// [`StorageBackend::scan`](crate::StorageBackend::scan).
///
/// A range whose start lies after its end is simply empty: scanning it returns nothing (it
/// never panics, unlike `BTreeMap::range`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeyRange {
    start: Bound<Bytes>,
    end: Bound<Bytes>,
}

impl KeyRange {
    /// Every key.
    pub fn all() -> Self {
        KeyRange {
            start: Bound::Unbounded,
            end: Bound::Unbounded,
        }
    }

    /// Any pair of bounds.
    pub fn new(start: Bound<Bytes>, end: Bound<Bytes>) -> Self {
        KeyRange { start, end }
    }

    /// Keys `k` with `start <= k < end`.
    pub fn between(start: impl Into<Bytes>, end: impl Into<Bytes>) -> Self {
        KeyRange {
            start: Bound::Included(start.into()),
            end: Bound::Excluded(end.into()),
        }
    }

    /// Keys `k` with `start <= k`.
    pub fn from_key(start: impl Into<Bytes>) -> Self {
        KeyRange {
            start: Bound::Included(start.into()),
            end: Bound::Unbounded,
        }
    }

    /// Keys that begin with `prefix` (every key when the prefix is empty).
    pub fn prefix(prefix: impl Into<Bytes>) -> Self {
        let prefix = prefix.into();
        let end = match prefix_successor(&prefix) {
            Some(succ) => Bound::Excluded(Bytes::from(succ)),
            None => Bound::Unbounded,
        };
        let start = if prefix.is_empty() {
            Bound::Unbounded
        } else {
            Bound::Included(prefix)
        };
        KeyRange { start, end }
    }

    /// The lower bound.
    pub fn start(&self) -> Bound<&[u8]> {
        as_slice_bound(&self.start)
    }

    /// The upper bound.
    pub fn end(&self) -> Bound<&[u8]> {
        as_slice_bound(&self.end)
    }

    /// Both bounds, borrowed; suitable for `BTreeMap::range` once [`is_empty`](Self::is_empty)
    /// returned `false`.
    pub fn as_bounds(&self) -> (Bound<&[u8]>, Bound<&[u8]>) {
        (self.start(), self.end())
    }

    /// Whether `key` lies in the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        let above_start = match self.start() {
            Bound::Included(s) => key >= s,
            Bound::Excluded(s) => key > s,
            Bound::Unbounded => true,
        };
        let below_end = match self.end() {
            Bound::Included(e) => key <= e,
            Bound::Excluded(e) => key < e,
            Bound::Unbounded => true,
        };
        above_start && below_end
    }

    /// Whether no key can lie in the range (start after end, or an empty half-open interval).
    pub fn is_empty(&self) -> bool {
        match (self.start(), self.end()) {
            (Bound::Unbounded, _) | (_, Bound::Unbounded) => false,
            (Bound::Included(s), Bound::Included(e)) => s > e,
            (Bound::Included(s), Bound::Excluded(e))
            | (Bound::Excluded(s), Bound::Included(e))
            | (Bound::Excluded(s), Bound::Excluded(e)) => s >= e,
        }
    }
}

impl Default for KeyRange {
    fn default() -> Self {
        Self::all()
    }
}

fn as_slice_bound(bound: &Bound<Bytes>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(b) => Bound::Included(b.as_ref()),
        Bound::Excluded(b) => Bound::Excluded(b.as_ref()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// The smallest key greater than every key starting with `prefix`, or `None` when there is
/// none (the prefix is empty or all `0xFF`).
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let last = prefix.iter().rposition(|&b| b != 0xFF)?;
    let mut succ = prefix[..=last].to_vec();
    succ[last] += 1;
    Some(succ)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_successor_handles_ff() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_successor(b"\xff\xff"), None);
        assert_eq!(prefix_successor(b""), None);
    }

    #[test]
    fn prefix_range_contains_exactly_the_prefixed_keys() {
        let r = KeyRange::prefix(&b"a\xff"[..]);
        assert!(r.contains(b"a\xff"));
        assert!(r.contains(b"a\xff\xff\x00"));
        assert!(!r.contains(b"a\xfe"));
        assert!(!r.contains(b"b"));
        assert!(KeyRange::prefix(Bytes::new()).contains(b"anything"));
    }

    #[test]
    fn inverted_and_empty_ranges_are_empty() {
        assert!(KeyRange::between(&b"b"[..], &b"a"[..]).is_empty());
        assert!(KeyRange::between(&b"a"[..], &b"a"[..]).is_empty());
        assert!(
            !KeyRange::new(Bound::Included("a".into()), Bound::Included("a".into())).is_empty()
        );
        assert!(!KeyRange::all().is_empty());
    }
}
