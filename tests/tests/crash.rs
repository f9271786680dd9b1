//! Crash consistency: a writer process is killed with SIGKILL at random moments while
//! writing; the store must always reopen and hold what its sync mode promises. The OS page
//! cache survives a kill, so this checks recovery and what the process held in memory; a
//! missing fsync shows only in the simulated power cuts of `power_cut.rs`.
//!
//! Rounds per mode: `STRATA_CRASH_ROUNDS` (default 20). Each round kills a fresh writer on
//! the same file, so later rounds also reopen stores that survived earlier kills.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::Rng;
use strata::{KeyRange, StorageBackend, SyncMode};
use strata_redb::RedbBackend;
use strata_tests::crash::{crash_value, mode_arg, parse_crash_key};

const WRITER: &str = env!("CARGO_BIN_EXE_crash_writer");

fn rounds() -> u32 {
    std::env::var("STRATA_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

/// What one writer reported before it died.
#[derive(Debug, Default, Clone, Copy)]
struct Reported {
    /// Highest acknowledged sequence number, if any.
    acked: Option<u64>,
    /// Highest sequence number covered by a completed flush, if any.
    flushed: Option<u64>,
}

/// Starts a writer, kills it after a random delay, returns what each writer reported.
fn run_and_kill(
    path: &std::path::Path,
    mode: SyncMode,
    round: u32,
    writers: u32,
    flush_every: u64,
) -> BTreeMap<u32, Reported> {
    let mut child = Command::new(WRITER)
        .args([
            path.to_str().unwrap(),
            &mode_arg(mode),
            &round.to_string(),
            &writers.to_string(),
            &flush_every.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start crash_writer");
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            match line {
                Ok(line) => lines.push(line),
                Err(_) => break,
            }
        }
        lines
    });
    // Kill somewhere between 30 ms and 400 ms after start: early kills hit the open and the
    // first commits, late ones hit a busy writer.
    let delay = Duration::from_millis(rand::rng().random_range(30..400));
    let started = Instant::now();
    std::thread::sleep(delay);
    child.kill().expect("SIGKILL the writer");
    let status = child.wait().expect("reap the writer");
    assert!(
        !status.success(),
        "the writer must die from the kill, not exit (after {:?})",
        started.elapsed()
    );
    let lines = reader.join().unwrap();

    let mut reported: BTreeMap<u32, Reported> =
        (0..writers).map(|w| (w, Reported::default())).collect();
    for line in &lines {
        let mut words = line.split_whitespace();
        let (Some(what), Some(w), Some(seq)) = (words.next(), words.next(), words.next()) else {
            continue;
        };
        let (w, seq): (u32, u64) = (w.parse().unwrap(), seq.parse().unwrap());
        let entry = reported.get_mut(&w).unwrap();
        match what {
            "ack" => entry.acked = entry.acked.max(Some(seq)),
            "flushed" => entry.flushed = entry.flushed.max(Some(seq)),
            other => panic!("unexpected writer output {other:?}"),
        }
    }
    reported
}

/// Reopens the store and returns, per writer, the sequence numbers present for `round`.
async fn present(path: &std::path::Path, round: u32, writers: u32) -> BTreeMap<u32, Vec<u64>> {
    let store = RedbBackend::builder(path)
        .open()
        .await
        .unwrap_or_else(|e| panic!("the store must open after a crash (round {round}): {e}"));
    let entries = store
        .scan(KeyRange::prefix(format!("r{round:03}/")), None)
        .await
        .unwrap();
    let mut by_writer: BTreeMap<u32, Vec<u64>> = (0..writers).map(|w| (w, Vec::new())).collect();
    for (key, value) in entries {
        let (r, w, seq) = parse_crash_key(&key).unwrap_or_else(|| panic!("foreign key {key:?}"));
        assert_eq!(r, round);
        assert_eq!(
            value,
            crash_value(r, w, seq),
            "torn or misplaced value under {key:?}"
        );
        by_writer
            .get_mut(&w)
            .unwrap_or_else(|| panic!("unknown writer {w}"))
            .push(seq);
    }
    store.close().await.unwrap();
    by_writer
}

/// Checks the invariants every mode shares and returns the number of acknowledged writes
/// missing per writer.
fn check_prefix(
    round: u32,
    reported: &BTreeMap<u32, Reported>,
    present: &BTreeMap<u32, Vec<u64>>,
) -> BTreeMap<u32, u64> {
    let mut missing = BTreeMap::new();
    for (w, seqs) in present {
        // A writer writes in order and each put commits alone or with later ones: what
        // survives is a prefix 0..n of its history.
        for (i, seq) in seqs.iter().enumerate() {
            assert_eq!(
                *seq, i as u64,
                "round {round} writer {w}: survivors are not a prefix: {seqs:?}"
            );
        }
        let survived = seqs.len() as u64;
        let acked = reported[w].acked.map_or(0, |a| a + 1);
        // At most one write in flight past the last acknowledgement per writer.
        assert!(
            survived <= acked + 1,
            "round {round} writer {w}: {survived} present but only {acked} acked (+1 in flight)"
        );
        missing.insert(*w, acked.saturating_sub(survived));
    }
    missing
}

fn crash_rounds(
    mode: SyncMode,
    writers: u32,
    flush_every: u64,
    check: impl Fn(u32, &BTreeMap<u32, Reported>, &BTreeMap<u32, u64>),
) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.redb");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (mut total_acked, mut total_missing) = (0, 0);
    for round in 0..rounds() {
        let reported = run_and_kill(&path, mode, round, writers, flush_every);
        let present = runtime.block_on(present(&path, round, writers));
        let missing = check_prefix(round, &reported, &present);
        check(round, &reported, &missing);
        total_missing += missing.values().sum::<u64>();
        total_acked += reported
            .values()
            .filter_map(|r| r.acked.map(|a| a + 1))
            .sum::<u64>();
    }
    // A run where the writer never got going would prove nothing.
    assert!(total_acked > 0, "no write was acknowledged in any round");
    eprintln!(
        "{}: {} rounds, {total_acked} acknowledged writes checked, {total_missing} lost (allowed by the mode)",
        mode.name(),
        rounds()
    );
}

#[test]
fn full_loses_no_acknowledged_write() {
    crash_rounds(SyncMode::Full, 8, 0, |round, _, missing| {
        for (w, m) in missing {
            assert_eq!(
                *m, 0,
                "round {round} writer {w}: Full lost {m} acknowledged writes"
            );
        }
    });
}

#[test]
fn normal_loses_fewer_than_n() {
    const N: u32 = 16;
    crash_rounds(SyncMode::normal(N), 1, 0, |round, _, missing| {
        let lost = missing[&0];
        assert!(
            lost < u64::from(N),
            "round {round}: Normal{{every: {N}}} lost {lost} acknowledged writes"
        );
    });
}

#[test]
fn checkpoint_keeps_everything_flushed() {
    crash_rounds(SyncMode::Checkpoint, 2, 25, |round, reported, missing| {
        for (w, r) in reported {
            let acked = r.acked.map_or(0, |a| a + 1);
            let flushed = r.flushed.map_or(0, |f| f + 1);
            assert!(
                acked - missing[w] >= flushed,
                "round {round} writer {w}: lost writes covered by a flush"
            );
        }
    });
}

#[test]
fn off_keeps_a_prefix() {
    // Off promises nothing beyond a prefix; `check_prefix` checks that for every mode.
    crash_rounds(SyncMode::Off, 2, 0, |_, _, _| {});
}
