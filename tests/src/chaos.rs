//! `Chaos<B>`: a backend wrapper that injects faults which come and go, in any tier.
//!
//! Each operation rolls against the wrapper's shared [`ChaosControl`]: it may fail before
//! touching the inner backend (`Unavailable`: nothing happened), apply and then fail
//! (`Timeout`: it happened, but the caller cannot know — the ambiguous case a remote timeout
//! produces), or be delayed by a yield or a short sleep so schedules interleave differently.
//! A test turns faults on and off while it runs, and calms the wrapper before checking.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use rand::Rng;
use strata::{
    Capabilities, Error, ErrorKind, KeyRange, Operation, Result, StorageBackend, WriteBatch,
};

/// Fault rates shared by every handle of a [`Chaos`] wrapper, in parts per thousand.
#[derive(Debug, Default)]
pub struct ChaosControl {
    fail_before: AtomicU32,
    fail_after: AtomicU32,
    delay: AtomicU32,
    calm: AtomicBool,
}

impl ChaosControl {
    /// Sets the rates (per mille): fail before applying, apply then fail, delay.
    pub fn set(&self, fail_before: u32, fail_after: u32, delay: u32) {
        self.fail_before.store(fail_before, Ordering::SeqCst);
        self.fail_after.store(fail_after, Ordering::SeqCst);
        self.delay.store(delay, Ordering::SeqCst);
    }

    /// Stops (`true`) or resumes (`false`) every fault and delay.
    pub fn calm(&self, calm: bool) {
        self.calm.store(calm, Ordering::SeqCst);
    }

    fn roll(&self) -> Roll {
        if self.calm.load(Ordering::SeqCst) {
            return Roll::default();
        }
        let mut rng = rand::rng();
        let mut hit = |rate: &AtomicU32| rng.random_range(0..1000) < rate.load(Ordering::SeqCst);
        Roll {
            fail_before: hit(&self.fail_before),
            fail_after: hit(&self.fail_after),
            delay: hit(&self.delay),
        }
    }
}

#[derive(Default)]
struct Roll {
    fail_before: bool,
    fail_after: bool,
    delay: bool,
}

/// Wraps a backend with faults from a shared [`ChaosControl`].
#[derive(Debug, Clone)]
pub struct Chaos<B> {
    inner: B,
    control: Arc<ChaosControl>,
}

impl<B> Chaos<B> {
    /// Wraps `inner`; faults start off (all rates zero).
    pub fn new(inner: B) -> Self {
        Chaos {
            inner,
            control: Arc::default(),
        }
    }

    /// The shared fault settings.
    pub fn control(&self) -> Arc<ChaosControl> {
        self.control.clone()
    }

    /// The wrapped backend, without faults.
    pub fn inner(&self) -> &B {
        &self.inner
    }
}

impl<B: StorageBackend> Chaos<B> {
    async fn before(&self, op: Operation) -> Result<Roll> {
        let roll = self.control.roll();
        if roll.delay {
            if rand::rng().random_bool(0.5) {
                tokio::task::yield_now().await;
            } else {
                tokio::time::sleep(Duration::from_micros(50)).await;
            }
        }
        if roll.fail_before {
            return Err(Error::new(
                ErrorKind::Unavailable,
                op,
                "injected fault (not applied)",
            ));
        }
        Ok(roll)
    }

    fn after<T>(roll: &Roll, op: Operation, outcome: Result<T>) -> Result<T> {
        if roll.fail_after && outcome.is_ok() {
            return Err(Error::new(
                ErrorKind::Timeout,
                op,
                "injected fault (applied, then timed out)",
            ));
        }
        outcome
    }
}

impl<B: StorageBackend + Clone> StorageBackend for Chaos<B> {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn keyspace(&self, name: &str) -> Result<Self> {
        Ok(Chaos {
            inner: self.inner.keyspace(name)?,
            control: self.control.clone(),
        })
    }

    async fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        let roll = self.before(Operation::Get).await?;
        Self::after(&roll, Operation::Get, self.inner.get(key).await)
    }

    async fn get_many(&self, keys: &[Bytes]) -> Result<Vec<Option<Bytes>>> {
        let roll = self.before(Operation::GetMany).await?;
        Self::after(&roll, Operation::GetMany, self.inner.get_many(keys).await)
    }

    async fn put(&self, key: Bytes, value: Bytes) -> Result<()> {
        let roll = self.before(Operation::Put).await?;
        Self::after(&roll, Operation::Put, self.inner.put(key, value).await)
    }

    async fn delete(&self, key: &[u8]) -> Result<bool> {
        let roll = self.before(Operation::Delete).await?;
        Self::after(&roll, Operation::Delete, self.inner.delete(key).await)
    }

    async fn write_batch(&self, batch: WriteBatch) -> Result<()> {
        let roll = self.before(Operation::WriteBatch).await?;
        Self::after(
            &roll,
            Operation::WriteBatch,
            self.inner.write_batch(batch).await,
        )
    }

    async fn scan(&self, range: KeyRange, limit: Option<usize>) -> Result<Vec<(Bytes, Bytes)>> {
        let roll = self.before(Operation::Scan).await?;
        Self::after(&roll, Operation::Scan, self.inner.scan(range, limit).await)
    }

    async fn flush(&self) -> Result<()> {
        let roll = self.before(Operation::Flush).await?;
        Self::after(&roll, Operation::Flush, self.inner.flush().await)
    }

    async fn close(&self) -> Result<()> {
        let roll = self.before(Operation::Close).await?;
        Self::after(&roll, Operation::Close, self.inner.close().await)
    }
}
