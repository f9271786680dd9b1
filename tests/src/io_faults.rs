//! I/O failures injected into redb's storage, checked against the model: the `backend_ops`
//! fuzzer's redb half.
//!
//! [`FaultyStorage`] is an in-memory [`redb::StorageBackend`] (no file, so an input costs
//! microseconds, not a file system round trip) whose reads, writes, resizes and syncs fail
//! once a countdown runs out, as redb's own fuzzer does. A failing write lands in part (a torn
//! page). The fault is *sticky* (every later call fails: the disk went away) or *transient*
//! (one call fails and the disk works again).
//!
//! [`run_faulty`] runs operations on a store over such storage. Until a valid operation fails
//! every result must agree with the model, and an error is only allowed once the fault has
//! fired. Then the store is closed (`Ok` only if nothing acknowledged is lost), reopened on
//! the bytes left behind, without faults, and must hold one of the states the acknowledged
//! history allows: the last state known durable or a later one (a failed write may have
//! committed). The remaining operations then run against the reopened store.

use std::io;
use std::sync::Arc;

use parking_lot::Mutex;
use strata::{KeyRange, StorageBackend, SyncMode};
use strata_redb::RedbBackend;

use crate::ops::{MAX_KEY, MAX_VALUE, Model, Op, apply_op, check_from};

/// When the storage starts failing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, arbitrary::Arbitrary)]
pub struct FaultPlan {
    /// The storage call (counted from the store's first operation, after it opened) that
    /// fails.
    pub after_calls: u16,
    /// Whether every later call fails too.
    pub sticky: bool,
}

#[derive(Debug, Default)]
struct Disk {
    bytes: Vec<u8>,
    /// Calls made so far.
    calls: u64,
    /// Calls left before the fault; `None` when none is armed.
    countdown: Option<u64>,
    sticky: bool,
    fired: bool,
    /// Whether calls fail now (a sticky fault that fired).
    dead: bool,
}

impl Disk {
    /// Counts one call; `Err` when it is the one that fails (or the disk is dead).
    fn call(&mut self) -> io::Result<()> {
        self.calls += 1;
        if self.dead {
            return Err(io::Error::other("injected I/O failure (the disk is gone)"));
        }
        let Some(left) = self.countdown.as_mut() else {
            return Ok(());
        };
        *left = left.saturating_sub(1);
        if *left > 0 {
            return Ok(());
        }
        self.countdown = None;
        self.fired = true;
        self.dead = self.sticky;
        Err(io::Error::other("injected I/O failure"))
    }
}

/// In-memory storage for redb whose calls fail once a countdown runs out.
#[derive(Clone, Debug, Default)]
pub struct FaultyStorage {
    disk: Arc<Mutex<Disk>>,
}

impl FaultyStorage {
    /// Empty storage, no fault armed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Storage holding `bytes`, no fault armed.
    pub fn from_image(bytes: Vec<u8>) -> Self {
        let storage = Self::default();
        storage.disk.lock().bytes = bytes;
        storage
    }

    /// Fails the `plan.after_calls`-th next call (the next one for 0).
    pub fn arm(&self, plan: FaultPlan) {
        let mut disk = self.disk.lock();
        disk.countdown = Some(u64::from(plan.after_calls).max(1));
        disk.sticky = plan.sticky;
    }

    /// Whether a call has failed.
    pub fn fired(&self) -> bool {
        self.disk.lock().fired
    }

    /// Storage calls made so far (failed ones included).
    pub fn calls(&self) -> u64 {
        self.disk.lock().calls
    }

    /// The bytes on the disk now.
    pub fn image(&self) -> Vec<u8> {
        self.disk.lock().bytes.clone()
    }
}

impl redb::StorageBackend for FaultyStorage {
    fn len(&self) -> io::Result<u64> {
        let mut disk = self.disk.lock();
        disk.call()?;
        Ok(disk.bytes.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let mut disk = self.disk.lock();
        disk.call()?;
        let start = usize::try_from(offset).map_err(io::Error::other)?;
        let Some(bytes) = disk.bytes.get(start..start + out.len()) else {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "read past the end",
            ));
        };
        out.copy_from_slice(bytes);
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut disk = self.disk.lock();
        disk.call()?;
        disk.bytes
            .resize(usize::try_from(len).map_err(io::Error::other)?, 0);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        self.disk.lock().call()
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut disk = self.disk.lock();
        let result = disk.call();
        // A failing write lands in part: its first half, a torn page.
        let landed = if result.is_ok() {
            data
        } else {
            &data[..data.len() / 2]
        };
        let start = usize::try_from(offset).map_err(io::Error::other)?;
        let end = start + landed.len();
        if disk.bytes.len() < end {
            disk.bytes.resize(end, 0);
        }
        disk.bytes[start..end].copy_from_slice(landed);
        result
    }
}

