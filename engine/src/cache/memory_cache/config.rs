//! [`MemoryCacheConfig`] and its builder, [`MemoryCacheBuilder`].

use std::sync::Arc;

use super::MemoryCache;
use crate::cache::clock::{Clock, SystemClock};
use crate::cache::policy::PolicyConfig;
use crate::cache::ttl::TtlConfig;
use crate::{Error, Operation, Result};

/// The smallest `max_bytes` accepted: room for the bookkeeping of 8 entries.
const MIN_MAX_BYTES: u64 = 8 * super::ENTRY_OVERHEAD_BYTES;

/// Settings of a [`MemoryCache`]; build one with [`MemoryCache::builder`].
///
/// With the `serde` feature it deserializes (missing fields take their defaults), for
/// settings read from a file: `MemoryCacheBuilder::from_config(config).build()`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct MemoryCacheConfig {
    /// Most entries resident, if bounded by count.
    pub max_entries: Option<u64>,
    /// Most bytes resident, if bounded by weight: each entry counts its key and value plus
    /// [`ENTRY_OVERHEAD_BYTES`](super::ENTRY_OVERHEAD_BYTES) of bookkeeping, so the process
    /// grows by about this much, not several times it.
    pub max_bytes: Option<u64>,
    /// Adaptive expiry with a default TTL for every put; `None` keeps entries until evicted,
    /// except those given their own TTL by [`MemoryCache::put_with_ttl`]. Default: `None`.
    pub ttl: Option<TtlConfig>,
    /// Number of lock shards. Default: 4 × available parallelism, at least 8.
    pub shards: usize,
    /// Largest key accepted. Default: [`crate::DEFAULT_MAX_KEY_SIZE`].
    pub max_key_size: usize,
    /// Largest value accepted. Default: [`crate::DEFAULT_MAX_VALUE_SIZE`].
    pub max_value_size: usize,
}

/// Builds a [`MemoryCache`].
#[derive(Clone)]
#[must_use]
pub struct MemoryCacheBuilder {
    pub(crate) config: MemoryCacheConfig,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) listener: Option<crate::cache::listener::Listener>,
}

