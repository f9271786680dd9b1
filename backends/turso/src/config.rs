//! Configuration of a Turso/libSQL store and the builder that opens it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use strata::{DEFAULT_MAX_KEY_SIZE, Error, ErrorKind, Operation, Result};

use crate::TursoBackend;
use crate::hlc::WallClock;
use crate::resilience::ResilienceConfig;
use crate::secret::AuthToken;

/// Default largest value, in bytes (values travel base64-encoded in JSON requests).
pub const DEFAULT_MAX_VALUE_SIZE: usize = 1024 * 1024;
/// Default number of connections (each one hrana stream, used by one call at a time).
pub const DEFAULT_POOL_SIZE: usize = 4;
/// Default largest lead of a version read from the server over this device's wall time
/// before the clock clamps it (see [`TursoConfig::max_clock_skew`]).
pub const DEFAULT_MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);

/// Settings of a Turso/libSQL store. The token never appears in `Debug` output, nor do
/// credentials carried in the URL (see [`TursoConfig::redacted_url`]).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TursoConfig {
    /// `libsql://…`, `https://…` or `http://…` (a local sqld); without a scheme, https. An
    /// `?authToken=` in it is used as the token (unless one is set) and never sent in the
    /// URL; a `user:password@` part is refused.
    pub url: String,
    /// Bearer token (JWT); empty when the server needs none.
    pub auth_token: AuthToken,
    /// Timeouts, retries and the circuit breaker.
    pub resilience: ResilienceConfig,
    /// Connections in the pool. Default [`DEFAULT_POOL_SIZE`].
    pub pool_size: usize,
    /// Largest key accepted. Default 4 KiB.
    pub max_key_size: usize,
    /// Largest value accepted. Default [`DEFAULT_MAX_VALUE_SIZE`]. sqld refuses a value of
    /// 5 MiB or more ("string or blob too big", an `InvalidInput` error), and answers over
    /// its response limit (10 MB) are split by `get_many` and `scan`, so keep this well under
    /// both.
    pub max_value_size: usize,
    /// This device's id, stored with every record it writes (ties between devices break by
    /// it). Default: the one in [`clock_file`](Self::clock_file), else 64 random bits per
    /// open. Assign ids (from a device registry) to rule out collisions entirely.
    pub node_id: Option<u64>,
    /// A file keeping this device's node id and a lease above every version it issued, so a
    /// restart never issues a lower one even with the wall clock stepped back. Default:
    /// none (online writes stay safe without it: the server arbitrates them).
    pub clock_file: Option<PathBuf>,
    /// A version read from the server further ahead of this device's wall time than this is
    /// clamped (counted in [`TursoBackend::clock_skew_clamps`] and logged): one device with a
    /// clock far ahead must not drag every other one's clock along. Default
    /// [`DEFAULT_MAX_CLOCK_SKEW`] (5 minutes).
    pub max_clock_skew: Duration,
    /// `open` does not contact the server: the schema is checked (and made) by the first
    /// call instead, so an offline-first app starts with the network gone. Default `false`
    /// (`open` fails fast on a wrong URL or token).
    pub connect_lazily: bool,
    /// Only reads: `open` and every call leave the database exactly as they found it — no
    /// schema is created, no table migrated, and writes, pushes and purges are refused
    /// (`InvalidInput`). For tools that inspect a database (`strata info URL`). A database
    /// Strata never wrote reads as empty. Default `false`.
    pub read_only: bool,
    /// Extra CA certificates (PEM) to trust besides the platform's roots — for a self-hosted
    /// sqld behind TLS with a private CA. Default none.
    pub ca_certificate_pem: Option<Vec<u8>>,
    /// Keys and values per request, about: a batch or `get_many` larger than this is split
    /// (a batch's statements then run in one transaction; one round trip per split). Default
    /// [`DEFAULT_MAX_REQUEST_BYTES`].
    pub max_request_bytes: usize,
}

impl TursoConfig {
    /// The URL with any credentials in it replaced by `<redacted>`: a `user:password@` part,
    /// and the values of query parameters named like a secret (`authToken`, `token`,
    /// `password`, `jwt`, `key`…). For logs and `Debug`.
    pub fn redacted_url(&self) -> String {
        crate::endpoint::redact_url(&self.url)
    }
}

impl std::fmt::Debug for TursoConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TursoConfig")
            .field("url", &self.redacted_url())
            .field("auth_token", &self.auth_token)
            .field("resilience", &self.resilience)
            .field("pool_size", &self.pool_size)
            .field("max_key_size", &self.max_key_size)
            .field("max_value_size", &self.max_value_size)
            .field("node_id", &self.node_id)
            .field("clock_file", &self.clock_file)
            .field("max_clock_skew", &self.max_clock_skew)
            .field("connect_lazily", &self.connect_lazily)
            .field("read_only", &self.read_only)
            .field(
                "ca_certificate_pem",
                &self
                    .ca_certificate_pem
                    .as_ref()
                    .map(|p| format!("{} bytes", p.len())),
            )
            .field("max_request_bytes", &self.max_request_bytes)
            .finish()
    }
}

#[cfg(test)]
mod redaction_tests {
    use super::*;
    use crate::endpoint::redact_url;

