//! The database URL as users write it, turned into what the client sends to: a lowercase
//! `https`/`http` scheme, and no credentials in it — a Turso-style `?authToken=` moves into the
//! bearer token, so no library that logs URLs can print it.

use strata::{Error, Operation, Result};

use crate::secret::AuthToken;

/// The URL requests go to, and the token to send (`Debug` shows no secret: the URL holds
/// none, the token redacts itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// `https://host[:port][/path][?query]` or `http://…`, without credentials.
    pub(crate) url: String,
    /// The configured token, else the URL's `authToken`.
    pub(crate) token: AuthToken,
    /// Whether the connection is TLS (so the platform's roots are needed).
    pub(crate) tls: bool,
}

/// Normalises `url`: `libsql://` and `https://` (any case) become `https://`, `http://` stays,
/// a URL without a scheme is https (as libsql reads it); any other scheme, or an `@` anywhere
/// (a `user:password@` part), is an input error. An
/// `authToken` query parameter is taken out and used as the token unless `token` is set.
pub(crate) fn normalize(url: &str, token: &AuthToken) -> Result<Endpoint> {
    let invalid = |message: &str| {
        Error::invalid_input(Operation::Open, message)
            .with_context("backend", "turso")
            .with_context("url", redact_url(url))
    };
    let url = url.trim();
    let (scheme, rest) = match split_scheme(url) {
        ("", _) if url.contains(":/") => {
            return Err(invalid(
                "malformed database URL: use libsql://, https:// or http://",
            ));
        }
        // No scheme: https, as libsql itself reads such a URL.
        ("", rest) => ("https://", rest),
        found => found,
    };
    let (scheme, tls) = match scheme.trim_end_matches("://").to_ascii_lowercase().as_str() {
        "libsql" | "https" => ("https", true),
        "http" => ("http", false),
        _ => {
            return Err(invalid(
                "unsupported URL scheme: use libsql://, https:// or http://",
            ));
        }
    };
    // Anywhere, not only before the first `/`: a password may hold one.
    if rest.contains('@') {
        return Err(invalid(
            "credentials in the URL are not supported: pass the token with auth_token",
        ));
    }
    let (base, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let authority = base.split('/').next().unwrap_or("");
    if authority.is_empty() {
        return Err(invalid("the database URL has no host"));
    }
    let mut from_url = None;
    let kept: Vec<&str> = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter(|pair| match pair.split_once('=') {
            Some((name, value)) if name.eq_ignore_ascii_case("authToken") => {
                from_url = Some(value);
                false
            }
            _ => !pair.is_empty(),
        })
        .collect();
    let mut out = format!("{scheme}://{base}");
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    let token = match from_url {
        Some(value) if token.is_empty() => AuthToken::new(value),
        _ => token.clone(),
    };
    Ok(Endpoint {
        url: out,
        token,
        tls,
    })
}

pub(crate) fn redact_url(url: &str) -> String {
    // Credentials first, on the whole text after the scheme: a password may hold `/`, `?` or
    // `#`, so everything up to the last `@` is treated as one (the URL may lack a scheme,
    // or have a mangled one, too).
    let (scheme, rest) = split_scheme(url);
    let rest = match rest.rfind('@') {
        Some(at) => format!("<redacted>@{}", &rest[at + 1..]),
        None => rest.to_string(),
    };
    let (base, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest.as_str(), None),
    };
    let mut out = format!("{scheme}{base}");
    if let Some(query) = query {
        let secret = |name: &str| {
            let n = name.to_ascii_lowercase();
            ["token", "auth", "password", "secret", "jwt", "key"]
                .iter()
                .any(|s| n.contains(s))
        };
        let parts: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if secret(name) => format!("{name}=<redacted>"),
                _ => pair.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&parts.join("&"));
    }
    out
}

/// `("scheme://", rest)`, or `("", url)` without a well-formed `://`.
fn split_scheme(url: &str) -> (&str, &str) {
    match url.find("://") {
        Some(i)
            if url[..i]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            url.split_at(i + 3)
        }
        _ => ("", url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(url: &str) -> Result<Endpoint> {
        normalize(url, &AuthToken::default())
    }

    #[test]
    fn schemes_are_normalised_and_tls_noted() {
        let e = norm("LIBSQL://db.turso.io").unwrap();
        assert_eq!((e.url.as_str(), e.tls), ("https://db.turso.io", true));
        let e = norm(" Https://h:8443/p ").unwrap();
        assert_eq!((e.url.as_str(), e.tls), ("https://h:8443/p", true));
        let e = norm("HTTP://127.0.0.1:8080").unwrap();
        assert_eq!((e.url.as_str(), e.tls), ("http://127.0.0.1:8080", false));
        // No scheme: https, as libsql reads it.
        let e = norm("db-org.turso.io").unwrap();
        assert_eq!((e.url.as_str(), e.tls), ("https://db-org.turso.io", true));
    }

    #[test]
    fn bad_urls_are_input_errors_that_never_show_credentials() {
        for url in [
            "https:/db.turso.io",
            "admin:hunter2@db.turso.io",
            "https://admin:hunt/er2@db.turso.io",
            "https://admin:hunt?er2@db.turso.io",
            "https://admin:hunt#er2@db.turso.io/x?y=1",
            "ftp://h",
            "wss://h",
            "https://",
            "https://u:hunter2@h",
            "https://u:hunter2@h/?authToken=x",
        ] {
            let err = norm(url).unwrap_err();
            assert_eq!(err.kind(), strata::ErrorKind::InvalidInput, "{url}: {err}");
            let shown = format!("{err} {err:?}");
            assert!(
                !shown.contains("hunter2") && !shown.contains("er2"),
                "{shown}"
            );
            assert!(!redact_url(url).contains("er2"), "{}", redact_url(url));
        }
    }

    #[test]
    fn an_auth_token_in_the_query_moves_into_the_token() {
        let e = norm("libsql://db.turso.io?authToken=eyJsecret&tls=1").unwrap();
        assert_eq!(e.url, "https://db.turso.io?tls=1");
        assert_eq!(e.token.expose(), "eyJsecret");
        let e = norm("https://h?AUTHTOKEN=t").unwrap();
        assert_eq!((e.url.as_str(), e.token.expose()), ("https://h", "t"));
        // A configured token wins; the URL's is dropped all the same.
        let e = normalize("https://h?authToken=url", &AuthToken::new("configured")).unwrap();
        assert_eq!(
            (e.url.as_str(), e.token.expose()),
            ("https://h", "configured")
        );
    }
}
