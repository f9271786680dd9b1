//! A device process for `tests/sync_remote.rs`'s crash test: writes through a `SyncedStore`
//! with its background syncer running, until killed, reporting each write before it is made
//! (`try`) and once it is acknowledged (`ack`).
//!
//! Usage: `sync_device DIR URL TOKEN ROUND`.

use std::io::Write;
use std::time::Duration;

use strata::{StorageBackend, SyncMode};
use strata_redb::RedbBackend;
use strata_sync::{SyncConfig, SyncedStore};
use strata_turso::TursoBackend;

fn line(text: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    // A failed write means the parent is gone; stop quietly.
    if writeln!(out, "{text}").and_then(|_| out.flush()).is_err() {
        std::process::exit(0);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        eprintln!("usage: sync_device DIR URL TOKEN ROUND");
        std::process::exit(2);
    }
    let (dir, url, token) = (&args[1], &args[2], &args[3]);
    let round: u32 = args[4].parse().expect("ROUND");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let local = RedbBackend::builder(std::path::Path::new(dir).join("store.redb"))
            .sync_mode(SyncMode::Full)
            .open()
            .await
            .expect("open the local store");
        let remote = TursoBackend::builder(url.clone())
            .auth_token(token.clone())
            .open()
            .await
            .expect("open the remote")
            .keyspace("crash")
            .expect("keyspace");
        let config = SyncConfig::default()
            .background(Some(Duration::from_millis(10)))
            .push_batch(50)
            .backoff(Duration::from_millis(5), Duration::from_millis(100));
        let store = SyncedStore::open(local, remote, config)
            .await
            .expect("open the synced store");
        line(format_args!("ready"));
        for i in 0u64.. {
            let (key, value) = if i % 3 == 0 {
                ("hot".to_string(), format!("r{round}-{i}"))
            } else {
                (format!("r{round:02}-{i:06}"), format!("v{round}-{i}"))
            };
            line(format_args!("try {key} {value}"));
            store
                .put(key.clone().into(), value.clone().into())
                .await
                .expect("a local write failed");
            line(format_args!("ack {key} {value}"));
            if i % 16 == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    });
}
