//! The conformance cases. Each panics (via `assert!`) on a violation, with a message that
//! says what the backend did wrong.

use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;

use super::{CaseContext, Harness};
use crate::{DynBackend, ErrorKind, KeyRange, StorageBackend, WriteBatch};

async fn open(h: &dyn Harness) -> DynBackend {
    h.open().await.expect("the harness must open the store")
}

fn b(s: impl AsRef<[u8]>) -> Bytes {
    Bytes::copy_from_slice(s.as_ref())
}

/// Writes `n` keys `prefix + 000i` with value `v000i`, returning the keys in order.
async fn put_numbered(store: &DynBackend, ctx: &CaseContext, n: usize) -> Vec<Bytes> {
    let mut batch = WriteBatch::new();
    let mut keys = Vec::with_capacity(n);
    for i in 0..n {
        let key = ctx.key(format!("{i:04}"));
        batch.put(key.clone(), b(format!("v{i:04}")));
        keys.push(key);
    }
    store.write_batch(batch).await.expect("write_batch");
    keys
}

fn keys_of(entries: &[(Bytes, Bytes)]) -> Vec<Bytes> {
    entries.iter().map(|(k, _)| k.clone()).collect()
}

/// A value written is read back.
pub async fn put_then_get(h: &dyn Harness) {
    let (store, ctx) = (open(h).await, CaseContext::new("put_then_get"));
    store.put(ctx.key("a"), b("alpha")).await.unwrap();
    assert_eq!(store.get(&ctx.key("a")).await.unwrap(), Some(b("alpha")));
}

/// A missing key is `Ok(None)`, not an error.
pub async fn get_missing(h: &dyn Harness) {
    let (store, ctx) = (open(h).await, CaseContext::new("get_missing"));
    assert_eq!(store.get(&ctx.key("nope")).await.unwrap(), None);
}

/// A second put replaces the value.
pub async fn overwrite(h: &dyn Harness) {
    let (store, ctx) = (open(h).await, CaseContext::new("overwrite"));
    store.put(ctx.key("k"), b("one")).await.unwrap();
    store.put(ctx.key("k"), b("two, longer")).await.unwrap();
    store.put(ctx.key("k"), b("3")).await.unwrap();
    assert_eq!(store.get(&ctx.key("k")).await.unwrap(), Some(b("3")));
}

/// Deleting a present key removes it and reports `true`.
pub async fn delete_present(h: &dyn Harness) {
    let (store, ctx) = (open(h).await, CaseContext::new("delete_present"));
    store.put(ctx.key("k"), b("v")).await.unwrap();
    assert!(
        store.delete(&ctx.key("k")).await.unwrap(),
        "delete of a present key must say true"
    );
    assert_eq!(store.get(&ctx.key("k")).await.unwrap(), None);
}

/// Deleting a missing key succeeds and reports `false`.
pub async fn delete_missing(h: &dyn Harness) {
    let (store, ctx) = (open(h).await, CaseContext::new("delete_missing"));
    assert!(!store.delete(&ctx.key("never")).await.unwrap());
    store.put(ctx.key("k"), b("v")).await.unwrap();
    assert!(store.delete(&ctx.key("k")).await.unwrap());
    assert!(
        !store.delete(&ctx.key("k")).await.unwrap(),
        "a second delete must say false"
    );
}

/// An empty value is stored and is distinct from a missing key.
pub async fn empty_value(h: &dyn Harness) {
    let (store, ctx) = (open(h).await, CaseContext::new("empty_value"));
    store.put(ctx.key("e"), Bytes::new()).await.unwrap();
    assert_eq!(store.get(&ctx.key("e")).await.unwrap(), Some(Bytes::new()));
    let many = store
        .get_many(&[ctx.key("e"), ctx.key("missing")])
        .await
        .unwrap();
    assert_eq!(many, vec![Some(Bytes::new()), None]);
}

