//! Raw redb and Strata's two local paths as [`Store`]s. (LMDB, fjall and SQLite are in
//! `peers.rs`, behind the `peers` feature.)

use std::future::Future;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use redb::{Database, Durability, ReadableDatabase, TableDefinition};
use strata::{KeyRange, MemoryCache, StorageBackend, SyncMode, Tiered, WriteBatch};
use strata_redb::RedbBackend;

use super::{Op, Pair, Store};

const TABLE: TableDefinition<'static, &'static [u8], &'static [u8]> = TableDefinition::new("kv");

/// Runs `f` on a runtime of its own: each call may come from its own thread (the two-thread
/// reads), and one current-thread runtime cannot drive two threads' `block_on` at once.
fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime")
        .block_on(f)
}

/// redb used directly: one transaction per call, values copied out.
pub struct RawRedbStore {
    dir: PathBuf,
    db: Database,
    durability: Durability,
}

impl RawRedbStore {
    /// A new database in `dir`.
    pub fn create(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).expect("store dir");
        RawRedbStore {
            dir: dir.to_path_buf(),
            db: Database::create(dir.join("raw.redb")).expect("create redb"),
            durability: Durability::Immediate,
        }
    }

    fn write(&self, f: impl FnOnce(&mut redb::Table<'_, &'static [u8], &'static [u8]>)) {
        let mut txn = self.db.begin_write().expect("begin_write");
        txn.set_durability(self.durability).expect("durability");
        {
            let mut table = txn.open_table(TABLE).expect("open_table");
            f(&mut table);
        }
        txn.commit().expect("commit");
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let txn = self.db.begin_read().expect("begin_read");
        let table = txn.open_table(TABLE).expect("open_table");
        table.get(key).expect("get").map(|v| v.value().to_vec())
    }
}

impl Store for RawRedbStore {
    fn name(&self) -> &'static str {
        "redb"
    }
    fn set_durable(&mut self, durable: bool) {
        self.durability = if durable {
            Durability::Immediate
        } else {
            Durability::None
        };
    }
    fn put_chunks(&self, pairs: &[Pair], per_commit: usize) {
        for chunk in pairs.chunks(per_commit) {
            self.write(|t| {
                for (k, v) in chunk {
                    t.insert(k.as_slice(), v.as_slice()).expect("insert");
                }
            });
        }
    }
    fn get_each(&self, keys: &[Vec<u8>]) -> usize {
        keys.iter().filter(|k| self.get(k).is_some()).count()
    }
    fn scan_each(&self, starts: &[Vec<u8>], len: usize) -> usize {
        let mut n = 0;
        for start in starts {
            let txn = self.db.begin_read().expect("begin_read");
            let table = txn.open_table(TABLE).expect("open_table");
            let pairs: Vec<(Vec<u8>, Vec<u8>)> = table
                .range(start.as_slice()..)
                .expect("range")
                .take(len)
                .map(|e| {
                    let (k, v) = e.expect("entry");
                    (k.value().to_vec(), v.value().to_vec())
                })
                .collect();
            n += pairs.len();
        }
        n
    }
    fn remove_chunks(&self, keys: &[Vec<u8>], per_commit: usize) {
        for chunk in keys.chunks(per_commit) {
            self.write(|t| {
                for k in chunk {
                    t.remove(k.as_slice()).expect("remove");
                }
            });
        }
    }
    fn run_ops(&self, ops: &[Op], keys: &[Vec<u8>], value: &[u8]) -> usize {
        let mut found = 0;
        for op in ops {
            match *op {
                Op::Read(i) => found += usize::from(self.get(&keys[i as usize]).is_some()),
                Op::Update(i) => self.write(|t| {
                    t.insert(keys[i as usize].as_slice(), value)
                        .expect("insert");
                }),
                Op::ReadModifyWrite(i) => {
                    let key = keys[i as usize].as_slice();
                    let mut v = self.get(key).expect("an existing key");
                    v[0] = v[0].wrapping_add(1);
                    self.write(|t| {
                        t.insert(key, v.as_slice()).expect("insert");
                    });
                }
            }
        }
        found
    }
    fn sync(&self) {
        let mut txn = self.db.begin_write().expect("begin_write");
        txn.set_durability(Durability::Immediate)
            .expect("durability");
        txn.commit().expect("commit");
    }
    fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Which of Strata's local paths.
enum Shape {
    Redb(RedbBackend),
    Tiered(Tiered<MemoryCache, RedbBackend>),
}

/// Strata's `RedbBackend`, alone or under a `MemoryCache` of `cache_entries` entries, called
/// through `StorageBackend` as a user's async code calls it.
pub struct StrataStore {
    dir: PathBuf,
    cache_entries: Option<u64>,
    shape: Option<Shape>,
}

impl StrataStore {
    /// `RedbBackend` at `SyncMode::Full` in `dir`.
    pub fn redb(dir: &Path) -> Self {
        Self::open(dir, None)
    }

    /// `Tiered(MemoryCache of cache_entries, RedbBackend)` at `SyncMode::Full` in `dir`.
    pub fn tiered(dir: &Path, cache_entries: u64) -> Self {
        Self::open(dir, Some(cache_entries))
    }

