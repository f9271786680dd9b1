//! Concurrent model schedules: many tasks writing and reading a few keys at once, futures
//! dropped at random points, faults coming and going in every tier — then a checker.
//!
//! The checker, per key, once the schedule has settled (`flush`, faults calmed):
//! - what the store serves equals what its source of truth (the lowest tier) holds;
//! - that value was written by some write (or is absent by a delete or never written), and
//!   no write acknowledged `Ok` *started after that write ended*: an acknowledged write is
//!   never lost, and a stale value never survives one;
//! - every read during the schedule returned a value some writer wrote to that key, and
//!   none older than a write acknowledged before the read began.
//!
//! The record and its rules live in `history.rs`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rand::{Rng, SeedableRng, rngs::StdRng};
use strata::{DynBackend, StorageBackend, WriteBatch};

use crate::chaos::ChaosControl;
use crate::history::History;

/// What a schedule runs against.
pub struct Subject {
    /// The store under test, as users call it.
    pub store: DynBackend,
    /// Its lowest tier, read directly, for compositions; `None` for a single backend.
    pub truth: Option<DynBackend>,
    /// Fault controls of every tier.
    pub chaos: Vec<Arc<ChaosControl>>,
}

/// Schedules per composition: `STRATA_SCHEDULES`, default `default`.
pub fn schedules_from_env(default: usize) -> usize {
    std::env::var("STRATA_SCHEDULES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

use crate::deadline::{LIMIT, bounded};

/// How a task lets go of an operation.
#[derive(Clone, Copy)]
enum Patience {
    Await,
    Timeout(u64),
    PollOnce,
    LosingSelect,
}

/// Runs `fut` under `patience`; `None` if it was dropped before finishing.
/// Runs `fut` with the given patience. Awaited to the end, it is bounded on its own and named
/// by `what`, so a hang names the operation, not only the schedule.
async fn drive<T>(patience: Patience, what: &str, fut: impl Future<Output = T>) -> Option<T> {
    match patience {
        Patience::Await => Some(crate::deadline::bounded(what, fut).await),
        Patience::Timeout(us) => tokio::time::timeout(Duration::from_micros(us), fut)
            .await
            .ok(),
        Patience::PollOnce => {
            let mut fut = std::pin::pin!(fut);
            std::future::poll_fn(|cx| {
                std::task::Poll::Ready(match fut.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => Some(v),
                    std::task::Poll::Pending => None,
                })
            })
            .await
        }
        Patience::LosingSelect => {
            tokio::select! {
                biased;
                () = tokio::task::yield_now() => None,
                v = fut => Some(v),
            }
        }
    }
}

fn patience(rng: &mut StdRng, cancel_pct: u32) -> Patience {
    if rng.random_range(0..100) >= cancel_pct {
        return Patience::Await;
    }
    match rng.random_range(0..3) {
        0 => Patience::Timeout(rng.random_range(0..60)),
        1 => Patience::PollOnce,
        _ => Patience::LosingSelect,
    }
}

/// The shape of one schedule, drawn from its seed.
struct Shape {
    tasks: usize,
    ops: usize,
    keys: Vec<Bytes>,
    cancel_pct: u32,
    /// Per tier: (fail before, fail after, delay), per mille.
    faults: Vec<(u32, u32, u32)>,
}

impl Shape {
    fn draw(rng: &mut StdRng, schedule: usize, tiers: usize, tag: u64) -> Shape {
        let keys = rng.random_range(1..=5);
        let faulty = rng.random_bool(0.6);
        Shape {
            tasks: rng.random_range(4..=16),
            ops: rng.random_range(3..=10),
            keys: (0..keys)
                .map(|k| Bytes::from(format!("sched/{tag:x}/{schedule}/k{k}")))
                .collect(),
            cancel_pct: [0, 10, 30][rng.random_range(0..3)],
            faults: (0..tiers)
                .map(|_| {
                    if faulty && rng.random_bool(0.7) {
                        (
                            rng.random_range(0..150),
                            rng.random_range(0..150),
                            rng.random_range(0..300),
                        )
                    } else {
                        (0, 0, rng.random_range(0..300))
                    }
                })
                .collect(),
        }
    }
}

/// One task's operations.
async fn task(
    store: DynBackend,
    history: Arc<History>,
    shape: Arc<Shape>,
    seed: u64,
    label: String,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    let evicts = store.capabilities().evicts;
    for i in 0..shape.ops {
        let key = shape.keys[rng.random_range(0..shape.keys.len())].clone();
        let value = || Bytes::from(format!("{seed:x}:{i}"));
        let how = patience(&mut rng, shape.cancel_pct);
        let ops: Vec<(Bytes, Option<Bytes>)> = match rng.random_range(0..10) {
            0..=2 => vec![(key, Some(value()))],
            3 | 4 => vec![(key, None)],
            5 => {
                let other = shape.keys[rng.random_range(0..shape.keys.len())].clone();
                let v2 = Bytes::from(format!("{seed:x}:{i}b"));
                let second = if rng.random_bool(0.5) { Some(v2) } else { None };
                vec![(key, Some(value())), (other, second)]
            }
            6 | 7 => {
                let start = history.tick();
                let what = format!("{label}: get {key:?}");
                let got = drive(how, &what, store.get(&key)).await;
                if let Some(Ok(got)) = got {
                    history.check_read(&key, &got, start, evicts, &label);
                }
                continue;
            }
            _ => {
                let start = history.tick();
                let what = format!("{label}: get_many");
                let got = drive(how, &what, store.get_many(&shape.keys)).await;
                if let Some(Ok(got)) = got {
                    for (k, v) in shape.keys.iter().zip(&got) {
                        history.check_read(k, v, start, evicts, &label);
                    }
                }
                continue;
            }
        };
        let ids = history.begin(&ops);
        let what = format!("{label}: write {ops:?}");
        let outcome = match ops.as_slice() {
            [(key, Some(v))] => drive(how, &what, store.put(key.clone(), v.clone())).await,
            [(key, None)] => drive(how, &what, store.delete(key))
                .await
                .map(|r| r.map(|_| ())),
            _ => {
                let mut batch = WriteBatch::new();
                for (k, v) in &ops {
                    match v {
                        Some(v) => batch.put(k.clone(), v.clone()),
                        None => batch.delete(k.clone()),
                    };
                }
                drive(how, &what, store.write_batch(batch)).await
            }
        };
        match outcome {
            Some(Ok(())) => history.acknowledge(&ops, &ids),
            Some(Err(e)) if std::env::var_os("STRATA_SCHEDULE_DEBUG").is_some() => {
                eprintln!("{label}: write failed: {e}");
            }
            _ => {}
        }
    }
}

/// Runs `schedules` random schedules against `subject` and checks each; `name` labels
/// failures, `seed` makes the run repeatable (`STRATA_SCHEDULE_SEED` overrides it).
pub async fn run_schedules(name: &str, subject: &Subject, schedules: usize, seed: u64) {
    let seed = std::env::var("STRATA_SCHEDULE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(seed);
    let tag: u64 = rand::random();
    let mut rng = StdRng::seed_from_u64(seed);
    for schedule in 0..schedules {
        let label = format!("{name}: schedule {schedule} (seed {seed})");
        let shape = Arc::new(Shape::draw(&mut rng, schedule, subject.chaos.len(), tag));
        for (control, &(before, after, delay)) in subject.chaos.iter().zip(&shape.faults) {
            control.set(before, after, delay);
            control.calm(false);
        }
        let history = Arc::new(History::default());
        let mut handles = Vec::with_capacity(shape.tasks);
        for t in 0..shape.tasks {
            let task_seed = rng.random::<u64>() ^ t as u64;
            handles.push(tokio::spawn(task(
                subject.store.clone(),
                history.clone(),
                shape.clone(),
                task_seed,
                label.clone(),
            )));
        }
        // Faults come and go while the tasks run.
        let togglers = subject.chaos.clone();
        let toggle_seed = rng.random::<u64>();
        let toggler = tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(toggle_seed);
            loop {
                tokio::time::sleep(Duration::from_micros(rng.random_range(50..400))).await;
                for control in &togglers {
                    control.calm(rng.random_bool(0.4));
                }
            }
        });
        // Each awaited operation has its own bound (see `drive`); this one catches a task that
        // hangs between operations, with room for many slow ones in a row.
        for handle in handles {
            crate::deadline::bounded_within(4 * crate::deadline::LIMIT, &label, handle)
                .await
                .unwrap_or_else(|e| panic!("{label}: a task failed: {e}"));
        }
        toggler.abort();
        let _ = toggler.await;
        for control in &subject.chaos {
            control.calm(true);
        }
        let prefix = Bytes::from(format!("sched/{tag:x}/{schedule}/"));
        settle_and_check(subject, &history, &shape.keys, &prefix, &label).await;
    }
}

