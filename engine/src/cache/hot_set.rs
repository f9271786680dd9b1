//! Warm restarts: a cache's hot set — the keys it would evict last, with how often each was
//! seen — saved on close and brought back on open, so a restarted application does not start
//! from a cold cache.
//!
//! ```no_run
//! # async fn demo(cache: strata::MemoryCache, store: strata::Tiered<strata::MemoryCache, strata::MemoryBackend>) -> strata::Result<()> {
//! use strata::cache::HotSet;
//! // On close:
//! cache.hot_set(10_000).save("app.hot")?;
//! // On open (a new process):
//! if let Some(hot) = HotSet::load("app.hot")? {
//!     cache.restore_frequencies(&hot); // admission favours these keys again
//!     store.warm(&hot).await?;         // their values, read from the lower tier
//! }
//! # Ok(()) }
//! ```
//!
//! The file holds keys and frequency classes, never values (they are read from the lower
//! tier, so a stale hot set can never serve stale data), and ends with a checksum: a truncated
//! or damaged file is `Corrupted`, never half-used. It is written beside its path and renamed
//! into place, fsynced.

use std::path::Path;

use bytes::Bytes;

use crate::{Error, ErrorKind, Operation, Result};

const MAGIC: &[u8; 8] = b"STRHOT1\0";

/// The most keyspaces [`MemoryCache::restore_frequencies`](crate::MemoryCache::restore_frequencies)
/// creates from one hot set (each costs its lock shards); keys of further keyspaces are skipped.
pub const MAX_RESTORED_KEYSPACES: usize = 1_024;

/// One key of a [`HotSet`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HotKey {
    /// The keyspace it was in.
    pub keyspace: String,
    /// The key.
    pub key: Bytes,
    /// How often the cache had seen it, as its frequency sketch estimated (0–15).
    pub frequency: u8,
}

impl HotKey {
    /// A key of `keyspace` seen about `frequency` times (0–15).
    pub fn new(keyspace: impl Into<String>, key: impl Into<Bytes>, frequency: u8) -> Self {
        HotKey {
            keyspace: keyspace.into(),
            key: key.into(),
            frequency: frequency.min(15),
        }
    }
}

/// The keys a cache would keep longest, hottest first (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HotSet {
    keys: Vec<HotKey>,
}

/// FNV-1a, 64 bits: enough to tell a damaged or truncated file from a good one.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn corrupted(message: &str) -> Error {
    Error::new(ErrorKind::Corrupted, Operation::Open, message.to_string())
}

impl HotSet {
    /// A hot set of `keys`, hottest first.
    pub fn new(keys: Vec<HotKey>) -> Self {
        HotSet { keys }
    }

    /// The keys, hottest first.
    pub fn keys(&self) -> &[HotKey] {
        &self.keys
    }

    /// How many keys it holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether it holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The hot set as bytes (to keep in a file, or in a store of your own).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.keys.len() * 32);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.keys.len() as u64).to_le_bytes());
        for k in &self.keys {
            out.extend_from_slice(&(k.keyspace.len() as u32).to_le_bytes());
            out.extend_from_slice(k.keyspace.as_bytes());
            out.extend_from_slice(&(k.key.len() as u32).to_le_bytes());
            out.extend_from_slice(&k.key);
            out.push(k.frequency);
        }
        let sum = fnv(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// A hot set from [`encode`](Self::encode)'s bytes; anything else is `Corrupted`.
    pub fn decode(bytes: &[u8]) -> Result<HotSet> {
        let body_len = bytes
            .len()
            .checked_sub(8)
            .ok_or_else(|| corrupted("the hot set is truncated"))?;
        let (body, sum) = bytes.split_at(body_len);
        if fnv(body).to_le_bytes() != sum || !body.starts_with(MAGIC) {
            return Err(corrupted("the hot set is damaged or not a hot set"));
        }
        let mut at = MAGIC.len();
        let mut take = |n: usize| -> Result<&[u8]> {
            let part = body
                .get(at..at + n)
                .ok_or_else(|| corrupted("the hot set is truncated"))?;
            at += n;
            Ok(part)
        };
        let count = u64::from_le_bytes(take(8)?.try_into().expect("8 bytes"));
        let mut keys = Vec::new();
        for _ in 0..count {
            let len = u32::from_le_bytes(take(4)?.try_into().expect("4 bytes")) as usize;
            let keyspace = std::str::from_utf8(take(len)?)
                .map_err(|_| corrupted("a hot set keyspace is not UTF-8"))?
                .to_string();
            let len = u32::from_le_bytes(take(4)?.try_into().expect("4 bytes")) as usize;
            let key = Bytes::copy_from_slice(take(len)?);
            let frequency = take(1)?[0];
            keys.push(HotKey {
                keyspace,
                key,
                frequency,
            });
        }
        if at != body.len() {
            return Err(corrupted("the hot set has trailing bytes"));
        }
        Ok(HotSet { keys })
    }

    /// Writes the hot set to `path`, replacing it atomically (a temporary file beside it,
    /// fsynced, renamed into place, the directory fsynced).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let io = |e: std::io::Error| {
            Error::unexpected(Operation::Flush, "cannot save the hot set")
                .with_context("path", path.display())
                .with_source(e)
        };
        // A name no other save (in this process or another) is using, created exclusively.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let (partial, mut file) = loop {
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut name = path.as_os_str().to_owned();
            name.push(format!(".{}.{n}.partial", std::process::id()));
            let candidate = std::path::PathBuf::from(name);
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&candidate)
            {
                Ok(file) => break (candidate, file),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io(e)),
            }
        };
        let written = (|| {
            use std::io::Write;
            file.write_all(&self.encode())?;
            file.sync_all()?;
            std::fs::rename(&partial, path)?;
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            std::fs::File::open(dir)?.sync_all()
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        written.map_err(io)
    }

    /// The hot set saved at `path`, or `None` if there is none. A damaged file is `Corrupted`.
    pub fn load(path: impl AsRef<Path>) -> Result<Option<HotSet>> {
        let path = path.as_ref();
        match std::fs::read(path) {
            Ok(bytes) => HotSet::decode(&bytes)
                .map(Some)
                .map_err(|e| e.with_context("path", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(
                Error::unexpected(Operation::Open, "cannot read the hot set")
                    .with_context("path", path.display())
                    .with_source(e),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> HotSet {
        HotSet::new(vec![
            HotKey {
                keyspace: "a".into(),
                key: Bytes::from_static(b"k1"),
                frequency: 15,
            },
            HotKey {
                keyspace: "notes".into(),
                key: Bytes::from_static(&[0, 255]),
                frequency: 2,
            },
        ])
    }

    #[test]
    fn a_hot_set_round_trips_and_every_damage_is_refused() {
        let bytes = sample().encode();
        assert_eq!(HotSet::decode(&bytes).unwrap(), sample());
        for cut in 0..bytes.len() {
            assert!(HotSet::decode(&bytes[..cut]).is_err(), "truncated at {cut}");
        }
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            let err = HotSet::decode(&bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Corrupted, "flip at {i}");
        }
    }

    #[test]
    fn save_replaces_and_load_reads_back() {
        let dir = tempfile_dir();
        let path = dir.join("app.hot");
        assert_eq!(HotSet::load(&path).unwrap(), None);
        HotSet::default().save(&path).unwrap();
        sample().save(&path).unwrap();
        assert_eq!(HotSet::load(&path).unwrap(), Some(sample()));
        let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "strata-hot-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