    #[test]
    fn credentials_in_a_url_never_show() {
        assert_eq!(
            redact_url("libsql://db.turso.io?authToken=eyJsecret&tls=1"),
            "libsql://db.turso.io?authToken=<redacted>&tls=1"
        );
        assert_eq!(
            redact_url("https://user:pa55@host:8080/path?x=1"),
            "https://<redacted>@host:8080/path?x=1"
        );
        assert_eq!(redact_url("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        let mut config = TursoBuilder::new("https://u:hunter2@h/?jwt=abc")
            .config()
            .clone();
        config.auth_token = AuthToken::new("tok-secret");
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("abc") && !shown.contains("tok-secret"),
            "{shown}"
        );
    }
}

/// Default [`TursoConfig::max_request_bytes`]: 4 MiB.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 4 << 20;

/// Builds and opens a [`TursoBackend`]; defaults are in [`TursoConfig`].
#[derive(Clone, Debug)]
#[must_use]
pub struct TursoBuilder {
    config: TursoConfig,
    wall_clock: Option<Arc<dyn WallClock>>,
}

impl TursoBuilder {
    pub(crate) fn new(url: impl Into<String>) -> Self {
        TursoBuilder {
            config: TursoConfig {
                url: url.into(),
                auth_token: AuthToken::default(),
                resilience: ResilienceConfig::default(),
                pool_size: DEFAULT_POOL_SIZE,
                max_key_size: DEFAULT_MAX_KEY_SIZE,
                max_value_size: DEFAULT_MAX_VALUE_SIZE,
                node_id: None,
                clock_file: None,
                max_clock_skew: DEFAULT_MAX_CLOCK_SKEW,
                connect_lazily: false,
                read_only: false,
                ca_certificate_pem: None,
                max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            },
            wall_clock: None,
        }
    }

    /// Reads `TURSO_DATABASE_URL` (required) and `TURSO_AUTH_TOKEN` (optional).
    pub fn from_env() -> Result<Self> {
        let url = std::env::var("TURSO_DATABASE_URL").map_err(|_| {
            Error::new(
                ErrorKind::InvalidInput,
                Operation::Open,
                "TURSO_DATABASE_URL is not set",
            )
            .with_context("backend", "turso")
        })?;
        let builder = Self::new(url);
        Ok(match std::env::var("TURSO_AUTH_TOKEN") {
            Ok(token) => builder.auth_token(token),
            Err(_) => builder,
        })
    }

    /// Sets the bearer token.
    pub fn auth_token(mut self, token: impl Into<String>) -> Self {
        self.config.auth_token = AuthToken::new(token);
        self
    }

    /// Sets the deadline of every remote call (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.resilience.timeout = timeout;
        self
    }

    /// Sets deadlines, retries, backoff and the breaker. Default: [`ResilienceConfig::default`]
    /// (5 s per attempt, 3 attempts, the breaker opening after 5 failed calls for 2 s).
    pub fn resilience(mut self, resilience: ResilienceConfig) -> Self {
        self.config.resilience = resilience;
        self
    }

    /// Sets the connection pool size (default 4).
    pub fn pool_size(mut self, n: usize) -> Self {
        self.config.pool_size = n;
        self
    }

    /// Sets the largest key accepted, in bytes (default [`strata::DEFAULT_MAX_KEY_SIZE`]).
    pub fn max_key_size(mut self, bytes: usize) -> Self {
        self.config.max_key_size = bytes;
        self
    }

    /// Sets the largest value accepted, in bytes (default 1 MiB).
    pub fn max_value_size(mut self, bytes: usize) -> Self {
        self.config.max_value_size = bytes;
        self
    }

    /// Assigns this device's node id (see [`TursoConfig::node_id`]); with a clock file, the
    /// id is written to it. Default: the clock file's, else 64 random bits per open.
    pub fn node_id(mut self, id: u64) -> Self {
        self.config.node_id = Some(id);
        self
    }

    /// Keeps the node id and the clock's high-water lease in `path` (see
    /// [`TursoConfig::clock_file`]). Default: none.
    pub fn clock_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.clock_file = Some(path.into());
        self
    }

    /// Sets the skew gate (see [`TursoConfig::max_clock_skew`]). Default
    /// [`DEFAULT_MAX_CLOCK_SKEW`] (5 minutes).
    pub fn max_clock_skew(mut self, skew: Duration) -> Self {
        self.config.max_clock_skew = skew;
        self
    }

    /// Reads wall time from `clock` instead of the system clock: for tests of devices whose
    /// clocks disagree. Default: the system clock.
    pub fn wall_clock(mut self, clock: Arc<dyn WallClock>) -> Self {
        self.wall_clock = Some(clock);
        self
    }

    /// The configuration so far.
    pub fn config(&self) -> &TursoConfig {
        &self.config
    }

    /// Sets [`TursoConfig::ca_certificate_pem`]: trust the CA certificate(s) in `pem` too.
    /// Default: the platform's roots only.
    pub fn ca_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.config.ca_certificate_pem = Some(pem.into());
        self
    }

    /// Sets [`TursoConfig::max_request_bytes`]. Default [`DEFAULT_MAX_REQUEST_BYTES`] (4 MiB).
    pub fn max_request_bytes(mut self, bytes: usize) -> Self {
        self.config.max_request_bytes = bytes.max(1);
        self
    }

    /// Sets [`TursoConfig::read_only`] (default `false`).
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.config.read_only = read_only;
        self
    }

    /// Sets [`TursoConfig::connect_lazily`]. Default `false`.
    pub fn connect_lazily(mut self, lazily: bool) -> Self {
        self.config.connect_lazily = lazily;
        self
    }

    /// Connects, creating the schema if missing (unless connecting lazily: then the first
    /// call does).
    pub async fn open(self) -> Result<TursoBackend> {
        TursoBackend::open_with(self.config, self.wall_clock).await
    }
}
