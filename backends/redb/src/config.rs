//! Configuration of a redb store and the builder that opens it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use strata::{DEFAULT_MAX_KEY_SIZE, DEFAULT_MAX_VALUE_SIZE, Error, Operation, Result, SyncMode};

use crate::RedbBackend;

/// Default ceiling of redb's page cache, in bytes: redb's own default (1 GiB). The cache
/// grows with the pages read, so a small store never reaches it. (It was 64 MiB: on a
/// 570 MB store, random reads then ran 3× slower than raw redb's, mostly re-reading pages.)
pub const DEFAULT_CACHE_SIZE: usize = 1024 * 1024 * 1024;
/// Default largest number of callers' writes gathered into one transaction.
pub const DEFAULT_MAX_GROUP_SIZE: usize = 512;
/// Default time the writer thread spins for more work before sleeping.
pub const DEFAULT_WRITER_SPIN: Duration = Duration::from_micros(50);

/// Default active wait of a lone writer for a commit that does not fsync.
pub const DEFAULT_CALLER_SPIN: Duration = Duration::from_micros(50);

/// Default number of reader threads.
pub const DEFAULT_READER_THREADS: usize = 2;

/// Default time a reader thread spins for the next read before parking.
pub const DEFAULT_READER_SPIN: Duration = Duration::from_micros(50);

/// Default longest wait for more writers to join a group about to be fsynced.
pub const DEFAULT_GROUP_WAIT: Duration = Duration::from_micros(200);

/// Settings of a redb store. Build one with [`RedbBackend::builder`].
///
/// With the `serde` feature it deserializes (every field but `path` may be left out and
/// takes its default), for settings read from a file: `RedbBuilder::from_config(config)`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct RedbConfig {
    /// The database file; created if missing.
    pub path: PathBuf,
    /// redb's page cache, in bytes. Default: [`DEFAULT_CACHE_SIZE`].
    pub cache_size: usize,
    /// When acknowledged writes reach the disk. Default: [`SyncMode::Full`].
    pub sync_mode: SyncMode,
    /// Most callers' writes committed in one transaction (group commit). Default:
    /// [`DEFAULT_MAX_GROUP_SIZE`].
    pub max_group_size: usize,
    /// How long the writer spins for the next write before sleeping; trades a little CPU for
    /// lower latency of back-to-back writes. Default: [`DEFAULT_WRITER_SPIN`].
    pub writer_spin: Duration,
    /// How long a caller waits actively for its answer before parking: a read, or a write in
    /// the modes whose commits do not fsync every time (not `Full`). Parking and waking a
    /// thread costs more than such a read or commit. A caller alone on the store spins,
    /// holding its thread for at most this long; a read with others in flight yields to the
    /// runtime between checks instead; a write with others in flight parks at once. Default:
    /// [`DEFAULT_CALLER_SPIN`]; zero never spins; at most 10 ms.
    pub caller_spin: Duration,
    /// Threads serving reads, each keeping a read transaction and its open tables until the
    /// next commit (so reads skip the blocking pool and the per-read transaction). Default:
    /// [`DEFAULT_READER_THREADS`]; at least 1.
    pub reader_threads: usize,
    /// How long an idle reader thread spins for the next read before parking. Default:
    /// [`DEFAULT_READER_SPIN`]; zero parks at once.
    pub reader_spin: Duration,
    /// Longest wait, before an fsync, for the writers of the previous group to join this one.
    /// Only happens when the previous group was larger than what is queued, so a lone writer
    /// never waits. Default: [`DEFAULT_GROUP_WAIT`].
    pub group_wait: Duration,
    /// Largest key accepted, in bytes. Default: [`DEFAULT_MAX_KEY_SIZE`].
    pub max_key_size: usize,
    /// Largest value accepted, in bytes. Default: [`DEFAULT_MAX_VALUE_SIZE`].
    pub max_value_size: usize,
    /// Whether a zero-length file at `path` may become a new store. Default `false`: an empty
    /// file is more often a store that was lost or truncated than one never written, so it is
    /// refused as `Corrupted` unless the caller says it expects one (a file it created itself,
    /// with `tempfile` say).
    pub create_over_empty_file: bool,
    /// Whether `open` checks every page's checksum (redb's `check_integrity`) before serving:
    /// finds damage that no read would meet until it is too late — redb's own close walking a
    /// damaged freed-page list can panic twice and abort the process — at the cost of reading
    /// the whole file once per open. Damage it can repair is repaired (to the last durable
    /// commit before it); damage it cannot is `Corrupted` at `open`. Default `false`.
    pub verify_on_open: bool,
    /// Whether a store created by this open stores a CRC-32 with every value (so a flipped
    /// bit reads as `Corrupted`, never as data). Default `true`. Turn it off only when the
    /// values already carry their own check — a `strata_codecs::Compressed` envelope does —
    /// or to measure what checksums cost. An existing store keeps the format it was created
    /// with, whatever this says.
    pub checksums: bool,
    /// Lets other processes open the file read-only while this store has it open (redb's
    /// `SingleWriter` concurrency mode; Linux, macOS and Windows), so `strata info`, `dump`,
    /// `verify` and `backup` work on a running application's store. Default `false`: redb's
    /// exclusive lock, which refuses every other process. Needs [`SyncMode::Full`]: redb
    /// shares only durable commits (another mode is `InvalidInput` at open).
    pub shared_reads: bool,
}

