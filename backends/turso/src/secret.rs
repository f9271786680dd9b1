//! An auth token that never shows itself in `Debug` or `Display`.

use std::fmt;

/// A bearer token (a `TURSO_AUTH_TOKEN`). Formatting prints `AuthToken(<redacted>)`, so it
/// cannot leak into logs, panics or error messages.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AuthToken(String);

impl AuthToken {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        AuthToken(token.into())
    }

    /// The token itself, for the request header only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether no token was given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("AuthToken(<none>)")
        } else {
            f.write_str("AuthToken(<redacted>)")
        }
    }
}

impl fmt::Display for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}
