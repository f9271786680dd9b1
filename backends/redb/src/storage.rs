//! The storage every store runs on: the caller's (or redb's file backend over `path`) behind a
//! gate that can be shut.
//!
//! Why a gate: redb's close commits its allocator state, walking the freed-page tree; on
//! damaged pages that walk can panic, and panic again while unwinding, which aborts the whole
//! process past any `catch_unwind`. Once a store has met damaged data, the writer shuts the
//! gate before redb closes: every storage call then fails with an I/O error, so redb's closing
//! commit fails cleanly instead of walking bad pages, and the file is released (the next open
//! repairs it, as after a crash).

use std::io;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use redb::{BackendError, StorageBackend};

/// Forwards every storage call, locks included, to the inner backend until shut.
#[derive(Debug)]
pub(crate) struct GatedStorage {
    inner: Box<dyn StorageBackend>,
    shut: Arc<AtomicBool>,
}

impl GatedStorage {
    /// `inner` behind a gate; shutting `shut` fails every later data call.
    pub(crate) fn new(inner: Box<dyn StorageBackend>, shut: Arc<AtomicBool>) -> Self {
        GatedStorage { inner, shut }
    }

    fn open(&self) -> io::Result<()> {
        if self.shut.load(Ordering::SeqCst) {
            return Err(io::Error::other(
                "the store met damaged data: storage shut before redb's closing commit",
            ));
        }
        Ok(())
    }
}

type IoResult<T> = Result<T, io::Error>;
type LockResult<T> = Result<T, BackendError>;

impl StorageBackend for GatedStorage {
    fn len(&self) -> IoResult<u64> {
        self.open()?;
        self.inner.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> IoResult<()> {
        self.open()?;
        self.inner.read(offset, out)
    }
    fn set_len(&self, len: u64) -> IoResult<()> {
        self.open()?;
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> IoResult<()> {
        self.open()?;
        self.inner.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> IoResult<()> {
        self.open()?;
        self.inner.write(offset, data)
    }
    // Closing and locking always pass: a shut store must still release its file.
    fn close(&self) -> IoResult<()> {
        self.inner.close()
    }
    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> LockResult<bool> {
        self.inner.try_lock_range(start, end)
    }
    fn try_lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> LockResult<bool> {
        self.inner.try_lock_shared_range(start, end)
    }
    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> LockResult<()> {
        self.inner.lock_range(start, end)
    }
    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> LockResult<()> {
        self.inner.lock_shared_range(start, end)
    }
    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> LockResult<()> {
        self.inner.unlock_range(start, end)
    }
    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> LockResult<bool> {
        self.inner.query_lock_range(start, end)
    }
}
