//! One lock shard of a [`MemoryCache`](super::MemoryCache) keyspace: a hash table of slots
//! found by the key's [`key_hash`](crate::cache::driver::key_hash), computed once per call —
//! it picks the shard, finds the slot, and is what the policy knows the key by, so a lookup
//! hashes its key once.

use bytes::Bytes;
use hashbrown::HashTable;

use super::expiry::Entry;
use crate::cache::driver::key_hash;

/// A resident key and its entry.
pub(crate) struct Slot {
    pub(crate) key: Bytes,
    pub(crate) entry: Entry,
}

/// The slots of one shard of keyspace `ks`.
pub(crate) struct ShardMap {
    ks: u32,
    table: HashTable<Slot>,
}

impl ShardMap {
    pub(crate) fn new(ks: u32) -> Self {
        ShardMap {
            ks,
            table: HashTable::new(),
        }
    }

    /// The slot of `key`, whose hash is `hash`.
    pub(crate) fn get(&self, hash: u64, key: &[u8]) -> Option<&Slot> {
        self.table.find(hash, |slot| slot.key == key)
    }

    /// Stores `entry` under `key`; returns the slot it replaced.
    pub(crate) fn insert(&mut self, hash: u64, key: Bytes, entry: Entry) -> Option<Slot> {
        let ks = self.ks;
        match self.table.find_mut(hash, |slot| slot.key == key) {
            Some(slot) => Some(std::mem::replace(slot, Slot { key, entry })),
            None => {
                self.table
                    .insert_unique(hash, Slot { key, entry }, |slot| key_hash(ks, &slot.key));
                None
            }
        }
    }

    /// Takes `key`'s slot out.
    pub(crate) fn remove(&mut self, hash: u64, key: &[u8]) -> Option<Slot> {
        self.table
            .find_entry(hash, |slot| slot.key == key)
            .ok()
            .map(|found| found.remove().0)
    }

    /// Keeps the slots `keep` says to keep.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&Slot) -> bool) {
        self.table.retain(|slot| keep(slot));
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Slot> {
        self.table.iter()
    }

    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }
}
