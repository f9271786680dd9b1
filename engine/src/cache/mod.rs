//! The cache policy: adaptive W-TinyLFU admission and eviction with a frequency sketch.

mod climber;
mod deque;
mod ghost;
mod policy;
mod sketch;

pub use climber::HillClimber;
pub use policy::{EvictionCause, PolicyConfig, WTinyLfu};
pub use sketch::FrequencySketch;
