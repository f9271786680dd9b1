//! Shared pieces of Strata's benchmarks: the peers, trace readers, Belady's optimum.
//!
//! Criterion benchmarks live in `benches/` (`cargo bench -p strata-bench --bench redb`);
//! report binaries in `src/bin/` (`cargo run --release -p strata-bench --bin hit_ratio`).
#![deny(missing_docs)]

pub mod opt;
pub mod peers;
pub mod product;
pub mod raw_redb;
pub mod side_by_side;
pub mod traces;
