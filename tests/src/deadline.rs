//! The deadline every wait in the suites runs under, so a hang fails by name.

use std::future::Future;
use std::time::Duration;

/// How long any single awaited step of a test may take.
pub const LIMIT: Duration = Duration::from_secs(30);

/// Awaits `fut`, panicking with `what` if it takes longer than [`LIMIT`].
pub async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: no progress within {LIMIT:?} (a hang)"))
}

/// Awaits `fut`, panicking with `what` if it takes longer than `limit`.
pub async fn bounded_within<T>(
    limit: std::time::Duration,
    what: &str,
    fut: impl Future<Output = T>,
) -> T {
    tokio::time::timeout(limit, fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: no progress within {limit:?} (a hang)"))
}

/// The output of `fut`, which must be ready at its first poll (a memory-cache call, a cache
/// hit): a future that would wait panics instead of hanging.
pub fn ready<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    match fut
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("a call that must not wait returned Pending"),
    }
}
