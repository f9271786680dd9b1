//! Write-behind against the in-memory server: writes never wait for the network, the outbox
//! drains exactly once whatever fails, survives restarts, coalesces, and conflicts are
//! resolved and counted by last-writer-wins.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{Link, bounded, open_device, open_memory_device};
use strata::{KeyRange, StorageBackend, WriteBatch};
use strata_sync::{MemoryRemote, SyncConfig, SyncRemote, SyncedStore};
use strata_turso::hlc::timestamp_at;

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

#[tokio::test]
async fn writes_work_with_the_remote_gone_and_drain_when_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let server = MemoryRemote::new();
    let (store, link) = open_memory_device(dir.path(), &server).await;
    link.set_cut(true);
    for i in 0..100 {
        store
            .put(b(&format!("k{i:03}")), b(&format!("v{i}")))
            .await
            .unwrap();
    }
    assert!(store.delete(b"k000").await.unwrap());
    assert_eq!(store.get(b"k001").await.unwrap(), Some(b("v1")));
    assert_eq!(store.get(b"k000").await.unwrap(), None);
    let err = store.sync_now().await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    let status = store.sync_status().await.unwrap();
    assert_eq!(status.pending, 100, "{status:?}");
    // v0..v9 are 2 bytes, v10..v99 3; the delete replaced v0 with nothing.
    assert_eq!(status.pending_bytes, 20 + 270 - 2, "{status:?}");
    assert!(status.last_error.is_some() && status.consecutive_failures == 1);
    assert!(status.oldest_pending_age.is_some());
    assert!(server.live().is_empty());

    let timeout = store
        .flush_sync(Duration::from_millis(30))
        .await
        .unwrap_err();
    assert_eq!(timeout.kind(), strata::ErrorKind::Timeout, "{timeout}");

    link.set_cut(false);
    bounded("flush_sync", store.flush_sync(Duration::from_secs(10)))
        .await
        .unwrap();
    let status = store.sync_status().await.unwrap();
    assert_eq!((status.pending, status.pending_bytes), (0, 0), "{status:?}");
    assert_eq!(status.pushed, 100);
    assert_eq!(status.last_error, None);
    let live = server.live();
    assert_eq!(live.len(), 99);
    assert_eq!(live, store.scan(KeyRange::all(), None).await.unwrap());
    assert!(server.version(b"k000").unwrap().deleted);
}

#[tokio::test]
async fn a_push_whose_answer_is_lost_is_replayed_harmlessly() {
    let dir = tempfile::tempdir().unwrap();
    let server = MemoryRemote::new();
    let (store, _link) = open_memory_device(dir.path(), &server).await;
    store.put(b("a"), b("1")).await.unwrap();
    store.put(b("b"), b("2")).await.unwrap();
    server.lose_next_answers(1);
    assert!(store.sync_now().await.is_err());
    // Applied on the server, still queued here.
    assert_eq!(server.live().len(), 2);
    assert_eq!(store.sync_status().await.unwrap().pending, 2);
    store.sync_now().await.unwrap();
    let status = store.sync_status().await.unwrap();
    assert_eq!(status.pending, 0);
    assert_eq!(status.pushed, 0, "the replay applied nothing: {status:?}");
    assert_eq!(status.conflicts_lost, 0);
    assert_eq!(server.live(), vec![(b("a"), b("1")), (b("b"), b("2"))]);
}

#[tokio::test]
async fn repeated_writes_of_a_key_coalesce_into_one_pending_write() {
    let dir = tempfile::tempdir().unwrap();
    let server = MemoryRemote::new();
    let (store, _link) = open_memory_device(dir.path(), &server).await;
    for i in 0..50 {
        store.put(b("hot"), b(&format!("v{i:02}"))).await.unwrap();
    }
    let mut batch = WriteBatch::new();
    batch.put(b("hot"), b("batched"));
    batch.put(b("cold"), b("c"));
    store.write_batch(batch).await.unwrap();
    let status = store.sync_status().await.unwrap();
    assert_eq!((status.pending, status.pending_bytes), (2, 8), "{status:?}");
    store.sync_now().await.unwrap();
    assert_eq!(store.sync_status().await.unwrap().pushed, 2);
    assert_eq!(
        server.live(),
        vec![(b("cold"), b("c")), (b("hot"), b("batched"))]
    );
}

