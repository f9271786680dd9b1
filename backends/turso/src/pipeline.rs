//! Statements over the hrana pipeline endpoint, with connection reuse: every read, and the
//! single-statement writes (whose `RETURNING` rows libsql would fetch in two round trips).
//!
//! Why not libsql's `query`: in libsql 0.10 every row-returning query goes through the
//! streaming cursor endpoint, and the response body is dropped before hyper has read it to
//! the end, so hyper cannot return the connection to its pool — each read opens a new TCP
//! connection (measured: 916 connects per 1,000 reads). `query` also prepares the statement
//! first, a second round trip (describe). Here a statement is one `POST /v3/pipeline` with
//! its bound arguments; the JSON response is read whole, so the
//! connection goes back to the pool, and there is no describe. Each of a few reader slots
//! keeps its hrana stream open between reads (the server's baton), so the server reuses its
//! SQLite connection instead of opening one per read; a stale baton is dropped and the read
//! retried once on a fresh stream.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use bytes::Bytes;
use hyper::{Body, Client, Request, StatusCode};
use serde_json::{Value as Json, json};
use strata::{Error, ErrorKind, Operation, Result};

use crate::connector::TlsCountingConnector;
use crate::secret::AuthToken;

/// A bound argument.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Text(Arc<str>),
    Blob(Bytes),
    Integer(i64),
    Null,
}

impl Arg {
    fn to_json(&self) -> Json {
        match self {
            Arg::Text(t) => json!({"type": "text", "value": t.as_ref()}),
            Arg::Blob(b) => json!({"type": "blob", "base64": STANDARD_NO_PAD.encode(b)}),
            Arg::Integer(i) => json!({"type": "integer", "value": i.to_string()}),
            Arg::Null => json!({"type": "null"}),
        }
    }
}

/// A pooled HTTP client for statements over the pipeline endpoint.
#[derive(Clone)]
pub(crate) struct PipelineReader {
    client: Client<TlsCountingConnector, Body>,
    endpoint: Arc<str>,
    token: AuthToken,
    /// Open streams: each slot's baton, used by one read at a time.
    slots: Arc<[tokio::sync::Mutex<Option<String>>]>,
    next: Arc<std::sync::atomic::AtomicUsize>,
    /// Statements re-sent on a fresh stream after the slot's stream failed.
    restarts: Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for PipelineReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineReader")
            .field("endpoint", &crate::endpoint::redact_url(&self.endpoint))
            .field("token", &self.token)
            .field("streams", &self.slots.len())
            .finish()
    }
}

impl PipelineReader {
    pub(crate) fn new(
        base_url: &str,
        token: AuthToken,
        connector: TlsCountingConnector,
        streams: usize,
    ) -> Self {
        let client = Client::builder()
            .pool_max_idle_per_host(64)
            .build(connector);
        let endpoint = pipeline_endpoint(base_url);
        let slots: Vec<_> = (0..streams.max(1))
            .map(|_| tokio::sync::Mutex::new(None))
            .collect();
        PipelineReader {
            client,
            endpoint: Arc::from(endpoint),
            token,
            slots: slots.into(),
            next: Arc::default(),
            restarts: Arc::default(),
        }
    }