/// Retries a settling call while it fails transiently (a real remote may be overloaded or
/// its breaker open for a moment), for at most [`LIMIT`].
async fn settled<T, F, Fut>(label: &str, what: &str, mut call: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = strata::Result<T>>,
{
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        match bounded(label, call()).await {
            Ok(v) => return v,
            Err(e) if e.is_transient() && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{label}: {what} after calming faults: {e}"),
        }
    }
}

async fn settle_and_check(
    subject: &Subject,
    history: &History,
    keys: &[Bytes],
    prefix: &Bytes,
    label: &str,
) {
    settled(label, "flush", || subject.store.flush()).await;
    check_scan(subject, prefix, label).await;
    for key in keys {
        let served = settled(label, "read", || subject.store.get(key)).await;
        if let Some(truth) = &subject.truth {
            let below = settled(label, "truth read", || truth.get(key)).await;
            assert_eq!(
                served, below,
                "{label}: the store serves {served:?} for {key:?} but its lowest tier holds \
                 {below:?}"
            );
        }
        let evicts = subject.store.capabilities().evicts;
        history.check_final(key, &served, evicts, label);
    }
    // Again after the reads, which repair suspect keys: a replica then scans its upper tier.
    check_scan(subject, prefix, label).await;
}

/// A scan through the store returns what its lowest tier holds.
async fn check_scan(subject: &Subject, prefix: &Bytes, label: &str) {
    if let Some(truth) = &subject.truth {
        let range = || strata::KeyRange::prefix(prefix.clone());
        let scanned = settled(label, "scan", || subject.store.scan(range(), None)).await;
        let below = settled(label, "truth scan", || truth.scan(range(), None)).await;
        assert_eq!(
            scanned, below,
            "{label}: a scan through the store differs from its lowest tier's"
        );
    }
}
