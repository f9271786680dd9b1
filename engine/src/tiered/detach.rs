//! Writes that run to their end: a caller dropping a `Tiered` write future (a `timeout`, a
//! losing `select!` branch) must not stop it between the lower commit and the upper update,
//! or the tiers would disagree. The write is polled in place while the caller waits; if the
//! caller goes away first, what is left of it is spawned onto the runtime and finished there.
//!
//! `flush` waits for the writes detached before it began, so "flush, then read" sees them
//! settled. Fills run the same way: a fill's upper write never lands after its lock is gone.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::BoxFuture;

/// The writes finishing in the background after their caller left.
#[derive(Default)]
pub(crate) struct Detached {
    state: Mutex<Tickets>,
    idle: Notify,
}

#[derive(Default)]
struct Tickets {
    next: u64,
    pending: BTreeSet<u64>,
}

impl Detached {
    /// Waits until every write detached before this call has finished (later ones do not
    /// hold it up, so a stream of cancellations cannot starve a `flush`).
    pub(crate) async fn wait_idle(&self) {
        let ticket = self.state.lock().next;
        loop {
            let idle = self.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            let oldest = self.state.lock().pending.first().copied();
            if oldest.is_none_or(|id| id >= ticket) {
                return;
            }
            idle.await;
        }
    }

    /// Detached writes not finished yet.
    pub(crate) fn pending(&self) -> usize {
        self.state.lock().pending.len()
    }

    fn enter(self: &Arc<Self>) -> PendingGuard {
        let mut state = self.state.lock();
        let id = state.next;
        state.next += 1;
        state.pending.insert(id);
        PendingGuard(self.clone(), id)
    }
}

/// Withdraws its write from the pending set however the background task ends (even dropped
/// unpolled by a runtime shutting down).
struct PendingGuard(Arc<Detached>, u64);

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.0.state.lock().pending.remove(&self.1);
        self.0.idle.notify_waiters();
    }
}

/// A future that, dropped before completion, hands the rest of its work to the runtime.
pub(crate) struct RunToEnd<T: Send + 'static> {
    work: Option<BoxFuture<'static, T>>,
    detached: Arc<Detached>,
    /// Set while the work is being polled: still set in `drop`, it panicked — do not resume it.
    polling: bool,
}

impl<T: Send + 'static> RunToEnd<T> {
    pub(crate) fn new(
        work: impl Future<Output = T> + Send + 'static,
        detached: &Arc<Detached>,
    ) -> Self {
        RunToEnd {
            work: Some(Box::pin(work)),
            detached: detached.clone(),
            polling: false,
        }
    }
}

impl<T: Send + 'static> Future for RunToEnd<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        self.polling = true;
        let work = self
            .work
            .as_mut()
            .expect("RunToEnd polled after completion");
        let out = work.as_mut().poll(cx);
        self.polling = false;
        let out = std::task::ready!(out);
        self.work = None;
        Poll::Ready(out)
    }
}

impl<T: Send + 'static> Drop for RunToEnd<T> {
    fn drop(&mut self) {
        let Some(work) = self.work.take() else {
            return;
        };
        // Without a runtime, or after a panic inside the work, it is dropped: the write's
        // intent marks its keys suspect.
        if self.polling {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let guard = self.detached.enter();
            runtime.spawn(async move {
                let _guard = guard;
                let _ = work.await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn a_dropped_future_finishes_in_the_background_and_flush_waits_for_it() {
        let detached = Arc::new(Detached::default());
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let work = RunToEnd::new(
            async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                flag.store(true, Ordering::SeqCst);
            },
            &detached,
        );
        assert!(
            tokio::time::timeout(Duration::from_millis(1), work)
                .await
                .is_err(),
            "the work outlives the timeout"
        );
        assert_eq!(detached.pending(), 1);
        assert!(!done.load(Ordering::SeqCst));
        tokio::time::timeout(Duration::from_secs(5), detached.wait_idle())
            .await
            .expect("the detached work finishes");
        assert!(
            done.load(Ordering::SeqCst),
            "finished after its caller left"
        );
    }

    #[tokio::test]
    async fn waiting_for_idle_ignores_work_detached_after_it_began() {
        let detached = Arc::new(Detached::default());
        let (release_first, first_gate) = tokio::sync::oneshot::channel::<()>();
        let first = RunToEnd::new(
            async move {
                let _ = first_gate.await;
            },
            &detached,
        );
        poll_once_and_drop(first).await;
        assert_eq!(detached.pending(), 1);
        // The waiter takes its ticket on its first poll.
        let mut waiter = Box::pin(detached.wait_idle());
        let first_poll = std::future::poll_fn(|cx| Poll::Ready(waiter.as_mut().poll(cx))).await;
        assert!(first_poll.is_pending(), "the first write is still running");
        // A later detached write that never ends must not hold the waiter up.
        let later = RunToEnd::new(std::future::pending::<()>(), &detached);
        poll_once_and_drop(later).await;
        release_first.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the waiter only waits for what was detached before it");
        assert_eq!(detached.pending(), 1, "the later one is still running");
    }

    async fn poll_once_and_drop<F: Future + Unpin>(mut fut: F) {
        std::future::poll_fn(|cx| {
            let _ = Pin::new(&mut fut).poll(cx);
            Poll::Ready(())
        })
        .await;
    }

    #[tokio::test]
    async fn a_completed_future_leaves_nothing_behind() {
        let detached = Arc::new(Detached::default());
        assert_eq!(RunToEnd::new(async { 7 }, &detached).await, 7);
        assert_eq!(detached.pending(), 0);
        tokio::time::timeout(Duration::from_secs(1), detached.wait_idle())
            .await
            .expect("idle at once");
    }
}
