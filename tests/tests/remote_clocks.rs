//! Devices whose clocks disagree, against a real sqld: once a write is acknowledged, every
//! handle reads it, whatever the clocks say (the server arbitrates online writes). Each
//! device is a `TursoBackend` handle with its own node id and a wall clock shifted by a set
//! amount (an injected clock: libfaketime would shift the whole test process).
#![cfg(feature = "remote")] // on by default; only the fuzz build turns it off

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rand::{Rng, SeedableRng};
use strata::StorageBackend;
use strata_tests::deadline::{LIMIT, bounded};
use strata_tests::sqld::{Access, Sqld};
use strata_turso::{SystemClock, TursoBackend, WallClock};

const HOUR: i64 = 3_600_000;

/// The system clock shifted by `offset_ms`.
#[derive(Debug)]
struct Shifted(i64);

impl WallClock for Shifted {
    fn now_ms(&self) -> u64 {
        SystemClock.now_ms().saturating_add_signed(self.0)
    }
}

/// A device: a handle on `sqld` with node `node` and a clock `offset_ms` off.
async fn device(sqld: &Sqld, node: u64, offset_ms: i64, keyspace: &str) -> TursoBackend {
    let open = TursoBackend::builder(sqld.url())
        .auth_token(sqld.token(Access::ReadWrite))
        .node_id(node)
        .wall_clock(Arc::new(Shifted(offset_ms)))
        .open();
    let store = tokio::time::timeout(LIMIT, open)
        .await
        .expect("open in time")
        .expect("open");
    store.keyspace(keyspace).unwrap()
}

