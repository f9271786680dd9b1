//! Hill climbing on the hit rate: decides how the admission window should grow or shrink.
//!
//! Every `sample_size` requests the climber compares the sample's hit rate with the previous
//! one. If it improved, it keeps stepping the window the same way; if it got worse, it turns
//! round. Steps shrink geometrically while the hit rate is stable, and jump back to full size
//! when it moves a lot (the workload changed). This is how adaptive W-TinyLFU finds a
//! recency-friendly window on LRU-shaped traces and a tiny one on frequency-shaped ones.

/// Share of the capacity moved by a full step.
const STEP_SHARE: f64 = 0.0625;
/// A hit-rate change at least this large restarts the search with full steps.
const RESTART_THRESHOLD: f64 = 0.05;
/// Hit-rate changes smaller than this are noise: the window holds still.
const FLAT: f64 = 0.0005;
/// Each sample without a restart shrinks the step by this factor.
const STEP_DECAY: f64 = 0.98;

/// The climber's state.
#[derive(Debug, Clone)]
pub struct HillClimber {
    hits: u64,
    misses: u64,
    sample_size: u64,
    previous_hit_rate: f64,
    step: f64,
    capacity: f64,
}

impl HillClimber {
    /// A climber for a cache of `capacity` weight units, judging every `sample_size` requests.
    pub fn new(capacity: u64, sample_size: u64) -> Self {
        let capacity = capacity as f64;
        HillClimber {
            hits: 0,
            misses: 0,
            sample_size: sample_size.max(1),
            previous_hit_rate: 0.0,
            // Start by shrinking the window: on a flat hit rate (a loop) this walks to pure
            // TinyLFU; a recency-heavy trace turns the climber round at once.
            step: -STEP_SHARE * capacity,
            capacity,
        }
    }

    /// Records one request.
    pub fn record(&mut self, hit: bool) {
        if hit {
            self.hits += 1;
        } else {
            self.misses += 1;
        }
    }

    /// How much the window should change now, in weight units (positive grows it); zero until
    /// a sample is complete.
    pub fn adjustment(&mut self) -> f64 {
        let requests = self.hits + self.misses;
        if requests < self.sample_size {
            return 0.0;
        }
        let hit_rate = self.hits as f64 / requests as f64;
        let change = hit_rate - self.previous_hit_rate;
        if change.abs() < FLAT {
            // Nothing learned (a loop, a scan, a saturated cache): hold still rather than drift.
            self.previous_hit_rate = hit_rate;
            self.hits = 0;
            self.misses = 0;
            return 0.0;
        }
        let amount = if change > 0.0 { self.step } else { -self.step };
        self.step = if change.abs() >= RESTART_THRESHOLD {
            STEP_SHARE * self.capacity * amount.signum()
        } else {
            STEP_DECAY * amount
        };
        self.previous_hit_rate = hit_rate;
        self.hits = 0;
        self.misses = 0;
        amount
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_direction_while_improving_and_turns_when_worse() {
        let mut c = HillClimber::new(1000, 10);
        let feed = |c: &mut HillClimber, hits: u64| {
            for i in 0..10 {
                c.record(i < hits);
            }
            c.adjustment()
        };
        let first = feed(&mut c, 5);
        assert!(first < 0.0, "starts by shrinking the window");
        let second = feed(&mut c, 6);
        assert!(second < 0.0, "improved: same direction");
        let third = feed(&mut c, 4);
        assert!(third > 0.0, "worse: turns round");
        assert_eq!(feed(&mut c, 4), 0.0, "unchanged: holds still");
        assert!(
            feed(&mut c, 5) > 0.0,
            "improved again: keeps the last direction"
        );
    }

    #[test]
    fn no_adjustment_before_a_full_sample() {
        let mut c = HillClimber::new(1000, 100);
        for _ in 0..99 {
            c.record(true);
        }
        assert_eq!(c.adjustment(), 0.0);
    }
}
