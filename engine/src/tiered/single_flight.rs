//! Single-flight: concurrent misses on one key share one lower-tier read.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::Result;

type Outcome = Result<Option<Bytes>>;

enum State {
    Pending,
    Done(Outcome),
    /// The leader's future was dropped before it finished: waiters start over.
    Abandoned,
}

/// One in-progress lower read of a key.
pub(crate) struct Flight {
    state: Mutex<State>,
    done: Notify,
}

/// The flights in progress, by key.
#[derive(Default)]
pub(crate) struct Flights {
    by_key: Mutex<HashMap<Bytes, Arc<Flight>>>,
}

/// What a caller should do about a key.
pub(crate) enum Role {
    /// Read the lower tier, then call [`LeaderGuard::finish`].
    Leader(LeaderGuard),
    /// Wait for the leader with [`wait`].
    Follower(Arc<Flight>),
}

/// Held by the caller that reads for everybody; if dropped unfinished, waiters retry.
pub(crate) struct LeaderGuard {
    flights: Arc<Flights>,
    key: Bytes,
    flight: Arc<Flight>,
    finished: bool,
}

impl Flights {
    /// Joins the flight for `key`, or starts one.
    pub(crate) fn join(self: &Arc<Self>, key: &[u8]) -> Role {
        let mut by_key = self.by_key.lock();
        if let Some(flight) = by_key.get(key) {
            return Role::Follower(flight.clone());
        }
        let key = Bytes::copy_from_slice(key);
        let flight = Arc::new(Flight {
            state: Mutex::new(State::Pending),
            done: Notify::new(),
        });
        by_key.insert(key.clone(), flight.clone());
        Role::Leader(LeaderGuard {
            flights: self.clone(),
            key,
            flight,
            finished: false,
        })
    }

    /// Detaches any flight for `key`, so callers arriving after a write start a fresh read
    /// instead of joining one that may have read the old value.
    pub(crate) fn forget(&self, key: &[u8]) {
        self.by_key.lock().remove(key);
    }

    fn detach(&self, key: &[u8], flight: &Arc<Flight>) {
        let mut by_key = self.by_key.lock();
        if by_key.get(key).is_some_and(|f| Arc::ptr_eq(f, flight)) {
            by_key.remove(key);
        }
    }
}

impl LeaderGuard {
    /// Publishes the outcome to every waiter.
    pub(crate) fn finish(mut self, outcome: &Outcome) {
        self.flights.detach(&self.key, &self.flight);
        *self.flight.state.lock() = State::Done(outcome.clone());
        self.flight.done.notify_waiters();
        self.finished = true;
    }
}

impl Drop for LeaderGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.flights.detach(&self.key, &self.flight);
            *self.flight.state.lock() = State::Abandoned;
            self.flight.done.notify_waiters();
        }
    }
}

/// Waits for the leader; `None` means it gave up and the caller should try again.
pub(crate) async fn wait(flight: &Flight) -> Option<Outcome> {
    loop {
        let notified = flight.done.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        match &*flight.state.lock() {
            State::Done(outcome) => return Some(outcome.clone()),
            State::Abandoned => return None,
            State::Pending => {}
        }
        notified.await;
    }
}
