//! Retries with exponential backoff and full jitter, and a circuit breaker, so an outage
//! costs microseconds per call instead of a timeout each.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand::Rng;
use strata::{Error, ErrorKind, Operation, Result};

/// How retries and the breaker behave. Defaults in each field's doc.
///
/// Build one from the default and the setters:
/// `ResilienceConfig::default().timeout(Duration::from_secs(2)).max_attempts(5)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct ResilienceConfig {
    /// Deadline of each attempt. Default 5 s.
    pub timeout: Duration,
    /// Attempts per call for transient errors, the first included. Default 3.
    pub max_attempts: u32,
    /// First backoff cap; doubles each retry, the wait is uniform in `[0, cap)`. Default 20 ms.
    pub backoff_base: Duration,
    /// Largest backoff cap. Default 1 s.
    pub backoff_max: Duration,
    /// Consecutive failed calls that open the breaker. Default 5.
    pub breaker_threshold: u32,
    /// How long the breaker stays open before letting one probe through. Default 2 s.
    pub breaker_cooldown: Duration,
}

impl Default for ResilienceConfig {
    fn default() -> Self {
        ResilienceConfig {
            timeout: Duration::from_secs(5),
            max_attempts: 3,
            backoff_base: Duration::from_millis(20),
            backoff_max: Duration::from_secs(1),
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(2),
        }
    }
}

impl ResilienceConfig {
    /// Sets the deadline of each attempt. Default 5 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the attempts per call for transient errors, the first included. Default 3.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// Sets the first backoff cap. Default 20 ms.
    pub fn backoff_base(mut self, base: Duration) -> Self {
        self.backoff_base = base;
        self
    }

    /// Sets the largest backoff cap. Default 1 s.
    pub fn backoff_max(mut self, max: Duration) -> Self {
        self.backoff_max = max;
        self
    }

    /// Sets the consecutive failed calls that open the breaker. Default 5.
    pub fn breaker_threshold(mut self, failures: u32) -> Self {
        self.breaker_threshold = failures;
        self
    }

    /// Sets how long the breaker stays open before one probe. Default 2 s.
    pub fn breaker_cooldown(mut self, cooldown: Duration) -> Self {
        self.breaker_cooldown = cooldown;
        self
    }

    /// The wait before retry number `retry` (1-based): full jitter over an exponential cap.
    pub fn backoff(&self, retry: u32) -> Duration {
        let cap = self
            .backoff_base
            .saturating_mul(1 << retry.min(16))
            .min(self.backoff_max);
        let nanos = cap.as_nanos().min(u128::from(u64::MAX)) as u64;
        if nanos == 0 {
            Duration::ZERO
        } else {
            Duration::from_nanos(rand::rng().random_range(0..nanos))
        }
    }
}

/// `HalfOpen::probe` is the id of the probe in flight, if any.
#[derive(Debug)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probe: Option<u64> },
}

/// Closed → (threshold failures) → Open → (cooldown) → HalfOpen with one probe → Closed on
/// success, Open again on failure. A probe dropped without an outcome (its future was
/// cancelled) frees the half-open slot, so the next call probes.
#[derive(Debug)]
pub(crate) struct Breaker {
    state: Mutex<State>,
    threshold: u32,
    cooldown: Duration,
    /// Probe ids, so a stale probe's drop cannot free a newer probe's slot.
    probes: AtomicU64,
    /// The last transient failure, told with every fast failure while open: "the remote is
    /// failing" alone leaves a user (or a failed test) without the cause.
    last_failure: Mutex<Option<String>>,
}

/// Permission to make a call; report its outcome. Dropping it unreported (the call was
/// cancelled) counts as no outcome at all.
pub(crate) struct Permit<'a> {
    breaker: &'a Breaker,
    /// Set while this permit is the half-open probe and has not reported.
    probe: Option<u64>,
}

impl Breaker {
    pub(crate) fn new(threshold: u32, cooldown: Duration) -> Self {
        Breaker {
            state: Mutex::new(State::Closed { failures: 0 }),
            threshold: threshold.max(1),
            cooldown,
            probes: AtomicU64::new(0),
            last_failure: Mutex::new(None),
        }
    }

