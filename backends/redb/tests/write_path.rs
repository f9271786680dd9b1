//! The write path's observable behaviour: which commits fsync under each mode, group commit,
//! the interval timer, bad configuration, and closing.

use std::time::Duration;

use bytes::Bytes;
use strata::{ErrorKind, StorageBackend, SyncMode};
use strata_redb::RedbBackend;

async fn open(dir: &tempfile::TempDir, mode: SyncMode) -> RedbBackend {
    RedbBackend::builder(dir.path().join("s.redb"))
        .sync_mode(mode)
        .open()
        .await
        .unwrap()
}

async fn put_n(store: &RedbBackend, n: usize) {
    for i in 0..n {
        store
            .put(Bytes::from(format!("k{i:04}")), Bytes::from_static(b"v"))
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_fsyncs_every_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, SyncMode::Full).await;
    put_n(&store, 10).await;
    let stats = store.stats();
    assert_eq!(stats.commits, 10);
    assert_eq!(stats.fsyncs, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn normal_fsyncs_every_nth_write() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, SyncMode::normal(4)).await;
    put_n(&store, 12).await;
    let stats = store.stats();
    assert_eq!((stats.commits, stats.fsyncs), (12, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn normal_interval_fsyncs_an_idle_store() {
    let dir = tempfile::tempdir().unwrap();
    let mode = SyncMode::Normal {
        every: 1000,
        interval: Some(Duration::from_millis(20)),
    };
    let store = open(&dir, mode).await;
    put_n(&store, 3).await;
    assert_eq!(store.stats().fsyncs, 0, "no fsync before the interval");
    // The writer wakes by itself once the interval has passed since the last fsync.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while store.stats().fsyncs == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        store.stats().fsyncs,
        1,
        "the idle writer must fsync once after the interval"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoint_and_off_fsync_on_flush_once() {
    for mode in [SyncMode::Checkpoint, SyncMode::Off] {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir, mode).await;
        put_n(&store, 20).await;
        store.flush().await.unwrap();
        let after_flush = store.stats().fsyncs;
        assert!(after_flush >= 1, "{mode:?}: flush fsyncs");
        store.flush().await.unwrap();
        assert_eq!(
            store.stats().fsyncs,
            after_flush,
            "{mode:?}: nothing new, no second fsync"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoint_checkpoints_after_a_pause_and_off_does_not() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let checkpoint = open(&a, SyncMode::Checkpoint).await;
    let off = open(&b, SyncMode::Off).await;
    put_n(&checkpoint, 20).await;
    put_n(&off, 20).await;
    // The writer wakes by itself once writes have paused for CHECKPOINT_IDLE.
    let deadline = std::time::Instant::now() + SyncMode::CHECKPOINT_IDLE * 5;
    while checkpoint.stats().fsyncs == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(checkpoint.stats().fsyncs, 1, "one idle checkpoint");
    assert_eq!(off.stats().fsyncs, 0, "Off never fsyncs by itself");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoint_checkpoints_every_checkpoint_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, SyncMode::Checkpoint).await;
    put_n(&store, SyncMode::CHECKPOINT_WRITES as usize).await;
    let stats = store.stats();
    assert!(
        stats.fsyncs >= 1,
        "{} writes make a checkpoint: {stats:?}",
        SyncMode::CHECKPOINT_WRITES
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_full_writers_share_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, SyncMode::Full).await;
    let tasks: Vec<_> = (0..64)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..8 {
                    store
                        .put(
                            Bytes::from(format!("w{w:02}/{i}")),
                            Bytes::from_static(b"v"),
                        )
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let stats = store.stats();
    assert_eq!(stats.writes, 512);
    assert!(
        stats.largest_group > 1,
        "no two writers ever shared a commit: {stats:?}"
    );
    assert!(
        stats.fsyncs < 512,
        "group commit must save fsyncs: {stats:?}"
    );
}

#[tokio::test]
async fn bad_configuration_is_invalid_input() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    for builder in [
        RedbBackend::builder(&path).sync_mode(SyncMode::normal(0)),
        RedbBackend::builder(&path).max_group_size(0),
        RedbBackend::builder(&path).max_key_size(0),
        RedbBackend::builder(&path).sync_mode(SyncMode::Normal {
            every: 2,
            interval: Some(Duration::ZERO),
        }),
    ] {
        let err = builder.open().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_open_of_a_locked_file_is_unavailable_and_close_releases_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, SyncMode::Full).await;
    let err = RedbBackend::builder(dir.path().join("s.redb"))
        .open()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    store.put("k".into(), "v".into()).await.unwrap();
    store.close().await.unwrap();
    let again = open(&dir, SyncMode::Full).await;
    assert_eq!(
        again.get(b"k").await.unwrap(),
        Some(Bytes::from_static(b"v"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_file_fails_to_open_with_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    std::fs::write(&path, vec![0xA5u8; 64 * 1024]).unwrap();
    let err = RedbBackend::builder(&path).open().await.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Corrupted | ErrorKind::Unexpected),
        "{err}"
    );
}
