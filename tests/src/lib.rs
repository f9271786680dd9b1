//! Shared test support for Strata: harnesses that open each backend for the conformance
//! suite, and the helpers the crash tests use. The tests themselves live in `tests/`.
#![deny(missing_docs)]

pub mod chaos;
pub mod crash;
pub mod fuzzing;
pub mod harness;
pub mod ops;
pub mod records;
pub mod schedule;
#[cfg(feature = "remote")]
pub mod sqld;
pub mod wrappers;
