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
    requests: Arc<Requests>,
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
        let requests = Arc::new(Requests::default());
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("tls-proxy".into())
            .spawn({
                let (accepted, handshakes, requests) =
                    (accepted.clone(), handshakes.clone(), requests.clone());
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
                        (accepted, handshakes, requests),
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
            requests,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `https://localhost:PORT`.
    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    /// `https://127.0.0.1:PORT` (the certificate names the address too).
    pub fn url_by_address(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
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

    /// HTTP requests seen so far (each `POST ` that starts one).
    pub fn requests(&self) -> u64 {
        self.requests.count.load(Ordering::Relaxed)
    }

    /// The largest request seen so far, headers and body, in bytes.
    pub fn largest_request(&self) -> u64 {
        self.requests.largest.load(Ordering::Relaxed)
    }
}

/// Requests counted on the decrypted client-to-server stream. The client only sends `POST`s
/// whose bodies are JSON (binary data travels base64-encoded), so a `POST /` at the start of a
/// line marks a request's start.
#[derive(Default)]
struct Requests {
    count: AtomicU64,
    largest: AtomicU64,
}

/// Tracks one connection's requests as its bytes pass: a request runs from one `POST /` to
/// the next (or the connection's end).
struct RequestScanner {
    requests: Arc<Requests>,
    /// The last bytes of the previous read (already counted), to find a mark split across
    /// reads; shorter than the mark, so a whole mark is never found in it twice.
    tail: Vec<u8>,
    /// Bytes of the request in progress.
    current: i64,
}

impl RequestScanner {
    const MARK: &'static [u8] = b"POST /";

    fn new(requests: Arc<Requests>) -> Self {
        RequestScanner {
            requests,
            tail: Vec::new(),
            current: 0,
        }
    }

    fn observe(&mut self, chunk: &[u8]) {
        let mut window = std::mem::take(&mut self.tail);
        let mut uncounted = window.len() as i64;
        window.extend_from_slice(chunk);
        let mut i = 0;
        while i + Self::MARK.len() <= window.len() {
            if &window[i..i + Self::MARK.len()] == Self::MARK {
                // Bytes before `i` end the previous request (a mark starting in the tail
                // takes back bytes counted to it).
                self.current += i as i64 - uncounted;
                self.finish();
                self.requests.count.fetch_add(1, Ordering::Relaxed);
                uncounted = i as i64;
                i += Self::MARK.len();
            } else {
                i += 1;
            }
        }
        self.current += window.len() as i64 - uncounted;
        // The request in progress counts too: the last one on a connection that stays open
        // would otherwise never be measured.
        // (Less the tail kept back: it may turn out to start the next request.)
        let keep = (Self::MARK.len() - 1).min(window.len()) as i64;
        let so_far = u64::try_from(self.current - keep).unwrap_or(0);
        self.requests.largest.fetch_max(so_far, Ordering::Relaxed);
        let keep = (Self::MARK.len() - 1).min(window.len());
        self.tail = window[window.len() - keep..].to_vec();
    }

    fn finish(&mut self) {
        let bytes = u64::try_from(self.current).unwrap_or(0);
        self.requests.largest.fetch_max(bytes, Ordering::Relaxed);
        self.current = 0;
    }
}

async fn serve(
    listener: std::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    upstream: SocketAddr,
    (accepted, handshakes, requests): (Arc<AtomicU64>, Arc<AtomicU64>, Arc<Requests>),
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
        let (acceptor, handshakes, requests) =
            (acceptor.clone(), handshakes.clone(), requests.clone());
        tokio::spawn(async move {
            let _ = client.set_nodelay(true);
            let Ok(tls) = acceptor.accept(client).await else {
                return;
            };
            handshakes.fetch_add(1, Ordering::Relaxed);
            // sqld down: the client sees its connection closed, as with a real outage.
            let Ok(server) = TcpStream::connect(upstream).await else {
                return;
            };
            let _ = server.set_nodelay(true);
            forward(tls, server, RequestScanner::new(requests)).await;
        });
    }
}

/// Copies both ways until either side closes, scanning the client's bytes for requests.
async fn forward(
    tls: tokio_rustls::server::TlsStream<TcpStream>,
    server: TcpStream,
    mut scanner: RequestScanner,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut client_read, mut client_write) = tokio::io::split(tls);
    let (mut server_read, mut server_write) = server.into_split();
    let scanner = &mut scanner;
    let upstream = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    scanner.observe(&buf[..n]);
                    if server_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = server_write.shutdown().await;
    };
    let downstream = async {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    // Either direction ending ends the connection, as a proxy closing it would.
    tokio::select! {
        _ = upstream => {}
        _ = downstream => {}
    }
    scanner.finish();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_and_sized_across_split_reads() {
        let requests = Arc::new(Requests::default());
        let mut scanner = RequestScanner::new(requests.clone());
        let stream =
            b"POST /v3/pipeline HTTP/1.1\r\n\r\n{\"a\":1}POST /v3/pipeline HTTP/1.1\r\n\r\n{}";
        // Every split point, including inside a mark.
        for cut in 0..stream.len() {
            let requests = Arc::new(Requests::default());
            let mut s = RequestScanner::new(requests.clone());
            s.observe(&stream[..cut]);
            s.observe(&stream[cut..]);
            s.finish();
            assert_eq!(requests.count.load(Ordering::Relaxed), 2, "cut {cut}");
            assert_eq!(requests.largest.load(Ordering::Relaxed), 37, "cut {cut}");
        }
        scanner.observe(stream);
        scanner.finish();
        assert_eq!(requests.count.load(Ordering::Relaxed), 2);
    }
}