    fn open(dir: &Path, cache_entries: Option<u64>) -> Self {
        std::fs::create_dir_all(dir).expect("store dir");
        let mut store = StrataStore {
            dir: dir.to_path_buf(),
            cache_entries,
            shape: None,
        };
        store.reopen(SyncMode::Full);
        store
    }

    /// Closes the store (if open) and opens it again with `mode`. The cache starts empty.
    fn reopen(&mut self, mode: SyncMode) {
        if let Some(shape) = self.shape.take() {
            block_on(async {
                match shape {
                    Shape::Redb(b) => b.close().await.expect("close"),
                    Shape::Tiered(t) => {
                        t.close().await.expect("close");
                        drop(t);
                    }
                }
            });
        }
        let backend = RedbBackend::builder(self.dir.join("strata.redb"))
            .sync_mode(mode)
            .open_blocking()
            .expect("open RedbBackend");
        self.shape = Some(match self.cache_entries {
            None => Shape::Redb(backend),
            Some(n) => Shape::Tiered(Tiered::new(
                MemoryCache::with_max_entries(n).expect("a cache"),
                backend,
            )),
        });
    }
}

/// Runs `$body` with `$b` bound to the open backend, whichever shape it has: the phases are
/// generic over `StorageBackend`, so neither shape pays for dynamic dispatch per call.
macro_rules! on_shape {
    ($store:expr, |$b:ident| $body:expr) => {
        match $store.shape.as_ref().expect("open") {
            Shape::Redb($b) => $body,
            Shape::Tiered($b) => $body,
        }
    };
}

async fn get_each<B: StorageBackend>(b: &B, keys: &[Vec<u8>]) -> usize {
    let mut found = 0;
    for k in keys {
        found += usize::from(b.get(k).await.expect("get").is_some());
    }
    found
}

async fn put_chunks<B: StorageBackend>(b: &B, pairs: &[Pair], per_commit: usize) {
    for chunk in pairs.chunks(per_commit) {
        if let [(k, v)] = chunk {
            b.put(Bytes::copy_from_slice(k), Bytes::copy_from_slice(v))
                .await
                .expect("put");
        } else {
            let mut batch = WriteBatch::with_capacity(chunk.len());
            for (k, v) in chunk {
                batch.put(Bytes::copy_from_slice(k), Bytes::copy_from_slice(v));
            }
            b.write_batch(batch).await.expect("write_batch");
        }
    }
}

async fn remove_chunks<B: StorageBackend>(b: &B, keys: &[Vec<u8>], per_commit: usize) {
    for chunk in keys.chunks(per_commit) {
        let mut batch = WriteBatch::with_capacity(chunk.len());
        for k in chunk {
            batch.delete(Bytes::copy_from_slice(k));
        }
        b.write_batch(batch).await.expect("write_batch");
    }
}

async fn scan_each<B: StorageBackend>(b: &B, starts: &[Vec<u8>], len: usize) -> usize {
    let mut n = 0;
    for start in starts {
        let range = KeyRange::from_key(Bytes::copy_from_slice(start));
        n += b.scan(range, Some(len)).await.expect("scan").len();
    }
    n
}

async fn run_ops<B: StorageBackend>(b: &B, ops: &[Op], keys: &[Vec<u8>], value: &[u8]) -> usize {
    let value = Bytes::copy_from_slice(value);
    let mut found = 0;
    for op in ops {
        match *op {
            Op::Read(i) => {
                found += usize::from(b.get(&keys[i as usize]).await.expect("get").is_some());
            }
            Op::Update(i) => b
                .put(Bytes::copy_from_slice(&keys[i as usize]), value.clone())
                .await
                .expect("put"),
            Op::ReadModifyWrite(i) => {
                let key = &keys[i as usize];
                let old = b.get(key).await.expect("get").expect("an existing key");
                let mut v = old.to_vec();
                v[0] = v[0].wrapping_add(1);
                b.put(Bytes::copy_from_slice(key), Bytes::from(v))
                    .await
                    .expect("put");
            }
        }
    }
    found
}

impl Store for StrataStore {
    fn name(&self) -> &'static str {
        match self.cache_entries {
            None => "strata redb",
            Some(_) => "strata tiered",
        }
    }
    fn set_durable(&mut self, durable: bool) {
        self.reopen(if durable {
            SyncMode::Full
        } else {
            SyncMode::Off
        });
    }
    fn put_chunks(&self, pairs: &[Pair], per_commit: usize) {
        on_shape!(self, |b| block_on(put_chunks(b, pairs, per_commit)))
    }
    fn get_each(&self, keys: &[Vec<u8>]) -> usize {
        on_shape!(self, |b| block_on(get_each(b, keys)))
    }
    fn scan_each(&self, starts: &[Vec<u8>], len: usize) -> usize {
        on_shape!(self, |b| block_on(scan_each(b, starts, len)))
    }
    fn remove_chunks(&self, keys: &[Vec<u8>], per_commit: usize) {
        on_shape!(self, |b| block_on(remove_chunks(b, keys, per_commit)))
    }
    fn run_ops(&self, ops: &[Op], keys: &[Vec<u8>], value: &[u8]) -> usize {
        on_shape!(self, |b| block_on(run_ops(b, ops, keys, value)))
    }
    fn sync(&self) {
        on_shape!(self, |b| block_on(b.flush()).expect("flush"))
    }
    fn dir(&self) -> &Path {
        &self.dir
    }
}
