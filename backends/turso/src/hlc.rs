//! A hybrid logical clock: timestamps that never go back on one device (across restarts too,
//! with a [`ClockFile`]), move past every timestamp the device reads from
//! the server (the receive rule), and do not let one far-off device drag the others along
//! (the skew gate).
//!
//! A timestamp is `ms since 2024-01-01 << 20 | counter`: 43 bits of milliseconds (enough
//! until the year 2302) and 20 of logical counter (a million per millisecond), 63 bits in all:
//! a positive SQLite `INTEGER` that sorts like the time it stands for. The writing node's id
//! is a separate column, so ties between devices break deterministically.
//!
//! Why not the `uhlc` crate: its timestamps are NTP64 values that exceed `i64::MAX` (SQLite's
//! integer) from 2038, its clock source is a function pointer (no per-handle clock to test
//! skewed devices side by side), and it keeps no high-water mark across restarts.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use crate::clock_file::ClockFile;

/// 2024-01-01T00:00:00Z in ms since the UNIX epoch: timestamps count from here.
pub const EPOCH_MS: u64 = 1_704_067_200_000;
/// Bits of logical counter below the milliseconds.
pub const COUNTER_BITS: u32 = 20;
/// The largest timestamp (63 bits).
/// The largest timestamp: SQLite stores integers as signed 64-bit.
pub const MAX_TIMESTAMP: u64 = i64::MAX as u64;

/// Where a clock reads the wall time. Swap it to test devices whose clocks disagree.
pub trait WallClock: Send + Sync + fmt::Debug {
    /// Milliseconds since the UNIX epoch.
    fn now_ms(&self) -> u64;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl WallClock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

/// The timestamp at the start of wall-clock millisecond `unix_ms` (counter 0).
pub fn timestamp_at(unix_ms: u64) -> u64 {
    unix_ms
        .saturating_sub(EPOCH_MS)
        .saturating_mul(1 << COUNTER_BITS)
        .min(MAX_TIMESTAMP)
}

/// The wall-clock millisecond (since the UNIX epoch) of `timestamp`.
pub fn unix_ms_of(timestamp: u64) -> u64 {
    (timestamp >> COUNTER_BITS) + EPOCH_MS
}

/// A hybrid logical clock for one node.
#[derive(Debug)]
pub struct Hlc {
    wall: Arc<dyn WallClock>,
    node: u64,
    max_skew: Duration,
    /// The last timestamp issued or observed.
    last: Mutex<u64>,
    /// Persists a lease above every timestamp issued, so a restart starts above it.
    file: Option<Mutex<ClockFile>>,
    clamped: AtomicU64,
}

impl Hlc {
    /// A clock for `node` reading `wall`, never issuing at or below `floor`, clamping
    /// observed timestamps more than `max_skew` ahead of its wall time.
    pub fn new(node: u64, wall: Arc<dyn WallClock>, max_skew: Duration, floor: u64) -> Self {
        Hlc {
            wall,
            node,
            max_skew,
            last: Mutex::new(floor),
            file: None,
            clamped: AtomicU64::new(0),
        }
    }

    /// A clock whose node id and high-water mark live in `file`.
    pub fn with_file(wall: Arc<dyn WallClock>, max_skew: Duration, file: ClockFile) -> Self {
        let mut hlc = Hlc::new(file.node(), wall, max_skew, file.lease());
        hlc.file = Some(Mutex::new(file));
        hlc
    }

    /// This clock's node id.
    pub fn node(&self) -> u64 {
        self.node
    }

    /// The wall time as a timestamp (counter 0).
    pub fn physical(&self) -> u64 {
        timestamp_at(self.wall.now_ms())
    }

    /// Reserves `n` consecutive timestamps above every one issued or observed, and returns
    /// the first. With a clock file, the lease covering them is on disk before they are used.
    pub fn reserve(&self, n: usize) -> std::io::Result<u64> {
        let n = u64::try_from(n.max(1)).unwrap_or(u64::MAX);
        let physical = self.physical();
        let mut last = self.last.lock();
        let first = physical.max(last.saturating_add(1)).min(MAX_TIMESTAMP - n);
        let end = first + n - 1;
        if let Some(file) = &self.file {
            file.lock().cover(end)?;
        }
        *last = end;
        Ok(first)
    }

    /// One timestamp above every one issued or observed *and* above `floor` (a version this
    /// device holds for the key being written, which may come from a clock far ahead), with
    /// the lease covering it on disk before it is used. Fails once the clock would pass
    /// [`MAX_TIMESTAMP`]: no later version exists to give.
    pub fn reserve_after(&self, floor: u64) -> std::io::Result<u64> {
        let physical = self.physical();
        let mut last = self.last.lock();
        let next = physical
            .max(last.saturating_add(1))
            .max(floor.saturating_add(1));
        if next > MAX_TIMESTAMP {
            return Err(std::io::Error::other(
                "the hybrid logical clock is at its maximum timestamp",
            ));
        }
        if let Some(file) = &self.file {
            file.lock().cover(next)?;
        }
        *last = next;
        Ok(next)
    }

    /// The receive rule: moves the clock past `timestamp`, read from the server. A timestamp
    /// more than `max_skew` ahead of this device's wall time is clamped to that bound (and
    /// counted): one device with a clock far ahead must not drag every other one along.
    pub fn observe(&self, timestamp: u64) {
        let bound = timestamp_at(
            self.wall
                .now_ms()
                .saturating_add(u64::try_from(self.max_skew.as_millis()).unwrap_or(u64::MAX)),
        );
        let accepted = if timestamp > bound {
            self.clamped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                ahead_ms = unix_ms_of(timestamp).saturating_sub(self.wall.now_ms()),
                "turso: a version from a clock further ahead than max_clock_skew was clamped"
            );
            bound
        } else {
            timestamp
        };
        let mut last = self.last.lock();
        *last = (*last).max(accepted);
    }

