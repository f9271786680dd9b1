//! # strata-sync
//!
//! Offline-first sync: a [`SyncedStore`] reads and writes a local redb file — fast, and
//! working with the network gone — and keeps it in sync with a remote store (a self-hosted
//! `sqld` or Turso, through [`strata_turso::TursoBackend`]) in the background.
//!
//! **What is guaranteed**
//! - A write is acknowledged once the local transaction holding it *and its outbox entry*
//!   commits, under the local store's [`SyncMode`](strata::SyncMode): it never waits for the
//!   network, and under `Full` a crash right after loses neither the write nor its entry.
//! - The syncer pushes the outbox oldest first, in batches (one request each), coalescing
//!   repeated writes of a key into the last one; an entry leaves only once the server holds
//!   that version or a newer one. A replay (after a crash or a lost answer) is harmless.
//! - Concurrent edits of one key on different devices resolve by **last writer wins** on a
//!   hybrid logical clock: the higher `(timestamp, node)` wins, on the server and on every
//!   device alike. A local write that loses is counted in [`SyncStatus::conflicts_lost`] and
//!   replaced by the winner; nothing acknowledged vanishes without being counted.
//! - Pulls apply the server's changes after a durable cursor, in pages, by the same rule, in
//!   one local transaction per page with the new cursor; pulled records are never re-queued.
//!   Once every device has pushed and pulled with no write in between, all hold the server's
//!   state.
//!
//! The model, with skew and tombstones, is written out in `docs/SYNC.md`.
//!
//! ```no_run
//! # async fn demo() -> strata::Result<()> {
//! use std::time::Duration;
//! use strata::StorageBackend;
//! use strata_sync::{SyncConfig, SyncedStore};
//!
//! let local = strata_redb::RedbBackend::builder("notes.redb").open().await?;
//! let remote = strata_turso::TursoBackend::from_env()?.open().await?;
//! let notes = SyncedStore::open(local, remote, SyncConfig::default()).await?;
//! notes.put("n1".into(), "written offline or online alike".into()).await?;
//! notes.flush_sync(Duration::from_secs(10)).await?; // wait for the server, if you want to
//! println!("{:?}", notes.sync_status().await?);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod config;
mod memory_remote;
mod outbox;
mod record;
mod remote;
mod status;
mod store;
mod syncer;

pub use config::{
    DEFAULT_BACKOFF_BASE, DEFAULT_BACKOFF_MAX, DEFAULT_MAX_CLOCK_SKEW, DEFAULT_PULL_INTERVAL,
    DEFAULT_PULL_PAGE, DEFAULT_PUSH_BATCH, DEFAULT_PUSH_BYTES, DEFAULT_TOMBSTONE_RETENTION,
    SyncConfig,
};
pub use memory_remote::MemoryRemote;
pub use record::HEADER_LEN;
pub use remote::SyncRemote;
pub use status::{StoredSyncStatus, SyncStatus, stored_status};
pub use store::SyncedStore;
