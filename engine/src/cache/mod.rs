//! The cache: [`MemoryCache`], a bounded in-memory backend with adaptive TTL, and
//! [`Bounded`], which bounds any backend; both are governed by an adaptive W-TinyLFU policy.
//!
//! The policy's parts (`WTinyLfu`, `EvictionCause`, `HillClimber`, `FrequencySketch`) are
//! internals; the `bench-internals` feature exports them for the hit-ratio benchmark.

mod bounded;
mod climber;
mod clock;
mod deque;
mod driver;
mod ghost;
mod hot_set;
mod listener;
mod memory_cache;
mod orphans;
#[cfg(test)]
mod parity_tests;
mod policy;
mod sketch;
pub(crate) mod stats;
mod ttl;

pub use bounded::Bounded;
#[cfg(feature = "bench-internals")]
pub use climber::HillClimber;
pub use clock::{Clock, ManualClock, SystemClock};
pub use hot_set::{HotKey, HotSet, MAX_RESTORED_KEYSPACES};
pub use listener::{Eviction, RemovalCause};
pub use memory_cache::{ENTRY_OVERHEAD_BYTES, MemoryCache, MemoryCacheBuilder, MemoryCacheConfig};
pub use policy::PolicyConfig;
#[cfg(feature = "bench-internals")]
pub use policy::{EvictionCause, WTinyLfu};
#[cfg(feature = "bench-internals")]
pub use sketch::FrequencySketch;
pub use stats::CacheStats;
pub use ttl::TtlConfig;
