//! Cases found by the adversarial review of offline sync: each failed on the code it was
//! found in (a purge by a fast clock, a write kept offline past a purge, two opens of one
//! file, a replay after a lost answer, counters lost at restart, the clock's maximum).

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{Link, Skewed};
use strata::{KeyRange, StorageBackend};
use strata_redb::RedbBackend;
use strata_sync::{MemoryRemote, SyncConfig, SyncRemote, SyncedStore};

const DAY_MS: i64 = 24 * 3_600_000;

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

async fn open<R: SyncRemote>(
    dir: &std::path::Path,
    remote: R,
    retention: Duration,
    skew_ms: i64,
) -> SyncedStore<R> {
    let local = RedbBackend::builder(dir.join("store.redb"))
        .open()
        .await
        .unwrap();
    let config = SyncConfig::default()
        .background(None)
        .tombstone_retention(retention)
        .wall_clock(Arc::new(Skewed { offset_ms: skew_ms }));
    SyncedStore::open(local, remote, config).await.unwrap()
}

async fn value<R: SyncRemote>(store: &SyncedStore<R>, key: &str) -> Option<Bytes> {
    store.get(key.as_bytes()).await.unwrap()
}

#[tokio::test]
async fn a_device_with_a_fast_clock_cannot_purge_a_fresh_delete() {
    let server = MemoryRemote::new();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let month = Duration::from_secs(30 * 24 * 3600);
    let a = open(dirs[0].path(), Link::new(server.clone()), month, 0).await;
    let lc = Link::new(server.clone());
    let c = open(dirs[1].path(), lc.clone(), month, 0).await;
    a.put(b("k"), b("v0")).await.unwrap();
    a.sync_now().await.unwrap();
    c.sync_now().await.unwrap();
    lc.set_cut(true);
    c.put(b("k"), b("c-offline")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    a.delete(b"k").await.unwrap(); // later: the winner
    a.put(b("other"), b("x")).await.unwrap();
    a.sync_now().await.unwrap();
    // A device 40 days ahead purges with a 30-day retention: the server's clock decides.
    let p = open(
        dirs[2].path(),
        Link::new(server.clone()),
        month,
        40 * DAY_MS,
    )
    .await;
    let (_, on_server) = p.purge_tombstones().await.unwrap();
    assert_eq!(on_server, 0, "a tombstone a few ms old was purged");
    lc.set_cut(false);
    c.sync_now().await.unwrap();
    a.sync_now().await.unwrap();
    assert_eq!(server.version(b"k").map(|v| v.deleted), Some(true));
    assert_eq!(value(&a, "k").await, None);
    assert_eq!(value(&c, "k").await, None);
    assert_eq!(
        c.sync_status().await.unwrap().conflicts_lost,
        1,
        "c's edit lost, counted"
    );
}

#[tokio::test]
async fn a_write_kept_offline_past_a_purge_comes_back_everywhere_and_is_counted() {
    let server = MemoryRemote::new();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = open(dirs[0].path(), Link::new(server.clone()), Duration::ZERO, 0).await;
    let lc = Link::new(server.clone());
    let c = open(dirs[1].path(), lc.clone(), Duration::ZERO, 0).await;
    let d = open(dirs[2].path(), Link::new(server.clone()), Duration::ZERO, 0).await;
    a.put(b("k"), b("v0")).await.unwrap();
    a.sync_now().await.unwrap();
    c.sync_now().await.unwrap();
    lc.set_cut(true);
    c.put(b("k"), b("c-offline")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    a.delete(b"k").await.unwrap();
    a.put(b("other"), b("x")).await.unwrap();
    a.sync_now().await.unwrap();
    d.sync_now().await.unwrap(); // d holds the tombstone (and purges nothing itself)
    tokio::time::sleep(Duration::from_millis(2)).await;
    // Retention zero: the delete's tombstone goes before c is back (the documented risk).
    assert_eq!(a.purge_tombstones().await.unwrap().1, 1);
    lc.set_cut(false);
    c.sync_now().await.unwrap(); // c resyncs (its cursor is below the purge) and pushes
    a.sync_now().await.unwrap();
    d.sync_now().await.unwrap();
    // The key came back, on every device alike — not kept deleted on one and live elsewhere.
    let server_k = server
        .live()
        .into_iter()
        .find(|(k, _)| k == "k")
        .map(|(_, v)| v);
    assert_eq!(server_k, Some(b("c-offline")));
    for store in [&a, &c, &d] {
        assert_eq!(value(store, "k").await, server_k);
    }
    let sd = d.sync_status().await.unwrap();
    assert_eq!(
        sd.conflicts_lost, 1,
        "d's tombstone was undone, counted: {sd:?}"
    );
}

#[tokio::test]
async fn a_second_open_of_one_file_is_refused_until_the_first_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let server = MemoryRemote::new();
    let local = RedbBackend::builder(dir.path().join("store.redb"))
        .open()
        .await
        .unwrap();
    let config = SyncConfig::default().background(None);
    let first = SyncedStore::open(local.clone(), server.clone(), config.clone())
        .await
        .unwrap();
    let second = SyncedStore::open(local.clone(), server.clone(), config.clone()).await;
    let err = second.unwrap_err();
    assert_eq!(err.kind(), strata::ErrorKind::InvalidInput, "{err}");
    // Keyspaces and clones share the first open instead.
    let notes = first.keyspace("notes").unwrap();
    drop((first, notes));
    SyncedStore::open(local, server, config).await.unwrap();
}

#[tokio::test]
async fn a_replay_after_a_lost_answer_is_not_counted_as_lost() {
    let server = MemoryRemote::new();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = open(da.path(), server.clone(), Duration::ZERO, 0).await;
    let bdev = open(db.path(), server.clone(), Duration::ZERO, 0).await;
    a.put(b("k"), b("a")).await.unwrap();
    server.lose_next_answers(1);
    assert!(a.sync_now().await.is_err(), "applied, answer lost");
    bdev.sync_now().await.unwrap();
    tokio::time::sleep(Duration::from_millis(2)).await;
    bdev.put(b("k"), b("b")).await.unwrap();
    bdev.sync_now().await.unwrap();
    a.sync_now().await.unwrap();
    let s = a.sync_status().await.unwrap();
    assert_eq!(s.conflicts_lost, 0, "a's write reached the server: {s:?}");
    assert_eq!(value(&a, "k").await, Some(b("b")));
}

#[tokio::test]
async fn conflict_counters_survive_a_restart() {
    let server = MemoryRemote::new();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let la = Link::new(server.clone());
    let a = open(da.path(), la.clone(), Duration::ZERO, 0).await;
    let bdev = open(db.path(), Link::new(server.clone()), Duration::ZERO, 0).await;
    la.set_cut(true);
    a.put(b("k"), b("older")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2)).await;
    bdev.put(b("k"), b("newer")).await.unwrap();
    bdev.sync_now().await.unwrap();
    la.set_cut(false);
    a.sync_now().await.unwrap();
    assert_eq!(a.sync_status().await.unwrap().conflicts_lost, 1);
    drop(a);
    let a = open(da.path(), la, Duration::ZERO, 0).await;
    assert_eq!(a.sync_status().await.unwrap().conflicts_lost, 1);
    assert_eq!(value(&a, "k").await, Some(b("newer")));
}

