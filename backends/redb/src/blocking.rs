//! Running redb's synchronous calls off the async runtime's worker threads.
//!
//! redb panics on some damaged pages instead of returning an error. A panic inside one of
//! our calls is caught, kept off stderr (the panic hook stays quiet on this thread while the
//! call runs; other threads and other panics print as before) and reported as `Corrupted`:
//! a damaged file is a clean error, never a crashed task or panic text in the user's logs.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use strata::{Error, ErrorKind, Operation, Result};

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

fn install_quiet_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

/// Runs `f`, turning a panic inside it into a `Corrupted` error for `op` (quietly).
pub(crate) fn catch<T>(op: Operation, f: impl FnOnce() -> T) -> Result<T> {
    install_quiet_hook();
    let was = QUIET.with(|q| q.replace(true));
    let outcome = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    outcome.map_err(|panic| {
        let why = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("no message");
        Error::new(
            ErrorKind::Corrupted,
            op,
            format!("redb failed on damaged data: {why}"),
        )
        .with_context("backend", "redb")
    })
}

/// Runs `f` on tokio's blocking pool when inside a runtime, else on the calling thread
/// (which then is no runtime worker). A panic inside `f` becomes a `Corrupted` error for `op`.
pub(crate) async fn run<T, F>(op: Operation, f: F) -> Result<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle
            .spawn_blocking(move || catch(op, f))
            .await
            .map_err(|join| {
                Error::unexpected(op, "a blocking redb task failed")
                    .with_context("backend", "redb")
                    .with_source(join)
            })?,
        Err(_) => catch(op, f),
    }
}
