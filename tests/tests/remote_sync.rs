//! The server side of offline sync against a real sqld: replayed writes resolve last-writer-
//! wins on (timestamp, node) and report what lost; a replay is a duplicate, not a change; pull
//! pages through changes in the server's order, tombstones included.
#![cfg(feature = "remote")] // on by default; only the fuzz build turns it off

use bytes::Bytes;
use strata::StorageBackend;
use strata_tests::deadline::bounded;
use strata_tests::sqld::{Access, Sqld};
use strata_turso::hlc::timestamp_at;
use strata_turso::{SyncRecord, SystemClock, TursoBackend, WallClock};

async fn open(sqld: &Sqld, keyspace: &str) -> TursoBackend {
    let open = TursoBackend::builder(sqld.url())
        .auth_token(sqld.token(Access::ReadWrite))
        .open();
    bounded("open", open)
        .await
        .unwrap()
        .keyspace(keyspace)
        .unwrap()
}

fn record(key: &str, value: Option<&str>, timestamp: u64, node: u64) -> SyncRecord {
    SyncRecord {
        key: Bytes::copy_from_slice(key.as_bytes()),
        value: value.map(|v| Bytes::copy_from_slice(v.as_bytes())),
        timestamp,
        node,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_writes_resolve_by_timestamp_then_node_and_losers_are_reported() {
    let sqld = Sqld::start();
    let store = open(&sqld, "lww").await;
    let now = timestamp_at(SystemClock.now_ms());
    let first = [
        record("a", Some("a10"), now + 10, 1),
        record("b", Some("b10"), now + 10, 1),
    ];
    let out = bounded("push", store.push(&first)).await.unwrap();
    assert_eq!(
        (out.applied, out.duplicates, out.lost.len()),
        (2, 0, 0),
        "{out:?}"
    );
    // An older write to a, a tie on b broken by the larger node, a new key c.
    let second = [
        record("a", Some("a5"), now + 5, 9),
        record("b", Some("b10-node2"), now + 10, 2),
        record("c", None, now + 1, 1),
    ];
    let out = bounded("push", store.push(&second)).await.unwrap();
    assert_eq!((out.applied, out.duplicates), (2, 0), "{out:?}");
    assert_eq!(out.lost.len(), 1, "{out:?}");
    let (key, winner) = &out.lost[0];
    assert_eq!(&key[..], b"a");
    assert_eq!((winner.timestamp, winner.node), (now + 10, 1));
    let get = |k: &'static str| bounded("get", store.get(k.as_bytes()));
    assert_eq!(get("a").await.unwrap().as_deref(), Some(&b"a10"[..]));
    assert_eq!(get("b").await.unwrap().as_deref(), Some(&b"b10-node2"[..]));
    assert_eq!(
        get("c").await.unwrap(),
        None,
        "a pushed tombstone reads as absent"
    );
    let c = bounded("record", store.record_version(b"c")).await.unwrap();
    assert!(c.is_some_and(|c| c.deleted), "{c:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_push_is_a_duplicate_not_a_change() {
    let sqld = Sqld::start();
    let store = open(&sqld, "replay").await;
    let now = timestamp_at(SystemClock.now_ms());
    let records: Vec<SyncRecord> = (0..50)
        .map(|i| record(&format!("k{i}"), Some("v"), now + i, 3))
        .collect();
    let first = bounded("push", store.push(&records)).await.unwrap();
    assert_eq!(first.applied, 50);
    let before = bounded("pull", store.pull(0, 1_000)).await.unwrap();
    let again = bounded("push", store.push(&records)).await.unwrap();
    assert_eq!(
        (again.applied, again.duplicates, again.lost.len()),
        (0, 50, 0)
    );
    let after = bounded("pull", store.pull(0, 1_000)).await.unwrap();
    assert_eq!(
        before, after,
        "a replay changes nothing, not even the change order"
    );
    let doubled = [records[0].clone(), records[0].clone()];
    let err = bounded("push", store.push(&doubled)).await.unwrap_err();
    assert_eq!(err.kind(), strata::ErrorKind::InvalidInput, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_pages_through_changes_in_order_with_tombstones() {
    let sqld = Sqld::start();
    let writer = open(&sqld, "pull").await;
    let other = open(&sqld, "elsewhere").await;
    for i in 0..7 {
        let put = writer.put(format!("k{i}").into(), format!("v{i}").into());
        bounded("put", put).await.unwrap();
    }
    bounded("put", other.put("x".into(), "not this keyspace".into()))
        .await
        .unwrap();
    bounded("put", writer.put("k1".into(), "v1b".into()))
        .await
        .unwrap();
    assert!(bounded("delete", writer.delete(b"k2")).await.unwrap());
    let reader = open(&sqld, "pull").await;
    let (mut cursor, mut seen) = (0, Vec::new());
    loop {
        let page = bounded("pull", reader.pull(cursor, 3)).await.unwrap();
        assert!(page.len() <= 3);
        if page.is_empty() {
            break;
        }
        for change in &page {
            assert!(change.seq > cursor, "pages come in change order");
            cursor = change.seq;
        }
        seen.extend(page);
    }
    // One change per key, its latest, in the order of the last writes.
    let keys: Vec<String> = seen
        .iter()
        .map(|c| String::from_utf8(c.record.key.to_vec()).unwrap())
        .collect();
    assert_eq!(keys, ["k0", "k3", "k4", "k5", "k6", "k1", "k2"]);
    let k1 = &seen[5].record;
    assert_eq!(k1.value.as_deref(), Some(&b"v1b"[..]));
    assert_eq!(k1.node, writer.node_id());
    assert_eq!(
        seen[6].record.value, None,
        "the delete comes as a tombstone"
    );
    assert!(
        bounded("pull", reader.pull(cursor, 3))
            .await
            .unwrap()
            .is_empty()
    );
    // The reader's clock moved past everything it pulled.
    let newest = seen.iter().map(|c| c.record.timestamp).max().unwrap();
    bounded("put", reader.put("mine".into(), "v".into()))
        .await
        .unwrap();
    let mine = bounded("record", reader.record_version(b"mine"))
        .await
        .unwrap()
        .unwrap();
    assert!(mine.timestamp > newest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pulled_version_far_ahead_is_clamped_by_the_skew_gate() {
    let sqld = Sqld::start();
    let store = open(&sqld, "skew").await;
    let hour_ahead = timestamp_at(SystemClock.now_ms() + 3_600_000);
    let out = bounded("push", store.push(&[record("k", Some("v"), hour_ahead, 5)]))
        .await
        .unwrap();
    assert_eq!(out.applied, 1);
    let reader = open(&sqld, "skew").await;
    let pulled = bounded("pull", reader.pull(0, 10)).await.unwrap();
    assert_eq!(pulled.len(), 1);
    assert_eq!(
        reader.clock_skew_clamps(),
        1,
        "a version an hour ahead is clamped"
    );
    // The online write still lands over it: the server arbitrates.
    bounded("put", reader.put("k".into(), "mine".into()))
        .await
        .unwrap();
    let got = bounded("get", reader.get(b"k")).await.unwrap();
    assert_eq!(got.as_deref(), Some(&b"mine"[..]));
}
