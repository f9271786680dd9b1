//! The stores a user might pick instead of Strata: LMDB (through heed), fjall and SQLite
//! (through rusqlite, bundled). Each at its defaults, but for the durability the comparison
//! fixes (see the module docs of `side_by_side`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use super::{Op, Pair, Store};

/// LMDB through heed, at its default durable commit (data pages synced, then the meta page
/// written synchronously); the YCSB phases turn on `NO_SYNC` for the environment.
pub struct LmdbStore {
    dir: PathBuf,
    env: heed::Env,
    db: heed::Database<heed::types::Bytes, heed::types::Bytes>,
}

impl LmdbStore {
    /// A new environment in `dir`, mapped large enough for `bytes` of data.
    pub fn create(dir: &Path, bytes: usize) -> Self {
        std::fs::create_dir_all(dir).expect("store dir");
        // SAFETY (heed's contract): the environment is opened once in this process, and no
        // other process touches the directory.
        #[allow(unsafe_code)]
        let env = unsafe {
            heed::EnvOpenOptions::new()
                .map_size(bytes.next_multiple_of(1 << 20))
                .max_dbs(1)
                .open(dir)
                .expect("open LMDB")
        };
        let mut wtxn = env.write_txn().expect("write_txn");
        let db = env
            .create_database(&mut wtxn, None)
            .expect("create_database");
        wtxn.commit().expect("commit");
        LmdbStore {
            dir: dir.to_path_buf(),
            env,
            db,
        }
    }

