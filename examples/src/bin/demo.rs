//! Strata demo: an embedded store (a redb file, no server) under a realistic workload —
//! concurrent writes, skewed reads, prefix scans, updates and deletes — then a summary.
//!
//! ```text
//! cargo run --release -p strata-examples --bin demo -- [--dir DIR] [--episodes N] [--cache-mib N] [--sync MODE]
//! ```
//! With `TURSO_DATABASE_URL` (+ `TURSO_AUTH_TOKEN`) set, or `--local-sqld` (starts a sqld on
//! 127.0.0.1 through the test harness), redb tiers over Turso: memory → redb → turso.
//! The store is the embedded default: a 2 MiB memory cache (adaptive W-TinyLFU) over a redb
//! file, so hot reads never touch the disk.
//! MODE is `full` (default), `normal:N`, `checkpoint` or `off`. Without `--dir` the store
//! lives in a temporary directory that is removed at the end.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use strata::{
    DynBackend, IntoDyn, KeyRange, MemoryCache, StorageBackend, SyncMode, Tiered, WriteBatch,
};
use strata_codecs::{Collection, Compressed, CompressionConfig};
use strata_examples::latency::{Latencies, human, human_bytes};
use strata_examples::progress::Progress;
use strata_examples::rng::{Rng, Zipf};
use strata_redb::RedbBackend;

const DAYS: u64 = 100;

/// A typed record for the zero-copy part of the demo.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
struct Profile {
    id: u64,
    name: String,
    scores: Vec<f32>,
}
const WRITERS: u64 = 16;
const READERS: u64 = 8;

