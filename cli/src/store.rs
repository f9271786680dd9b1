//! Opening the store a command names: a local redb file, or a remote sqld / Turso database
//! when the name is a URL. Open failures become messages a user can act on.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use strata::{DynBackend, ErrorKind, IntoDyn, KeyRange, StorageBackend};
use strata_redb::{ReadOnlyStore, RedbBackend};
use strata_turso::TursoBackend;

use crate::Failure;

/// An open store.
pub enum Store {
    /// A local redb file, open for writing.
    Local(RedbBackend),
    /// A local redb file, open only to be read: nothing is written to it.
    ReadOnly(ReadOnlyStore),
    /// A remote database.
    Remote(TursoBackend),
}

/// Whether `name` is a remote database's URL rather than a file path.
pub fn is_url(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    ["libsql://", "http://", "https://", "wss://", "ws://"]
        .iter()
        .any(|scheme| lower.starts_with(scheme))
}

/// Whether a missing local file may be created (writing commands) or is an error.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read only: the file must exist, and is opened without writing to it.
    Read,
    /// Read and write a file that must exist.
    Modify,
    /// Read and write, creating the file if it is missing.
    Create,
}

impl Store {
    /// Opens `name`: a URL opens the remote database (with `token`), anything else the file.
    pub async fn open(name: &str, token: Option<&str>, access: Access) -> Result<Store, Failure> {
        if is_url(name) {
            // Reading commands leave the database as they found it (no schema, no migration).
            let mut builder = TursoBackend::builder(name).read_only(access == Access::Read);
            if let Some(token) = token {
                builder = builder.auth_token(token);
            }
            let remote = builder
                .open()
                .await
                .map_err(|e| Failure::error(format!("cannot reach {}: {e}", redacted(name))))?;
            return Ok(Store::Remote(remote));
        }
        let path = PathBuf::from(name);
        if access == Access::Read {
            return open_read_only(&path).map(Store::ReadOnly);
        }
        open_local(&path, access).await.map(Store::Local)
    }

    /// The local file opened read-only, or a failure saying `command` needs one.
    pub fn read_only(&self, command: &str) -> Result<&ReadOnlyStore, Failure> {
        match self {
            Store::ReadOnly(store) => Ok(store),
            _ => Err(Failure::error(format!(
                "`{command}` works on a local store file, not a remote database"
            ))),
        }
    }

    /// A writable handle on `keyspace` (a local file open for writing, or the remote).
    pub fn keyspace(&self, keyspace: &str) -> Result<DynBackend, Failure> {
        let handle = match self {
            Store::Local(store) => store.keyspace(keyspace).map(IntoDyn::into_dyn),
            Store::Remote(remote) => remote.keyspace(keyspace).map(IntoDyn::into_dyn),
            Store::ReadOnly(_) => unreachable!("writes open the file for writing"),
        };
        handle.map_err(|e| Failure::error(format!("keyspace {keyspace:?}: {e}")))
    }

    /// The value under `key` in `keyspace`.
    pub async fn get(&self, keyspace: &str, key: &[u8]) -> Result<Option<Bytes>, Failure> {
        match self {
            Store::ReadOnly(store) => Ok(store.get(keyspace, key)?),
            _ => Ok(self.keyspace(keyspace)?.get(key).await?),
        }
    }

    /// Up to `limit` entries of `range` in `keyspace`, in key order.
    pub async fn scan(
        &self,
        keyspace: &str,
        range: KeyRange,
        limit: Option<usize>,
    ) -> Result<Vec<(Bytes, Bytes)>, Failure> {
        match self {
            Store::ReadOnly(store) => {
                Ok(store.scan(keyspace, &range, limit.unwrap_or(usize::MAX))?)
            }
            _ => Ok(self.keyspace(keyspace)?.scan(range, limit).await?),
        }
    }

    /// Every keyspace's name.
    pub async fn keyspace_names(&self) -> Result<Vec<String>, Failure> {
        match self {
            Store::Local(store) => store.keyspaces().await.map_err(Failure::from),
            Store::ReadOnly(store) => store.keyspaces().map_err(Failure::from),
            Store::Remote(remote) => Ok(remote
                .keyspace_stats()
                .await?
                .into_iter()
                .map(|k| k.name)
                .collect()),
        }
    }

    /// Flushes and closes; a store that cannot make its writes durable says so.
    pub async fn close(self) -> Result<(), Failure> {
        match self {
            Store::Local(store) => store.close().await.map_err(Failure::from),
            Store::ReadOnly(_) => Ok(()),
            Store::Remote(remote) => StorageBackend::close(&remote).await.map_err(Failure::from),
        }
    }
}

fn locked(shown: &dyn std::fmt::Display) -> Failure {
    Failure::error(format!(
        "{shown} is open in another process (redb lets one process open a file at a time). \
         Close that process first, or open the store there with `shared_reads(true)` so this \
         tool can read it while it runs"
    ))
}

fn open_read_only(path: &Path) -> Result<ReadOnlyStore, Failure> {
    let shown = path.display();
    if path.is_dir() {
        return Err(Failure::error(format!(
            "{shown} is a directory, not a store file"
        )));
    }
    ReadOnlyStore::open(path).map_err(|e| match e.kind() {
        ErrorKind::NotFound => Failure::error(format!(
            "no store at {shown} (nothing was created; `put` or `load` create one)"
        )),
        ErrorKind::Unavailable => locked(&shown),
        ErrorKind::Corrupted | ErrorKind::InvalidInput => Failure::error(format!(
            "{shown} is damaged or not a Strata store: {}",
            e.message()
        )),
        _ if format!("{e:?}").contains("magic number") => {
            Failure::error(format!("{shown} is not a Strata store (not a redb file)"))
        }
        _ => Failure::error(format!("cannot open {shown}: {e}")),
    })
}

/// The URL without a `?authToken=` or `user:pass@` part, for messages.
fn redacted(url: &str) -> String {
    let without_query = url.split('?').next().unwrap_or(url);
    match without_query.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://***@{host}"),
            None => without_query.to_string(),
        },
        None => without_query.to_string(),
    }
}

async fn open_local(path: &Path, access: Access) -> Result<RedbBackend, Failure> {
    let shown = path.display();
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if access != Access::Create {
                return Err(Failure::error(format!(
                    "no store at {shown} (nothing was created; `put` or `load` create one)"
                )));
            }
        }
        Err(e) => return Err(Failure::error(format!("cannot read {shown}: {e}"))),
        Ok(meta) if meta.is_dir() => {
            return Err(Failure::error(format!(
                "{shown} is a directory, not a store file"
            )));
        }
        Ok(_) => {}
    }
    RedbBackend::builder(path)
        .open()
        .await
        .map_err(|e| match e.kind() {
            ErrorKind::Unavailable => locked(&shown),
            ErrorKind::Corrupted => Failure::error(format!(
                "{shown} is damaged or not a Strata store: {}",
                e.message()
            )),
            _ if format!("{e:?}").contains("magic number") => {
                Failure::error(format!("{shown} is not a Strata store (not a redb file)"))
            }
            _ => Failure::error(format!("cannot open {shown}: {e}")),
        })
}
