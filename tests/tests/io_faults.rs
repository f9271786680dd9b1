//! redb under injected I/O failures: every storage call of a workload fails in turn, and
//! random fuzz inputs run through the same check as the `backend_ops` fuzzer. Whatever fails,
//! no acknowledged write is lost, nothing read is wrong, and the store reopens.

use rand::{Rng, SeedableRng};
use strata::SyncMode;
use strata_tests::io_faults::{FaultPlan, FaultyStorage, open_store, run_faulty};
use strata_tests::ops::{FuzzKey, Model, Op, apply_op};
use strata_tests::watchdog::Watchdog;

/// A workload touching every path: puts, batches, deletes, reads, scans, flushes.
fn workload() -> Vec<Op> {
    let mut ops = Vec::new();
    for i in 0..12u8 {
        ops.push(Op::Put(FuzzKey::Small(i), vec![i; 1 + usize::from(i) * 5]));
        if i % 3 == 0 {
            ops.push(Op::Batch(vec![
                (FuzzKey::Small(i + 1), Some(vec![0xAB; 40])),
                (FuzzKey::Small(i / 2), None),
            ]));
        }
        if i % 4 == 1 {
            ops.push(Op::Delete(FuzzKey::Small(i - 1)));
            ops.push(Op::Get(FuzzKey::Small(i)));
            ops.push(Op::Scan(None, None, None));
        }
        if i % 5 == 4 {
            ops.push(Op::Flush);
        }
    }
    ops.push(Op::GetMany((0..16).map(FuzzKey::Small).collect()));
    ops
}

/// Storage calls the workload and the close make after the store opened, without faults.
fn calls_of(sync_mode: SyncMode, ops: &[Op]) -> u64 {
    let runtime = runtime();
    runtime.block_on(async {
        let storage = FaultyStorage::new();
        let store = open_store(storage.clone(), sync_mode).await.unwrap();
        let before = storage.calls();
        let mut model = Model::new();
        for op in ops {
            apply_op(&store, &mut model, op, None).await.unwrap();
        }
        store.close().await.unwrap();
        // The close's calls count too: a fault may hit the final flush.
        storage.calls() - before
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn io_faults_at_every_storage_call_lose_nothing_acknowledged() {
    let ops = workload();
    let runtime = runtime();
    for sync_mode in [SyncMode::Full, SyncMode::normal(3), SyncMode::Off] {
        let calls = calls_of(sync_mode, &ops);
        assert!(
            calls > 20,
            "{sync_mode:?}: the workload made only {calls} storage calls"
        );
        for after_calls in 1..=calls + 1 {
            for sticky in [true, false] {
                let plan = FaultPlan {
                    after_calls: u16::try_from(after_calls).unwrap(),
                    sticky,
                };
                let _watchdog = Watchdog::arm(std::time::Duration::from_secs(30), move || {
                    format!("{sync_mode:?} {plan:?} hung")
                });
                runtime.block_on(run_faulty(sync_mode, Some(plan), &ops));
            }
        }
    }
}

#[test]
fn io_faults_random_fuzz_inputs_hold_to_the_model() {
    let inputs: usize = std::env::var("STRATA_FAULT_INPUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let seed: u64 = std::env::var("STRATA_FAULT_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand::random);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for i in 0..inputs {
        let len = rng.random_range(0..512);
        let data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let result = std::panic::catch_unwind(|| strata_tests::ops::run_input(&data));
        assert!(
            result.is_ok(),
            "input {i} failed (STRATA_FAULT_SEED={seed}): {data:?}"
        );
    }
}
