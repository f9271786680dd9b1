//! The shared conformance suite: one set of behaviour tests that every backend and every
//! composition must pass.
//!
//! Cases are plain async functions taking a [`Harness`], which opens the store under test as
//! a [`DynBackend`](crate::DynBackend). Each case writes under a random key prefix of its
//! own, so cases can share a store (a remote database, say) without seeing each other. The
//! [`conformance_suite!`](crate::conformance_suite) macro turns the cases into `#[tokio::test]`
//! functions named after them, so a test reads `<backend>::<case>`; cases that need a
//! capability (persistence) are generated only when asked for, and assert the capability
//! they rely on. The `concurrent_*` and `cancelled_*` cases compare what a composition
//! serves with its lowest tier, which [`Harness::open_with_truth`] hands them.
//!
//! ```text
//! mod memory {
//!     strata::conformance_suite!(strata::conformance::MemoryHarness::default());
//! }
//! mod redb_full {
//!     strata::conformance_suite!(my_redb_harness(SyncMode::Full), persistent);
//! }
//! ```

mod cases;
mod coherence;
mod harness;

pub use cases::*;
pub use coherence::*;
pub use harness::{CaseContext, Harness, MemoryHarness};

/// Generates one `#[tokio::test]` per conformance case for the harness expression given.
///
/// `conformance_suite!(harness)` runs the cases every backend must pass;
/// `conformance_suite!(harness, persistent)` adds those for stores whose data survives a
/// close and reopen. The harness expression is evaluated once per test.
#[macro_export]
macro_rules! conformance_suite {
    ($harness:expr) => {
        $crate::conformance_suite!(@cases $harness;
            put_then_get, get_missing, overwrite, delete_present, delete_missing, empty_value,
            empty_key, binary_keys, all_byte_values, value_at_limit, key_at_limit,
            oversized_key_rejected, oversized_value_rejected, get_many_hits_and_misses,
            get_many_empty_and_duplicates, get_many_oversized_key_rejected,
            write_batch_applies_all, write_batch_is_atomic_on_invalid_op,
            write_batch_later_op_wins, write_batch_empty, write_batch_large,
            scan_order, scan_bounds, scan_limit, scan_prefix, scan_prefix_with_ff,
            scan_inverted_range_is_empty, scan_sees_deletes, keyspace_isolation,
            keyspace_invalid_name_rejected, concurrent_writers_lose_nothing,
            concurrent_same_key_last_write_is_whole, flush_succeeds, close_succeeds_on_any_handle,
            concurrent_writers_on_one_key_agree_with_the_lower_tier,
            cancelled_put_settles_to_the_lower_tier, cancelled_delete_settles_to_the_lower_tier,
            cancelled_batch_settles_to_the_lower_tier,
        );
    };
    ($harness:expr, persistent) => {
        $crate::conformance_suite!($harness);
        $crate::conformance_suite!(@cases $harness;
            survives_reopen, batch_survives_reopen, delete_survives_reopen,
            keyspaces_survive_reopen, close_then_reopen_keeps_data,
        );
    };
    (@cases $harness:expr; $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let harness = $harness;
                $crate::conformance::$case(&harness).await;
            }
        )*
    };
}
