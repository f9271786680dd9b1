//! Checksums on every stored value, so a flipped bit reads as `Corrupted`, never as data.
//!
//! A value is stored as `value ‖ crc32(key ‖ value)` (4 bytes, little-endian): the key is in
//! the sum so a value that lands under another key (a damaged page pointer) is caught too.
//! Stores written before checksums existed keep working: the store's format is recorded in
//! a table of its own at creation (`2` = checksummed), and a store that has keyspaces but no
//! record is format `1` and is read and written as before.

use bytes::Bytes;
use redb::{Database, ReadableDatabase, TableDefinition, TableHandle};
use strata::{Error, ErrorKind, Operation, Result};

use crate::error::redb_error;

const META: TableDefinition<'_, &str, u64> = TableDefinition::new("strata.meta");
const FORMAT_KEY: &str = "format";
/// Values carry a checksum.
const CHECKSUMMED: u64 = 2;
/// Values as they were before checksums.
const LEGACY: u64 = 1;
const SUM_LEN: usize = 4;

fn sum(key: &[u8], value: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&(key.len() as u32).to_le_bytes());
    hasher.update(key);
    hasher.update(value);
    hasher.finalize()
}

/// The stored form of `value` under `key`.
pub(crate) fn seal(key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut stored = Vec::with_capacity(value.len() + SUM_LEN);
    stored.extend_from_slice(value);
    stored.extend_from_slice(&sum(key, value).to_le_bytes());
    stored
}

/// The value inside `stored` (read under `key`), or `Corrupted` if its checksum is wrong.
pub(crate) fn unseal(op: Operation, key: &[u8], stored: &[u8]) -> Result<Bytes> {
    let corrupted = || {
        Error::new(
            ErrorKind::Corrupted,
            op,
            "a stored value failed its checksum (the redb file is damaged)",
        )
        .with_context("backend", "redb")
        .with_key(key)
    };
    let split = stored.len().checked_sub(SUM_LEN).ok_or_else(corrupted)?;
    let (value, tail) = stored.split_at(split);
    let expected = u32::from_le_bytes(tail.try_into().expect("four bytes"));
    if sum(key, value) != expected {
        return Err(corrupted());
    }
    Ok(Bytes::copy_from_slice(value))
}

/// Reads (or, for a new store, records) whether this store's values carry checksums.
pub(crate) fn settle_format(db: &Database, keyspace_prefix: &str) -> Result<bool> {
    let op = Operation::Open;
    {
        let txn = db.begin_read().map_err(|e| redb_error(op, e))?;
        match txn.open_table(META) {
            Ok(table) => {
                if let Some(format) = table.get(FORMAT_KEY).map_err(|e| redb_error(op, e))? {
                    return Ok(format.value() >= CHECKSUMMED);
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(redb_error(op, e)),
        }
    }
    let txn = db.begin_write().map_err(|e| redb_error(op, e))?;
    let legacy = txn
        .list_tables()
        .map_err(|e| redb_error(op, e))?
        .any(|t| t.name().starts_with(keyspace_prefix));
    let format = if legacy { LEGACY } else { CHECKSUMMED };
    txn.open_table(META)
        .map_err(|e| redb_error(op, e))?
        .insert(FORMAT_KEY, format)
        .map_err(|e| redb_error(op, e))?;
    txn.commit().map_err(|e| redb_error(op, e))?;
    Ok(format == CHECKSUMMED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_unseals_and_any_flip_is_caught() {
        let stored = seal(b"key", b"value");
        assert_eq!(unseal(Operation::Get, b"key", &stored).unwrap(), "value");
        for i in 0..stored.len() {
            for bit in 0..8 {
                let mut bad = stored.clone();
                bad[i] ^= 1 << bit;
                let err = unseal(Operation::Get, b"key", &bad).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Corrupted);
            }
        }
        let err = unseal(Operation::Get, b"other", &stored).unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::Corrupted,
            "a value under another key"
        );
        assert!(unseal(Operation::Get, b"key", b"abc").is_err(), "too short");
    }
}
