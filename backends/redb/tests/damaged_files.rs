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
    // Asked for, it becomes a new store that keeps what it is given.
    let store = RedbBackend::builder(&path)
        .create_over_empty_file(true)
        .open()
        .await
        .unwrap();
    store.put("k".into(), "v".into()).await.unwrap();
    store.close().await.unwrap();
    let store = RedbBackend::builder(&path).open().await.unwrap();
    assert_eq!(store.get(b"k").await.unwrap().as_deref(), Some(&b"v"[..]));
    store.close().await.unwrap();
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

fn flip_value(i: u32) -> Bytes {
    Bytes::from(format!("value-{i:05}-{}", "x".repeat(40)))
}

/// One flipped byte anywhere in a closed store: opening it and reading every key gives the
/// value written, a missing key, or a clean error — never a wrong value (checksums).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_byte_never_reads_as_wrong_data() {
    use rand::{Rng, SeedableRng};
    const ENTRIES: u32 = 200;
    let flips: usize = std::env::var("STRATA_BYTE_FLIPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("clean.redb");
    let store = RedbBackend::builder(&clean).open().await.unwrap();
    for i in 0..ENTRIES {
        store
            .put(Bytes::from(format!("key-{i:05}")), flip_value(i))
            .await
            .unwrap();
    }
    store.close().await.unwrap();
    let image = std::fs::read(&clean).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xf11b);
    let (mut open_errors, mut read_errors, mut missing) = (0, 0, 0);
    let target = dir.path().join("flipped.redb");
    for round in 0..flips {
        let mut bytes = image.clone();
        // Half the flips in the first pages (headers, roots), half anywhere.
        let at = if round % 2 == 0 {
            rng.random_range(0..bytes.len().min(16 * 1024))
        } else {
            rng.random_range(0..bytes.len())
        };
        bytes[at] ^= 1 << rng.random_range(0..8);
        std::fs::write(&target, &bytes).unwrap();
        let store = match RedbBackend::builder(&target).open().await {
            Ok(store) => store,
            Err(e) => {
                assert!(
                    matches!(e.kind(), ErrorKind::Corrupted | ErrorKind::Unexpected),
                    "flip at {at}: open failed unclearly: {e}"
                );
                open_errors += 1;
                continue;
            }
        };
        for i in 0..ENTRIES {
            match store.get(format!("key-{i:05}").as_bytes()).await {
                Ok(Some(v)) => assert_eq!(v, flip_value(i), "flip at {at}: a wrong value"),
                Ok(None) => missing += 1,
                Err(_) => read_errors += 1,
            }
        }
        if let Ok(rows) = store.scan(strata::KeyRange::all(), None).await {
            for (k, v) in rows {
                let i: u32 = std::str::from_utf8(&k)
                    .ok()
                    .and_then(|k| k.strip_prefix("key-"))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("flip at {at}: a scan returned a key never written"));
                assert_eq!(
                    v,
                    flip_value(i),
                    "flip at {at}: a scan returned a wrong value"
                );
            }
        }
        drop(store);
    }
    println!(
        "{flips} flips: {open_errors} failed to open, {read_errors} reads failed cleanly, \
         {missing} keys read as missing, 0 wrong values"
    );
}

/// A store written before checksums (no format record, raw values) still reads and writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_from_before_checksums_still_reads_and_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("legacy.redb");
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let def: redb::TableDefinition<'_, &[u8], &[u8]> =
                redb::TableDefinition::new("kv.default");
            let mut table = txn.open_table(def).unwrap();
            table
                .insert(b"old".as_slice(), b"raw value".as_slice())
                .unwrap();
        }
        txn.commit().unwrap();
    }
    let store = RedbBackend::builder(&path).open().await.unwrap();
    assert_eq!(
        store.get(b"old").await.unwrap(),
        Some(Bytes::from_static(b"raw value"))
    );
    store
        .put(Bytes::from_static(b"new"), Bytes::from_static(b"v"))
        .await
        .unwrap();
    store.close().await.unwrap();
    let store = RedbBackend::builder(&path).open().await.unwrap();
    assert_eq!(
        store.get(b"new").await.unwrap(),
        Some(Bytes::from_static(b"v"))
    );
    assert_eq!(
        store.get(b"old").await.unwrap(),
        Some(Bytes::from_static(b"raw value"))
    );
}

/// A damaged format record is `Corrupted` at open, never taken for the other format.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_format_record_is_corrupted_not_another_format() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.redb");
    let store = RedbBackend::builder(&path).open().await.unwrap();
    store
        .put(Bytes::from_static(b"k"), Bytes::from_static(b"v"))
        .await
        .unwrap();
    store.close().await.unwrap();
    let meta: redb::TableDefinition<'_, &str, u64> = redb::TableDefinition::new("strata.meta");
    let format = {
        let db = redb::Database::create(&path).unwrap();
        let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
        let table = txn.open_table(meta).unwrap();
        table.get("format").unwrap().unwrap().value()
    };
    for bit in 0..64 {
        {
            let db = redb::Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(meta)
                .unwrap()
                .insert("format", format ^ (1 << bit))
                .unwrap();
            txn.commit().unwrap();
        }
        let err = RedbBackend::builder(&path).open().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupted, "bit {bit}: {err}");
    }
    // The record lost altogether, over checksummed values: damage, not a legacy store.
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.delete_table(meta).unwrap();
        txn.commit().unwrap();
    }
    let err = RedbBackend::builder(&path).open().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupted, "{err}");
}

/// `checksums(false)` creates a store without them (for values that carry their own check);
/// the store keeps its format whatever later opens ask for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_keeps_the_checksum_format_it_was_created_with() {
    let dir = tempfile::tempdir().unwrap();
    for (name, first) in [("with.redb", true), ("without.redb", false)] {
        let path = dir.path().join(name);
        let store = RedbBackend::builder(&path)
            .checksums(first)
            .open()
            .await
            .unwrap();
        store.put("k".into(), "v".into()).await.unwrap();
        store.close().await.unwrap();
        for again in [true, false] {
            let store = RedbBackend::builder(&path)
                .checksums(again)
                .open()
                .await
                .unwrap();
            assert_eq!(store.get(b"k").await.unwrap().as_deref(), Some(&b"v"[..]));
            store.put("k2".into(), "w".into()).await.unwrap();
            store.close().await.unwrap();
        }
        // What is on disk tells the format: read the raw value through redb.
        use redb::ReadableDatabase;
        let db = redb::Database::open(&path).unwrap();
        let txn = db.begin_read().unwrap();
        let table: redb::TableDefinition<'_, &[u8], &[u8]> =
            redb::TableDefinition::new("kv.default");
        let stored_len = txn
            .open_table(table)
            .unwrap()
            .get(&b"k"[..])
            .unwrap()
            .map(|v| v.value().len());
        // A checksummed value is stored with its 4-byte CRC after it.
        assert_eq!(stored_len, Some(if first { 5 } else { 1 }), "{name}");
    }
}
