//! The concurrent model schedules (see `concurrent_model.rs`) against a real sqld: the Turso
//! backend alone, a cache over it, and cache → redb → Turso, with faults in every tier.
//!
//! Schedules per composition: `STRATA_SCHEDULES` (default 250: a remote schedule costs ~135 ms
//! here, so 2,000 per composition take ~14 minutes — run that by hand with
//! `STRATA_SCHEDULES=2000`).
#![cfg(feature = "remote")] // on by default; only the fuzz build turns it off

use std::time::Duration;

use strata::{IntoDyn, MemoryCache, SyncMode, Tiered};
use strata_redb::RedbBackend;
use strata_tests::chaos::Chaos;
use strata_tests::schedule::{Subject, run_schedules, schedules_from_env};
use strata_tests::sqld::{Access, Sqld};
use strata_turso::TursoBackend;

async fn turso(sqld: &Sqld) -> TursoBackend {
    TursoBackend::builder(sqld.url())
        .auth_token(sqld.token(Access::ReadWrite))
        .open()
        .await
        .expect("open the Turso backend on the harness's sqld")
}

fn cache() -> MemoryCache {
    MemoryCache::builder().max_entries(64).build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_schedules_against_a_real_sqld() {
    let sqld = Sqld::start();
    let schedules = schedules_from_env(250);

    let alone = Chaos::new(turso(&sqld).await);
    let chaos = vec![alone.control()];
    let subject = Subject {
        store: alone.into_dyn(),
        truth: None,
        chaos,
    };
    run_schedules("turso", &subject, schedules, 11).await;

    let (upper, lower) = (Chaos::new(cache()), Chaos::new(turso(&sqld).await));
    let chaos = vec![upper.control(), lower.control()];
    let truth = Some(lower.inner().clone().into_dyn());
    let store = Tiered::new(upper, lower).into_dyn();
    run_schedules(
        "cache_over_turso",
        &Subject {
            store,
            truth,
            chaos,
        },
        schedules,
        12,
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let redb = RedbBackend::builder(dir.path().join("mid.redb"))
        .sync_mode(SyncMode::Off)
        .writer_spin(Duration::ZERO)
        .open()
        .await
        .unwrap();
    let (top, middle, bottom) = (
        Chaos::new(cache()),
        Chaos::new(redb),
        Chaos::new(turso(&sqld).await),
    );
    let chaos = vec![top.control(), middle.control(), bottom.control()];
    let truth = Some(bottom.inner().clone().into_dyn());
    let store = Tiered::new(top, Tiered::new(middle, bottom)).into_dyn();
    let subject = Subject {
        store,
        truth,
        chaos,
    };
    run_schedules("cache_over_redb_over_turso", &subject, schedules, 13).await;
}
