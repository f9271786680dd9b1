//! `SerdeCollection`: typed records through serde codecs (JSON, postcard), for users who do not
//! want rkyv. Reads deserialize (no zero-copy); corrupt bytes are `Corrupted`.

use std::marker::PhantomData;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use strata::{Error, ErrorKind, Operation, Result, StorageBackend};

use crate::keys::KeyCodec;

/// A serde format.
pub trait SerdeCodec: Send + Sync + 'static {
    /// Encodes a value.
    fn encode<T: Serialize>(value: &T) -> std::result::Result<Vec<u8>, String>;
    /// Decodes a value.
    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> std::result::Result<T, String>;
}

/// JSON via `serde_json`.
#[cfg(feature = "json")]
#[derive(Debug, Clone, Copy, Default)]
pub struct Json;

#[cfg(feature = "json")]
impl SerdeCodec for Json {
    fn encode<T: Serialize>(value: &T) -> std::result::Result<Vec<u8>, String> {
        serde_json::to_vec(value).map_err(|e| e.to_string())
    }
    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> std::result::Result<T, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }
}

/// postcard (compact binary).
#[cfg(feature = "postcard")]
#[derive(Debug, Clone, Copy, Default)]
pub struct Postcard;

#[cfg(feature = "postcard")]
impl SerdeCodec for Postcard {
    fn encode<T: Serialize>(value: &T) -> std::result::Result<Vec<u8>, String> {
        postcard::to_allocvec(value).map_err(|e| e.to_string())
    }
    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> std::result::Result<T, String> {
        postcard::from_bytes(bytes).map_err(|e| e.to_string())
    }
}

/// Typed records of `T`, keyed by `K`, encoded with `C`, over a backend `B`.
pub struct SerdeCollection<K: ?Sized, T, B, C> {
    backend: B,
    _types: crate::collection::Types<K, T>,
    _codec: PhantomData<C>,
}

impl<K, T, B, C> SerdeCollection<K, T, B, C>
where
    K: KeyCodec + ?Sized,
    T: Serialize + DeserializeOwned,
    B: StorageBackend,
    C: SerdeCodec,
{
    /// Typed access to `backend`.
    pub fn new(backend: B) -> Self {
        SerdeCollection {
            backend,
            _types: PhantomData,
            _codec: PhantomData,
        }
    }

    /// Stores `value` under `key`.
    pub async fn put(&self, key: &K, value: &T) -> Result<()> {
        let bytes = C::encode(value).map_err(|e| {
            Error::invalid_input(Operation::Put, format!("cannot encode the record: {e}"))
        })?;
        self.backend.put(key.encode_key(), Bytes::from(bytes)).await
    }

    /// The record under `key`.
    pub async fn get(&self, key: &K) -> Result<Option<T>> {
        let key = key.encode_key();
        match self.backend.get(&key).await? {
            Some(bytes) => C::decode(&bytes).map(Some).map_err(|e| {
                Error::new(
                    ErrorKind::Corrupted,
                    Operation::Get,
                    format!("cannot decode the record: {e}"),
                )
                .with_key(&key)
            }),
            None => Ok(None),
        }
    }

    /// Removes the record under `key`; returns whether it existed.
    pub async fn delete(&self, key: &K) -> Result<bool> {
        self.backend.delete(&key.encode_key()).await
    }
}
