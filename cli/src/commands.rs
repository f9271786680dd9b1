//! What each command does, once its arguments are parsed.

use std::io::Write;

use bytes::Bytes;
use serde_json::json;
use strata::{KeyRange, StorageBackend};

use crate::render::{argument, display, entry_json};
use crate::store::{Access, Store};
use crate::{Cli, Command, Failure, KeyOptions, SyncCommand, jsonl};

fn key_of(key: &str, options: &KeyOptions) -> Result<Bytes, Failure> {
    argument(key, options.hex)
        .map(Bytes::from)
        .map_err(|e| Failure::with_code(2, format!("key: {e}")))
}

fn stdout_error(e: std::io::Error) -> Failure {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        // The reader stopped (`strata scan … | head`): not an error of ours.
        return Failure::with_code(0, "");
    }
    Failure::error(format!("cannot write to stdout: {e}"))
}

/// Runs `cli`'s command, closing the store it opened (so writes are durable) even when the
/// command failed.
pub async fn run(cli: Cli) -> Result<(), Failure> {
    let token = cli.token.as_deref();
    let (name, missing) = match &cli.command {
        Command::Put { store, .. } | Command::Load { store, .. } => (store, Access::Create),
        Command::Delete { store, .. } => (store, Access::Modify),
        Command::Info { store, .. }
        | Command::Get { store, .. }
        | Command::Scan { store, .. }
        | Command::Dump { store, .. }
        | Command::Verify { store }
        | Command::Backup { store, .. } => (store, Access::Read),
        // redb compacts only a file nobody has open: this tool checks it, closes it, then
        // compacts.
        Command::Compact { store } => return compact(store, token).await,
        Command::Sync {
            command: SyncCommand::Status { store, .. },
        } => (store, Access::Read),
    };
    let store = Store::open(name, token, missing).await?;
    let result = run_on(&store, cli.command).await;
    let closed = store.close().await;
    result.and(closed)
}

