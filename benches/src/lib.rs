//! Shared pieces of Strata's benchmarks: the raw-redb peer and workload helpers.
//!
//! The benchmarks live in `benches/` (criterion); run them with
//! `cargo bench -p strata-bench --bench redb`.
#![deny(missing_docs)]

pub mod raw_redb;
