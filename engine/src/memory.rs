//! `MemoryBackend`: an ordered, concurrent, in-process store.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::{Future, ready};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};

use crate::validate::{check_batch, check_key, check_keyspace_name, check_put};
use crate::{
    BatchOp, Capabilities, DEFAULT_KEYSPACE, KeyRange, Operation, Result, StorageBackend,
    WriteBatch,
};

type Map = BTreeMap<Bytes, Bytes>;

/// An ordered key-value store held in memory, shared by all clones of the handle.
///
/// Each keyspace is a `BTreeMap` behind a reader-writer lock: reads run in parallel, a batch
/// is applied under one write lock so readers see all of it or none of it. Nothing survives
/// the process; [`Capabilities::persistent`] is `false`.
#[derive(Clone)]
pub struct MemoryBackend {
    keyspace: Arc<str>,
    map: Arc<RwLock<Map>>,
    shared: Arc<Shared>,
}

struct Shared {
    caps: Capabilities,
    keyspaces: Mutex<HashMap<Arc<str>, Arc<RwLock<Map>>>>,
}

impl MemoryBackend {
    /// An empty store with the default limits ([`Capabilities::default`]).
    pub fn new() -> Self {
        Self::with_capabilities(Capabilities::default())
    }

    /// An empty store enforcing the given key and value limits.
    pub fn with_limits(max_key_size: usize, max_value_size: usize) -> Self {
        Self::with_capabilities(Capabilities {
            max_key_size,
            max_value_size,
            ..Capabilities::default()
        })
    }

    fn with_capabilities(caps: Capabilities) -> Self {
        let shared = Arc::new(Shared {
            caps,
            keyspaces: Mutex::new(HashMap::new()),
        });
        let keyspace: Arc<str> = Arc::from(DEFAULT_KEYSPACE);
        let map = shared.map_for(&keyspace);
        MemoryBackend {
            keyspace,
            map,
            shared,
        }
    }

    /// The keyspace this handle addresses.
    pub fn keyspace_name(&self) -> &str {
        &self.keyspace
    }

    /// Number of entries in this keyspace.
    pub fn len(&self) -> usize {
        self.map.read().len()
    }

    /// Whether this keyspace holds no entry.
    pub fn is_empty(&self) -> bool {
        self.map.read().is_empty()
    }

    fn caps(&self) -> &Capabilities {
        &self.shared.caps
    }

    fn get_now(&self, key: &[u8]) -> Result<Option<Bytes>> {
        check_key(self.caps(), Operation::Get, key)?;
        Ok(self.map.read().get(key).cloned())
    }

    fn get_many_now(&self, keys: &[Bytes]) -> Result<Vec<Option<Bytes>>> {
        for key in keys {
            check_key(self.caps(), Operation::GetMany, key)?;
        }
        let map = self.map.read();
        Ok(keys.iter().map(|k| map.get(k.as_ref()).cloned()).collect())
    }

    fn put_now(&self, key: Bytes, value: Bytes) -> Result<()> {
        check_put(self.caps(), Operation::Put, &key, &value)?;
        self.map.write().insert(key, value);
        Ok(())
    }

    fn delete_now(&self, key: &[u8]) -> Result<bool> {
        check_key(self.caps(), Operation::Delete, key)?;
        Ok(self.map.write().remove(key).is_some())
    }

    fn write_batch_now(&self, batch: WriteBatch) -> Result<()> {
        check_batch(self.caps(), &batch)?;
        if batch.is_empty() {
            return Ok(());
        }
        let mut map = self.map.write();
        for op in batch.into_ops() {
            match op {
                BatchOp::Put { key, value } => {
                    map.insert(key, value);
                }
                BatchOp::Delete { key } => {
                    map.remove(&key);
                }
            }
        }
        Ok(())
    }

    fn scan_now(&self, range: KeyRange, limit: Option<usize>) -> Result<Vec<(Bytes, Bytes)>> {
        let limit = limit.unwrap_or(usize::MAX);
        if range.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let map = self.map.read();
        Ok(map
            .range::<[u8], _>(range.as_bounds())
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}

impl Shared {
    fn map_for(&self, name: &Arc<str>) -> Arc<RwLock<Map>> {
        self.keyspaces
            .lock()
            .entry(name.clone())
            .or_default()
            .clone()
    }
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryBackend")
            .field("keyspace", &self.keyspace)
            .field("entries", &self.len())
            .finish()
    }
}

impl StorageBackend for MemoryBackend {
    fn capabilities(&self) -> Capabilities {
        *self.caps()
    }

    fn keyspace(&self, name: &str) -> Result<Self> {
        check_keyspace_name(name)?;
        let keyspace: Arc<str> = Arc::from(name);
        let map = self.shared.map_for(&keyspace);
        Ok(MemoryBackend {
            keyspace,
            map,
            shared: self.shared.clone(),
        })
    }

    fn get(&self, key: &[u8]) -> impl Future<Output = Result<Option<Bytes>>> + Send {
        ready(self.get_now(key))
    }

    fn get_many(&self, keys: &[Bytes]) -> impl Future<Output = Result<Vec<Option<Bytes>>>> + Send {
        ready(self.get_many_now(keys))
    }

    fn put(&self, key: Bytes, value: Bytes) -> impl Future<Output = Result<()>> + Send {
        ready(self.put_now(key, value))
    }

    fn delete(&self, key: &[u8]) -> impl Future<Output = Result<bool>> + Send {
        ready(self.delete_now(key))
    }

    fn write_batch(&self, batch: WriteBatch) -> impl Future<Output = Result<()>> + Send {
        ready(self.write_batch_now(batch))
    }

    fn scan(
        &self,
        range: KeyRange,
        limit: Option<usize>,
    ) -> impl Future<Output = Result<Vec<(Bytes, Bytes)>>> + Send {
        ready(self.scan_now(range, limit))
    }

    fn flush(&self) -> impl Future<Output = Result<()>> + Send {
        ready(Ok(()))
    }
}
