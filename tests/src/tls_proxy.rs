//! A TLS terminator in front of a local sqld, as a user's TLS-fronted server or Turso Cloud
//! looks to the client: `https://localhost:PORT`, a certificate for `localhost` and
//! `127.0.0.1` signed by a CA made at start (its PEM goes to the backend's config), every
//! connection forwarded to sqld's plain-HTTP port. It counts the TCP connections it accepts and
//! the TLS handshakes it completes, so connection reuse over TLS is measured at the server side
//! too.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};

/// A running terminator; stops when dropped.
pub struct TlsProxy {
    port: u16,
    ca_pem: String,
    accepted: Arc<AtomicU64>,
    handshakes: Arc<AtomicU64>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for TlsProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsProxy")
            .field("port", &self.port)
            .finish()
    }
}

impl TlsProxy {
    /// Starts a terminator forwarding to `127.0.0.1:upstream_port`.
    pub fn start(upstream_port: u16) -> TlsProxy {
        Self::start_for(upstream_port, &["localhost", "127.0.0.1"])
    }

    /// [`start`](Self::start) with a certificate for `names` only (a certificate for another
    /// host, to test hostname checks).
    pub fn start_for(upstream_port: u16, names: &[&str]) -> TlsProxy {
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "strata test CA");
        let ca = ca_params.self_signed(&ca_key).expect("self-signed CA");
        let server_key = rcgen::KeyPair::generate().expect("server key");
        let server_params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("server certificate");
        let server = server_params
            .signed_by(&server_key, &ca, &ca_key)
            .expect("signed server certificate");
        let chain = vec![CertificateDer::from(server.der().to_vec())];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("server TLS config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let (accepted, handshakes) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("tls-proxy".into())
            .spawn({
                let (accepted, handshakes) = (accepted.clone(), handshakes.clone());
                move || {
                    let runtime = tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(1)
                        .enable_all()
                        .build()
                        .expect("proxy runtime");
                    runtime.block_on(serve(
                        listener,
                        acceptor,
                        SocketAddr::from(([127, 0, 0, 1], upstream_port)),
                        (accepted, handshakes),
                        stopped,
                    ));
                }
            })
            .expect("proxy thread");
        TlsProxy {
            port,
            ca_pem: ca.pem(),
            accepted,
            handshakes,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `https://localhost:PORT`.
    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    /// The CA certificate the server's certificate is signed by, as PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// TCP connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// TLS handshakes completed so far.
    pub fn handshakes(&self) -> u64 {
        self.handshakes.load(Ordering::Relaxed)
    }
}

async fn serve(
    listener: std::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    upstream: SocketAddr,
    (accepted, handshakes): (Arc<AtomicU64>, Arc<AtomicU64>),
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = TcpListener::from_std(listener).expect("tokio listener");
    loop {
        let (client, _) = tokio::select! {
            _ = &mut stopped => return,
            next = listener.accept() => match next {
                Ok(next) => next,
                Err(_) => continue,
            },
        };
        accepted.fetch_add(1, Ordering::Relaxed);
        let (acceptor, handshakes) = (acceptor.clone(), handshakes.clone());
        tokio::spawn(async move {
            let _ = client.set_nodelay(true);
            let Ok(mut tls) = acceptor.accept(client).await else {
                return;
            };
            handshakes.fetch_add(1, Ordering::Relaxed);
            // sqld down: the client sees its connection closed, as with a real outage.
            let Ok(mut server) = TcpStream::connect(upstream).await else {
                return;
            };
            let _ = server.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
        });
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
