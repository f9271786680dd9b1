//! Quickstart: open a local store, write, read, scan, batch, and close.
//!
//! `cargo run -p strata-examples --example quickstart`

use strata::{KeyRange, StorageBackend, SyncMode, WriteBatch};
use strata_redb::RedbBackend;

#[tokio::main]
async fn main() -> strata::Result<()> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = RedbBackend::builder(dir.path().join("notes.redb"))
        .sync_mode(SyncMode::Full)
        .open()
        .await?;

    // Keyspaces keep data sets apart inside one file.
    let notes = store.keyspace("notes")?;
    notes
        .put("2026/11/24/standup".into(), "ship the redb backend".into())
        .await?;
    notes
        .put("2026/11/24/lunch".into(), "noodles".into())
        .await?;

    // Several writes, all or nothing.
    let mut batch = WriteBatch::new();
    batch
        .put("2026/11/25/review", "crash tests")
        .delete("2026/11/24/lunch");
    notes.write_batch(batch).await?;

    let today = notes.scan(KeyRange::prefix("2026/11/24/"), None).await?;
    for (key, value) in &today {
        println!(
            "{} = {}",
            String::from_utf8_lossy(key),
            String::from_utf8_lossy(value)
        );
    }
    assert_eq!(today.len(), 1);
    assert_eq!(notes.get(b"2026/11/24/lunch").await?, None);

    drop(notes);
    store.close().await
}
