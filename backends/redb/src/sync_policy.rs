//! Decides, commit by commit, whether redb must fsync (`Immediate`) or may not (`None`).
//!
//! The promise of each [`SyncMode`] is counted in *writes* (one per put, delete or batch),
//! not in commits: under group commit one commit holds many writes, and a count of commits
//! would let `Normal { every: N }` lose up to `(N - 1) × group size` acknowledged writes.
//! The invariant: after every commit, unsynced writes stay below the mode's bound.

use std::time::Instant;

use std::sync::Arc;

use redb::Durability;
use strata::SyncMode;

use crate::stats::WriterCounters;

/// Tracks writes since the last fsync and maps a [`SyncMode`] onto redb's durability levels.
#[derive(Debug)]
pub(crate) struct SyncPolicy {
    mode: SyncMode,
    /// Writes committed with `Durability::None` since the last fsync.
    unsynced_writes: u64,
    last_sync: Instant,
    last_commit: Instant,
    counters: Arc<WriterCounters>,
}

impl SyncPolicy {
    pub(crate) fn new(mode: SyncMode, now: Instant, counters: Arc<WriterCounters>) -> Self {
        SyncPolicy {
            mode,
            unsynced_writes: 0,
            last_sync: now,
            last_commit: now,
            counters,
        }
    }

    /// The durability the next commit, holding `writes` writes, needs; `flush_requested`
    /// forces an fsync.
    pub(crate) fn durability_for_next(
        &self,
        flush_requested: bool,
        writes: usize,
        now: Instant,
    ) -> Durability {
        // Fsync when committing without one would leave `limit` writes unsynced.
        let reaches = |limit: u32| self.unsynced_writes + writes as u64 >= u64::from(limit);
        let fsync = flush_requested
            || match self.mode {
                SyncMode::Full => true,
                SyncMode::Normal { every, interval } => {
                    reaches(every)
                        || interval.is_some_and(|i| now.duration_since(self.last_sync) >= i)
                }
                SyncMode::Checkpoint => reaches(SyncMode::CHECKPOINT_WRITES),
                _ => false,
            };
        if fsync {
            Durability::Immediate
        } else {
            Durability::None
        }
    }

    /// Records a successful commit of `writes` writes made with `durability`.
    /// The writer's counters (for the commit marks readers check).
    pub(crate) fn counters(&self) -> Arc<WriterCounters> {
        self.counters.clone()
    }

    pub(crate) fn committed(&mut self, durability: Durability, writes: usize, now: Instant) {
        let fsynced = matches!(durability, Durability::Immediate);
        self.counters.record_commit(fsynced);
        self.last_commit = now;
        if fsynced {
            self.unsynced_writes = 0;
            self.last_sync = now;
        } else {
            self.unsynced_writes = self.unsynced_writes.saturating_add(writes as u64);
        }
    }

    /// Whether some writes are not yet fsynced.
    pub(crate) fn has_unsynced(&self) -> bool {
        self.unsynced_writes > 0
    }

    /// When an idle writer must fsync on its own: `Normal`'s interval after the last fsync,
    /// `Checkpoint`'s idle checkpoint after the last commit.
    pub(crate) fn idle_deadline(&self) -> Option<Instant> {
        if !self.has_unsynced() {
            return None;
        }
        match self.mode {
            SyncMode::Normal {
                interval: Some(interval),
                ..
            } => Some(self.last_sync + interval),
            SyncMode::Checkpoint => Some(self.last_commit + SyncMode::CHECKPOINT_IDLE),
            _ => None,
        }
    }

