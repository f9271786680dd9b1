//! Damaged files are clean errors: `Corrupted` at `open`, labelled `open`, never a panic or a
//! silently new store.

use bytes::Bytes;
use strata::{ErrorKind, Operation, StorageBackend, SyncMode};
use strata_redb::RedbBackend;

async fn written_store(path: &std::path::Path) {
    let store = RedbBackend::builder(path)
        .sync_mode(SyncMode::Full)
        .open()
        .await
        .unwrap();
    for i in 0..2_000u32 {
        store
            .put(
                Bytes::from(format!("key-{i:05}")),
                Bytes::from(vec![7u8; 200]),
            )
            .await
            .unwrap();
    }
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_length_file_is_not_taken_for_a_new_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.redb");
    std::fs::write(&path, b"").unwrap();
    let err = RedbBackend::builder(&path).open().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupted, "{err}");
    assert_eq!(err.operation(), Operation::Open, "{err}");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0, "left untouched");
    let err = RedbBackend::builder(&path).open_blocking().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupted, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_over_the_middle_of_a_store_is_corrupted_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.redb");
    written_store(&path).await;
    let mut bytes = std::fs::read(&path).unwrap();
    let (from, to) = (bytes.len() / 4, bytes.len() * 3 / 4);
    for (i, b) in bytes[from..to].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(31) ^ 0x5a;
    }
    std::fs::write(&path, &bytes).unwrap();
    match RedbBackend::builder(&path).open().await {
        Err(err) => {
            assert_eq!(err.kind(), ErrorKind::Corrupted, "{err}");
            assert_eq!(err.operation(), Operation::Open, "{err}");
        }
        // redb may open it and find the damage only when a damaged page is read: then every
        // read is a value that was written or a clean error.
        Ok(store) => {
            for i in 0..2_000u32 {
                match store.get(format!("key-{i:05}").as_bytes()).await {
                    Ok(Some(v)) => assert_eq!(v, Bytes::from(vec![7u8; 200])),
                    Ok(None) => {}
                    Err(e) => assert_eq!(e.kind(), ErrorKind::Corrupted, "{e}"),
                }
            }
        }
    }
}
