//! The side-by-side benchmark of embedded stores, in the shape of redb's own comparison
//! (`lmdb_benchmark`: bulk load, individual writes, batch writes, random reads, reads from two
//! threads, range reads, removals, file size), plus YCSB workloads A, B, C and F over a
//! Zipf(0.99) key choice.
//!
//! Every store is driven through [`Store`], whose calls each run a whole phase, so that an
//! async store pays for entering its runtime once per phase, not once per operation. The
//! operations themselves are the store's own per-call API: every read is its own call (and,
//! for the stores that have them, its own read transaction), as a key-value service issues
//! them.
//!
//! Durability: in the durable phases every commit is on disk before the call returns — redb
//! `Durability::Immediate`, LMDB a forced sync after each commit, fjall
//! `persist(SyncAll)`, SQLite `synchronous=FULL` in WAL mode, Strata `SyncMode::Full`. The
//! YCSB phases commit every update without waiting for the disk (redb `Durability::None`,
//! LMDB `NO_SYNC`, fjall no persist, SQLite `synchronous=NORMAL`, Strata `SyncMode::Off`), as
//! YCSB is usually run: otherwise they would measure the disk's fsync, not the store.

pub mod data;
#[cfg(feature = "peers")]
pub mod peers;
pub mod report;
pub mod stores;

use std::path::{Path, PathBuf};

/// One YCSB operation on the key at this index of the loaded keys.
#[derive(Clone, Copy, Debug)]
pub enum Op {
    /// Read the key's value.
    Read(u32),
    /// Overwrite the key's value.
    Update(u32),
    /// Read the key's value, then write a new one.
    ReadModifyWrite(u32),
}

/// A key and its value.
pub type Pair = (Vec<u8>, Vec<u8>);

/// An embedded store under test. Each call runs one phase to completion.
pub trait Store: Send + Sync {
    /// The store's name in the report.
    fn name(&self) -> &'static str;

    /// Whether commits wait for the disk from now on (see the module docs).
    fn set_durable(&mut self, durable: bool);

    /// Writes `pairs`, `per_commit` of them in each transaction.
    fn put_chunks(&self, pairs: &[Pair], per_commit: usize);

    /// Reads each key with its own call; returns how many were found.
    fn get_each(&self, keys: &[Vec<u8>]) -> usize;

    /// For each start, reads the `len` pairs from it on; returns how many pairs were read.
    fn scan_each(&self, starts: &[Vec<u8>], len: usize) -> usize;

    /// Removes `keys`, `per_commit` of them in each transaction.
    fn remove_chunks(&self, keys: &[Vec<u8>], per_commit: usize);

    /// Runs `ops` on `keys`, writing `value` for updates; returns how many reads found a value.
    fn run_ops(&self, ops: &[Op], keys: &[Vec<u8>], value: &[u8]) -> usize;

    /// Makes everything written durable, for the file-size reading.
    fn sync(&self);

    /// The directory holding the store's files.
    fn dir(&self) -> &Path;
}

/// Bytes under `dir`, every file counted at its length.
pub fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                total += meta.len();
            }
        }
    }
    total
}
