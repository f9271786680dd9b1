//! Embedded stores side by side: Strata's `RedbBackend` and `Tiered(MemoryCache, RedbBackend)`
//! against raw redb, LMDB (heed), fjall and SQLite (rusqlite, bundled), in the shape of redb's
//! `lmdb_benchmark` plus YCSB A, B, C and F (Zipf 0.99). See `side_by_side/mod.rs` for what
//! each store's durability is.
//!
//! ```text
//! cargo run --release -p strata-bench --features peers --bin side_by_side -- \
//!     [--records 1000000] [--cache-percent 10] [--ops N] [--out target/side_by_side]
//!     [--stores redb,lmdb,...]
//! ```
//!
//! Without `--features peers` only raw redb and Strata run (the peers' C libraries are not
//! compiled). Prints a markdown table; writes `side_by_side.csv` and `side_by_side.svg` to
//! `--out`.

use std::path::PathBuf;
use std::time::Instant;

use strata_bench::side_by_side::data::{self, Workload};
use strata_bench::side_by_side::report::{Results, Row, Unit};
use strata_bench::side_by_side::stores::{RawRedbStore, StrataStore};
use strata_bench::side_by_side::{Store, dir_bytes};

struct Args {
    records: u64,
    cache_percent: u64,
    ops: usize,
    out: PathBuf,
    /// Only these stores, when given.
    only: Option<Vec<String>>,
}

fn parse_args() -> Args {
    let mut args = Args {
        records: 1_000_000,
        cache_percent: 10,
        ops: 0,
        out: PathBuf::from("target/side_by_side"),
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--records" => args.records = value().parse().expect("--records: a number"),
            "--cache-percent" => {
                args.cache_percent = value().parse().expect("--cache-percent: a number");
            }
            "--ops" => args.ops = value().parse().expect("--ops: a number"),
            "--out" => args.out = PathBuf::from(value()),
            "--stores" => {
                let names: Vec<String> = value().split(',').map(|s| s.trim().to_string()).collect();
                for n in &names {
                    assert!(
                        NAMES.contains(&n.as_str()),
                        "--stores: no store {n} (have {NAMES:?})"
                    );
                }
                args.only = Some(names);
            }
            other => panic!("unknown argument {other}"),
        }
    }
    if args.ops == 0 {
        args.ops = (args.records / 5) as usize;
    }
    args
}

/// The stores, in the table's column order.
const NAMES: &[&str] = &[
    "redb",
    #[cfg(feature = "peers")]
    "lmdb",
    #[cfg(feature = "peers")]
    "fjall",
    #[cfg(feature = "peers")]
    "sqlite",
    "strata redb",
    "strata tiered",
];

fn open(name: &str, dir: &std::path::Path, args: &Args) -> Box<dyn Store> {
    match name {
        "redb" => Box::new(RawRedbStore::create(dir)),
        #[cfg(feature = "peers")]
        "lmdb" => Box::new(strata_bench::side_by_side::peers::LmdbStore::create(
            dir,
            (args.records as usize + 200_000) * 600,
        )),
        #[cfg(feature = "peers")]
        "fjall" => Box::new(strata_bench::side_by_side::peers::FjallStore::create(dir)),
        #[cfg(feature = "peers")]
        "sqlite" => Box::new(strata_bench::side_by_side::peers::SqliteStore::create(dir)),
        "strata redb" => Box::new(StrataStore::redb(dir)),
        "strata tiered" => Box::new(StrataStore::tiered(
            dir,
            (args.records * args.cache_percent / 100).max(1),
        )),
        other => unreachable!("no store {other}"),
    }
}

/// Times `f`, in milliseconds.
fn millis(f: impl FnOnce()) -> f64 {
    let start = Instant::now();
    f();
    start.elapsed().as_secs_f64() * 1e3
}

