//! Write versions per key stripe: how a fill knows a write raced it.
//!
//! A reader notes the stripe's version before reading the lower tier, and fills the upper
//! tier only while holding the stripe's lock and only if the version is unchanged. A writer,
//! after its lower write, takes the same lock, bumps the version and then updates the upper
//! tier. So a fill either happens entirely before the writer's upper update (which then
//! overwrites it) or sees the bumped version and is skipped: the upper tier never ends up
//! older than the lower one.

use std::hash::BuildHasher;

use foldhash::fast::FixedState;
use tokio::sync::{Mutex, MutexGuard};

const STRIPES: usize = 256;

pub(crate) struct Versions {
    stripes: Box<[Mutex<u64>]>,
    hasher: FixedState,
}

impl Default for Versions {
    fn default() -> Self {
        Versions {
            stripes: (0..STRIPES).map(|_| Mutex::new(0)).collect(),
            hasher: FixedState::with_seed(0x7e75),
        }
    }
}

impl Versions {
    pub(crate) fn stripe_of(&self, key: &[u8]) -> usize {
        (self.hasher.hash_one(key) as usize) % self.stripes.len()
    }

    /// The current version of `key`'s stripe.
    pub(crate) async fn read(&self, key: &[u8]) -> u64 {
        *self.stripes[self.stripe_of(key)].lock().await
    }

    /// Locks one stripe.
    pub(crate) async fn lock(&self, stripe: usize) -> MutexGuard<'_, u64> {
        self.stripes[stripe].lock().await
    }

    /// Locks the stripes of all `keys`, in stripe order (so writers never deadlock).
    pub(crate) async fn lock_all<'a>(
        &'a self,
        keys: impl Iterator<Item = &'a [u8]>,
    ) -> Vec<MutexGuard<'a, u64>> {
        let mut stripes: Vec<usize> = keys.map(|k| self.stripe_of(k)).collect();
        stripes.sort_unstable();
        stripes.dedup();
        let mut guards = Vec::with_capacity(stripes.len());
        for s in stripes {
            guards.push(self.stripes[s].lock().await);
        }
        guards
    }
}
