//! Eviction listeners: a callback told of every entry that leaves a cache, and why.
//!
//! Entries leave under the cache's locks (a shard's, the policy's). Calling user code there
//! would let a slow listener stall every reader and a listener that touches the cache
//! deadlock. So the notices are gathered in a [`Notices`] while the locks are held and
//! delivered once the call has released them, on the thread that made the call, in the order
//! the entries left. A listener that panics is caught and logged: the cache stays usable and
//! the write that caused the eviction still succeeds.

use std::sync::Arc;

use bytes::Bytes;

/// Why an entry left a cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RemovalCause {
    /// The policy evicted it to keep within `max_entries` / `max_bytes` (or it was larger
    /// than the whole capacity).
    Size,
    /// Its time to live ran out.
    Expired,
    /// A put of the same key replaced its value.
    Replaced,
    /// It was deleted.
    Removed,
}

impl RemovalCause {
    /// Whether the cache removed it on its own (`Size`, `Expired`) rather than a write asking.
    pub fn was_evicted(self) -> bool {
        matches!(self, RemovalCause::Size | RemovalCause::Expired)
    }
}

/// An entry that left a cache, as an eviction listener receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Eviction {
    /// The keyspace it was in.
    pub keyspace: Arc<str>,
    /// Its key.
    pub key: Bytes,
    /// Its value, when the cache held it (`MemoryCache`); `None` when the value lives in
    /// another store and was not read for the notice (`Bounded`).
    pub value: Option<Bytes>,
    /// Why it left.
    pub cause: RemovalCause,
}

/// A listener as the caches keep it.
pub(crate) type Listener = Arc<dyn Fn(Eviction) + Send + Sync>;

/// Notices gathered under a cache's locks; [`deliver`](Self::deliver) them after releasing
/// the locks. Without a listener nothing is gathered (no allocation on any path).
pub(crate) struct Notices<'a> {
    listener: Option<&'a Listener>,
    pending: Vec<Eviction>,
}

impl<'a> Notices<'a> {
    pub(crate) fn new(listener: Option<&'a Listener>) -> Self {
        Notices {
            listener,
            pending: Vec::new(),
        }
    }

    /// Whether anyone is listening (so the caller need not build what it would push).
    pub(crate) fn wanted(&self) -> bool {
        self.listener.is_some()
    }

    /// Records that `key` left `keyspace` for `cause`.
    pub(crate) fn push(
        &mut self,
        keyspace: &Arc<str>,
        key: Bytes,
        value: Option<Bytes>,
        cause: RemovalCause,
    ) {
        if self.listener.is_some() {
            self.pending.push(Eviction {
                keyspace: keyspace.clone(),
                key,
                value,
                cause,
            });
        }
    }

    /// Calls the listener once per notice, in order. Call with no cache lock held.
    ///
    /// A listener may write to the cache, and that write may evict in turn: notices raised
    /// while this thread is already delivering are queued and delivered by the outer loop, so
    /// a listener that moves entries around never recurses deeper than one level.
    pub(crate) fn deliver(self) {
        let Some(listener) = self.listener else {
            return;
        };
        if self.pending.is_empty() {
            return;
        }
        let nested = DELIVERING.with(|d| d.replace(true));
        if nested {
            QUEUED.with(|q| {
                let mut q = q.borrow_mut();
                q.extend(self.pending.into_iter().map(|e| (listener.clone(), e)));
            });
            return;
        }
        // Reset however this ends (a panic that escapes `call`, say), so the thread's later
        // notices are delivered, not queued for ever.
        struct Delivering;
        impl Drop for Delivering {
            fn drop(&mut self) {
                DELIVERING.with(|d| d.set(false));
                QUEUED.with(|q| q.borrow_mut().clear());
            }
        }
        let _delivering = Delivering;
        let mut batch: Vec<(Listener, Eviction)> = self
            .pending
            .into_iter()
            .map(|e| (listener.clone(), e))
            .collect();
        loop {
            for (listener, eviction) in batch {
                call(&listener, eviction);
            }
            batch = QUEUED.with(|q| std::mem::take(&mut *q.borrow_mut()));
            if batch.is_empty() {
                break;
            }
        }
    }
}

thread_local! {
    /// Whether this thread is inside [`Notices::deliver`].
    static DELIVERING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Notices raised by listeners while delivering, for the outer loop.
    static QUEUED: std::cell::RefCell<Vec<(Listener, Eviction)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

fn call(listener: &Listener, eviction: Eviction) {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| listener(eviction)));
    if result.is_err() {
        tracing::error!("a cache eviction listener panicked; the notice was dropped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parking_lot::Mutex;

    #[test]
    fn notices_are_delivered_in_order_and_a_panicking_listener_is_contained() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let listener: Listener = {
            let seen = seen.clone();
            Arc::new(move |e: Eviction| {
                if e.key == "boom" {
                    panic!("listener bug");
                }
                seen.lock().push((e.key, e.cause));
            })
        };
        let ks: Arc<str> = Arc::from("ks");
        let mut notices = Notices::new(Some(&listener));
        assert!(notices.wanted());
        notices.push(&ks, Bytes::from("a"), None, RemovalCause::Size);
        notices.push(&ks, Bytes::from("boom"), None, RemovalCause::Removed);
        notices.push(&ks, Bytes::from("b"), None, RemovalCause::Expired);
        notices.deliver();
        assert_eq!(
            *seen.lock(),
            vec![
                (Bytes::from("a"), RemovalCause::Size),
                (Bytes::from("b"), RemovalCause::Expired)
            ]
        );
        let mut silent = Notices::new(None);
        silent.push(&ks, Bytes::from("a"), None, RemovalCause::Size);
        assert!(
            silent.pending.is_empty(),
            "nothing gathered without a listener"
        );
    }
}
