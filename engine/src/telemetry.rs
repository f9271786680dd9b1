//! Metrics through the [`metrics`] facade, so any exporter works (Prometheus, StatsD, OTLP…):
//! install a recorder, then publish.
//!
//! **The hit path records nothing.** A cache hit already bumps a per-thread counter stripe
//! (see `cache::stats`); calling into a metrics recorder there would add a global lookup and a
//! shared atomic to every hit. Instead a [`MetricsReporter`] publishes the caches' and tiers'
//! own counters as absolute values every interval (or when [`MetricsReporter::publish`] is
//! called). Slow paths record as they happen: redb commits, fsyncs and group sizes; remote call
//! latency, retries, errors and the breaker; sync pushes, pulls and the outbox depth.
//!
//! Every name is in [`names`]; labels are `cache` / `tier` (the name given to the reporter),
//! `op` (the operation) and `kind` (an error's kind).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::cache::MemoryCache;
use crate::{StorageBackend, Tiered};

/// The metric names Strata publishes.
pub mod names {
    /// Cache reads that found a live entry (counter; label `cache`).
    pub const CACHE_HITS: &str = "strata_cache_hits_total";
    /// Cache reads that found nothing (counter; label `cache`).
    pub const CACHE_MISSES: &str = "strata_cache_misses_total";
    /// Entries written to a cache (counter; label `cache`).
    pub const CACHE_INSERTS: &str = "strata_cache_inserts_total";
    /// Entries that left a cache (counter; labels `cache`, `cause`: `size`, `expired`,
    /// `removed`).
    pub const CACHE_EVICTIONS: &str = "strata_cache_evictions_total";
    /// Entries resident (gauge; label `cache`).
    pub const CACHE_ENTRIES: &str = "strata_cache_entries";
    /// Weight resident: bytes with `max_bytes`, else entries (gauge; label `cache`).
    pub const CACHE_WEIGHT: &str = "strata_cache_weight";
    /// `Tiered` reads served by the upper tier (counter; label `tier`).
    pub const TIER_HITS: &str = "strata_tier_hits_total";
    /// `Tiered` reads the upper tier missed (counter; label `tier`).
    pub const TIER_MISSES: &str = "strata_tier_misses_total";
    /// Values read from the lower tier and put in the upper (counter; label `tier`).
    pub const TIER_FILLS: &str = "strata_tier_fills_total";
    /// Reads that reached the lower tier (counter; label `tier`).
    pub const TIER_LOWER_READS: &str = "strata_tier_lower_reads_total";
    /// Lower-tier round trips saved by hits and merged misses (counter; label `tier`).
    pub const TIER_LOWER_READS_AVOIDED: &str = "strata_tier_lower_reads_avoided_total";
    /// Upper-tier failures absorbed by the tier (counter; label `tier`).
    pub const TIER_UPPER_ERRORS: &str = "strata_tier_upper_errors_total";
    /// redb commits (counter).
    pub const REDB_COMMITS: &str = "strata_redb_commits_total";
    /// redb fsyncs (counter).
    pub const REDB_FSYNCS: &str = "strata_redb_fsyncs_total";
    /// Writes per redb commit group (histogram).
    pub const REDB_GROUP_SIZE: &str = "strata_redb_group_size";
    /// Remote call time, retries included (histogram, seconds; label `op`).
    pub const REMOTE_CALL_SECONDS: &str = "strata_remote_call_seconds";
    /// Remote attempts retried (counter; label `op`).
    pub const REMOTE_RETRIES: &str = "strata_remote_retries_total";
    /// Remote calls that failed (counter; labels `op`, `kind`).
    pub const REMOTE_ERRORS: &str = "strata_remote_errors_total";
    /// Whether the remote circuit breaker is open, 1 or 0 (gauge).
    pub const REMOTE_BREAKER_OPEN: &str = "strata_remote_breaker_open";
    /// Records the server accepted from this device (counter; label `keyspace`).
    pub const SYNC_PUSHED: &str = "strata_sync_pushed_total";
    /// Records pulled and applied (counter; label `keyspace`).
    pub const SYNC_PULLED: &str = "strata_sync_pulled_total";
    /// Writes waiting to be pushed (gauge; label `keyspace`).
    pub const SYNC_OUTBOX_DEPTH: &str = "strata_sync_outbox_depth";
}

