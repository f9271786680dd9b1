//! Arbitrary operation sequences checked against a `BTreeMap` model: shared by the fuzz
//! target `backend_ops` and by the corpus replay test, so CI exercises every fuzz input.

use std::collections::BTreeMap;
use std::ops::Bound;

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use strata::{ErrorKind, KeyRange, MemoryBackend, StorageBackend, SyncMode, WriteBatch};

/// Key limit of the stores under test, small so the fuzzer reaches it.
pub const MAX_KEY: usize = 16;
/// Value limit of the stores under test.
pub const MAX_VALUE: usize = 64;
/// Operations decoded from one input at most: each write is a redb commit, and short runs
/// keep the fuzzer near 1,000 inputs per second (the I/O fault can still land on any call).
pub const MAX_OPS: usize = 32;

/// A key drawn from a small space so operations collide, with 0x00/0xFF edge bytes.
#[derive(Arbitrary, Debug, Clone)]
pub enum FuzzKey {
    /// One of 16 short keys.
    Small(u8),
    /// Arbitrary bytes (possibly over the limit).
    Raw(Vec<u8>),
}

impl FuzzKey {
    fn bytes(&self) -> Bytes {
        match self {
            FuzzKey::Small(n) => {
                let n = n % 16;
                let edge = match n % 4 {
                    0 => 0x00,
                    1 => 0xFF,
                    _ => b'k',
                };
                Bytes::from(vec![b'a' + n / 4, edge, n])
            }
            FuzzKey::Raw(raw) => Bytes::copy_from_slice(raw),
        }
    }
}

/// One operation.
#[derive(Arbitrary, Debug, Clone)]
pub enum Op {
    /// `put`.
    Put(FuzzKey, Vec<u8>),
    /// `get`.
    Get(FuzzKey),
    /// `delete`.
    Delete(FuzzKey),
    /// `get_many`.
    GetMany(Vec<FuzzKey>),
    /// `write_batch` of puts (`Some`) and deletes (`None`).
    Batch(Vec<(FuzzKey, Option<Vec<u8>>)>),
    /// `scan` between two keys, each bound included or excluded, with a limit.
    Scan(Option<(FuzzKey, bool)>, Option<(FuzzKey, bool)>, Option<u8>),
    /// `scan` of a prefix.
    Prefix(Vec<u8>, Option<u8>),
    /// `flush`.
    Flush,
    /// Moves the test clock forward by this many seconds (expiring cache entries).
    Advance(u16),
}

/// Decodes a fuzz input into at most [`MAX_OPS`] operations.
pub fn decode(data: &[u8]) -> Vec<Op> {
    decode_ops(&mut Unstructured::new(data))
}