    /// The last timestamp issued or observed.
    pub fn last(&self) -> u64 {
        *self.last.lock()
    }

    /// Observed timestamps clamped by the skew gate so far.
    pub fn clamped(&self) -> u64 {
        self.clamped.load(Ordering::Relaxed)
    }
}

impl Drop for Hlc {
    /// Leaves the exact high-water mark in the clock file (not the lease above it), so a
    /// clean restart does not skip ahead by the unused part of the lease each time.
    fn drop(&mut self) {
        if let Some(file) = &self.file {
            let last = *self.last.lock();
            if let Err(e) = file.lock().settle(last) {
                tracing::warn!(error = %e, "turso: cannot write the clock file at close");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicI64;

    /// A wall clock the test moves by hand.
    #[derive(Debug, Default)]
    struct Manual(AtomicI64);

    impl Manual {
        fn at(ms: u64) -> Arc<Self> {
            Arc::new(Manual(AtomicI64::new(ms as i64)))
        }
        fn set(&self, ms: u64) {
            self.0.store(ms as i64, Ordering::SeqCst);
        }
    }

    impl WallClock for Manual {
        fn now_ms(&self) -> u64 {
            self.0.load(Ordering::SeqCst) as u64
        }
    }

    const NOW: u64 = 1_790_000_000_000; // 2026-09

    #[test]
    fn timestamps_increase_even_when_the_wall_clock_steps_back() {
        let wall = Manual::at(NOW);
        let hlc = Hlc::new(7, wall.clone(), Duration::from_secs(300), 0);
        let a = hlc.reserve(3).unwrap();
        let b = hlc.reserve(1).unwrap();
        assert!(b >= a + 3);
        wall.set(NOW - 600_000);
        let c = hlc.reserve(1).unwrap();
        assert!(c > b, "the clock went back with the wall clock");
        assert_eq!(hlc.node(), 7);
    }

    #[test]
    fn a_floor_from_before_a_restart_is_never_issued_again() {
        let before = Hlc::new(1, Manual::at(NOW), Duration::from_secs(300), 0);
        let issued = before.reserve(1).unwrap();
        // Restarted with the wall clock ten minutes back: the floor keeps it above.
        let after = Hlc::new(
            1,
            Manual::at(NOW - 600_000),
            Duration::from_secs(300),
            issued,
        );
        assert!(after.reserve(1).unwrap() > issued);
    }

    #[test]
    fn the_receive_rule_moves_past_what_it_reads() {
        let hlc = Hlc::new(1, Manual::at(NOW), Duration::from_secs(300), 0);
        let remote = timestamp_at(NOW + 60_000) + 5; // a device one minute ahead
        hlc.observe(remote);
        assert!(hlc.reserve(1).unwrap() > remote);
        assert_eq!(hlc.clamped(), 0);
    }

    #[test]
    fn the_skew_gate_clamps_a_clock_far_ahead() {
        let hlc = Hlc::new(1, Manual::at(NOW), Duration::from_secs(300), 0);
        hlc.observe(timestamp_at(NOW + 3_600_000)); // one hour ahead
        assert_eq!(hlc.clamped(), 1);
        let next = hlc.reserve(1).unwrap();
        assert!(
            next <= timestamp_at(NOW + 300_000) + 1,
            "clamped to now + max skew"
        );
        assert!(next > timestamp_at(NOW + 299_999));
    }

    #[test]
    fn a_clock_past_the_time_field_saturates_instead_of_wrapping() {
        assert_eq!(timestamp_at(u64::MAX), MAX_TIMESTAMP);
        let hlc = Hlc::new(1, Arc::new(SystemClock), Duration::from_secs(300), 0);
        assert!(hlc.reserve_after(MAX_TIMESTAMP - 1).unwrap() == MAX_TIMESTAMP);
        assert!(hlc.reserve_after(MAX_TIMESTAMP).is_err());
        assert!(hlc.reserve(1).unwrap() <= MAX_TIMESTAMP);
        let hlc = Hlc::new(1, Manual::at(u64::MAX / 2), Duration::from_secs(300), 0);
        let t = hlc.reserve(1).unwrap();
        assert!(i64::try_from(t).is_ok());
    }

    #[test]
    fn the_time_field_lasts_past_2100() {
        let year_2100_ms = 4_102_444_800_000; // 2100-01-01
        let year_2300_ms = 10_413_792_000_000; // 2300-01-01
        for ms in [year_2100_ms, year_2300_ms] {
            let ts = timestamp_at(ms);
            assert!(ts < MAX_TIMESTAMP && i64::try_from(ts).is_ok());
            assert_eq!(unix_ms_of(ts), ms);
            assert!(timestamp_at(ms + 1) > ts + (1 << COUNTER_BITS) - 1);
        }
        let hlc = Hlc::new(1, Manual::at(year_2300_ms), Duration::from_secs(300), 0);
        let a = hlc.reserve(2).unwrap();
        assert_eq!(unix_ms_of(a), year_2300_ms);
    }

    #[test]
    fn a_million_timestamps_within_one_millisecond_stay_ordered() {
        let hlc = Hlc::new(1, Manual::at(NOW), Duration::from_secs(300), 0);
        let first = hlc.reserve(1).unwrap();
        let mut prev = first;
        for _ in 0..(1 << COUNTER_BITS) {
            let t = hlc.reserve(1).unwrap();
            assert!(t > prev);
            prev = t;
        }
        // Past the counter's room the clock borrows the next millisecond, still ordered.
        assert_eq!(unix_ms_of(prev), NOW + 1);
    }
}
