//! `Collection<K, T, B>`: typed records over any backend, read zero-copy with rkyv.
//!
//! `get` returns a [`Typed`] guard that derefs to `&Archived<T>` inside the stored buffer:
//! no deserialization and no copy (the archive format is built with rkyv's `unaligned`
//! feature, so any buffer is suitably aligned). Bytes are validated (bytecheck) when they
//! first reach the collection; a buffer already validated — the same cached `Bytes` handed
//! out again by a memory tier — is recognised and not validated again. Derefs cost nothing.
//! `get_owned` deserializes to `T`.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use bytes::Bytes;
use rkyv::api::high::{HighDeserializer, HighSerializer, HighValidator};
use rkyv::bytecheck::CheckBytes;
use rkyv::rancor;
use rkyv::ser::allocator::ArenaHandle;
use rkyv::util::AlignedVec;
use rkyv::{Archive, Deserialize, Portable, Serialize};
use strata::{Error, ErrorKind, KeyRange, Operation, Result, StorageBackend};

use crate::keys::KeyCodec;
use crate::validated::ValidatedSet;

/// A validated archived record; derefs to `&T::Archived` in the stored buffer.
pub struct Typed<T: Archive> {
    bytes: Bytes,
    _record: PhantomData<fn() -> T>,
}

impl<T: Archive> Typed<T>
where
    T::Archived: Portable + for<'a> CheckBytes<HighValidator<'a, rancor::Error>>,
{
    /// Validates `bytes` as an archived `T`; invalid bytes are `Corrupted`.
    pub fn new(bytes: Bytes) -> Result<Self> {
        rkyv::access::<T::Archived, rancor::Error>(&bytes).map_err(|e| {
            Error::new(
                ErrorKind::Corrupted,
                Operation::Get,
                "stored bytes are not a valid archived record",
            )
            .with_source(e)
        })?;
        Ok(Typed {
            bytes,
            _record: PhantomData,
        })
    }

    /// A guard over bytes already validated as a `T::Archived` (see `Validated`).
    fn trusted(bytes: Bytes) -> Self {
        Typed {
            bytes,
            _record: PhantomData,
        }
    }

    /// The stored buffer.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }
}

impl<T: Archive> Deref for Typed<T>
where
    T::Archived: Portable,
{
    type Target = T::Archived;

    #[allow(unsafe_code)]
    fn deref(&self) -> &T::Archived {
        // SAFETY: `Typed::new` validated these bytes as a `T::Archived` with bytecheck, or
        // `Typed::trusted` was given a buffer identical (same live allocation, same length) to
        // one `Typed::new` validated; `Bytes` is immutable, so they are still valid.
        unsafe { rkyv::access_unchecked::<T::Archived>(&self.bytes) }
    }
}

impl<T: Archive> fmt::Debug for Typed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Typed")
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// Marks the key and record types without owning either (and staying `Send + Sync`).
pub(crate) type Types<K, T> = PhantomData<(fn(&K), fn() -> T)>;

/// How many validated buffers a collection remembers by default.
pub const DEFAULT_VALIDATED_BUFFERS: usize = 1024;

/// Typed records of type `T` keyed by `K` over a backend `B`.
pub struct Collection<K: ?Sized, T, B> {
    backend: B,
    validated: ValidatedSet,
    validations: std::sync::atomic::AtomicU64,
    _types: Types<K, T>,
}

impl<K, T, B> Collection<K, T, B>
where
    K: KeyCodec + ?Sized,
    B: StorageBackend,
    T: Archive + for<'a> Serialize<HighSerializer<AlignedVec, ArenaHandle<'a>, rancor::Error>>,
    T::Archived: Portable
        + for<'a> CheckBytes<HighValidator<'a, rancor::Error>>
        + Deserialize<T, HighDeserializer<rancor::Error>>,
{
    /// Typed access to `backend` (use a keyspace per collection).
    pub fn new(backend: B) -> Self {
        Collection {
            backend,
            validations: std::sync::atomic::AtomicU64::new(0),
            validated: ValidatedSet::new(DEFAULT_VALIDATED_BUFFERS),
            _types: PhantomData,
        }
    }

    /// How many buffers this collection has validated (re-served cached buffers are not
    /// validated again).
    pub fn validations(&self) -> u64 {
        self.validations.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Stores `value` under `key`.
    pub async fn put(&self, key: &K, value: &T) -> Result<()> {
        let bytes = rkyv::to_bytes::<rancor::Error>(value).map_err(|e| {
            Error::unexpected(Operation::Put, "cannot archive the record").with_source(e)
        })?;
        self.backend
            .put(key.encode_key(), Bytes::from(bytes.into_vec()))
            .await
    }

    /// The record under `key`, zero-copy.
    pub async fn get(&self, key: &K) -> Result<Option<Typed<T>>> {
        let key = key.lookup_key();
        match self.backend.get(key.as_ref()).await? {
            Some(bytes) => self
                .typed(bytes)
                .map(Some)
                .map_err(|e| e.with_key(key.as_ref())),
            None => Ok(None),
        }
    }

    /// Wraps stored bytes, validating them unless this exact buffer was validated before.
    fn typed(&self, bytes: Bytes) -> Result<Typed<T>> {
        if self.validated.contains(&bytes) {
            return Ok(Typed::trusted(bytes));
        }
        self.validations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let typed: Typed<T> = Typed::new(bytes)?;
        self.validated.insert(&typed.bytes);
        Ok(typed)
    }

    /// The record under `key`, deserialized.
    pub async fn get_owned(&self, key: &K) -> Result<Option<T>> {
        match self.get(key).await? {
            Some(typed) => rkyv::deserialize::<T, rancor::Error>(&*typed)
                .map(Some)
                .map_err(|e| {
                    Error::new(
                        ErrorKind::Corrupted,
                        Operation::Get,
                        "cannot deserialize the record",
                    )
                    .with_source(e)
                }),
            None => Ok(None),
        }
    }

    /// Removes the record under `key`; returns whether it existed.
    pub async fn delete(&self, key: &K) -> Result<bool> {
        self.backend.delete(key.lookup_key().as_ref()).await
    }

    /// Records with keys from `start` (inclusive) on, in key order, at most `limit`.
    pub async fn scan_from(
        &self,
        start: &K,
        limit: Option<usize>,
    ) -> Result<Vec<(Bytes, Typed<T>)>> {
        self.backend
            .scan(KeyRange::from_key(start.encode_key()), limit)
            .await?
            .into_iter()
            .map(|(k, v)| Ok((k, self.typed(v)?)))
            .collect()
    }
}
