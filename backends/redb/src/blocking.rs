//! Running redb's synchronous calls off the async runtime's worker threads.

use strata::{Error, Operation, Result};

/// Runs `f` on tokio's blocking pool when inside a runtime, else on the calling thread
/// (which then is no runtime worker). A panic inside `f` becomes an `Unexpected` error.
pub(crate) async fn run<T, F>(f: F) -> Result<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.spawn_blocking(f).await.map_err(|join| {
            Error::unexpected(Operation::Get, "a blocking redb task failed")
                .with_context("backend", "redb")
                .with_source(join)
        }),
        Err(_) => Ok(f()),
    }
}
