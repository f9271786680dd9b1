//! Writes that run to their end: a caller dropping a `Tiered` write future (a `timeout`, a
//! losing `select!` branch) must not stop it between the lower commit and the upper update,
//! or the tiers would disagree. The write is polled in place while the caller waits; if the
//! caller goes away first, what is left of it is spawned onto the runtime and finished there.
//!
//! `flush` waits for such detached writes, so "flush, then read" sees them settled.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use tokio::sync::Notify;

use crate::BoxFuture;

/// Counts the writes finishing in the background after their caller left.
#[derive(Default)]
pub(crate) struct Detached {
    pending: AtomicUsize,
    idle: Notify,
}

impl Detached {
    /// Waits until no detached write is left.
    pub(crate) async fn wait_idle(&self) {
        loop {
            let idle = self.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.pending.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }

    /// Detached writes not finished yet.
    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }
}

/// Decrements the pending count however the background task ends (even dropped unpolled
/// by a runtime shutting down).
struct PendingGuard(Arc<Detached>);

impl Drop for PendingGuard {
    fn drop(&mut self) {
        if self.0.pending.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// A future that, dropped before completion, hands the rest of its work to the runtime.
pub(crate) struct RunToEnd<T: Send + 'static> {
    work: Option<BoxFuture<'static, T>>,
    detached: Arc<Detached>,
}

impl<T: Send + 'static> RunToEnd<T> {
    pub(crate) fn new(
        work: impl Future<Output = T> + Send + 'static,
        detached: &Arc<Detached>,
    ) -> Self {
        RunToEnd {
            work: Some(Box::pin(work)),
            detached: detached.clone(),
        }
    }
}

impl<T: Send + 'static> Future for RunToEnd<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let work = self
            .work
            .as_mut()
            .expect("RunToEnd polled after completion");
        let out = std::task::ready!(work.as_mut().poll(cx));
        self.work = None;
        Poll::Ready(out)
    }
}

impl<T: Send + 'static> Drop for RunToEnd<T> {
    fn drop(&mut self) {
        let Some(work) = self.work.take() else {
            return;
        };
        // Without a runtime the work is dropped: the write's intent marks its keys suspect.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            self.detached.pending.fetch_add(1, Ordering::SeqCst);
            let guard = PendingGuard(self.detached.clone());
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
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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
    async fn a_completed_future_leaves_nothing_behind() {
        let detached = Arc::new(Detached::default());
        assert_eq!(RunToEnd::new(async { 7 }, &detached).await, 7);
        assert_eq!(detached.pending(), 0);
        tokio::time::timeout(Duration::from_secs(1), detached.wait_idle())
            .await
            .expect("idle at once");
    }
}
