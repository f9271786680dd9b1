//! Latency percentiles (`hdrhistogram`) and human-readable sizes.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Latencies of one kind of operation, in nanoseconds, to 3 significant figures.
#[derive(Debug, Clone)]
pub struct Latencies(Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        // 1 ns to an hour: longer waits are recorded as an hour.
        Latencies(Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid bounds"))
    }
}

impl Latencies {
    /// Records one sample.
    pub fn record(&mut self, d: Duration) {
        self.0
            .saturating_record(d.as_nanos().min(u128::from(u64::MAX)) as u64);
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: Latencies) {
        self.0
            .add(other.0)
            .expect("histograms of the same precision");
    }

    /// Number of samples.
    pub fn count(&self) -> usize {
        self.0.len() as usize
    }

    /// The `p`-th percentile (0–100), or zero without samples.
    pub fn percentile(&self, p: f64) -> Duration {
        Duration::from_nanos(self.0.value_at_percentile(p))
    }
}

/// Formats a duration with a unit suited to its size.
pub fn human(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos < 10_000 {
        format!("{:.1} µs", nanos as f64 / 1e3)
    } else if nanos < 10_000_000 {
        format!("{:.0} µs", nanos as f64 / 1e3)
    } else {
        format!("{:.1} ms", nanos as f64 / 1e6)
    }
}

/// Formats a byte count.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_within_the_histograms_precision() {
        let mut l = Latencies::default();
        for ms in 1..=100 {
            l.record(Duration::from_millis(ms));
        }
        let close = |d: Duration, ms: u64| {
            d.as_nanos().abs_diff(ms as u128 * 1_000_000) < ms as u128 * 1_000
        };
        assert!(close(l.percentile(50.0), 50), "{:?}", l.percentile(50.0));
        assert!(close(l.percentile(99.0), 99), "{:?}", l.percentile(99.0));
        assert!(close(l.percentile(100.0), 100), "{:?}", l.percentile(100.0));
        assert_eq!(Latencies::default().percentile(50.0), Duration::ZERO);
        let mut merged = Latencies::default();
        merged.merge(l);
        assert_eq!(merged.count(), 100);
    }

    #[test]
    fn formatting() {
        assert_eq!(human(Duration::from_nanos(1500)), "1.5 µs");
        assert_eq!(human(Duration::from_millis(25)), "25.0 ms");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.0 MiB");
    }
}
