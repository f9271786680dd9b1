//! What a backend supports and the limits it enforces.

/// Default largest key, in bytes, for the built-in backends.
pub const DEFAULT_MAX_KEY_SIZE: usize = 4 * 1024;
/// Default largest value, in bytes, for the built-in backends.
pub const DEFAULT_MAX_VALUE_SIZE: usize = 16 * 1024 * 1024;

/// What a backend supports and the limits it enforces.
///
/// A backend fills in what it supports and leaves the rest to [`Default`]
/// (`Capabilities { persistent: true, ..Default::default() }`). Callers and the conformance
/// suite choose behaviour from these flags instead of from the backend's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Largest accepted key, in bytes; longer keys get [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput).
    /// Default: [`DEFAULT_MAX_KEY_SIZE`].
    pub max_key_size: usize,
    /// Largest accepted value, in bytes; larger values get
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput). Default: [`DEFAULT_MAX_VALUE_SIZE`].
    pub max_value_size: usize,
    /// Data survives a clean close and reopen of the store. Default: `false`.
    pub persistent: bool,
    /// Acknowledged writes survive a crash as the backend's sync mode promises. Default: `false`.
    pub crash_durable: bool,
    /// `write_batch` is all-or-nothing. Default: `true` (every built-in backend).
    pub atomic_batch: bool,
    /// `scan` returns keys in ascending byte order. Default: `true` (every built-in backend).
    pub ordered_scan: bool,
    /// The backend can expire entries by time-to-live. Default: `false`.
    pub ttl: bool,
    /// The backend may drop entries on its own (a bounded cache evicting), so it cannot be
    /// a [`TierMode::Replica`](crate::TierMode::Replica) upper tier. Default: `false`.
    pub evicts: bool,
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities {
            max_key_size: DEFAULT_MAX_KEY_SIZE,
            max_value_size: DEFAULT_MAX_VALUE_SIZE,
            persistent: false,
            crash_durable: false,
            atomic_batch: true,
            ordered_scan: true,
            ttl: false,
            evicts: false,
        }
    }
}

impl Capabilities {
    /// The capabilities two stacked tiers offer together: the tighter limits, and the
    /// persistence (and eviction) of the lower tier, which is the source of truth.
    pub fn stacked(upper: Capabilities, lower: Capabilities) -> Capabilities {
        Capabilities {
            max_key_size: upper.max_key_size.min(lower.max_key_size),
            max_value_size: upper.max_value_size.min(lower.max_value_size),
            persistent: lower.persistent,
            crash_durable: lower.crash_durable,
            atomic_batch: lower.atomic_batch,
            ordered_scan: lower.ordered_scan,
            ttl: upper.ttl || lower.ttl,
            evicts: lower.evicts,
        }
    }
}
