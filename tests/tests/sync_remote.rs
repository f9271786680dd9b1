//! Offline-first sync against a real sqld: an outage in the middle of a workload (sqld
//! killed and restarted), three devices editing offline and syncing in every order, and a
//! device process killed with SIGKILL while it writes and syncs.
#![cfg(feature = "remote")] // on by default; only the fuzz build turns it off

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use rand::Rng;
use strata::{Capabilities, Error, ErrorKind, KeyRange, Operation, StorageBackend, SyncMode};
use strata_redb::RedbBackend;
use strata_sync::{SyncConfig, SyncRemote, SyncedStore};
use strata_tests::deadline::bounded;
use strata_tests::sqld::{Access, Sqld};
use strata_turso::{PulledRecord, PushOutcome, RecordVersion, SyncRecord, TursoBackend};

const DEVICE: &str = env!("CARGO_BIN_EXE_sync_device");

async fn remote(sqld_url: String, token: String, keyspace: &str) -> TursoBackend {
    let open = TursoBackend::builder(sqld_url)
        .auth_token(token)
        .resilience(
            strata_turso::ResilienceConfig::default()
                .timeout(Duration::from_secs(2))
                .max_attempts(2)
                .breaker_cooldown(Duration::from_millis(200)),
        )
        .open();
    bounded("open turso", open)
        .await
        .expect("open turso")
        .keyspace(keyspace)
        .unwrap()
}

