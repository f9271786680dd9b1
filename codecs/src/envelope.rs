//! The envelope every stored value travels in: format version, flags, dictionary id, the
//! record's hybrid-logical-clock version, and a checksum over the payload.
//!
//! ```text
//! offset  size  field
//!      0     2  magic "SE"
//!      2     1  format version (1)
//!      3     1  flags: 1 compressed, 2 dictionary, 4 tombstone (others reserved: must be 0)
//!      4     4  dictionary id (0 without one), little-endian
//!      8     8  record version (hybrid logical clock; 0 when unused), little-endian
//!     16     4  CRC-32 of every other byte (header and payload), little-endian
//!     20     4  payload length, little-endian
//!     24     …  payload
//! ```
//! Decoding never panics: short, foreign, tampered or truncated input is a
//! [`Corrupted`](strata::ErrorKind::Corrupted) error. The payload is a zero-copy slice of the
//! input.

use bytes::{BufMut, Bytes, BytesMut};
use strata::{Error, ErrorKind, Operation, Result};

/// Bytes before the payload.
pub const HEADER_LEN: usize = 24;
const MAGIC: [u8; 2] = *b"SE";
/// The format version this code writes and reads.
pub const FORMAT_VERSION: u8 = 1;

/// Envelope flags.
pub mod flags {
    /// The payload is zstd-compressed.
    pub const COMPRESSED: u8 = 1;
    /// Compressed with the dictionary named by the dictionary id.
    pub const DICTIONARY: u8 = 2;
    /// The record is a deletion marker (the payload is empty).
    pub const TOMBSTONE: u8 = 4;
    /// Every flag this version knows.
    pub const KNOWN: u8 = COMPRESSED | DICTIONARY | TOMBSTONE;
}

/// A decoded (or to-be-encoded) envelope.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    /// See [`flags`].
    pub flags: u8,
    /// Dictionary id when [`flags::DICTIONARY`] is set.
    pub dictionary: u32,
    /// The record's hybrid-logical-clock version (0 when unused).
    pub version: u64,
    /// The payload (compressed or not, as the flags say).
    pub payload: Bytes,
}

impl Envelope {
    /// An envelope around a plain payload.
    pub fn plain(payload: Bytes) -> Self {
        Envelope {
            payload,
            ..Envelope::default()
        }
    }

    /// Whether a flag is set.
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// The stored form.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(HEADER_LEN + self.payload.len());
        out.put_slice(&MAGIC);
        out.put_u8(FORMAT_VERSION);
        out.put_u8(self.flags);
        out.put_u32_le(self.dictionary);
        out.put_u64_le(self.version);
        out.put_u32_le(0); // checksum, filled in below
        out.put_u32_le(self.payload.len() as u32);
        out.put_slice(&self.payload);
        let sum = checksum(&out);
        out[16..20].copy_from_slice(&sum.to_le_bytes());
        out.freeze()
    }

    /// Parses and verifies a stored form; the payload shares `stored`'s buffer.
    pub fn decode(stored: &Bytes) -> Result<Envelope> {
        let corrupt = |why: &str| {
            Err(Error::new(
                ErrorKind::Corrupted,
                Operation::Get,
                format!("envelope: {why}"),
            ))
        };
        if stored.len() < HEADER_LEN {
            return corrupt(&format!(
                "{} bytes is shorter than the {HEADER_LEN}-byte header",
                stored.len()
            ));
        }
        let h = &stored[..HEADER_LEN];
        if h[0..2] != MAGIC {
            return corrupt("bad magic: not a Strata envelope");
        }
        if h[2] != FORMAT_VERSION {
            return corrupt(&format!("unsupported format version {}", h[2]));
        }
        let flags = h[3];
        if flags & !flags::KNOWN != 0 {
            return corrupt(&format!("unknown flags {flags:#04x}"));
        }
        let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let dictionary = u32_at(4);
        let version = u64::from_le_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]]);
        let checksum = u32_at(16);
        let len = u32_at(20) as usize;
        if stored.len() - HEADER_LEN != len {
            return corrupt(&format!(
                "payload is {} bytes, the header says {len}",
                stored.len() - HEADER_LEN
            ));
        }
        if self::checksum(stored) != checksum {
            return corrupt("checksum mismatch");
        }
        let payload = stored.slice(HEADER_LEN..);
        if (flags & flags::DICTIONARY != 0) && (flags & flags::COMPRESSED == 0) {
            return corrupt("dictionary flag without compression");
        }
        Ok(Envelope {
            flags,
            dictionary,
            version,
            payload,
        })
    }
}

/// CRC-32 over the stored form with the checksum field skipped.
fn checksum(stored: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&stored[..16]);
    hasher.update(&stored[20..]);
    hasher.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_zero_copy() {
        let e = Envelope {
            flags: flags::COMPRESSED | flags::DICTIONARY,
            dictionary: 7,
            version: 42,
            payload: Bytes::from_static(b"hello"),
        };
        let stored = e.encode();
        assert_eq!(stored.len(), HEADER_LEN + 5);
        let back = Envelope::decode(&stored).unwrap();
        assert_eq!(back, e);
        assert_eq!(
            back.payload.as_ptr(),
            stored[HEADER_LEN..].as_ptr(),
            "payload borrows the input"
        );
    }

    #[test]
    fn every_corruption_is_an_error() {
        let stored = Envelope::plain(Bytes::from_static(b"payload")).encode();
        assert!(Envelope::decode(&stored.slice(..10)).is_err(), "short");
        assert!(
            Envelope::decode(&stored.slice(..stored.len() - 1)).is_err(),
            "truncated"
        );
        for i in 0..stored.len() {
            let mut bad = stored.to_vec();
            bad[i] ^= 0x5A;
            let err = Envelope::decode(&Bytes::from(bad)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Corrupted, "byte {i}");
        }
    }
}
