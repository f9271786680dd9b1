//! Translation of redb's errors into Strata's, keeping the source.

use strata::{Error, ErrorKind, Operation};

/// Converts any redb error into a Strata [`Error`] for `op`.
pub(crate) fn redb_error(op: Operation, err: impl Into<redb::Error>) -> Error {
    let err: redb::Error = err.into();
    let (kind, transient, message) = match &err {
        redb::Error::Corrupted(_) => (ErrorKind::Corrupted, false, "the redb file is corrupted"),
        redb::Error::ValueTooLarge(_) => {
            (ErrorKind::InvalidInput, false, "value too large for redb")
        }
        redb::Error::DatabaseAlreadyOpen => (
            ErrorKind::Unavailable,
            true,
            "the redb file is already open (locked by another handle or process)",
        ),
        redb::Error::UpgradeRequired(_) => (
            ErrorKind::Unexpected,
            false,
            "the redb file uses an older format and needs an upgrade",
        ),
        redb::Error::Io(_) | redb::Error::PreviousIo => {
            (ErrorKind::Unexpected, false, "I/O error in redb")
        }
        // A file left open by a crash: a read-only open may not repair it.
        redb::Error::RepairAborted => (
            ErrorKind::Corrupted,
            false,
            "the redb file needs a repair (it was not closed cleanly): open it for writing once",
        ),
        redb::Error::DatabaseClosed => (ErrorKind::Closed, false, "the redb database is closed"),
        redb::Error::TableTypeMismatch { .. } | redb::Error::TableIsMultimap(_) => (
            ErrorKind::Unexpected,
            false,
            "the redb table does not have the expected type",
        ),
        _ => (ErrorKind::Unexpected, false, "redb error"),
    };
    Error::new(kind, op, message)
        .with_transient(transient)
        .with_context("backend", "redb")
        .with_source(err)
}

/// Why the writer thread stopped, when it stopped on a fault (set once, by the writer).
pub(crate) type WriterFault = std::sync::Arc<parking_lot::Mutex<Option<String>>>;

/// The error for a call made after the writer thread stopped, saying why if it failed.
pub(crate) fn writer_gone(op: Operation, fault: &WriterFault) -> Error {
    let message = match &*fault.lock() {
        Some(why) => format!("the redb writer thread has stopped: {why}"),
        None => "the redb writer thread has stopped".to_string(),
    };
    Error::new(ErrorKind::Closed, op, message)
        .with_transient(false)
        .with_context("backend", "redb")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_kinds_and_keeps_source() {
        let err = redb_error(Operation::Put, redb::StorageError::ValueTooLarge(1 << 33));
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(std::error::Error::source(&err).is_some());
        let err = redb_error(Operation::Get, redb::DatabaseError::DatabaseAlreadyOpen);
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert!(err.is_transient());
    }
}
