//! How a synced store lays its records out in the local redb file.
//!
//! - **data** (`kv.<keyspace>`): key → `[kind u8][timestamp u64 BE][node u64 BE][value]`.
//!   Every record carries the version it was written at, so a pulled record is applied by
//!   last-writer-wins against it; a delete leaves a tombstone (kind 1) for the same reason.
//! - **queue** (`sys.sync.<keyspace>.queue`): `[timestamp u64 BE][key]` → value length: the
//!   outbox, one entry per pending write (a newer write of the key replaces its entry), in
//!   clock order so the oldest is pushed first (see `outbox.rs`);
//! - **cursor** (`sys.sync.<keyspace>.cursor`): how far pulls have applied the server's
//!   changes.

use bytes::Bytes;
use strata::{Error, Operation, Result};
use strata_turso::{RecordVersion, SyncRecord};

/// Bytes in front of every stored value.
pub const HEADER_LEN: usize = 17;
const LIVE: u8 = 0;
const TOMBSTONE: u8 = 1;

/// A record as the local data table holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Local {
    pub(crate) timestamp: u64,
    pub(crate) node: u64,
    /// `None` for a tombstone.
    pub(crate) value: Option<Bytes>,
}

impl Local {
    pub(crate) fn version(&self) -> RecordVersion {
        RecordVersion {
            timestamp: self.timestamp,
            node: self.node,
            deleted: self.value.is_none(),
        }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        encode(self.timestamp, self.node, self.value.as_deref())
    }

    pub(crate) fn into_sync(self, key: Bytes) -> SyncRecord {
        SyncRecord {
            key,
            value: self.value,
            timestamp: self.timestamp,
            node: self.node,
        }
    }

    pub(crate) fn from_sync(record: &SyncRecord) -> Local {
        Local {
            timestamp: record.timestamp,
            node: record.node,
            value: record.value.clone(),
        }
    }
}

/// Encodes a data record.
pub(crate) fn encode(timestamp: u64, node: u64, value: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + value.map_or(0, <[u8]>::len));
    out.push(if value.is_some() { LIVE } else { TOMBSTONE });
    out.extend_from_slice(&timestamp.to_be_bytes());
    out.extend_from_slice(&node.to_be_bytes());
    if let Some(value) = value {
        out.extend_from_slice(value);
    }
    out
}

/// Decodes a data record; the value shares `stored`'s buffer.
pub(crate) fn decode(op: Operation, key: &[u8], stored: &Bytes) -> Result<Local> {
    if stored.len() < HEADER_LEN || stored[0] > TOMBSTONE {
        return Err(damaged(op, key, "a synced record with a damaged header"));
    }
    let timestamp = u64::from_be_bytes(stored[1..9].try_into().expect("8 bytes"));
    let node = u64::from_be_bytes(stored[9..17].try_into().expect("8 bytes"));
    let value = (stored[0] == LIVE).then(|| stored.slice(HEADER_LEN..));
    Ok(Local {
        timestamp,
        node,
        value,
    })
}

pub(crate) fn encode_u64(v: u64) -> [u8; 8] {
    v.to_be_bytes()
}

pub(crate) fn decode_u64(stored: Option<&[u8]>) -> u64 {
    stored
        .and_then(|s| s.try_into().ok())
        .map_or(0, u64::from_be_bytes)
}

fn damaged(op: Operation, key: &[u8], what: &str) -> Error {
    Error::new(strata::ErrorKind::Corrupted, op, what)
        .with_key(key)
        .with_context("backend", "sync")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damage_is_reported() {
        let live = Bytes::from(encode(7, u64::MAX, Some(b"v")));
        let back = decode(Operation::Get, b"k", &live).unwrap();
        assert_eq!((back.timestamp, back.node), (7, u64::MAX));
        assert_eq!(back.value.as_deref(), Some(&b"v"[..]));
        let tomb = Bytes::from(encode(9, 1, None));
        assert_eq!(decode(Operation::Get, b"k", &tomb).unwrap().value, None);
        assert!(decode(Operation::Get, b"k", &Bytes::from_static(b"short")).is_err());
        let mut bad = encode(1, 1, Some(b"x"));
        bad[0] = 9;
        assert!(decode(Operation::Get, b"k", &Bytes::from(bad)).is_err());
    }
}
