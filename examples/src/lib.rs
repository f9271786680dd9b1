//! Support code for Strata's demo and examples: latency recording, a progress line, a
//! tiny deterministic random source, and table printing.
#![deny(missing_docs)]

/// The README's snippets, compiled (and run where they need no server or file) as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

pub mod latency;
pub mod progress;
pub mod rng;