#[tokio::test]
async fn the_outbox_and_the_node_id_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = MemoryRemote::new();
    let (store, link) = open_memory_device(dir.path(), &server).await;
    link.set_cut(true);
    store.put(b("k"), b("offline")).await.unwrap();
    let node = store.node_id();
    let version = store.version(b"k").await.unwrap().unwrap();
    drop(store);
    let (store, _link) = open_memory_device(dir.path(), &server).await;
    assert_eq!(store.node_id(), node);
    assert_eq!(store.sync_status().await.unwrap().pending, 1);
    store.put(b("k2"), b("after")).await.unwrap();
    assert!(
        store.version(b"k2").await.unwrap().unwrap().timestamp > version.timestamp,
        "the clock went back across a restart"
    );
    store.sync_now().await.unwrap();
    assert_eq!(
        server.live(),
        vec![(b("k"), b("offline")), (b("k2"), b("after"))]
    );
    assert_eq!(server.version(b"k").unwrap().node, node);
}

#[tokio::test]
async fn concurrent_edits_resolve_last_writer_wins_and_losses_are_counted() {
    let server = MemoryRemote::new();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, link_a) = open_memory_device(da.path(), &server).await;
    let (bb, link_b) = open_memory_device(db.path(), &server).await;
    link_a.set_cut(true);
    link_b.set_cut(true);
    a.put(b("x"), b("from a")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(3)).await;
    bb.put(b("x"), b("from b")).await.unwrap(); // later: wins
    bb.put(b("y"), b("b first")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(3)).await;
    a.put(b("y"), b("a later")).await.unwrap(); // later: wins
    link_a.set_cut(false);
    link_b.set_cut(false);
    // b first, then a: a's x loses at push, a's y wins at b's pull.
    bb.sync_now().await.unwrap();
    a.sync_now().await.unwrap();
    bb.sync_now().await.unwrap();
    for store in [&a, &bb] {
        assert_eq!(store.get(b"x").await.unwrap(), Some(b("from b")));
        assert_eq!(store.get(b"y").await.unwrap(), Some(b("a later")));
        assert_eq!(store.sync_status().await.unwrap().pending, 0);
    }
    assert_eq!(
        server.live(),
        vec![(b("x"), b("from b")), (b("y"), b("a later"))]
    );
    let (sa, sb) = (
        a.sync_status().await.unwrap(),
        bb.sync_status().await.unwrap(),
    );
    assert_eq!(sa.conflicts_lost, 1, "a's x lost at push: {sa:?}");
    // b's y reached the server first and was overwritten there by a's newer one: that is
    // not a loss of b's acknowledged write before it was stored, and is not counted.
    assert_eq!(sb.conflicts_lost, 0, "{sb:?}");
    assert_eq!(sb.pulled, 1, "a's y replaced b's: {sb:?}");
}

#[tokio::test]
async fn a_device_hours_ahead_cannot_mask_writes_made_after_its_own_was_seen() {
    let server = MemoryRemote::new();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ahead = open_device(da.path(), Link::new(server.clone()), 3 * 3_600_000, None).await;
    let normal = open_device(db.path(), Link::new(server.clone()), 0, None).await;
    ahead.put(b("k"), b("from the future")).await.unwrap();
    ahead.sync_now().await.unwrap();
    normal.sync_now().await.unwrap();
    assert_eq!(normal.get(b"k").await.unwrap(), Some(b("from the future")));
    assert!(normal.clock_skew_clamps() > 0, "the skew gate saw it");
    // The clock did not follow it...
    normal.put(b("other"), b("x")).await.unwrap();
    let other = normal.version(b"other").await.unwrap().unwrap();
    assert!(other.timestamp < ahead.version(b"k").await.unwrap().unwrap().timestamp);
    // ...yet a write of the key it has seen follows that version, and wins everywhere.
    normal
        .put(b("k"), b("edited after seeing it"))
        .await
        .unwrap();
    normal.sync_now().await.unwrap();
    ahead.sync_now().await.unwrap();
    for store in [&ahead, &normal] {
        assert_eq!(
            store.get(b"k").await.unwrap(),
            Some(b("edited after seeing it"))
        );
    }
    assert_eq!(normal.sync_status().await.unwrap().conflicts_lost, 0);
}