    #[cfg(test)]
    fn unsynced(&self) -> u64 {
        self.unsynced_writes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Commits groups of the given sizes; returns, per commit, whether it fsynced, and checks
    /// after each that unsynced writes stay below `bound`.
    fn run_groups(mode: SyncMode, groups: &[usize], bound: u64) -> Vec<bool> {
        let now = Instant::now();
        let mut p = SyncPolicy::new(mode, now, Default::default());
        groups
            .iter()
            .map(|&writes| {
                let d = p.durability_for_next(false, writes, now);
                p.committed(d, writes, now);
                assert!(p.unsynced() < bound, "{mode:?}: {} unsynced", p.unsynced());
                matches!(d, Durability::Immediate)
            })
            .collect()
    }

    fn run(mode: SyncMode, commits: usize) -> Vec<bool> {
        run_groups(mode, &vec![1; commits], u64::MAX)
    }

    #[test]
    fn full_syncs_every_commit() {
        assert!(run(SyncMode::Full, 5).into_iter().all(|s| s));
    }

    #[test]
    fn normal_syncs_every_nth_write() {
        let synced = run(SyncMode::normal(4), 12);
        assert_eq!(
            synced,
            [
                false, false, false, true, false, false, false, true, false, false, false, true
            ]
        );
        assert!(run(SyncMode::normal(1), 3).into_iter().all(|s| s));
    }

    #[test]
    fn normal_counts_every_write_of_a_group() {
        // Groups of 3 under every = 8: 3, 6 unsynced, then 9 would pass 7, so it fsyncs.
        let synced = run_groups(SyncMode::normal(8), &[3, 3, 3, 3, 3, 3], 8);
        assert_eq!(synced, [false, false, true, false, false, true]);
        // A group as large as the bound fsyncs at once.
        assert_eq!(
            run_groups(SyncMode::normal(8), &[8, 1, 20], 8),
            [true, false, true]
        );
        // Group commit of any shape never leaves `every` writes unsynced.
        let sizes: Vec<usize> = (0..500).map(|i| (i * 7919) % 13 + 1).collect();
        for every in [1, 2, 8, 16, 100] {
            run_groups(SyncMode::normal(every), &sizes, u64::from(every));
        }
    }

    #[test]
    fn checkpoint_syncs_at_its_write_bound_and_off_never() {
        let bound = u64::from(SyncMode::CHECKPOINT_WRITES);
        let synced = run_groups(SyncMode::Checkpoint, &vec![5; 1000], bound);
        assert_eq!(
            synced.iter().filter(|s| **s).count(),
            4,
            "one per 1024 writes"
        );
        assert!(!synced[0], "no fsync before the bound");
        assert!(run(SyncMode::Off, 5000).into_iter().all(|s| !s));
        let p = SyncPolicy::new(SyncMode::Off, Instant::now(), Default::default());
        assert!(matches!(
            p.durability_for_next(true, 1, Instant::now()),
            Durability::Immediate
        ));
    }

    #[test]
    fn checkpoint_idles_into_a_checkpoint_and_off_does_not() {
        let t0 = Instant::now();
        let mut checkpoint = SyncPolicy::new(SyncMode::Checkpoint, t0, Default::default());
        let mut off = SyncPolicy::new(SyncMode::Off, t0, Default::default());
        assert_eq!(
            checkpoint.idle_deadline(),
            None,
            "nothing unsynced, no deadline"
        );
        let t1 = t0 + Duration::from_millis(300);
        checkpoint.committed(Durability::None, 2, t1);
        off.committed(Durability::None, 2, t1);
        // The deadline follows the last commit, not the last fsync: a pause, not a period.
        assert_eq!(
            checkpoint.idle_deadline(),
            Some(t1 + SyncMode::CHECKPOINT_IDLE)
        );
        assert_eq!(off.idle_deadline(), None);
        checkpoint.committed(Durability::Immediate, 0, t1);
        assert_eq!(checkpoint.idle_deadline(), None);
    }

    #[test]
    fn normal_interval_sets_a_deadline_and_forces_sync() {
        let t0 = Instant::now();
        let mode = SyncMode::Normal {
            every: 1000,
            interval: Some(Duration::from_millis(10)),
        };
        let mut p = SyncPolicy::new(mode, t0, Default::default());
        assert_eq!(p.idle_deadline(), None, "nothing unsynced, no deadline");
        p.committed(Durability::None, 1, t0);
        assert_eq!(p.idle_deadline(), Some(t0 + Duration::from_millis(10)));
        let later = t0 + Duration::from_millis(11);
        assert!(matches!(
            p.durability_for_next(false, 1, later),
            Durability::Immediate
        ));
        p.committed(Durability::Immediate, 1, later);
        assert_eq!(p.unsynced(), 0);
        assert_eq!(p.idle_deadline(), None);
    }
}