impl std::fmt::Debug for MemoryCacheBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCacheBuilder")
            .field("config", &self.config)
            .field("eviction_listener", &self.listener.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for MemoryCacheConfig {
    /// No bound yet (`build` requires `max_entries` or `max_bytes`), no TTL, 4 × available
    /// parallelism shards (at least 8), the default key and value limits.
    fn default() -> Self {
        MemoryCacheConfig {
            max_entries: None,
            max_bytes: None,
            ttl: None,
            shards: std::thread::available_parallelism().map_or(8, |n| (n.get() * 4).max(8)),
            max_key_size: crate::DEFAULT_MAX_KEY_SIZE,
            max_value_size: crate::DEFAULT_MAX_VALUE_SIZE,
        }
    }
}

impl MemoryCacheBuilder {
    pub(crate) fn new() -> Self {
        Self::from_config(MemoryCacheConfig::default())
    }

    /// A builder starting from `config` (for settings read from a file; see
    /// [`MemoryCacheConfig`]).
    pub fn from_config(config: MemoryCacheConfig) -> Self {
        MemoryCacheBuilder {
            config,
            clock: Arc::new(SystemClock::new()),
            listener: None,
        }
    }

    /// Sets the largest key accepted, in bytes. Default: [`crate::DEFAULT_MAX_KEY_SIZE`].
    pub fn max_key_size(mut self, bytes: usize) -> Self {
        self.config.max_key_size = bytes;
        self
    }

    /// Sets the largest value accepted, in bytes. Default: [`crate::DEFAULT_MAX_VALUE_SIZE`].
    pub fn max_value_size(mut self, bytes: usize) -> Self {
        self.config.max_value_size = bytes;
        self
    }

    /// Bounds the number of entries. Default: unbounded (then `max_bytes` is required).
    pub fn max_entries(mut self, n: u64) -> Self {
        self.config.max_entries = Some(n);
        self
    }

    /// Bounds the resident bytes: key + value of each entry plus
    /// [`ENTRY_OVERHEAD_BYTES`](super::ENTRY_OVERHEAD_BYTES) (see
    /// [`MemoryCacheConfig::max_bytes`]); at least 2,640 (8 entries' bookkeeping), or `build`
    /// fails. Default: unbounded (then `max_entries` is required).
    pub fn max_bytes(mut self, n: u64) -> Self {
        self.config.max_bytes = Some(n);
        self
    }

    /// Turns on adaptive expiry. Default: off.
    pub fn ttl(mut self, ttl: TtlConfig) -> Self {
        self.config.ttl = Some(ttl);
        self
    }

    /// Sets the number of lock shards. Default: 4 × available parallelism, at least 8.
    pub fn shards(mut self, n: usize) -> Self {
        self.config.shards = n;
        self
    }

    /// Sets the largest key and value accepted. Defaults: [`crate::DEFAULT_MAX_KEY_SIZE`],
    /// [`crate::DEFAULT_MAX_VALUE_SIZE`].
    #[deprecated(note = "use max_key_size and max_value_size, named as on every other builder")]
    pub fn limits(mut self, max_key_size: usize, max_value_size: usize) -> Self {
        self.config.max_key_size = max_key_size;
        self.config.max_value_size = max_value_size;
        self
    }

    /// Uses `clock` for expiry (tests use a [`ManualClock`](crate::cache::ManualClock)). Default:
    /// the system's monotonic clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Calls `listener` for every entry that leaves the cache, with its value and why
    /// ([`RemovalCause`](crate::cache::RemovalCause): size, expired, replaced, removed).
    /// It runs after the cache's locks are released, on the thread whose call removed the
    /// entry, in order; it may use the cache. A panic in it is caught and logged. Default:
    /// none (nothing is gathered).
    pub fn eviction_listener(
        mut self,
        listener: impl Fn(crate::cache::Eviction) + Send + Sync + 'static,
    ) -> Self {
        self.listener = Some(Arc::new(listener));
        self
    }

    /// Builds the cache; a bound (entries or bytes) is required.
    pub fn build(self) -> Result<MemoryCache> {
        let c = &self.config;
        let bad = |m: &str| {
            Err(Error::invalid_input(Operation::Open, m).with_context("backend", "memory-cache"))
        };
        if c.max_entries.is_none() && c.max_bytes.is_none() {
            return bad(
                "a cache needs max_entries or max_bytes (use MemoryBackend for an unbounded store)",
            );
        }
        if c.max_entries == Some(0) || c.max_bytes == Some(0) || c.shards == 0 {
            return bad("max_entries, max_bytes and shards must be positive");
        }
        if c.max_bytes.is_some_and(|b| b < MIN_MAX_BYTES) {
            return bad(
                "max_bytes must be at least 2,640 bytes: each entry counts 330 bytes of bookkeeping (ENTRY_OVERHEAD_BYTES) besides its key and value",
            );
        }
        if let Some(ttl) = &c.ttl
            && (ttl.min_ttl > ttl.max_ttl
                || ttl.default_ttl.is_zero()
                || !(0.0..1.0).contains(&ttl.adaptation_rate))
        {
            return bad("ttl needs min <= max, a positive default and a rate in [0, 1)");
        }
        Ok(MemoryCache::from_builder(self))
    }

    /// The policy's limits for this configuration.
    pub(crate) fn policy_config(&self) -> PolicyConfig {
        match (self.config.max_bytes, self.config.max_entries) {
            (Some(bytes), entries) => PolicyConfig {
                max_entries: entries.unwrap_or(u64::MAX),
                ..PolicyConfig::weight(bytes, 256 + super::ENTRY_OVERHEAD_BYTES)
            },
            (None, Some(entries)) => PolicyConfig::entries(entries),
            (None, None) => unreachable!("build() requires a bound"),
        }
    }
}
