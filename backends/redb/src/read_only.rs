//! [`ReadOnlyStore`]: a store file opened only to be read — by tools that look inside a store
//! (the `strata` command line) and must not change what they inspect.
//!
//! [`RedbBackend`](crate::RedbBackend) writes even when only read: it records the store's format
//! at open, and redb commits once more at close. A read-only store does neither. It opens the
//! file with redb's read-only database (a shared lock, so a file another process has open for
//! writing is refused, as it is for `RedbBackend`), reads the format record without creating
//! it, refuses a redb file with tables Strata did not write, and works on a file the user may
//! not write. A file redb would have to repair (left open by a crash) is refused with
//! `Corrupted`: opening it with `RedbBackend` once repairs it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use redb::{ReadOnlyDatabase, ReadableDatabase, TableHandle};
use strata::{Error, ErrorKind, KeyRange, Operation, Result};

use crate::backend::KEYSPACE_TABLE_PREFIX;
use crate::error::redb_error;
use crate::inspect::{StoreFormat, StoreInfo, VerifyReport};
use crate::transact::{SYSTEM_TABLE_PREFIX, Snapshot, TableRef};

/// A store file opened read-only. Every call reads one snapshot of the file as it was when the
/// call began. Calls block (they read the file): from async code, run them with
/// `spawn_blocking`.
pub struct ReadOnlyStore {
    db: Arc<ReadOnlyDatabase>,
    checksums: bool,
    path: PathBuf,
}

impl std::fmt::Debug for ReadOnlyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadOnlyStore")
            .field("path", &self.path)
            .field("checksums", &self.checksums)
            .finish_non_exhaustive()
    }
}

