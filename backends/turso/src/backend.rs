//! `TursoBackend`: the store in a remote libSQL database (Turso, or a `sqld` server).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use libsql::params::Params;
use libsql::{Connection, Database, Value};
use strata::validate::{check_batch, check_key, check_keyspace_name, check_put};
use strata::{
    BatchOp, Capabilities, DEFAULT_KEYSPACE, Error, ErrorKind, KeyRange, Operation, Result,
    StorageBackend, WriteBatch,
};
use tokio::sync::Mutex;

use crate::clock_file::ClockFile;
use crate::config::{TursoBuilder, TursoConfig};
use crate::connector::CountingConnector;
use crate::error::{from_libsql, maybe_sent, never_sent, timeout};
use crate::hlc::{Hlc, SystemClock, WallClock};
use crate::pipeline::{Arg, PipelineReader, integer_cell, response_too_large};
use crate::request_size::{split_by_size, split_rows, wire_bytes};
use crate::resilience::Breaker;
use crate::sql;

/// Rows per upsert statement: 6 parameters each, under SQLite's 32,766-parameter limit.
const UPSERT_ROWS_PER_STATEMENT: usize = 5_000;
/// Deadline of the format check at open, which may migrate the whole table.
const MIGRATION_DEADLINE: Duration = Duration::from_secs(600);
/// Most rows in a scan's first page once its whole answer proved over the response limit.
const SCAN_FIRST_PAGE: usize = 1_024;
/// Bytes of answer a page aims under: sqld refuses answers over 10 MB by default.
const RESPONSE_BUDGET: usize = 8_000_000;
/// Keys per `IN (…)` list.
const KEYS_PER_STATEMENT: usize = 30_000;

/// A key-value store in a remote libSQL database. The server arbitrates every write (its
/// version is `max(hybrid logical clock, stored + 1)`, so an acknowledged write is what later
/// reads see whatever the clocks say); deletes leave tombstones, so the table is ready for
/// offline sync.
///
/// Every call has a deadline, transient failures are retried with jittered backoff, and a
/// circuit breaker makes calls fail in microseconds while the server is down. The auth
/// token never appears in `Debug` output.
#[derive(Clone)]
pub struct TursoBackend {
    pub(crate) keyspace: Arc<str>,
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    config: TursoConfig,
    db: Database,
    pool: Vec<Mutex<Connection>>,
    next: AtomicUsize,
    pub(crate) hlc: Hlc,
    breaker: Breaker,
    pub(crate) caps: Capabilities,
    connects: Arc<AtomicU64>,
    /// Reads, and single writes, over the pipeline endpoint.
    reader: PipelineReader,
    /// Set once the schema is known to be in place (at open, or at the first call when
    /// connecting lazily).
    schema: tokio::sync::OnceCell<()>,
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

    pub(crate) async fn open_with(
        config: TursoConfig,
        wall_clock: Option<Arc<dyn WallClock>>,
    ) -> Result<Self> {
        if config.pool_size == 0 || config.resilience.max_attempts == 0 {
            return Err(Error::invalid_input(
                Operation::Open,
                "pool_size and max_attempts must be positive",
            )
            .with_context("backend", "turso"));
        }
        // Credentials leave the URL before any library sees it (libsql logs URLs).
        let endpoint = crate::endpoint::normalize(&config.url, &config.auth_token)?;
        let connects = Arc::new(AtomicU64::new(0));
        // One connector for libsql's requests and the pipeline reader alike: TLS for https
        // (the platform's roots plus the configured CA), connects counted.
        let connector = CountingConnector::with_tls_roots(
            connects.clone(),
            config.ca_certificate_pem.as_deref(),
            endpoint.tls,
        )
        .map_err(|e| {
            Error::invalid_input(Operation::Open, "the CA certificate cannot be used")
                .with_context("backend", "turso")
                .with_source(e)
        })?;
        let builder =
            libsql::Builder::new_remote(endpoint.url.clone(), endpoint.token.expose().to_string())
                .connector(connector.clone());
        let reader = PipelineReader::new(
            &endpoint.url,
            endpoint.token.clone(),
            connector,
            config.pool_size,
        );
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
        let hlc = open_clock(&config, wall_clock)?;
        let shared = Shared {
            breaker: Breaker::new(
                config.resilience.breaker_threshold,
                config.resilience.breaker_cooldown,
            ),
            hlc,
            db,
            pool,
            next: AtomicUsize::new(0),
            caps,
            connects,
            reader,
            config,
            schema: tokio::sync::OnceCell::new(),
        };
        let backend = TursoBackend {
            keyspace: Arc::from(DEFAULT_KEYSPACE),
            shared: Arc::new(shared),
        };
        if !backend.shared.config.connect_lazily {
            backend.ensure_schema().await?;
        }
        Ok(backend)
    }