    fn write(&self, f: impl FnOnce(&mut heed::RwTxn<'_>)) {
        let mut wtxn = self.env.write_txn().expect("write_txn");
        f(&mut wtxn);
        wtxn.commit().expect("commit");
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let rtxn = self.env.read_txn().expect("read_txn");
        self.db.get(&rtxn, key).expect("get").map(<[u8]>::to_vec)
    }
}

impl Store for LmdbStore {
    fn name(&self) -> &'static str {
        "lmdb"
    }
    fn set_durable(&mut self, durable: bool) {
        let mode = if durable {
            heed::FlagSetMode::Disable
        } else {
            heed::FlagSetMode::Enable
        };
        // SAFETY (heed's contract): `&mut self` — no other thread uses the environment now.
        #[allow(unsafe_code)]
        unsafe {
            self.env
                .set_flags(heed::EnvFlags::NO_SYNC, mode)
                .expect("set NO_SYNC");
        }
    }
    fn put_chunks(&self, pairs: &[Pair], per_commit: usize) {
        for chunk in pairs.chunks(per_commit) {
            self.write(|w| {
                for (k, v) in chunk {
                    self.db.put(w, k, v).expect("put");
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
            let rtxn = self.env.read_txn().expect("read_txn");
            let range = (
                std::ops::Bound::Included(start.as_slice()),
                std::ops::Bound::Unbounded,
            );
            let pairs: Vec<(Vec<u8>, Vec<u8>)> = self
                .db
                .range(&rtxn, &range)
                .expect("range")
                .take(len)
                .map(|e| {
                    let (k, v) = e.expect("entry");
                    (k.to_vec(), v.to_vec())
                })
                .collect();
            n += pairs.len();
        }
        n
    }
    fn remove_chunks(&self, keys: &[Vec<u8>], per_commit: usize) {
        for chunk in keys.chunks(per_commit) {
            self.write(|w| {
                for k in chunk {
                    self.db.delete(w, k).expect("delete");
                }
            });
        }
    }
    fn run_ops(&self, ops: &[Op], keys: &[Vec<u8>], value: &[u8]) -> usize {
        let mut found = 0;
        for op in ops {
            match *op {
                Op::Read(i) => found += usize::from(self.get(&keys[i as usize]).is_some()),
                Op::Update(i) => self.write(|w| {
                    self.db.put(w, &keys[i as usize], value).expect("put");
                }),
                Op::ReadModifyWrite(i) => {
                    let key = keys[i as usize].as_slice();
                    let mut v = self.get(key).expect("an existing key");
                    v[0] = v[0].wrapping_add(1);
                    self.write(|w| self.db.put(w, key, &v).expect("put"));
                }
            }
        }
        found
    }
    fn sync(&self) {
        self.env.force_sync().expect("sync");
    }
    fn dir(&self) -> &Path {
        &self.dir
    }
}

/// fjall, an LSM tree: one keyspace; a durable commit persists the journal with `SyncAll`.
pub struct FjallStore {
    dir: PathBuf,
    db: fjall::Database,
    keyspace: fjall::Keyspace,
    durable: AtomicBool,
}

impl FjallStore {
    /// A new database in `dir`.
    pub fn create(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).expect("store dir");
        let db = fjall::Database::builder(dir).open().expect("open fjall");
        let keyspace = db
            .keyspace("kv", fjall::KeyspaceCreateOptions::default)
            .expect("keyspace");
        FjallStore {
            dir: dir.to_path_buf(),
            db,
            keyspace,
            durable: AtomicBool::new(true),
        }
    }

    fn persist(&self) {
        if self.durable.load(Ordering::Relaxed) {
            self.db
                .persist(fjall::PersistMode::SyncAll)
                .expect("persist");
        }
    }
}

impl Store for FjallStore {
    fn name(&self) -> &'static str {
        "fjall"
    }
    fn set_durable(&mut self, durable: bool) {
        self.durable.store(durable, Ordering::Relaxed);
    }
    fn put_chunks(&self, pairs: &[Pair], per_commit: usize) {
        for chunk in pairs.chunks(per_commit) {
            if let [(k, v)] = chunk {
                self.keyspace.insert(k, v).expect("insert");
            } else {
                let mut batch = self.db.batch();
                for (k, v) in chunk {
                    batch.insert(&self.keyspace, k, v);
                }
                batch.commit().expect("commit");
            }
            self.persist();
        }
    }
    fn get_each(&self, keys: &[Vec<u8>]) -> usize {
        keys.iter()
            .filter(|k| self.keyspace.get(k).expect("get").is_some())
            .count()
    }
    fn scan_each(&self, starts: &[Vec<u8>], len: usize) -> usize {
        let mut n = 0;
        for start in starts {
            let pairs: Vec<(fjall::Slice, fjall::Slice)> = self
                .keyspace
                .range(start.as_slice()..)
                .take(len)
                .map(|guard| guard.into_inner().expect("entry"))
                .collect();
            n += pairs.len();
        }
        n
    }
    fn remove_chunks(&self, keys: &[Vec<u8>], per_commit: usize) {
        for chunk in keys.chunks(per_commit) {
            let mut batch = self.db.batch();
            for k in chunk {
                batch.remove(&self.keyspace, k.as_slice());
            }
            batch.commit().expect("commit");
            self.persist();
        }
    }
    fn run_ops(&self, ops: &[Op], keys: &[Vec<u8>], value: &[u8]) -> usize {
        let mut found = 0;
        for op in ops {
            match *op {
                Op::Read(i) => {
                    found +=
                        usize::from(self.keyspace.get(&keys[i as usize]).expect("get").is_some());
                }
                Op::Update(i) => {
                    self.keyspace
                        .insert(&keys[i as usize], value)
                        .expect("insert");
                    self.persist();
                }
                Op::ReadModifyWrite(i) => {
                    let key = &keys[i as usize];
                    let old = self
                        .keyspace
                        .get(key)
                        .expect("get")
                        .expect("an existing key");
                    let mut v = old.to_vec();
                    v[0] = v[0].wrapping_add(1);
                    self.keyspace.insert(key, v).expect("insert");
                    self.persist();
                }
            }
        }
        found
    }
    fn sync(&self) {
        self.db
            .persist(fjall::PersistMode::SyncAll)
            .expect("persist");
    }
    fn dir(&self) -> &Path {
        &self.dir
    }
}

/// SQLite through rusqlite (bundled): a `WITHOUT ROWID` table in WAL mode. Writes go through
/// one connection; each reading call opens its own, as each thread of an application would.
pub struct SqliteStore {
    dir: PathBuf,
    path: PathBuf,
    writer: Mutex<rusqlite::Connection>,
}

impl SqliteStore {
    /// A new database in `dir`.
    pub fn create(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).expect("store dir");
        let path = dir.join("kv.sqlite");
        let conn = rusqlite::Connection::open(&path).expect("open SQLite");
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
             CREATE TABLE kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;",
        )
        .expect("schema");
        SqliteStore {
            dir: dir.to_path_buf(),
            path,
            writer: Mutex::new(conn),
        }
    }

    fn reader(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(&self.path).expect("open SQLite")
    }

    fn write(&self, f: impl FnOnce(&rusqlite::Transaction<'_>)) {
        let mut conn = self.writer.lock();
        let txn = conn.transaction().expect("begin");
        f(&txn);
        txn.commit().expect("commit");
    }
}

