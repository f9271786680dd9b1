//! Support code for Strata's demo and examples: latency recording, a progress line, a
//! tiny deterministic random source, and table printing.
#![deny(missing_docs)]

pub mod latency;
pub mod progress;
pub mod rng;
