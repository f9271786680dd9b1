//! `strata` end to end: the built binary run on real store files (and a real sqld), every
//! run bounded in time so a hang fails by name.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use strata::{StorageBackend, WriteBatch};
use strata_redb::RedbBackend;

const LIMIT: Duration = Duration::from_secs(60);

/// Runs `strata args…` with `stdin`, killing it if it outlives [`LIMIT`]. Output is read
/// as it comes, so a large dump never blocks on a full pipe.
fn strata_with(args: &[&str], stdin: Option<&[u8]>, env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .env_remove("TURSO_AUTH_TOKEN")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start strata");
    let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            pipe.read_to_end(&mut bytes).map(|_| bytes)
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    // Fed from a thread, so a child that does not read its input cannot block the test.
    let mut input = child.stdin.take().unwrap();
    let bytes = stdin.map(<[u8]>::to_vec);
    std::thread::spawn(move || {
        if let Some(bytes) = bytes {
            let _ = input.write_all(&bytes);
        }
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > LIMIT {
            child.kill().ok();
            panic!("strata {args:?}: no exit within {LIMIT:?} (a hang)");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output {
        status,
        stdout: out.join().unwrap().unwrap(),
        stderr: err.join().unwrap().unwrap(),
    }
}

fn strata(args: &[&str]) -> Output {
    strata_with(args, None, &[])
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs and expects success, returning stdout.
fn ok(args: &[&str]) -> String {
    let out = strata(args);
    assert!(
        out.status.success(),
        "strata {args:?} failed: {}",
        stderr(&out)
    );
    stdout(&out)
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn put_get_delete_and_scan_round_trip_text_hex_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.redb");
    let s = path_str(&store);
    ok(&["put", s, "user:1", "ada"]);
    ok(&["put", s, "user:2", "grace"]);
    ok(&["put", s, "other", "x"]);
    ok(&["put", s, "--hex", "00ff", "1b5b324a"]); // a terminal escape as a value
    ok(&["put", s, "-k", "notes", "n1", "in another keyspace"]);
    assert_eq!(ok(&["get", s, "user:1"]), "ada\n");
    assert_eq!(
        ok(&["get", s, "--hex", "00FF"]),
        "0x1b5b324a\n",
        "unsafe bytes print as hex"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(&["get", s, "--json", "--hex", "00ff"])).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"key_hex": "00ff", "value_hex": "1b5b324a"})
    );
    assert_eq!(
        ok(&["scan", s, "--prefix", "user:"]),
        "user:1\tada\nuser:2\tgrace\n"
    );
    assert_eq!(
        ok(&["scan", s, "--prefix", "user:", "--limit", "1"]),
        "user:1\tada\n"
    );
    assert_eq!(
        ok(&["get", s, "-k", "notes", "n1"]),
        "in another keyspace\n"
    );
    let missing = strata(&["get", s, "-k", "notes", "user:1"]);
    assert_eq!(missing.status.code(), Some(4), "{}", stderr(&missing));
    assert!(stderr(&missing).contains("no key user:1"));
    assert_eq!(ok(&["delete", s, "user:1"]), "deleted\n");
    assert_eq!(ok(&["delete", s, "user:1"]), "not found\n");
    assert_eq!(
        ok(&["scan", s, "--json", "--prefix", "user"]),
        "{\"key\":\"user:2\",\"value\":\"grace\"}\n"
    );
    let bad_hex = strata(&["get", s, "--hex", "zz"]);
    assert_eq!(bad_hex.status.code(), Some(2), "{}", stderr(&bad_hex));
}

#[test]
fn info_reports_keyspaces_counts_sizes_and_format() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.redb");
    let s = path_str(&store);
    ok(&["put", s, "a", "1234"]);
    ok(&["put", s, "bb", "56"]);
    ok(&["put", s, "-k", "logs", "k", "v"]);
    let info: serde_json::Value = serde_json::from_str(&ok(&["info", s, "--json"])).unwrap();
    assert_eq!(info["format_version"], 2);
    assert_eq!(info["checksums"], true);
    // Read while the tool had the file open; closing may trim it.
    let size = info["file_size"].as_u64().unwrap();
    let on_disk = std::fs::metadata(&store).unwrap().len();
    assert!(
        size > 0 && size <= 2 * on_disk,
        "{size} against {on_disk} on disk"
    );
    assert_eq!(
        info["keyspaces"],
        serde_json::json!([
            {"name": "default", "entries": 2, "key_bytes": 3, "value_bytes": 6},
            {"name": "logs", "entries": 1, "key_bytes": 1, "value_bytes": 1},
        ])
    );
    let text = ok(&["info", s]);
    assert!(text.contains("format: 2 (checksummed values)"), "{text}");
    assert!(text.contains("logs\t1 entries"), "{text}");
}

