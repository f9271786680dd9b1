//! Resident memory per cached entry: Strata's `MemoryCache` against moka and quick_cache
//! holding the same `Bytes`, and how closely a `max_bytes` budget bounds the process.
//!
//! `cargo run --release -p strata-bench --bin memory`
//!
//! Each measurement runs in a fresh child process (this binary, re-run with the case's name),
//! so one cache's freed memory cannot flatter the next: RSS is read from `/proc/self/status`
//! before and after the inserts, and the growth is compared with the payload (key + value
//! bytes).

use std::process::Command;

use bytes::Bytes;
use strata::{MemoryCache, StorageBackend};
use strata_tests::deadline::ready;

const ENTRIES: usize = 500_000;
const KEY_LEN: usize = 16;
const VALUE_LEN: usize = 100;
const BUDGET: u64 = 64 << 20;

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kb * 1024
}

fn entry(i: usize) -> (Bytes, Bytes) {
    let key = format!("{i:016}");
    debug_assert_eq!(key.len(), KEY_LEN);
    (
        Bytes::from(key),
        Bytes::from(vec![(i % 251) as u8; VALUE_LEN]),
    )
}

/// Runs one case in this process; prints `growth_bytes entries`.
fn run_case(case: &str) {
    let before = rss_bytes();
    let kept = match case {
        "strata" => {
            let cache = MemoryCache::builder()
                .max_entries(ENTRIES as u64 * 2)
                .build()
                .unwrap();
            for i in 0..ENTRIES {
                let (k, v) = entry(i);
                ready(cache.put(k, v)).unwrap();
            }
            let n = cache.len();
            std::mem::forget(cache);
            n
        }
        "moka" => {
            let cache: moka::sync::Cache<Bytes, Bytes> = moka::sync::Cache::new(ENTRIES as u64 * 2);
            for i in 0..ENTRIES {
                let (k, v) = entry(i);
                cache.insert(k, v);
            }
            cache.run_pending_tasks();
            let n = cache.entry_count() as usize;
            std::mem::forget(cache);
            n
        }
        "quick_cache" => {
            let cache: quick_cache::sync::Cache<Bytes, Bytes> =
                quick_cache::sync::Cache::new(ENTRIES * 2);
            for i in 0..ENTRIES {
                let (k, v) = entry(i);
                cache.insert(k, v);
            }
            let n = cache.len();
            std::mem::forget(cache);
            n
        }
        "strata_budget" => {
            // Four times the budget's worth of payload through a byte-bounded cache.
            let cache = MemoryCache::builder().max_bytes(BUDGET).build().unwrap();
            let n = 4 * (BUDGET as usize) / (KEY_LEN + VALUE_LEN);
            for i in 0..n {
                let (k, v) = entry(i);
                ready(cache.put(k, v)).unwrap();
            }
            let n = cache.len();
            std::mem::forget(cache);
            n
        }
        other => panic!("unknown case {other}"),
    };
    println!("{} {kept}", rss_bytes().saturating_sub(before));
}

fn main() {
    if let Some(case) = std::env::args().nth(1) {
        run_case(&case);
        return;
    }
    let me = std::env::current_exe().unwrap();
    let measure = |case: &str| -> (u64, usize) {
        let out = Command::new(&me).arg(case).output().expect("run a case");
        assert!(
            out.status.success(),
            "{case}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let mut parts = text.split_whitespace();
        let growth = parts.next().unwrap().parse().unwrap();
        let kept = parts.next().unwrap().parse().unwrap();
        (growth, kept)
    };
    let payload = (ENTRIES * (KEY_LEN + VALUE_LEN)) as f64;
    println!(
        "{ENTRIES} entries of {KEY_LEN}-byte keys and {VALUE_LEN}-byte values ({:.1} MiB payload), RSS growth per process\n",
        payload / (1 << 20) as f64
    );
    println!("| cache | RSS growth | × payload | bytes per entry beyond the payload |");
    println!("|---|---:|---:|---:|");
    for case in ["strata", "moka", "quick_cache"] {
        let (growth, kept) = measure(case);
        assert_eq!(kept, ENTRIES, "{case} kept every entry");
        println!(
            "| {case} | {:.1} MiB | {:.2}× | {:.0} |",
            growth as f64 / (1 << 20) as f64,
            growth as f64 / payload,
            (growth as f64 - payload) / ENTRIES as f64
        );
    }
    let (growth, kept) = measure("strata_budget");
    println!(
        "\n`MemoryCache::max_bytes({} MiB)` after 4× its payload: RSS growth {:.1} MiB = **{:.2}× the budget**, {kept} entries resident",
        BUDGET >> 20,
        growth as f64 / (1 << 20) as f64,
        growth as f64 / BUDGET as f64
    );
}
