//! The peer: redb used directly, the way an application without Strata would.

use std::path::Path;

use redb::{Database, Durability, ReadableDatabase, TableDefinition};

const TABLE: TableDefinition<'static, &'static [u8], &'static [u8]> =
    TableDefinition::new("kv.default");

/// A raw redb database with one byte table.
pub struct RawRedb {
    db: Database,
}

impl RawRedb {
    /// Creates (or opens) the database at `path`.
    pub fn create(path: &Path) -> Self {
        RawRedb {
            db: Database::create(path).expect("create raw redb"),
        }
    }

    /// One put in its own transaction, committed with `durability`.
    pub fn put(&self, key: &[u8], value: &[u8], durability: Durability) {
        let mut txn = self.db.begin_write().unwrap();
        txn.set_durability(durability).unwrap();
        {
            let mut table = txn.open_table(TABLE).unwrap();
            table.insert(key, value).unwrap();
        }
        txn.commit().unwrap();
    }

    /// Many puts in one transaction.
    pub fn put_batch(&self, entries: &[(Vec<u8>, Vec<u8>)], durability: Durability) {
        let mut txn = self.db.begin_write().unwrap();
        txn.set_durability(durability).unwrap();
        {
            let mut table = txn.open_table(TABLE).unwrap();
            for (k, v) in entries {
                table.insert(k.as_slice(), v.as_slice()).unwrap();
            }
        }
        txn.commit().unwrap();
    }

    /// One point read, copying the value out as an application would.
    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let txn = self.db.begin_read().unwrap();
        let table = txn.open_table(TABLE).unwrap();
        table.get(key).unwrap().map(|v| v.value().to_vec())
    }

    /// Up to `limit` pairs from `start` on, copied out as an application would.
    pub fn scan(&self, start: &[u8], limit: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        let txn = self.db.begin_read().unwrap();
        let table = txn.open_table(TABLE).unwrap();
        table
            .range(start..)
            .unwrap()
            .take(limit)
            .map(|entry| {
                let (k, v) = entry.unwrap();
                (k.value().to_vec(), v.value().to_vec())
            })
            .collect()
    }
}
