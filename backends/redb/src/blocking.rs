//! Running redb's synchronous calls off the async runtime's worker threads.
//!
//! redb panics on some damaged pages instead of returning an error. A panic inside one of
//! our calls is caught and reported as an error: `Corrupted` when it was raised inside redb,
//! `Unexpected` otherwise (a bug of ours must not pass for a damaged file). While such a call
//! runs, the panic hook stays quiet on its thread, so a damaged file never puts panic text in
//! the user's logs; other threads and other panics print as before. Under `panic = "abort"`
//! nothing can be caught, so the hook is never silenced.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use strata::{Error, ErrorKind, Operation, Result};

use crate::error::WriterFault;

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
    /// Where the last quiet panic on this thread was raised.
    static RAISED_IN_REDB: Cell<bool> = const { Cell::new(false) };
    /// The writer thread's fault slot: the hook fills it before unwinding answers anyone.
    static FAULT_SINK: RefCell<Option<WriterFault>> = const { RefCell::new(None) };
}

fn install_quiet_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
                return;
            }
            let in_redb = info
                .location()
                .is_some_and(|l| l.file().contains("/redb-") || l.file().contains("\\redb-"));
            RAISED_IN_REDB.with(|r| r.set(in_redb));
            FAULT_SINK.with(|sink| {
                if let Some(fault) = &*sink.borrow() {
                    *fault.lock() = Some(describe(in_redb, &panic_text(info.payload())));
                }
            });
        }));
    });
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "no message".to_string())
}

fn describe(in_redb: bool, text: &str) -> String {
    if in_redb {
        format!("redb failed on damaged data: {text}")
    } else {
        format!("internal error: {text}")
    }
}

/// Makes the calling (writer) thread record a caught panic's reason in `fault` as soon as
/// it is raised, before unwinding drops the replies of the writers it was serving.
pub(crate) fn record_faults_in(fault: &WriterFault) {
    FAULT_SINK.with(|sink| *sink.borrow_mut() = Some(fault.clone()));
}

/// Runs `f`, turning a panic inside it into an error for `op`: `Corrupted` if redb raised
/// it, `Unexpected` otherwise.
pub(crate) fn catch<T>(op: Operation, f: impl FnOnce() -> T) -> Result<T> {
    if cfg!(panic = "abort") {
        return Ok(f());
    }
    install_quiet_hook();
    let was = QUIET.with(|q| q.replace(true));
    let outcome = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    outcome.map_err(|panic| {
        let in_redb = RAISED_IN_REDB.with(Cell::get);
        let kind = if in_redb {
            ErrorKind::Corrupted
        } else {
            ErrorKind::Unexpected
        };
        Error::new(kind, op, describe(in_redb, &panic_text(&*panic)))
            .with_context("backend", "redb")
    })
}

/// [`catch`] for a caller's closure run on the writer thread (`RedbBackend::transact`): a
/// panic in the caller's own code fails that call only, without being recorded as the
/// writer's fault.
pub(crate) fn catch_caller<T>(op: Operation, f: impl FnOnce() -> T) -> Result<T> {
    let sink = FAULT_SINK.with(|sink| sink.borrow_mut().take());
    RAISED_IN_REDB.with(|r| r.set(false));
    let outcome = catch(op, f);
    FAULT_SINK.with(|s| *s.borrow_mut() = sink);
    outcome
}

/// Runs `f` on tokio's blocking pool when inside a runtime, else on the calling thread
/// (which then is no runtime worker). A panic inside `f` becomes an error for `op`.
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
