//! Translation of libsql's errors into Strata's kinds.

use strata::{Error, ErrorKind, Operation};

/// The context key marking write contention on the server (see [`contention`]).
const CONTENTION: &str = "contention";

/// The server's database was locked by another writer ("database is locked", SQLITE_BUSY):
/// the statement did not run. Transient, so it is retried; not a sign the remote is down, so
/// the breaker does not count it (64 concurrent writers met this against one sqld).
pub(crate) fn contention(op: Operation, server_message: &str) -> Error {
    Error::new(
        ErrorKind::Unavailable,
        op,
        "the remote database is busy with another writer",
    )
    .with_transient(true)
    .with_context("backend", "turso")
    .with_context(CONTENTION, "database is locked")
    .with_context("server", server_message)
}

/// Whether the server's message says its database was locked by another writer.
pub(crate) fn is_lock_message(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("database is locked") || lower.contains("sqlite_busy")
}

/// Whether `err` is write contention on the server (see [`contention`]).
pub(crate) fn is_contention(err: &Error) -> bool {
    err.context().iter().any(|(k, _)| *k == CONTENTION)
}

/// Maps a libsql error. HTTP statuses arrive as text (`status=401 …`), so the mapping reads
/// it; the original error stays the source.
pub(crate) fn from_libsql(op: Operation, err: libsql::Error) -> Error {
    let text = err.to_string();
    if is_lock_message(&text) {
        return contention(op, &text).with_source(err);
    }
    let lower = text.to_ascii_lowercase();
    if untrusted_certificate(&err) || lower.contains("invalid peer certificate") {
        return untrusted(op).with_source(err);
    }
    let (kind, transient, message): (ErrorKind, bool, String) = if lower.contains("status=401") {
        let why = if lower.contains("expired") {
            "the auth token has expired"
        } else if lower.contains("missing")
            || lower.contains("does not conform")
            || lower.contains("no authorization")
            || lower.contains("authorization header")
        {
            "no auth token was sent (set TURSO_AUTH_TOKEN)"
        } else {
            "the auth token is invalid (wrong key or malformed)"
        };
        (ErrorKind::Unauthorized, false, why.to_string())
    } else if lower.contains("status=403") {
        (
            ErrorKind::Forbidden,
            false,
            "the auth token does not allow this operation (read-only?)".to_string(),
        )
    } else if lower.contains("status=5")
        || lower.contains("connect")
        || lower.contains("connection")
        || lower.contains("broken pipe")
        || lower.contains("reset by peer")
        || lower.contains("http error")
        || lower.contains("hyper")
        || lower.contains("timed out")
    {
        (
            ErrorKind::Unavailable,
            true,
            "the remote database is unreachable".to_string(),
        )
    } else if lower.contains("too big") || lower.contains("too large") || lower.contains("toobig") {
        (
            ErrorKind::InvalidInput,
            false,
            "the request is too large for the server".to_string(),
        )
    } else {
        (
            ErrorKind::Unexpected,
            false,
            "the remote database returned an error".to_string(),
        )
    };
    Error::new(kind, op, message)
        .with_transient(transient)
        .with_context("backend", "turso")
        .with_source(err)
}

/// Whether `err`, or an error it wraps, is a TLS certificate the client does not trust.
pub(crate) fn untrusted_certificate(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return matches!(
                tls,
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
            );
        }
        if let Some(tls) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return matches!(tls, rustls::Error::InvalidCertificate(_));
        }
        next = e.source();
    }
    false
}

/// The error for a server whose certificate is not trusted: not transient (retrying cannot
/// make it trusted, and it must not trip the breaker as an outage would).
pub(crate) fn untrusted(op: Operation) -> Error {
    Error::new(
        ErrorKind::Unexpected,
        op,
        "the server's TLS certificate is not trusted (a private CA needs ca_certificate_pem)",
    )
    .with_transient(false)
    .with_context("backend", "turso")
}

/// The error for a call that hit its deadline.
pub(crate) fn timeout(op: Operation, after: std::time::Duration) -> Error {
    Error::new(
        ErrorKind::Timeout,
        op,
        format!("no answer from the remote database within {after:?}"),
    )
    .with_context("backend", "turso")
}

/// Context key marking an error raised before a request left this process (a refused
/// connection, an open circuit breaker): the server cannot have applied it.
const NOT_SENT_KEY: &str = "request";
const NOT_SENT_VALUE: &str = "not sent";
const MAYBE_SENT_VALUE: &str = "may have been sent";

/// Marks `err` as raised before its request was sent (see [`never_sent`]).
pub fn not_sent(err: strata::Error) -> strata::Error {
    err.with_context(NOT_SENT_KEY, NOT_SENT_VALUE)
}

/// Marks `err` as the last of several attempts of which an earlier one may have reached the
/// server: it overrides any [`not_sent`] mark (a refused retry after a timed-out attempt
/// proves nothing about the first).
pub(crate) fn maybe_sent(err: strata::Error) -> strata::Error {
    if err
        .context()
        .iter()
        .any(|(k, v)| *k == NOT_SENT_KEY && v == NOT_SENT_VALUE)
    {
        err.with_context(NOT_SENT_KEY, MAYBE_SENT_VALUE)
    } else {
        err
    }
}

/// Whether `err` is known to have happened before its request left: a write that failed so
/// was certainly not applied. Any other failure of a write may hide a commit. (The last mark
/// wins: see `maybe_sent`.)
pub fn never_sent(err: &strata::Error) -> bool {
    err.context()
        .iter()
        .rev()
        .find(|(k, _)| *k == NOT_SENT_KEY)
        .is_some_and(|(_, v)| v == NOT_SENT_VALUE)
}

#[cfg(test)]
mod sent_tests {
    use super::*;
    use strata::{ErrorKind, Operation};

    #[test]
    fn a_may_have_been_sent_mark_overrides_not_sent() {
        let err = || Error::new(ErrorKind::Unavailable, Operation::Put, "down");
        assert!(!never_sent(&err()));
        assert!(never_sent(&not_sent(err())));
        assert!(!never_sent(&maybe_sent(not_sent(err()))));
        assert!(!never_sent(&maybe_sent(err())));
    }
}