#[tokio::test]
async fn a_clock_at_its_maximum_refuses_writes_instead_of_wrapping() {
    let dir = tempfile::tempdir().unwrap();
    let year_ms: i64 = 365 * DAY_MS;
    // A wall clock reading past the year 2302 (a bad real-time clock).
    let store = open(
        dir.path(),
        MemoryRemote::new(),
        Duration::ZERO,
        400 * year_ms,
    )
    .await;
    let mut refused = false;
    for i in 0..4 {
        let mut batch = strata::WriteBatch::new();
        batch.put(b("k"), Bytes::from(format!("v{i}")));
        match store.write_versioned(batch).await {
            Ok(versions) => assert!(i64::try_from(versions[0].timestamp).is_ok()),
            Err(e) => {
                refused = true;
                assert_eq!(e.kind(), strata::ErrorKind::Unexpected, "{e}");
            }
        }
    }
    assert!(
        refused,
        "the key's version reached the maximum and a later write was refused"
    );
    // What was stored syncs and reads back as the last accepted write.
    store.sync_now().await.unwrap();
    let held = store.scan(KeyRange::all(), None).await.unwrap();
    assert_eq!(held.len(), 1);
}

#[tokio::test]
async fn a_push_refused_while_offline_does_not_hide_a_later_loss() {
    let server = MemoryRemote::new();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let la = Link::new(server.clone());
    let a = open(da.path(), la.clone(), Duration::ZERO, 0).await;
    let bdev = open(db.path(), Link::new(server.clone()), Duration::ZERO, 0).await;
    la.set_cut(true);
    a.put(b("k"), b("offline")).await.unwrap();
    assert!(a.sync_now().await.is_err(), "never left: the link is cut");
    tokio::time::sleep(Duration::from_millis(2)).await;
    bdev.put(b("k"), b("newer")).await.unwrap();
    bdev.sync_now().await.unwrap();
    la.set_cut(false);
    a.sync_now().await.unwrap();
    assert_eq!(value(&a, "k").await, Some(b("newer")));
    let s = a.sync_status().await.unwrap();
    assert_eq!(
        s.conflicts_lost, 1,
        "a's offline edit lost, and counted: {s:?}"
    );
}
