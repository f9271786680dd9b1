//! Power-cut tests: writers put numbered keys into a redb store on a [`PowerCutStorage`]; at
//! random moments the power is cut, and a store reopened on each image it leaves (every
//! unsynced write lost, a random subset of them reordered, one of them torn) must open and
//! hold what its `SyncMode` promises. Unlike the SIGKILL test (`crash.rs`), whose writes all
//! survive in the OS page cache, these tell `Full` from `Off`: a missing fsync fails them.
//!
//! Cuts per test: `STRATA_POWER_CUTS` (default 200), each tried with every [`CutKind`].

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use strata::{KeyRange, StorageBackend, SyncMode};
use strata_redb::RedbBackend;
use strata_tests::crash::{crash_key, crash_value, parse_crash_key};
use strata_tests::power_cut::{CutKind, PowerCut, PowerCutStorage};
use tokio::runtime::Runtime;
use tokio::time::timeout;

/// Cuts taken on one store before starting a fresh one, so stores stay small.
const CUTS_PER_ROUND: usize = 10;
/// Most acknowledged writes between two cuts.
const MAX_STEP: u64 = 40;
/// Most storage operations (writes, resizes, syncs) before an armed cut fires.
const MAX_OPS: u64 = 64;
/// Bound on every wait: a put, a flush, a reopen, writers reaching a target.
const TIMEOUT: Duration = Duration::from_secs(20);

fn cuts() -> usize {
    std::env::var("STRATA_POWER_CUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

/// One runtime for every test in this file.
fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("build the runtime")
    })
}

/// What a test runs: a mode, its writers, and how often each flushes (0: never).
#[derive(Clone, Copy, Debug)]
struct Plan {
    mode: SyncMode,
    writers: usize,
    flush_every: u64,
}

impl Plan {
    fn new(mode: SyncMode, writers: usize, flush_every: u64) -> Self {
        Plan {
            mode,
            writers,
            flush_every,
        }
    }
}

/// Per writer: writes acknowledged so far, and how many of them a completed flush covers.
struct Progress {
    acked: Vec<AtomicU64>,
    flushed: Vec<AtomicU64>,
}

impl Progress {
    fn acked(&self) -> Vec<u64> {
        self.acked
            .iter()
            .map(|a| a.load(Ordering::SeqCst))
            .collect()
    }

    fn flushed(&self) -> Vec<u64> {
        self.flushed
            .iter()
            .map(|f| f.load(Ordering::SeqCst))
            .collect()
    }
}

/// What the test knew around one cut, per writer.
#[derive(Debug)]
struct AtCut {
    /// Acknowledged before the cut was taken: these were synced before it, where promised.
    acked_before: Vec<u64>,
    /// Covered by a flush that completed before the cut.
    flushed_before: Vec<u64>,
    /// Acknowledged once the cut was taken: nothing past these (+1 in flight) can be present.
    acked_after: Vec<u64>,
}

/// Totals over a test, printed at its end.
#[derive(Debug, Default)]
struct Totals {
    images: usize,
    /// Cuts that caught writes in flight (unsynced), which the torn kinds can mangle.
    in_flight: usize,
    acked: u64,
    lost: u64,
    most_lost: u64,
}

async fn write_numbered(
    store: RedbBackend,
    round: u32,
    w: usize,
    plan: Plan,
    progress: Arc<Progress>,
    stop: Arc<AtomicBool>,
) {
    let mut seq = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let put = store.put(
            crash_key(round, w as u32, seq),
            crash_value(round, w as u32, seq),
        );
        timeout(TIMEOUT, put)
            .await
            .expect("a put timed out")
            .expect("put");
        seq += 1;
        progress.acked[w].store(seq, Ordering::SeqCst);
        if plan.flush_every > 0 && seq % plan.flush_every == 0 {
            timeout(TIMEOUT, store.flush())
                .await
                .expect("a flush timed out")
                .expect("flush");
            progress.flushed[w].store(seq, Ordering::SeqCst);
        }
    }
}

