//! Typed, zero-copy records over memory → redb, compressed on disk.
//!
//! `cargo run -p strata-examples --example typed`

use rkyv::{Archive, Deserialize, Serialize};
use strata::{MemoryCache, StorageBackend, Tiered};
use strata_codecs::{Collection, Compressed};
use strata_redb::RedbBackend;

#[derive(Archive, Serialize, Deserialize, Debug, PartialEq)]
struct Episode {
    id: u64,
    task: String,
    steps: Vec<String>,
    embedding: Vec<f32>,
}

#[tokio::main]
async fn main() -> strata::Result<()> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let redb = RedbBackend::builder(dir.path().join("episodes.redb"))
        .open()
        .await?;
    // Memory cache over a zstd-compressed, checksummed redb file.
    let store = Tiered::new(
        MemoryCache::builder().max_bytes(16 << 20).build()?,
        Compressed::new(redb),
    );
    let episodes: Collection<u64, Episode, _> = Collection::new(store.keyspace("episodes")?);

    for id in 0..100 {
        let episode = Episode {
            id,
            task: format!("summarise report {id}"),
            steps: vec!["search".into(), "read".into(), "write".into()],
            embedding: (0..384).map(|i| i as f32 / 384.0).collect(),
        };
        episodes.put(&id, &episode).await?;
    }

    // A zero-copy view into the cached buffer: no deserialization.
    let e = episodes.get(&42).await?.expect("stored above");
    println!(
        "episode {} — {:?}, {} steps, embedding[383] = {}",
        e.id,
        e.task.as_str(),
        e.steps.len(),
        e.embedding[383]
    );

    // Or an owned value.
    let owned = episodes.get_owned(&7).await?.expect("stored above");
    println!(
        "owned: episode {} with {} floats",
        owned.id,
        owned.embedding.len()
    );
    Ok(())
}
