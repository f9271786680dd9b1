//! Writer process for `tests/crash.rs`: writes until killed, reporting acknowledgements.
//!
//! Usage: `crash_writer PATH MODE ROUND WRITERS FLUSH_EVERY` — MODE as in
//! [`strata_tests::crash::mode_arg`]; FLUSH_EVERY = 0 never flushes.

use std::io::Write;
use std::sync::Arc;

use parking_lot_free_stdout::Out;
use strata::StorageBackend;
use strata_redb::RedbBackend;
use strata_tests::crash::{crash_key, crash_value, parse_mode_arg};

mod parking_lot_free_stdout {
    use std::io::Write;
    use std::sync::Mutex;

    /// Serialises whole lines onto stdout so a kill never leaves interleaved output.
    pub struct Out(pub Mutex<std::io::Stdout>);

    impl Out {
        pub fn line(&self, text: std::fmt::Arguments<'_>) {
            let mut out = self.0.lock().unwrap_or_else(|p| p.into_inner());
            // A failed write means the parent is gone; stop quietly.
            if writeln!(out, "{text}").and_then(|_| out.flush()).is_err() {
                std::process::exit(0);
            }
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 6 {
        eprintln!("usage: crash_writer PATH MODE ROUND WRITERS FLUSH_EVERY");
        std::process::exit(2);
    }
    let path = args[1].clone();
    let mode = parse_mode_arg(&args[2]).expect("MODE");
    let round: u32 = args[3].parse().expect("ROUND");
    let writers: u32 = args[4].parse().expect("WRITERS");
    let flush_every: u64 = args[5].parse().expect("FLUSH_EVERY");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let store = RedbBackend::builder(path)
            .sync_mode(mode)
            .open()
            .await
            .expect("open store");
        let out = Arc::new(Out(std::sync::Mutex::new(std::io::stdout())));
        out.line(format_args!("ready"));
        let mut tasks = Vec::new();
        for writer in 0..writers {
            let (store, out) = (store.clone(), out.clone());
            tasks.push(tokio::spawn(async move {
                for seq in 0.. {
                    let key = crash_key(round, writer, seq);
                    store
                        .put(key, crash_value(round, writer, seq))
                        .await
                        .expect("put");
                    out.line(format_args!("ack {writer} {seq}"));
                    if flush_every > 0 && (seq + 1) % flush_every == 0 {
                        store.flush().await.expect("flush");
                        out.line(format_args!("flushed {writer} {seq}"));
                    }
                }
            }));
        }
        for task in tasks {
            task.await.expect("writer task");
        }
    });
    let _ = std::io::stdout().flush();
}
