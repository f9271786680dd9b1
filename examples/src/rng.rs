//! A seeded random source and a Zipf sampler, from `rand` and `rand_distr`, so the demo's
//! workload is the same on every run.

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng};
use rand_distr::Distribution;

/// A seeded generator (`rand`'s `StdRng`).
#[derive(Debug, Clone)]
pub struct Rng(StdRng);

impl Rng {
    /// A generator from a seed: the same seed, the same sequence.
    pub fn new(seed: u64) -> Self {
        Rng(StdRng::seed_from_u64(seed))
    }

    /// An integer in `[0, n)` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.0.random_range(0..n) }
    }
}

/// Samples ranks `0..n` with probability proportional to `1 / (rank + 1)^s`
/// (`rand_distr::Zipf`).
#[derive(Debug, Clone)]
pub struct Zipf(rand_distr::Zipf<f64>);

impl Zipf {
    /// A sampler over `n` items (at least one) with exponent `s` (0.99 is the classic skew).
    pub fn new(n: usize, s: f64) -> Self {
        Zipf(rand_distr::Zipf::new(n.max(1) as f64, s).expect("a positive exponent"))
    }

    /// One rank.
    pub fn sample(&self, rng: &mut Rng) -> usize {
        self.0.sample(&mut rng.0) as usize - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_prefers_low_ranks_and_stays_in_range() {
        let zipf = Zipf::new(1000, 0.99);
        let mut rng = Rng::new(7);
        let mut counts = vec![0u32; 1000];
        for _ in 0..100_000 {
            counts[zipf.sample(&mut rng)] += 1;
        }
        assert!(
            counts[0] > counts[10] && counts[10] > counts[500],
            "{:?}",
            &counts[..12]
        );
        let again: Vec<u64> = (0..5).map(|_| Rng::new(3).below(100)).collect();
        assert!(again.windows(2).all(|w| w[0] == w[1]), "seeded: repeatable");
    }
}