async fn run_on(store: &Store, command: Command) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match command {
        Command::Info { json, .. } => info(store, json).await,
        Command::Get {
            key, options, json, ..
        } => {
            let key = key_of(&key, &options)?;
            match store.get(&options.keyspace, &key).await? {
                Some(value) if json => writeln!(out, "{}", entry_json(None, &key, Some(&value))),
                Some(value) => writeln!(out, "{}", display(&value)),
                None => return Err(Failure::with_code(4, format!("no key {}", display(&key)))),
            }
            .map_err(stdout_error)
        }
        Command::Put {
            key,
            value,
            options,
            ..
        } => {
            let key = key_of(&key, &options)?;
            let value = argument(&value, options.hex)
                .map_err(|e| Failure::with_code(2, format!("value: {e}")))?;
            store
                .keyspace(&options.keyspace)?
                .put(key, Bytes::from(value))
                .await?;
            Ok(())
        }
        Command::Delete { key, options, .. } => {
            let key = key_of(&key, &options)?;
            let existed = store.keyspace(&options.keyspace)?.delete(&key).await?;
            let said = if existed { "deleted" } else { "not found" };
            writeln!(out, "{said}").map_err(stdout_error)
        }
        Command::Scan {
            prefix,
            limit,
            options,
            json,
            ..
        } => {
            let range = match prefix {
                Some(prefix) => KeyRange::prefix(key_of(&prefix, &options)?),
                None => KeyRange::all(),
            };
            // Page by page, so a large keyspace never sits in memory whole (each page is one
            // snapshot; use `dump` for one snapshot of everything).
            let mut range = range;
            let mut left = limit.unwrap_or(usize::MAX);
            while left > 0 {
                let page = store
                    .scan(
                        &options.keyspace,
                        range.clone(),
                        Some(left.min(jsonl::LOAD_BATCH)),
                    )
                    .await?;
                for (key, value) in &page {
                    if json {
                        writeln!(out, "{}", entry_json(None, key, Some(value)))
                    } else {
                        writeln!(out, "{}\t{}", display(key), display(value))
                    }
                    .map_err(stdout_error)?;
                }
                left -= page.len();
                match page.last() {
                    Some((last, _)) if page.len() == jsonl::LOAD_BATCH => {
                        range = KeyRange::new(
                            std::ops::Bound::Excluded(last.clone()),
                            range.end().map(Bytes::copy_from_slice),
                        );
                    }
                    _ => break,
                }
            }
            Ok(())
        }
        Command::Dump {
            keyspace, output, ..
        } => {
            drop(out);
            let Some(path) = output else {
                jsonl::dump(store, keyspace, Box::new(std::io::stdout())).await?;
                return Ok(());
            };
            // Never over an existing file (the store itself, say); removed if the dump fails.
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| Failure::error(format!("cannot create {}: {e}", path.display())))?;
            let written = match file.try_clone() {
                Ok(sink) => jsonl::dump(store, keyspace, Box::new(sink)).await,
                Err(e) => Err(Failure::error(format!(
                    "cannot write {}: {e}",
                    path.display()
                ))),
            }
            .and_then(|n| {
                file.sync_all()
                    .map(|_| n)
                    .map_err(|e| Failure::error(format!("cannot sync {}: {e}", path.display())))
            });
            match written {
                Ok(n) => {
                    eprintln!("dumped {n} entries to {}", path.display());
                    Ok(())
                }
                Err(failure) => {
                    let _ = std::fs::remove_file(&path);
                    Err(failure)
                }
            }
        }
        Command::Load {
            input, keyspace, ..
        } => {
            let (reader, size): (Box<dyn std::io::BufRead + Send>, _) = match input {
                Some(path) if path.as_os_str() != "-" => {
                    let file = std::fs::File::open(&path).map_err(|e| {
                        Failure::error(format!("cannot open {}: {e}", path.display()))
                    })?;
                    let size = file.metadata().ok().map(|m| m.len());
                    (Box::new(std::io::BufReader::new(file)), size)
                }
                _ => (Box::new(std::io::BufReader::new(std::io::stdin())), None),
            };
            let loaded = jsonl::load(store, reader, &keyspace, size).await?;
            writeln!(out, "loaded {loaded} entries").map_err(stdout_error)
        }
        Command::Verify { .. } => {
            let local = store.read_only("verify")?;
            let path = local.path();
            let report = local.verify().map_err(|e| match e.kind() {
                // Damage redb itself met (a broken page) is damage too.
                strata::ErrorKind::Corrupted => Failure::with_code(3, e.to_string()),
                _ => Failure::from(e),
            })?;
            if local.format() == strata_redb::StoreFormat::Legacy {
                return writeln!(
                    out,
                    "not checked: {} is a legacy store (format 1) whose values carry no checksums; \
                     {} values were readable",
                    path.display(),
                    report.checked
                )
                .map_err(stdout_error);
            }
            for bad in &report.corrupt {
                writeln!(
                    out,
                    "corrupt\t{}\t{}",
                    display(bad.keyspace.as_bytes()),
                    display(&bad.key)
                )
                .map_err(stdout_error)?;
            }
            if report.is_clean() {
                writeln!(
                    out,
                    "ok: {} values checked in {}",
                    report.checked,
                    path.display()
                )
                .map_err(stdout_error)
            } else {
                Err(Failure::with_code(
                    3,
                    format!(
                        "{} of {} values failed their checksum in {}",
                        report.corrupt.len(),
                        report.checked,
                        path.display()
                    ),
                ))
            }
        }
        Command::Backup { dest, .. } => {
            let size = store.read_only("backup")?.backup(&dest)?;
            writeln!(out, "backed up to {} ({size} bytes)", dest.display()).map_err(stdout_error)
        }
        Command::Sync {
            command: SyncCommand::Status { json, .. },
        } => sync_status(store, json, &mut out).await,
        Command::Compact { .. } => unreachable!("compact runs without opening the store"),
    }
}

async fn compact(name: &str, token: Option<&str>) -> Result<(), Failure> {
    if crate::store::is_url(name) {
        return Err(Failure::error(
            "`compact` works on a local store file, not a remote database",
        ));
    }
    // Rewriting a damaged file would spread the damage: check every value first.
    let store = Store::open(name, token, Access::Read).await?;
    let report = match store.read_only("compact") {
        Ok(local) => local.verify().map_err(|e| match e.kind() {
            strata::ErrorKind::Corrupted => Failure::with_code(3, format!("not compacted: {e}")),
            _ => Failure::from(e),
        }),
        Err(failure) => Err(failure),
    };
    let closed = store.close().await;
    let report = report?;
    closed?;
    if !report.is_clean() {
        return Err(Failure::with_code(
            3,
            format!(
                "not compacted: {} values failed their checksum (run `strata verify {name}`; back up first)",
                report.corrupt.len()
            ),
        ));
    }
    let report = strata_redb::compact(name).map_err(|e| match e.kind() {
        strata::ErrorKind::Unavailable => Failure::error(format!(
            "{name} is open in another process; redb compacts only a closed file"
        )),
        strata::ErrorKind::NotFound => Failure::error(format!("no store at {name}")),
        _ => Failure::from(e),
    })?;
    writeln!(
        std::io::stdout(),
        "compacted {name}: {} → {} bytes",
        report.before,
        report.after
    )
    .map_err(stdout_error)
}

