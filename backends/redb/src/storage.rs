//! Lets a boxed `redb::StorageBackend` be handed to redb, which wants a sized one.

use redb::StorageBackend;

/// Forwards every storage call to the boxed backend (locking stays unsupported, which the
/// exclusive-writer mode Strata uses does not need).
#[derive(Debug)]
pub(crate) struct BoxedStorage(pub(crate) Box<dyn StorageBackend>);

type IoResult<T> = Result<T, std::io::Error>;

impl StorageBackend for BoxedStorage {
    fn len(&self) -> IoResult<u64> {
        self.0.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> IoResult<()> {
        self.0.read(offset, out)
    }
    fn set_len(&self, len: u64) -> IoResult<()> {
        self.0.set_len(len)
    }
    fn sync_data(&self) -> IoResult<()> {
        self.0.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> IoResult<()> {
        self.0.write(offset, data)
    }
    fn close(&self) -> IoResult<()> {
        self.0.close()
    }
}
