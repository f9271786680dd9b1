//! `Compressed<B>`: a layer that stores every value in a checksummed [`Envelope`], zstd-
//! compressing values above a threshold when that saves enough, optionally with a trained
//! dictionary for small values.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use strata::{
    BatchOp, Capabilities, Error, ErrorKind, KeyRange, Operation, Result, StorageBackend,
    WriteBatch,
};

use crate::envelope::{Envelope, HEADER_LEN, flags};

/// A zstd dictionary with the id stored in each frame that uses it.
#[derive(Clone, PartialEq, Eq)]
pub struct Dictionary {
    id: u32,
    bytes: Vec<u8>,
    /// A hash of the content, naming cached decompression contexts.
    fingerprint: u64,
}

fn fingerprint(bytes: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish() | 1 // never 0, which names the plain context
}

impl fmt::Debug for Dictionary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dictionary")
            .field("id", &self.id)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

impl Dictionary {
    /// Trains a dictionary of at most `max_size` bytes on sample values; `id` must not be 0.
    pub fn train(id: u32, samples: &[impl AsRef<[u8]>], max_size: usize) -> Result<Self> {
        if id == 0 {
            return Err(Error::invalid_input(
                Operation::Open,
                "dictionary id 0 is reserved",
            ));
        }
        let samples: Vec<&[u8]> = samples.iter().map(AsRef::as_ref).collect();
        let bytes = zstd::dict::from_samples(&samples, max_size).map_err(|e| {
            Error::invalid_input(
                Operation::Open,
                "cannot train a zstd dictionary on these samples",
            )
            .with_source(e)
        })?;
        Ok(Dictionary {
            id,
            fingerprint: fingerprint(&bytes),
            bytes,
        })
    }

    /// A dictionary from trained bytes (as saved from [`Dictionary::bytes`]).
    pub fn from_bytes(id: u32, bytes: Vec<u8>) -> Result<Self> {
        if id == 0 {
            return Err(Error::invalid_input(
                Operation::Open,
                "dictionary id 0 is reserved",
            ));
        }
        Ok(Dictionary {
            id,
            fingerprint: fingerprint(&bytes),
            bytes,
        })
    }

    /// Its id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Its bytes, to save and load again.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// Settings of [`Compressed`]; defaults in each field's doc.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CompressionConfig {
    /// Values at least this long are compressed. Default 1 KiB.
    pub threshold: usize,
    /// zstd level. Default 3.
    pub level: i32,
    /// The compressed form is kept only if it saves at least this share. Default 0.20.
    pub min_saving: f64,
    /// Dictionary for new values (with it, values down to `dictionary_threshold` compress).
    pub dictionary: Option<Arc<Dictionary>>,
    /// With a dictionary, values at least this long are compressed. Default 64 bytes.
    pub dictionary_threshold: usize,
    /// Dictionaries older values may have been written with, to read them.
    pub known_dictionaries: Vec<Arc<Dictionary>>,
}

impl Default for CompressionConfig {
    fn default() -> Self {
        CompressionConfig {
            threshold: 1024,
            level: 3,
            min_saving: 0.20,
            dictionary: None,
            dictionary_threshold: 64,
            known_dictionaries: Vec::new(),
        }
    }
}

impl CompressionConfig {
    /// Sets the size from which values are compressed (default 1 KiB).
    pub fn threshold(mut self, bytes: usize) -> Self {
        self.threshold = bytes;
        self
    }

    /// Sets the zstd level (default 3).
    pub fn level(mut self, level: i32) -> Self {
        self.level = level;
        self
    }

    /// Adds a dictionary older values may use, so they stay readable.
    pub fn known_dictionary(mut self, dictionary: Dictionary) -> Self {
        self.known_dictionaries.push(Arc::new(dictionary));
        self
    }

    /// Compresses with `dictionary` from now on.
    pub fn with_dictionary(mut self, dictionary: Dictionary) -> Self {
        self.dictionary = Some(Arc::new(dictionary));
        self
    }
}

/// Bytes through the layer since it was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompressionStats {
    /// Values written.
    pub values: u64,
    /// Values stored compressed.
    pub compressed: u64,
    /// Value bytes handed to the layer.
    pub bytes_in: u64,
    /// Payload bytes stored (after compression, before the envelope header).
    pub bytes_out: u64,
}

impl CompressionStats {
    /// Bytes saved by compression.
    pub fn bytes_saved(&self) -> u64 {
        self.bytes_in.saturating_sub(self.bytes_out)
    }
}

