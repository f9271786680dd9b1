//! Order-preserving key encodings: encoded keys sort as bytes the way the values sort, so
//! scans of integers and strings come back in order.

use bytes::Bytes;

/// A key type with an order-preserving byte encoding.
pub trait KeyCodec {
    /// The encoded key; `a < b` exactly when `encode(a) < encode(b)` as bytes.
    fn encode_key(&self) -> Bytes;

    /// The same encoding for a lookup, which only borrows it: integers encode on the stack,
    /// so a read allocates nothing for its key. Defaults to [`encode_key`](Self::encode_key).
    fn lookup_key(&self) -> LookupKey {
        LookupKey::Shared(self.encode_key())
    }
}

/// An encoded key for a lookup: inline when short, else shared bytes.
#[derive(Clone, Debug)]
pub enum LookupKey {
    /// Up to 16 bytes, held inline (the length, then the bytes).
    Inline(u8, [u8; 16]),
    /// Any length.
    Shared(Bytes),
}

impl LookupKey {
    fn inline(bytes: &[u8]) -> Self {
        let mut buf = [0u8; 16];
        buf[..bytes.len()].copy_from_slice(bytes);
        LookupKey::Inline(bytes.len() as u8, buf)
    }
}

impl AsRef<[u8]> for LookupKey {
    fn as_ref(&self) -> &[u8] {
        match self {
            LookupKey::Inline(len, buf) => &buf[..usize::from(*len)],
            LookupKey::Shared(bytes) => bytes,
        }
    }
}

impl KeyCodec for u64 {
    fn encode_key(&self) -> Bytes {
        Bytes::copy_from_slice(&self.to_be_bytes())
    }

    fn lookup_key(&self) -> LookupKey {
        LookupKey::inline(&self.to_be_bytes())
    }
}

impl KeyCodec for u32 {
    fn encode_key(&self) -> Bytes {
        Bytes::copy_from_slice(&self.to_be_bytes())
    }

    fn lookup_key(&self) -> LookupKey {
        LookupKey::inline(&self.to_be_bytes())
    }
}

impl KeyCodec for i64 {
    fn encode_key(&self) -> Bytes {
        Bytes::copy_from_slice(&i64_key(*self))
    }

    fn lookup_key(&self) -> LookupKey {
        LookupKey::inline(&i64_key(*self))
    }
}

/// Flipping the sign bit maps i64's order onto u64's.
fn i64_key(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

impl KeyCodec for str {
    fn encode_key(&self) -> Bytes {
        // UTF-8 byte order is code point order.
        Bytes::copy_from_slice(self.as_bytes())
    }
}

impl KeyCodec for String {
    fn encode_key(&self) -> Bytes {
        self.as_str().encode_key()
    }
}

impl KeyCodec for [u8] {
    fn encode_key(&self) -> Bytes {
        Bytes::copy_from_slice(self)
    }
}

impl KeyCodec for Vec<u8> {
    fn encode_key(&self) -> Bytes {
        Bytes::copy_from_slice(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted_by_encoding<T: KeyCodec + Clone + Ord + std::fmt::Debug>(mut values: Vec<T>) {
        let mut by_bytes = values.clone();
        by_bytes.sort_by_key(|v| v.encode_key());
        values.sort();
        assert_eq!(by_bytes, values);
        for v in &values {
            assert_eq!(v.lookup_key().as_ref(), &v.encode_key()[..], "{v:?}");
        }
    }

    #[test]
    fn encodings_preserve_order() {
        sorted_by_encoding(vec![5u64, 0, u64::MAX, 256, 255, 1 << 40]);
        sorted_by_encoding(vec![-5i64, 0, i64::MIN, i64::MAX, -1, 1, 300, -300]);
        sorted_by_encoding(vec![
            "b".to_string(),
            "a".into(),
            "ab".into(),
            "".into(),
            "é".into(),
            "z".into(),
        ]);
    }
}
