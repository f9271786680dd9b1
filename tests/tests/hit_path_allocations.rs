//! The cache hit path allocates nothing: counted by a global allocator, per thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use strata::{MemoryBackend, MemoryCache, StorageBackend, Tiered};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only counts.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// Polls a future that must be ready at once (a cache hit never waits).
fn ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a hit must not wait"),
    }
}

fn keys() -> Vec<Bytes> {
    (0..256)
        .map(|i| Bytes::from(format!("key-{i:04}")))
        .collect()
}

#[test]
fn memory_cache_hits_do_not_allocate() {
    let cache = MemoryCache::builder().max_entries(1024).build().unwrap();
    let keys = keys();
    for k in &keys {
        ready(cache.put(k.clone(), Bytes::from(vec![7u8; 100]))).unwrap();
    }
    // Warm up: first hits may finish lazy initialisation inside the allocator or buffers.
    for k in &keys {
        ready(cache.get(k)).unwrap().unwrap();
    }
    let before = allocations();
    let mut bytes = 0;
    for i in 0..20_000 {
        bytes += ready(cache.get(&keys[i % keys.len()]))
            .unwrap()
            .expect("hit")
            .len();
    }
    let during = allocations() - before;
    assert_eq!(bytes, 20_000 * 100);
    assert_eq!(during, 0, "{during} allocations in 20,000 hits");
}

#[test]
fn tiered_hits_do_not_allocate() {
    let cache = MemoryCache::builder().max_entries(1024).build().unwrap();
    let tiered = Tiered::new(cache, MemoryBackend::new());
    let keys = keys();
    for k in &keys {
        ready(tiered.put(k.clone(), Bytes::from(vec![7u8; 100]))).unwrap();
    }
    for k in &keys {
        ready(tiered.get(k)).unwrap().unwrap();
    }
    let before = allocations();
    for i in 0..20_000 {
        ready(tiered.get(&keys[i % keys.len()]))
            .unwrap()
            .expect("hit");
    }
    let during = allocations() - before;
    assert_eq!(tiered.stats().hits, 20_000 + keys.len() as u64);
    assert_eq!(during, 0, "{during} allocations in 20,000 tiered hits");
}

#[test]
fn the_counter_sees_allocations() {
    // The check above is only meaningful if the allocator counts.
    let before = allocations();
    let v: Vec<u8> = Vec::with_capacity(std::hint::black_box(64));
    drop(v);
    assert_eq!(allocations() - before, 1);
}