impl Default for RedbConfig {
    /// Every default, with an empty path: set `path` before opening (`validate` refuses none).
    fn default() -> Self {
        Self::empty()
    }
}

impl RedbConfig {
    /// Every default, with no path yet (set one before opening).
    fn empty() -> Self {
        Self::new(PathBuf::new())
    }

    /// Defaults for a file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        RedbConfig {
            path: path.into(),
            cache_size: DEFAULT_CACHE_SIZE,
            sync_mode: SyncMode::Full,
            max_group_size: DEFAULT_MAX_GROUP_SIZE,
            writer_spin: DEFAULT_WRITER_SPIN,
            group_wait: DEFAULT_GROUP_WAIT,
            caller_spin: DEFAULT_CALLER_SPIN,
            reader_threads: DEFAULT_READER_THREADS,
            reader_spin: DEFAULT_READER_SPIN,
            max_key_size: DEFAULT_MAX_KEY_SIZE,
            max_value_size: DEFAULT_MAX_VALUE_SIZE,
            create_over_empty_file: false,
            verify_on_open: false,
            checksums: true,
            shared_reads: false,
        }
    }

    /// Checks the settings, naming the first bad one.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: &str| {
            Err(Error::invalid_input(Operation::Open, msg).with_context("backend", "redb"))
        };
        if let SyncMode::Normal { every: 0, .. } = self.sync_mode {
            return bad("SyncMode::Normal needs every >= 1");
        }
        if let SyncMode::Normal {
            interval: Some(i), ..
        } = self.sync_mode
            && i.is_zero()
        {
            return bad("SyncMode::Normal interval must be positive");
        }
        if self.path.as_os_str().is_empty() {
            return bad("the store needs a path");
        }
        // redb refuses non-durable commits on a file shared with other processes.
        if self.shared_reads && self.sync_mode != SyncMode::Full {
            return bad("shared_reads needs SyncMode::Full (redb shares only durable commits)");
        }
        if self.reader_threads == 0 || self.reader_threads > 64 {
            return bad("reader_threads must be between 1 and 64");
        }
        if self.max_group_size == 0 {
            return bad("max_group_size must be at least 1");
        }
        // A spin holds a thread (a runtime worker, for callers): beyond a few milliseconds
        // parking is always cheaper, and `Duration::MAX` would overflow the deadline.
        let most = Duration::from_millis(10);
        if self.caller_spin > most || self.reader_spin > most || self.writer_spin > most {
            return bad("caller_spin, reader_spin and writer_spin must be at most 10 ms");
        }
        // redb refuses values over 3 GiB; keep well under it.
        if self.max_value_size > (1 << 31) {
            return bad("max_value_size must be at most 2 GiB");
        }
        if self.max_key_size == 0 || self.max_key_size > (1 << 20) {
            return bad("max_key_size must be between 1 byte and 1 MiB");
        }
        Ok(())
    }
}

/// Builds and opens a [`RedbBackend`]; every setter's default is in [`RedbConfig`].
#[derive(Debug)]
#[must_use]
pub struct RedbBuilder {
    config: RedbConfig,
    storage: Option<Box<dyn redb::StorageBackend>>,
}

impl RedbBuilder {
    pub(crate) fn new(path: impl Into<PathBuf>) -> Self {
        RedbBuilder {
            config: RedbConfig::new(path),
            storage: None,
        }
    }

