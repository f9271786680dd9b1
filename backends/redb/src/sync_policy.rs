//! Decides, commit by commit, whether redb must fsync (`Immediate`) or may not (`None`).

use std::time::Instant;

use std::sync::Arc;

use redb::Durability;
use strata::SyncMode;

use crate::stats::WriterCounters;

/// Tracks commits since the last fsync and maps a [`SyncMode`] onto redb's durability levels.
#[derive(Debug)]
pub(crate) struct SyncPolicy {
    mode: SyncMode,
    unsynced_commits: u32,
    last_sync: Instant,
    counters: Arc<WriterCounters>,
}

impl SyncPolicy {
    pub(crate) fn new(mode: SyncMode, now: Instant, counters: Arc<WriterCounters>) -> Self {
        SyncPolicy {
            mode,
            unsynced_commits: 0,
            last_sync: now,
            counters,
        }
    }

    /// The durability the next commit needs; `flush_requested` forces an fsync.
    pub(crate) fn durability_for_next(&self, flush_requested: bool, now: Instant) -> Durability {
        if flush_requested {
            return Durability::Immediate;
        }
        match self.mode {
            SyncMode::Full => Durability::Immediate,
            SyncMode::Normal { every, interval } => {
                let count_due = self.unsynced_commits + 1 >= every;
                let time_due = interval.is_some_and(|i| now.duration_since(self.last_sync) >= i);
                if count_due || time_due {
                    Durability::Immediate
                } else {
                    Durability::None
                }
            }
            _ => Durability::None,
        }
    }

    /// Records a successful commit made with `durability`.
    pub(crate) fn committed(&mut self, durability: Durability, now: Instant) {
        self.counters
            .record_commit(matches!(durability, Durability::Immediate));
        if matches!(durability, Durability::Immediate) {
            self.unsynced_commits = 0;
            self.last_sync = now;
        } else {
            self.unsynced_commits = self.unsynced_commits.saturating_add(1);
        }
    }

    /// Whether some commits are not yet fsynced.
    pub(crate) fn has_unsynced(&self) -> bool {
        self.unsynced_commits > 0
    }

    /// When an idle writer must fsync on its own (`Normal` with an interval).
    pub(crate) fn idle_deadline(&self) -> Option<Instant> {
        match self.mode {
            SyncMode::Normal {
                interval: Some(interval),
                ..
            } if self.has_unsynced() => Some(self.last_sync + interval),
            _ => None,
        }
    }

    #[cfg(test)]
    fn unsynced(&self) -> u32 {
        self.unsynced_commits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn run(mode: SyncMode, commits: usize) -> Vec<bool> {
        let now = Instant::now();
        let mut p = SyncPolicy::new(mode, now, Default::default());
        (0..commits)
            .map(|_| {
                let d = p.durability_for_next(false, now);
                p.committed(d, now);
                matches!(d, Durability::Immediate)
            })
            .collect()
    }

    #[test]
    fn full_syncs_every_commit() {
        assert!(run(SyncMode::Full, 5).into_iter().all(|s| s));
    }

    #[test]
    fn normal_syncs_every_nth_commit() {
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
    fn checkpoint_and_off_sync_only_when_asked() {
        assert!(run(SyncMode::Checkpoint, 5).into_iter().all(|s| !s));
        assert!(run(SyncMode::Off, 5).into_iter().all(|s| !s));
        let p = SyncPolicy::new(SyncMode::Off, Instant::now(), Default::default());
        assert!(matches!(
            p.durability_for_next(true, Instant::now()),
            Durability::Immediate
        ));
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
        p.committed(Durability::None, t0);
        assert_eq!(p.idle_deadline(), Some(t0 + Duration::from_millis(10)));
        let later = t0 + Duration::from_millis(11);
        assert!(matches!(
            p.durability_for_next(false, later),
            Durability::Immediate
        ));
        p.committed(Durability::Immediate, later);
        assert_eq!(p.unsynced(), 0);
        assert_eq!(p.idle_deadline(), None);
    }
}
