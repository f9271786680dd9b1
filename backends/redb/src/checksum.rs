//! Checksums on every stored value, so a flipped bit reads as `Corrupted`, never as data.
//!
//! A value is stored as `value ‖ crc32(key ‖ value)` (4 bytes, little-endian): the key is in
//! the sum so a value that lands under another key (a damaged page pointer) is caught too.
//! Stores written before checksums existed keep working: the store's format is recorded in
//! a table of its own at creation (checksummed), and a store that has keyspaces but no
//! record is legacy and is read and written as before (it is not migrated). The record is
//! itself guarded (a magic, formats two bits apart), and a missing record over values that
//! carry checksums is damage, not a legacy store. Not covered: a value copied under the same
//! key in another keyspace (the keyspace is not in the sum).

use bytes::Bytes;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableHandle};
use strata::{Error, ErrorKind, Operation, Result};

use crate::error::redb_error;

const META: TableDefinition<'_, &str, u64> = TableDefinition::new("strata.meta");
const FORMAT_KEY: &str = "format";
/// The format record carries a magic in its high bits, and the two formats differ in two
/// bits, so one flipped bit in the record reads as damage, never as the other format.
const MAGIC: u64 = 0x5354_5241_5441_0000;
/// Values carry a checksum.
const CHECKSUMMED: u64 = MAGIC | 2;
/// Values as they were before checksums.
const LEGACY: u64 = MAGIC | 1;
pub(crate) const SUM_LEN: usize = 4;

fn sum(key: &[u8], value: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&(key.len() as u32).to_le_bytes());
    hasher.update(key);
    hasher.update(value);
    hasher.finalize()
}

/// Whether `table` is the store's format record.
pub(crate) fn is_meta(table: &str) -> bool {
    table == META.name()
}

/// Copies the format record from `source` into `target` (a backup keeps its format).
pub(crate) fn copy_meta(
    source: &redb::ReadTransaction,
    target: &redb::WriteTransaction,
) -> Result<()> {
    let op = Operation::Scan;
    let from = match source.open_table(META) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
        Err(e) => return Err(redb_error(op, e)),
    };
    let mut to = target.open_table(META).map_err(|e| redb_error(op, e))?;
    for entry in from.iter().map_err(|e| redb_error(op, e))? {
        let (k, v) = entry.map_err(|e| redb_error(op, e))?;
        to.insert(k.value(), v.value())
            .map_err(|e| redb_error(op, e))?;
    }
    Ok(())
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
    checked(op, key, stored).map(Bytes::copy_from_slice)
}

/// [`unseal`] without the copy: the value's bytes inside `stored`.
pub(crate) fn checked<'a>(op: Operation, key: &[u8], stored: &'a [u8]) -> Result<&'a [u8]> {
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
    Ok(value)
}

/// The store's format record: whether its values carry checksums, or `None` without a record.
fn recorded_format(db: &impl ReadableDatabase) -> Result<Option<bool>> {
    let op = Operation::Open;
    let txn = db.begin_read().map_err(|e| redb_error(op, e))?;
    let table = match txn.open_table(META) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(redb_error(op, e)),
    };
    let Some(format) = table.get(FORMAT_KEY).map_err(|e| redb_error(op, e))? else {
        return Ok(None);
    };
    match format.value() {
        CHECKSUMMED => Ok(Some(true)),
        LEGACY => Ok(Some(false)),
        other => Err(Error::new(
            ErrorKind::Corrupted,
            op,
            format!("unknown or damaged store format record {other:#x}"),
        )
        .with_context("backend", "redb")),
    }
}

/// Reads (or, for a new store, records) whether this store's values carry checksums; a new
/// store gets them if `want`.
pub(crate) fn settle_format(db: &Database, keyspace_prefix: &str, want: bool) -> Result<bool> {
    let op = Operation::Open;
    if let Some(checksums) = recorded_format(db)? {
        return Ok(checksums);
    }
    let legacy = legacy_store(db, keyspace_prefix)?;
    let txn = db.begin_write().map_err(|e| redb_error(op, e))?;
    let format = if legacy || !want { LEGACY } else { CHECKSUMMED };
    txn.open_table(META)
        .map_err(|e| redb_error(op, e))?
        .insert(FORMAT_KEY, format)
        .map_err(|e| redb_error(op, e))?;
    txn.commit().map_err(|e| redb_error(op, e))?;
    Ok(format == CHECKSUMMED)
}

/// Whether the store in `db` carries checksums, read without writing anything: from its
/// format record, else legacy if it has keyspaces, else (an empty file) checksummed.
pub(crate) fn read_format(db: &impl ReadableDatabase, keyspace_prefix: &str) -> Result<bool> {
    if let Some(checksums) = recorded_format(db)? {
        return Ok(checksums);
    }
    Ok(!legacy_store(db, keyspace_prefix)?)
}

/// A store with keyspaces but no format record was written before checksums — unless its
/// values carry them, which means the record was lost to damage: then refuse to guess.
fn legacy_store(db: &impl ReadableDatabase, keyspace_prefix: &str) -> Result<bool> {
    let op = Operation::Open;
    let txn = db.begin_read().map_err(|e| redb_error(op, e))?;
    let names: Vec<String> = txn
        .list_tables()
        .map_err(|e| redb_error(op, e))?
        .map(|t| t.name().to_string())
        .filter(|name| name.starts_with(keyspace_prefix))
        .collect();
    for name in &names {
        let table = txn
            .open_table(crate::writer::table_def(name))
            .map_err(|e| redb_error(op, e))?;
        let first = table.first().map_err(|e| redb_error(op, e))?;
        if let Some((key, value)) = first
            && unseal(op, key.value(), value.value()).is_ok()
        {
            return Err(Error::new(
                ErrorKind::Corrupted,
                op,
                "the store's format record is missing but its values carry checksums \
                 (the file is damaged)",
            )
            .with_context("backend", "redb"));
        }
    }
    Ok(!names.is_empty())
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