fn sqlite_get(conn: &rusqlite::Connection, key: &[u8]) -> Option<Vec<u8>> {
    use rusqlite::OptionalExtension;
    conn.prepare_cached("SELECT v FROM kv WHERE k = ?1")
        .expect("prepare")
        .query_row([key], |row| row.get::<_, Vec<u8>>(0))
        .optional()
        .expect("select")
}

fn sqlite_put(txn: &rusqlite::Transaction<'_>, key: &[u8], value: &[u8]) {
    txn.prepare_cached("INSERT OR REPLACE INTO kv (k, v) VALUES (?1, ?2)")
        .expect("prepare")
        .execute([key, value])
        .expect("insert");
}

impl Store for SqliteStore {
    fn name(&self) -> &'static str {
        "sqlite"
    }
    fn set_durable(&mut self, durable: bool) {
        let pragma = if durable {
            "PRAGMA synchronous=FULL"
        } else {
            "PRAGMA synchronous=NORMAL"
        };
        self.writer.lock().execute_batch(pragma).expect("pragma");
    }
    fn put_chunks(&self, pairs: &[Pair], per_commit: usize) {
        for chunk in pairs.chunks(per_commit) {
            self.write(|t| {
                for (k, v) in chunk {
                    sqlite_put(t, k, v);
                }
            });
        }
    }
    fn get_each(&self, keys: &[Vec<u8>]) -> usize {
        let conn = self.reader();
        keys.iter()
            .filter(|k| sqlite_get(&conn, k).is_some())
            .count()
    }
    fn scan_each(&self, starts: &[Vec<u8>], len: usize) -> usize {
        let conn = self.reader();
        let mut stmt = conn
            .prepare("SELECT k, v FROM kv WHERE k >= ?1 ORDER BY k LIMIT ?2")
            .expect("prepare");
        let mut n = 0;
        for start in starts {
            let pairs: Vec<(Vec<u8>, Vec<u8>)> = stmt
                .query_map(rusqlite::params![start, len as i64], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .expect("select")
                .map(|r| r.expect("row"))
                .collect();
            n += pairs.len();
        }
        n
    }
    fn remove_chunks(&self, keys: &[Vec<u8>], per_commit: usize) {
        for chunk in keys.chunks(per_commit) {
            self.write(|t| {
                let mut stmt = t
                    .prepare_cached("DELETE FROM kv WHERE k = ?1")
                    .expect("prepare");
                for k in chunk {
                    stmt.execute([k]).expect("delete");
                }
            });
        }
    }
    fn run_ops(&self, ops: &[Op], keys: &[Vec<u8>], value: &[u8]) -> usize {
        let mut found = 0;
        for op in ops {
            match *op {
                Op::Read(i) => {
                    let conn = self.writer.lock();
                    found += usize::from(sqlite_get(&conn, &keys[i as usize]).is_some());
                }
                Op::Update(i) => self.write(|t| sqlite_put(t, &keys[i as usize], value)),
                Op::ReadModifyWrite(i) => {
                    let key = keys[i as usize].as_slice();
                    let mut v = sqlite_get(&self.writer.lock(), key).expect("an existing key");
                    v[0] = v[0].wrapping_add(1);
                    self.write(|t| sqlite_put(t, key, &v));
                }
            }
        }
        found
    }
    fn sync(&self) {
        self.writer
            .lock()
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .expect("checkpoint");
    }
    fn dir(&self) -> &Path {
        &self.dir
    }
}
