//! Adaptive time-to-live: hot entries live longer, cold ones shorter, within bounds.

use std::time::Duration;

/// How entries expire. Every bound and rate has the default from the design.
///
/// - A new entry gets `default_ttl` (or the TTL given with its put).
/// - Each hit counts an access; once an entry has at least `hot_threshold` accesses, every
///   further hit stretches its TTL by `adaptation_rate` (×1.25), up to `max_ttl`.
/// - At each cleanup pass, an entry with fewer than `cold_threshold` accesses has its TTL
///   shrunk by `adaptation_rate` (×0.75), down to `min_ttl`.
/// - An entry is expired once `now ≥ inserted + ttl`; an expired entry is never returned.
///
/// Build one from the default and the setters, so new fields never break your code:
/// `TtlConfig::default().default_ttl(Duration::from_secs(60)).min_ttl(Duration::from_secs(10))`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct TtlConfig {
    /// TTL of a new entry. Default 30 minutes.
    pub default_ttl: Duration,
    /// Smallest adapted TTL. Default 1 minute.
    pub min_ttl: Duration,
    /// Largest adapted TTL. Default 2 hours.
    pub max_ttl: Duration,
    /// Accesses from which an entry is hot. Default 10.
    pub hot_threshold: u32,
    /// Accesses under which an entry is cold. Default 2.
    pub cold_threshold: u32,
    /// Relative TTL change per adaptation. Default 0.25.
    pub adaptation_rate: f64,
}

impl Default for TtlConfig {
    fn default() -> Self {
        TtlConfig {
            default_ttl: Duration::from_secs(30 * 60),
            min_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(2 * 60 * 60),
            hot_threshold: 10,
            cold_threshold: 2,
            adaptation_rate: 0.25,
        }
    }
}

impl TtlConfig {
    /// Sets the TTL of a new entry. Default 30 minutes.
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = ttl;
        self
    }

    /// Sets the smallest adapted TTL. Default 1 minute.
    pub fn min_ttl(mut self, ttl: Duration) -> Self {
        self.min_ttl = ttl;
        self
    }

    /// Sets the largest adapted TTL. Default 2 hours.
    pub fn max_ttl(mut self, ttl: Duration) -> Self {
        self.max_ttl = ttl;
        self
    }

    /// Sets the accesses from which an entry is hot. Default 10.
    pub fn hot_threshold(mut self, accesses: u32) -> Self {
        self.hot_threshold = accesses;
        self
    }

    /// Sets the accesses under which an entry is cold. Default 2.
    pub fn cold_threshold(mut self, accesses: u32) -> Self {
        self.cold_threshold = accesses;
        self
    }

    /// Sets the relative TTL change per adaptation, in `[0, 1)`. Default 0.25.
    pub fn adaptation_rate(mut self, rate: f64) -> Self {
        self.adaptation_rate = rate;
        self
    }

    /// The TTL after a hit that brought the entry to `accesses`.
    pub fn after_hit(&self, ttl_nanos: u64, accesses: u32) -> u64 {
        if accesses >= self.hot_threshold {
            let grown = (ttl_nanos as f64 * (1.0 + self.adaptation_rate)) as u64;
            grown.min(self.max_ttl.as_nanos() as u64).max(ttl_nanos)
        } else {
            ttl_nanos
        }
    }

    /// The TTL after a cleanup pass found the entry with `accesses`.
    pub fn after_cleanup(&self, ttl_nanos: u64, accesses: u32) -> u64 {
        if accesses < self.cold_threshold {
            let shrunk = (ttl_nanos as f64 * (1.0 - self.adaptation_rate)) as u64;
            shrunk.max(self.min_ttl.as_nanos() as u64).min(ttl_nanos)
        } else {
            ttl_nanos
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000_000_000;

    #[test]
    fn hot_grows_to_max_cold_shrinks_to_min() {
        let c = TtlConfig::default();
        let thirty = 30 * MIN;
        assert_eq!(c.after_hit(thirty, 9), thirty, "not hot yet");
        assert_eq!(c.after_hit(thirty, 10), thirty * 5 / 4);
        let mut ttl = thirty;
        for _ in 0..20 {
            ttl = c.after_hit(ttl, 50);
        }
        assert_eq!(ttl, 120 * MIN, "bounded by max");
        assert_eq!(c.after_cleanup(thirty, 1), thirty * 3 / 4);
        assert_eq!(c.after_cleanup(thirty, 2), thirty, "not cold");
        let mut ttl = thirty;
        for _ in 0..50 {
            ttl = c.after_cleanup(ttl, 0);
        }
        assert_eq!(ttl, MIN, "bounded by min");
    }

    #[test]
    fn explicit_ttl_below_min_is_not_raised_by_adaptation() {
        let c = TtlConfig::default();
        assert_eq!(c.after_cleanup(1_000, 0), 1_000);
    }
}