/// The empty key is a key like any other (tested in its own keyspace so it cannot collide).
pub async fn empty_key(h: &dyn Harness) {
    let ctx = CaseContext::new("empty_key");
    let name = format!("empty-key-{}", &hex_tail(&ctx.prefix()));
    let store = open(h).await.keyspace(&name).unwrap();
    store.put(Bytes::new(), b("nothing")).await.unwrap();
    assert_eq!(store.get(b"").await.unwrap(), Some(b("nothing")));
    let all = store.scan(KeyRange::all(), None).await.unwrap();
    assert_eq!(all, vec![(Bytes::new(), b("nothing"))]);
    assert!(store.delete(b"").await.unwrap());
}

fn hex_tail(prefix: &[u8]) -> String {
    // The random tag is the 16 hex digits before the trailing '/'.
    let text = String::from_utf8_lossy(prefix);
    text.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("0")
        .to_string()
}

/// Keys holding 0x00 and 0xFF bytes are stored, read and ordered as bytes.
pub async fn binary_keys(h: &dyn Harness) {
    let (store, ctx) = (open(h).await, CaseContext::new("binary_keys"));
    let keys = [
        ctx.key([0x00]),
        ctx.key([0x00, 0x00]),
        ctx.key([0x7F, 0x00]),
        ctx.key([0xFF]),
        ctx.key([0xFF, 0xFF, 0x00]),
    ];
    for (i, key) in keys.iter().enumerate() {
        store
            .put(key.clone(), b([i as u8, 0x00, 0xFF]))
            .await
            .unwrap();
    }
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(
            store.get(key).await.unwrap(),
            Some(b([i as u8, 0x00, 0xFF])),
            "key {key:?}"
        );
    }
    let scanned = store
        .scan(KeyRange::prefix(ctx.prefix()), None)
        .await
        .unwrap();
    assert_eq!(
        keys_of(&scanned),
        keys.to_vec(),
        "binary keys must scan in byte order"
    );
}

/// Every byte value survives a round trip, in keys and values.
pub async fn all_byte_values(h: &dyn Harness) {
    let (store, ctx) = (open(h).await, CaseContext::new("all_byte_values"));
    let all: Vec<u8> = (0..=255u8).collect();
    store.put(ctx.key(&all), b(&all)).await.unwrap();
    assert_eq!(store.get(&ctx.key(&all)).await.unwrap(), Some(b(&all)));
}

/// A value exactly at the backend's size limit is accepted and read back whole.
pub async fn value_at_limit(h: &dyn Harness) {
    let (store, ctx) = (open(h).await, CaseContext::new("value_at_limit"));
    let max = store.capabilities().max_value_size;
    let value: Bytes = (0..max)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into();
    store.put(ctx.key("big"), value.clone()).await.unwrap();
    let got = store
        .get(&ctx.key("big"))
        .await
        .unwrap()
        .expect("value at limit must be stored");
    assert_eq!(got.len(), max);
    assert!(got == value, "value at the limit came back altered");
}

/// A key exactly at the backend's size limit is accepted.
pub async fn key_at_limit(h: &dyn Harness) {
    let (store, ctx) = (open(h).await, CaseContext::new("key_at_limit"));
    let max = store.capabilities().max_key_size;
    let mut key = ctx.prefix().to_vec();
    assert!(
        key.len() < max,
        "the key limit must leave room for a test prefix"
    );
    key.resize(max, b'k');
    store.put(b(&key), b("v")).await.unwrap();
    assert_eq!(store.get(&key).await.unwrap(), Some(b("v")));
}

/// A key one byte over the limit is refused with `InvalidInput` by every operation.
pub async fn oversized_key_rejected(h: &dyn Harness) {
    let (store, ctx) = (open(h).await, CaseContext::new("oversized_key_rejected"));
    let max = store.capabilities().max_key_size;
    let mut key = ctx.prefix().to_vec();
    key.resize(max + 1, b'k');
    let key = b(&key);
    let kind = store.put(key.clone(), b("v")).await.unwrap_err().kind();
    assert_eq!(kind, ErrorKind::InvalidInput, "put");
    assert_eq!(
        store.get(&key).await.unwrap_err().kind(),
        ErrorKind::InvalidInput,
        "get"
    );
    assert_eq!(
        store.delete(&key).await.unwrap_err().kind(),
        ErrorKind::InvalidInput,
        "delete"
    );
    let scanned = store
        .scan(KeyRange::prefix(ctx.prefix()), None)
        .await
        .unwrap();
    assert!(scanned.is_empty(), "a refused put must store nothing");
}

