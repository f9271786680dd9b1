//! The object-safe twin of [`StorageBackend`], for when a backend must be chosen at run time.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;

use crate::{Capabilities, KeyRange, Result, StorageBackend, WriteBatch};

/// A boxed, `Send` future, as returned by [`DynStorageBackend`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A backend behind dynamic dispatch (`Arc<dyn DynStorageBackend>`). It implements
/// [`StorageBackend`] again, so it can be tiered and wrapped like any other backend.
///
/// A named type rather than an alias: `Arc<dyn Trait>` carries an implicit object lifetime
/// that the compiler cannot always prove `'static` inside spawned generic futures, which a
/// concrete type sidesteps.
#[derive(Clone)]
pub struct DynBackend(pub Arc<dyn DynStorageBackend>);

impl DynBackend {
    /// Wraps a shared dynamic backend.
    pub fn new(inner: Arc<dyn DynStorageBackend>) -> Self {
        DynBackend(inner)
    }
}

impl std::ops::Deref for DynBackend {
    type Target = dyn DynStorageBackend;
    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl Debug for DynBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Debug::fmt(&*self.0, f)
    }
}

/// Object-safe twin of [`StorageBackend`], implemented for every backend by a blanket impl.
///
/// Its methods carry a `dyn_` prefix so they never clash with the static ones; use them
/// through [`DynBackend`], which implements [`StorageBackend`].
pub trait DynStorageBackend: Send + Sync + Debug + 'static {
    /// See [`StorageBackend::capabilities`].
    fn dyn_capabilities(&self) -> Capabilities;
    /// See [`StorageBackend::keyspace`].
    fn dyn_keyspace(&self, name: &str) -> Result<DynBackend>;
    /// See [`StorageBackend::get`].
    fn dyn_get<'a>(&'a self, key: &'a [u8]) -> BoxFuture<'a, Result<Option<Bytes>>>;
    /// See [`StorageBackend::get_many`].
    fn dyn_get_many<'a>(&'a self, keys: &'a [Bytes]) -> BoxFuture<'a, Result<Vec<Option<Bytes>>>>;
    /// See [`StorageBackend::put`].
    fn dyn_put(&self, key: Bytes, value: Bytes) -> BoxFuture<'_, Result<()>>;
    /// See [`StorageBackend::delete`].
    fn dyn_delete<'a>(&'a self, key: &'a [u8]) -> BoxFuture<'a, Result<bool>>;
    /// See [`StorageBackend::write_batch`].
    fn dyn_write_batch(&self, batch: WriteBatch) -> BoxFuture<'_, Result<()>>;
    /// See [`StorageBackend::scan`].
    fn dyn_scan(
        &self,
        range: KeyRange,
        limit: Option<usize>,
    ) -> BoxFuture<'_, Result<Vec<(Bytes, Bytes)>>>;
    /// See [`StorageBackend::flush`].
    fn dyn_flush(&self) -> BoxFuture<'_, Result<()>>;

    /// See [`StorageBackend::close`].
    fn dyn_close(&self) -> BoxFuture<'_, Result<()>>;
}

impl<B: StorageBackend> DynStorageBackend for B {
    fn dyn_capabilities(&self) -> Capabilities {
        self.capabilities()
    }
    fn dyn_keyspace(&self, name: &str) -> Result<DynBackend> {
        Ok(DynBackend(Arc::new(self.keyspace(name)?)))
    }
    fn dyn_get<'a>(&'a self, key: &'a [u8]) -> BoxFuture<'a, Result<Option<Bytes>>> {
        Box::pin(self.get(key))
    }
    fn dyn_get_many<'a>(&'a self, keys: &'a [Bytes]) -> BoxFuture<'a, Result<Vec<Option<Bytes>>>> {
        Box::pin(self.get_many(keys))
    }
    fn dyn_put(&self, key: Bytes, value: Bytes) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.put(key, value))
    }
    fn dyn_delete<'a>(&'a self, key: &'a [u8]) -> BoxFuture<'a, Result<bool>> {
        Box::pin(self.delete(key))
    }
    fn dyn_write_batch(&self, batch: WriteBatch) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.write_batch(batch))
    }
    fn dyn_scan(
        &self,
        range: KeyRange,
        limit: Option<usize>,
    ) -> BoxFuture<'_, Result<Vec<(Bytes, Bytes)>>> {
        Box::pin(self.scan(range, limit))
    }
    fn dyn_close(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.close())
    }

    fn dyn_flush(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.flush())
    }
}

impl StorageBackend for DynBackend {
    fn capabilities(&self) -> Capabilities {
        (**self).dyn_capabilities()
    }
    fn keyspace(&self, name: &str) -> Result<Self> {
        (**self).dyn_keyspace(name)
    }
    async fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        (**self).dyn_get(key).await
    }
    async fn get_many(&self, keys: &[Bytes]) -> Result<Vec<Option<Bytes>>> {
        (**self).dyn_get_many(keys).await
    }
    fn put(&self, key: Bytes, value: Bytes) -> impl Future<Output = Result<()>> + Send {
        (**self).dyn_put(key, value)
    }
    async fn delete(&self, key: &[u8]) -> Result<bool> {
        (**self).dyn_delete(key).await
    }
    fn write_batch(&self, batch: WriteBatch) -> impl Future<Output = Result<()>> + Send {
        (**self).dyn_write_batch(batch)
    }
    fn scan(
        &self,
        range: KeyRange,
        limit: Option<usize>,
    ) -> impl Future<Output = Result<Vec<(Bytes, Bytes)>>> + Send {
        (**self).dyn_scan(range, limit)
    }
    fn close(&self) -> impl Future<Output = Result<()>> + Send {
        (**self).dyn_close()
    }

    fn flush(&self) -> impl Future<Output = Result<()>> + Send {
        (**self).dyn_flush()
    }
}

/// Turns any backend into a [`DynBackend`].
pub trait IntoDyn {
    /// Boxes the backend behind [`DynBackend`].
    fn into_dyn(self) -> DynBackend;
}

impl<B: StorageBackend> IntoDyn for B {
    fn into_dyn(self) -> DynBackend {
        DynBackend(Arc::new(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Compile-only: the twin stays object safe and the boxed form is a backend again.
    fn _assert_object_safe(b: &dyn DynStorageBackend) -> &dyn DynStorageBackend {
        b
    }
    fn _assert_backend<B: StorageBackend>() {}
    #[test]
    fn dyn_backend_is_a_backend() {
        _assert_backend::<DynBackend>();
    }
}
