//! Typed collections: zero-copy reads through tiers, owned reads, ordered integer and string
//! keys, corrupt bytes rejected.

use bytes::Bytes;
use rkyv::{Archive, Deserialize, Serialize};
use strata::{ErrorKind, MemoryBackend, MemoryCache, StorageBackend, SyncMode, Tiered};
use strata_codecs::{Collection, Compressed};
use strata_tests::harness::redb_at;

/// An agent's episode, as in the design's benchmark record.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Episode {
    id: u64,
    started_ms: i64,
    task: String,
    steps: Vec<String>,
    tags: Vec<String>,
    embedding: Vec<f32>,
}

fn episode(id: u64) -> Episode {
    Episode {
        id,
        started_ms: 1_700_000_000_000 + id as i64,
        task: format!("summarise report {id}"),
        steps: (0..3).map(|s| format!("step {s} of {id}")).collect(),
        tags: vec!["agent".into(), format!("day-{}", id % 7)],
        embedding: (0..384).map(|i| (i as f32 + id as f32) / 384.0).collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_reads_are_zero_copy_through_tiers() {
    let dir = tempfile::tempdir().unwrap();
    let redb = redb_at(dir.path().join("typed.redb"), SyncMode::Full)
        .await
        .unwrap();
    let cache = MemoryCache::builder().max_entries(1000).build().unwrap();
    let tiered = Tiered::new(cache, Compressed::new(redb))
        .keyspace("episodes")
        .unwrap();
    let episodes: Collection<u64, Episode, _> = Collection::new(tiered);
    for id in 0..20 {
        episodes.put(&id, &episode(id)).await.unwrap();
    }
    let typed = episodes.get(&7).await.unwrap().expect("present");
    assert_eq!(typed.id, 7);
    assert_eq!(typed.task.as_str(), "summarise report 7");
    assert_eq!(typed.embedding.len(), 384);
    assert_eq!(typed.steps[2].as_str(), "step 2 of 7");
    // The archived view points into the cached buffer itself: no copy.
    let again = episodes.get(&7).await.unwrap().unwrap();
    assert_eq!(
        typed.bytes().as_ptr(),
        again.bytes().as_ptr(),
        "both hits share the cached buffer"
    );
    assert_eq!(episodes.get_owned(&7).await.unwrap(), Some(episode(7)));
    assert!(episodes.get(&99).await.unwrap().is_none());
    assert!(episodes.delete(&7).await.unwrap());
    assert!(episodes.get(&7).await.unwrap().is_none());
}

#[tokio::test]
async fn integer_and_string_keys_scan_in_order() {
    let by_i64: Collection<i64, Episode, _> = Collection::new(MemoryBackend::new());
    for id in [5i64, -3, 0, 1000, -1000, 42] {
        by_i64.put(&id, &episode(id.unsigned_abs())).await.unwrap();
    }
    let ids: Vec<i64> = by_i64
        .scan_from(&i64::MIN, None)
        .await
        .unwrap()
        .iter()
        .map(|(_, e)| e.started_ms - 1_700_000_000_000)
        .collect();
    assert_eq!(
        ids,
        vec![1000, 3, 0, 5, 42, 1000],
        "keys -1000, -3, 0, 5, 42, 1000 in order"
    );

    let by_name: Collection<str, Episode, _> = Collection::new(MemoryBackend::new());
    for (i, name) in ["carol", "alice", "bob", "alicia"].iter().enumerate() {
        by_name.put(name, &episode(i as u64)).await.unwrap();
    }
    let names: Vec<Bytes> = by_name
        .scan_from("", None)
        .await
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        names,
        vec![
            Bytes::from("alice"),
            Bytes::from("alicia"),
            Bytes::from("bob"),
            Bytes::from("carol")
        ]
    );
}

#[tokio::test]
async fn corrupt_records_are_errors() {
    let backend = MemoryBackend::new();
    let episodes: Collection<u64, Episode, _> = Collection::new(backend.clone());
    episodes.put(&1, &episode(1)).await.unwrap();
    let stored = backend.get(&1u64.to_be_bytes()).await.unwrap().unwrap();
    backend
        .put(
            Bytes::copy_from_slice(&1u64.to_be_bytes()),
            stored.slice(..stored.len() / 2),
        )
        .await
        .unwrap();
    assert_eq!(
        episodes.get(&1).await.unwrap_err().kind(),
        ErrorKind::Corrupted
    );
    backend
        .put(
            Bytes::copy_from_slice(&2u64.to_be_bytes()),
            Bytes::from_static(&[0xFF; 64]),
        )
        .await
        .unwrap();
    assert_eq!(
        episodes.get(&2).await.unwrap_err().kind(),
        ErrorKind::Corrupted
    );
}

#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
struct Note {
    title: String,
    body: String,
    pinned: bool,
}

#[tokio::test]
async fn serde_collections_round_trip_and_reject_garbage() {
    use strata_codecs::{Json, Postcard, SerdeCollection};
    let note = Note {
        title: "groceries".into(),
        body: "milk, eggs".into(),
        pinned: true,
    };
    let backend = MemoryBackend::new();
    let json: SerdeCollection<str, Note, _, Json> =
        SerdeCollection::new(backend.keyspace("json").unwrap());
    let post: SerdeCollection<str, Note, _, Postcard> =
        SerdeCollection::new(backend.keyspace("postcard").unwrap());
    json.put("n1", &note).await.unwrap();
    post.put("n1", &note).await.unwrap();
    assert_eq!(json.get("n1").await.unwrap(), Some(note.clone()));
    assert_eq!(post.get("n1").await.unwrap(), Some(note));
    let raw = backend
        .keyspace("json")
        .unwrap()
        .get(b"n1")
        .await
        .unwrap()
        .unwrap();
    assert!(raw.starts_with(b"{\"title\""), "stored as JSON");
    backend
        .keyspace("json")
        .unwrap()
        .put("bad".into(), "{not json".into())
        .await
        .unwrap();
    assert_eq!(
        json.get("bad").await.unwrap_err().kind(),
        ErrorKind::Corrupted
    );
    assert!(json.delete("n1").await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_from_disk_are_validated_every_time_they_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let redb = redb_at(dir.path().join("v.redb"), SyncMode::Full)
        .await
        .unwrap();
    let episodes: Collection<u64, Episode, _> = Collection::new(redb);
    episodes.put(&1, &episode(1)).await.unwrap();
    for _ in 0..3 {
        assert_eq!(episodes.get(&1).await.unwrap().unwrap().id, 1);
    }
    assert_eq!(
        episodes.validations(),
        3,
        "each read from redb is a new buffer from outside"
    );
}
