//! # strata-redb
//!
//! A [`StorageBackend`](strata::StorageBackend) in one local [redb](https://docs.rs/redb)
//! file: ordered, transactional, crash-safe, with the durability chosen by
//! [`SyncMode`](strata::SyncMode):
//!
//! | mode | redb commit | lost on a crash |
//! |---|---|---|
//! | `Full` | `Durability::Immediate`, concurrent writers grouped into one commit | nothing acknowledged |
//! | `Normal { every: N, interval }` | `None`; `Immediate` once N writes (not commits) are unsynced, or `interval` after the last | at most N-1 acknowledged writes |
//! | `Checkpoint` | `None`; `Immediate` on `flush()`, clean close, 1,024 unsynced writes or a 1 s pause | since the last checkpoint |
//! | `Off` | `None`; `Immediate` only on `flush()` and clean close | everything since the last flush |
//!
//! ```no_run
//! use strata::{StorageBackend, SyncMode};
//! use strata_redb::RedbBackend;
//!
//! # async fn demo() -> strata::Result<()> {
//! let store = RedbBackend::builder("app.redb").sync_mode(SyncMode::normal(16)).open().await?;
//! let notes = store.keyspace("notes")?;
//! notes.put("n1".into(), "hello".into()).await?;
//! assert_eq!(notes.get(b"n1").await?.as_deref(), Some(&b"hello"[..]));
//! store.close().await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod activity;
mod backend;
mod blocking;
mod checksum;
mod config;
mod error;
mod inspect;
mod read_only;
mod reader;
mod stats;
mod storage;
mod sync_policy;
mod transact;
mod writer;

pub use backend::RedbBackend;
pub use config::{
    DEFAULT_CACHE_SIZE, DEFAULT_CALLER_SPIN, DEFAULT_GROUP_WAIT, DEFAULT_MAX_GROUP_SIZE,
    DEFAULT_READER_SPIN, DEFAULT_READER_THREADS, DEFAULT_WRITER_SPIN, RedbBuilder, RedbConfig,
};
pub use inspect::{
    CompactReport, CorruptValue, KeyspaceInfo, StoreFormat, StoreInfo, VerifyReport, compact,
};
pub use read_only::ReadOnlyStore;
pub use stats::RedbStats;
pub use transact::{Snapshot, TableRef, Txn};
