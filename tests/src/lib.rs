//! Shared test support for Strata: harnesses that open each backend for the conformance
//! suite, the helpers the crash tests use and a simulated power cut for redb. The tests
//! themselves live in `tests/`.
#![deny(missing_docs)]

pub mod chaos;
pub mod crash;
pub mod deadline;
pub mod fuzzing;
pub mod harness;
mod history;
pub mod io_faults;
pub mod ops;
pub mod power_cut;
pub mod records;
pub mod schedule;
#[cfg(feature = "remote")]
pub mod sqld;
#[cfg(feature = "remote")]
pub mod tls_proxy;
pub mod watchdog;
pub mod wrappers;
