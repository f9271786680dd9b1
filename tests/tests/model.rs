//! Model tests: random operation sequences (put, get, delete, get_many, batch, scan, prefix,
//! flush, clock advance) on every backend and composition agree with a `BTreeMap`, also when
//! the upper tier starts failing after a countdown.
//!
//! Cases per composition: `PROPTEST_CASES` (default 256).

use std::time::Duration;

use proptest::prelude::*;
use strata::cache::ManualClock;
use strata::{MemoryBackend, MemoryCache, SyncMode, TierMode, Tiered, TtlConfig};
use strata_redb::RedbBackend;
use strata_tests::ops::{MAX_KEY, MAX_VALUE, check_with_clock, decode};
use strata_tests::wrappers::Faulty;

fn memory() -> MemoryBackend {
    MemoryBackend::with_limits(MAX_KEY, MAX_VALUE)
}

/// A small cache (8 entries) with a short TTL on a manual clock, so evictions and expiry
/// happen within a sequence.
fn small_cache(clock: &ManualClock) -> MemoryCache {
    let ttl = TtlConfig::default()
        .default_ttl(Duration::from_secs(120))
        .min_ttl(Duration::from_secs(30))
        .max_ttl(Duration::from_secs(600));
    MemoryCache::builder()
        .max_entries(8)
        .ttl(ttl)
        .clock(clock.clone())
        .max_key_size(MAX_KEY)
        .max_value_size(MAX_VALUE)
        .build()
        .unwrap()
}

async fn redb() -> RedbBackend {
    RedbBackend::builder("model.redb")
        .storage_backend(redb::backends::InMemoryBackend::new())
        .sync_mode(SyncMode::Off)
        .writer_spin(Duration::ZERO)
        .max_key_size(MAX_KEY)
        .max_value_size(MAX_VALUE)
        .open()
        .await
        .unwrap()
}

fn run(composition: &str, data: &[u8], countdown: i64) {
    let ops = decode(data);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let clock = ManualClock::new();
        let c = Some(&clock);
        match composition {
            "memory" => check_with_clock(&memory(), &ops, c).await,
            "redb" => check_with_clock(&redb().await, &ops, c).await,
            "cache_over_memory" => {
                check_with_clock(&Tiered::new(small_cache(&clock), memory()), &ops, c).await
            }
            "cache_over_redb" => {
                check_with_clock(&Tiered::new(small_cache(&clock), redb().await), &ops, c).await
            }
            "three_tiers" => {
                let middle = Tiered::new(memory(), redb().await);
                check_with_clock(&Tiered::new(small_cache(&clock), middle), &ops, c).await
            }
            "replica" => {
                let t = Tiered::builder(memory(), redb().await)
                    .mode(TierMode::Replica)
                    .build()
                    .unwrap();
                check_with_clock(&t, &ops, c).await
            }
            "faulty_cache_over_memory" => {
                let upper = Faulty::new(small_cache(&clock), countdown);
                check_with_clock(&Tiered::new(upper, memory()), &ops, c).await
            }
            "faulty_memory_over_redb" => {
                let upper = Faulty::new(memory(), countdown);
                check_with_clock(&Tiered::new(upper, redb().await), &ops, c).await
            }
            other => panic!("unknown composition {other}"),
        }
    });
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..1500)
}

macro_rules! model_test {
    ($name:ident, $composition:literal) => {
        proptest! {
            #[test]
            fn $name(data in input()) {
                run($composition, &data, -1);
            }
        }
    };
    ($name:ident, $composition:literal, faulty) => {
        proptest! {
            #[test]
            fn $name(data in input(), countdown in 0i64..40) {
                run($composition, &data, countdown);
            }
        }
    };
}

model_test!(memory_agrees_with_model, "memory");
model_test!(redb_agrees_with_model, "redb");
model_test!(cache_over_memory_agrees_with_model, "cache_over_memory");
model_test!(cache_over_redb_agrees_with_model, "cache_over_redb");
model_test!(three_tiers_agree_with_model, "three_tiers");
model_test!(replica_agrees_with_model, "replica");
model_test!(
    failing_cache_over_memory_agrees_with_model,
    "faulty_cache_over_memory",
    faulty
);
model_test!(
    failing_memory_over_redb_agrees_with_model,
    "faulty_memory_over_redb",
    faulty
);