fn decode_ops(u: &mut Unstructured<'_>) -> Vec<Op> {
    let mut ops = Vec::new();
    // An exhausted `Unstructured` keeps producing (zero-filled) operations: stop when the
    // input runs out, so a short input is a short run.
    while ops.len() < MAX_OPS && !u.is_empty() {
        match Op::arbitrary(u) {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    ops
}

/// Runs one fuzz input through `Compressed<MemoryBackend>` (every value enveloped, large ones
/// compressed) against the model.
pub fn run_compressed_input(data: &[u8]) {
    let ops = decode(data);
    block_on(async {
        let inner =
            MemoryBackend::with_limits(MAX_KEY, MAX_VALUE + strata_codecs::envelope::HEADER_LEN);
        // A low threshold so the fuzzer's small values get compressed too.
        let config = strata_codecs::CompressionConfig::default().threshold(8);
        check_against_model(&strata_codecs::Compressed::with_config(inner, config), &ops).await;
    });
}

/// Runs one fuzz input against a memory store, then against a redb store on in-memory
/// storage that fails as the input says (see [`crate::io_faults`]). The input's first bytes
/// choose the redb store's `SyncMode` and the fault; the rest are operations.
pub fn run_input(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let sync_mode = match u8::arbitrary(&mut u).unwrap_or(0) % 3 {
        0 => SyncMode::Full,
        1 => SyncMode::normal(3),
        _ => SyncMode::Off,
    };
    // A countdown within the few hundred storage calls an input makes, so most faults fire.
    let plan = match bool::arbitrary(&mut u).unwrap_or(false) {
        true => Some(crate::io_faults::FaultPlan {
            after_calls: u16::from(u8::arbitrary(&mut u).unwrap_or(0)),
            sticky: bool::arbitrary(&mut u).unwrap_or(false),
        }),
        false => None,
    };
    let ops = decode_ops(&mut u);
    // A hang is a finding too: named and the process stopped, not waited on.
    let input = data.to_vec();
    let _watchdog = crate::watchdog::Watchdog::arm(std::time::Duration::from_secs(30), move || {
        format!("fuzz input {input:?} hung")
    });
    block_on(async {
        let memory = MemoryBackend::with_limits(MAX_KEY, MAX_VALUE);
        check_against_model(&memory, &ops).await;
        crate::io_faults::run_faulty(sync_mode, plan, &ops).await;
    });
}

thread_local! {
    /// One runtime per thread, kept across inputs: building one (and its blocking pool's
    /// threads) per input would cost more than the input.
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
}

/// Runs a future on this thread's runtime.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    RUNTIME.with(|runtime| runtime.block_on(f))
}

fn valid_key(k: &[u8]) -> bool {
    k.len() <= MAX_KEY
}

fn to_bound(b: &Option<(FuzzKey, bool)>) -> Bound<Bytes> {
    match b {
        None => Bound::Unbounded,
        Some((k, true)) => Bound::Included(k.bytes()),
        Some((k, false)) => Bound::Excluded(k.bytes()),
    }
}

/// The model a store is checked against: every key's value.
pub type Model = BTreeMap<Bytes, Bytes>;

/// An operation the store failed (valid, yet refused with an error other than `InvalidInput`
/// for a bad argument).
#[derive(Debug)]
pub struct Failed {
    /// The store's error.
    pub error: strata::Error,
    /// For a write, the model had it been applied: a failed write may still have committed.
    pub if_applied: Option<Model>,
}

/// Applies `ops` to `store` and to a model, panicking on the first disagreement.
pub async fn check_against_model<B: StorageBackend>(store: &B, ops: &[Op]) {
    check_with_clock(store, ops, None).await
}

/// Like [`check_against_model`], moving `clock` on [`Op::Advance`].
pub async fn check_with_clock<B: StorageBackend>(
    store: &B,
    ops: &[Op],
    clock: Option<&strata::cache::ManualClock>,
) {
    check_from(store, Model::new(), ops, clock).await
}

/// Like [`check_with_clock`], for a store that already holds `model`.
pub async fn check_from<B: StorageBackend>(
    store: &B,
    mut model: Model,
    ops: &[Op],
    clock: Option<&strata::cache::ManualClock>,
) {
    for (step, op) in ops.iter().enumerate() {
        if let Err(failed) = apply_op(store, &mut model, op, clock).await {
            panic!("step {step}: {op:?} on {store:?}: {}", failed.error);
        }
    }
    // Finally the whole contents agree.
    let all = store.scan(KeyRange::all(), None).await.expect("final scan");
    let expected: Vec<(Bytes, Bytes)> = model.into_iter().collect();
    assert_eq!(all, expected, "final contents of {store:?}");
}

/// Whether `op` may change the store's contents.
pub fn is_write(op: &Op) -> bool {
    matches!(op, Op::Put(..) | Op::Delete(_) | Op::Batch(_))
}

/// Applies one operation to `store` and `model`. Panics when a result disagrees with the
/// model or an invalid argument is accepted (or refused with the wrong kind); returns the
/// store's error when a valid operation fails, leaving `model` as it was. `Ok(true)` when the
/// operation was a write the store carried out (a put, a delete, a non-empty batch).
pub async fn apply_op<B: StorageBackend>(
    store: &B,
    model: &mut Model,
    op: &Op,
    clock: Option<&strata::cache::ManualClock>,
) -> Result<bool, Failed> {
    let ctx = || format!("{op:?} on {store:?}");
    let read_failed = |error| Failed {
        error,
        if_applied: None,
    };
    match op {
        Op::Put(k, v) => {
            let (k, v) = (k.bytes(), Bytes::copy_from_slice(v));
            let valid = valid_key(&k) && v.len() <= MAX_VALUE;
            let mut after = model.clone();
            after.insert(k.clone(), v.clone());
            let done = write_outcome(store.put(k, v).await, valid, model, after, &ctx)?;
            return Ok(done.is_some());
        }
        Op::Get(k) => {
            let k = k.bytes();
            let got = outcome(store.get(&k).await, valid_key(&k), &ctx).map_err(read_failed)?;
            if let Some(got) = got {
                assert_eq!(got, model.get(&k).cloned(), "{}", ctx());
            }
        }
        Op::Delete(k) => {
            let k = k.bytes();
            let mut after = model.clone();
            let existed = after.remove(&k).is_some();
            let result = store.delete(&k).await;
            let Some(removed) = write_outcome(result, valid_key(&k), model, after, &ctx)? else {
                return Ok(false);
            };
            assert_eq!(removed, existed, "{}", ctx());
            return Ok(true);
        }
        Op::GetMany(keys) => {
            let keys: Vec<Bytes> = keys.iter().map(FuzzKey::bytes).collect();
            let valid = keys.iter().all(|k| valid_key(k));
            let got = outcome(store.get_many(&keys).await, valid, &ctx).map_err(read_failed)?;
            if let Some(got) = got {
                let expected: Vec<Option<Bytes>> =
                    keys.iter().map(|k| model.get(k).cloned()).collect();
                assert_eq!(got, expected, "{}", ctx());
            }
        }
        Op::Batch(entries) => {
            let mut batch = WriteBatch::new();
            let mut valid = true;
            let mut after = model.clone();
            for (k, v) in entries {
                let k = k.bytes();
                valid &= valid_key(&k) && v.as_ref().is_none_or(|v| v.len() <= MAX_VALUE);
                match v {
                    Some(v) => {
                        after.insert(k.clone(), Bytes::copy_from_slice(v));
                        batch.put(k, Bytes::copy_from_slice(v))
                    }
                    None => {
                        after.remove(&k);
                        batch.delete(k)
                    }
                };
            }
            let done = write_outcome(store.write_batch(batch).await, valid, model, after, &ctx)?;
            return Ok(done.is_some() && !entries.is_empty());
        }
        Op::Scan(start, end, limit) => {
            let range = KeyRange::new(to_bound(start), to_bound(end));
            let limit = limit.map(usize::from);
            check_scan(store, model, range, limit, &ctx)
                .await
                .map_err(read_failed)?;
        }
        Op::Prefix(prefix, limit) => {
            let range = KeyRange::prefix(Bytes::copy_from_slice(prefix));
            let limit = limit.map(usize::from);
            check_scan(store, model, range, limit, &ctx)
                .await
                .map_err(read_failed)?;
        }
        Op::Flush => store.flush().await.map_err(read_failed)?,
        Op::Advance(secs) => {
            if let Some(clock) = clock {
                clock.advance(std::time::Duration::from_secs(u64::from(*secs)));
            }
        }
    }
    Ok(false)
}

/// [`outcome`] for a write: on success the model becomes `after`; on failure `after` is what
/// the store may hold anyway.
fn write_outcome<T>(
    result: strata::Result<T>,
    valid: bool,
    model: &mut Model,
    after: Model,
    ctx: &dyn Fn() -> String,
) -> Result<Option<T>, Failed> {
    match outcome(result, valid, ctx) {
        Ok(Some(value)) => {
            *model = after;
            Ok(Some(value))
        }
        Ok(None) => Ok(None),
        Err(error) => Err(Failed {
            error,
            if_applied: Some(after),
        }),
    }
}

/// The outcome of a valid operation (`Ok(Some)`, or its error), or checks that an invalid
/// one was refused with `InvalidInput` (`Ok(None)`).
fn outcome<T>(
    result: strata::Result<T>,
    valid: bool,
    ctx: &dyn Fn() -> String,
) -> Result<Option<T>, strata::Error> {
    if valid {
        result.map(Some)
    } else {
        let err = result
            .err()
            .unwrap_or_else(|| panic!("{}: invalid input accepted", ctx()));
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{}: {err}", ctx());
        Ok(None)
    }
}

async fn check_scan<B: StorageBackend>(
    store: &B,
    model: &Model,
    range: KeyRange,
    limit: Option<usize>,
    ctx: &dyn Fn() -> String,
) -> strata::Result<()> {
    let got = store.scan(range.clone(), limit).await?;
    let expected: Vec<(Bytes, Bytes)> = model
        .iter()
        .filter(|(k, _)| range.contains(k))
        .take(limit.unwrap_or(usize::MAX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(got, expected, "{}", ctx());
    Ok(())
}
