//! Quickstart: open a local store, write, read, scan, batch, and close. The README's
//! quickstart is this file line for line (`examples/tests/readme.rs` checks).
//!
//! `cargo run -p strata-examples --example quickstart`

use strata::{KeyRange, StorageBackend, SyncMode, WriteBatch};
use strata_redb::RedbBackend;

#[tokio::main]
async fn main() -> strata::Result<()> {
    let store = RedbBackend::builder("notes.redb")
        .sync_mode(SyncMode::Full)
        .open()
        .await?;
    let notes = store.keyspace("notes")?; // data sets stay apart

    notes
        .put("2026/11/24/standup".into(), "ship it".into())
        .await?;
    let mut batch = WriteBatch::new(); // all or nothing
    batch
        .put("2026/11/24/review", "crash tests")
        .delete("2026/11/23/old");
    notes.write_batch(batch).await?;

    let today = notes.scan(KeyRange::prefix("2026/11/24/"), None).await?;
    assert_eq!(today.len(), 2);
    assert_eq!(notes.get(b"2026/11/23/old").await?, None); // missing = Ok(None)

    drop(notes);
    store.close().await // fsyncs what is pending
}
