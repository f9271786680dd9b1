//! Looking inside a store as a whole: what it holds ([`RedbBackend::info`]), whether every
//! value still matches its checksum ([`RedbBackend::verify`]), a consistent copy while it is
//! in use ([`RedbBackend::backup`]), and compaction of a closed file ([`compact`]).
//!
//! Each of the first three reads one redb read transaction, so it sees one commit and never
//! blocks the writer. They run on tokio's blocking pool (inline without a runtime).

use std::path::{Path, PathBuf};

use redb::{
    Database, MultimapTableHandle, ReadTransaction, ReadableDatabase, ReadableTable,
    ReadableTableMetadata, TableHandle,
};
use strata::{Error, ErrorKind, Operation, Result};

use crate::backend::{KEYSPACE_TABLE_PREFIX, RedbBackend};
use crate::error::redb_error;
use crate::writer::table_def;

/// How a store's values are written on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreFormat {
    /// Every value carries a CRC-32 of its key and bytes (the default since format 2).
    Checksummed,
    /// Values as written before checksums existed (format 1); read and written as they are.
    Legacy,
}

impl StoreFormat {
    /// The format's version number (1 legacy, 2 checksummed).
    pub fn version(self) -> u32 {
        match self {
            StoreFormat::Legacy => 1,
            StoreFormat::Checksummed => 2,
        }
    }
}

/// One keyspace's size, from [`RedbBackend::info`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyspaceInfo {
    /// The keyspace's name, as [`keyspace`](strata::StorageBackend::keyspace) takes it.
    pub name: String,
    /// Entries stored.
    pub entries: u64,
    /// Bytes of keys.
    pub key_bytes: u64,
    /// Bytes of values, as the application wrote them (checksums not counted).
    pub value_bytes: u64,
}

/// What a store holds, from [`RedbBackend::info`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreInfo {
    /// The file.
    pub path: PathBuf,
    /// The file's size on disk, in bytes.
    pub file_size: u64,
    /// How values are written.
    pub format: StoreFormat,
    /// Every keyspace, by name.
    pub keyspaces: Vec<KeyspaceInfo>,
    /// Tables kept by layers above (sync's outbox and cursor), by name.
    pub system_tables: Vec<String>,
}

/// A value whose checksum did not match, from [`RedbBackend::verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CorruptValue {
    /// The keyspace holding it.
    pub keyspace: String,
    /// Its key.
    pub key: Vec<u8>,
}

/// What [`RedbBackend::verify`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Values whose checksum was read.
    pub checked: u64,
    /// Values that failed it, in keyspace and key order.
    pub corrupt: Vec<CorruptValue>,
}

impl VerifyReport {
    /// Whether every value matched its checksum.
    pub fn is_clean(&self) -> bool {
        self.corrupt.is_empty()
    }
}

