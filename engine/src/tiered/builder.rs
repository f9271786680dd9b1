//! Building a [`Tiered`] store: its mode and how it treats upper-tier failures.

use std::sync::Arc;

use super::{Shared, Tiered, Tiers};
use crate::{DEFAULT_KEYSPACE, Error, Operation, Result, StorageBackend};

/// What the upper tier is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TierMode {
    /// A cache: it may evict, so scans are served by the lower tier. The default.
    #[default]
    Cache,
    /// A full replica: it holds every key written through this store and never evicts, so
    /// scans are served by it. An upper tier whose capabilities say it
    /// [`evicts`](crate::Capabilities::evicts) is refused.
    Replica,
}

/// Builds a [`Tiered`] store.
#[derive(Debug)]
#[must_use]
pub struct TieredBuilder<U, L> {
    pub(super) upper: U,
    pub(super) lower: L,
    pub(super) mode: TierMode,
    pub(super) strict: bool,
}

impl<U: StorageBackend, L: StorageBackend> TieredBuilder<U, L> {
    /// Sets the mode (default [`TierMode::Cache`]).
    pub fn mode(mut self, mode: TierMode) -> Self {
        self.mode = mode;
        self
    }

    /// Makes upper-tier failures fail the operation (default `false`: they are counted and
    /// absorbed).
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Builds the store on the default keyspace of both tiers.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) for
    /// [`TierMode::Replica`] over an upper tier that evicts: it would lose keys its scans
    /// must return.
    pub fn build(self) -> Result<Tiered<U, L>> {
        if self.mode == TierMode::Replica && self.upper.capabilities().evicts {
            return Err(Error::invalid_input(
                Operation::Open,
                "a replica's upper tier must hold every key, but this one evicts \
                 (use TierMode::Cache)",
            )
            .with_context("backend", "tiered"));
        }
        Ok(Tiered::assemble(
            Arc::new(Tiers {
                upper: self.upper,
                lower: self.lower,
            }),
            Arc::new(Shared::new(self.mode, self.strict)),
            DEFAULT_KEYSPACE,
        ))
    }
}
