//! `transact` and `read_snapshot`: atomic across tables, rolled back on error, a caller's
//! panic fails only its own call, a table of another store is refused.

use strata::{ErrorKind, KeyRange, Result, StorageBackend};
use strata_redb::RedbBackend;

async fn open(dir: &tempfile::TempDir) -> RedbBackend {
    RedbBackend::builder(dir.path().join("store.redb"))
        .open()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_transaction_spans_tables_and_rolls_back_on_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let (data, side) = (
        store.table_ref(),
        store.system_table("side").unwrap().table_ref(),
    );
    let (d, s) = (data.clone(), side.clone());
    let seen = store
        .transact(move |txn| {
            txn.put(&d, b"k", b"v")?;
            txn.put(&s, b"k", b"meta")?;
            txn.get(&d, b"k")
        })
        .await
        .unwrap();
    assert_eq!(seen.as_deref(), Some(&b"v"[..]), "reads its own writes");
    let (d, s) = (data.clone(), side.clone());
    let failed: Result<()> = store
        .transact(move |txn| {
            txn.put(&d, b"k2", b"v2")?;
            txn.delete(&s, b"k")?;
            Err(strata::Error::invalid_input(
                strata::Operation::Put,
                "changed my mind",
            ))
        })
        .await;
    assert_eq!(failed.unwrap_err().kind(), ErrorKind::InvalidInput);
    assert_eq!(store.get(b"k2").await.unwrap(), None, "rolled back");
    let side_handle = store.system_table("side").unwrap();
    assert_eq!(
        side_handle.get(b"k").await.unwrap().as_deref(),
        Some(&b"meta"[..])
    );
    // System tables are out of reach of `keyspace`, and keyspaces don't see them.
    assert_eq!(
        store.keyspace("side").unwrap().get(b"k").await.unwrap(),
        None
    );
    let (d, s) = (data, side);
    let (rows, n) = store
        .read_snapshot(move |snap| Ok((snap.scan(&d, &KeyRange::all(), 10)?, snap.len(&s)?)))
        .await
        .unwrap();
    assert_eq!((rows.len(), n), (1, 1));
}

#[tokio::test]
async fn a_panicking_closure_fails_its_own_call_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let t = store.table_ref();
    let r = store
        .transact(move |txn| -> Result<()> {
            txn.put(&t, b"a", b"1")?;
            panic!("a bug in a caller's closure")
        })
        .await;
    assert_eq!(r.unwrap_err().kind(), ErrorKind::Unexpected);
    assert_eq!(
        store.get(b"a").await.unwrap(),
        None,
        "its writes rolled back"
    );
    store.put("b".into(), "2".into()).await.unwrap();
    assert_eq!(store.get(b"b").await.unwrap().as_deref(), Some(&b"2"[..]));
    let closed = store.close().await;
    assert!(closed.is_ok(), "the writer is not at fault: {closed:?}");
}

#[tokio::test]
async fn a_table_of_another_store_is_refused() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (one, two) = (open(&d1).await, open(&d2).await);
    let foreign = two.table_ref();
    let r = one.transact(move |txn| txn.put(&foreign, b"k", b"v")).await;
    assert_eq!(r.unwrap_err().kind(), ErrorKind::InvalidInput);
    assert_eq!(two.get(b"k").await.unwrap(), None);
}
