//! `Bounded<B>`: any backend turned into a capacity-bounded cache tier by the W-TinyLFU policy.
//!
//! The policy tracks the tier's keys and weights in memory and evicts by deleting from the
//! tier. Opening it scans the tier to rebuild the policy, so a persistent tier (redb) is warm
//! after a restart: what it held before still serves hits at once. Keyspaces not listed at
//! open are tracked from their first use in this process only.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::Mutex;

use super::policy::{EvictionCause, PolicyConfig, WTinyLfu};
use crate::{
    BatchOp, Capabilities, DEFAULT_KEYSPACE, KeyRange, Result, StorageBackend, WriteBatch,
};

type PolicyKey = (u32, Bytes);

/// A backend bounded by the W-TinyLFU policy. Build it with [`Bounded::open`].
pub struct Bounded<B> {
    inner: B,
    ks: u32,
    shared: Arc<BoundedShared<B>>,
}

struct BoundedShared<B> {
    state: Mutex<State>,
    registry: parking_lot::Mutex<Registry<B>>,
    by_bytes: bool,
}

struct State {
    policy: WTinyLfu<PolicyKey>,
    evicted: Vec<(PolicyKey, EvictionCause)>,
}

/// One handle per keyspace id, to delete what the policy evicts.
struct Registry<B> {
    handles: Vec<Arc<B>>,
    ids: HashMap<String, u32>,
}

impl<B: StorageBackend> Bounded<B> {
    /// Bounds `inner` by `config` (use [`PolicyConfig::entries`] or [`PolicyConfig::weight`],
    /// weight = key + value bytes), rebuilding the policy from what the listed keyspaces (and
    /// the default one) already hold; anything over the capacity is evicted now.
    pub async fn open(inner: B, config: PolicyConfig, keyspaces: &[&str]) -> Result<Self> {
        let by_bytes = config.max_entries == u64::MAX || config.max_weight != config.max_entries;
        let mut state = State {
            policy: WTinyLfu::new(config),
            evicted: Vec::new(),
        };
        let mut registry = Registry {
            handles: Vec::new(),
            ids: HashMap::new(),
        };
        let mut names: Vec<&str> = vec![DEFAULT_KEYSPACE];
        names.extend(keyspaces.iter().copied().filter(|n| *n != DEFAULT_KEYSPACE));
        for name in names {
            let handle = inner.keyspace(name)?;
            let id = registry.handles.len() as u32;
            for (key, value) in handle.scan(KeyRange::all(), None).await? {
                let weight = if by_bytes {
                    (key.len() + value.len()) as u64
                } else {
                    1
                };
                state.policy.insert((id, key), weight, &mut state.evicted);
            }
            registry.ids.insert(name.to_string(), id);
            registry.handles.push(Arc::new(handle));
        }
        let shared = Arc::new(BoundedShared {
            state: Mutex::new(state),
            registry: parking_lot::Mutex::new(registry),
            by_bytes,
        });
        {
            let mut state = shared.state.lock().await;
            apply_evictions(&shared, &mut state).await?;
        }
        Ok(Bounded {
            inner,
            ks: 0,
            shared,
        })
    }

    /// Resident entries and weight, as the policy counts them.
    pub async fn residency(&self) -> (u64, u64) {
        let state = self.shared.state.lock().await;
        (state.policy.len() as u64, state.policy.weight())
    }

    /// The wrapped backend.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }

    fn weight(&self, key: &[u8], value: &[u8]) -> u64 {
        if self.shared.by_bytes {
            (key.len() + value.len()) as u64
        } else {
            1
        }
    }
}

/// Deletes what the policy evicted from the tier.
async fn apply_evictions<B: StorageBackend>(
    shared: &BoundedShared<B>,
    state: &mut State,
) -> Result<()> {
    if state.evicted.is_empty() {
        return Ok(());
    }
    let mut per_keyspace: HashMap<u32, WriteBatch> = HashMap::new();
    for ((id, key), _) in state.evicted.drain(..) {
        per_keyspace.entry(id).or_default().delete(key);
    }
    for (id, batch) in per_keyspace {
        let handle = shared.registry.lock().handles[id as usize].clone();
        handle.write_batch(batch).await?;
    }
    Ok(())
}

impl<B: StorageBackend> fmt::Debug for Bounded<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bounded")
            .field("inner", &self.inner)
            .field("keyspace_id", &self.ks)
            .finish()
    }
}

impl<B: StorageBackend> StorageBackend for Bounded<B> {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            evicts: true,
            ..self.inner.capabilities()
        }
    }

    fn keyspace(&self, name: &str) -> Result<Self> {
        let inner = self.inner.keyspace(name)?;
        let mut registry = self.shared.registry.lock();
        let id = match registry.ids.get(name) {
            Some(id) => *id,
            None => {
                let id = registry.handles.len() as u32;
                registry.handles.push(Arc::new(self.inner.keyspace(name)?));
                registry.ids.insert(name.to_string(), id);
                id
            }
        };
        drop(registry);
        Ok(Bounded {
            inner,
            ks: id,
            shared: self.shared.clone(),
        })
    }

    async fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        let value = self.inner.get(key).await?;
        let mut state = self.shared.state.lock().await;
        let pk = (self.ks, Bytes::copy_from_slice(key));
        if value.is_none() || !state.policy.record_hit(&pk) {
            state.policy.record_miss(&pk);
        }
        Ok(value)
    }

    async fn get_many(&self, keys: &[Bytes]) -> Result<Vec<Option<Bytes>>> {
        let values = self.inner.get_many(keys).await?;
        let mut state = self.shared.state.lock().await;
        for (key, value) in keys.iter().zip(&values) {
            let pk = (self.ks, key.clone());
            if value.is_none() || !state.policy.record_hit(&pk) {
                state.policy.record_miss(&pk);
            }
        }
        Ok(values)
    }

    async fn put(&self, key: Bytes, value: Bytes) -> Result<()> {
        let weight = self.weight(&key, &value);
        let mut state = self.shared.state.lock().await;
        self.inner.put(key.clone(), value).await?;
        let State { policy, evicted } = &mut *state;
        policy.insert((self.ks, key), weight, evicted);
        apply_evictions(&self.shared, &mut state).await
    }

    async fn delete(&self, key: &[u8]) -> Result<bool> {
        let mut state = self.shared.state.lock().await;
        let existed = self.inner.delete(key).await?;
        state.policy.remove(&(self.ks, Bytes::copy_from_slice(key)));
        Ok(existed)
    }

    async fn write_batch(&self, batch: WriteBatch) -> Result<()> {
        let mut state = self.shared.state.lock().await;
        self.inner.write_batch(batch.clone()).await?;
        for op in batch.into_ops() {
            let State { policy, evicted } = &mut *state;
            match op {
                BatchOp::Put { key, value } => {
                    let weight = self.weight(&key, &value);
                    policy.insert((self.ks, key), weight, evicted);
                }
                BatchOp::Delete { key } => {
                    policy.remove(&(self.ks, key));
                }
            }
        }
        apply_evictions(&self.shared, &mut state).await
    }

    async fn scan(&self, range: KeyRange, limit: Option<usize>) -> Result<Vec<(Bytes, Bytes)>> {
        self.inner.scan(range, limit).await
    }

    async fn flush(&self) -> Result<()> {
        self.inner.flush().await
    }
}