async fn device<R: SyncRemote>(
    dir: &std::path::Path,
    remote: R,
    background: Option<Duration>,
) -> SyncedStore<R> {
    let local = RedbBackend::builder(dir.join("store.redb"))
        .sync_mode(SyncMode::normal(64))
        .open();
    let local = bounded("open redb", local).await.unwrap();
    let config = SyncConfig::default()
        .background(background)
        .backoff(Duration::from_millis(10), Duration::from_millis(300));
    bounded("open synced", SyncedStore::open(local, remote, config))
        .await
        .unwrap()
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

async fn server_state(remote: &TursoBackend) -> Vec<(Bytes, Bytes)> {
    bounded("server scan", remote.scan(KeyRange::all(), None))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_mid_workload_loses_nothing_and_everything_drains() {
    let mut sqld = Sqld::start();
    let (url, token) = (sqld.url(), sqld.token(Access::ReadWrite));
    let dir = tempfile::tempdir().unwrap();
    let store = device(
        dir.path(),
        remote(url.clone(), token.clone(), "outage").await,
        Some(Duration::from_millis(20)),
    )
    .await;
    let mut model: BTreeMap<Bytes, Option<Bytes>> = BTreeMap::new();
    for i in 0..1_500u32 {
        if i == 500 {
            let s = &mut sqld;
            tokio::task::block_in_place(|| s.kill());
        }
        if i == 1_000 {
            // Everything written during the outage is acknowledged, queued and readable.
            let status = bounded("status", store.sync_status()).await.unwrap();
            assert!(status.pending >= 400, "{status:?}");
            assert!(status.last_error.is_some(), "{status:?}");
            let s = &mut sqld;
            tokio::task::block_in_place(|| s.restart());
        }
        let key = b(&format!("k{:04}", i % 700));
        if i % 11 == 5 {
            bounded("delete", store.delete(&key)).await.unwrap();
            model.insert(key.clone(), None);
        } else {
            let value = b(&format!("v{i}"));
            bounded("put", store.put(key.clone(), value.clone()))
                .await
                .unwrap();
            model.insert(key.clone(), Some(value));
        }
        // Reads are local, outage or not.
        assert_eq!(
            bounded("get", store.get(&key)).await.unwrap(),
            model[&key],
            "{key:?}"
        );
    }
    bounded("flush_sync", store.flush_sync(Duration::from_secs(20)))
        .await
        .unwrap();
    let expected: Vec<(Bytes, Bytes)> = model
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
    let check = remote(url, token, "outage").await;
    assert_eq!(server_state(&check).await, expected, "server");
    assert_eq!(
        bounded("scan", store.scan(KeyRange::all(), None))
            .await
            .unwrap(),
        expected,
        "store"
    );
    let status = store.sync_status().await.unwrap();
    assert_eq!(
        (status.pending, status.conflicts_lost),
        (0, 0),
        "{status:?}"
    );
}

/// A device's network: cut or restored by the test.
#[derive(Clone, Debug)]
struct Link {
    inner: TursoBackend,
    cut: Arc<AtomicBool>,
}

impl Link {
    /// Refused before anything left while the link is cut.
    fn check(&self) -> strata::Result<()> {
        if self.cut.load(Ordering::SeqCst) {
            return Err(strata_turso::not_sent(Error::new(
                ErrorKind::Unavailable,
                Operation::Sync,
                "cut",
            )));
        }
        Ok(())
    }
}

impl SyncRemote for Link {
    fn sync_capabilities(&self) -> Capabilities {
        StorageBackend::capabilities(&self.inner)
    }

    fn sync_keyspace(&self, name: &str) -> strata::Result<Self> {
        Ok(Link {
            inner: StorageBackend::keyspace(&self.inner, name)?,
            cut: self.cut.clone(),
        })
    }

    async fn push(&self, records: &[SyncRecord]) -> strata::Result<PushOutcome> {
        self.check()?;
        self.inner.push(records).await
    }

    async fn pull(&self, cursor: u64, limit: usize) -> strata::Result<Vec<PulledRecord>> {
        self.check()?;
        self.inner.pull(cursor, limit).await
    }

    async fn purged_through(&self) -> strata::Result<u64> {
        self.check()?;
        self.inner.purged_through().await
    }

    async fn purge_tombstones(&self, retention: Duration) -> strata::Result<u64> {
        self.check()?;
        self.inner.purge_tombstones(retention).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_devices_editing_offline_converge_in_every_sync_order() {
    let sqld = Sqld::start();
    let (url, token) = (sqld.url(), sqld.token(Access::ReadWrite));
    let orders = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    for (n, order) in orders.iter().enumerate() {
        let keyspace = format!("devices{n}");
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let mut devices = Vec::new();
        for dir in &dirs {
            let link = Link {
                inner: remote(url.clone(), token.clone(), &keyspace).await,
                cut: Arc::new(AtomicBool::new(true)),
            };
            devices.push((device(dir.path(), link.clone(), None).await, link));
        }
        // Offline edits: every device writes the shared keys (interleaved in time, so each
        // key's winner differs) and a key of its own, and deletes one shared key.
        let mut writes: BTreeMap<Bytes, Vec<(RecordVersion, Option<Bytes>)>> = BTreeMap::new();
        for round in 0..3 {
            for (d, (store, _)) in devices.iter().enumerate() {
                let mut batch = strata::WriteBatch::new();
                let shared = b(&format!("shared{}", (round + d) % 3));
                let value = b(&format!("d{d}-r{round}"));
                batch.put(shared.clone(), value.clone());
                let own = b(&format!("own{d}"));
                batch.put(own.clone(), value.clone());
                let mut ops = vec![(shared, Some(value.clone())), (own, Some(value))];
                if round == 2 && d == n % 3 {
                    let gone = b("shared1");
                    batch.delete(gone.clone());
                    ops.push((gone, None));
                }
                let versions = bounded("write", store.write_versioned(batch))
                    .await
                    .unwrap();
                for ((k, v), version) in ops.into_iter().zip(versions) {
                    writes.entry(k).or_default().push((version, v));
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        for (_, link) in &devices {
            link.cut.store(false, Ordering::SeqCst);
        }
        for _pass in 0..2 {
            for &d in order {
                bounded("sync", devices[d].0.sync_now()).await.unwrap();
            }
        }
        let mut expected = Vec::new();
        for (k, versions) in &writes {
            let (winner, value) = versions
                .iter()
                .fold(
                    None::<&(RecordVersion, Option<Bytes>)>,
                    |best, w| match best {
                        Some(b) if !w.0.newer_than(&b.0) => Some(b),
                        _ => Some(w),
                    },
                )
                .unwrap();
            let stored = devices[0].1.inner.record_version(k).await.unwrap().unwrap();
            assert_eq!(
                (stored.timestamp, stored.node),
                (winner.timestamp, winner.node),
                "order {order:?}: {k:?} is held at the version the LWW rule names"
            );
            if let Some(v) = value {
                expected.push((k.clone(), v.clone()));
            }
        }
        assert_eq!(
            server_state(&devices[0].1.inner).await,
            expected,
            "order {order:?}: server"
        );
        for (d, (store, _)) in devices.iter().enumerate() {
            let held = bounded("scan", store.scan(KeyRange::all(), None))
                .await
                .unwrap();
            assert_eq!(held, expected, "order {order:?}: device {d}");
            assert_eq!(store.sync_status().await.unwrap().pending, 0);
        }
    }
}

/// What one device process said before it was killed.
#[derive(Default)]
struct Said {
    tried: Vec<(String, String)>,
    acked: Vec<(String, String)>,
}

fn run_device_and_kill(dir: &std::path::Path, url: &str, token: &str, round: u32) -> Said {
    let mut child = Command::new(DEVICE)
        .args([dir.to_str().unwrap(), url, token, &round.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start sync_device");
    let stdout = child.stdout.take().unwrap();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut said = Said::default();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let mut parts = line.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("ready"), _, _) => {
                    let _ = ready_tx.send(());
                }
                (Some("try"), Some(k), Some(v)) => said.tried.push((k.into(), v.into())),
                (Some("ack"), Some(k), Some(v)) => said.acked.push((k.into(), v.into())),
                _ => {}
            }
        }
        said
    });
    ready_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the device did not get ready within 30 s");
    // Kill while it writes and syncs: anywhere from at once to 300 ms in.
    std::thread::sleep(Duration::from_millis(rand::rng().random_range(0..300)));
    child.kill().expect("SIGKILL the device");
    let status = child.wait().expect("reap the device");
    assert!(!status.success(), "the device must die from the kill");
    reader.join().unwrap()
}

#[test]
fn a_device_killed_while_syncing_loses_nothing_and_its_outbox_resumes() {
    let rounds: u32 = std::env::var("STRATA_SYNC_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let sqld = Sqld::start();
    let (url, token) = (sqld.url(), sqld.token(Access::ReadWrite));
    let dir = tempfile::tempdir().unwrap();
    // key -> (last acknowledged value, values tried after it)
    let mut model: BTreeMap<String, (Option<String>, Vec<String>)> = BTreeMap::new();
    let mut acked_total = 0;
    for round in 0..rounds {
        let said = run_device_and_kill(dir.path(), &url, &token, round);
        acked_total += said.acked.len();
        let acked: std::collections::HashSet<(String, String)> =
            said.acked.iter().cloned().collect();
        for (k, v) in said.tried {
            let entry = model.entry(k.clone()).or_default();
            if acked.contains(&(k, v.clone())) {
                *entry = (Some(v), Vec::new());
            } else {
                entry.1.push(v);
            }
        }
    }
    assert!(
        acked_total > rounds as usize,
        "the devices barely wrote: {acked_total}"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = remote(url.clone(), token.clone(), "crash").await;
        let synced_by_the_devices = server_state(&server).await.len();
        assert!(
            synced_by_the_devices > 0,
            "the devices never synced before their kills"
        );
        let store = device(dir.path(), server.clone(), None).await;
        bounded("flush_sync", store.flush_sync(Duration::from_secs(30)))
            .await
            .unwrap();
        let held: BTreeMap<Bytes, Bytes> = store
            .scan(KeyRange::all(), None)
            .await
            .unwrap()
            .into_iter()
            .collect();
        let on_server: BTreeMap<Bytes, Bytes> = server_state(&server).await.into_iter().collect();
        assert_eq!(held, on_server, "the store and the server differ");
        for (k, (acked, later)) in &model {
            let got = held
                .get(k.as_bytes())
                .map(|v| String::from_utf8(v.to_vec()).unwrap());
            let ok = match (&got, acked) {
                (Some(g), Some(a)) => g == a || later.contains(g),
                (Some(g), None) => later.contains(g),
                (None, None) => true,
                (None, Some(_)) => false,
            };
            assert!(
                ok,
                "{k}: holds {got:?}, acknowledged {acked:?}, tried after {later:?}"
            );
            if let Some(value) = held.get(k.as_bytes()) {
                let local = store.version(k.as_bytes()).await.unwrap().unwrap();
                let remote = server.record_version(k.as_bytes()).await.unwrap().unwrap();
                assert_eq!(
                    (local.timestamp, local.node),
                    (remote.timestamp, remote.node),
                    "{k} ({value:?}): replays must not re-stamp a record"
                );
            }
        }
        // Nothing on the server that no device tried to write.
        for k in on_server.keys() {
            let k = String::from_utf8(k.to_vec()).unwrap();
            assert!(model.contains_key(&k), "{k} appeared from nowhere");
        }
        let status = store.sync_status().await.unwrap();
        assert_eq!(
            (status.pending, status.conflicts_lost),
            (0, 0),
            "{status:?}"
        );
        eprintln!(
            "{rounds} kills, {acked_total} acknowledged writes, {} keys, {synced_by_the_devices} \
             on the server before the final sync",
            model.len()
        );
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tombstone_purge_on_sqld_makes_a_stale_device_resync_and_never_reuses_a_seq() {
    let sqld = Sqld::start();
    let (url, token) = (sqld.url(), sqld.token(Access::ReadWrite));
    let link = |cut: bool| {
        let (url, token) = (url.clone(), token.clone());
        async move {
            Link {
                inner: remote(url, token, "purge").await,
                cut: Arc::new(AtomicBool::new(cut)),
            }
        }
    };
    let open = |dir: std::path::PathBuf, link: Link| async move {
        let local = RedbBackend::builder(dir.join("store.redb")).open();
        let local = bounded("open redb", local).await.unwrap();
        let config = SyncConfig::default()
            .background(None)
            .tombstone_retention(Duration::ZERO);
        bounded("open", SyncedStore::open(local, link, config))
            .await
            .unwrap()
    };
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = open(da.path().to_path_buf(), link(false).await).await;
    let lb = link(false).await;
    let bdev = open(db.path().to_path_buf(), lb.clone()).await;
    for k in ["k1", "k2"] {
        a.put(b(k), b("v")).await.unwrap();
    }
    a.sync_now().await.unwrap();
    bdev.sync_now().await.unwrap();
    lb.cut.store(true, Ordering::SeqCst);
    a.delete(b"k1").await.unwrap();
    a.put(b("k3"), b("v3")).await.unwrap();
    a.sync_now().await.unwrap();
    tokio::time::sleep(Duration::from_millis(2)).await;
    // A retention too long to compute ("never") purges nothing, not everything.
    let never = bounded("purge", lb.inner.purge_tombstones(Duration::MAX)).await;
    assert_eq!(never.unwrap(), 0);
    let (_, on_server) = bounded("purge", a.purge_tombstones()).await.unwrap();
    assert_eq!(on_server, 1);
    let turso = &lb.inner;
    assert_eq!(turso.record_version(b"k1").await.unwrap(), None);
    assert!(turso.purged_through().await.unwrap() > 0);
    // The change numbering goes on above everything handed out before the purge.
    let cursor_before = bdev.sync_status().await.unwrap().cursor;
    a.put(b("k5"), b("after")).await.unwrap();
    a.sync_now().await.unwrap();
    let after = turso.pull(cursor_before, 100).await.unwrap();
    assert!(after.iter().any(|p| p.record.key == b("k5")), "{after:?}");
    bdev.put(b("k4"), b("offline")).await.unwrap();
    lb.cut.store(false, Ordering::SeqCst);
    bdev.sync_now().await.unwrap();
    a.sync_now().await.unwrap();
    let expected = vec![
        (b("k2"), b("v")),
        (b("k3"), b("v3")),
        (b("k4"), b("offline")),
        (b("k5"), b("after")),
    ];
    assert_eq!(server_state(turso).await, expected);
    for store in [&a, &bdev] {
        assert_eq!(store.scan(KeyRange::all(), None).await.unwrap(), expected);
    }
    assert_eq!(bdev.sync_status().await.unwrap().resyncs, 1);
    assert_eq!(a.sync_status().await.unwrap().resyncs, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_starts_and_works_with_the_server_down_then_syncs() {
    let mut sqld = Sqld::start();
    let (url, token) = (sqld.url(), sqld.token(Access::ReadWrite));
    tokio::task::block_in_place(|| sqld.kill());
    // A strict open fails fast with the server gone...
    let strict = TursoBackend::builder(url.clone())
        .auth_token(token.clone())
        .open();
    assert!(bounded("strict open", strict).await.is_err());
    // ...a lazy one opens, and the synced store works offline.
    let lazy = TursoBackend::builder(url.clone())
        .auth_token(token.clone())
        .connect_lazily(true)
        .open();
    let remote = bounded("lazy open", lazy).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = device(dir.path(), remote.clone(), None).await;
    store.put(b("note"), b("written offline")).await.unwrap();
    assert!(store.sync_now().await.is_err());
    tokio::task::block_in_place(|| sqld.restart());
    bounded("flush_sync", store.flush_sync(Duration::from_secs(20)))
        .await
        .unwrap();
    assert_eq!(
        remote.get(b"note").await.unwrap(),
        Some(b("written offline"))
    );
}