impl ReadOnlyStore {
    /// Opens the store at `path` without writing to it. A missing file is `NotFound`; an
    /// empty, damaged or foreign file `Corrupted` / `InvalidInput`; a file open for writing
    /// elsewhere `Unavailable`.
    pub fn open(path: impl AsRef<Path>) -> Result<ReadOnlyStore> {
        let path = path.as_ref().to_path_buf();
        let op = Operation::Open;
        let in_context = |e: Error| e.with_context("path", path.display());
        match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(in_context(
                    Error::new(ErrorKind::NotFound, op, "no store at this path")
                        .with_context("backend", "redb"),
                ));
            }
            Ok(meta) if meta.len() == 0 => {
                return Err(in_context(
                    Error::new(
                        ErrorKind::Corrupted,
                        op,
                        "the file is empty, not a redb store",
                    )
                    .with_context("backend", "redb"),
                ));
            }
            _ => {}
        }
        let opened = crate::blocking::catch(op, || {
            // The mode of a store opened with `shared_reads`: then this handle shares the file
            // with its writer; a store opened exclusively refuses it (`Unavailable`).
            let db = redb::Builder::new()
                .set_concurrency_mode(redb::ConcurrencyMode::SingleWriter)
                .open_read_only(&path)
                .map_err(|e| redb_error(op, e))?;
            let checksums = crate::checksum::read_format(&db, KEYSPACE_TABLE_PREFIX)?;
            let txn = db.begin_read().map_err(|e| redb_error(op, e))?;
            if let Some(name) = crate::inspect::foreign_table(&txn)? {
                return Err(Error::invalid_input(
                    op,
                    format!("not a Strata store: it has a table {name:?} Strata did not write"),
                ));
            }
            drop(txn);
            Ok((db, checksums))
        })
        .and_then(|inner| inner)
        .map_err(in_context)?;
        Ok(ReadOnlyStore {
            db: Arc::new(opened.0),
            checksums: opened.1,
            path,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How the store writes its values.
    pub fn format(&self) -> StoreFormat {
        if self.checksums {
            StoreFormat::Checksummed
        } else {
            StoreFormat::Legacy
        }
    }

    fn read<T>(
        &self,
        op: Operation,
        work: impl FnOnce(&redb::ReadTransaction) -> Result<T>,
    ) -> Result<T> {
        crate::blocking::catch(op, || {
            let txn = self.db.begin_read().map_err(|e| redb_error(op, e))?;
            work(&txn)
        })
        .and_then(|inner| inner)
    }

    /// As [`RedbBackend::info`](crate::RedbBackend::info).
    pub fn info(&self) -> Result<StoreInfo> {
        self.read(Operation::Scan, |txn| {
            crate::inspect::info_of(txn, self.checksums, self.path.clone())
        })
    }

    /// The keyspaces, in name order (without reading their entries).
    pub fn keyspaces(&self) -> Result<Vec<String>> {
        let op = Operation::Scan;
        self.read(op, |txn| {
            Ok(txn
                .list_tables()
                .map_err(|e| redb_error(op, e))?
                .filter_map(|t| crate::inspect::keyspace_of(t.name()).map(str::to_string))
                .collect())
        })
    }

    /// The names of the tables layers above keep in the file (sync's outbox and cursor).
    pub fn system_tables(&self) -> Result<Vec<String>> {
        let op = Operation::Scan;
        self.read(op, |txn| {
            Ok(txn
                .list_tables()
                .map_err(|e| redb_error(op, e))?
                .filter_map(|t| {
                    t.name()
                        .strip_prefix(SYSTEM_TABLE_PREFIX)
                        .map(str::to_string)
                })
                .collect())
        })
    }

    /// As [`RedbBackend::verify`](crate::RedbBackend::verify).
    pub fn verify(&self) -> Result<VerifyReport> {
        self.read(Operation::Scan, |txn| {
            crate::inspect::verify_of(txn, self.checksums)
        })
    }

    /// As [`RedbBackend::backup`](crate::RedbBackend::backup).
    pub fn backup(&self, dest: impl AsRef<Path>) -> Result<u64> {
        let dest = dest.as_ref();
        crate::blocking::catch(Operation::Scan, || {
            crate::inspect::copy_store(&*self.db, dest)
        })
        .and_then(|inner| inner)
    }

    /// The value under `key` in `keyspace`.
    pub fn get(&self, keyspace: &str, key: &[u8]) -> Result<Option<Bytes>> {
        let table = self.table_ref(keyspace);
        self.snapshot(|snap| snap.get(&table, key))
    }

    /// Up to `limit` entries of `range` in `keyspace`, in key order.
    pub fn scan(
        &self,
        keyspace: &str,
        range: &KeyRange,
        limit: usize,
    ) -> Result<Vec<(Bytes, Bytes)>> {
        let table = self.table_ref(keyspace);
        self.snapshot(|snap| snap.scan(&table, range, limit))
    }

    /// A name for `keyspace` in [`snapshot`](Self::snapshot) calls.
    pub fn table_ref(&self, keyspace: &str) -> TableRef {
        TableRef {
            table: Arc::from(format!("{KEYSPACE_TABLE_PREFIX}{keyspace}")),
            file: self.file_id(),
        }
    }

    /// A name for the system table `name` (see
    /// [`RedbBackend::system_table`](crate::RedbBackend::system_table)).
    pub fn system_table_ref(&self, name: &str) -> TableRef {
        TableRef {
            table: Arc::from(format!("{SYSTEM_TABLE_PREFIX}{name}")),
            file: self.file_id(),
        }
    }

    /// Runs `read` over one snapshot of the file.
    pub fn snapshot<T>(&self, read: impl FnOnce(&Snapshot) -> Result<T>) -> Result<T> {
        let op = Operation::Scan;
        let file = self.file_id();
        let checksums = self.checksums;
        crate::blocking::catch(op, || {
            let txn = self.db.begin_read().map_err(|e| redb_error(op, e))?;
            read(&Snapshot::new(txn, checksums, file))
        })
        .and_then(|inner| inner)
    }

    fn file_id(&self) -> usize {
        Arc::as_ptr(&self.db) as usize
    }
}
