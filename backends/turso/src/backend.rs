//! `TursoBackend`: the store in a remote libSQL database (Turso, or a `sqld` server).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use libsql::params::Params;
use libsql::{Connection, Database, Value};
use strata::validate::{check_batch, check_key, check_keyspace_name, check_put};
use strata::{
    BatchOp, Capabilities, DEFAULT_KEYSPACE, Error, ErrorKind, KeyRange, Operation, Result,
    StorageBackend, WriteBatch,
};
use tokio::sync::Mutex;

use crate::config::{TursoBuilder, TursoConfig};
use crate::connector::CountingConnector;
use crate::error::{from_libsql, timeout};
use crate::hlc::Hlc;
use crate::pipeline::{Arg, PipelineReader};
use crate::resilience::Breaker;
use crate::sql;

/// Rows per upsert statement: 5 parameters each, under SQLite's 32,766-parameter limit.
const UPSERT_ROWS_PER_STATEMENT: usize = 6_000;
/// Keys per `IN (…)` list.
const KEYS_PER_STATEMENT: usize = 30_000;

/// A key-value store in a remote libSQL database. Writes carry hybrid-logical-clock versions
/// and resolve last-writer-wins on the server; deletes leave tombstones, so the table is
/// ready for offline sync.
///
/// Every call has a deadline, transient failures are retried with jittered backoff, and a
/// circuit breaker makes calls fail in microseconds while the server is down. The auth
/// token never appears in `Debug` output.
#[derive(Clone)]
pub struct TursoBackend {
    keyspace: Arc<str>,
    shared: Arc<Shared>,
}

struct Shared {
    config: TursoConfig,
    db: Database,
    pool: Vec<Mutex<Connection>>,
    next: AtomicUsize,
    hlc: Hlc,
    breaker: Breaker,
    caps: Capabilities,
    connects: Arc<AtomicU64>,
    /// Reads over the pipeline endpoint (plain-HTTP servers); `None` reads through libsql.
    reader: Option<PipelineReader>,
}

impl TursoBackend {
    /// A builder for the database at `url`.
    pub fn builder(url: impl Into<String>) -> TursoBuilder {
        TursoBuilder::new(url)
    }

    /// A builder from `TURSO_DATABASE_URL` and `TURSO_AUTH_TOKEN`.
    pub fn from_env() -> Result<TursoBuilder> {
        TursoBuilder::from_env()
    }

    pub(crate) async fn open_with(config: TursoConfig) -> Result<Self> {
        if config.pool_size == 0 || config.resilience.max_attempts == 0 {
            return Err(Error::invalid_input(
                Operation::Open,
                "pool_size and max_attempts must be positive",
            )
            .with_context("backend", "turso"));
        }
        let url = config.url.replacen("libsql://", "https://", 1);
        let connects = Arc::new(AtomicU64::new(0));
        let mut builder =
            libsql::Builder::new_remote(url.clone(), config.auth_token.expose().to_string());
        let mut reader = None;
        if url.starts_with("http://") {
            builder = builder.connector(CountingConnector::new(connects.clone()));
            let connector = CountingConnector::new(connects.clone());
            reader = Some(PipelineReader::new(
                &url,
                config.auth_token.clone(),
                connector,
                config.pool_size,
            ));
        }
        let db = builder
            .build()
            .await
            .map_err(|e| from_libsql(Operation::Open, e))?;
        let mut pool = Vec::with_capacity(config.pool_size);
        for _ in 0..config.pool_size {
            pool.push(Mutex::new(
                db.connect().map_err(|e| from_libsql(Operation::Open, e))?,
            ));
        }
        let caps = Capabilities {
            max_key_size: config.max_key_size,
            max_value_size: config.max_value_size,
            persistent: true,
            crash_durable: true,
            ..Capabilities::default()
        };
        let node = config.node_id.unwrap_or_else(rand::random);
        let shared = Shared {
            breaker: Breaker::new(
                config.resilience.breaker_threshold,
                config.resilience.breaker_cooldown,
            ),
            hlc: Hlc::new(node),
            db,
            pool,
            next: AtomicUsize::new(0),
            caps,
            connects,
            reader,
            config,
        };
        let backend = TursoBackend {
            keyspace: Arc::from(DEFAULT_KEYSPACE),
            shared: Arc::new(shared),
        };
        let schema = backend
            .call(Operation::Open, |conn| async move {
                conn.execute_batch(sql::SCHEMA).await.map(|_| ())
            })
            .await;
        match schema {
            Ok(()) => {}
            // A read-only token cannot create the schema; it can still read an existing one.
            Err(e) if e.kind() == ErrorKind::Forbidden => {
                tracing::debug!("turso: schema not created (read-only token)");
            }
            Err(e) => return Err(e),
        }
        Ok(backend)
    }