async fn read(store: &TursoBackend, key: &str) -> Option<Bytes> {
    bounded("get", store.get(key.as_bytes())).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_whose_clock_is_behind_keeps_its_writes() {
    let sqld = Sqld::start();
    for (i, behind) in [HOUR, 5_000].into_iter().enumerate() {
        let ks = format!("behind{i}");
        let a = device(&sqld, 1, 0, &ks).await;
        let b = device(&sqld, 2, -behind, &ks).await;
        bounded("put", a.put("k".into(), "a".into())).await.unwrap();
        let before = bounded("record_version", a.record_version(b"k"))
            .await
            .unwrap()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        bounded("put", b.put("k".into(), "b".into())).await.unwrap();
        for (name, handle) in [("A", &a), ("B", &b)] {
            assert_eq!(
                read(handle, "k").await.as_deref(),
                Some(&b"b"[..]),
                "{name} after B ({behind} ms behind) put b"
            );
        }
        let after = bounded("record_version", b.record_version(b"k"))
            .await
            .unwrap()
            .unwrap();
        assert!(
            after.timestamp > before.timestamp,
            "{after:?} over {before:?}"
        );
        assert_eq!(after.node, 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_whose_clock_is_ahead_does_not_block_the_others() {
    let sqld = Sqld::start();
    for (i, ahead) in [HOUR, 59 * 60_000, 61 * 60_000].into_iter().enumerate() {
        let ks = format!("ahead{i}");
        let a = device(&sqld, 1, 0, &ks).await;
        let b = device(&sqld, 2, ahead, &ks).await;
        bounded("put", b.put("k".into(), "b".into())).await.unwrap();
        bounded("put", a.put("k".into(), "c".into())).await.unwrap();
        for (name, handle) in [("A", &a), ("B", &b)] {
            assert_eq!(
                read(handle, "k").await.as_deref(),
                Some(&b"c"[..]),
                "{name} after A put c over B ({ahead} ms ahead)"
            );
        }
        // A's clock was dragged no further than the skew gate allows.
        assert_eq!(
            a.clock_skew_clamps(),
            1,
            "the version from {ahead} ms ahead was clamped"
        );
        bounded("put", b.put("k".into(), "b2".into()))
            .await
            .unwrap();
        assert!(
            bounded("delete", a.delete(b"k")).await.unwrap(),
            "the key existed on the server"
        );
        assert_eq!(read(&b, "k").await, None, "A's delete is what B reads");
        assert!(
            bounded("record_version", a.record_version(b"k"))
                .await
                .unwrap()
                .unwrap()
                .deleted
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_the_clock_stepped_back_keeps_the_new_write() {
    let sqld = Sqld::start();
    let before = device(&sqld, 7, 0, "restart").await;
    bounded("put", before.put("k".into(), "old".into()))
        .await
        .unwrap();
    drop(before);
    let after = device(&sqld, 7, -10 * 60_000, "restart").await;
    bounded("put", after.put("k".into(), "new".into()))
        .await
        .unwrap();
    assert_eq!(read(&after, "k").await.as_deref(), Some(&b"new"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_file_keeps_the_node_and_the_clock_across_restarts() {
    let sqld = Sqld::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.clock");
    let open = |offset: i64| {
        TursoBackend::builder(sqld.url())
            .auth_token(sqld.token(Access::ReadWrite))
            .clock_file(&path)
            .wall_clock(Arc::new(Shifted(offset)))
            .open()
    };
    let first = bounded("open", open(0)).await.unwrap();
    for i in 0..50 {
        bounded("put", first.put(format!("k{i}").into(), "v".into()))
            .await
            .unwrap();
    }
    let last = bounded("record_version", first.record_version(b"k49"))
        .await
        .unwrap()
        .unwrap();
    let node = first.node_id();
    drop(first);
    // Restarted with the wall clock ten minutes back, writing a key nobody else wrote: only
    // the clock file can keep its version above the ones issued before.
    let second = bounded("open", open(-10 * 60_000)).await.unwrap();
    assert_eq!(second.node_id(), node, "the node id is persisted");
    assert!(node >= 1 << 32, "a random node id is wide: {node}");
    bounded("put", second.put("fresh".into(), "v".into()))
        .await
        .unwrap();
    let fresh = bounded("record_version", second.record_version(b"fresh"))
        .await
        .unwrap()
        .unwrap();
    assert!(
        fresh.timestamp > last.timestamp,
        "{fresh:?} not above {last:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_of_a_key_the_server_never_held_leaves_a_tombstone() {
    let sqld = Sqld::start();
    let a = device(&sqld, 1, 0, "tomb").await;
    assert!(!bounded("delete", a.delete(b"never")).await.unwrap());
    let record = bounded("record_version", a.record_version(b"never"))
        .await
        .unwrap();
    assert!(record.is_some_and(|r| r.deleted), "{record:?}");
    assert!(
        !bounded("delete", a.delete(b"never")).await.unwrap(),
        "a tombstone is not a key"
    );
    bounded("put", a.put("never".into(), "now".into()))
        .await
        .unwrap();
    assert!(bounded("delete", a.delete(b"never")).await.unwrap());
}

/// Two devices with clocks `offset` apart interleave puts and deletes on shared keys; after
/// every acknowledged write both read it, and every delete says whether the key was there.
async fn interleave(sqld: &Sqld, offset: i64, seed: u64) {
    // One keyspace per offset, its sign included: each run starts from an empty model.
    let sign = if offset < 0 { "behind" } else { "ahead" };
    let ks = format!("mix_{sign}_{}", offset.unsigned_abs());
    let devices = [
        device(sqld, 11, 0, &ks).await,
        device(sqld, 12, offset, &ks).await,
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut model: std::collections::HashMap<String, String> = Default::default();
    for step in 0..150 {
        let writer = &devices[rng.random_range(0..2)];
        let key = format!("k{}", rng.random_range(0..6));
        if rng.random_bool(0.3) {
            let existed = bounded("delete", writer.delete(key.as_bytes()))
                .await
                .unwrap();
            assert_eq!(
                existed,
                model.remove(&key).is_some(),
                "offset {offset}, step {step}: delete({key}) said whether it existed"
            );
        } else {
            let value = format!("v{step}");
            bounded("put", writer.put(key.clone().into(), value.clone().into()))
                .await
                .unwrap();
            model.insert(key.clone(), value);
        }
        for (d, handle) in devices.iter().enumerate() {
            assert_eq!(
                read(handle, &key).await,
                model.get(&key).map(|v| Bytes::from(v.clone())),
                "offset {offset}, step {step}: device {d} reads {key} (seed {seed})"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_with_skewed_clocks_interleaving_writes_lose_none() {
    let sqld = Sqld::start();
    let seed: u64 = rand::random();
    for offset in [HOUR, -HOUR, 5_000, -5_000, 0] {
        interleave(&sqld, offset, seed).await;
    }
}

/// The table as Strata wrote it before versions had a node column (format 1).
const FORMAT_1_SCHEMA: &str = "\
CREATE TABLE IF NOT EXISTS strata_kv (
    keyspace TEXT NOT NULL,
    key BLOB NOT NULL,
    value BLOB,
    version INTEGER NOT NULL,
    seq INTEGER NOT NULL DEFAULT 0,
    deleted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (keyspace, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS strata_kv_seq ON strata_kv (seq);
CREATE TRIGGER IF NOT EXISTS strata_kv_seq_insert AFTER INSERT ON strata_kv BEGIN
    UPDATE strata_kv SET seq = (SELECT COALESCE(MAX(seq), 0) + 1 FROM strata_kv)
        WHERE keyspace = NEW.keyspace AND key = NEW.key;
END;
CREATE TRIGGER IF NOT EXISTS strata_kv_seq_update AFTER UPDATE OF value, version, deleted ON strata_kv BEGIN
    UPDATE strata_kv SET seq = (SELECT COALESCE(MAX(seq), 0) + 1 FROM strata_kv)
        WHERE keyspace = NEW.keyspace AND key = NEW.key;
END;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_written_in_format_1_migrates_once_and_keeps_its_order() {
    use strata_turso::hlc::{COUNTER_BITS, EPOCH_MS};
    let sqld = Sqld::start();
    let db = libsql::Builder::new_remote(sqld.url(), sqld.token(Access::ReadWrite))
        .build()
        .await
        .unwrap();
    let conn = db.connect().unwrap();
    bounded("old schema", conn.execute_batch(FORMAT_1_SCHEMA))
        .await
        .unwrap();
    let now = SystemClock.now_ms() - 60_000;
    // Format 1 packed `((ms << 14 | counter) << 10) | node`.
    let old = |ms: u64, counter: u64, node: u64| ((((ms - EPOCH_MS) << 14) | counter) << 10) | node;
    let rows: [(&str, Option<&str>, u64); 3] = [
        ("a", Some("one"), old(now, 3, 5)),
        ("b", None, old(now + 10, 0, 9)),
        ("c", Some("three"), old(now + 20, 16_383, 1_023)),
    ];
    for (key, value, version) in rows {
        let value = value.map_or(libsql::Value::Null, |v| libsql::Value::Blob(v.into()));
        let deleted = i64::from(matches!(value, libsql::Value::Null));
        let insert = conn.execute(
            "INSERT INTO strata_kv (keyspace, key, value, version, deleted) VALUES ('default', ?1, ?2, ?3, ?4)",
            libsql::params![key.as_bytes().to_vec(), value, version as i64, deleted],
        );
        bounded("insert", insert).await.unwrap();
    }
    let store = device(&sqld, 77, 0, "default").await;
    assert_eq!(read(&store, "a").await.as_deref(), Some(&b"one"[..]));
    assert_eq!(read(&store, "b").await, None);
    let rebased = |ms: u64, counter: u64| ((ms - EPOCH_MS) << COUNTER_BITS) | counter;
    let a = bounded("record_version", store.record_version(b"a"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((a.timestamp, a.node), (rebased(now, 3), 5));
    let c = bounded("record_version", store.record_version(b"c"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((c.timestamp, c.node), (rebased(now + 20, 16_383), 1_023));
    assert!(
        bounded("record_version", store.record_version(b"b"))
            .await
            .unwrap()
            .unwrap()
            .deleted
    );
    // Writes go on over the migrated rows, and a second open does not migrate again.
    bounded("put", store.put("a".into(), "two".into()))
        .await
        .unwrap();
    assert!(
        bounded("record_version", store.record_version(b"a"))
            .await
            .unwrap()
            .unwrap()
            .timestamp
            > a.timestamp
    );
    let again = device(&sqld, 78, 0, "default").await;
    assert_eq!(
        bounded("record_version", again.record_version(b"c"))
            .await
            .unwrap()
            .unwrap()
            .timestamp,
        c.timestamp
    );
    assert_eq!(read(&again, "a").await.as_deref(), Some(&b"two"[..]));
    let mut format = bounded(
        "format",
        conn.query("SELECT value FROM strata_meta WHERE name = 'format'", ()),
    )
    .await
    .unwrap();
    let row = bounded("format row", format.next())
        .await
        .unwrap()
        .expect("a format record");
    assert_eq!(row.get::<i64>(0).unwrap(), 2);
}
