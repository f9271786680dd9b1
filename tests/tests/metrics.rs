//! Metrics as an exporter sees them: one recorder for the process (as an application installs
//! one), caches and tiers published by a `MetricsReporter`, redb and remote calls recorded as
//! they happen.

use std::sync::OnceLock;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::{CompositeKey, MetricKind};
use strata::telemetry::{MetricsReporter, names};
use strata::{MemoryBackend, MemoryCache, StorageBackend, SyncMode, Tiered};
use strata_redb::RedbBackend;
use strata_tests::deadline::bounded;

fn snapshotter() -> &'static Snapshotter {
    static SNAPSHOTTER: OnceLock<Snapshotter> = OnceLock::new();
    SNAPSHOTTER.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder
            .install()
            .expect("the only recorder in this process");
        snapshotter
    })
}

type Metrics = Vec<(CompositeKey, DebugValue)>;

/// The recorder's snapshot drains it (counters since the last one, the latest absolute
/// value), so tests take turns: each drains at its start and reads one snapshot at its end.
async fn exclusive() -> tokio::sync::MutexGuard<'static, ()> {
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let turn = bounded("this test's turn", TURN.lock()).await;
    snapshotter().snapshot();
    turn
}

fn snapshot() -> Metrics {
    snapshotter()
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| (key, value))
        .collect()
}

/// Every metric named `name` whose labels include all of `labels`.
fn find<'a>(
    m: &'a Metrics,
    name: &str,
    labels: &[(&str, &str)],
) -> Vec<&'a (CompositeKey, DebugValue)> {
    m.iter()
        .filter(|(key, _)| {
            key.key().name() == name
                && labels
                    .iter()
                    .all(|(k, v)| key.key().labels().any(|l| l.key() == *k && l.value() == *v))
        })
        .collect()
}

fn counter(m: &Metrics, name: &str, labels: &[(&str, &str)]) -> u64 {
    match find(m, name, labels).as_slice() {
        [(key, DebugValue::Counter(n))] if key.kind() == MetricKind::Counter => *n,
        other => panic!("{name} {labels:?}: {other:?}"),
    }
}

fn gauge(m: &Metrics, name: &str, labels: &[(&str, &str)]) -> f64 {
    match find(m, name, labels).as_slice() {
        [(_, DebugValue::Gauge(v))] => v.into_inner(),
        other => panic!("{name} {labels:?}: {other:?}"),
    }
}