/// Reopens a store on `image` and returns, per writer, how many of its writes survived,
/// checking that they are a prefix of its history with intact values.
async fn survivors(image: Vec<u8>, round: u32, writers: usize, what: &str) -> Vec<u64> {
    let store = timeout(
        TIMEOUT,
        RedbBackend::builder("power-cut.redb")
            .storage_backend(PowerCutStorage::from_image(image))
            .sync_mode(SyncMode::Off)
            .open(),
    )
    .await
    .unwrap_or_else(|_| panic!("{what}: reopening timed out"))
    .unwrap_or_else(|e| panic!("{what}: the store must open after a power cut: {e}"));
    let entries = timeout(TIMEOUT, store.scan(KeyRange::all(), None))
        .await
        .unwrap_or_else(|_| panic!("{what}: the scan timed out"))
        .unwrap_or_else(|e| panic!("{what}: scan after a power cut: {e}"));
    let mut seqs: Vec<Vec<u64>> = vec![Vec::new(); writers];
    for (key, value) in entries {
        let (r, w, seq) =
            parse_crash_key(&key).unwrap_or_else(|| panic!("{what}: foreign key {key:?}"));
        assert_eq!(r, round, "{what}: key of another round {key:?}");
        assert_eq!(value, crash_value(r, w, seq), "{what}: torn value {key:?}");
        seqs[w as usize].push(seq);
    }
    timeout(TIMEOUT, store.close())
        .await
        .unwrap_or_else(|_| panic!("{what}: closing timed out"))
        .expect("close the reopened store");
    seqs.iter()
        .enumerate()
        .map(|(w, seqs)| {
            // Each writer writes in order, one write at a time: a hole would mean a commit
            // survived while an earlier one was lost.
            let prefix = seqs.iter().enumerate().all(|(i, s)| *s == i as u64);
            assert!(
                prefix,
                "{what}: writer {w} survivors are not a prefix: {seqs:?}"
            );
            seqs.len() as u64
        })
        .collect()
}

/// Checks what survived one image against what the mode promises; returns the writes lost.
fn check(plan: Plan, at: &AtCut, survived: &[u64], what: &str) -> u64 {
    for (w, s) in survived.iter().enumerate() {
        assert!(
            *s <= at.acked_after[w] + 1,
            "{what}: writer {w} has {s} writes but only {} were acknowledged (+1 in flight)",
            at.acked_after[w]
        );
    }
    let lost: u64 = (0..survived.len())
        .map(|w| at.acked_before[w].saturating_sub(survived[w]))
        .sum();
    match plan.mode {
        SyncMode::Full => assert_eq!(lost, 0, "{what}: Full lost acknowledged writes ({at:?})"),
        SyncMode::Normal { every, .. } => assert!(
            lost < u64::from(every),
            "{what}: Normal {{ every: {every} }} lost {lost} acknowledged writes ({at:?}, \
             survived {survived:?})"
        ),
        SyncMode::Checkpoint => {
            for (w, s) in survived.iter().enumerate() {
                assert!(
                    *s >= at.flushed_before[w],
                    "{what}: Checkpoint lost writes of writer {w} covered by a flush ({at:?})"
                );
            }
            assert!(
                lost < u64::from(SyncMode::CHECKPOINT_WRITES),
                "{what}: Checkpoint lost {lost} writes, more than its write bound"
            );
        }
        _ => {}
    }
    lost
}

/// Cuts the power inside the storage's next `MAX_OPS` operations (mid-commit), or, if the
/// writers first reach `target` acknowledged writes without that many, right then. Either way
/// the acknowledgements are read before the cut. Returns them, the cut and where it fell.
async fn cut_soon(
    storage: &PowerCutStorage,
    progress: &Arc<Progress>,
    target: u64,
    rng: &mut StdRng,
) -> (Vec<u64>, Vec<u64>, PowerCut, &'static str) {
    let recorded = Arc::new(parking_lot::Mutex::new(None));
    let (record, observed) = (recorded.clone(), progress.clone());
    storage.arm(rng.random_range(1..=MAX_OPS), move || {
        *record.lock() = Some((observed.acked(), observed.flushed()));
    });
    let deadline = Instant::now() + TIMEOUT;
    while !storage.fired() && progress.acked().iter().sum::<u64>() < target {
        assert!(Instant::now() < deadline, "writers stalled below {target}");
        tokio::time::sleep(Duration::from_micros(100)).await;
    }
    if let Some(cut) = storage.disarm() {
        let (acked, flushed) = recorded.lock().take().expect("recorded before the cut");
        return (acked, flushed, cut, "mid-commit");
    }
    let (acked, flushed) = (progress.acked(), progress.flushed());
    (acked, flushed, storage.cut(), "between writes")
}

/// One store: writers run while `cuts` power cuts are taken, each checked with every kind.
async fn round(plan: Plan, round: u32, cuts: usize, rng: &mut StdRng, totals: &mut Totals) {
    let storage = PowerCutStorage::new();
    let store = RedbBackend::builder(format!("power-cut-{round}.redb"))
        .storage_backend(storage.clone())
        .sync_mode(plan.mode)
        .cache_size(1 << 20)
        .open()
        .await
        .expect("open the store");
    let progress = Arc::new(Progress {
        acked: (0..plan.writers).map(|_| AtomicU64::new(0)).collect(),
        flushed: (0..plan.writers).map(|_| AtomicU64::new(0)).collect(),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..plan.writers)
        .map(|w| {
            let task = write_numbered(
                store.clone(),
                round,
                w,
                plan,
                progress.clone(),
                stop.clone(),
            );
            tokio::spawn(task)
        })
        .collect();

    let mut target = 0;
    for c in 0..cuts {
        target = target.max(progress.acked().iter().sum()) + rng.random_range(0..=MAX_STEP);
        let (acked_before, flushed_before, cut, when) =
            cut_soon(&storage, &progress, target, rng).await;
        let at = AtCut {
            acked_before,
            flushed_before,
            acked_after: progress.acked(),
        };
        totals.in_flight += usize::from(cut.unsynced() > 0);
        for kind in CutKind::ALL {
            let what = format!(
                "{:?} round {round} cut {c} {when} {kind:?} ({} unsynced)",
                plan.mode,
                cut.unsynced()
            );
            let image = cut.image(kind, rng);
            let survived = survivors(image, round, plan.writers, &what).await;
            let lost = check(plan, &at, &survived, &what);
            totals.images += 1;
            totals.acked += at.acked_before.iter().sum::<u64>();
            totals.lost += lost;
            totals.most_lost = totals.most_lost.max(lost);
        }
    }
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        timeout(TIMEOUT, task)
            .await
            .expect("a writer did not stop")
            .expect("a writer panicked");
    }
    timeout(TIMEOUT, store.close())
        .await
        .expect("closing timed out")
        .expect("close");
}

