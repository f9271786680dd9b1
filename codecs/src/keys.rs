//! Order-preserving key encodings: encoded keys sort as bytes the way the values sort, so
//! scans of integers and strings come back in order.

use bytes::Bytes;

/// A key type with an order-preserving byte encoding.
pub trait KeyCodec {
    /// The encoded key; `a < b` exactly when `encode(a) < encode(b)` as bytes.
    fn encode_key(&self) -> Bytes;
}

impl KeyCodec for u64 {
    fn encode_key(&self) -> Bytes {
        Bytes::copy_from_slice(&self.to_be_bytes())
    }
}

impl KeyCodec for u32 {
    fn encode_key(&self) -> Bytes {
        Bytes::copy_from_slice(&self.to_be_bytes())
    }
}

impl KeyCodec for i64 {
    fn encode_key(&self) -> Bytes {
        // Flipping the sign bit maps i64's order onto u64's.
        Bytes::copy_from_slice(&((*self as u64) ^ (1 << 63)).to_be_bytes())
    }
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