thread_local! {
    static EMPTY_STORE: std::cell::OnceCell<Vec<u8>> = const { std::cell::OnceCell::new() };
}

/// The bytes of a new, closed, empty store, made once per thread: opening a copy skips
/// creating the file and recording its format, which would cost more than a whole input.
async fn empty_store_image() -> Vec<u8> {
    if let Some(image) = EMPTY_STORE.with(|cell| cell.get().cloned()) {
        return image;
    }
    let storage = FaultyStorage::new();
    let store = open_store(storage.clone(), SyncMode::Full)
        .await
        .expect("create a store");
    store.close().await.expect("close the new store");
    let image = storage.image();
    EMPTY_STORE.with(|cell| cell.get_or_init(|| image).clone())
}

/// Opens a small-limit redb store over `storage`.
pub async fn open_store(
    storage: FaultyStorage,
    sync_mode: SyncMode,
) -> strata::Result<RedbBackend> {
    RedbBackend::builder("faulty.redb")
        .storage_backend(storage)
        .sync_mode(sync_mode)
        .max_key_size(MAX_KEY)
        .max_value_size(MAX_VALUE)
        .open()
        .await
}

/// Runs `ops` on a redb store whose storage fails per `plan` (none: no fault), then closes,
/// reopens and checks it as the module explains. Panics on any disagreement.
pub async fn run_faulty(sync_mode: SyncMode, plan: Option<FaultPlan>, ops: &[Op]) {
    let storage = FaultyStorage::from_image(empty_store_image().await);
    let store = open_store(storage.clone(), sync_mode)
        .await
        .expect("open an empty store");
    if let Some(plan) = plan {
        storage.arm(plan);
    }
    let every_write_durable = matches!(sync_mode, SyncMode::Full);
    // `Normal { every: N }` may lose at most the last N - 1 acknowledged writes.
    let window = match sync_mode {
        SyncMode::Normal { every, .. } => Some(every as usize),
        _ => None,
    };
    let mut model = Model::new();
    // States a reopen may show: the last one known durable, then each acknowledged since.
    let mut allowed = vec![model.clone()];
    // What the write that failed would have made: it may have committed.
    let mut failed_write: Option<Model> = None;
    let mut rest: &[Op] = &[];
    for (step, op) in ops.iter().enumerate() {
        match apply_op(&store, &mut model, op, None).await {
            Ok(wrote) if matches!(op, Op::Flush) || (wrote && every_write_durable) => {
                allowed = vec![model.clone()];
            }
            Ok(true) => {
                allowed.push(model.clone());
                if let Some(window) = window
                    && allowed.len() > window
                {
                    allowed.remove(0);
                }
            }
            Ok(false) => {}
            Err(failed) => {
                assert!(
                    storage.fired(),
                    "step {step}: {op:?} failed with no injected fault: {}",
                    failed.error
                );
                failed_write = failed.if_applied;
                rest = &ops[step + 1..];
                break;
            }
        }
    }
    let closed = store.close().await;
    // The fault may fire during the close itself.
    let fired = storage.fired();
    if !fired {
        // Nothing failed: every operation was checked against the model and the close
        // must be clean. (Reopening too would double the input's cost for no new check:
        // the fault-free reopen path is the crash and power-cut tests' subject.)
        closed.expect("close without a fault");
        assert!(rest.is_empty());
        return;
    }
    let image = storage.image();
    drop(storage);
    let store = open_store(FaultyStorage::from_image(image), sync_mode)
        .await
        .unwrap_or_else(|e| panic!("reopen after {plan:?} (fired: {fired}): {e}"));
    let held: Model = store
        .scan(KeyRange::all(), None)
        .await
        .expect("scan the reopened store")
        .into_iter()
        .collect();
    // A clean close made every acknowledged write durable; a failed one says nothing more.
    let possible: Vec<&Model> = match &closed {
        Ok(()) => vec![&model],
        Err(_) => allowed.iter().collect(),
    };
    assert!(
        possible.contains(&&held) || failed_write.as_ref() == Some(&held),
        "after {plan:?} (close: {closed:?}) the reopened store holds {held:?}, not one of the \
         states its acknowledged history allows: {possible:?} or {failed_write:?}"
    );
    check_from(&store, held, rest, None).await;
    store.close().await.expect("close the reopened store");
}
