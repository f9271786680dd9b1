//! [`MemoryCache`] as a [`StorageBackend`]: input checks, then the cache's own operations.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use super::MemoryCache;
use crate::validate::{check_batch, check_key, check_keyspace_name, check_put};
use crate::{Capabilities, KeyRange, Operation, Result, StorageBackend, WriteBatch};

impl fmt::Debug for MemoryCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryCache")
            .field("keyspace", &self.name)
            .field("max_entries", &self.inner.config.max_entries)
            .field("max_bytes", &self.inner.config.max_bytes)
            .field("stats", &self.stats())
            .finish()
    }
}

impl StorageBackend for MemoryCache {
    fn capabilities(&self) -> Capabilities {
        self.inner.caps
    }

    fn keyspace(&self, name: &str) -> Result<Self> {
        check_keyspace_name(name)?;
        let (ks, shards) = self.inner.keyspace_shards(name);
        Ok(MemoryCache {
            ks,
            name: Arc::from(name),
            shards,
            inner: self.inner.clone(),
        })
    }

    async fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        check_key(&self.inner.caps, Operation::Get, key)?;
        Ok(self.get_now(key))
    }

    async fn get_many(&self, keys: &[Bytes]) -> Result<Vec<Option<Bytes>>> {
        for key in keys {
            check_key(&self.inner.caps, Operation::GetMany, key)?;
        }
        Ok(keys.iter().map(|k| self.get_now(k)).collect())
    }

    async fn put(&self, key: Bytes, value: Bytes) -> Result<()> {
        check_put(&self.inner.caps, Operation::Put, &key, &value)?;
        self.insert_now(key, value, self.default_ttl());
        Ok(())
    }

    async fn delete(&self, key: &[u8]) -> Result<bool> {
        check_key(&self.inner.caps, Operation::Delete, key)?;
        Ok(self.delete_now(key))
    }

    async fn write_batch(&self, batch: WriteBatch) -> Result<()> {
        check_batch(&self.inner.caps, &batch)?;
        if !batch.is_empty() {
            self.write_batch_now(batch);
        }
        Ok(())
    }

    async fn scan(&self, range: KeyRange, limit: Option<usize>) -> Result<Vec<(Bytes, Bytes)>> {
        let limit = limit.unwrap_or(usize::MAX);
        if range.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        Ok(self.scan_now(&range, limit))
    }

    async fn flush(&self) -> Result<()> {
        Ok(())
    }
}