    /// Creates the schema and settles the table's format, once per backend: at open, or at
    /// the first call when connecting lazily (a failure leaves it for the next call).
    async fn ensure_schema(&self) -> Result<()> {
        if self.shared.config.read_only {
            // Inspect only: never create or migrate; but read the format, once, so a table
            // this code cannot read is refused (and `open` fails fast on a bad URL or token).
            return self
                .shared
                .schema
                .get_or_try_init(|| self.check_format_read_only())
                .await
                .map(|_| ());
        }
        self.shared
            .schema
            .get_or_try_init(|| async {
                let schema = self
                    .call(Operation::Open, |conn| async move {
                        conn.execute_batch(sql::SCHEMA).await.map(|_| ())
                    })
                    .await;
                match schema {
                    Ok(()) => self.settle_format().await,
                    // A read-only token cannot create the schema; it can still read an
                    // existing one.
                    Err(e) if e.kind() == ErrorKind::Forbidden => {
                        tracing::debug!("turso: schema not created (read-only token)");
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            })
            .await
            .map(|_| ())
    }

    /// For a read-only handle: `Ok` if the table is of the format this code reads, or absent
    /// (a database Strata never wrote); an error for a newer format or a format-1 table
    /// (which only a read-write open migrates). Writes nothing.
    async fn check_format_read_only(&self) -> Result<()> {
        let op = Operation::Open;
        let reader = &self.shared.reader;
        let none: Vec<Arg> = Vec::new();
        let refused = |message: String| {
            Err(Error::new(ErrorKind::Unexpected, op, message).with_context("backend", "turso"))
        };
        let format = match self
            .resilient(op, || reader.rows(op, sql::READ_FORMAT, &none))
            .await
        {
            Ok(rows) => rows
                .first()
                .map(|row| integer_cell(op, row.first()))
                .transpose()?,
            Err(e) if e.to_string().contains("no such table") => None,
            Err(e) => return Err(e),
        };
        match format {
            Some(f) if f == sql::FORMAT => Ok(()),
            Some(f) => refused(format!(
                "strata_kv has format {f}; this Strata reads format {}",
                sql::FORMAT
            )),
            None => {
                let rows = self
                    .resilient(op, || reader.rows(op, sql::HAS_TABLE, &none))
                    .await?;
                if integer_cell(op, rows.first().and_then(|row| row.first()))? > 0 {
                    refused(
                        "strata_kv has the old format 1: open it read-write once to migrate it"
                            .to_string(),
                    )
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Records the table's format, migrating a format-1 table (versions with the node packed
    /// in) first: in one immediate transaction, so two devices opening it at once migrate it
    /// once.
    async fn settle_format(&self) -> Result<()> {
        // Re-basing a large table takes longer than a call's deadline (200,000 rows: ~1 s on
        // loopback); cut off mid-way it would only roll back and leave the lock to expire.
        self.call_within(Operation::Open, MIGRATION_DEADLINE, |conn| async move {
            let tx = conn
                .transaction_with_behavior(libsql::TransactionBehavior::Immediate)
                .await?;
            let format = first_integer(tx.query(sql::READ_FORMAT, ()).await?).await?;
            match format {
                Some(_) => {}
                None if first_integer(tx.query(sql::HAS_NODE_COLUMN, ()).await?).await?
                    == Some(0) =>
                {
                    tracing::info!("turso: migrating strata_kv from format 1 to 2");
                    tx.execute_batch(sql::MIGRATE_FROM_1).await?;
                }
                None => {
                    tx.execute(sql::RECORD_FORMAT, ()).await?;
                }
            }
            tx.commit().await?;
            Ok(format)
        })
        .await
        .and_then(|format| match format {
            Some(f) if f > sql::FORMAT => Err(Error::new(
                ErrorKind::Unexpected,
                Operation::Open,
                format!(
                    "strata_kv has format {f}, newer than this Strata reads ({})",
                    sql::FORMAT
                ),
            )
            .with_context("backend", "turso")),
            _ => Ok(()),
        })
    }

    /// The version of `key`'s record in this keyspace (a tombstone's too), as the server
    /// holds it now; `None` if the server has never held the key.
    pub async fn record_version(&self, key: &[u8]) -> Result<Option<RecordVersion>> {
        let op = Operation::Get;
        check_key(&self.shared.caps, op, key)?;
        let args = vec![self.ks_arg(), Arg::Blob(Bytes::copy_from_slice(key))];
        let rows = self.read_rows(op, sql::RECORD, args).await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        Ok(Some(RecordVersion {
            timestamp: u64::try_from(integer_cell(op, row.first())?).unwrap_or(0),
            node: node_from_sql(integer_cell(op, row.get(1))?),
            deleted: integer_cell(op, row.get(2))? != 0,
        }))
    }

    /// Every keyspace the server holds records for, with its live entries, tombstones and
    /// the bytes of its live keys and values: one query, answered by the server.
    pub async fn keyspace_stats(&self) -> Result<Vec<KeyspaceStats>> {
        let op = Operation::Scan;
        let rows = self.read_rows(op, sql::KEYSPACE_STATS, Vec::new()).await?;
        rows.iter()
            .map(|row| {
                let name = row
                    .first()
                    .and_then(|c| c.as_deref())
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default();
                let int =
                    |i: usize| integer_cell(op, row.get(i)).map(|n| u64::try_from(n).unwrap_or(0));
                Ok(KeyspaceStats {
                    name,
                    entries: int(1)?,
                    tombstones: int(2)?,
                    key_bytes: int(3)?,
                    value_bytes: int(4)?,
                })
            })
            .collect()
    }

    /// `InvalidInput` if this backend was opened [`read_only`](TursoConfig::read_only).
    pub(crate) fn refuse_if_read_only(&self, op: Operation) -> Result<()> {
        if self.shared.config.read_only {
            return Err(
                Error::invalid_input(op, "this remote backend was opened read-only")
                    .with_context("backend", "turso"),
            );
        }
        Ok(())
    }

    /// This handle's node id (stored with every record it writes).
    pub fn node_id(&self) -> u64 {
        self.shared.hlc.node()
    }

    /// Versions read from the server that the skew gate clamped (see
    /// [`TursoConfig::max_clock_skew`]).
    pub fn clock_skew_clamps(&self) -> u64 {
        self.shared.hlc.clamped()
    }

    /// TCP connections opened so far, over `http://` and TLS alike.
    pub fn tcp_connects(&self) -> u64 {
        self.shared.connects.load(Ordering::Relaxed)
    }

    /// Reads (and single writes) re-sent on a fresh hrana stream because the pooled one had
    /// failed — most often expired by the server after about 10 s idle. Each was retried
    /// transparently; a steady climb under load means streams are breaking.
    pub fn stream_restarts(&self) -> u64 {
        self.shared.reader.stream_restarts()
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
        self.call_within(op, self.shared.config.resilience.timeout, f)
            .await
    }

    /// [`call`](Self::call) with `deadline` per attempt instead of the configured one.
    async fn call_within<T, F, Fut>(&self, op: Operation, deadline: Duration, f: F) -> Result<T>
    where
        F: Fn(Connection) -> Fut,
        Fut: Future<Output = libsql::Result<T>>,
    {
        self.resilient_within(op, deadline, || async {
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

    /// Runs a statement that returns rows over the pipeline endpoint (one round trip, pooled
    /// connections).
    pub(crate) async fn read_rows(
        &self,
        op: Operation,
        statement: &str,
        args: Vec<Arg>,
    ) -> Result<Vec<Vec<Option<Bytes>>>> {
        self.ensure_schema().await?;
        let reader = &self.shared.reader;
        let rows = self
            .resilient(op, || reader.rows(op, statement, &args))
            .await;
        match rows {
            // Read-only, on a database Strata never wrote: nothing to read.
            Err(e) if self.shared.config.read_only && e.to_string().contains("no such table") => {
                Ok(Vec::new())
            }
            rows => rows,
        }
    }

    /// The deadline, retries with jittered backoff, and the breaker around one attempt `f`.
    async fn resilient<T, F, Fut>(&self, op: Operation, f: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        self.resilient_within(op, self.shared.config.resilience.timeout, f)
            .await
    }

    /// [`resilient`](Self::resilient) with `deadline` per attempt.
    async fn resilient_within<T, F, Fut>(
        &self,
        op: Operation,
        deadline: Duration,
        f: F,
    ) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        use tracing::Instrument;
        let span = tracing::debug_span!(
            "strata.remote",
            op = op.as_str(),
            attempts = tracing::field::Empty,
            error = tracing::field::Empty
        );
        // Recorded when the call ends however it ends: a caller's timeout that drops this
        // future still counts the call (as cancelled) and refreshes the breaker gauge.
        let mut call = CallMetrics::start(op, self);
        let mut refused = false;
        let result = self
            .attempts(op, deadline, f, &mut refused)
            .instrument(span.clone())
            .await;
        call.refused = refused;
        match &result {
            Ok(_) => call.outcome = Some(None),
            Err(e) => {
                span.record("error", tracing::field::display(e));
                call.outcome = Some(Some(e.kind().as_str()));
            }
        }
        result
    }

    /// The attempts of one call (see [`resilient_within`](Self::resilient_within)).
    async fn attempts<T, F, Fut>(
        &self,
        op: Operation,
        deadline: Duration,
        f: F,
        refused: &mut bool,
    ) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let r = &self.shared.config.resilience;
        let mut attempt = 1;
        // Whether an earlier attempt may have reached the server: then the call's error must
        // not claim its request was never sent, whatever the last attempt's says.
        let mut sent_before = false;
        loop {
            let permit = match self.shared.breaker.admit(op) {
                Ok(permit) => permit,
                Err(e) if sent_before => return Err(maybe_sent(e)),
                Err(e) => {
                    // The open breaker refused the call before anything was sent.
                    *refused = attempt == 1;
                    return Err(e);
                }
            };
            let err = match tokio::time::timeout(deadline, f()).await {
                Ok(Ok(value)) => {
                    permit.success();
                    tracing::Span::current().record("attempts", attempt);
                    return Ok(value);
                }
                Ok(Err(e)) => e,
                Err(_) => timeout(op, deadline),
            };
            permit.failure_of(&err);
            let err = if sent_before { maybe_sent(err) } else { err };
            sent_before |= !never_sent(&err);
            if !err.is_transient() || attempt >= r.max_attempts {
                tracing::Span::current().record("attempts", attempt);
                return Err(err.with_context("attempts", attempt));
            }
            metrics::counter!(strata::telemetry::names::REMOTE_RETRIES, "op" => op.as_str())
                .increment(1);
            tracing::debug!(attempt, error = %err, "strata: retrying a remote call");
            tokio::time::sleep(r.backoff(attempt)).await;
            attempt += 1;
        }
    }

    /// Rows of the largest allowed key and value that fit sqld's 10 MB response limit with
    /// room to spare (at least 1, at most [`SCAN_FIRST_PAGE`]).
    fn rows_that_surely_fit(&self) -> usize {
        let row =
            wire_bytes(self.shared.caps.max_key_size) + wire_bytes(self.shared.caps.max_value_size);
        (RESPONSE_BUDGET / row.max(1)).clamp(1, SCAN_FIRST_PAGE)
    }

    /// One scan statement: live pairs in `(start, end)`, in key order, at most `limit`.
    async fn scan_page(
        &self,
        start: Bound<&Bytes>,
        end: Bound<&[u8]>,
        limit: Option<usize>,
    ) -> Result<Vec<(Bytes, Bytes)>> {
        let limit = limit.map_or(-1, |l| l.min(i64::MAX as usize) as i64);
        let mut args = vec![self.ks_arg(), Arg::Integer(limit)];
        let statement = match (start, end) {
            (Bound::Unbounded, Bound::Unbounded) => sql::SCAN_ALL,
            (Bound::Included(s), Bound::Unbounded) => {
                args.push(Arg::Blob(s.clone()));
                sql::SCAN_FROM_INCL
            }
            (Bound::Excluded(s), Bound::Unbounded) => {
                args.push(Arg::Blob(s.clone()));
                sql::SCAN_FROM_EXCL
            }
            (Bound::Unbounded, Bound::Included(e)) => {
                args.push(Arg::Blob(Bytes::copy_from_slice(e)));
                sql::SCAN_TO_INCL
            }
            (Bound::Unbounded, Bound::Excluded(e)) => {
                args.push(Arg::Blob(Bytes::copy_from_slice(e)));
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
                args.push(Arg::Blob(s.clone()));
                args.push(Arg::Blob(Bytes::copy_from_slice(e)));
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

    pub(crate) fn ks_arg(&self) -> Arg {
        Arg::Text(self.keyspace.clone())
    }

    /// Writes `ops` (puts and tombstones) atomically, arbitrated by the server: one statement
    /// when it fits, else one transaction of several. For a single row, returns its stored
    /// `deleted` (for a tombstone: whether it replaced a live value) and moves the clock past
    /// its stored version (the receive rule); a batch returns nothing.
    async fn write_rows(&self, op: Operation, ops: Vec<BatchOp>) -> Result<Vec<i64>> {
        self.refuse_if_read_only(op)?;
        self.ensure_schema().await?;
        let first = self.shared.hlc.reserve(ops.len()).map_err(|e| {
            Error::unexpected(op, "cannot persist the clock's lease").with_source(e)
        })?;
        let node = Arg::Integer(node_to_sql(self.shared.hlc.node()));
        // Arguments share the caller's buffers; only the libsql path copies them.
        let mut args: Vec<Arg> = Vec::with_capacity(ops.len() * sql::UPSERT_PARAMS);
        for (i, batch_op) in ops.into_iter().enumerate() {
            let timestamp = first + i as u64;
            let version = Arg::Integer(i64::try_from(timestamp).unwrap_or(i64::MAX));
            let (key, value, deleted) = match batch_op {
                BatchOp::Put { key, value } => (key, Arg::Blob(value), 0),
                BatchOp::Delete { key } => (key, Arg::Null, sql::TOMBSTONE_OVER_NOTHING),
            };
            args.extend([
                self.ks_arg(),
                Arg::Blob(key),
                value,
                version,
                node.clone(),
                Arg::Integer(deleted),
            ]);
        }
        let stored = match &self.shared.reader {
            // A single row returns what it stored: one round trip over the pipeline endpoint
            // (libsql's `query` would describe the statement first).
            reader if args.len() == sql::UPSERT_PARAMS => {
                let statement = sql::upsert(1);
                let returned = self
                    .resilient(op, || reader.rows(op, &statement, &args))
                    .await?;
                returned
                    .iter()
                    .map(|row| {
                        Ok((
                            integer_cell(op, row.first())?,
                            integer_cell(op, row.get(1))?,
                        ))
                    })
                    .collect::<Result<Vec<_>>>()?
            }
            _ => {
                self.write_rows_libsql(op, Arc::new(args)).await?;
                Vec::new()
            }
        };
        if let Some(max) = stored.iter().map(|(version, _)| *version).max() {
            self.shared.hlc.observe(u64::try_from(max).unwrap_or(0));
        }
        Ok(stored.into_iter().map(|(_, deleted)| deleted).collect())
    }

    /// A batch's rows through libsql's `execute` (nothing returned: one round trip when it
    /// fits one statement), split past [`UPSERT_ROWS_PER_STATEMENT`] rows or about
    /// `max_request_bytes` into statements of one transaction.
    async fn write_rows_libsql(&self, op: Operation, rows: Arc<Vec<Arg>>) -> Result<()> {
        // Statements of at most UPSERT_ROWS_PER_STATEMENT rows and about `max_request_bytes`
        // each (a row larger than that goes alone): sqld and proxies cap request sizes.
        let chunks = Arc::new(split_rows(
            &rows,
            UPSERT_ROWS_PER_STATEMENT,
            self.shared.config.max_request_bytes,
        ));
        // libsql takes owned values, so each attempt copies the values once, as it builds
        // its parameters (the arguments themselves share the caller's buffers).
        self.call(op, |conn| {
            let (chunks, rows) = (chunks.clone(), rows.clone());
            async move {
                let values = |range: &std::ops::Range<usize>| -> Vec<Value> {
                    rows[range.clone()].iter().map(to_value).collect()
                };
                if chunks.len() == 1 {
                    let statement = sql::upsert(rows.len() / sql::UPSERT_PARAMS);
                    conn.execute(&statement, Params::Positional(values(&chunks[0])))
                        .await?;
                } else {
                    let tx = conn.transaction().await?;
                    for range in chunks.iter() {
                        let statement = sql::upsert(range.len() / sql::UPSERT_PARAMS);
                        tx.execute(&statement, Params::Positional(values(range)))
                            .await?;
                    }
                    tx.commit().await?;
                }
                Ok(())
            }
        })
        .await
    }
}

/// A pipeline argument as a libsql value.
fn to_value(arg: &Arg) -> Value {
    match arg {
        Arg::Text(t) => Value::Text(t.to_string()),
        Arg::Blob(b) => Value::Blob(b.to_vec()),
        Arg::Integer(i) => Value::Integer(*i),
        Arg::Null => Value::Null,
    }
}

/// The first column of the first row, if any, as an integer.
async fn first_integer(mut rows: libsql::Rows) -> libsql::Result<Option<i64>> {
    match rows.next().await? {
        Some(row) => Ok(Some(row.get::<i64>(0)?)),
        None => Ok(None),
    }
}

/// A node id as SQLite stores it: the same 64 bits, as a signed integer.
pub(crate) fn node_to_sql(node: u64) -> i64 {
    i64::from_ne_bytes(node.to_ne_bytes())
}

/// A node id as SQLite returns it, back to its 64 bits.
pub(crate) fn node_from_sql(node: i64) -> u64 {
    u64::from_ne_bytes(node.to_ne_bytes())
}

/// The clock for a handle: from the clock file when configured (creating it, or writing an
/// assigned node id to it), else a fresh random 64-bit node id.
fn open_clock(config: &TursoConfig, wall: Option<Arc<dyn WallClock>>) -> Result<Hlc> {
    let wall = wall.unwrap_or_else(|| Arc::new(SystemClock));
    let Some(path) = &config.clock_file else {
        let node = config.node_id.unwrap_or_else(rand::random);
        return Ok(Hlc::new(node, wall, config.max_clock_skew, 0));
    };
    let file = match config.node_id {
        Some(node) => ClockFile::with_node(path, node),
        None => ClockFile::open_or_create(path),
    }
    .map_err(|e| {
        let kind = if e.kind() == std::io::ErrorKind::InvalidData {
            ErrorKind::Corrupted
        } else {
            ErrorKind::Unexpected
        };
        Error::new(kind, Operation::Open, "cannot open the clock file")
            .with_context("backend", "turso")
            .with_context("path", path.display())
            .with_source(e)
    })?;
    Ok(Hlc::with_file(wall, config.max_clock_skew, file))
}

/// A record's version as the server holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordVersion {
    /// The hybrid-logical-clock timestamp (see [`crate::hlc`]).
    pub timestamp: u64,
    /// The node that wrote it.
    pub node: u64,
    /// Whether the record is a tombstone.
    pub deleted: bool,
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

impl fmt::Debug for TursoBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TursoBackend")
            .field("url", &self.shared.config.redacted_url())
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
        // At most KEYS_PER_STATEMENT keys and about max_request_bytes of them per request.
        let cap = self.shared.config.max_request_bytes;
        let mut chunks: Vec<&[Bytes]> =
            split_by_size(keys, KEYS_PER_STATEMENT, cap, |k| wire_bytes(k.len()))
                .into_iter()
                .map(|range| &keys[range])
                .collect();
        // A chunk whose answer is over the server's response limit (large values) is halved
        // until it fits; one key always does (values are capped well under the limit).
        while let Some(chunk) = chunks.pop() {
            let mut args = Vec::with_capacity(chunk.len() + 1);
            args.push(self.ks_arg());
            args.extend(chunk.iter().map(|k| Arg::Blob(k.clone())));
            let statement = sql::get_many(chunk.len());
            let rows = match self.read_rows(Operation::GetMany, &statement, args).await {
                Err(e) if response_too_large(&e) && chunk.len() > 1 => {
                    let (a, b) = chunk.split_at(chunk.len() / 2);
                    chunks.extend([a, b]);
                    continue;
                }
                other => other?,
            };
            for row in rows {
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
        self.write_rows(Operation::Put, vec![BatchOp::Put { key, value }])
            .await
            .map(|_| ())
    }

    async fn delete(&self, key: &[u8]) -> Result<bool> {
        check_key(&self.shared.caps, Operation::Delete, key)?;
        let key = Bytes::copy_from_slice(key);
        let deleted = self
            .write_rows(Operation::Delete, vec![BatchOp::Delete { key }])
            .await?;
        Ok(deleted.first() == Some(&sql::TOMBSTONE_OVER_LIVE))
    }

    async fn write_batch(&self, batch: WriteBatch) -> Result<()> {
        check_batch(&self.shared.caps, &batch)?;
        if batch.is_empty() {
            return Ok(());
        }
        self.write_rows(Operation::WriteBatch, batch.into_ops())
            .await
            .map(|_| ())
    }

    async fn scan(&self, range: KeyRange, limit: Option<usize>) -> Result<Vec<(Bytes, Bytes)>> {
        if range.is_empty() || limit == Some(0) {
            return Ok(Vec::new());
        }
        let (start, end) = range.as_bounds();
        let mut start: Bound<Bytes> = start.map(Bytes::copy_from_slice);
        let mut out = Vec::new();
        // One statement when the answer fits the server's response limit. When it does not
        // (large values), pages of halving row counts, each resuming after the last key read:
        // each page is consistent, the whole then no longer one snapshot.
        let mut page: Option<usize> = None;
        // The smallest page that did not fit: pages grow back after a success, never to it.
        let mut ceiling = usize::MAX;
        loop {
            let want = match (limit.map(|l| l - out.len()), page) {
                (Some(left), Some(p)) => Some(left.min(p)),
                (left, p) => left.or(p),
            };
            let rows = match self.scan_page(start.as_ref(), end, want).await {
                Err(e) if response_too_large(&e) && want.is_none_or(|w| w > 1) => {
                    ceiling = ceiling.min(want.unwrap_or(usize::MAX));
                    // First time: as many rows as surely fit if every one were as large as
                    // allowed (not half of whatever limit the caller gave); after that, half
                    // of what did not fit.
                    page = Some(match page {
                        None => want.map_or(self.rows_that_surely_fit(), |w| {
                            (w / 2).min(self.rows_that_surely_fit())
                        }),
                        Some(_) => want.map_or(1, |w| w / 2).max(1),
                    });
                    continue;
                }
                other => other?,
            };
            let full = want.is_some_and(|w| rows.len() == w);
            // A page that fit: the next may be larger (values vary along a range), but stays
            // under the smallest size that did not.
            if let (true, Some(p)) = (full, page)
                && p.saturating_mul(2) < ceiling
            {
                page = Some(p.saturating_mul(2));
            }
            if let Some((last, _)) = rows.last() {
                start = Bound::Excluded(last.clone());
            }
            out.extend(rows);
            if !full || limit.is_some_and(|l| out.len() >= l) || page.is_none() {
                return Ok(out);
            }
        }
    }

    async fn flush(&self) -> Result<()> {
        // Every acknowledged write was committed by the server.
        Ok(())
    }
}

/// One keyspace on the server, from [`TursoBackend::keyspace_stats`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyspaceStats {
    /// The keyspace's name.
    pub name: String,
    /// Live entries.
    pub entries: u64,
    /// Tombstones kept for sync (see the README's "Turso" section).
    pub tombstones: u64,
    /// Bytes of live keys.
    pub key_bytes: u64,
    /// Bytes of live values.
    pub value_bytes: u64,
}

/// Records one remote call's metrics when dropped: its time, its error kind (or
/// `cancelled` when the future was dropped before it ended), and the breaker's state.
struct CallMetrics<'a> {
    op: Operation,
    started: std::time::Instant,
    backend: &'a TursoBackend,
    /// `None` while running; `Some(None)` on success, `Some(Some(kind))` on failure.
    outcome: Option<Option<&'static str>>,
    /// The open breaker refused the call before it was sent.
    refused: bool,
}

impl<'a> CallMetrics<'a> {
    fn start(op: Operation, backend: &'a TursoBackend) -> Self {
        CallMetrics {
            op,
            started: std::time::Instant::now(),
            backend,
            outcome: None,
            refused: false,
        }
    }
}

impl Drop for CallMetrics<'_> {
    fn drop(&mut self) {
        use strata::telemetry::names;
        let op = self.op.as_str();
        let server = self.backend.shared.config.redacted_url();
        let open = self.backend.shared.breaker.is_open();
        let kind = match self.outcome {
            Some(None) => None,
            Some(Some(kind)) => Some(kind),
            None => Some("cancelled"),
        };
        // A call the open breaker refused never reached the server: not a latency sample.
        if !self.refused {
            metrics::histogram!(names::REMOTE_CALL_SECONDS, "op" => op)
                .record(self.started.elapsed().as_secs_f64());
        }
        if let Some(kind) = kind {
            metrics::counter!(names::REMOTE_ERRORS, "op" => op, "kind" => kind).increment(1);
        }
        metrics::gauge!(names::REMOTE_BREAKER_OPEN, "server" => server).set(if open {
            1.0
        } else {
            0.0
        });
    }
}
