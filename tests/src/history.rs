//! The checker's record of a schedule: every write with its start and end on a shared
//! logical clock, and the rules a read or a final value must obey.
//!
//! A write's start is taken before it is issued, its end after its `Ok` returned; writes
//! that failed or were cancelled never end (they may land at any time).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;

/// One write on one key, as seen by the checker.
#[derive(Clone, Debug)]
pub(crate) struct Written {
    value: Option<Bytes>,
    start: u64,
    /// Set when the write returned `Ok`.
    end: Option<u64>,
}

#[derive(Default)]
pub(crate) struct History {
    clock: AtomicU64,
    writes: Mutex<HashMap<Bytes, Vec<Written>>>,
    values: Mutex<HashMap<Bytes, HashSet<Bytes>>>,
}

impl History {
    pub(crate) fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Records writes before they are issued; returns their indexes per key.
    pub(crate) fn begin(&self, ops: &[(Bytes, Option<Bytes>)]) -> Vec<usize> {
        let mut values = self.values.lock();
        for (key, value) in ops {
            if let Some(v) = value {
                values.entry(key.clone()).or_default().insert(v.clone());
            }
        }
        drop(values);
        let start = self.tick();
        let mut writes = self.writes.lock();
        ops.iter()
            .map(|(key, value)| {
                let list = writes.entry(key.clone()).or_default();
                list.push(Written {
                    value: value.clone(),
                    start,
                    end: None,
                });
                list.len() - 1
            })
            .collect()
    }

    pub(crate) fn acknowledge(&self, ops: &[(Bytes, Option<Bytes>)], ids: &[usize]) {
        let end = self.tick();
        let mut writes = self.writes.lock();
        for ((key, _), &i) in ops.iter().zip(ids) {
            writes.get_mut(key).expect("begun")[i].end = Some(end);
        }
    }

    /// A read that began at `start` returned `got`: it must be a value some writer wrote to
    /// `key`, and not one overtaken by a write acknowledged before the read began.
    pub(crate) fn check_read(
        &self,
        key: &Bytes,
        got: &Option<Bytes>,
        start: u64,
        evicts: bool,
        label: &str,
    ) {
        if let Some(v) = got {
            let known = self.values.lock().get(key).is_some_and(|s| s.contains(v));
            assert!(
                known,
                "{label}: read {v:?} for {key:?}, which no writer wrote"
            );
        } else if evicts {
            return;
        }
        let (fresh, list) = self.current_at(key, got, start);
        assert!(
            fresh,
            "{label}: a read of {key:?} begun at {start} returned {got:?}, older than a write \
             acknowledged before it began; writes: {list:?}"
        );
    }

    /// Whether `got` may be the final value of `key` — the read rule with every acknowledged
    /// write counted; a store that `evicts` (a bounded cache on its own) may also have
    /// dropped it, but never kept a stale value.
    pub(crate) fn check_final(&self, key: &Bytes, got: &Option<Bytes>, evicts: bool, label: &str) {
        if evicts && got.is_none() {
            return;
        }
        let (ok, list) = self.current_at(key, got, u64::MAX);
        assert!(
            ok,
            "{label}: final value {got:?} of {key:?} is not what the writes allow \
             (a lost acknowledged write or a stale survivor); writes: {list:?}"
        );
    }

    /// Whether some write of `got` (or the initial absence) is not overtaken, as seen at
    /// `start`: overtaken means a write acknowledged before `start` began after it ended.
    fn current_at(&self, key: &Bytes, got: &Option<Bytes>, start: u64) -> (bool, Vec<Written>) {
        let list = self.writes.lock().get(key).cloned().unwrap_or_default();
        let initial = Written {
            value: None,
            start: 0,
            end: Some(0),
        };
        let overtaken = |end: Option<u64>| {
            end.is_some_and(|end| {
                list.iter()
                    .any(|w| w.start > end && w.end.is_some_and(|e| e < start))
            })
        };
        let current = std::iter::once(&initial)
            .chain(list.iter())
            .filter(|w| w.value == *got)
            .any(|w| !overtaken(w.end));
        (current, list)
    }
}
