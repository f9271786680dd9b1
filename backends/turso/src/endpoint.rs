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
    if looks_like_credentials(rest) {
        return Err(invalid(
            "an '@' before the URL's query looks like credentials (user:password@), which are not supported: pass the token with auth_token",
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
    // Leak-proof before pretty: everything up to the last `@` goes (a password may hold `/`,
    // `?` or `#`; an `@` in a query value costs some over-redaction, never a leak), then any
    // secret-named parameter left, wherever a `?` or `&` starts it.
    let (scheme, rest) = split_scheme(url);
    let rest = match rest.rfind('@') {
        Some(at) => format!("<redacted>@{}", &rest[at + 1..]),
        None => rest.to_string(),
    };
    let secret = |name: &str| {
        let n = name.to_ascii_lowercase();
        ["token", "auth", "password", "secret", "jwt", "key"]
            .iter()
            .any(|s| n.contains(s))
    };
    let mut out = String::from(scheme);
    let mut piece = String::new();
    let flush = |piece: &mut String, out: &mut String| {
        match piece.split_once('=') {
            Some((name, _)) if secret(name) => {
                out.push_str(name);
                out.push_str("=<redacted>");
            }
            _ => out.push_str(piece),
        }
        piece.clear();
    };
    for c in rest.chars() {
        if c == '?' || c == '&' {
            flush(&mut piece, &mut out);
            out.push(c);
        } else {
            piece.push(c);
        }
    }
    flush(&mut piece, &mut out);
    out
}

/// Whether `rest` (the URL after its scheme) may carry a `user:password@` part: an `@`
/// before the query, or one in a query piece that is no `name=value` (a password holding a
/// `?`, as in `admin:hunt?er2@host`). An `@` inside a parameter's value is allowed.
fn looks_like_credentials(rest: &str) -> bool {
    let (before, query) = match rest.find(['?', '#']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    before.contains('@')
        || query
            .split(['?', '&', '#'])
            .any(|piece| piece.contains('@') && !piece.contains('='))
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
    fn an_at_in_a_query_value_neither_leaks_a_token_nor_is_refused() {
        let url = "https://db.turso.io?contact=ops@example.com&authToken=SECRETJWT";
        assert!(
            !redact_url(url).contains("SECRETJWT"),
            "{}",
            redact_url(url)
        );
        assert!(!redact_url("https://h?authToken=ab@cd").contains("ab"));
        let e = norm("https://h/db?note=a@b&authToken=t").unwrap();
        assert_eq!(
            (e.url.as_str(), e.token.expose()),
            ("https://h/db?note=a@b", "t")
        );
        for ok in [
            "https://[::1]:8080",
            "http://[::1]:8080/?authToken=t",
            "[::1]:8080",
        ] {
            assert!(norm(ok).is_ok(), "{ok}");
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
