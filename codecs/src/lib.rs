//! # strata-codecs
//!
//! How values are stored: every value in a checksummed [`Envelope`] (format version, flags,
//! dictionary id, record version, CRC-32), and [`Compressed`], a layer over any backend that
//! zstd-compresses values above a threshold when that saves at least 20 %, optionally with a
//! trained [`Dictionary`] for small values; [`Collection`] reads typed records zero-copy with
//! rkyv, keyed by order-preserving [`KeyCodec`] encodings. Corrupt or truncated stored bytes are a
//! [`Corrupted`](strata::ErrorKind::Corrupted) error, never a panic.
//!
//! ```
//! use strata::{MemoryBackend, StorageBackend};
//! use strata_codecs::Compressed;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = Compressed::new(MemoryBackend::new());
//! let record = "{\"task\":\"summarise\",\"steps\":[]}".repeat(100);
//! store.put("k".into(), record.clone().into()).await?;
//! assert_eq!(store.get(b"k").await?.as_deref(), Some(record.as_bytes()));
//! assert!(store.stats().bytes_saved() > 0);
//! # Ok::<(), strata::Error>(())
//! # }).unwrap();
//! ```
#![deny(missing_docs)]

mod collection;
mod compressed;
pub mod envelope;
mod keys;
#[cfg(any(feature = "json", feature = "postcard"))]
mod serde_collection;
mod validated;

pub use collection::{Collection, Typed};
pub use compressed::{Compressed, CompressionConfig, CompressionStats, Dictionary};
pub use envelope::Envelope;
pub use keys::{KeyCodec, LookupKey};
pub use rkyv;
#[cfg(feature = "json")]
pub use serde_collection::Json;
#[cfg(feature = "postcard")]
pub use serde_collection::Postcard;
#[cfg(any(feature = "json", feature = "postcard"))]
pub use serde_collection::{SerdeCodec, SerdeCollection};