#[tokio::test]
async fn a_reporter_publishes_the_cache_and_tier_counters_as_they_stand() {
    let _turn = exclusive().await;
    let cache = MemoryCache::with_max_entries(2).unwrap();
    let tiered = Tiered::new(cache.clone(), MemoryBackend::new());
    for k in ["a", "b", "c"] {
        tiered.put(k.into(), "v".into()).await.unwrap();
    }
    for k in ["a", "b", "c", "c"] {
        tiered.get(k.as_bytes()).await.unwrap();
    }
    tiered.delete(b"c").await.unwrap();
    let reporter = MetricsReporter::new()
        .cache("m-cache", &cache)
        .tier("m-tier", &tiered);
    reporter.publish().await;
    let (cs, ts) = (cache.stats(), tiered.stats());
    let m = snapshot();
    let c = [("cache", "m-cache")];
    assert_eq!(counter(&m, names::CACHE_HITS, &c), cs.hits);
    assert_eq!(counter(&m, names::CACHE_MISSES, &c), cs.misses);
    assert_eq!(counter(&m, names::CACHE_INSERTS, &c), cs.inserts);
    assert!(cs.hits > 0 && cs.misses > 0);
    let size = counter(
        &m,
        names::CACHE_EVICTIONS,
        &[("cache", "m-cache"), ("cause", "size")],
    );
    let removed = counter(
        &m,
        names::CACHE_EVICTIONS,
        &[("cache", "m-cache"), ("cause", "removed")],
    );
    assert_eq!((size, removed), (cs.evicted_capacity, cs.evicted_explicit));
    assert!(size > 0);
    assert_eq!(
        gauge(&m, names::CACHE_ENTRIES, &c),
        cs.resident_entries as f64
    );
    let t = [("tier", "m-tier")];
    assert_eq!(counter(&m, names::TIER_HITS, &t), ts.hits);
    assert_eq!(counter(&m, names::TIER_MISSES, &t), ts.misses);
    assert_eq!(counter(&m, names::TIER_LOWER_READS, &t), ts.lower_reads);
    assert_eq!(counter(&m, names::TIER_FILLS, &t), ts.fills);
    assert!(ts.lower_reads > 0);
    // The spawned reporter publishes again as the counters move.
    tiered.get(b"a").await.unwrap();
    let task = reporter.spawn(std::time::Duration::from_millis(1));
    let want = tiered.stats().hits;
    bounded("the reporter's next round", async {
        while counter(&snapshot(), names::TIER_HITS, &t) != want {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    })
    .await;
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redb_commits_fsyncs_and_group_sizes_are_recorded_as_they_happen() {
    let _turn = exclusive().await;
    let dir = tempfile::tempdir().unwrap();
    let store = RedbBackend::builder(dir.path().join("m.redb"))
        .sync_mode(SyncMode::Full)
        .open()
        .await
        .unwrap();
    for i in 0..5u32 {
        bounded("a put", store.put(format!("k{i}").into(), "v".into()))
            .await
            .unwrap();
    }
    let m = snapshot();
    assert!(counter(&m, names::REDB_COMMITS, &[]) >= 5);
    assert!(
        counter(&m, names::REDB_FSYNCS, &[]) >= 5,
        "Full fsyncs every commit"
    );
    match find(&m, names::REDB_GROUP_SIZE, &[]).as_slice() {
        [(_, DebugValue::Histogram(sizes))] => assert!(sizes.iter().any(|s| s.into_inner() >= 1.0)),
        other => panic!("{other:?}"),
    }
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_calls_record_their_time_and_failures() {
    let _turn = exclusive().await;
    let server = strata_tests::sqld::Sqld::start();
    let remote = strata_turso::TursoBackend::builder(server.url())
        .auth_token(server.token(strata_tests::sqld::Access::ReadWrite))
        .open()
        .await
        .unwrap();
    bounded("a remote put", remote.put("k".into(), "v".into()))
        .await
        .unwrap();
    bounded("a remote get", remote.get(b"k")).await.unwrap();
    let m = snapshot();
    match find(&m, names::REMOTE_CALL_SECONDS, &[("op", "get")]).as_slice() {
        [(_, DebugValue::Histogram(times))] => {
            assert!(!times.is_empty());
            assert!(
                times
                    .iter()
                    .all(|t| t.into_inner() > 0.0 && t.into_inner() < 30.0)
            );
        }
        other => panic!("{other:?}"),
    }
    let reader = strata_turso::TursoBackend::builder(server.url())
        .auth_token(server.token(strata_tests::sqld::Access::ReadOnly))
        .open()
        .await
        .unwrap();
    bounded("a refused write", reader.put("k".into(), "w".into()))
        .await
        .unwrap_err();
    let m = snapshot();
    assert!(
        counter(
            &m,
            names::REMOTE_ERRORS,
            &[("op", "put"), ("kind", "forbidden")]
        ) >= 1
    );
    assert_eq!(
        gauge(&m, names::REMOTE_BREAKER_OPEN, &[]),
        0.0,
        "a refusal is not an outage"
    );
    // A call whose future is dropped (a caller's timeout) still counts, as cancelled.
    let mut server = server;
    let patient = strata_turso::TursoBackend::builder(server.url())
        .auth_token(server.token(strata_tests::sqld::Access::ReadWrite))
        .resilience(
            strata_turso::ResilienceConfig::default()
                .max_attempts(10)
                .backoff_base(std::time::Duration::from_secs(1))
                .backoff_max(std::time::Duration::from_secs(1)),
        )
        .open()
        .await
        .unwrap();
    server.kill();
    let gave_up =
        tokio::time::timeout(std::time::Duration::from_millis(300), patient.get(b"k")).await;
    assert!(gave_up.is_err(), "the call was still retrying: {gave_up:?}");
    let m = snapshot();
    assert_eq!(
        counter(
            &m,
            names::REMOTE_ERRORS,
            &[("op", "get"), ("kind", "cancelled")]
        ),
        1
    );
}