/// A keyspace's name from its table's, if the table is a keyspace.
pub(crate) fn keyspace_of(table: &str) -> Option<&str> {
    table.strip_prefix(KEYSPACE_TABLE_PREFIX)
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

impl RedbBackend {
    /// How this store writes its values (checksummed, or legacy without checksums).
    pub fn format(&self) -> StoreFormat {
        if self.checksums() {
            StoreFormat::Checksummed
        } else {
            StoreFormat::Legacy
        }
    }

    /// Every keyspace of this file that holds or once held a table, in name order.
    pub async fn keyspaces(&self) -> Result<Vec<String>> {
        let db = self.database();
        let op = Operation::Scan;
        crate::transact::run_blocking(op, move || {
            let txn = db.begin_read().map_err(|e| redb_error(op, e))?;
            Ok(txn
                .list_tables()
                .map_err(|e| redb_error(op, e))?
                .filter_map(|t| keyspace_of(t.name()).map(str::to_string))
                .collect())
        })
        .await
    }

    /// The store's keyspaces with their entry counts and sizes, its format and file size,
    /// read from one snapshot. Sizes are summed entry by entry: this reads every key and value.
    pub async fn info(&self) -> Result<StoreInfo> {
        let (db, checksums, path) = (
            self.database(),
            self.checksums(),
            self.config().path.clone(),
        );
        let op = Operation::Scan;
        crate::transact::run_blocking(op, move || {
            let txn = db.begin_read().map_err(|e| redb_error(op, e))?;
            info_of(&txn, checksums, path)
        })
        .await
    }

    /// Reads every value of every keyspace and checks its checksum, from one snapshot.
    /// A failing value is reported, not returned as an error, so one damaged page does not hide
    /// the rest; damage redb itself detects (a broken page) is an error. A legacy store has no
    /// checksums: it reports every value checked and none corrupt only if redb can read it.
    pub async fn verify(&self) -> Result<VerifyReport> {
        let (db, checksums) = (self.database(), self.checksums());
        let op = Operation::Scan;
        crate::transact::run_blocking(op, move || {
            let txn = db.begin_read().map_err(|e| redb_error(op, e))?;
            verify_of(&txn, checksums)
        })
        .await
    }

    /// Writes a consistent copy of the whole store (every keyspace and system table, as of one
    /// commit) to a new file at `dest`, fsynced, while this store stays open for reads and
    /// writes. The copy is written beside `dest` and renamed into place, so `dest` never holds
    /// a partial copy. An existing `dest` is refused (`InvalidInput`). Returns the copy's size.
    pub async fn backup(&self, dest: impl Into<PathBuf>) -> Result<u64> {
        let dest: PathBuf = dest.into();
        let db = self.database();
        let op = Operation::Scan;
        crate::transact::run_blocking(op, move || copy_store(&*db, &dest)).await
    }
}

/// What the store read by `txn` holds (see [`RedbBackend::info`]).
pub(crate) fn info_of(txn: &ReadTransaction, checksums: bool, path: PathBuf) -> Result<StoreInfo> {
    let op = Operation::Scan;
    let mut keyspaces = Vec::new();
    let mut system_tables = Vec::new();
    let sum_len = if checksums {
        crate::checksum::SUM_LEN
    } else {
        0
    };
    for handle in txn.list_tables().map_err(|e| redb_error(op, e))? {
        let name = handle.name().to_string();
        let Some(keyspace) = keyspace_of(&name) else {
            if !crate::checksum::is_meta(&name) {
                system_tables.push(name);
            }
            continue;
        };
        let table = txn
            .open_table(table_def(&name))
            .map_err(|e| redb_error(op, e))?;
        let mut info = KeyspaceInfo {
            name: keyspace.to_string(),
            entries: table.len().map_err(|e| redb_error(op, e))?,
            key_bytes: 0,
            value_bytes: 0,
        };
        for entry in table.iter().map_err(|e| redb_error(op, e))? {
            let (k, v) = entry.map_err(|e| redb_error(op, e))?;
            info.key_bytes += k.value().len() as u64;
            info.value_bytes += v.value().len().saturating_sub(sum_len) as u64;
        }
        keyspaces.push(info);
    }
    Ok(StoreInfo {
        file_size: file_size(&path),
        path,
        format: if checksums {
            StoreFormat::Checksummed
        } else {
            StoreFormat::Legacy
        },
        keyspaces,
        system_tables,
    })
}

/// Every value's checksum in the store read by `txn` (see [`RedbBackend::verify`]).
pub(crate) fn verify_of(txn: &ReadTransaction, checksums: bool) -> Result<VerifyReport> {
    let op = Operation::Scan;
    let mut report = VerifyReport::default();
    for handle in txn.list_tables().map_err(|e| redb_error(op, e))? {
        let Some(keyspace) = keyspace_of(handle.name()) else {
            continue;
        };
        let table = txn
            .open_table(table_def(handle.name()))
            .map_err(|e| redb_error(op, e))?;
        for entry in table.iter().map_err(|e| redb_error(op, e))? {
            let (k, v) = entry.map_err(|e| redb_error(op, e))?;
            report.checked += 1;
            if checksums && crate::checksum::checked(op, k.value(), v.value()).is_err() {
                report.corrupt.push(CorruptValue {
                    keyspace: keyspace.to_string(),
                    key: k.value().to_vec(),
                });
            }
        }
    }
    Ok(report)
}

/// The first table of `txn` Strata did not write, if any (a foreign redb file).
pub(crate) fn foreign_table(txn: &ReadTransaction) -> Result<Option<String>> {
    let op = Operation::Open;
    // Strata writes no multimap table: any is foreign.
    if let Some(multimap) = txn
        .list_multimap_tables()
        .map_err(|e| redb_error(op, e))?
        .next()
    {
        return Ok(Some(multimap.name().to_string()));
    }
    Ok(txn
        .list_tables()
        .map_err(|e| redb_error(op, e))?
        .map(|t| t.name().to_string())
        .find(|name| {
            keyspace_of(name).is_none()
                && !name.starts_with(crate::transact::SYSTEM_TABLE_PREFIX)
                && !crate::checksum::is_meta(name)
        }))
}

/// A file beside `dest` that no one else can be using: created here, exclusively.
fn private_temp(dest: &Path) -> std::io::Result<PathBuf> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    loop {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut name = dest.as_os_str().to_owned();
        name.push(format!(".{}.{n}.partial", std::process::id()));
        let path = PathBuf::from(name);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(_) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Syncs the directory holding `path`, so a rename or link into it survives a power cut.
pub(crate) fn sync_parent(path: &Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)?.sync_all()
}

pub(crate) fn copy_store(db: &impl ReadableDatabase, dest: &Path) -> Result<u64> {
    let op = Operation::Scan;
    let io = |what: &'static str| {
        move |e: std::io::Error| {
            Error::unexpected(op, what)
                .with_context("path", dest.display())
                .with_source(e)
        }
    };
    let exists = || {
        Error::invalid_input(op, "the backup destination already exists")
            .with_context("path", dest.display())
    };
    if dest.exists() {
        return Err(exists());
    }
    let partial = private_temp(dest).map_err(io("cannot create the backup's temporary file"))?;
    let result = (|| {
        let source = db.begin_read().map_err(|e| redb_error(op, e))?;
        let copy = Database::create(&partial).map_err(|e| redb_error(op, e))?;
        let txn = copy.begin_write().map_err(|e| redb_error(op, e))?;
        crate::checksum::copy_meta(&source, &txn)?;
        for handle in source.list_tables().map_err(|e| redb_error(op, e))? {
            if crate::checksum::is_meta(handle.name()) {
                continue;
            }
            let from = source
                .open_table(table_def(handle.name()))
                .map_err(|e| redb_error(op, e))?;
            let mut to = txn
                .open_table(table_def(handle.name()))
                .map_err(|e| redb_error(op, e))?;
            for entry in from.iter().map_err(|e| redb_error(op, e))? {
                let (k, v) = entry.map_err(|e| redb_error(op, e))?;
                to.insert(k.value(), v.value())
                    .map_err(|e| redb_error(op, e))?;
            }
        }
        // An immediate-durability commit: the copy is fsynced before it is published.
        txn.commit().map_err(|e| redb_error(op, e))?;
        drop(copy);
        // A hard link publishes the copy only if nothing is at `dest` (a rename would
        // replace a file that appeared meanwhile).
        std::fs::hard_link(&partial, dest).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                exists()
            } else {
                io("cannot move the backup into place")(e)
            }
        })?;
        sync_parent(dest).map_err(io("cannot sync the backup's directory"))?;
        Ok(file_size(dest))
    })();
    let _ = std::fs::remove_file(&partial);
    result
}