    /// Statements re-sent on a fresh stream because the slot's stream had failed (expired on
    /// the server after an idle, most often).
    pub(crate) fn stream_restarts(&self) -> u64 {
        self.restarts.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs one statement; returns its rows as raw byte columns (`None` for NULL; integers
    /// as decimal text).
    pub(crate) async fn rows(
        &self,
        op: Operation,
        sql: &str,
        args: &[Arg],
    ) -> Result<Vec<Vec<Option<Bytes>>>> {
        // A free slot first: a statement stuck behind a slow one (a write waiting on SQLite's
        // lock, say) must not hold up the calls that land on its slot.
        let start = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let free = (0..self.slots.len())
            .find_map(|i| self.slots[(start + i) % self.slots.len()].try_lock().ok());
        let mut baton = match free {
            Some(baton) => baton,
            None => self.slots[start % self.slots.len()].lock().await,
        };
        let had_stream = baton.is_some();
        match self.send(op, sql, args, &mut baton).await {
            Err(e) if had_stream && stale_stream(&e) => {
                // The server let the stream go (idle past its expiry): the statement was not
                // run; once more on a fresh one. Marked "may have been sent" all the same, in
                // case a proxy reports it after all.
                *baton = None;
                self.restarts
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let first_may_have_applied = !crate::error::never_sent(&e);
                self.send(op, sql, args, &mut baton).await.map_err(|e| {
                    if first_may_have_applied {
                        crate::error::maybe_sent(e)
                    } else {
                        e
                    }
                })
            }
            other => other,
        }
    }

    async fn send(
        &self,
        op: Operation,
        sql: &str,
        args: &[Arg],
        baton: &mut Option<String>,
    ) -> Result<Vec<Vec<Option<Bytes>>>> {
        let body = json!({
            "baton": baton.take(),
            "requests": [
                {"type": "execute", "stmt": {"sql": sql, "args": args.iter().map(Arg::to_json).collect::<Vec<_>>(), "want_rows": true}}
            ]
        });
        let mut request =
            Request::post(self.endpoint.as_ref()).header("content-type", "application/json");
        if !self.token.is_empty() {
            request = request.header("authorization", format!("Bearer {}", self.token.expose()));
        }
        let request = request
            .body(Body::from(body.to_string()))
            .map_err(|e| unexpected(op, "cannot build the request").with_source(e))?;
        let response = self.client.request(request).await.map_err(|e| {
            if crate::error::untrusted_certificate(&e) {
                return crate::error::untrusted(op).with_source(e);
            }
            let connect = e.is_connect();
            let err = Error::new(
                ErrorKind::Unavailable,
                op,
                "the remote database is unreachable",
            )
            .with_context("backend", "turso")
            .with_source(e);
            if connect {
                crate::error::not_sent(err)
            } else {
                err
            }
        })?;
        let status = response.status();
        // Read the whole body: that is what lets the connection return to the pool.
        let bytes = hyper::body::to_bytes(response.into_body())
            .await
            .map_err(|e| {
                Error::new(ErrorKind::Unavailable, op, "the response was cut off")
                    .with_context("backend", "turso")
                    .with_source(e)
            })?;
        if status != StatusCode::OK {
            return Err(status_error(op, status, &bytes));
        }
        let parsed: Json = serde_json::from_slice(&bytes)
            .map_err(|e| unexpected(op, "malformed response").with_source(e))?;
        *baton = parsed["baton"].as_str().map(str::to_string);
        let first = &parsed["results"][0];
        if first["type"] != "ok" {
            let message = first["error"]["message"]
                .as_str()
                .unwrap_or("unknown error");
            let code = first["error"]["code"].as_str().unwrap_or("");
            if code == "RESPONSE_TOO_LARGE" || message.contains("Response is too large") {
                // The statement was read-only or applied: only its answer did not fit.
                return Err(
                    unexpected(op, "the answer exceeds the server's response limit")
                        .with_context(LIMIT_KEY, RESPONSE_TOO_LARGE)
                        .with_context("server", message),
                );
            }
            if message.contains("too big") || code == "BLOB_TOO_BIG" {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    op,
                    "a value is too large for the server (lower max_value_size)",
                )
                .with_context("backend", "turso")
                .with_context("server", message));
            }
            if crate::error::is_lock_message(message) || code == "SQLITE_BUSY" {
                return Err(crate::error::contention(op, message));
            }
            return Err(unexpected(op, "the remote database returned an error")
                .with_context("server", message));
        }
        let rows = first["response"]["result"]["rows"]
            .as_array()
            .ok_or_else(|| unexpected(op, "response without rows"))?;
        rows.iter()
            .map(|row| {
                row.as_array()
                    .ok_or_else(|| unexpected(op, "malformed row"))?
                    .iter()
                    .map(|cell| decode_cell(op, cell))
                    .collect()
            })
            .collect()
    }
}

const LIMIT_KEY: &str = "limit";
const RESPONSE_TOO_LARGE: &str = "response size";

/// Whether `err` is the server refusing to send an answer over its response limit (10 MB by
/// default on sqld): the caller asks for less at a time.
pub(crate) fn response_too_large(err: &Error) -> bool {
    err.context()
        .iter()
        .any(|(k, v)| *k == LIMIT_KEY && v == RESPONSE_TOO_LARGE)
}

fn decode_cell(op: Operation, cell: &Json) -> Result<Option<Bytes>> {
    match cell["type"].as_str() {
        Some("null") => Ok(None),
        Some("blob") => {
            let text = cell["base64"].as_str().unwrap_or("").trim_end_matches('=');
            STANDARD_NO_PAD
                .decode(text)
                .map(|b| Some(Bytes::from(b)))
                .map_err(|e| {
                    Error::new(ErrorKind::Corrupted, op, "bad base64 from the server")
                        .with_source(e)
                })
        }
        // Integers arrive as decimal text (64 bits do not fit a JSON number); parse them
        // with [`integer_cell`].
        Some("text") | Some("integer") => Ok(Some(Bytes::copy_from_slice(
            cell["value"].as_str().unwrap_or("").as_bytes(),
        ))),
        other => {
            Err(unexpected(op, "unexpected column type").with_context("type", format!("{other:?}")))
        }
    }
}

/// An integer column of a row from [`PipelineReader::rows`].
pub(crate) fn integer_cell(op: Operation, cell: Option<&Option<Bytes>>) -> Result<i64> {
    cell.and_then(|c| c.as_deref())
        .and_then(|text| std::str::from_utf8(text).ok())
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| unexpected(op, "expected an integer column"))
}