#[tokio::test]
async fn a_store_keeps_working_in_the_year_2100() {
    let dir = tempfile::tempdir().unwrap();
    let server = MemoryRemote::new();
    let year_2100_ms: i64 = 4_102_444_800_000;
    let now = i64::try_from(strata_turso::SystemClock.now_ms()).unwrap();
    use strata_turso::WallClock;
    let store = open_device(
        dir.path(),
        Link::new(server.clone()),
        year_2100_ms - now,
        None,
    )
    .await;
    store.put(b("a"), b("1")).await.unwrap();
    store.put(b("a"), b("2")).await.unwrap();
    let version = store.version(b"a").await.unwrap().unwrap();
    assert!(version.timestamp >= timestamp_at(4_102_444_800_000));
    assert!(
        i64::try_from(version.timestamp).is_ok(),
        "fits SQLite's integer"
    );
    store.sync_now().await.unwrap();
    assert_eq!(server.live(), vec![(b("a"), b("2"))]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_writers_with_cancellations_and_a_background_syncer_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = MemoryRemote::new();
    let link = Link::new(server.clone());
    let store = open_device(dir.path(), link.clone(), 0, Some(Duration::from_millis(20))).await;
    let store = Arc::new(store);
    let mut tasks = Vec::new();
    for writer in 0..8u32 {
        let store = store.clone();
        let link = link.clone();
        tasks.push(tokio::spawn(async move {
            // Each writer owns its keys; `acked[i]` is the last acknowledged value of key i,
            // `maybe[i]` the values whose writes were cancelled after the last ack.
            let mut acked: Vec<Option<String>> = vec![None; 10];
            let mut maybe: Vec<Vec<String>> = vec![Vec::new(); 10];
            for i in 0..200u32 {
                if writer == 0 && i % 50 == 0 {
                    link.set_cut(i % 100 == 0);
                }
                let key = (i * 7 + writer) % 10;
                let value = format!("w{writer}-{i}");
                let k = b(&format!("w{writer}/k{key}"));
                let put = store.put(k, b(&value));
                if i % 5 == 0 {
                    // Dropped at a random point: it may or may not have happened.
                    let wait = Duration::from_micros(u64::from(i % 4) * 300);
                    match tokio::time::timeout(wait, put).await {
                        Ok(r) => {
                            r.unwrap();
                            acked[key as usize] = Some(value);
                            maybe[key as usize].clear();
                        }
                        Err(_) => maybe[key as usize].push(value),
                    }
                } else {
                    put.await.unwrap();
                    acked[key as usize] = Some(value);
                    maybe[key as usize].clear();
                }
            }
            (writer, acked, maybe)
        }));
    }
    let mut expected = Vec::new();
    for task in tasks {
        expected.push(bounded("writer", task).await.unwrap());
    }
    link.set_cut(false);
    bounded("flush_sync", store.flush_sync(Duration::from_secs(20)))
        .await
        .unwrap();
    let live: std::collections::HashMap<Bytes, Bytes> = server.live().into_iter().collect();
    for (writer, acked, maybe) in expected {
        for key in 0..10 {
            let k = b(&format!("w{writer}/k{key}"));
            let local = store.get(&k).await.unwrap();
            assert_eq!(
                live.get(&k),
                local.as_ref(),
                "server and store differ on {k:?}"
            );
            let got = local.map(|v| String::from_utf8(v.to_vec()).unwrap());
            let ok = got == acked[key] || got.as_ref().is_some_and(|g| maybe[key].contains(g));
            assert!(
                ok,
                "{k:?}: got {got:?}, acked {:?}, maybe {:?}",
                acked[key], maybe[key]
            );
        }
    }
    assert_eq!(store.sync_status().await.unwrap().pending, 0);
}

#[tokio::test]
async fn keyspaces_sync_separately() {
    let dir = tempfile::tempdir().unwrap();
    let server = MemoryRemote::new();
    let (store, _link) = open_memory_device(dir.path(), &server).await;
    let notes = store.keyspace("notes").unwrap();
    notes.put(b("n"), b("note")).await.unwrap();
    store.put(b("d"), b("default")).await.unwrap();
    notes.sync_now().await.unwrap();
    store.sync_now().await.unwrap();
    assert_eq!(server.live(), vec![(b("d"), b("default"))]);
    use strata_sync::SyncRemote;
    assert_eq!(
        server.sync_keyspace("notes").unwrap().live(),
        vec![(b("n"), b("note"))]
    );
    assert_eq!(store.get(b"n").await.unwrap(), None);
    // A keyspace opened twice is one outbox with one syncer: the handles share its counters.
    let again = store.keyspace("notes").unwrap();
    assert_eq!(again.sync_status().await.unwrap().pushed, 1);
}

#[tokio::test]
async fn oversized_values_are_refused_before_they_reach_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let server = MemoryRemote::new();
    let local = strata_redb::RedbBackend::builder(dir.path().join("s.redb"))
        .max_value_size(100)
        .open()
        .await
        .unwrap();
    let store = SyncedStore::open(local, server, SyncConfig::default().background(None))
        .await
        .unwrap();
    let err = store
        .put(b("k"), Bytes::from(vec![0; 90]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), strata::ErrorKind::InvalidInput, "{err}");
    assert_eq!(store.sync_status().await.unwrap().pending, 0);
}