#[test]
fn dump_and_load_copy_every_keyspace_exactly_and_a_bad_line_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (from, to) = (dir.path().join("from.redb"), dir.path().join("to.redb"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = RedbBackend::builder(&from).open().await.unwrap();
        for (ks, n) in [("default", 2_500u32), ("binary", 300)] {
            let handle = store.keyspace(ks).unwrap();
            let mut batch = WriteBatch::new();
            for i in 0..n {
                let value: Vec<u8> = if ks == "binary" {
                    vec![0, (i % 256) as u8, 0xff]
                } else {
                    format!("value {i}").into_bytes()
                };
                batch.put(format!("key{i:05}"), value);
            }
            handle.write_batch(batch).await.unwrap();
        }
        store.close().await.unwrap();
    });
    let dump = ok(&["dump", path_str(&from)]);
    assert_eq!(dump.lines().count(), 2_800);
    // Scans page through 1,000 entries at a time: every entry once, in order, limits kept.
    let all: Vec<String> = ok(&["scan", path_str(&from)])
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(all.len(), 2_500);
    assert!(
        all.windows(2).all(|w| w[0] < w[1]),
        "in key order, no repeats"
    );
    assert_eq!(
        ok(&["scan", path_str(&from), "--limit", "1234"])
            .lines()
            .count(),
        1_234
    );
    let prefixed = ok(&["scan", path_str(&from), "--prefix", "key01"]);
    assert_eq!(prefixed.lines().count(), 1_000);
    assert!(prefixed.lines().all(|l| l.starts_with("key01")));
    let typo = strata(&["dump", path_str(&from), "-k", "binarry"]);
    assert_eq!(typo.status.code(), Some(1));
    assert!(
        stderr(&typo).contains("no keyspace \"binarry\""),
        "{}",
        stderr(&typo)
    );
    let file = dir.path().join("dump.jsonl");
    std::fs::write(&file, &dump).unwrap();
    assert_eq!(
        ok(&["load", path_str(&to), path_str(&file)]),
        "loaded 2800 entries\n"
    );
    assert_eq!(
        ok(&["dump", path_str(&to)]),
        dump,
        "the copy dumps byte for byte the same"
    );
    // Only one keyspace, and through stdin.
    let one = ok(&["dump", path_str(&from), "-k", "binary"]);
    assert_eq!(one.lines().count(), 300);
    let third = dir.path().join("third.redb");
    let out = strata_with(&["load", path_str(&third)], Some(one.as_bytes()), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(ok(&["dump", path_str(&third)]), one);
    // A damaged line stops the load and is named.
    let bad = format!("{}\n{{\"key\": 5}}\n", dump.lines().next().unwrap());
    let out = strata_with(&["load", path_str(&third)], Some(bad.as_bytes()), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("line 2"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("0 entries were written; nothing from line 1 on"),
        "{}",
        stderr(&out)
    );
    // A dump never writes over an existing file: not over the store, not over anything.
    let out = strata(&["dump", path_str(&from), "-o", path_str(&from)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(ok(&["dump", path_str(&from)]), dump, "the store is intact");
    let target = dir.path().join("out.jsonl");
    let out = strata(&["dump", path_str(&from), "-o", path_str(&target)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), dump);
}

#[test]
fn verify_finds_a_flipped_byte_and_names_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.redb");
    let s = path_str(&store);
    for i in 0..50 {
        ok(&[
            "put",
            s,
            &format!("plain{i:02}"),
            &format!("an ordinary value number {i}"),
        ]);
    }
    ok(&["put", s, "victim", "THE-VALUE-THAT-WILL-BE-DAMAGED"]);
    assert!(ok(&["verify", s]).starts_with("ok: 51 values checked"));
    let mut bytes = std::fs::read(&store).unwrap();
    let needle = b"THE-VALUE-THAT-WILL-BE-DAMAGED";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the value is stored in the file");
    assert!(
        bytes[at + needle.len()..]
            .windows(needle.len())
            .all(|w| w != needle),
        "one copy only, so the flip is the one the store reads"
    );
    bytes[at + 4] ^= 0x01;
    std::fs::write(&store, &bytes).unwrap();
    let out = strata(&["verify", s]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "stdout {} stderr {}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(stdout(&out), "corrupt\tdefault\tvictim\n");
    assert!(
        stderr(&out).contains("1 of 51 values failed"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_missing_file_is_not_created_and_a_foreign_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.redb");
    for args in [
        vec!["get", path_str(&missing), "k"],
        vec!["info", path_str(&missing)],
        vec!["verify", path_str(&missing)],
        vec!["compact", path_str(&missing)],
    ] {
        let out = strata(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&out).contains("no store at"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(!missing.exists(), "{args:?} created the file");
    }
    let foreign = dir.path().join("notes.txt");
    std::fs::write(&foreign, "just some text, not a database").unwrap();
    let out = strata(&["info", path_str(&foreign)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is not a Strata store"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_store_open_elsewhere_is_refused_clearly_and_backup_from_the_owner_is_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.redb");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let open = rt.block_on(RedbBackend::builder(&store).open()).unwrap();
    for args in [
        vec!["get", path_str(&store), "k"],
        vec!["backup", path_str(&store), "/nonexistent/x.redb"],
        vec!["compact", path_str(&store)],
    ] {
        let out = strata(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&out).contains("open in another process"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    // The owner backs up while a writer commits pairs atomically: the copy holds both halves of
    // every pair or neither.
    let copy = dir.path().join("copy.redb");
    rt.block_on(async {
        let writer = {
            let store = open.clone();
            tokio::spawn(async move {
                for i in 0..2_000u32 {
                    let mut batch = WriteBatch::new();
                    batch
                        .put(format!("a{i:04}"), "x")
                        .put(format!("b{i:04}"), "y");
                    store.write_batch(batch).await.unwrap();
                }
            })
        };
        // Back up once the writer is well under way, so the copy is taken mid-write.
        let started = Instant::now();
        while open.get(b"a0020").await.unwrap().is_none() {
            assert!(started.elapsed() < LIMIT, "the writer made no progress");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let size = tokio::time::timeout(LIMIT, open.backup(&copy))
            .await
            .unwrap()
            .unwrap();
        assert!(size > 0);
        tokio::time::timeout(LIMIT, writer).await.unwrap().unwrap();
        let again = open.backup(&copy).await.unwrap_err();
        assert_eq!(
            again.kind(),
            strata::ErrorKind::InvalidInput,
            "an existing copy is not overwritten"
        );
    });
    drop(open);
    let keys: Vec<String> = ok(&["scan", path_str(&copy)])
        .lines()
        .map(|l| l.split('\t').next().unwrap().to_string())
        .collect();
    let (a, b): (Vec<_>, Vec<_>) = keys.iter().partition(|k| k.starts_with('a'));
    assert_eq!(
        a.len(),
        b.len(),
        "a pair was split: {} a, {} b",
        a.len(),
        b.len()
    );
    assert!(
        a.len() > 20 && a.len() < 2_000,
        "the copy was taken mid-write ({} pairs)",
        a.len()
    );
    assert!(ok(&["verify", path_str(&copy)]).starts_with("ok:"));
    // And from the CLI on a closed store.
    let cli_copy = dir.path().join("cli_copy.redb");
    assert!(ok(&["backup", path_str(&store), path_str(&cli_copy)]).starts_with("backed up to"));
    assert_eq!(
        ok(&["dump", path_str(&cli_copy)]),
        ok(&["dump", path_str(&store)])
    );
    assert_eq!(ok(&["dump", path_str(&cli_copy)]).lines().count(), 4_000);
}

#[test]
fn compact_shrinks_a_store_after_removals_and_keeps_what_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.redb");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let open = RedbBackend::builder(&store).open().await.unwrap();
        let mut batch = WriteBatch::new();
        for i in 0..5_000u32 {
            batch.put(format!("k{i:05}"), vec![7u8; 400]);
        }
        open.write_batch(batch).await.unwrap();
        let mut batch = WriteBatch::new();
        for i in 0..4_900u32 {
            batch.delete(format!("k{i:05}"));
        }
        open.write_batch(batch).await.unwrap();
        open.close().await.unwrap();
    });
    let before = std::fs::metadata(&store).unwrap().len();
    let said = ok(&["compact", path_str(&store)]);
    let after = std::fs::metadata(&store).unwrap().len();
    assert!(after < before, "{said}: {before} → {after}");
    assert!(said.contains(&format!("→ {after} bytes")), "{said}");
    assert_eq!(ok(&["scan", path_str(&store)]).lines().count(), 100);
    assert!(ok(&["verify", path_str(&store)]).starts_with("ok: 100 values"));
}

#[test]
fn sync_status_reads_the_outbox_of_an_offline_store_without_a_network() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("notes.redb");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let remote = strata_sync::MemoryRemote::new();
        remote.set_offline(true);
        let local = RedbBackend::builder(&store).open().await.unwrap();
        let notes = local.keyspace("notes").unwrap();
        let synced =
            strata_sync::SyncedStore::open(notes, remote, strata_sync::SyncConfig::default())
                .await
                .unwrap();
        for i in 0..3 {
            synced
                .put(format!("n{i}").into(), "written offline".into())
                .await
                .unwrap();
        }
        tokio::time::timeout(LIMIT, synced.close())
            .await
            .unwrap()
            .unwrap();
        drop(local);
    });
    let line = ok(&["sync", "status", path_str(&store), "--json"]);
    let status: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(status["keyspace"], "notes");
    assert_eq!(status["pending"], 3);
    assert_eq!(status["pending_bytes"], 3 * "written offline".len());
    assert_eq!(status["cursor"], 0);
    assert!(status["oldest_pending_unix_ms"].as_u64().unwrap() > 1_700_000_000_000);
    let text = ok(&["sync", "status", path_str(&store)]);
    assert!(text.starts_with("notes\tpending 3"), "{text}");
}

#[test]
fn every_command_works_on_a_remote_sqld_by_url() {
    let server = strata_tests::sqld::Sqld::start();
    let url = server.url();
    let token = server.token(strata_tests::sqld::Access::ReadWrite);
    let env = [("TURSO_AUTH_TOKEN", token.as_str())];
    let run = |args: &[&str], stdin: Option<&[u8]>| {
        let out = strata_with(args, stdin, &env);
        assert!(out.status.success(), "strata {args:?}: {}", stderr(&out));
        stdout(&out)
    };
    // Reading commands leave a fresh database as they found it: no schema created.
    let tables = || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let db = libsql::Builder::new_remote(url.clone(), token.clone())
                .build()
                .await
                .unwrap();
            let conn = db.connect().unwrap();
            let mut rows = conn
                .query(
                    "SELECT count(*) FROM sqlite_master WHERE name LIKE 'strata%'",
                    (),
                )
                .await
                .unwrap();
            rows.next().await.unwrap().unwrap().get::<i64>(0).unwrap()
        })
    };
    assert_eq!(tables(), 0, "a fresh server");
    let info: serde_json::Value =
        serde_json::from_str(&run(&["info", &url, "--json"], None)).unwrap();
    assert_eq!(info["keyspaces"], serde_json::json!([]));
    assert_eq!(run(&["scan", &url], None), "");
    assert_eq!(tables(), 0, "info and scan created nothing");
    run(&["put", &url, "user:1", "ada"], None);
    run(&["put", &url, "-k", "notes", "n1", "remote note"], None);
    assert_eq!(run(&["get", &url, "user:1"], None), "ada\n");
    assert_eq!(
        run(&["scan", &url, "--prefix", "user"], None),
        "user:1\tada\n"
    );
    let dump = run(&["dump", &url], None);
    assert_eq!(dump.lines().count(), 2);
    let reload = dump.replace("\"default\"", "\"copy\"");
    assert_eq!(
        run(&["load", &url], Some(reload.as_bytes())),
        "loaded 2 entries\n"
    );
    assert_eq!(run(&["get", &url, "-k", "copy", "user:1"], None), "ada\n");
    assert_eq!(run(&["delete", &url, "user:1"], None), "deleted\n");
    let info: serde_json::Value =
        serde_json::from_str(&run(&["info", &url, "--json"], None)).unwrap();
    let keyspaces = info["keyspaces"].as_array().unwrap();
    let default = keyspaces.iter().find(|k| k["name"] == "default").unwrap();
    assert_eq!(
        (default["entries"].as_u64(), default["tombstones"].as_u64()),
        (Some(0), Some(1))
    );
    let local_only = strata_with(&["verify", &url], None, &env);
    assert_eq!(local_only.status.code(), Some(1));
    assert!(
        stderr(&local_only).contains("local store file"),
        "{}",
        stderr(&local_only)
    );
    // A table in a format this Strata does not read is refused by reading commands too.
    let set_format = |format: i64| {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let db = libsql::Builder::new_remote(url.clone(), token.clone())
                .build()
                .await
                .unwrap();
            let conn = db.connect().unwrap();
            conn.execute(
                "UPDATE strata_meta SET value = ?1 WHERE name = 'format'",
                [format],
            )
            .await
            .unwrap();
        })
    };
    set_format(99);
    let newer = strata_with(&["get", &url, "-k", "copy", "user:1"], None, &env);
    assert_eq!(newer.status.code(), Some(1));
    assert!(stderr(&newer).contains("format 99"), "{}", stderr(&newer));
    set_format(2);
    let unreachable = strata_with(&["info", "http://127.0.0.1:9"], None, &env);
    assert_eq!(unreachable.status.code(), Some(1));
    assert!(
        stderr(&unreachable).contains("cannot reach"),
        "{}",
        stderr(&unreachable)
    );
    let unauthorised = strata(&["get", &url, "user:1"]);
    assert!(
        stderr(&unauthorised).contains("unauthorized"),
        "{}",
        stderr(&unauthorised)
    );
    assert_eq!(
        unauthorised.status.code(),
        Some(1),
        "no token: {}",
        stdout(&unauthorised)
    );
}

