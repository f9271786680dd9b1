//! Opening the store a command names: a local redb file, or a remote sqld / Turso database
//! when the name is a URL. Open failures become messages a user can act on.

use std::path::{Path, PathBuf};

use strata::{DynBackend, ErrorKind, IntoDyn, StorageBackend};
use strata_redb::RedbBackend;
use strata_turso::TursoBackend;

use crate::Failure;

/// An open store.
pub enum Store {
    /// A local redb file.
    Local(RedbBackend, PathBuf),
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
pub enum Missing {
    Create,
    Refuse,
}

impl Store {
    /// Opens `name`: a URL opens the remote database (with `token`), anything else the file.
    pub async fn open(name: &str, token: Option<&str>, missing: Missing) -> Result<Store, Failure> {
        if is_url(name) {
            let mut builder = TursoBackend::builder(name);
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
        open_local(&path, missing)
            .await
            .map(|store| Store::Local(store, path))
    }

    /// The local store, or a failure saying `command` needs one.
    pub fn local(&self, command: &str) -> Result<(&RedbBackend, &Path), Failure> {
        match self {
            Store::Local(store, path) => Ok((store, path)),
            Store::Remote(_) => Err(Failure::error(format!(
                "`{command}` works on a local store file, not a remote database"
            ))),
        }
    }

    /// A handle on `keyspace`.
    pub fn keyspace(&self, keyspace: &str) -> Result<DynBackend, Failure> {
        let handle = match self {
            Store::Local(store, _) => store.keyspace(keyspace).map(IntoDyn::into_dyn),
            Store::Remote(remote) => remote.keyspace(keyspace).map(IntoDyn::into_dyn),
        };
        handle.map_err(|e| Failure::error(format!("keyspace {keyspace:?}: {e}")))
    }

    /// Every keyspace's name.
    pub async fn keyspace_names(&self) -> Result<Vec<String>, Failure> {
        match self {
            Store::Local(store, _) => store.keyspaces().await.map_err(Failure::from),
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
            Store::Local(store, _) => store.close().await.map_err(Failure::from),
            Store::Remote(remote) => StorageBackend::close(&remote).await.map_err(Failure::from),
        }
    }
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

async fn open_local(path: &Path, missing: Missing) -> Result<RedbBackend, Failure> {
    let shown = path.display();
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if missing == Missing::Refuse {
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
            ErrorKind::Unavailable => Failure::error(format!(
                "{shown} is open in another process (redb lets one process open a file at a time). \
             Close that process first; for a copy while it runs, call RedbBackend::backup from it"
            )),
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