/// A server that answers slowly: a round is in flight for a while.
#[derive(Clone, Debug)]
struct Slow(MemoryRemote);

impl SyncRemote for Slow {
    fn sync_capabilities(&self) -> strata::Capabilities {
        self.0.sync_capabilities()
    }

    fn sync_keyspace(&self, name: &str) -> strata::Result<Self> {
        Ok(Slow(self.0.sync_keyspace(name)?))
    }

    async fn push(
        &self,
        records: &[strata_turso::SyncRecord],
    ) -> strata::Result<strata_turso::PushOutcome> {
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.0.push(records).await
    }

    async fn pull(
        &self,
        cursor: u64,
        limit: usize,
    ) -> strata::Result<Vec<strata_turso::PulledRecord>> {
        self.0.pull(cursor, limit).await
    }

    async fn purged_through(&self) -> strata::Result<u64> {
        self.0.purged_through().await
    }

    async fn purge_tombstones(&self, retention: Duration) -> strata::Result<u64> {
        self.0.purge_tombstones(retention).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_store_mid_round_releases_its_file_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = MemoryRemote::new();
    let store = open_device(
        dir.path(),
        Slow(server.clone()),
        0,
        Some(Duration::from_millis(1)),
    )
    .await;
    store.put(b("k"), b("v")).await.unwrap();
    // A manual round and the background one are both waiting on the slow server now.
    let manual = tokio::spawn({
        let store = store.clone();
        async move { store.sync_now().await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(store);
    let _ = bounded("the manual round", manual).await.unwrap();
    // The manual round's own handle is gone too: the file must be free.
    let reopened = strata_redb::RedbBackend::builder(dir.path().join("store.redb"))
        .open()
        .await;
    assert!(reopened.is_ok(), "{reopened:?}");
    drop(reopened);
    // And the outbox kept the write whose acknowledgement was cut off, or it was synced.
    let store = open_device(dir.path(), Slow(server.clone()), 0, None).await;
    bounded("sync", store.sync_now()).await.unwrap();
    assert_eq!(server.live(), vec![(b("k"), b("v"))]);
    store.close().await.unwrap();
    let again = strata_redb::RedbBackend::builder(dir.path().join("store.redb"))
        .open()
        .await;
    assert!(again.is_ok(), "close released the file: {again:?}");
}

async fn open_with_retention(
    dir: &std::path::Path,
    link: Link<MemoryRemote>,
    retention: Duration,
) -> SyncedStore<Link<MemoryRemote>> {
    let local = strata_redb::RedbBackend::builder(dir.join("store.redb"))
        .open()
        .await
        .unwrap();
    let config = SyncConfig::default()
        .background(None)
        .tombstone_retention(retention);
    SyncedStore::open(local, link, config).await.unwrap()
}

#[tokio::test]
async fn a_device_back_after_a_tombstone_purge_resyncs_instead_of_keeping_deleted_keys() {
    let server = MemoryRemote::new();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (la, lb) = (Link::new(server.clone()), Link::new(server.clone()));
    let a = open_with_retention(da.path(), la, Duration::ZERO).await;
    let bdev = open_with_retention(db.path(), lb.clone(), Duration::ZERO).await;
    for k in ["k1", "k2"] {
        a.put(b(k), b("v")).await.unwrap();
    }
    a.sync_now().await.unwrap();
    bdev.sync_now().await.unwrap();
    assert_eq!(bdev.get(b"k1").await.unwrap(), Some(b("v")));
    // b goes away; a deletes k1 and writes on, then purges every tombstone.
    lb.set_cut(true);
    assert!(a.delete(b"k1").await.unwrap());
    a.put(b("k3"), b("v3")).await.unwrap();
    a.sync_now().await.unwrap();
    tokio::time::sleep(Duration::from_millis(2)).await;
    let (here, there) = a.purge_tombstones().await.unwrap();
    assert_eq!(
        (here, there),
        (1, 1),
        "a's k1 tombstone, here and on the server"
    );
    assert_eq!(server.version(b"k1"), None);
    // b wrote offline meanwhile, then comes back.
    bdev.put(b("k4"), b("offline")).await.unwrap();
    lb.set_cut(false);
    bdev.sync_now().await.unwrap();
    a.sync_now().await.unwrap();
    let expected = vec![
        (b("k2"), b("v")),
        (b("k3"), b("v3")),
        (b("k4"), b("offline")),
    ];
    assert_eq!(server.live(), expected);
    for store in [&a, &bdev] {
        assert_eq!(store.scan(KeyRange::all(), None).await.unwrap(), expected);
    }
    let sb = bdev.sync_status().await.unwrap();
    assert_eq!(sb.resyncs, 1, "{sb:?}");
    assert_eq!(a.sync_status().await.unwrap().resyncs, 0, "a was in sync");
    // A second round changes nothing and does not resync again.
    bdev.sync_now().await.unwrap();
    assert_eq!(bdev.sync_status().await.unwrap().resyncs, 1);
}

#[tokio::test]
async fn tombstones_younger_than_the_retention_are_kept() {
    let server = MemoryRemote::new();
    let dir = tempfile::tempdir().unwrap();
    let store = open_with_retention(
        dir.path(),
        Link::new(server.clone()),
        Duration::from_secs(3600),
    )
    .await;
    store.put(b("k"), b("v")).await.unwrap();
    store.delete(b"k").await.unwrap();
    store.put(b("other"), b("v")).await.unwrap();
    store.sync_now().await.unwrap();
    assert_eq!(store.purge_tombstones().await.unwrap(), (0, 0));
    assert!(server.version(b"k").unwrap().deleted);
    assert!(store.version(b"k").await.unwrap().unwrap().deleted);
}

#[tokio::test]
async fn a_pending_delete_is_never_purged() {
    let server = MemoryRemote::new();
    let dir = tempfile::tempdir().unwrap();
    let link = Link::new(server.clone());
    let store = open_with_retention(dir.path(), link.clone(), Duration::ZERO).await;
    store.put(b("k"), b("v")).await.unwrap();
    store.sync_now().await.unwrap();
    link.set_cut(true);
    store.delete(b"k").await.unwrap();
    tokio::time::sleep(Duration::from_millis(2)).await;
    assert!(
        store.purge_tombstones().await.is_err(),
        "the server is cut off"
    );
    assert!(
        store.version(b"k").await.unwrap().unwrap().deleted,
        "still here, pending"
    );
    link.set_cut(false);
    store.sync_now().await.unwrap();
    assert!(
        server.version(b"k").unwrap().deleted,
        "the delete reached the server"
    );
}
