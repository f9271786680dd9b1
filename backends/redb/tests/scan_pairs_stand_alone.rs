//! Keys kept from a scan hold only themselves: `Bounded::open` keeps every key of its tier
//! from a scan, and when scans sliced their pairs out of shared 64 KiB buffers (review
//! finding), 256 four-byte keys held 5.9 MB of values alive.
#![allow(unsafe_code)] // a counting global allocator
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use bytes::Bytes;
use strata::{KeyRange, StorageBackend, WriteBatch};
use strata_redb::RedbBackend;

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator; only counts live bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::SeqCst);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::SeqCst);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n as isize - l.size() as isize, Ordering::SeqCst);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_kept_from_a_scan_do_not_pin_its_values() {
    let dir = tempfile::tempdir().unwrap();
    let limit = std::time::Duration::from_secs(30);
    let open = RedbBackend::builder(dir.path().join("s.redb")).open();
    let store = tokio::time::timeout(limit, open).await.unwrap().unwrap();
    let mut batch = WriteBatch::new();
    for i in 0..256u32 {
        batch.put(
            Bytes::copy_from_slice(&i.to_be_bytes()),
            Bytes::from(vec![7u8; 16 * 1024]),
        );
    }
    tokio::time::timeout(limit, store.write_batch(batch))
        .await
        .unwrap()
        .unwrap();
    let rows = tokio::time::timeout(limit, store.scan(KeyRange::all(), None))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rows.len(), 256);
    // What Bounded::open does: keep the keys (in the policy), drop the values.
    let keys: Vec<Bytes> = rows.into_iter().map(|(k, _)| k).collect();
    std::thread::sleep(std::time::Duration::from_millis(100));
    let with_keys = LIVE.load(Ordering::SeqCst);
    drop(keys);
    let without = LIVE.load(Ordering::SeqCst);
    let pinned = with_keys - without;
    assert!(pinned < 64 * 1024, "256 four-byte keys pin {pinned} bytes");
}