#[test]
fn reading_commands_leave_the_file_byte_for_byte_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.redb");
    let s = path_str(&store);
    for i in 0..30 {
        ok(&["put", s, &format!("k{i:02}"), &format!("value {i}")]);
    }
    let before = std::fs::read(&store).unwrap();
    let copy = dir.path().join("copy.redb");
    for args in [
        vec!["info", s],
        vec!["get", s, "k01"],
        vec!["scan", s, "--limit", "5"],
        vec!["dump", s],
        vec!["verify", s],
        vec!["sync", "status", s],
        vec!["backup", s, path_str(&copy)],
    ] {
        ok(&args);
        assert!(
            std::fs::read(&store).unwrap() == before,
            "{args:?} changed the store file"
        );
    }
    // A redb file some other program wrote is refused, and left as it was.
    let foreign = dir.path().join("foreign.redb");
    {
        let db = redb::Database::create(&foreign).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let def: redb::TableDefinition<'_, &str, u64> = redb::TableDefinition::new("users");
            txn.open_table(def).unwrap().insert("ada", 1).unwrap();
        }
        txn.commit().unwrap();
    }
    // And one holding only a multimap table (which redb lists apart from the others).
    let multimap = dir.path().join("multimap.redb");
    {
        let db = redb::Database::create(&multimap).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let def: redb::MultimapTableDefinition<'_, &str, u64> =
                redb::MultimapTableDefinition::new("tags");
            txn.open_multimap_table(def)
                .unwrap()
                .insert("ada", 1)
                .unwrap();
        }
        txn.commit().unwrap();
    }
    for foreign_file in [&multimap, &foreign] {
        let before = std::fs::read(foreign_file).unwrap();
        for args in [
            vec!["info", path_str(foreign_file)],
            vec!["compact", path_str(foreign_file)],
        ] {
            let out = strata(&args);
            assert_eq!(out.status.code(), Some(1), "{args:?}");
            assert!(
                stderr(&out).contains("not a Strata store"),
                "{args:?}: {}",
                stderr(&out)
            );
            assert!(
                std::fs::read(foreign_file).unwrap() == before,
                "{args:?} changed the foreign file"
            );
        }
    }
}