    /// TCP connections opened so far (counted for `http://` URLs; 0 for TLS ones).
    pub fn tcp_connects(&self) -> u64 {
        self.shared.connects.load(Ordering::Relaxed)
    }

    /// Whether the circuit breaker is currently failing calls fast.
    pub fn is_circuit_open(&self) -> bool {
        self.shared.breaker.is_open()
    }

    /// The configuration (token redacted in `Debug`).
    pub fn config(&self) -> &TursoConfig {
        &self.shared.config
    }

    /// Runs `f` on a pooled connection with the deadline, retries and breaker.
    async fn call<T, F, Fut>(&self, op: Operation, f: F) -> Result<T>
    where
        F: Fn(Connection) -> Fut,
        Fut: Future<Output = libsql::Result<T>>,
    {
        self.resilient(op, || async {
            let slot = self.shared.next.fetch_add(1, Ordering::Relaxed) % self.shared.pool.len();
            let mut pooled = Refresh {
                conn: self.shared.pool[slot].lock().await,
                db: &self.shared.db,
                armed: true,
            };
            let result = f(pooled.conn.clone()).await.map_err(|e| from_libsql(op, e));
            pooled.armed = result.as_ref().is_err_and(Error::is_transient);
            result
        })
        .await
    }

    /// Runs a read statement: over the pipeline endpoint when available, else via libsql.
    async fn read_rows(
        &self,
        op: Operation,
        statement: &str,
        args: Vec<Arg>,
    ) -> Result<Vec<Vec<Option<Bytes>>>> {
        if let Some(reader) = &self.shared.reader {
            return self
                .resilient(op, || reader.rows(op, statement, &args))
                .await;
        }
        let params: Arc<Vec<Value>> = Arc::new(
            args.iter()
                .map(|a| match a {
                    Arg::Text(t) => Value::Text(t.to_string()),
                    Arg::Blob(b) => Value::Blob(b.to_vec()),
                    Arg::Integer(i) => Value::Integer(*i),
                })
                .collect(),
        );
        self.call(op, |conn| {
            let params = params.clone();
            async move {
                let mut rows = conn
                    .query(statement, Params::Positional(params.to_vec()))
                    .await?;
                let mut out = Vec::new();
                while let Some(row) = rows.next().await? {
                    let mut cells = Vec::with_capacity(2);
                    for i in 0..row.column_count() {
                        cells.push(blob(row.get_value(i)?));
                    }
                    out.push(cells);
                }
                Ok(out)
            }
        })
        .await
    }

    /// The deadline, retries with jittered backoff, and the breaker around one attempt `f`.
    async fn resilient<T, F, Fut>(&self, op: Operation, f: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let r = &self.shared.config.resilience;
        let mut attempt = 1;
        loop {
            let permit = self.shared.breaker.admit(op)?;
            let err = match tokio::time::timeout(r.timeout, f()).await {
                Ok(Ok(value)) => {
                    permit.success();
                    return Ok(value);
                }
                Ok(Err(e)) => e,
                Err(_) => timeout(op, r.timeout),
            };
            permit.failure(err.is_transient());
            if !err.is_transient() || attempt >= r.max_attempts {
                return Err(err.with_context("attempts", attempt));
            }
            tokio::time::sleep(r.backoff(attempt)).await;
            attempt += 1;
        }
    }

