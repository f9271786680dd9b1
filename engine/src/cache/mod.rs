//! The cache: the adaptive W-TinyLFU policy, adaptive TTL, and [`MemoryCache`], the bounded
//! in-memory backend built on them.

mod bounded;
mod climber;
mod clock;
mod deque;
mod ghost;
mod memory_cache;
#[cfg(test)]
mod parity_tests;
mod policy;
mod sketch;
pub(crate) mod stats;
mod ttl;

pub use bounded::Bounded;
pub use climber::HillClimber;
pub use clock::{Clock, ManualClock, SystemClock};
pub use memory_cache::{MemoryCache, MemoryCacheBuilder, MemoryCacheConfig};
pub use policy::{EvictionCause, PolicyConfig, WTinyLfu};
pub use sketch::FrequencySketch;
pub use stats::CacheStats;
pub use ttl::TtlConfig;