/// A value one byte over the limit is refused with `InvalidInput` and stores nothing.
pub async fn oversized_value_rejected(h: &dyn Harness) {
    let (store, ctx) = (open(h).await, CaseContext::new("oversized_value_rejected"));
    let max = store.capabilities().max_value_size;
    store.put(ctx.key("k"), b("old")).await.unwrap();
    let err = store
        .put(ctx.key("k"), Bytes::from(vec![7u8; max + 1]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert!(!err.is_transient(), "bad input is not transient");
    assert_eq!(
        store.get(&ctx.key("k")).await.unwrap(),
        Some(b("old")),
        "no truncated write"
    );
}

/// `get_many` answers in the order asked, `None` for misses.
pub async fn get_many_hits_and_misses(h: &dyn Harness) {
    let (store, ctx) = (open(h).await, CaseContext::new("get_many_hits_and_misses"));
    let keys = put_numbered(&store, &ctx, 10).await;
    let ask = vec![
        keys[3].clone(),
        ctx.key("x"),
        keys[0].clone(),
        keys[9].clone(),
        ctx.key("y"),
    ];
    let got = store.get_many(&ask).await.unwrap();
    assert_eq!(
        got,
        vec![
            Some(b("v0003")),
            None,
            Some(b("v0000")),
            Some(b("v0009")),
            None
        ]
    );
}

/// `get_many` of nothing is empty; a key asked twice is answered twice.
pub async fn get_many_empty_and_duplicates(h: &dyn Harness) {
    let (store, ctx) = (
        open(h).await,
        CaseContext::new("get_many_empty_and_duplicates"),
    );
    assert!(store.get_many(&[]).await.unwrap().is_empty());
    store.put(ctx.key("d"), b("dup")).await.unwrap();
    let got = store
        .get_many(&[ctx.key("d"), ctx.key("d"), ctx.key("m"), ctx.key("d")])
        .await
        .unwrap();
    assert_eq!(
        got,
        vec![Some(b("dup")), Some(b("dup")), None, Some(b("dup"))]
    );
}

/// `get_many` refuses an oversized key with `InvalidInput`.
pub async fn get_many_oversized_key_rejected(h: &dyn Harness) {
    let (store, ctx) = (
        open(h).await,
        CaseContext::new("get_many_oversized_key_rejected"),
    );
    let huge = Bytes::from(vec![b'k'; store.capabilities().max_key_size + 1]);
    let err = store.get_many(&[ctx.key("ok"), huge]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

/// A batch of puts and deletes applies every operation.
pub async fn write_batch_applies_all(h: &dyn Harness) {
    let (store, ctx) = (open(h).await, CaseContext::new("write_batch_applies_all"));
    store.put(ctx.key("gone"), b("x")).await.unwrap();
    let mut batch = WriteBatch::new();
    batch
        .put(ctx.key("a"), b("1"))
        .put(ctx.key("b"), b("2"))
        .delete(ctx.key("gone"));
    store.write_batch(batch).await.unwrap();
    let got = store
        .get_many(&[ctx.key("a"), ctx.key("b"), ctx.key("gone")])
        .await
        .unwrap();
    assert_eq!(got, vec![Some(b("1")), Some(b("2")), None]);
}

/// A batch holding one invalid operation fails with `InvalidInput` and applies nothing.
pub async fn write_batch_is_atomic_on_invalid_op(h: &dyn Harness) {
    let (store, ctx) = (
        open(h).await,
        CaseContext::new("write_batch_is_atomic_on_invalid_op"),
    );
    let caps = store.capabilities();
    assert!(caps.atomic_batch, "this case needs atomic batches");
    store.put(ctx.key("keep"), b("before")).await.unwrap();
    let mut batch = WriteBatch::new();
    batch
        .put(ctx.key("new"), b("1"))
        .delete(ctx.key("keep"))
        .put(
            ctx.key("huge"),
            Bytes::from(vec![0u8; caps.max_value_size + 1]),
        )
        .put(ctx.key("after"), b("2"));
    let err = store.write_batch(batch).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    let got = store
        .get_many(&[
            ctx.key("new"),
            ctx.key("keep"),
            ctx.key("huge"),
            ctx.key("after"),
        ])
        .await
        .unwrap();
    assert_eq!(
        got,
        vec![None, Some(b("before")), None, None],
        "a failed batch must apply nothing"
    );
}

/// Within a batch, a later operation on the same key wins.
pub async fn write_batch_later_op_wins(h: &dyn Harness) {
    let (store, ctx) = (open(h).await, CaseContext::new("write_batch_later_op_wins"));
    let mut batch = WriteBatch::new();
    batch
        .put(ctx.key("a"), b("first"))
        .put(ctx.key("a"), b("second"))
        .put(ctx.key("b"), b("x"))
        .delete(ctx.key("b"))
        .delete(ctx.key("c"))
        .put(ctx.key("c"), b("back"));
    store.write_batch(batch).await.unwrap();
    let got = store
        .get_many(&[ctx.key("a"), ctx.key("b"), ctx.key("c")])
        .await
        .unwrap();
    assert_eq!(got, vec![Some(b("second")), None, Some(b("back"))]);
}

/// An empty batch succeeds and changes nothing.
pub async fn write_batch_empty(h: &dyn Harness) {
    let (store, ctx) = (open(h).await, CaseContext::new("write_batch_empty"));
    store.write_batch(WriteBatch::new()).await.unwrap();
    assert!(
        store
            .scan(KeyRange::prefix(ctx.prefix()), None)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A batch of 1,000 puts applies whole.
pub async fn write_batch_large(h: &dyn Harness) {
    let (store, ctx) = (open(h).await, CaseContext::new("write_batch_large"));
    let keys = put_numbered(&store, &ctx, 1000).await;
    let got = store.get_many(&keys).await.unwrap();
    assert!(
        got.iter()
            .enumerate()
            .all(|(i, v)| v.as_deref() == Some(format!("v{i:04}").as_bytes()))
    );
    assert_eq!(
        store
            .scan(KeyRange::prefix(ctx.prefix()), None)
            .await
            .unwrap()
            .len(),
        1000
    );
}

/// Scans return keys in ascending byte order whatever the insertion order.
pub async fn scan_order(h: &dyn Harness) {
    let (store, ctx) = (open(h).await, CaseContext::new("scan_order"));
    for suffix in ["m", "a", "z", "b", "aa", "A", "0"] {
        store.put(ctx.key(suffix), b(suffix)).await.unwrap();
    }
    let got = store
        .scan(KeyRange::prefix(ctx.prefix()), None)
        .await
        .unwrap();
    let expected: Vec<Bytes> = ["0", "A", "a", "aa", "b", "m", "z"]
        .iter()
        .map(|s| ctx.key(s))
        .collect();
    assert_eq!(keys_of(&got), expected);
    assert!(
        got.iter().all(|(k, v)| k.ends_with(v)),
        "values must travel with their keys"
    );
}

/// Included and excluded bounds are honoured at both ends.
pub async fn scan_bounds(h: &dyn Harness) {
    let (store, ctx) = (open(h).await, CaseContext::new("scan_bounds"));
    let keys = put_numbered(&store, &ctx, 10).await;
    let range = |s: Bound<usize>, e: Bound<usize>| {
        let map = |bound: Bound<usize>| match bound {
            Bound::Included(i) => Bound::Included(keys[i].clone()),
            Bound::Excluded(i) => Bound::Excluded(keys[i].clone()),
            Bound::Unbounded => Bound::Unbounded,
        };
        KeyRange::new(map(s), map(e))
    };
    let cases = [
        (range(Bound::Included(2), Bound::Excluded(5)), 2..5),
        (range(Bound::Excluded(2), Bound::Included(5)), 3..6),
        (range(Bound::Included(2), Bound::Included(2)), 2..3),
        (range(Bound::Excluded(7), Bound::Unbounded), 8..10),
    ];
    for (r, want) in cases {
        let got = store.scan(r.clone(), None).await.unwrap();
        // Unbounded ends may reach other cases' keys in a shared store; keep ours.
        let ours: Vec<Bytes> = keys_of(&got)
            .into_iter()
            .filter(|k| k.starts_with(&ctx.prefix()))
            .collect();
        assert_eq!(ours, keys[want.clone()].to_vec(), "range {r:?}");
    }
}

/// `limit` caps the number of entries, taking the smallest keys.
pub async fn scan_limit(h: &dyn Harness) {
    let (store, ctx) = (open(h).await, CaseContext::new("scan_limit"));
    let keys = put_numbered(&store, &ctx, 20).await;
    let range = KeyRange::prefix(ctx.prefix());
    assert_eq!(
        keys_of(&store.scan(range.clone(), Some(5)).await.unwrap()),
        keys[..5].to_vec()
    );
    assert!(
        store.scan(range.clone(), Some(0)).await.unwrap().is_empty(),
        "limit 0 yields nothing"
    );
    assert_eq!(
        store.scan(range.clone(), Some(100)).await.unwrap().len(),
        20
    );
    let from_ten = KeyRange::between(keys[10].clone(), ctx.key("~"));
    assert_eq!(
        keys_of(&store.scan(from_ten, Some(3)).await.unwrap()),
        keys[10..13].to_vec()
    );
}

/// A prefix scan returns exactly the keys with that prefix.
pub async fn scan_prefix(h: &dyn Harness) {
    let (store, ctx) = (open(h).await, CaseContext::new("scan_prefix"));
    for suffix in ["app", "apple", "apply", "apq", "ap", "b", "a"] {
        store.put(ctx.key(suffix), b(suffix)).await.unwrap();
    }
    let got = store
        .scan(KeyRange::prefix(ctx.key("app")), None)
        .await
        .unwrap();
    assert_eq!(
        keys_of(&got),
        vec![ctx.key("app"), ctx.key("apple"), ctx.key("apply")]
    );
    assert!(
        store
            .scan(KeyRange::prefix(ctx.key("zzz")), None)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A prefix ending in 0xFF bytes still bounds the scan correctly.
pub async fn scan_prefix_with_ff(h: &dyn Harness) {
    let (store, ctx) = (open(h).await, CaseContext::new("scan_prefix_with_ff"));
    let inside = [
        ctx.key([0x01, 0xFF]),
        ctx.key([0x01, 0xFF, 0x00]),
        ctx.key([0x01, 0xFF, 0xFF]),
    ];
    let outside = [
        ctx.key([0x01, 0xFE, 0xFF]),
        ctx.key([0x02]),
        ctx.key([0x01]),
    ];
    for key in inside.iter().chain(outside.iter()) {
        store.put(key.clone(), b("v")).await.unwrap();
    }
    let got = store
        .scan(KeyRange::prefix(ctx.key([0x01, 0xFF])), None)
        .await
        .unwrap();
    assert_eq!(keys_of(&got), inside.to_vec());
}

/// A range whose start is after its end is empty, without error.
pub async fn scan_inverted_range_is_empty(h: &dyn Harness) {
    let (store, ctx) = (
        open(h).await,
        CaseContext::new("scan_inverted_range_is_empty"),
    );
    put_numbered(&store, &ctx, 5).await;
    let inverted = KeyRange::between(ctx.key("0003"), ctx.key("0001"));
    assert!(store.scan(inverted, None).await.unwrap().is_empty());
    let empty = KeyRange::between(ctx.key("0002"), ctx.key("0002"));
    assert!(store.scan(empty, None).await.unwrap().is_empty());
    let excl = KeyRange::new(
        Bound::Excluded(ctx.key("0002")),
        Bound::Excluded(ctx.key("0002")),
    );
    assert!(store.scan(excl, None).await.unwrap().is_empty());
}

/// Deleted keys disappear from scans.
pub async fn scan_sees_deletes(h: &dyn Harness) {
    let (store, ctx) = (open(h).await, CaseContext::new("scan_sees_deletes"));
    let keys = put_numbered(&store, &ctx, 6).await;
    store.delete(&keys[1]).await.unwrap();
    let mut batch = WriteBatch::new();
    batch.delete(keys[4].clone());
    store.write_batch(batch).await.unwrap();
    let got = store
        .scan(KeyRange::prefix(ctx.prefix()), None)
        .await
        .unwrap();
    assert_eq!(
        keys_of(&got),
        vec![
            keys[0].clone(),
            keys[2].clone(),
            keys[3].clone(),
            keys[5].clone()
        ]
    );
}

/// Keyspaces never see each other's keys; the same name reopens the same data.
pub async fn keyspace_isolation(h: &dyn Harness) {
    let ctx = CaseContext::new("keyspace_isolation");
    let root = open(h).await;
    let tag = hex_tail(&ctx.prefix());
    let episodes = root.keyspace(&format!("episodes-{tag}")).unwrap();
    let patterns = root.keyspace(&format!("patterns-{tag}")).unwrap();
    episodes.put(b("shared-key"), b("episode")).await.unwrap();
    patterns.put(b("shared-key"), b("pattern")).await.unwrap();
    assert_eq!(
        episodes.get(b"shared-key").await.unwrap(),
        Some(b("episode"))
    );
    assert_eq!(
        patterns.get(b"shared-key").await.unwrap(),
        Some(b("pattern"))
    );
    assert_eq!(
        root.get(b"shared-key").await.unwrap(),
        None,
        "the default keyspace is separate"
    );
    assert_eq!(patterns.scan(KeyRange::all(), None).await.unwrap().len(), 1);
    patterns.delete(b"shared-key").await.unwrap();
    assert_eq!(
        episodes.get(b"shared-key").await.unwrap(),
        Some(b("episode"))
    );
    let again = root.keyspace(&format!("episodes-{tag}")).unwrap();
    assert_eq!(again.get(b"shared-key").await.unwrap(), Some(b("episode")));
}

/// Invalid keyspace names are refused with `InvalidInput`.
pub async fn keyspace_invalid_name_rejected(h: &dyn Harness) {
    let root = open(h).await;
    for bad in ["", "a b", "x;drop table kv", "ks'", &"n".repeat(65)] {
        let err = root.keyspace(bad).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "name {bad:?}");
    }
}

/// 64 concurrent writers (puts and batches) lose no update.
pub async fn concurrent_writers_lose_nothing(h: &dyn Harness) {
    let (store, ctx) = (
        open(h).await,
        CaseContext::new("concurrent_writers_lose_nothing"),
    );
    const WRITERS: usize = 64;
    const EACH: usize = 8;
    let ctx = Arc::new(ctx);
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let (store, ctx) = (store.clone(), ctx.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..EACH {
                let key = ctx.key(format!("{w:02}-{i:02}"));
                if i % 2 == 0 {
                    store.put(key, b(format!("{w}:{i}"))).await.unwrap();
                } else {
                    let mut batch = WriteBatch::new();
                    batch.put(key, b(format!("{w}:{i}")));
                    store.write_batch(batch).await.unwrap();
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("writer task panicked");
    }
    let got = store
        .scan(KeyRange::prefix(ctx.prefix()), None)
        .await
        .unwrap();
    assert_eq!(got.len(), WRITERS * EACH, "lost updates under concurrency");
    for (key, value) in got {
        let tail = String::from_utf8_lossy(&key[ctx.prefix().len()..]).to_string();
        let (w, i) = tail.split_once('-').unwrap();
        let expected = format!(
            "{}:{}",
            w.parse::<usize>().unwrap(),
            i.parse::<usize>().unwrap()
        );
        assert_eq!(value, b(expected));
    }
}

/// Concurrent writes of one key leave exactly one writer's whole value.
pub async fn concurrent_same_key_last_write_is_whole(h: &dyn Harness) {
    let (store, ctx) = (open(h).await, CaseContext::new("concurrent_same_key"));
    let key = ctx.key("contended");
    let mut tasks = Vec::new();
    for w in 0..64u8 {
        let (store, key) = (store.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            store.put(key, Bytes::from(vec![w; 1000])).await.unwrap()
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let value = store.get(&key).await.unwrap().expect("a value must remain");
    assert_eq!(value.len(), 1000);
    assert!(
        value.iter().all(|&x| x == value[0]),
        "torn value: writers interleaved"
    );
}

/// `close` on one of several handles succeeds and leaves data readable through the others.
pub async fn close_succeeds_on_any_handle(h: &dyn Harness) {
    let (store, ctx) = (open(h).await, CaseContext::new("close_any_handle"));
    let other = store.clone();
    store.put(ctx.key("c"), b("v")).await.unwrap();
    store.close().await.expect("close reports success");
    assert_eq!(other.get(&ctx.key("c")).await.unwrap(), Some(b("v")));
}

/// `flush` succeeds and leaves data readable.
pub async fn flush_succeeds(h: &dyn Harness) {
    let (store, ctx) = (open(h).await, CaseContext::new("flush_succeeds"));
    store.put(ctx.key("f"), b("v")).await.unwrap();
    store.flush().await.unwrap();
    store.flush().await.unwrap();
    assert_eq!(store.get(&ctx.key("f")).await.unwrap(), Some(b("v")));
}

/// Data written, then `close`d, is there after a reopen.
pub async fn close_then_reopen_keeps_data(h: &dyn Harness) {
    let (store, ctx) = (open(h).await, CaseContext::new("close_then_reopen"));
    assert!(store.capabilities().persistent);
    store.put(ctx.key("k"), b("v")).await.unwrap();
    store.close().await.expect("close");
    let store = reopen(h, store).await;
    assert_eq!(store.get(&ctx.key("k")).await.unwrap(), Some(b("v")));
}

async fn reopen(h: &dyn Harness, store: DynBackend) -> DynBackend {
    assert!(
        store.capabilities().persistent,
        "reopen cases need a persistent backend"
    );
    drop(store);
    open(h).await
}

/// Puts survive a close and reopen.
pub async fn survives_reopen(h: &dyn Harness) {
    let (store, ctx) = (open(h).await, CaseContext::new("survives_reopen"));
    store.put(ctx.key("p"), b("persisted")).await.unwrap();
    store.put(ctx.key("q"), Bytes::new()).await.unwrap();
    let store = reopen(h, store).await;
    assert_eq!(
        store.get(&ctx.key("p")).await.unwrap(),
        Some(b("persisted"))
    );
    assert_eq!(store.get(&ctx.key("q")).await.unwrap(), Some(Bytes::new()));
}

/// A batch survives a close and reopen whole.
pub async fn batch_survives_reopen(h: &dyn Harness) {
    let (store, ctx) = (open(h).await, CaseContext::new("batch_survives_reopen"));
    let keys = put_numbered(&store, &ctx, 100).await;
    let store = reopen(h, store).await;
    assert_eq!(
        keys_of(
            &store
                .scan(KeyRange::prefix(ctx.prefix()), None)
                .await
                .unwrap()
        ),
        keys
    );
}

/// A delete survives a close and reopen.
pub async fn delete_survives_reopen(h: &dyn Harness) {
    let (store, ctx) = (open(h).await, CaseContext::new("delete_survives_reopen"));
    store.put(ctx.key("d"), b("v")).await.unwrap();
    store.flush().await.unwrap();
    store.delete(&ctx.key("d")).await.unwrap();
    let store = reopen(h, store).await;
    assert_eq!(
        store.get(&ctx.key("d")).await.unwrap(),
        None,
        "a deleted key came back"
    );
}

/// Named keyspaces survive a close and reopen, still separate.
pub async fn keyspaces_survive_reopen(h: &dyn Harness) {
    let ctx = CaseContext::new("keyspaces_survive_reopen");
    let name = format!("ks-{}", hex_tail(&ctx.prefix()));
    let store = open(h).await;
    store
        .keyspace(&name)
        .unwrap()
        .put(b("k"), b("in keyspace"))
        .await
        .unwrap();
    store.put(ctx.key("k"), b("in default")).await.unwrap();
    let store = reopen(h, store).await;
    assert_eq!(
        store.keyspace(&name).unwrap().get(b"k").await.unwrap(),
        Some(b("in keyspace"))
    );
    assert_eq!(
        store.get(&ctx.key("k")).await.unwrap(),
        Some(b("in default"))
    );
}