    /// Starts from a complete configuration.
    pub fn from_config(config: RedbConfig) -> Self {
        RedbBuilder {
            config,
            storage: None,
        }
    }

    /// Stores the database in `storage` instead of the file at the path (for example
    /// `redb::backends::InMemoryBackend`, or a wrapper that injects I/O faults or observes
    /// which thread does I/O). The path is then only a label. A custom storage gets no
    /// cross-process file lock.
    pub fn storage_backend(mut self, storage: impl redb::StorageBackend) -> Self {
        self.storage = Some(Box::new(storage));
        self
    }

    /// Sets the durability mode (default [`SyncMode::Full`]).
    pub fn sync_mode(mut self, mode: SyncMode) -> Self {
        self.config.sync_mode = mode;
        self
    }

    /// Sets the ceiling of redb's page cache in bytes (default [`DEFAULT_CACHE_SIZE`], 1 GiB).
    pub fn cache_size(mut self, bytes: usize) -> Self {
        self.config.cache_size = bytes;
        self
    }

    /// Sets the most writes gathered into one transaction (default 512).
    pub fn max_group_size(mut self, n: usize) -> Self {
        self.config.max_group_size = n;
        self
    }

    /// Sets how long the writer spins before sleeping (default 50 µs; zero never spins).
    pub fn writer_spin(mut self, spin: Duration) -> Self {
        self.config.writer_spin = spin;
        self
    }

    /// Sets the longest wait for more writers before an fsync (default 200 µs; zero never waits).
    pub fn group_wait(mut self, wait: Duration) -> Self {
        self.config.group_wait = wait;
        self
    }

    /// Sets how long a lone caller waits actively for a read or a non-fsync commit (default
    /// 50 µs; zero never spins).
    pub fn caller_spin(mut self, spin: Duration) -> Self {
        self.config.caller_spin = spin;
        self
    }

    /// Sets the number of reader threads (default 2; see [`RedbConfig::reader_threads`]).
    pub fn reader_threads(mut self, n: usize) -> Self {
        self.config.reader_threads = n;
        self
    }

    /// Sets how long an idle reader thread spins before parking (default 50 µs; zero parks
    /// at once).
    pub fn reader_spin(mut self, spin: Duration) -> Self {
        self.config.reader_spin = spin;
        self
    }

    /// Sets the largest key accepted (default 4 KiB).
    pub fn max_key_size(mut self, bytes: usize) -> Self {
        self.config.max_key_size = bytes;
        self
    }

    /// Sets the largest value accepted (default 16 MiB).
    pub fn max_value_size(mut self, bytes: usize) -> Self {
        self.config.max_value_size = bytes;
        self
    }

    /// Lets a zero-length file become a new store (see
    /// [`RedbConfig::create_over_empty_file`]); a missing file is always created. Default
    /// `false`.
    pub fn create_over_empty_file(mut self, yes: bool) -> Self {
        self.config.create_over_empty_file = yes;
        self
    }

    /// Checks every page at open (see [`RedbConfig::verify_on_open`]). Default `false`.
    pub fn verify_on_open(mut self, yes: bool) -> Self {
        self.config.verify_on_open = yes;
        self
    }

    /// Whether a new store checksums its values (see [`RedbConfig::checksums`]). Default
    /// `true`.
    pub fn checksums(mut self, yes: bool) -> Self {
        self.config.checksums = yes;
        self
    }

    /// Lets other processes read the file while this store has it open (see
    /// [`RedbConfig::shared_reads`]). Default `false`.
    pub fn shared_reads(mut self, yes: bool) -> Self {
        self.config.shared_reads = yes;
        self
    }

    /// The configuration so far.
    pub fn config(&self) -> &RedbConfig {
        &self.config
    }

    /// Opens (or creates) the store, doing the file work off the async runtime.
    pub async fn open(self) -> Result<RedbBackend> {
        crate::blocking::run(Operation::Open, move || {
            RedbBackend::open_with(self.config, self.storage)
        })
        .await?
    }

    /// Opens (or creates) the store on the calling thread. Do not call from an async task.
    pub fn open_blocking(self) -> Result<RedbBackend> {
        crate::blocking::catch(Operation::Open, move || {
            RedbBackend::open_with(self.config, self.storage)
        })?
    }

    /// The database path.
    pub fn path(&self) -> &Path {
        &self.config.path
    }
}
