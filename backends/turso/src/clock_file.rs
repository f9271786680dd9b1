//! A device's clock identity on disk: its node id and a lease above every timestamp it has
//! issued, so a restart (even with the wall clock stepped back) never issues one again.
//!
//! Writing the high-water mark on every write would cost an fsync per write. Instead the file
//! holds a *lease*: a timestamp [`LEASE`] ahead of the last one issued. The clock issues
//! freely below the lease and extends it (one small atomic write, fsynced) when it gets there,
//! so a busy device writes the file about once per lease period. After a restart the clock
//! starts at the lease, above everything issued before.
//!
//! Format (text, one `name=value` per line): `strata-clock 1`, `node=…`, `lease=…`. A file
//! that does not parse is an error, never silently replaced: that would reset the clock.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::hlc::COUNTER_BITS;

/// How far ahead of the last issued timestamp the persisted lease runs.
pub const LEASE: Duration = Duration::from_secs(10);
const HEADER: &str = "strata-clock 1";

/// A node id and clock lease persisted in a file (see the module docs).
#[derive(Debug)]
pub struct ClockFile {
    path: PathBuf,
    node: u64,
    lease: u64,
}

impl ClockFile {
    /// Opens the file at `path`, or creates it with a random 64-bit node id (a collision
    /// among a million devices has odds of about 1 in 4 × 10^7) and no lease.
    pub fn open_or_create(path: impl Into<PathBuf>) -> io::Result<Self> {
        let path = path.into();
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse(path, &text),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let file = ClockFile {
                    path,
                    node: rand::random::<u64>(),
                    lease: 0,
                };
                file.store()?;
                Ok(file)
            }
            Err(e) => Err(e),
        }
    }

    /// Creates (or overwrites) the file with an assigned node id, keeping any lease on it.
    pub fn with_node(path: impl Into<PathBuf>, node: u64) -> io::Result<Self> {
        let path = path.into();
        let lease = match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse(path.clone(), &text)?.lease,
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        let file = ClockFile { path, node, lease };
        file.store()?;
        Ok(file)
    }

    fn parse(path: PathBuf, text: &str) -> io::Result<Self> {
        let bad = |why: &str| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("clock file {}: {why}", path.display()),
            )
        };
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return Err(bad("not a Strata clock file"));
        }
        let (mut node, mut lease) = (None, None);
        for line in lines {
            let (name, value) = line.split_once('=').ok_or_else(|| bad("malformed line"))?;
            let value: u64 = value.trim().parse().map_err(|_| bad("malformed number"))?;
            match name.trim() {
                "node" => node = Some(value),
                "lease" => lease = Some(value),
                _ => return Err(bad("unknown field")),
            }
        }
        Ok(ClockFile {
            node: node.ok_or_else(|| bad("no node id"))?,
            lease: lease.ok_or_else(|| bad("no lease"))?,
            path,
        })
    }

    /// The node id.
    pub fn node(&self) -> u64 {
        self.node
    }

    /// The persisted lease: every timestamp issued before is below it.
    pub fn lease(&self) -> u64 {
        self.lease
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes sure the lease on disk is above `timestamp`, extending it by [`LEASE`] if not.
    pub(crate) fn cover(&mut self, timestamp: u64) -> io::Result<()> {
        if timestamp < self.lease {
            return Ok(());
        }
        let previous = self.lease;
        let lease_ticks = u64::try_from(LEASE.as_millis()).unwrap_or(u64::MAX) << COUNTER_BITS;
        self.lease = timestamp.saturating_add(lease_ticks).min(i64::MAX as u64);
        self.store().inspect_err(|_| self.lease = previous)
    }

    /// Records `last` (the exact high-water mark, at a clean close) as the lease: the next
    /// start issues above it without skipping the rest of the lease.
    pub(crate) fn settle(&mut self, last: u64) -> io::Result<()> {
        if last.saturating_add(1) >= self.lease {
            return Ok(());
        }
        self.lease = last.saturating_add(1);
        self.store()
    }

    /// Writes the file atomically: a temporary file, fsynced, renamed over, directory fsynced.
    fn store(&self) -> io::Result<()> {
        // Appended, not a replaced extension: `x.tmp` or `a.x` and `a.y` must not collide.
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".strata-tmp");
        let tmp = PathBuf::from(tmp);
        {
            let mut f = std::fs::File::create(&tmp)?;
            write!(f, "{HEADER}\nnode={}\nlease={}\n", self.node, self.lease)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Makes the rename itself durable (not supported on every platform).
            if let Ok(dir) = std::fs::File::open(dir) {
                let _ = dir.sync_all();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hlc::{Hlc, WallClock, timestamp_at};
    use std::sync::Arc;

    #[derive(Debug)]
    struct Fixed(u64);
    impl WallClock for Fixed {
        fn now_ms(&self) -> u64 {
            self.0
        }
    }

    const NOW: u64 = 1_790_000_000_000;

    #[test]
    fn the_node_id_is_wide_and_persisted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clock");
        let first = ClockFile::open_or_create(&path).unwrap();
        let again = ClockFile::open_or_create(&path).unwrap();
        assert_eq!(first.node(), again.node());
        // 64 random bits: across many fresh files the ids differ and use the high bits.
        let ids: std::collections::HashSet<u64> = (0..64)
            .map(|i| {
                ClockFile::open_or_create(dir.path().join(i.to_string()))
                    .unwrap()
                    .node()
            })
            .collect();
        assert_eq!(ids.len(), 64);
        assert!(ids.iter().any(|id| *id >= 1 << 48));
    }

    #[test]
    fn a_restart_with_the_clock_stepped_back_issues_above_everything_before() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clock");
        let hlc = Hlc::with_file(
            Arc::new(Fixed(NOW)),
            Duration::from_secs(300),
            ClockFile::open_or_create(&path).unwrap(),
        );
        let mut last = 0;
        for _ in 0..1000 {
            last = hlc.reserve(1).unwrap();
        }
        drop(hlc);
        let restarted = Hlc::with_file(
            Arc::new(Fixed(NOW - 600_000)),
            Duration::from_secs(300),
            ClockFile::open_or_create(&path).unwrap(),
        );
        let next = restarted.reserve(1).unwrap();
        assert!(next > last, "{next} after a restart is not above {last}");
        assert!(
            next < timestamp_at(NOW) + (11_000 << COUNTER_BITS),
            "lease is ~10 s"
        );
    }

    #[test]
    fn a_damaged_clock_file_is_an_error_not_a_reset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clock");
        std::fs::write(&path, "strata-clock 1\nnode=12\nlease=zz\n").unwrap();
        let err = ClockFile::open_or_create(&path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        std::fs::write(&path, "").unwrap();
        assert!(ClockFile::open_or_create(&path).is_err());
    }

    #[test]
    fn an_assigned_node_keeps_the_lease() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clock");
        let mut file = ClockFile::open_or_create(&path).unwrap();
        file.cover(timestamp_at(NOW)).unwrap();
        let lease = file.lease();
        let assigned = ClockFile::with_node(&path, 42).unwrap();
        assert_eq!((assigned.node(), assigned.lease()), (42, lease));
    }
}
