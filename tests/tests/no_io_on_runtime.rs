//! No redb call does I/O on an async runtime's worker thread: reads go to the blocking pool,
//! writes to the writer thread. Proven by a storage layer that records which threads touch it,
//! under a current-thread runtime whose only worker is the test's own thread.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

use redb::StorageBackend as RedbStorage;
use redb::backends::InMemoryBackend;
use strata::{KeyRange, StorageBackend, SyncMode, WriteBatch};
use strata_redb::RedbBackend;

/// Forwards to an in-memory redb storage, recording the thread of every call.
#[derive(Debug)]
struct RecordingStorage {
    inner: InMemoryBackend,
    threads: Arc<Mutex<HashSet<ThreadId>>>,
}

impl RecordingStorage {
    fn touch(&self) {
        self.threads
            .lock()
            .unwrap()
            .insert(std::thread::current().id());
    }
}

impl RedbStorage for RecordingStorage {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.touch();
        self.inner.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        self.touch();
        self.inner.read(offset, out)
    }
    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.touch();
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> Result<(), std::io::Error> {
        self.touch();
        self.inner.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        self.touch();
        self.inner.write(offset, data)
    }
}

#[test]
fn redb_io_never_runs_on_the_runtime_worker() {
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let storage = RecordingStorage {
        inner: InMemoryBackend::new(),
        threads: threads.clone(),
    };
    let worker = std::thread::current().id();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // A tiny page cache so reads reach the storage instead of being served from memory.
        let store = RedbBackend::builder("recorded.redb")
            .storage_backend(storage)
            .cache_size(4096)
            .sync_mode(SyncMode::Full)
            .open()
            .await
            .unwrap();
        let mut batch = WriteBatch::new();
        for i in 0..500u32 {
            batch.put(format!("k{i:04}"), vec![b'v'; 512]);
        }
        store.write_batch(batch).await.unwrap();
        store.put("single".into(), "v".into()).await.unwrap();
        threads.lock().unwrap().clear(); // from here on, reads must touch storage off-worker too
        for i in (0..500u32).step_by(37) {
            assert!(
                store
                    .get(format!("k{i:04}").as_bytes())
                    .await
                    .unwrap()
                    .is_some()
            );
        }
        let keys: Vec<_> = (0..50u32).map(|i| format!("k{i:04}").into()).collect();
        assert_eq!(store.get_many(&keys).await.unwrap().len(), 50);
        assert_eq!(
            store
                .scan(KeyRange::prefix("k01"), None)
                .await
                .unwrap()
                .len(),
            100
        );
        assert!(store.delete(b"single").await.unwrap());
        store.flush().await.unwrap();
        store.close().await.unwrap();
    });
    let seen = threads.lock().unwrap();
    assert!(
        !seen.is_empty(),
        "the workload must reach the storage, or this test proves nothing"
    );
    assert!(
        !seen.contains(&worker),
        "redb did I/O on the runtime's worker thread"
    );
}
