//! The write path of `Tiered`: each write runs to its end (even if its caller leaves) as
//! intent, lower write, settle — the protocol of `coherence.rs`.

use bytes::Bytes;

use super::coherence::Repair;
use super::detach::RunToEnd;
use super::stats::bump;
use super::{TierMode, Tiered};
use crate::{Result, StorageBackend, WriteBatch};

/// A write as the lower tier receives it.
pub(super) enum Write {
    Put(Bytes, Bytes),
    Delete(Bytes),
    Batch(WriteBatch),
}

impl<U: StorageBackend, L: StorageBackend> Tiered<U, L> {
    /// Runs a write to its end (even if the caller leaves): intent, lower write, settle.
    pub(super) async fn write(&self, write: Write) -> Result<bool> {
        let this = self.clone();
        let span = tracing::debug_span!("strata.tiered.write_through");
        RunToEnd::new(
            tracing::Instrument::instrument(async move { this.write_through(write).await }, span),
            &self.shared.detached,
        )
        .await
    }

    async fn write_through(self, write: Write) -> Result<bool> {
        let intent = match &write {
            Write::Put(key, _) | Write::Delete(key) => self.coherence.begin(std::iter::once(key)),
            Write::Batch(batch) => self.coherence.begin(batch.ops().iter().map(|op| op.key())),
        };
        let lower = self.lower();
        let outcome = match &write {
            Write::Put(key, value) => lower.put(key.clone(), value.clone()).await.map(|()| true),
            Write::Delete(key) => lower.delete(key).await,
            Write::Batch(batch) => lower.write_batch(batch.clone()).await.map(|()| true),
        };
        let applied = outcome.is_ok().then(|| match write {
            Write::Put(key, value) => {
                let mut batch = WriteBatch::with_capacity(1);
                batch.put(key, value);
                batch
            }
            Write::Delete(key) => {
                let mut batch = WriteBatch::with_capacity(1);
                batch.delete(key);
                batch
            }
            Write::Batch(batch) => batch,
        });
        let repair = match self.shared.mode {
            TierMode::Cache => Repair::Invalidate,
            TierMode::Replica => Repair::CopyFrom(lower),
        };
        let settled = intent.settle(self.upper(), repair, applied).await;
        self.counters()
            .contended_writes
            .fetch_add(settled.contended, std::sync::atomic::Ordering::Relaxed);
        if settled.invalidation_failed {
            bump(&self.counters().invalidation_failures);
        }
        let existed = outcome?;
        if let Some(err) = settled.upper_error {
            self.upper_failed(err)?;
        }
        Ok(existed)
    }
}