#[test]
fn a_store_opened_with_shared_reads_is_read_and_backed_up_while_its_owner_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.redb");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let open = rt
        .block_on(RedbBackend::builder(&store).shared_reads(true).open())
        .unwrap();
    rt.block_on(open.put("before".into(), "the tool starts".into()))
        .unwrap();
    let writer = {
        let store = open.clone();
        rt.spawn(async move {
            for i in 0..1_000u32 {
                let mut batch = WriteBatch::new();
                batch
                    .put(format!("a{i:04}"), "x")
                    .put(format!("b{i:04}"), "y");
                store.write_batch(batch).await.unwrap();
            }
        })
    };
    // Every reading command works on the running store, and sees its commits.
    assert_eq!(
        ok(&["get", path_str(&store), "before"]),
        "the tool starts\n"
    );
    assert!(ok(&["info", path_str(&store)]).contains("default"));
    assert!(ok(&["verify", path_str(&store)]).starts_with("ok:"));
    let copy = dir.path().join("copy.redb");
    assert!(ok(&["backup", path_str(&store), path_str(&copy)]).starts_with("backed up to"));
    rt.block_on(async { tokio::time::timeout(LIMIT, writer).await.unwrap().unwrap() });
    let keys: Vec<String> = ok(&["scan", path_str(&copy)])
        .lines()
        .map(|l| l.split('\t').next().unwrap().to_string())
        .collect();
    let a = keys.iter().filter(|k| k.starts_with("a0")).count();
    let b = keys.iter().filter(|k| k.starts_with("b0")).count();
    assert_eq!(a, b, "the copy is one commit: no pair split");
    assert!(
        a > 0 && a < 1_000,
        "taken while the owner wrote ({a} pairs)"
    );
    assert!(keys.contains(&"before".to_string()));
    // Writing still needs the file to itself.
    let out = strata(&["put", path_str(&store), "k", "v"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("open in another process"),
        "{}",
        stderr(&out)
    );
    rt.block_on(open.close()).unwrap();
}