/// Runs every phase on one store; returns (phase, unit, reading) in order.
fn run_store(store: &mut dyn Store, args: &Args) -> Vec<(String, Unit, f64)> {
    let n = args.records;
    let mut rows = Vec::new();
    let mut row = |phase: String, unit, v: f64| {
        eprintln!("  {phase}: {v:.1}");
        rows.push((phase, unit, v));
    };

    let load = data::records(0, n);
    row(
        format!("bulk load ({n} records, 100,000 per commit)"),
        Unit::Millis,
        millis(|| store.put_chunks(&load, 100_000)),
    );
    drop(load);
    store.sync();
    row(
        "size after load".into(),
        Unit::Bytes,
        dir_bytes(store.dir()) as f64,
    );

    let singles = data::records(n, n + 1_000);
    row(
        "individual writes (1,000 commits of 1)".into(),
        Unit::Millis,
        millis(|| store.put_chunks(&singles, 1)),
    );
    let batches = data::records(n + 1_000, n + 101_000);
    row(
        "batch writes (100 commits of 1,000)".into(),
        Unit::Millis,
        millis(|| store.put_chunks(&batches, 1_000)),
    );
    // Untimed: writes of the three phases read back (a store that dropped writes fails here,
    // not silently faster).
    let written: Vec<Vec<u8>> = (0..n)
        .step_by(97)
        .map(data::key)
        .chain(singles.iter().chain(&batches).map(|(k, _)| k.clone()))
        .collect();
    assert_eq!(
        store.get_each(&written),
        written.len(),
        "{}: every write reads back",
        store.name()
    );

    let reads = data::uniform_keys(n, n as usize, 7);
    let mut found = 0;
    row(
        format!("random reads ({n}, 1 thread)"),
        Unit::Millis,
        millis(|| found = store.get_each(&reads)),
    );
    assert_eq!(
        found,
        reads.len(),
        "{}: every read key exists",
        store.name()
    );
    let (a, b) = reads.split_at(reads.len() / 2);
    let shared: &dyn Store = store;
    row(
        format!("random reads ({n}, 2 threads)"),
        Unit::Millis,
        millis(|| {
            let found = std::thread::scope(|s| {
                let other = s.spawn(|| shared.get_each(b));
                shared.get_each(a) + other.join().expect("reader thread")
            });
            assert_eq!(found, reads.len());
        }),
    );
    drop(reads);
    let starts = data::uniform_keys(n, 10_000, 8);
    let mut pairs = 0;
    row(
        "range reads (10,000 of 100 pairs)".into(),
        Unit::Millis,
        millis(|| pairs = store.scan_each(&starts, 100)),
    );
    assert!(
        pairs > 990_000,
        "{}: scans read {pairs} pairs",
        store.name()
    );

    let keys: Vec<Vec<u8>> = (0..n).map(data::key).collect();
    let value = data::value(u64::MAX);
    store.set_durable(false);
    for (w, workload) in Workload::ALL.into_iter().enumerate() {
        let ops = data::ycsb_ops(workload, n, args.ops, 100 + w as u64);
        // One unmeasured pass warms every store's caches alike (Strata's tier starts cold
        // after the reopen that switched its sync mode).
        store.run_ops(&ops, &keys, &value);
        let mut found = 0;
        let ms = millis(|| found = store.run_ops(&ops, &keys, &value));
        let reads = ops
            .iter()
            .filter(|o| matches!(o, strata_bench::side_by_side::Op::Read(_)))
            .count();
        assert_eq!(
            found,
            reads,
            "{}: every YCSB read finds its key",
            store.name()
        );
        row(
            format!("{} ({} ops)", workload.label(), args.ops),
            Unit::Millis,
            ms,
        );
    }
    store.set_durable(true);
    // Untimed: make the unsynced YCSB commits durable now, so the removals phase does not
    // pay for them (Strata's reopen to switch modes already does this at close).
    store.sync();

    // Records 0, 2, 4, ... go.
    let removed: Vec<Vec<u8>> = keys.into_iter().step_by(2).collect();
    row(
        format!("removals ({}, 10,000 per commit)", removed.len()),
        Unit::Millis,
        millis(|| store.remove_chunks(&removed, 10_000)),
    );
    store.sync();
    // Untimed: removed keys are gone, the others remain.
    let sample = n.min(20_000);
    let gone: Vec<Vec<u8>> = (0..sample).step_by(2).map(data::key).collect();
    let kept: Vec<Vec<u8>> = (1..sample).step_by(2).map(data::key).collect();
    assert_eq!(
        store.get_each(&gone),
        0,
        "{}: removed keys are gone",
        store.name()
    );
    assert_eq!(
        store.get_each(&kept),
        kept.len(),
        "{}: the rest remain",
        store.name()
    );
    row(
        "size after removals".into(),
        Unit::Bytes,
        dir_bytes(store.dir()) as f64,
    );
    rows
}

fn main() {
    let args = parse_args();
    std::fs::create_dir_all(&args.out).expect("--out dir");
    let names: Vec<&'static str> = NAMES
        .iter()
        .copied()
        .filter(|n| args.only.as_ref().is_none_or(|o| o.iter().any(|x| x == n)))
        .collect();
    let mut results = Results {
        stores: names.clone(),
        rows: Vec::new(),
    };
    for (column, name) in names.iter().enumerate() {
        eprintln!("{name}:");
        let dir = tempfile::tempdir_in(&args.out).expect("a data dir");
        let mut store = open(name, &dir.path().join("data"), &args);
        let readings = run_store(store.as_mut(), &args);
        drop(store);
        for (i, (phase, unit, v)) in readings.into_iter().enumerate() {
            if column == 0 {
                results.rows.push(Row {
                    phase,
                    unit,
                    values: Vec::new(),
                });
            }
            results.rows[i].values.push(v);
        }
    }
    println!(
        "{} records ({}-byte keys, {}-byte values), YCSB {} ops, cache {} % of records\n",
        args.records,
        data::KEY_LEN,
        data::VALUE_LEN,
        args.ops,
        args.cache_percent
    );
    println!("{}", results.markdown());
    std::fs::write(args.out.join("side_by_side.csv"), results.csv()).expect("write CSV");
    results.svg(&args.out.join("side_by_side.svg"));
    eprintln!("wrote {}/side_by_side.{{csv,svg}}", args.out.display());
}