/// Publishes `cache`'s counters under the label `cache = name`.
pub fn publish_cache(name: &str, cache: &MemoryCache) {
    let stats = cache.stats();
    let label = [("cache", name.to_string())];
    metrics::counter!(names::CACHE_HITS, &label).absolute(stats.hits);
    metrics::counter!(names::CACHE_MISSES, &label).absolute(stats.misses);
    metrics::counter!(names::CACHE_INSERTS, &label).absolute(stats.inserts);
    for (cause, n) in [
        ("size", stats.evicted_capacity),
        ("expired", stats.evicted_ttl),
        ("removed", stats.evicted_explicit),
    ] {
        metrics::counter!(names::CACHE_EVICTIONS, "cache" => name.to_string(), "cause" => cause)
            .absolute(n);
    }
    metrics::gauge!(names::CACHE_ENTRIES, &label).set(stats.resident_entries as f64);
    metrics::gauge!(names::CACHE_WEIGHT, &label).set(stats.resident_weight as f64);
}

/// Publishes `tiered`'s counters under the label `tier = name`.
pub fn publish_tier<U: StorageBackend, L: StorageBackend>(name: &str, tiered: &Tiered<U, L>) {
    let stats = tiered.stats();
    let label = [("tier", name.to_string())];
    metrics::counter!(names::TIER_HITS, &label).absolute(stats.hits);
    metrics::counter!(names::TIER_MISSES, &label).absolute(stats.misses);
    metrics::counter!(names::TIER_FILLS, &label).absolute(stats.fills);
    metrics::counter!(names::TIER_LOWER_READS, &label).absolute(stats.lower_reads);
    metrics::counter!(names::TIER_LOWER_READS_AVOIDED, &label)
        .absolute(stats.lower_reads_avoided());
    metrics::counter!(names::TIER_UPPER_ERRORS, &label).absolute(stats.upper_errors);
}

type Source = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Publishes caches', tiers' and any other source's counters to the metrics recorder, now
/// ([`publish`](Self::publish)) or every interval ([`spawn`](Self::spawn)).
///
/// ```
/// use std::time::Duration;
/// use strata::{MemoryBackend, MemoryCache, Tiered, telemetry::MetricsReporter};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> strata::Result<()> {
/// let cache = MemoryCache::with_max_entries(10_000)?;
/// let tiered = Tiered::new(cache.clone(), MemoryBackend::new());
/// let reporter = MetricsReporter::new().cache("hot", &cache).tier("app", &tiered);
/// reporter.publish().await;                                // once, now
/// let task = reporter.spawn(Duration::from_secs(10));      // and every 10 s
/// task.abort();
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct MetricsReporter {
    sources: Vec<Source>,
}

impl std::fmt::Debug for MetricsReporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsReporter")
            .field("sources", &self.sources.len())
            .finish()
    }
}

impl MetricsReporter {
    /// A reporter with no sources.
    pub fn new() -> Self {
        Self::default()
    }

    /// Publishes `cache` (all its keyspaces) as `cache = name`. Holds a handle on it.
    pub fn cache(self, name: impl Into<String>, cache: &MemoryCache) -> Self {
        let (name, cache) = (name.into(), cache.clone());
        self.source(move || publish_cache(&name, &cache))
    }

    /// Publishes `tiered` as `tier = name`. Holds a handle on it.
    pub fn tier<U: StorageBackend, L: StorageBackend>(
        self,
        name: impl Into<String>,
        tiered: &Tiered<U, L>,
    ) -> Self {
        let (name, tiered) = (name.into(), tiered.clone());
        self.source(move || publish_tier(&name, &tiered))
    }

    /// Adds a source that publishes on its own (say, `RedbBackend::publish_metrics`).
    pub fn source(self, publish: impl Fn() + Send + Sync + 'static) -> Self {
        self.async_source(move || {
            publish();
            async {}
        })
    }

    /// Adds a source that must await to publish (say, a synced store reading its outbox).
    pub fn async_source<F>(mut self, publish: impl Fn() -> F + Send + Sync + 'static) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.sources.push(Arc::new(move || Box::pin(publish())));
        self
    }

    /// Publishes every source once.
    pub async fn publish(&self) {
        for source in &self.sources {
            source().await;
        }
    }

    /// Publishes every `interval` on the current tokio runtime until the task is aborted.
    pub fn spawn(self, interval: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                self.publish().await;
            }
        })
    }
}