    fn ks(&self) -> Value {
        Value::Text(self.keyspace.to_string())
    }

    fn ks_arg(&self) -> Arg {
        Arg::Text(self.keyspace.clone())
    }

    /// Upserts `ops` (puts and tombstones) atomically: one statement when it fits, else one
    /// transaction of several.
    async fn upsert(&self, op: Operation, ops: Vec<BatchOp>) -> Result<()> {
        let base = self.shared.hlc.reserve(ops.len());
        let mut rows: Vec<Value> = Vec::with_capacity(ops.len() * 5);
        for (i, batch_op) in ops.into_iter().enumerate() {
            let version = Value::Integer(self.shared.hlc.version_at(base, i));
            let (key, value, deleted) = match batch_op {
                BatchOp::Put { key, value } => (key, Value::Blob(value.to_vec()), 0),
                BatchOp::Delete { key } => (key, Value::Null, 1),
            };
            rows.extend([
                self.ks(),
                Value::Blob(key.to_vec()),
                value,
                version,
                Value::Integer(deleted),
            ]);
        }
        let rows = Arc::new(rows);
        let row_count = rows.len() / 5;
        if row_count <= UPSERT_ROWS_PER_STATEMENT {
            let statement = Arc::new(sql::upsert(row_count));
            return self
                .call(op, |conn| {
                    let (statement, rows) = (statement.clone(), rows.clone());
                    async move {
                        conn.execute(&statement, Params::Positional(rows.to_vec()))
                            .await
                            .map(|_| ())
                    }
                })
                .await;
        }
        self.call(op, |conn| {
            let rows = rows.clone();
            async move {
                let tx = conn.transaction().await?;
                for chunk in rows.chunks(UPSERT_ROWS_PER_STATEMENT * 5) {
                    tx.execute(
                        &sql::upsert(chunk.len() / 5),
                        Params::Positional(chunk.to_vec()),
                    )
                    .await?;
                }
                tx.commit().await
            }
        })
        .await
    }
}

/// A pooled connection that is replaced by a fresh one when dropped armed: after a transient
/// failure, or when the attempt was cancelled mid-statement (the deadline, or the caller
/// dropping the call), its stream may be half-used. On `Drop`, so cancellation cannot skip it.
struct Refresh<'a> {
    conn: tokio::sync::MutexGuard<'a, Connection>,
    db: &'a Database,
    armed: bool,
}

impl Drop for Refresh<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Ok(fresh) = self.db.connect() {
            *self.conn = fresh;
        }
    }
}

fn blob(value: Value) -> Option<Bytes> {
    match value {
        Value::Blob(b) => Some(Bytes::from(b)),
        Value::Text(t) => Some(Bytes::from(t.into_bytes())),
        _ => None,
    }
}

impl fmt::Debug for TursoBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TursoBackend")
            .field("url", &self.shared.config.url)
            .field("auth_token", &self.shared.config.auth_token)
            .field("keyspace", &self.keyspace)
            .field("pool_size", &self.shared.pool.len())
            .finish()
    }
}

impl StorageBackend for TursoBackend {
    fn capabilities(&self) -> Capabilities {
        self.shared.caps
    }

    fn keyspace(&self, name: &str) -> Result<Self> {
        check_keyspace_name(name)?;
        Ok(TursoBackend {
            keyspace: Arc::from(name),
            shared: self.shared.clone(),
        })
    }

