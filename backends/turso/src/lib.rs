//! # strata-turso
//!
//! A [`StorageBackend`](strata::StorageBackend) in a remote libSQL database: Turso, or a
//! self-hosted `sqld`. One table (`strata_kv`) holds every keyspace, with a record version
//! (hybrid logical clock, last writer wins on the server) and a server-side change sequence
//! kept for offline sync; deletes are tombstones.
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
mod config;
mod connector;
mod error;
mod hlc;
mod pipeline;
mod resilience;
mod secret;
mod sql;

pub use backend::TursoBackend;
pub use config::{DEFAULT_MAX_VALUE_SIZE, DEFAULT_POOL_SIZE, TursoBuilder, TursoConfig};
pub use connector::CountingConnector;
pub use resilience::ResilienceConfig;
pub use secret::AuthToken;