thread_local! {
    /// Decompression contexts reused across calls on this thread (creating one costs more
    /// than decompressing a small value): one plain, one per dictionary (by content hash).
    static DECOMPRESSORS: std::cell::RefCell<HashMap<u64, zstd::bulk::Decompressor<'static>>> =
        std::cell::RefCell::new(HashMap::new());
}

thread_local! {
    /// Compression contexts reused per thread, by (dictionary content hash, level).
    static COMPRESSORS: std::cell::RefCell<HashMap<(u64, i32), zstd::bulk::Compressor<'static>>> =
        std::cell::RefCell::new(HashMap::new());
}

/// Runs `f` with this thread's compressor for `dictionary` and `level`.
fn with_compressor<T>(
    dictionary: Option<&Arc<Dictionary>>,
    level: i32,
    f: impl FnOnce(&mut zstd::bulk::Compressor<'static>) -> std::io::Result<T>,
) -> std::io::Result<T> {
    let slot = (dictionary.map_or(0, |d| d.fingerprint), level);
    COMPRESSORS.with(|cell| {
        let mut map = cell.borrow_mut();
        if !map.contains_key(&slot) {
            if map.len() > 64 {
                map.clear();
            }
            let c = match dictionary {
                Some(d) => zstd::bulk::Compressor::with_dictionary(level, &d.bytes)?,
                None => zstd::bulk::Compressor::new(level)?,
            };
            map.insert(slot, c);
        }
        f(map.get_mut(&slot).expect("inserted above"))
    })
}

/// Runs `f` with this thread's decompressor for `dictionary` (none: plain frames).
fn with_decompressor<T>(
    dictionary: Option<&Arc<Dictionary>>,
    f: impl FnOnce(&mut zstd::bulk::Decompressor<'static>) -> std::io::Result<T>,
) -> std::io::Result<T> {
    let slot = dictionary.map_or(0, |d| d.fingerprint);
    DECOMPRESSORS.with(|cell| {
        let mut map = cell.borrow_mut();
        if !map.contains_key(&slot) {
            if map.len() > 64 {
                map.clear(); // layers come and go; keep the cache small
            }
            let z = match dictionary {
                Some(d) => zstd::bulk::Decompressor::with_dictionary(&d.bytes)?,
                None => zstd::bulk::Decompressor::new()?,
            };
            map.insert(slot, z);
        }
        f(map.get_mut(&slot).expect("inserted above"))
    })
}

#[derive(Default)]
struct Counters {
    values: AtomicU64,
    compressed: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

struct Shared {
    config: CompressionConfig,
    dictionaries: HashMap<u32, Arc<Dictionary>>,
    counters: Counters,
}

/// Envelopes (and compresses) every value of the wrapped backend. See the crate docs.
pub struct Compressed<B> {
    inner: B,
    shared: Arc<Shared>,
}

impl<B: StorageBackend> Compressed<B> {
    /// Wraps `inner` with the default settings.
    pub fn new(inner: B) -> Self {
        Self::with_config(inner, CompressionConfig::default())
    }

    /// Wraps `inner` with `config`.
    pub fn with_config(inner: B, config: CompressionConfig) -> Self {
        let mut dictionaries: HashMap<u32, Arc<Dictionary>> = config
            .known_dictionaries
            .iter()
            .map(|d| (d.id, d.clone()))
            .collect();
        if let Some(d) = &config.dictionary {
            dictionaries.insert(d.id, d.clone());
        }
        Compressed {
            inner,
            shared: Arc::new(Shared {
                config,
                dictionaries,
                counters: Counters::default(),
            }),
        }
    }

    /// The wrapped backend.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }

    /// Bytes in and out so far.
    pub fn stats(&self) -> CompressionStats {
        let c = &self.shared.counters;
        CompressionStats {
            values: c.values.load(Ordering::Relaxed),
            compressed: c.compressed.load(Ordering::Relaxed),
            bytes_in: c.bytes_in.load(Ordering::Relaxed),
            bytes_out: c.bytes_out.load(Ordering::Relaxed),
        }
    }

    /// The stored form of `value`.
    pub fn encode(&self, op: Operation, value: &Bytes) -> Result<Bytes> {
        let config = &self.shared.config;
        let dictionary = config
            .dictionary
            .as_ref()
            .filter(|_| value.len() >= config.dictionary_threshold);
        let mut envelope = Envelope::plain(value.clone());
        if value.len() >= config.threshold || dictionary.is_some() {
            let compressed = with_compressor(dictionary, config.level, |c| c.compress(value))
                .map_err(|e| Error::unexpected(op, "zstd compression failed").with_source(e))?;
            if (compressed.len() as f64) <= value.len() as f64 * (1.0 - config.min_saving) {
                envelope.flags = flags::COMPRESSED;
                if let Some(d) = dictionary {
                    envelope.flags |= flags::DICTIONARY;
                    envelope.dictionary = d.id;
                }
                envelope.payload = Bytes::from(compressed);
            }
        }
        let c = &self.shared.counters;
        c.values.fetch_add(1, Ordering::Relaxed);
        c.bytes_in.fetch_add(value.len() as u64, Ordering::Relaxed);
        c.bytes_out
            .fetch_add(envelope.payload.len() as u64, Ordering::Relaxed);
        if envelope.has(flags::COMPRESSED) {
            c.compressed.fetch_add(1, Ordering::Relaxed);
        }
        Ok(envelope.encode())
    }

    /// The value inside a stored form; corrupt input is `Corrupted`, never a panic.
    pub fn decode(&self, op: Operation, stored: &Bytes) -> Result<Bytes> {
        let envelope = Envelope::decode(stored).map_err(|e| e.with_operation(op))?;
        if !envelope.has(flags::COMPRESSED) {
            return Ok(envelope.payload);
        }
        let limit = self.capabilities().max_value_size;
        let corrupt = |m: &str| Error::new(ErrorKind::Corrupted, op, m.to_string());
        let out = if envelope.has(flags::DICTIONARY) {
            let d = self
                .shared
                .dictionaries
                .get(&envelope.dictionary)
                .ok_or_else(|| {
                    corrupt("value compressed with an unknown dictionary")
                        .with_context("dictionary", envelope.dictionary)
                })?;
            with_decompressor(Some(d), |z| z.decompress(&envelope.payload, limit))
        } else {
            with_decompressor(None, |z| z.decompress(&envelope.payload, limit))
        };
        out.map(Bytes::from)
            .map_err(|e| corrupt("bad zstd frame").with_source(e))
    }
}

impl<B: Clone> Clone for Compressed<B> {
    /// Another handle on the same layer (settings and statistics shared).
    fn clone(&self) -> Self {
        Compressed {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<B: StorageBackend> fmt::Debug for Compressed<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compressed")
            .field("inner", &self.inner)
            .field("stats", &self.stats())
            .finish()
    }
}

impl<B: StorageBackend> StorageBackend for Compressed<B> {
    fn capabilities(&self) -> Capabilities {
        let inner = self.inner.capabilities();
        Capabilities {
            max_value_size: inner.max_value_size.saturating_sub(HEADER_LEN),
            ..inner
        }
    }

    fn keyspace(&self, name: &str) -> Result<Self> {
        Ok(Compressed {
            inner: self.inner.keyspace(name)?,
            shared: self.shared.clone(),
        })
    }

    async fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        match self.inner.get(key).await? {
            Some(stored) => self
                .decode(Operation::Get, &stored)
                .map(Some)
                .map_err(|e| e.with_key(key)),
            None => Ok(None),
        }
    }

    async fn get_many(&self, keys: &[Bytes]) -> Result<Vec<Option<Bytes>>> {
        self.inner
            .get_many(keys)
            .await?
            .into_iter()
            .map(|v| v.map(|s| self.decode(Operation::GetMany, &s)).transpose())
            .collect()
    }

    async fn put(&self, key: Bytes, value: Bytes) -> Result<()> {
        strata::validate::check_put(&self.capabilities(), Operation::Put, &key, &value)?;
        let stored = self.encode(Operation::Put, &value)?;
        self.inner.put(key, stored).await
    }

    async fn delete(&self, key: &[u8]) -> Result<bool> {
        self.inner.delete(key).await
    }

    async fn write_batch(&self, batch: WriteBatch) -> Result<()> {
        strata::validate::check_batch(&self.capabilities(), &batch)?;
        let mut stored = WriteBatch::with_capacity(batch.len());
        for op in batch.into_ops() {
            match op {
                BatchOp::Put { key, value } => {
                    stored.put(key, self.encode(Operation::WriteBatch, &value)?)
                }
                BatchOp::Delete { key } => stored.delete(key),
            };
        }
        self.inner.write_batch(stored).await
    }

    async fn scan(&self, range: KeyRange, limit: Option<usize>) -> Result<Vec<(Bytes, Bytes)>> {
        self.inner
            .scan(range, limit)
            .await?
            .into_iter()
            .map(|(k, v)| Ok((k, self.decode(Operation::Scan, &v)?)))
            .collect()
    }

    async fn flush(&self) -> Result<()> {
        self.inner.flush().await
    }

    async fn close(&self) -> Result<()> {
        self.inner.close().await
    }
}