    /// Lets a call through, or fails fast with `Unavailable` while open.
    pub(crate) fn admit(&self, op: Operation) -> Result<Permit<'_>> {
        let mut state = self.state.lock();
        let may_probe = match &*state {
            State::Closed { .. } => {
                return Ok(Permit {
                    breaker: self,
                    probe: None,
                });
            }
            State::Open { until } => Instant::now() >= *until,
            State::HalfOpen { probe } => probe.is_none(),
        };
        if !may_probe {
            drop(state);
            let mut err = Error::new(
                ErrorKind::Unavailable,
                op,
                "circuit breaker open: the remote database is failing",
            )
            .with_context("backend", "turso");
            if let Some(cause) = self.last_failure.lock().clone() {
                err = err.with_context("last failure", cause);
            }
            return Err(crate::error::not_sent(err));
        }
        let id = self.probes.fetch_add(1, Ordering::Relaxed);
        *state = State::HalfOpen { probe: Some(id) };
        Ok(Permit {
            breaker: self,
            probe: Some(id),
        })
    }

    pub(crate) fn is_open(&self) -> bool {
        !matches!(&*self.state.lock(), State::Closed { .. })
    }
}

impl Permit<'_> {
    pub(crate) fn success(mut self) {
        self.probe = None;
        *self.breaker.state.lock() = State::Closed { failures: 0 };
    }

    /// Records `err` as this call's outcome (see [`Permit::failure`]), remembering a transient
    /// one as the cause the breaker reports while open.
    pub(crate) fn failure_of(self, err: &Error) {
        // The server answered: it is up, only busy. Not a failure of the remote.
        if crate::error::is_contention(err) {
            self.failure(false);
            return;
        }
        if err.is_transient() {
            // Bounded: a proxy's error page could be long, and every fast failure carries it.
            let mut text = err.to_string();
            if text.len() > 256 {
                let mut cut = 256;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
                text.push('…');
            }
            *self.breaker.last_failure.lock() = Some(text);
        }
        self.failure(err.is_transient());
    }

    /// Records a failure; only transient ones (the remote is down) count towards opening.
    pub(crate) fn failure(mut self, transient: bool) {
        self.probe = None;
        let mut state = self.breaker.state.lock();
        let open = State::Open {
            until: Instant::now() + self.breaker.cooldown,
        };
        match &mut *state {
            State::HalfOpen { .. } if transient => *state = open,
            State::HalfOpen { .. } => *state = State::Closed { failures: 0 },
            State::Closed { failures } if transient => {
                *failures += 1;
                if *failures >= self.breaker.threshold {
                    *state = open;
                }
            }
            _ => {}
        }
    }
}