/// What [`compact`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompactReport {
    /// The file's size before, in bytes.
    pub before: u64,
    /// The file's size after, in bytes.
    pub after: u64,
}

/// Compacts the store at `path`, returning its size before and after. redb compacts only a
/// file no one has open: a store open in this or another process is `Unavailable` (locked),
/// and a missing file is `NotFound`.
pub fn compact(path: impl AsRef<Path>) -> Result<CompactReport> {
    let path = path.as_ref();
    let op = Operation::Open;
    if !path.exists() {
        return Err(Error::new(ErrorKind::NotFound, op, "no store at this path")
            .with_context("path", path.display()));
    }
    let before = file_size(path);
    let in_context = |e: Error| e.with_context("path", path.display());
    // redb may panic on a damaged file: that is `Corrupted`, not a crash of the caller.
    crate::blocking::catch(op, || {
        let mut db = Database::open(path).map_err(|e| redb_error(op, e))?;
        let txn = db.begin_read().map_err(|e| redb_error(op, e))?;
        let foreign = foreign_table(&txn)?;
        drop(txn);
        if let Some(name) = foreign {
            return Err(Error::invalid_input(
                op,
                format!("not a Strata store: it has a table {name:?} Strata did not write"),
            ));
        }
        db.compact().map_err(|e| redb_error(op, e))?;
        Ok(())
    })
    .and_then(|inner| inner)
    .map_err(in_context)?;
    Ok(CompactReport {
        before,
        after: file_size(path),
    })
}
