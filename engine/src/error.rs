//! One error type for every backend: what failed, where, and whether retrying helps.

use std::fmt;

/// A specialised `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure an [`Error`] is. Match on this, not on messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The caller passed something the backend cannot accept: an oversized key or value, an
    /// invalid keyspace name, a malformed range. Retrying the same call cannot help.
    InvalidInput,
    /// A named thing that must exist (not a key: a missing key is `Ok(None)`) does not.
    NotFound,
    /// Stored bytes failed an integrity check or could not be decoded.
    Corrupted,
    /// The backend cannot be reached or is shutting down for now; retrying later may help.
    Unavailable,
    /// The credentials are missing, invalid or expired.
    Unauthorized,
    /// The credentials are valid but do not allow this operation.
    Forbidden,
    /// The operation did not finish within its deadline.
    Timeout,
    /// The operation conflicted with a concurrent one.
    Conflict,
    /// The backend was closed; this handle can no longer be used.
    Closed,
    /// Anything else: an I/O failure, a bug, a backend error without a better mapping.
    Unexpected,
}

impl ErrorKind {
    /// Whether a failure of this kind is usually transient (a retry may succeed).
    pub fn is_transient_by_default(self) -> bool {
        matches!(
            self,
            ErrorKind::Unavailable | ErrorKind::Timeout | ErrorKind::Conflict
        )
    }

    /// A short, stable, lowercase name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid input",
            ErrorKind::NotFound => "not found",
            ErrorKind::Corrupted => "corrupted",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Closed => "closed",
            ErrorKind::Unexpected => "unexpected",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The operation during which an [`Error`] happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// Opening a store.
    Open,
    /// Opening a named keyspace.
    Keyspace,
    /// [`StorageBackend::get`](crate::StorageBackend::get).
    Get,
    /// [`StorageBackend::get_many`](crate::StorageBackend::get_many).
    GetMany,
    /// [`StorageBackend::put`](crate::StorageBackend::put).
    Put,
    /// [`StorageBackend::delete`](crate::StorageBackend::delete).
    Delete,
    /// [`StorageBackend::write_batch`](crate::StorageBackend::write_batch).
    WriteBatch,
    /// [`StorageBackend::scan`](crate::StorageBackend::scan).
    Scan,
    /// [`StorageBackend::flush`](crate::StorageBackend::flush).
    Flush,
    /// Closing a store.
    Close,
    /// Synchronising a store with its remote (offline-first sync).
    Sync,
}

impl Operation {
    /// The operation's name as written in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Open => "open",
            Operation::Keyspace => "keyspace",
            Operation::Get => "get",
            Operation::GetMany => "get_many",
            Operation::Put => "put",
            Operation::Delete => "delete",
            Operation::WriteBatch => "write_batch",
            Operation::Scan => "scan",
            Operation::Flush => "flush",
            Operation::Close => "close",
            Operation::Sync => "sync",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type BoxedSource = Box<dyn std::error::Error + Send + Sync + 'static>;
type Source = std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>;

/// The error of every Strata operation.
///
/// It carries a [`ErrorKind`], the [`Operation`], a message, key/value context (for example
/// the backend, the keyspace, an escaped key), whether a retry may help, and the underlying
/// error as its [`source`](std::error::Error::source). Cloning is cheap (the source is shared),
/// so one failure can be handed to every caller waiting on it.
#[derive(Clone)]
pub struct Error {
    kind: ErrorKind,
    operation: Operation,
    message: String,
    context: Vec<(&'static str, String)>,
    transient: bool,
    source: Option<Source>,
}

impl Error {
    /// A new error; transient if its kind usually is (see
    /// [`ErrorKind::is_transient_by_default`]).
    pub fn new(kind: ErrorKind, operation: Operation, message: impl Into<String>) -> Self {
        Error {
            kind,
            operation,
            message: message.into(),
            context: Vec::new(),
            transient: kind.is_transient_by_default(),
            source: None,
        }
    }

    /// Shorthand for an [`ErrorKind::InvalidInput`] error.
    pub fn invalid_input(operation: Operation, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, operation, message)
    }

    /// Shorthand for an [`ErrorKind::Unexpected`] error.
    pub fn unexpected(operation: Operation, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unexpected, operation, message)
    }

    /// Adds a piece of context, such as `("keyspace", "episodes")`.
    #[must_use]
    pub fn with_context(mut self, key: &'static str, value: impl fmt::Display) -> Self {
        self.context.push((key, value.to_string()));
        self
    }

    /// Adds the key the operation was about, escaped and shortened for display.
    #[must_use]
    pub fn with_key(self, key: &[u8]) -> Self {
        self.with_context("key", display_key(key))
    }

    /// Sets the underlying cause.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<BoxedSource>) -> Self {
        self.source = Some(Source::from(source.into()));
        self
    }

    /// Overrides whether a retry may help.
    #[must_use]
    pub fn with_transient(mut self, transient: bool) -> Self {
        self.transient = transient;
        self
    }

    /// Replaces the operation (used by wrappers that call one operation to serve another).
    #[must_use]
    pub fn with_operation(mut self, operation: Operation) -> Self {
        self.operation = operation;
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The operation that failed.
    pub fn operation(&self) -> Operation {
        self.operation
    }

    /// The human-readable message, without context.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The key/value context attached so far.
    pub fn context(&self) -> &[(&'static str, String)] {
        &self.context
    }

    /// Whether retrying the same operation later may succeed.
    pub fn is_transient(&self) -> bool {
        self.transient
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.operation, self.kind, self.message)?;
        if !self.context.is_empty() {
            f.write_str(" [")?;
            for (i, (k, v)) in self.context.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{k}={v}")?;
            }
            f.write_str("]")?;
        }
        if self.transient {
            f.write_str(" (transient)")?;
        }
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("operation", &self.operation)
            .field("message", &self.message)
            .field("context", &self.context)
            .field("transient", &self.transient)
            .field("source", &self.source)
            .finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

/// Escapes a key for messages, keeping at most 64 bytes of it.
pub(crate) fn display_key(key: &[u8]) -> String {
    const SHOWN: usize = 64;
    let shown = &key[..key.len().min(SHOWN)];
    let mut out = format!("\"{}\"", shown.escape_ascii());
    if key.len() > SHOWN {
        out.push_str(&format!("… ({} bytes)", key.len()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_has_operation_kind_context_and_source() {
        let io = std::io::Error::other("disk on fire");
        let err = Error::new(ErrorKind::Unavailable, Operation::Get, "backend down")
            .with_key(b"a\x00b")
            .with_source(io);
        let text = err.to_string();
        assert_eq!(
            text,
            "get (unavailable): backend down [key=\"a\\x00b\"] (transient): disk on fire"
        );
        assert!(err.is_transient());
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn long_keys_are_shortened() {
        let key = vec![b'k'; 100];
        let shown = display_key(&key);
        assert!(shown.ends_with("… (100 bytes)"), "{shown}");
        assert_eq!(shown.matches('k').count(), 64);
    }

    #[test]
    fn invalid_input_is_permanent() {
        assert!(!Error::invalid_input(Operation::Put, "too big").is_transient());
        assert!(Error::new(ErrorKind::Timeout, Operation::Put, "slow").is_transient());
    }
}
