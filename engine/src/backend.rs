//! The core trait every backend and every combinator implements.

use std::fmt::Debug;
use std::future::Future;

use bytes::Bytes;

use crate::{Capabilities, KeyRange, Result, WriteBatch};

/// The name of the keyspace a freshly opened backend handle addresses.
pub const DEFAULT_KEYSPACE: &str = "default";

/// An async key-value store: the one trait every backend (memory, redb, Turso) and every
/// combinator (`Tiered`, compression layers…) implements, so they compose freely.
///
/// Keys and values are bytes. Values are [`Bytes`], so a cache can hand out its buffer without
/// copying. A handle addresses one named keyspace; [`keyspace`](Self::keyspace) opens others on
/// the same store, and keyspaces never see each other's keys.
///
/// This trait uses static dispatch (`impl Future`); its object-safe twin
/// [`DynStorageBackend`](crate::DynStorageBackend) is implemented for every backend, and
/// [`DynBackend`](crate::DynBackend) (`Arc<dyn DynStorageBackend>`) implements this trait again.
///
/// # Common behavior
/// - A missing key is `Ok(None)` (or `Ok(false)` for `delete`), never an error.
/// - A key longer than [`Capabilities::max_key_size`] or a value larger than
///   [`Capabilities::max_value_size`] fails with
///   [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) and changes nothing.
/// - Once a write's future resolves `Ok`, every later read on any handle of the store sees it.
pub trait StorageBackend: Send + Sync + Debug + 'static {
    /// What this backend supports and the limits it enforces.
    fn capabilities(&self) -> Capabilities;

    /// A handle on the keyspace `name` of the same store, created on first write.
    ///
    /// # Behavior
    /// - Names are 1 to 64 ASCII letters, digits, `_`, `-` or `.`; others get `InvalidInput`.
    /// - Handles are cheap; opening the same name twice addresses the same data.
    fn keyspace(&self, name: &str) -> Result<Self>
    where
        Self: Sized;

    /// The value stored under `key`.
    ///
    /// # Behavior
    /// - Returns `Ok(None)` when the key is missing.
    fn get(&self, key: &[u8]) -> impl Future<Output = Result<Option<Bytes>>> + Send;

    /// The values of several keys, in the order of `keys`.
    ///
    /// # Behavior
    /// - The result has exactly `keys.len()` entries, `None` for each missing key.
    /// - A key may appear more than once.
    /// - Remote backends answer in one round trip.
    fn get_many(&self, keys: &[Bytes]) -> impl Future<Output = Result<Vec<Option<Bytes>>>> + Send;

    /// Stores `value` under `key`, replacing any previous value.
    ///
    /// # Behavior
    /// - An empty value is a value, distinct from a missing key.
    /// - Resolves once the write is as durable as the backend's sync mode promises.
    fn put(&self, key: Bytes, value: Bytes) -> impl Future<Output = Result<()>> + Send;

    /// Removes `key`; resolves to whether it was present.
    ///
    /// # Behavior
    /// - Deleting a missing key succeeds with `false`.
    fn delete(&self, key: &[u8]) -> impl Future<Output = Result<bool>> + Send;

    /// Applies every operation of `batch`, in order, atomically.
    ///
    /// # Behavior
    /// - All or nothing: if any operation is invalid or the commit fails, no operation is
    ///   visible, now or after a crash.
    /// - When a key appears twice, the later operation wins.
    /// - An empty batch succeeds and changes nothing.
    fn write_batch(&self, batch: WriteBatch) -> impl Future<Output = Result<()>> + Send;

    /// The entries whose keys lie in `range`, in ascending key order, at most `limit` of them.
    ///
    /// # Behavior
    /// - A range whose start is after its end yields nothing (no error, no panic).
    /// - `limit = Some(0)` yields nothing; `None` yields every entry in the range.
    fn scan(
        &self,
        range: KeyRange,
        limit: Option<usize>,
    ) -> impl Future<Output = Result<Vec<(Bytes, Bytes)>>> + Send;

    /// Makes every write acknowledged so far durable now, whatever the sync mode.
    ///
    /// # Behavior
    /// - A backend with nothing to persist (memory) returns `Ok(())` at once.
    fn flush(&self) -> impl Future<Output = Result<()>> + Send;

    /// Makes every write acknowledged so far durable and reports whether that worked — the
    /// call to make before exiting. Afterwards the handle stays usable, but nothing is
    /// promised about writes made after it returned until the next `close` or `flush`.
    ///
    /// # Behavior
    /// - Works on any handle, not only the last one, and reports the first error: a failed
    ///   final fsync, a storage writer that died, a remote that cannot be reached.
    /// - Combinators close every tier they hold (the lower one first, it is the truth).
    /// - The default is [`flush`](Self::flush).
    fn close(&self) -> impl Future<Output = Result<()>> + Send {
        self.flush()
    }
}
