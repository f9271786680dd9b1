//! Metrics to Prometheus: a cache over redb, published every second, rendered in
//! Prometheus's text format (serve `handle.render()` at `/metrics` in a real application).
//!
//! `cargo run -p strata-examples --example metrics`

use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use strata::telemetry::MetricsReporter;
use strata::{MemoryCache, StorageBackend, Tiered};
use strata_redb::RedbBackend;

#[tokio::main]
async fn main() -> strata::Result<()> {
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .expect("no other metrics recorder is installed");

    let dir = tempfile::tempdir().expect("temporary directory");
    let disk = RedbBackend::builder(dir.path().join("app.redb"))
        .open()
        .await?;
    let cache = MemoryCache::builder().max_entries(100).build()?;
    let store = Tiered::new(cache.clone(), disk);
    let reporter = MetricsReporter::new()
        .cache("hot", &cache)
        .tier("app", &store);
    let publishing = reporter.clone().spawn(Duration::from_secs(1));

    for i in 0..500u32 {
        store
            .put(format!("user/{i}").into(), "profile".into())
            .await?;
    }
    for i in 0..2_000u32 {
        store.get(format!("user/{}", i % 150).as_bytes()).await?;
    }

    reporter.publish().await; // or wait for the next tick
    for line in handle.render().lines() {
        if line.starts_with("strata_") {
            println!("{line}");
        }
    }
    publishing.abort();
    store.close().await
}
