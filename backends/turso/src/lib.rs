//! # strata-turso
//!
//! A [`StorageBackend`](strata::StorageBackend) in a remote libSQL database: Turso, or a
//! self-hosted `sqld`. One table (`strata_kv`) holds every keyspace, with a record version
//! and a server-side change sequence kept for offline sync; deletes are tombstones.
//!
//! **Online writes are arbitrated by the server**: a put, delete or batch is applied over
//! whatever the table holds when it arrives, with version `max(this device's hybrid logical
//! clock, stored version + 1)` in the same statement. So once a write is acknowledged every
//! later read on any handle sees it, whatever the devices' clocks say (a device hours behind
//! or ahead included). The clock ([`hlc`]) never goes back (with a [`ClockFile`], not even
//! across restarts), moves past every version the server returns, and clamps a version too
//! far ahead ([`TursoConfig::max_clock_skew`]). `delete` returns whether the key was live on
//! the server at that moment, and leaves a tombstone even for a key the server never held.
//!
//! - every statement is a constant with bound parameters (`sql.rs`);
//! - `get_many` and `write_batch` are one request each (chunked past SQLite's parameter
//!   limit; a chunked batch runs in one transaction);
//! - a deadline on every call, retries for transient errors only (exponential backoff, full
//!   jitter), and a circuit breaker that fails calls fast during an outage;
//! - `401` → `Unauthorized` (missing, invalid or expired token), `403` → `Forbidden`,
//!   network failures → `Unavailable` (transient); the token never appears in `Debug`.
//!
//! ```no_run
//! # async fn demo() -> strata::Result<()> {
//! use strata::StorageBackend;
//! let store = strata_turso::TursoBackend::from_env()?.open().await?;
//! store.put("k".into(), "v".into()).await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod backend;
mod clock_file;
mod config;
mod connector;
mod endpoint;
mod error;
pub mod hlc;
mod pipeline;
mod request_size;
mod resilience;
mod secret;
mod sql;
mod sync;

pub use backend::TursoBackend;
pub use backend::{KeyspaceStats, RecordVersion};
pub use clock_file::{ClockFile, LEASE as CLOCK_LEASE};
pub use config::{
    DEFAULT_MAX_CLOCK_SKEW, DEFAULT_MAX_REQUEST_BYTES, DEFAULT_MAX_VALUE_SIZE, DEFAULT_POOL_SIZE,
    TursoBuilder, TursoConfig,
};
pub use connector::CountingConnector;
pub use error::{never_sent, not_sent};
pub use hlc::{SystemClock, WallClock};
pub use resilience::ResilienceConfig;
pub use secret::AuthToken;
pub use sync::{PulledRecord, PushOutcome, SyncRecord};
