//! Configs read from a file (the `serde` feature): missing fields take their defaults, a
//! misspelt field is an error, and what is read builds the store it describes.

use std::time::Duration;

use strata::cache::MemoryCacheConfig;
use strata::{StorageBackend, SyncMode, TtlConfig};
use strata_redb::{RedbBuilder, RedbConfig};

#[test]
fn a_cache_config_from_json_builds_the_cache_it_describes() {
    let config: MemoryCacheConfig = serde_json::from_str(
        r#"{ "max_entries": 2, "ttl": { "default_ttl": { "secs": 90, "nanos": 0 } } }"#,
    )
    .unwrap();
    assert_eq!(config.max_entries, Some(2));
    let ttl = config.ttl.unwrap();
    assert_eq!(
        ttl,
        TtlConfig::default().default_ttl(Duration::from_secs(90))
    );
    assert_eq!(
        config.max_key_size,
        strata::DEFAULT_MAX_KEY_SIZE,
        "left out: the default"
    );
    let cache = strata::cache::MemoryCacheBuilder::from_config(config)
        .build()
        .unwrap();
    for k in ["a", "b", "c"] {
        strata_tests::deadline::ready(cache.put(k.into(), "v".into())).unwrap();
    }
    assert_eq!(cache.residency().0, 2, "bounded as configured");
    let typo = serde_json::from_str::<MemoryCacheConfig>(r#"{ "max_entrys": 2 }"#).unwrap_err();
    assert!(typo.to_string().contains("max_entrys"), "{typo}");
    let unbounded: MemoryCacheConfig = serde_json::from_str("{}").unwrap();
    let refused = strata::cache::MemoryCacheBuilder::from_config(unbounded)
        .build()
        .unwrap_err();
    assert_eq!(
        refused.kind(),
        strata::ErrorKind::InvalidInput,
        "no bound is a typed error"
    );
}

#[tokio::test]
async fn a_redb_config_from_json_opens_the_store_it_describes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.redb");
    let json = format!(
        r#"{{ "path": {:?}, "sync_mode": {{ "Normal": {{ "every": 8, "interval": null }} }}, "reader_threads": 1 }}"#,
        path.to_str().unwrap()
    );
    let config: RedbConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(config.sync_mode, SyncMode::normal(8));
    let store = RedbBuilder::from_config(config).open().await.unwrap();
    assert_eq!(store.sync_mode(), SyncMode::normal(8));
    assert_eq!(store.config().reader_threads, 1);
    store.put("k".into(), "v".into()).await.unwrap();
    store.close().await.unwrap();
    let no_path: RedbConfig = serde_json::from_str("{}").unwrap();
    let err = RedbBuilder::from_config(no_path).open().await.unwrap_err();
    assert_eq!(err.kind(), strata::ErrorKind::InvalidInput, "{err}");
    assert!(serde_json::from_str::<RedbConfig>(r#"{ "sync": "Full" }"#).is_err());
}

#[tokio::test]
async fn shared_reads_needs_full_durability_and_says_so_at_open() {
    // redb shares only durable commits: with another mode every write would fail later.
    let dir = tempfile::tempdir().unwrap();
    for mode in [SyncMode::normal(4), SyncMode::Checkpoint, SyncMode::Off] {
        let err = strata_redb::RedbBackend::builder(dir.path().join("s.redb"))
            .shared_reads(true)
            .sync_mode(mode)
            .open()
            .await
            .unwrap_err();
        assert_eq!(
            err.kind(),
            strata::ErrorKind::InvalidInput,
            "{mode:?}: {err}"
        );
    }
    let store = strata_redb::RedbBackend::builder(dir.path().join("s.redb"))
        .shared_reads(true)
        .open()
        .await
        .unwrap();
    store.put("k".into(), "v".into()).await.unwrap();
    store.close().await.unwrap();
}
