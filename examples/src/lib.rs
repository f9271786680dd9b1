//! Support code for Strata's demo and examples, on well-kept crates: latency percentiles
//! (hdrhistogram), a progress bar (indicatif), a seeded random source and Zipf sampler
//! (rand, rand_distr).
#![deny(missing_docs)]

/// The README's snippets, compiled (and run where they need no server or file) as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

pub mod latency;
pub mod progress;
pub mod rng;
