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

/// The connector the backend speaks through: TLS (rustls) for `https://`, plain TCP for
/// `http://`, counting every TCP connection either way.
pub type TlsCountingConnector = hyper_rustls::HttpsConnector<CountingConnector>;

impl CountingConnector {
    /// Wrapped in TLS: trusts the platform's root certificates (the bundled webpki roots when
    /// the platform has none) plus each certificate in `extra_ca_pem` (a self-hosted sqld's
    /// private CA).
    pub fn with_tls(
        connects: Arc<AtomicU64>,
        extra_ca_pem: Option<&[u8]>,
    ) -> Result<TlsCountingConnector, std::io::Error> {
        Self::with_tls_roots(connects, extra_ca_pem, true)
    }

    /// [`with_tls`](Self::with_tls), loading the platform's roots only when `platform_roots`
    /// (a plain-`http://` store never needs them; they are read from disk once per process).
    pub fn with_tls_roots(
        connects: Arc<AtomicU64>,
        extra_ca_pem: Option<&[u8]>,
        platform_roots: bool,
    ) -> Result<TlsCountingConnector, std::io::Error> {
        let mut roots = rustls::RootCertStore::empty();
        if platform_roots {
            roots.extend(platform_root_certificates().iter().cloned());
        }
        if let Some(pem) = extra_ca_pem {
            let mut added = 0;
            for cert in rustls_pemfile::certs(&mut &pem[..]) {
                roots
                    .add(cert?)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
                added += 1;
            }
            if added == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "no PEM certificate in the CA certificate given",
                ));
            }
        }
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut inner = CountingConnector::new(connects);
        inner.inner.enforce_http(false);
        Ok(hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .wrap_connector(inner))
    }
}

/// The platform's trust anchors (or the bundled webpki roots when it has none), read once:
/// loading them parses every file of the system's store, too slow to repeat per open.
fn platform_root_certificates() -> &'static [rustls::pki_types::TrustAnchor<'static>] {
    static ROOTS: std::sync::OnceLock<Vec<rustls::pki_types::TrustAnchor<'static>>> =
        std::sync::OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut store = rustls::RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().unwrap_or_default() {
            let _ = store.add(cert);
        }
        if store.is_empty() {
            store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        store.roots
    })
}