struct Args {
    dir: Option<PathBuf>,
    episodes: u64,
    sync: SyncMode,
    cache_bytes: u64,
    local_sqld: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        dir: None,
        episodes: 20_000,
        sync: SyncMode::Full,
        cache_bytes: 2 << 20,
        local_sqld: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--dir" => args.dir = Some(PathBuf::from(value()?)),
            "--local-sqld" => args.local_sqld = true,
            "--episodes" => {
                args.episodes = value()?.parse().map_err(|e| format!("--episodes: {e}"))?
            }
            "--sync" => {
                let v = value()?;
                args.sync = match v.as_str() {
                    "full" => SyncMode::Full,
                    "checkpoint" => SyncMode::Checkpoint,
                    "off" => SyncMode::Off,
                    other => match other.strip_prefix("normal:").and_then(|n| n.parse().ok()) {
                        Some(n) => SyncMode::normal(n),
                        None => return Err(format!("unknown sync mode {v:?}")),
                    },
                }
            }
            "-h" | "--help" => {
                println!(
                    "usage: demo [--dir DIR] [--episodes N] [--cache-mib N] [--sync full|normal:N|checkpoint|off] [--local-sqld]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if args.episodes < WRITERS {
        return Err(format!("--episodes must be at least {WRITERS}"));
    }
    Ok(args)
}

fn episode_key(id: u64) -> Bytes {
    Bytes::from(format!("ep/{:03}/{id:07}", id % DAYS))
}

/// A JSON-like record of a few hundred bytes, like an agent's episode log.
fn episode_value(id: u64, version: u32, rng: &mut Rng) -> Bytes {
    let steps: Vec<String> = (0..3 + rng.below(6))
        .map(|s| {
            format!(
                "{{\"step\":{s},\"action\":\"tool_call\",\"ok\":{}}}",
                rng.below(10) > 1
            )
        })
        .collect();
    Bytes::from(format!(
        "{{\"id\":{id},\"version\":{version},\"day\":{},\"task\":\"summarise the quarterly report #{id}\",\"steps\":[{}],\"tags\":[\"demo\",\"day-{}\"]}}",
        id % DAYS,
        steps.join(","),
        id % DAYS
    ))
}

#[derive(Default)]
struct Report {
    rows: BTreeMap<&'static str, (Latencies, Duration)>,
}

impl Report {
    fn add(&mut self, op: &'static str, lat: Latencies, wall: Duration) {
        let row = self.rows.entry(op).or_default();
        row.0.merge(lat);
        row.1 += wall;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("demo: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(args).await {
        eprintln!("demo failed: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> strata::Result<()> {
    let temp = tempfile::tempdir().map_err(|e| {
        strata::Error::unexpected(strata::Operation::Open, "temp dir").with_source(e)
    })?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&dir).map_err(|e| {
        strata::Error::unexpected(strata::Operation::Open, "create --dir").with_source(e)
    })?;
    let path = dir.join("strata-demo.redb");
    println!(
        "Strata demo — embedded store at {} (sync mode: {:?})\n",
        path.display(),
        args.sync
    );

    let redb = RedbBackend::builder(&path)
        .sync_mode(args.sync)
        .open()
        .await?;
    // Remote mode: with TURSO_DATABASE_URL (and TURSO_AUTH_TOKEN) set, or --local-sqld (starts
    // a sqld on 127.0.0.1 through the test harness), redb tiers over Turso.
    let _sqld;
    let remote = if args.local_sqld {
        let sqld = strata_tests::sqld::Sqld::start();
        let token = sqld.token(strata_tests::sqld::Access::ReadWrite);
        let remote = strata_turso::TursoBackend::builder(sqld.url())
            .auth_token(token)
            .open()
            .await?;
        _sqld = Some(sqld);
        Some(remote)
    } else if std::env::var_os("TURSO_DATABASE_URL").is_some() {
        Some(strata_turso::TursoBackend::from_env()?.open().await?)
    } else {
        None
    };
    // Remote mode is offline-first: the redb file is the source of truth for every read and
    // write (nothing waits for the network), and each write's outbox entry, committed with
    // it, is pushed to Turso in the background (write-behind), changes pulled back.
    let (base, synced): (DynBackend, _) = match &remote {
        Some(remote) => {
            println!(
                "Remote tier: {} (memory → redb, write-behind to turso)\n",
                remote.config().redacted_url()
            );
            let config = strata_sync::SyncConfig::default()
                .background(Some(std::time::Duration::from_secs(5)));
            let synced =
                strata_sync::SyncedStore::open(redb.clone(), remote.clone(), config).await?;
            (synced.clone().into_dyn(), Some(synced))
        }
        None => (redb.clone().into_dyn(), None),
    };
    // On disk, every value is checksummed and zstd-compressed when that saves 20 %.
    // Episodes are 300-800 bytes of JSON: compress from 256 bytes (the default is 1 KiB).
    let compressed = Compressed::with_config(base, CompressionConfig::default().threshold(256));
    let lower: DynBackend = compressed.clone().into_dyn();
    // The embedded default: a bounded memory cache (adaptive W-TinyLFU) over the redb file.
    let cache = MemoryCache::builder().max_bytes(args.cache_bytes).build()?;
    let store = Tiered::new(cache.clone(), lower);
    let episodes = store.keyspace("episodes")?;
    let stats = store.keyspace("stats")?;
    let mut report = Report::default();

    // 1. Load: 16 concurrent writers; 3 of 4 episodes go in batches of 25, 1 in 4 as single
    // puts, so group commit and atomic batches both work.
    let started = Instant::now();
    let mut progress = Progress::new("writing episodes", args.episodes);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(u64, Latencies, Latencies)>();
    for w in 0..WRITERS {
        let (episodes, tx) = (episodes.clone(), tx.clone());
        let per_writer = args.episodes / WRITERS + u64::from(w < args.episodes % WRITERS);
        tokio::spawn(async move {
            let mut rng = Rng::new(w + 1);
            let (mut puts, mut batches) = (Latencies::default(), Latencies::default());
            let mut done = 0;
            while done < per_writer {
                let id = |i: u64| (done + i) * WRITERS + w;
                if rng.below(4) == 0 {
                    let t = Instant::now();
                    episodes
                        .put(episode_key(id(0)), episode_value(id(0), 1, &mut rng))
                        .await?;
                    puts.record(t.elapsed());
                    done += 1;
                    let _ = tx.send((1, std::mem::take(&mut puts), Latencies::default()));
                } else {
                    let n = 25.min(per_writer - done);
                    let mut batch = WriteBatch::with_capacity(n as usize);
                    for i in 0..n {
                        batch.put(episode_key(id(i)), episode_value(id(i), 1, &mut rng));
                    }
                    let t = Instant::now();
                    episodes.write_batch(batch).await?;
                    batches.record(t.elapsed());
                    done += n;
                    let _ = tx.send((n, Latencies::default(), std::mem::take(&mut batches)));
                }
            }
            Ok::<_, strata::Error>(())
        });
    }
    drop(tx);
    let (mut puts, mut batches) = (Latencies::default(), Latencies::default());
    let mut written = 0;
    while let Some((n, p, b)) = rx.recv().await {
        written += n;
        puts.merge(p);
        batches.merge(b);
        progress.advance(n);
    }
    if written != args.episodes {
        return Err(strata::Error::unexpected(
            strata::Operation::Put,
            format!("only {written} of {} episodes written", args.episodes),
        ));
    }
    progress.finish();
    let load_wall = started.elapsed();
    report.add("put (single)", puts, load_wall);
    report.add("write_batch (25)", batches, load_wall);

    // 2. Skewed reads: Zipf(0.99) over the episodes, 8 concurrent readers.
    let reads = args.episodes * 3;
    let zipf = Arc::new(Zipf::new(args.episodes as usize, 0.99));
    let started = Instant::now();
    let mut progress = Progress::new("reading (zipf 0.99)", reads);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Latencies, u64)>();
    for r in 0..READERS {
        let (episodes, zipf, tx) = (episodes.clone(), zipf.clone(), tx.clone());
        tokio::spawn(async move {
            let mut rng = Rng::new(100 + r);
            let (mut lat, mut found) = (Latencies::default(), 0u64);
            for i in 0..reads / READERS {
                let id = zipf.sample(&mut rng) as u64;
                let t = Instant::now();
                found += u64::from(episodes.get(&episode_key(id)).await?.is_some());
                lat.record(t.elapsed());
                if i % 500 == 499 {
                    let _ = tx.send((std::mem::take(&mut lat), std::mem::take(&mut found)));
                }
            }
            let _ = tx.send((lat, found));
            Ok::<_, strata::Error>(())
        });
    }
    drop(tx);
    let (mut lat, mut found) = (Latencies::default(), 0);
    while let Some((l, f)) = rx.recv().await {
        progress.advance(l.count() as u64);
        lat.merge(l);
        found += f;
    }
    progress.finish();
    if lat.count() as u64 != reads / READERS * READERS || found != lat.count() as u64 {
        return Err(strata::Error::unexpected(
            strata::Operation::Get,
            "a written episode was not found",
        ));
    }
    report.add("get", lat, started.elapsed());

    // 3. Prefix scans: the first 50 episodes of a day.
    let started = Instant::now();
    let mut lat = Latencies::default();
    let mut rng = Rng::new(999);
    for _ in 0..1000 {
        let day = rng.below(DAYS);
        let t = Instant::now();
        let rows = episodes
            .scan(KeyRange::prefix(format!("ep/{day:03}/")), Some(50))
            .await?;
        lat.record(t.elapsed());
        debug_assert!(
            rows.iter()
                .all(|(k, _)| k.starts_with(format!("ep/{day:03}/").as_bytes()))
        );
    }
    report.add("scan (prefix, 50)", lat, started.elapsed());

    // 4. Updates and deletes, then a counter in another keyspace.
    let started = Instant::now();
    let (mut upd, mut del) = (Latencies::default(), Latencies::default());
    // The live episode ids, kept alongside to check the store after reopening.
    let mut live: std::collections::BTreeSet<u64> = (0..args.episodes).collect();
    let mut deleted = 0;
    for i in 0..1000u64 {
        let id = rng.below(args.episodes);
        let t = Instant::now();
        if i % 4 == 0 {
            let was_there = episodes.delete(&episode_key(id)).await?;
            del.record(t.elapsed());
            if was_there != live.remove(&id) {
                return Err(strata::Error::unexpected(
                    strata::Operation::Delete,
                    "delete disagreed with the model",
                ));
            }
            deleted += u64::from(was_there);
        } else {
            let value = episode_value(id, 2, &mut rng);
            episodes.put(episode_key(id), value).await?;
            upd.record(t.elapsed());
            live.insert(id);
        }
    }
    let wall = started.elapsed();
    report.add("put (update)", upd, wall);
    report.add("delete", del, wall);
    stats
        .put("episodes_deleted".into(), Bytes::from(deleted.to_string()))
        .await?;
    store.flush().await?;

    // 6. Typed records: an rkyv collection over the same tiers, read zero-copy.
    let started = Instant::now();
    // Its own small cache, so the profiles are not competing with the hot episodes.
    let profile_cache = MemoryCache::builder().max_bytes(1 << 20).build()?;
    let profile_store = Tiered::new(profile_cache, compressed.clone()).keyspace("profiles")?;
    let profiles: Collection<u64, Profile, _> = Collection::new(profile_store);
    for id in 0..500u64 {
        let profile = Profile {
            id,
            name: format!("user-{id}"),
            scores: (0..64).map(|i| (i as f32 + id as f32) / 64.0).collect(),
        };
        profiles.put(&id, &profile).await?;
    }
    let mut typed_lat = Latencies::default();
    let mut checksum = 0.0f32;
    for i in 0..20_000u64 {
        let t = Instant::now();
        let p = profiles.get(&(i % 500)).await?.expect("written above");
        checksum += p.scores[63].to_native();
        typed_lat.record(t.elapsed());
    }
    std::hint::black_box(checksum);
    report.add("typed get (rkyv)", typed_lat, started.elapsed());
    let typed_validations = profiles.validations();
    drop(profiles);

    let tier_stats = store.stats();
    let compression = compressed.stats();
    let cache_stats = cache.stats();
    let redb_stats = redb.stats();

    // Remote mode: wait until the server holds every write (both keyspaces), then close.
    let mut sync_status = None;
    if let Some(synced) = synced {
        for name in ["stats", "episodes"] {
            let keyspace = synced.keyspace(name)?;
            keyspace
                .flush_sync(std::time::Duration::from_secs(60))
                .await?;
            sync_status = Some(keyspace.sync_status().await?);
        }
        drop((episodes, stats, store, cache, compressed));
        synced.close().await?;
    } else {
        drop((episodes, stats, store, cache, compressed));
    }

    // 5. Close and reopen: everything is still there.
    redb.close().await?;
    let t = Instant::now();
    let store = RedbBackend::builder(&path)
        .sync_mode(args.sync)
        .open()
        .await?;
    let reopen = t.elapsed();
    // Remote mode reads through the synced store (records carry their versions on disk).
    let reopened: DynBackend = match &remote {
        Some(remote) => {
            let config = strata_sync::SyncConfig::default().background(None);
            strata_sync::SyncedStore::open(store.clone(), remote.clone(), config)
                .await?
                .into_dyn()
        }
        None => store.clone().into_dyn(),
    };
    let episodes = reopened.keyspace("episodes")?;
    let kept = episodes.scan(KeyRange::all(), None).await?;
    let bytes: u64 = kept.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum();
    let stats_rows = reopened
        .keyspace("stats")?
        .scan(KeyRange::all(), None)
        .await?
        .len();
    let file_size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    drop(episodes);
    store.close().await?;

    print_report(&mut report);
    println!("\nCache (memory over redb)");
    println!(
        "  hit rate        {:.1} % of {} reads ({} served from memory, {} from redb)",
        tier_stats.hit_ratio() * 100.0,
        tier_stats.hits + tier_stats.misses,
        tier_stats.hits,
        tier_stats.lower_reads
    );
    println!(
        "  redb reads      {} avoided ({} hits, {} merged concurrent misses)",
        tier_stats.lower_reads_avoided(),
        tier_stats.hits,
        tier_stats.merged
    );
    println!(
        "  memory          {} entries, {} of {} budget; {} evicted for space",
        cache_stats.resident_entries,
        human_bytes(cache_stats.resident_weight),
        human_bytes(args.cache_bytes),
        cache_stats.evicted_capacity
    );
    println!(
        "  redb writes     {} commits, {} fsyncs, {:.1} callers per commit on average",
        redb_stats.commits,
        redb_stats.fsyncs,
        redb_stats.mean_group_size()
    );
    println!(
        "  typed reads     20000 zero-copy reads of 500 records; {typed_validations} buffers validated (cached buffers are not re-validated)"
    );
    println!(
        "  compression     {} written as {} on disk ({} saved, {} of {} values compressed)",
        human_bytes(compression.bytes_in),
        human_bytes(compression.bytes_out),
        human_bytes(compression.bytes_saved()),
        compression.compressed,
        compression.values
    );
    println!("\nWhere the data lives");
    println!("  file            {}", path.display());
    println!("  file size       {}", human_bytes(file_size));
    println!("  sync mode       {:?}", args.sync);
    if let (Some(remote), Some(status)) = (&remote, &sync_status) {
        println!(
            "  remote          {} (write-behind: {} records pushed, {} pending, {} conflicts lost; {} TCP connects in all)",
            remote.config().redacted_url(),
            status.pushed,
            status.pending,
            status.conflicts_lost,
            remote.tcp_connects()
        );
    }
    println!(
        "  keyspace        episodes: {} entries ({} stored); stats: {stats_rows} entry",
        kept.len(),
        human_bytes(bytes)
    );
    println!(
        "  after reopen    all {} surviving episodes read back; reopen took {}",
        kept.len(),
        human(reopen)
    );
    let mut kept_ids: Vec<u64> = kept
        .iter()
        .filter_map(|(k, _)| {
            std::str::from_utf8(k)
                .ok()?
                .rsplit('/')
                .next()?
                .parse()
                .ok()
        })
        .collect();
    kept_ids.sort_unstable();
    let expected: Vec<u64> = live.iter().copied().collect();
    println!(
        "  check           {} live episodes expected ({} written, {deleted} deleted, some re-created): {}",
        expected.len(),
        args.episodes,
        if kept_ids == expected {
            "all present, nothing extra"
        } else {
            "MISMATCH"
        }
    );
    if kept_ids != expected {
        return Err(strata::Error::unexpected(
            strata::Operation::Open,
            "the reopened store does not hold what was written",
        ));
    }
    if args.dir.is_none() {
        println!("  (temporary directory; pass --dir DIR to keep the file)");
    }
    Ok(())
}

fn print_report(report: &mut Report) {
    println!(
        "\n{:<20} {:>8} {:>12} {:>10} {:>10} {:>10}",
        "operation", "count", "ops/s", "p50", "p95", "p99"
    );
    println!("{}", "─".repeat(75));
    for (op, (lat, wall)) in report.rows.iter_mut() {
        let ops = lat.count() as f64 / wall.as_secs_f64().max(1e-9);
        println!(
            "{op:<20} {:>8} {:>12.0} {:>10} {:>10} {:>10}",
            lat.count(),
            ops,
            human(lat.percentile(50.0)),
            human(lat.percentile(95.0)),
            human(lat.percentile(99.0))
        );
    }
}
