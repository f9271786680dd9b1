//! `dump` and `load`: a store as JSON lines, one entry per line (see `render.rs` for the
//! fields). A local dump reads one snapshot, so it is consistent while others write; a remote
//! dump pages through the keyspace (each page consistent on its own). `load` writes batches of
//! [`LOAD_BATCH`] entries, each one atomic.

use std::io::{BufRead, IsTerminal, Write};
use std::ops::Bound;

use bytes::Bytes;
use indicatif::{ProgressBar, ProgressStyle};
use strata::{KeyRange, StorageBackend, WriteBatch};

use crate::Failure;
use crate::render::{entry_json, parse_entry};
use crate::store::Store;

/// Entries per write batch in `load`, and per page in a dump.
pub const LOAD_BATCH: usize = 1_000;

/// A progress bar on stderr when a person is watching, else none.
fn progress(total: Option<u64>, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(total) => ProgressBar::new(total),
        None => ProgressBar::new_spinner(),
    };
    bar.set_style(
        ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} ({per_sec}, {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(what.to_string());
    bar
}

/// Writes `keyspaces` (all when empty) of `store` to `out`; returns the entries written.
pub async fn dump(
    store: &Store,
    keyspaces: Vec<String>,
    out: Box<dyn Write + Send>,
) -> Result<u64, Failure> {
    let present = store.keyspace_names().await?;
    let keyspaces = if keyspaces.is_empty() {
        present
    } else {
        // A misspelt keyspace would dump nothing and look like success.
        if let Some(missing) = keyspaces.iter().find(|k| !present.contains(k)) {
            return Err(Failure::error(format!(
                "no keyspace {missing:?} (the store has: {})",
                present.join(", ")
            )));
        }
        keyspaces
    };
    match store {
        Store::ReadOnly(local) => {
            let tables: Vec<_> = keyspaces
                .iter()
                .map(|name| (name.clone(), local.table_ref(name)))
                .collect();
            let bar = progress(None, "dump");
            let written = local.snapshot(|snap| {
                let mut out = std::io::BufWriter::new(out);
                let mut written = 0u64;
                for (name, table) in &tables {
                    let mut from = KeyRange::all();
                    loop {
                        let page = snap.scan(table, &from, LOAD_BATCH)?;
                        for (key, value) in &page {
                            writeln!(out, "{}", entry_json(Some(name), key, Some(value)))
                                .map_err(write_error)?;
                        }
                        written += page.len() as u64;
                        bar.inc(page.len() as u64);
                        match page.last() {
                            Some((last, _)) if page.len() == LOAD_BATCH => {
                                from =
                                    KeyRange::new(Bound::Excluded(last.clone()), Bound::Unbounded);
                            }
                            _ => break,
                        }
                    }
                }
                out.flush().map_err(write_error)?;
                Ok(written)
            })?;
            bar.finish_and_clear();
            Ok(written)
        }
        Store::Local(..) => unreachable!("dump opens the file read-only"),
        Store::Remote(_) => {
            let mut out = std::io::BufWriter::new(out);
            let bar = progress(None, "dump");
            let mut written = 0u64;
            for name in &keyspaces {
                let handle = store.keyspace(name)?;
                let mut from = KeyRange::all();
                loop {
                    let page = handle.scan(from.clone(), Some(LOAD_BATCH)).await?;
                    for (key, value) in &page {
                        writeln!(out, "{}", entry_json(Some(name), key, Some(value)))
                            .map_err(|e| Failure::error(format!("cannot write the dump: {e}")))?;
                    }
                    written += page.len() as u64;
                    bar.inc(page.len() as u64);
                    match page.last() {
                        Some((last, _)) if page.len() == LOAD_BATCH => {
                            from = KeyRange::new(Bound::Excluded(last.clone()), Bound::Unbounded);
                        }
                        _ => break,
                    }
                }
            }
            out.flush()
                .map_err(|e| Failure::error(format!("cannot write the dump: {e}")))?;
            bar.finish_and_clear();
            Ok(written)
        }
    }
}

fn write_error(e: std::io::Error) -> strata::Error {
    strata::Error::unexpected(strata::Operation::Scan, "cannot write the dump").with_source(e)
}

/// Reads JSON lines from `input` into `store`, `default_keyspace` for lines without one.
/// A bad line stops the load with its line number; batches before it are written.
pub async fn load(
    store: &Store,
    input: Box<dyn BufRead + Send>,
    default_keyspace: &str,
    total_bytes: Option<u64>,
) -> Result<u64, Failure> {
    let bar = progress(total_bytes, "load (bytes)");
    let mut batch = WriteBatch::with_capacity(LOAD_BATCH);
    let mut batch_keyspace = String::new();
    let mut loaded = 0u64;
    // The line the batch being gathered starts at (for a failure's message).
    let mut batch_from = 1;
    for (number, line) in input.lines().enumerate() {
        let line =
            line.map_err(|e| Failure::error(format!("cannot read line {}: {e}", number + 1)))?;
        bar.inc(line.len() as u64 + 1);
        if line.trim().is_empty() {
            continue;
        }
        let (keyspace, key, value) = parse_entry(&line, default_keyspace).map_err(|e| {
            Failure::error(format!(
                "line {}: {e}. {loaded} entries were written; nothing from line {} on was \
                     (fix the line and load the rest from there)",
                number + 1,
                if batch.is_empty() {
                    number + 1
                } else {
                    batch_from
                },
            ))
        })?;
        if keyspace != batch_keyspace || batch.len() >= LOAD_BATCH {
            loaded += write(store, &batch_keyspace, std::mem::take(&mut batch)).await?;
            batch_keyspace = keyspace;
        }
        if batch.is_empty() {
            batch_from = number + 1;
        }
        batch.put(Bytes::from(key), Bytes::from(value));
    }
    loaded += write(store, &batch_keyspace, batch).await?;
    bar.finish_and_clear();
    Ok(loaded)
}

async fn write(store: &Store, keyspace: &str, batch: WriteBatch) -> Result<u64, Failure> {
    if batch.is_empty() {
        return Ok(0);
    }
    let n = batch.len() as u64;
    store.keyspace(keyspace)?.write_batch(batch).await?;
    Ok(n)
}
