//! Arbitrary operation sequences checked against a `BTreeMap` model: shared by the fuzz
//! target `backend_ops` and by the corpus replay test, so CI exercises every fuzz input.

use std::collections::BTreeMap;
use std::ops::Bound;

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use strata::{ErrorKind, KeyRange, MemoryBackend, StorageBackend, SyncMode, WriteBatch};
use strata_redb::RedbBackend;

/// Key limit of the stores under test, small so the fuzzer reaches it.
pub const MAX_KEY: usize = 16;
/// Value limit of the stores under test.
pub const MAX_VALUE: usize = 64;

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

/// Decodes a fuzz input into at most 64 operations.
pub fn decode(data: &[u8]) -> Vec<Op> {
    let mut u = Unstructured::new(data);
    let mut ops = Vec::new();
    while ops.len() < 64 {
        match Op::arbitrary(&mut u) {
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

/// Runs one fuzz input against a memory store and a redb store (in-memory storage).
pub fn run_input(data: &[u8]) {
    let ops = decode(data);
    block_on(async {
        let memory = MemoryBackend::with_limits(MAX_KEY, MAX_VALUE);
        check_against_model(&memory, &ops).await;
        let redb = RedbBackend::builder("fuzz.redb")
            .storage_backend(redb::backends::InMemoryBackend::new())
            .sync_mode(SyncMode::Off)
            .writer_spin(std::time::Duration::ZERO)
            .max_key_size(MAX_KEY)
            .max_value_size(MAX_VALUE)
            .open()
            .await
            .expect("open redb");
        check_against_model(&redb, &ops).await;
        redb.close().await.expect("close redb");
    });
}

/// Runs a future on a fresh current-thread runtime (one per fuzz input).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// The outcome a valid operation must have (`Some`), or checks that an invalid one was
/// refused with `InvalidInput` (`None`).
fn expect_outcome<T>(
    result: strata::Result<T>,
    valid: bool,
    ctx: &dyn Fn() -> String,
) -> Option<T> {
    if valid {
        Some(result.unwrap_or_else(|e| panic!("{}: {e}", ctx())))
    } else {
        let err = result
            .err()
            .unwrap_or_else(|| panic!("{}: invalid input accepted", ctx()));
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{}", ctx());
        None
    }
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
    let mut model: BTreeMap<Bytes, Bytes> = BTreeMap::new();
    for (step, op) in ops.iter().enumerate() {
        let ctx = || format!("step {step}: {op:?} on {store:?}");
        match op {
            Op::Put(k, v) => {
                let (k, v) = (k.bytes(), Bytes::copy_from_slice(v));
                let valid = valid_key(&k) && v.len() <= MAX_VALUE;
                if expect_outcome(store.put(k.clone(), v.clone()).await, valid, &ctx).is_some() {
                    model.insert(k, v);
                }
            }
            Op::Get(k) => {
                let k = k.bytes();
                if let Some(got) = expect_outcome(store.get(&k).await, valid_key(&k), &ctx) {
                    assert_eq!(got, model.get(&k).cloned(), "{}", ctx());
                }
            }
            Op::Delete(k) => {
                let k = k.bytes();
                if let Some(removed) = expect_outcome(store.delete(&k).await, valid_key(&k), &ctx) {
                    assert_eq!(removed, model.remove(&k).is_some(), "{}", ctx());
                }
            }
            Op::GetMany(keys) => {
                let keys: Vec<Bytes> = keys.iter().map(FuzzKey::bytes).collect();
                let valid = keys.iter().all(|k| valid_key(k));
                if let Some(got) = expect_outcome(store.get_many(&keys).await, valid, &ctx) {
                    let expected: Vec<Option<Bytes>> =
                        keys.iter().map(|k| model.get(k).cloned()).collect();
                    assert_eq!(got, expected, "{}", ctx());
                }
            }
            Op::Batch(entries) => {
                let mut batch = WriteBatch::new();
                let mut valid = true;
                for (k, v) in entries {
                    let k = k.bytes();
                    valid &= valid_key(&k) && v.as_ref().is_none_or(|v| v.len() <= MAX_VALUE);
                    match v {
                        Some(v) => batch.put(k, Bytes::copy_from_slice(v)),
                        None => batch.delete(k),
                    };
                }
                if expect_outcome(store.write_batch(batch.clone()).await, valid, &ctx).is_some() {
                    for op in batch.into_ops() {
                        match op {
                            strata::BatchOp::Put { key, value } => {
                                model.insert(key, value);
                            }
                            strata::BatchOp::Delete { key } => {
                                model.remove(&key);
                            }
                        }
                    }
                }
            }
            Op::Scan(start, end, limit) => {
                let range = KeyRange::new(to_bound(start), to_bound(end));
                check_scan(store, &model, range, limit.map(usize::from), &ctx).await;
            }
            Op::Prefix(prefix, limit) => {
                let range = KeyRange::prefix(Bytes::copy_from_slice(prefix));
                check_scan(store, &model, range, limit.map(usize::from), &ctx).await;
            }
            Op::Flush => store
                .flush()
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", ctx())),
            Op::Advance(secs) => {
                if let Some(clock) = clock {
                    clock.advance(std::time::Duration::from_secs(u64::from(*secs)));
                }
            }
        }
    }
    // Finally the whole contents agree.
    let all = store.scan(KeyRange::all(), None).await.expect("final scan");
    let expected: Vec<(Bytes, Bytes)> = model.into_iter().collect();
    assert_eq!(all, expected, "final contents of {store:?}");
}

async fn check_scan<B: StorageBackend>(
    store: &B,
    model: &BTreeMap<Bytes, Bytes>,
    range: KeyRange,
    limit: Option<usize>,
    ctx: &dyn Fn() -> String,
) {
    let got = store
        .scan(range.clone(), limit)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", ctx()));
    let expected: Vec<(Bytes, Bytes)> = model
        .iter()
        .filter(|(k, _)| range.contains(k))
        .take(limit.unwrap_or(usize::MAX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(got, expected, "{}", ctx());
}
