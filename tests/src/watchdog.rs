//! A deadline that holds even when the test cannot unwind: a `tokio::time::timeout` panics on
//! expiry, but unwinding then drops the runtime, which waits for every blocking task — a read
//! stuck in storage keeps the process alive forever. The watchdog's own thread names the hang
//! and aborts the process instead.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

/// Aborts the process, after printing what hung, unless dropped within its limit.
#[must_use = "the watchdog is disarmed when dropped"]
pub struct Watchdog {
    done: Arc<(Mutex<bool>, Condvar)>,
}

impl Watchdog {
    /// Starts the clock: `what` is called only if the limit passes.
    pub fn arm(limit: Duration, what: impl FnOnce() -> String + Send + 'static) -> Watchdog {
        let done = Arc::new((Mutex::new(false), Condvar::new()));
        let watched = done.clone();
        std::thread::Builder::new()
            .name("strata-watchdog".into())
            .spawn(move || {
                let deadline = Instant::now() + limit;
                let (lock, signal) = &*watched;
                let mut finished = lock.lock();
                while !*finished {
                    if signal.wait_until(&mut finished, deadline).timed_out() && !*finished {
                        eprintln!("watchdog: no progress within {limit:?}: {}", what());
                        std::process::abort();
                    }
                }
            })
            .expect("start the watchdog thread");
        Watchdog { done }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        let (lock, signal) = &*self.done;
        *lock.lock() = true;
        signal.notify_one();
    }
}