    async fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        check_key(&self.shared.caps, Operation::Get, key)?;
        let args = vec![self.ks_arg(), Arg::Blob(Bytes::copy_from_slice(key))];
        let rows = self.read_rows(Operation::Get, sql::GET, args).await?;
        Ok(rows
            .into_iter()
            .next()
            .and_then(|mut row| row.pop().flatten()))
    }

    async fn get_many(&self, keys: &[Bytes]) -> Result<Vec<Option<Bytes>>> {
        for key in keys {
            check_key(&self.shared.caps, Operation::GetMany, key)?;
        }
        let mut found: HashMap<Bytes, Bytes> = HashMap::with_capacity(keys.len());
        for chunk in keys.chunks(KEYS_PER_STATEMENT) {
            let mut args = Vec::with_capacity(chunk.len() + 1);
            args.push(self.ks_arg());
            args.extend(chunk.iter().map(|k| Arg::Blob(k.clone())));
            let statement = sql::get_many(chunk.len());
            for row in self.read_rows(Operation::GetMany, &statement, args).await? {
                let mut cells = row.into_iter();
                if let (Some(Some(k)), Some(Some(v))) = (cells.next(), cells.next()) {
                    found.insert(k, v);
                }
            }
        }
        Ok(keys.iter().map(|k| found.get(k).cloned()).collect())
    }

    async fn put(&self, key: Bytes, value: Bytes) -> Result<()> {
        check_put(&self.shared.caps, Operation::Put, &key, &value)?;
        self.upsert(Operation::Put, vec![BatchOp::Put { key, value }])
            .await
    }

    async fn delete(&self, key: &[u8]) -> Result<bool> {
        check_key(&self.shared.caps, Operation::Delete, key)?;
        let base = self.shared.hlc.reserve(1);
        let params = Arc::new(vec![
            self.ks(),
            Value::Blob(key.to_vec()),
            Value::Integer(self.shared.hlc.version_at(base, 0)),
        ]);
        let changed = self
            .call(Operation::Delete, |conn| {
                let params = params.clone();
                async move {
                    conn.execute(sql::DELETE, Params::Positional(params.to_vec()))
                        .await
                }
            })
            .await?;
        Ok(changed > 0)
    }

    async fn write_batch(&self, batch: WriteBatch) -> Result<()> {
        check_batch(&self.shared.caps, &batch)?;
        if batch.is_empty() {
            return Ok(());
        }
        self.upsert(Operation::WriteBatch, batch.into_ops()).await
    }

    async fn scan(&self, range: KeyRange, limit: Option<usize>) -> Result<Vec<(Bytes, Bytes)>> {
        let limit = limit.map_or(-1, |l| l.min(i64::MAX as usize) as i64);
        if range.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let mut args = vec![self.ks_arg(), Arg::Integer(limit)];
        let bound = |b: &[u8]| Arg::Blob(Bytes::copy_from_slice(b));
        let statement = match range.as_bounds() {
            (Bound::Unbounded, Bound::Unbounded) => sql::SCAN_ALL,
            (Bound::Included(s), Bound::Unbounded) => {
                args.push(bound(s));
                sql::SCAN_FROM_INCL
            }
            (Bound::Excluded(s), Bound::Unbounded) => {
                args.push(bound(s));
                sql::SCAN_FROM_EXCL
            }
            (Bound::Unbounded, Bound::Included(e)) => {
                args.push(bound(e));
                sql::SCAN_TO_INCL
            }
            (Bound::Unbounded, Bound::Excluded(e)) => {
                args.push(bound(e));
                sql::SCAN_TO_EXCL
            }
            (start, end) => {
                let (s_excl, s) = match start {
                    Bound::Included(s) => (0, s),
                    Bound::Excluded(s) => (1, s),
                    Bound::Unbounded => unreachable!("handled above"),
                };
                let (e_excl, e) = match end {
                    Bound::Included(e) => (0, e),
                    Bound::Excluded(e) => (1, e),
                    Bound::Unbounded => unreachable!("handled above"),
                };
                args.push(bound(s));
                args.push(bound(e));
                sql::SCAN_BETWEEN[s_excl][e_excl]
            }
        };
        let rows = self.read_rows(Operation::Scan, statement, args).await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let mut cells = row.into_iter();
                match (cells.next(), cells.next()) {
                    (Some(Some(k)), Some(Some(v))) => Some((k, v)),
                    _ => None,
                }
            })
            .collect())
    }

    async fn flush(&self) -> Result<()> {
        // Every acknowledged write was committed by the server.
        Ok(())
    }
}