impl Drop for Permit<'_> {
    /// A probe dropped unreported says nothing about the remote, and the cooldown has already
    /// been served: free the slot so the next call probes. Reopening instead would let a
    /// caller with a deadline shorter than a round trip keep the breaker open for everyone.
    fn drop(&mut self) {
        let Some(id) = self.probe else { return };
        let mut state = self.breaker.state.lock();
        if matches!(&*state, State::HalfOpen { probe: Some(p) } if *p == id) {
            *state = State::HalfOpen { probe: None };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_probes_once_and_closes() {
        let b = Breaker::new(2, Duration::from_millis(20));
        b.admit(Operation::Get).unwrap().failure(true);
        assert!(!b.is_open());
        b.admit(Operation::Get).unwrap().failure(true);
        assert!(b.is_open());
        assert_eq!(
            b.admit(Operation::Get).err().unwrap().kind(),
            ErrorKind::Unavailable
        );
        std::thread::sleep(Duration::from_millis(25));
        let probe = b
            .admit(Operation::Get)
            .expect("one probe after the cooldown");
        assert!(b.admit(Operation::Get).is_err(), "only one probe at a time");
        probe.success();
        assert!(!b.is_open());
        assert!(b.admit(Operation::Get).is_ok());
    }

    #[test]
    fn an_open_breaker_names_the_last_transient_failure() {
        let b = Breaker::new(2, Duration::from_secs(60));
        let down = Error::new(ErrorKind::Unavailable, Operation::Put, "connection refused")
            .with_transient(true);
        let refused = Error::new(ErrorKind::Unauthorized, Operation::Put, "bad token");
        b.admit(Operation::Put).unwrap().failure_of(&down);
        b.admit(Operation::Put).unwrap().failure_of(&refused);
        assert!(!b.is_open(), "a non-transient failure does not count");
        b.admit(Operation::Put).unwrap().failure_of(&down);
        let err = b.admit(Operation::Get).err().expect("open");
        let text = format!("{err:?}");
        assert!(
            text.contains("last failure") && text.contains("connection refused"),
            "{text}"
        );
        assert!(!text.contains("bad token"), "{text}");
    }

    #[test]
    fn a_non_transient_failure_while_open_does_not_replace_the_cause() {
        let b = Breaker::new(1, Duration::from_secs(60));
        let down = Error::new(ErrorKind::Unavailable, Operation::Put, "connection refused")
            .with_transient(true);
        let refused = Error::new(ErrorKind::Unauthorized, Operation::Put, "bad token");
        let (first, second) = (
            b.admit(Operation::Put).unwrap(),
            b.admit(Operation::Put).unwrap(),
        );
        first.failure_of(&down);
        second.failure_of(&refused);
        let text = format!("{:?}", b.admit(Operation::Get).err().expect("open"));
        assert!(
            text.contains("connection refused") && !text.contains("bad token"),
            "{text}"
        );
    }

    #[test]
    fn write_contention_never_opens_the_breaker() {
        let b = Breaker::new(2, Duration::from_secs(60));
        let locked = crate::error::contention(Operation::Put, "SQLite error: database is locked");
        assert!(locked.is_transient(), "retried");
        assert!(crate::error::is_lock_message(
            "SQLite error: database is locked"
        ));
        assert!(crate::error::is_lock_message(
            "SQLITE_BUSY: database is busy"
        ));
        assert!(!crate::error::is_lock_message("no such table: kv"));
        for _ in 0..10 {
            b.admit(Operation::Put).unwrap().failure_of(&locked);
        }
        assert!(!b.is_open(), "the server answered: it is up, only busy");
    }

    #[test]
    fn cancelled_probe_lets_the_next_call_probe() {
        let b = Breaker::new(1, Duration::from_millis(20));
        b.admit(Operation::Get).unwrap().failure(true);
        assert!(b.is_open());
        std::thread::sleep(Duration::from_millis(25));
        let probe = b.admit(Operation::Get).expect("a probe after the cooldown");
        // The future holding the probe is dropped (a timeout, a losing `select!` branch):
        // neither success nor failure is reported.
        drop(probe);
        let next = b
            .admit(Operation::Get)
            .expect("a dropped probe must not keep the breaker open");
        assert!(
            b.admit(Operation::Get).is_err(),
            "still one probe at a time"
        );
        next.success();
        assert!(!b.is_open());
    }

    #[test]
    fn only_the_current_probe_frees_the_slot_when_dropped() {
        let b = Breaker::new(1, Duration::from_millis(20));
        let (early, late) = (
            b.admit(Operation::Get).unwrap(),
            b.admit(Operation::Get).unwrap(),
        );
        b.admit(Operation::Get).unwrap().failure(true);
        std::thread::sleep(Duration::from_millis(25));
        let stale = b.admit(Operation::Get).expect("first probe");
        // A call admitted while closed succeeds late: closed; then the remote fails again.
        early.success();
        b.admit(Operation::Get).unwrap().failure(true);
        std::thread::sleep(Duration::from_millis(25));
        let current = b.admit(Operation::Get).expect("second probe");
        drop(stale);
        drop(late);
        assert!(
            b.admit(Operation::Get).is_err(),
            "neither a stale probe nor a non-probe call frees the current probe's slot"
        );
        drop(current);
        assert!(b.admit(Operation::Get).is_ok());
    }

    #[test]
    fn backoff_is_bounded_and_jittered() {
        let c = ResilienceConfig::default();
        for retry in 1..20 {
            assert!(c.backoff(retry) < c.backoff_max + Duration::from_millis(1));
        }
        let waits: std::collections::HashSet<_> = (0..20).map(|_| c.backoff(3)).collect();
        assert!(waits.len() > 1, "full jitter varies the wait");
    }
}