async fn info(store: &Store, as_json: bool) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    let lines: Vec<String> = match store {
        Store::Local(..) => unreachable!("info opens the file read-only"),
        Store::ReadOnly(local) => {
            let info = local.info()?;
            if as_json {
                let keyspaces: Vec<_> = info
                    .keyspaces
                    .iter()
                    .map(|k| json!({"name": k.name, "entries": k.entries, "key_bytes": k.key_bytes, "value_bytes": k.value_bytes}))
                    .collect();
                vec![
                    json!({
                        "path": info.path.display().to_string(),
                        "file_size": info.file_size,
                        "format_version": info.format.version(),
                        "checksums": info.format == strata_redb::StoreFormat::Checksummed,
                        "keyspaces": keyspaces,
                        "system_tables": info.system_tables,
                    })
                    .to_string(),
                ]
            } else {
                let mut lines = vec![
                    format!("path: {}", info.path.display()),
                    format!("file size: {} bytes", info.file_size),
                    format!(
                        "format: {} ({})",
                        info.format.version(),
                        match info.format {
                            strata_redb::StoreFormat::Checksummed => "checksummed values",
                            _ => "legacy, no checksums",
                        }
                    ),
                    format!("keyspaces: {}", info.keyspaces.len()),
                ];
                lines.extend(info.keyspaces.iter().map(|k| {
                    format!(
                        "  {}\t{} entries\t{} key bytes\t{} value bytes",
                        display(k.name.as_bytes()),
                        k.entries,
                        k.key_bytes,
                        k.value_bytes
                    )
                }));
                if !info.system_tables.is_empty() {
                    lines.push(format!(
                        "system tables: {}",
                        info.system_tables
                            .iter()
                            .map(|n| display(n.as_bytes()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                lines
            }
        }
        Store::Remote(remote) => {
            let stats = remote.keyspace_stats().await?;
            if as_json {
                let keyspaces: Vec<_> = stats
                    .iter()
                    .map(|k| json!({"name": k.name, "entries": k.entries, "tombstones": k.tombstones, "key_bytes": k.key_bytes, "value_bytes": k.value_bytes}))
                    .collect();
                vec![
                    json!({"url": remote.config().redacted_url(), "keyspaces": keyspaces})
                        .to_string(),
                ]
            } else {
                let mut lines = vec![
                    format!("url: {}", remote.config().redacted_url()),
                    format!("keyspaces: {}", stats.len()),
                ];
                lines.extend(stats.iter().map(|k| {
                    format!(
                        "  {}\t{} entries\t{} tombstones\t{} key bytes\t{} value bytes",
                        display(k.name.as_bytes()),
                        k.entries,
                        k.tombstones,
                        k.key_bytes,
                        k.value_bytes
                    )
                }));
                lines
            }
        }
    };
    for line in lines {
        writeln!(out, "{line}").map_err(stdout_error)?;
    }
    Ok(())
}

async fn sync_status(store: &Store, as_json: bool, out: &mut impl Write) -> Result<(), Failure> {
    let local = store.read_only("sync status")?;
    let path = local.path();
    let statuses = strata_sync::stored_status(local)?;
    if statuses.is_empty() && !as_json {
        return writeln!(out, "no synced keyspaces in {}", path.display()).map_err(stdout_error);
    }
    for s in statuses {
        let line = if as_json {
            json!({
                "keyspace": s.keyspace, "pending": s.pending, "pending_bytes": s.pending_bytes,
                "oldest_pending_unix_ms": s.oldest_pending_unix_ms, "cursor": s.cursor,
                "conflicts_lost": s.conflicts_lost, "conflicts_won": s.conflicts_won,
            })
            .to_string()
        } else {
            format!(
                "{}\tpending {} ({} bytes)\tcursor {}\tconflicts lost {} won {}",
                display(s.keyspace.as_bytes()),
                s.pending,
                s.pending_bytes,
                s.cursor,
                s.conflicts_lost,
                s.conflicts_won
            )
        };
        writeln!(out, "{line}").map_err(stdout_error)?;
    }
    Ok(())
}
