//! `offline_notes`: a small notes app that keeps working with the server gone.
//!
//! ```sh
//! # Against your server (TURSO_DATABASE_URL, TURSO_AUTH_TOKEN), notes in ./notes.redb:
//! cargo run -p strata-examples --example offline_notes -- add "buy milk"
//! cargo run -p strata-examples --example offline_notes -- edit 1 "buy oat milk"
//! cargo run -p strata-examples --example offline_notes -- list
//! cargo run -p strata-examples --example offline_notes -- sync
//! cargo run -p strata-examples --example offline_notes -- status
//! # The whole story in one run, on a sqld of its own: edits with the server down, then a
//! # backlog syncing with a progress bar once it is back.
//! cargo run -p strata-examples --example offline_notes -- demo
//! ```
//! Every command works offline; `sync` waits (up to 10 s) for the server.

use std::time::Duration;

use bytes::Bytes;
use strata::{KeyRange, StorageBackend, SyncMode, WriteBatch};
use strata_examples::progress::Progress;
use strata_redb::RedbBackend;
use strata_sync::{SyncConfig, SyncedStore};
use strata_turso::TursoBackend;

type Notes = SyncedStore<TursoBackend>;

async fn open(dir: &std::path::Path, remote: TursoBackend) -> strata::Result<Notes> {
    let local = RedbBackend::builder(dir.join("notes.redb"))
        .sync_mode(SyncMode::Full)
        .open()
        .await?;
    let notes = local.keyspace("notes")?;
    let config = SyncConfig::default().background(Some(Duration::from_secs(30)));
    SyncedStore::open(notes, remote.keyspace("notes")?, config).await
}

async fn add(notes: &Notes, text: &str) -> strata::Result<u64> {
    let next = notes.scan(KeyRange::all(), None).await?.len() as u64 + 1;
    notes
        .put(key(next), Bytes::copy_from_slice(text.as_bytes()))
        .await?;
    Ok(next)
}

fn key(id: u64) -> Bytes {
    Bytes::from(format!("{id:08}"))
}

async fn list(notes: &Notes) -> strata::Result<()> {
    for (k, v) in notes.scan(KeyRange::all(), None).await? {
        let id: u64 = std::str::from_utf8(&k)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        println!("{id:>4}  {}", String::from_utf8_lossy(&v));
    }
    Ok(())
}

async fn status(notes: &Notes) -> strata::Result<()> {
    let s = notes.sync_status().await?;
    println!(
        "pending {} ({} bytes, oldest {:?}); pushed {}, pulled {}; conflicts lost {}, won {}; last error: {}",
        s.pending,
        s.pending_bytes,
        s.oldest_pending_age.unwrap_or_default(),
        s.pushed,
        s.pulled,
        s.conflicts_lost,
        s.conflicts_won,
        s.last_error.as_deref().unwrap_or("none"),
    );
    Ok(())
}

/// Syncs until the outbox is empty, drawing a bar over the backlog.
async fn sync_with_progress(notes: &Notes) -> strata::Result<()> {
    let backlog = notes.sync_status().await?.pending;
    let mut bar = Progress::new("syncing", backlog);
    let flush = notes.flush_sync(Duration::from_secs(60));
    tokio::pin!(flush);
    loop {
        tokio::select! {
            done = &mut flush => {
                bar.finish();
                return done;
            }
            () = tokio::time::sleep(Duration::from_millis(100)) => {
                let left = notes.sync_status().await?.pending;
                bar.set(backlog.saturating_sub(left));
            }
        }
    }
}

async fn demo() -> strata::Result<()> {
    let mut sqld = strata_tests::sqld::Sqld::start();
    let token = sqld.token(strata_tests::sqld::Access::ReadWrite);
    let remote = TursoBackend::builder(sqld.url())
        .auth_token(token)
        .connect_lazily(true)
        .open()
        .await?;
    let dir = tempfile::tempdir().expect("temporary directory");
    let notes = open(dir.path(), remote).await?;
    println!("server up: adding a note and syncing");
    add(&notes, "buy milk").await?;
    notes.flush_sync(Duration::from_secs(10)).await?;

    tokio::task::block_in_place(|| sqld.kill());
    println!("server down: editing, adding 20,000 notes in batches, reading — all local");
    notes.put(key(1), "buy oat milk".into()).await?;
    for chunk in 0..20 {
        let mut batch = WriteBatch::new();
        for i in 0..1_000u64 {
            let id = 2 + chunk * 1_000 + i;
            batch.put(key(id), format!("note {id}"));
        }
        notes.write_batch(batch).await?;
    }
    let _ = notes.sync_now().await; // fails: the server is gone
    status(&notes).await?;

    tokio::task::block_in_place(|| sqld.restart());
    println!("server back:");
    sync_with_progress(&notes).await?;
    status(&notes).await?;
    println!("first notes:");
    for (k, v) in notes.scan(KeyRange::all(), Some(3)).await? {
        println!(
            "  {} {}",
            String::from_utf8_lossy(&k),
            String::from_utf8_lossy(&v)
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> strata::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = args.first().map(String::as_str).unwrap_or("help");
    if command == "demo" {
        return demo().await;
    }
    let remote = TursoBackend::from_env()?
        .connect_lazily(true)
        .open()
        .await?;
    let notes = open(std::path::Path::new("."), remote).await?;
    match (command, &args[1..]) {
        ("add", [text]) => println!("added note {}", add(&notes, text).await?),
        ("edit", [id, text]) => {
            let id: u64 = id.parse().expect("a note id");
            notes
                .put(key(id), Bytes::copy_from_slice(text.as_bytes()))
                .await?;
            println!("edited note {id}");
        }
        ("list", []) => list(&notes).await?,
        ("sync", []) => sync_with_progress(&notes).await?,
        ("status", []) => status(&notes).await?,
        _ => {
            eprintln!("usage: offline_notes add TEXT | edit ID TEXT | list | sync | status | demo")
        }
    }
    notes.close().await
}
