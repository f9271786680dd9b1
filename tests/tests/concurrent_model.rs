//! Concurrent model tests: random schedules of 4–16 tasks on a multi-thread runtime, futures
//! dropped at random points (`timeout`, polled once, a losing `select!` branch), faults that
//! come and go injected in *every* tier — over every composition. The checker (see
//! `strata_tests::schedule`): each key's final value through the store equals its lowest
//! tier's, was written by someone, and no acknowledged write is lost.
//!
//! Schedules per composition: `STRATA_SCHEDULES` (default 2,000); seed:
//! `STRATA_SCHEDULE_SEED`.

use std::time::Duration;

use strata::cache::{Bounded, PolicyConfig};
use strata::{IntoDyn, MemoryBackend, MemoryCache, StorageBackend, SyncMode, TierMode, Tiered};
use strata_codecs::Compressed;
use strata_redb::RedbBackend;
use strata_tests::chaos::Chaos;
use strata_tests::schedule::{Subject, run_schedules, schedules_from_env};

const DEFAULT_SCHEDULES: usize = 2_000;

fn schedules() -> usize {
    schedules_from_env(DEFAULT_SCHEDULES)
}

async fn redb() -> RedbBackend {
    RedbBackend::builder("schedules.redb")
        .storage_backend(redb::backends::InMemoryBackend::new())
        .sync_mode(SyncMode::Off)
        .writer_spin(Duration::ZERO)
        .open()
        .await
        .unwrap()
}

/// A single (non-tiered) store whose one tier is `chaos`: no lower tier to compare with.
fn single(store: impl IntoDyn, chaos: &Chaos<impl Clone>) -> Subject {
    Subject {
        store: store.into_dyn(),
        truth: None,
        chaos: vec![chaos.control()],
    }
}

/// A composition over `bottom`, whose inner backend (read without faults) is the truth.
fn over<B: StorageBackend + Clone>(
    store: impl IntoDyn,
    bottom: &Chaos<B>,
    chaos: Vec<std::sync::Arc<strata_tests::chaos::ChaosControl>>,
) -> Subject {
    Subject {
        store: store.into_dyn(),
        truth: Some(bottom.inner().clone().into_dyn()),
        chaos,
    }
}

fn cache(entries: u64) -> MemoryCache {
    MemoryCache::builder().max_entries(entries).build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_schedules_memory() {
    let store = Chaos::new(MemoryBackend::new());
    let subject = single(store.clone(), &store);
    run_schedules("memory", &subject, schedules(), 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_schedules_redb() {
    let store = Chaos::new(redb().await);
    let subject = single(store.clone(), &store);
    run_schedules("redb", &subject, schedules(), 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_schedules_bounded() {
    let inner = Chaos::new(MemoryBackend::new());
    let store = Bounded::open(inner.clone(), PolicyConfig::entries(1_000_000), &[])
        .await
        .unwrap();
    let subject = single(store, &inner);
    run_schedules("bounded", &subject, schedules(), 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_schedules_compressed() {
    let inner = Chaos::new(MemoryBackend::new());
    let subject = single(Compressed::new(inner.clone()), &inner);
    run_schedules("compressed", &subject, schedules(), 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_schedules_cache_over_redb() {
    let (upper, lower) = (Chaos::new(cache(64)), Chaos::new(redb().await));
    let chaos = vec![upper.control(), lower.control()];
    let subject = over(Tiered::new(upper, lower.clone()), &lower, chaos);
    run_schedules("cache_over_redb", &subject, schedules(), 5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_schedules_small_bounded_over_memory() {
    // 8 entries: evictions run inside every schedule.
    let upper_inner = Chaos::new(MemoryBackend::new());
    let upper = Bounded::open(upper_inner.clone(), PolicyConfig::entries(8), &[])
        .await
        .unwrap();
    let lower = Chaos::new(MemoryBackend::new());
    let chaos = vec![upper_inner.control(), lower.control()];
    let subject = over(Tiered::new(upper, lower.clone()), &lower, chaos);
    run_schedules("bounded_over_memory", &subject, schedules(), 6).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_schedules_three_tiers() {
    let top = Chaos::new(cache(32));
    let (middle, bottom) = (Chaos::new(redb().await), Chaos::new(redb().await));
    let chaos = vec![top.control(), middle.control(), bottom.control()];
    let subject = over(
        Tiered::new(top, Tiered::new(middle, bottom.clone())),
        &bottom,
        chaos,
    );
    run_schedules("three_tiers", &subject, schedules(), 7).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_schedules_replica() {
    let (upper, lower) = (
        Chaos::new(MemoryBackend::new()),
        Chaos::new(MemoryBackend::new()),
    );
    let chaos = vec![upper.control(), lower.control()];
    let subject = over(
        Tiered::builder(upper, lower.clone())
            .mode(TierMode::Replica)
            .build()
            .unwrap(),
        &lower,
        chaos,
    );
    run_schedules("replica", &subject, schedules(), 8).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_schedules_cache_over_compressed_redb() {
    let lower = Chaos::new(redb().await);
    let chaos = vec![lower.control()];
    let truth = Some(Compressed::new(lower.inner().clone()).into_dyn());
    let store = Tiered::new(cache(64), Compressed::new(lower)).into_dyn();
    let subject = Subject {
        store,
        truth,
        chaos,
    };
    run_schedules("cache_over_compressed_redb", &subject, schedules(), 9).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_schedules_tiered_as_the_upper_tier() {
    // A tiered store as the *upper* tier: its writes land through its own protocol (and run
    // on in the background when dropped), the case a plain backend never exercises.
    let (top, middle) = (Chaos::new(cache(32)), Chaos::new(redb().await));
    let bottom = Chaos::new(redb().await);
    let chaos = vec![top.control(), middle.control(), bottom.control()];
    let subject = over(
        Tiered::new(Tiered::new(top, middle), bottom.clone()),
        &bottom,
        chaos,
    );
    run_schedules("tiered_as_upper", &subject, schedules(), 10).await;
}
