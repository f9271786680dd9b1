//! # Strata
//!
//! An embedded-first key-value storage engine with pluggable, composable backends.
//!
//! Every store implements [`StorageBackend`]: an async, byte-oriented key-value API with
//! point reads, batched reads, atomic batched writes, ordered range and prefix scans and an
//! explicit `flush`. Backends live in their own crates (`strata-redb` for a local crash-safe
//! file); this crate holds the trait, its object-safe twin [`DynStorageBackend`], the error
//! type, [`SyncMode`], and the in-memory [`MemoryBackend`].
//!
//! ```
//! use strata::{KeyRange, MemoryBackend, StorageBackend};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = MemoryBackend::new();
//! store.put("user/1".into(), "ada".into()).await?;
//! store.put("user/2".into(), "grace".into()).await?;
//! assert_eq!(store.get(b"user/1").await?.as_deref(), Some(&b"ada"[..]));
//! let users = store.scan(KeyRange::prefix("user/"), None).await?;
//! assert_eq!(users.len(), 2);
//! # Ok::<(), strata::Error>(())
//! # }).unwrap();
//! ```
#![deny(missing_docs)]

mod backend;
mod batch;
pub mod cache;
mod capabilities;
mod dyn_backend;
mod error;
mod key_range;
mod memory;
mod sync_mode;
pub mod telemetry;
pub mod tiered;
pub mod validate;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use backend::{DEFAULT_KEYSPACE, StorageBackend};
pub use batch::{BatchOp, WriteBatch};
pub use bytes::Bytes;
pub use cache::{MemoryCache, TtlConfig};
pub use capabilities::{Capabilities, DEFAULT_MAX_KEY_SIZE, DEFAULT_MAX_VALUE_SIZE};
pub use dyn_backend::{BoxFuture, DynBackend, DynStorageBackend, IntoDyn};
pub use error::{Error, ErrorKind, Operation, Result};
pub use key_range::{KeyRange, prefix_successor};
pub use memory::MemoryBackend;
pub use sync_mode::SyncMode;
pub use tiered::{TierMode, TierStats, Tiered};