fn unexpected(op: Operation, message: &str) -> Error {
    Error::new(ErrorKind::Unexpected, op, message).with_context("backend", "turso")
}

/// The error for a non-200 answer, with the same kinds as libsql's errors get.
pub(crate) fn status_error(op: Operation, status: StatusCode, body: &[u8]) -> Error {
    let text = String::from_utf8_lossy(body).to_ascii_lowercase();
    let (kind, transient, message) = match status.as_u16() {
        401 if text.contains("expired") => {
            (ErrorKind::Unauthorized, false, "the auth token has expired")
        }
        401 if text.contains("missing")
            || text.contains("no auth")
            || text.contains("does not conform") =>
        {
            (
                ErrorKind::Unauthorized,
                false,
                "no auth token was sent (set TURSO_AUTH_TOKEN)",
            )
        }
        401 => (
            ErrorKind::Unauthorized,
            false,
            "the auth token is invalid (wrong key or malformed)",
        ),
        403 => (
            ErrorKind::Forbidden,
            false,
            "the auth token does not allow this operation (read-only?)",
        ),
        // Any 5xx, as on libsql's path: the server (or a proxy before it) failed, not the
        // request — a retry may succeed.
        429 | 500..=599 => (
            ErrorKind::Unavailable,
            true,
            "the remote database is overloaded or restarting",
        ),
        _ => (
            ErrorKind::Unexpected,
            false,
            "the remote database rejected the request",
        ),
    };
    let err = Error::new(kind, op, message)
        .with_transient(transient)
        .with_context("backend", "turso")
        .with_context("status", status.as_u16());
    // sqld's answer to a baton it no longer knows: `{"code":"STREAM_EXPIRED",…}` (or closed,
    // or an invalid baton).
    if status == StatusCode::BAD_REQUEST
        && (text.contains("stream_expired")
            || text.contains("stream_closed")
            || text.contains("baton"))
    {
        err.with_context(STREAM_KEY, STREAM_GONE)
    } else {
        err
    }
}

const STREAM_KEY: &str = "stream";
const STREAM_GONE: &str = "gone";

/// Whether the server refused a request because its stream (baton) is gone: the statement
/// did not run, and a fresh stream will take it.
fn stale_stream(err: &Error) -> bool {
    err.context()
        .iter()
        .any(|(k, v)| *k == STREAM_KEY && v == STREAM_GONE)
}

/// The pipeline endpoint of a database URL: the path goes before any query string
/// (`https://db?authToken=…` → `https://db/v3/pipeline?authToken=…`), as libsql does.
fn pipeline_endpoint(base_url: &str) -> String {
    let (base, query) = match base_url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (base_url, None),
    };
    let mut endpoint = format!("{}/v3/pipeline", base.trim_end_matches('/'));
    if let Some(query) = query {
        endpoint.push('?');
        endpoint.push_str(query);
    }
    endpoint
}

#[cfg(test)]
mod status_tests {
    use super::*;

    #[test]
    fn the_pipeline_path_goes_before_a_query_string() {
        assert_eq!(pipeline_endpoint("http://h:1"), "http://h:1/v3/pipeline");
        assert_eq!(pipeline_endpoint("https://h/"), "https://h/v3/pipeline");
        assert_eq!(
            pipeline_endpoint("https://h?authToken=t&x=1"),
            "https://h/v3/pipeline?authToken=t&x=1"
        );
    }

    #[test]
    fn every_5xx_is_transient_and_4xx_are_not() {
        for code in [500u16, 502, 503, 504, 507, 599, 429] {
            let err = status_error(Operation::Get, StatusCode::from_u16(code).unwrap(), b"");
            assert!(err.is_transient(), "{code}: {err}");
        }
        for code in [400u16, 404, 413] {
            let err = status_error(Operation::Get, StatusCode::from_u16(code).unwrap(), b"");
            assert!(!err.is_transient(), "{code}: {err}");
        }
        let err = status_error(Operation::Get, StatusCode::UNAUTHORIZED, b"");
        assert_eq!(err.kind(), ErrorKind::Unauthorized);
        // Only a gone stream is resent on a fresh one.
        let expired =
            br#"{"message":"The stream has expired due to inactivity","code":"STREAM_EXPIRED"}"#;
        assert!(stale_stream(&status_error(
            Operation::Get,
            StatusCode::BAD_REQUEST,
            expired
        )));
        for (status, body) in [
            (StatusCode::BAD_REQUEST, &b"{\"message\":\"SQL error\"}"[..]),
            (StatusCode::INTERNAL_SERVER_ERROR, &expired[..]),
            (StatusCode::UNAUTHORIZED, &expired[..]),
        ] {
            assert!(!stale_stream(&status_error(Operation::Get, status, body)));
        }
    }
}
