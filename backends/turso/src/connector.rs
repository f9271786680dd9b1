//! An HTTP connector that counts the TCP connections it opens, so connection reuse is
//! measured rather than claimed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use hyper::client::HttpConnector;

/// Wraps hyper's plain-HTTP connector (for `http://` URLs such as a local sqld) and counts
/// every connection attempt.
#[derive(Clone, Debug)]
pub struct CountingConnector {
    inner: HttpConnector,
    connects: Arc<AtomicU64>,
}

impl CountingConnector {
    /// A connector adding one to `connects` per connection it opens.
    pub fn new(connects: Arc<AtomicU64>) -> Self {
        let mut inner = HttpConnector::new();
        inner.set_nodelay(true);
        inner.enforce_http(true);
        CountingConnector { inner, connects }
    }
}

impl tower::Service<http::Uri> for CountingConnector {
    type Response = <HttpConnector as tower::Service<http::Uri>>::Response;
    type Error = <HttpConnector as tower::Service<http::Uri>>::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        tower::Service::<http::Uri>::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        self.connects.fetch_add(1, Ordering::Relaxed);
        Box::pin(tower::Service::<http::Uri>::call(&mut self.inner, uri))
    }
}