fn run(plan: Plan) -> Totals {
    let seed: u64 = rand::rng().random();
    eprintln!("{plan:?}: seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();
    let mut totals = Totals::default();
    let cuts = cuts();
    runtime().block_on(async {
        let mut done = 0;
        let mut r = 0;
        while done < cuts {
            let n = CUTS_PER_ROUND.min(cuts - done);
            round(plan, r, n, &mut rng, &mut totals).await;
            done += n;
            r += 1;
        }
    });
    eprintln!(
        "{plan:?}: {cuts} cuts ({} with writes in flight), {} images in {:?}: {} acknowledged \
         writes checked, {} lost (most in one image: {})",
        totals.in_flight,
        totals.images,
        started.elapsed(),
        totals.acked,
        totals.lost,
        totals.most_lost
    );
    totals
}

/// A test where nothing could ever be lost would prove nothing about the other modes.
fn assert_cuts_can_lose(totals: &Totals) {
    assert!(
        totals.lost > 0,
        "no cut lost anything: is the simulation cutting?"
    );
}

/// Full loses nothing, so its own totals must show that cuts happened over real work:
/// acknowledged writes before the cuts, and cuts that caught writes in flight.
fn assert_cuts_had_work(totals: &Totals) {
    assert!(totals.acked > 0, "no write was acknowledged before any cut");
    assert!(totals.in_flight > 0, "no cut caught a write in flight");
}

#[test]
fn power_cut_full() {
    assert_cuts_had_work(&run(Plan::new(SyncMode::Full, 1, 0)));
}

#[test]
fn power_cut_full_concurrent() {
    assert_cuts_had_work(&run(Plan::new(SyncMode::Full, 4, 0)));
}

#[test]
fn power_cut_normal() {
    assert_cuts_can_lose(&run(Plan::new(SyncMode::normal(8), 1, 0)));
}

#[test]
fn power_cut_normal_concurrent() {
    assert_cuts_can_lose(&run(Plan::new(SyncMode::normal(8), 4, 0)));
}

#[test]
fn power_cut_checkpoint() {
    assert_cuts_can_lose(&run(Plan::new(SyncMode::Checkpoint, 1, 16)));
}

#[test]
fn power_cut_off() {
    assert_cuts_can_lose(&run(Plan::new(SyncMode::Off, 1, 0)));
}

/// `close` on one of several handles (through `Tiered` and `DynBackend` too) makes what was
/// acknowledged durable: under `Off`, nothing else would before the cut.
#[test]
fn power_cut_after_close_on_a_handle_that_is_not_the_last_loses_nothing() {
    use strata::{IntoDyn, MemoryBackend, StorageBackend, Tiered};
    runtime().block_on(async {
        let storage = PowerCutStorage::new();
        let store = RedbBackend::builder("close.redb")
            .storage_backend(storage.clone())
            .sync_mode(SyncMode::Off)
            .open()
            .await
            .unwrap();
        let keep_open = store.clone();
        let tiered = Tiered::new(MemoryBackend::new(), store).into_dyn();
        for i in 0..50u32 {
            tiered
                .put(format!("k{i:03}").into(), format!("v{i}").into())
                .await
                .unwrap();
        }
        let before = storage.cut().image(CutKind::LoseUnsynced, &mut rand::rng());
        tokio::time::timeout(std::time::Duration::from_secs(20), tiered.close())
            .await
            .expect("close returns")
            .expect("close succeeds");
        let after = storage.cut().image(CutKind::LoseUnsynced, &mut rand::rng());
        drop(keep_open);
        for (image, expect) in [(before, 0), (after, 50)] {
            let reopened = RedbBackend::builder("close.redb")
                .storage_backend(PowerCutStorage::from_image(image))
                .open()
                .await
                .expect("the cut image opens");
            let rows = reopened.scan(strata::KeyRange::all(), None).await.unwrap();
            assert_eq!(
                rows.len(),
                expect,
                "durable rows (0 before close under Off)"
            );
        }
    });
}
