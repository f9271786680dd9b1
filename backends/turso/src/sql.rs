//! Every SQL statement the backend runs. All are constants with `?` placeholders: data only
//! ever travels as bound parameters, and the one variable part — the number of placeholders
//! in an `IN (…)` list or a multi-row `VALUES` — is built from the fixed fragments below.
//! `tests/no_sql_from_data.rs` scans this crate's source to keep it that way.

/// The table, with room for offline sync: `version` is the record's hybrid-logical-clock
/// timestamp and `node` the id of the device that wrote it (64 bits, stored as a signed
/// integer; ties break by it), `seq` a
/// server-side change sequence set by a trigger, and `deleted` marks tombstones so deletes
/// replicate too (0: live; 1: a tombstone that replaced a live value in its last write; 2: a
/// tombstone over nothing or over a tombstone). `strata_meta` records the format.
pub(crate) const SCHEMA: &str = "\
CREATE TABLE IF NOT EXISTS strata_kv (
    keyspace TEXT NOT NULL,
    key BLOB NOT NULL,
    value BLOB,
    version INTEGER NOT NULL,
    node INTEGER NOT NULL DEFAULT 0,
    seq INTEGER NOT NULL DEFAULT 0,
    deleted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (keyspace, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS strata_kv_seq ON strata_kv (seq);
CREATE TRIGGER IF NOT EXISTS strata_kv_seq_insert AFTER INSERT ON strata_kv BEGIN
    UPDATE strata_kv SET seq = (SELECT COALESCE(MAX(seq), 0) + 1 FROM strata_kv)
        WHERE keyspace = NEW.keyspace AND key = NEW.key;
END;
CREATE TRIGGER IF NOT EXISTS strata_kv_seq_update AFTER UPDATE OF value, version, deleted ON strata_kv BEGIN
    UPDATE strata_kv SET seq = (SELECT COALESCE(MAX(seq), 0) + 1 FROM strata_kv)
        WHERE keyspace = NEW.keyspace AND key = NEW.key;
END;
CREATE TABLE IF NOT EXISTS strata_meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);";

/// The table format this code writes: 2 = timestamps `ms << 20 | counter` with the node in
/// its own column. Format 1 (no record) packed `((ms << 14 | counter) << 10) | node`.
pub(crate) const FORMAT: i64 = 2;
/// Whether the data table exists (1 or 0).
pub(crate) const HAS_TABLE: &str =
    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'strata_kv'";
pub(crate) const READ_FORMAT: &str = "SELECT value FROM strata_meta WHERE name = 'format'";
pub(crate) const HAS_NODE_COLUMN: &str =
    "SELECT COUNT(*) FROM pragma_table_info('strata_kv') WHERE name = 'node'";
pub(crate) const RECORD_FORMAT: &str =
    "INSERT OR IGNORE INTO strata_meta (name, value) VALUES ('format', 2)";
/// Format 1 to 2: the node moves to its own column and the timestamp is re-based (same ms
/// and counter), so every version keeps its order.
pub(crate) const MIGRATE_FROM_1: &str = "\
ALTER TABLE strata_kv ADD COLUMN node INTEGER NOT NULL DEFAULT 0;
UPDATE strata_kv SET node = version & 1023,
    version = ((version >> 24) << 20) | ((version >> 10) & 16383);
INSERT OR REPLACE INTO strata_meta (name, value) VALUES ('format', 2);";

pub(crate) const GET: &str =
    "SELECT value FROM strata_kv WHERE keyspace = ?1 AND key = ?2 AND deleted = 0";

/// `get_many`: this prefix, then `?` repeated with [`LIST_SEP`], then [`GET_MANY_SUFFIX`].
pub(crate) const GET_MANY_PREFIX: &str =
    "SELECT key, value FROM strata_kv WHERE keyspace = ?1 AND deleted = 0 AND key IN (";
pub(crate) const GET_MANY_SUFFIX: &str = ")";
pub(crate) const LIST_SEP: &str = ", ";
pub(crate) const PLACEHOLDER: &str = "?";

/// Upsert of puts and tombstones: this prefix, then [`UPSERT_ROW`] per row joined by
/// [`LIST_SEP`], then [`UPSERT_SUFFIX`]. The server arbitrates: a row is applied over whatever
/// the table holds at that moment, its version `MAX(client timestamp, stored + 1)` (capped at
/// `i64::MAX`: past it SQLite would store a REAL) — so an
/// acknowledged write is what every later read sees, whatever the clocks say. `RETURNING`
/// hands back the stored version (the receive rule) and, for a tombstone, whether it
/// replaced a live value (`deleted = 1`).
pub(crate) const UPSERT_PREFIX: &str =
    "INSERT INTO strata_kv (keyspace, key, value, version, node, deleted) VALUES ";
pub(crate) const UPSERT_ROW: &str = "(?, ?, ?, ?, ?, ?)";
/// Parameters per [`UPSERT_ROW`].
pub(crate) const UPSERT_PARAMS: usize = 6;
pub(crate) const UPSERT_SUFFIX: &str = " ON CONFLICT (keyspace, key) DO UPDATE SET \
    value = excluded.value, \
    deleted = CASE WHEN excluded.deleted = 0 THEN 0 WHEN strata_kv.deleted = 0 THEN 1 ELSE 2 END, \
    version = MIN(MAX(excluded.version, strata_kv.version + 1), 9223372036854775807), \
    node = excluded.node";
/// Appended to a single-row upsert: the stored version (the receive rule) and, for a
/// tombstone, whether it replaced a live value. Batches skip it (measured: returning 1,000
/// rows costs a batch about half again its time) and learn the server's clock from the next
/// single write.
pub(crate) const RETURNING: &str = " RETURNING version, deleted";
/// `deleted` as bound for a tombstone row (kept when it inserts: nothing was there).
pub(crate) const TOMBSTONE_OVER_NOTHING: i64 = 2;
/// `deleted` returned for a tombstone that replaced a live value.
pub(crate) const TOMBSTONE_OVER_LIVE: i64 = 1;

/// Replayed offline writes (sync push): after [`UPSERT_PREFIX`] and the rows, a row is applied
/// only if its `(version, node)` is newer than the stored one — last writer wins on the
/// hybrid logical clock, so a replay of what is already there changes nothing. `RETURNING`
/// names the keys that were applied.
pub(crate) const PUSH_SUFFIX: &str = " ON CONFLICT (keyspace, key) DO UPDATE SET \
    value = excluded.value, deleted = excluded.deleted, version = excluded.version, \
    node = excluded.node \
    WHERE excluded.version > strata_kv.version \
    OR (excluded.version = strata_kv.version AND excluded.node > strata_kv.node) \
    RETURNING key";

/// The push statement for `rows` rows.
pub(crate) fn push(rows: usize) -> String {
    let mut sql = String::from(UPSERT_PREFIX);
    sql.push_str(&placeholders(rows, UPSERT_ROW));
    sql.push_str(PUSH_SUFFIX);
    sql
}

/// Versions of some keys (sync push, for the rows it did not apply): this prefix, `?` per key
/// joined by [`LIST_SEP`], then [`GET_MANY_SUFFIX`].
pub(crate) const VERSIONS_PREFIX: &str = "SELECT key, version, node FROM strata_kv \
    WHERE keyspace = ?1 AND key IN (";

/// The versions statement for `n` keys.
pub(crate) fn versions(n: usize) -> String {
    let mut sql = String::from(VERSIONS_PREFIX);
    sql.push_str(&placeholders(n, PLACEHOLDER));
    sql.push_str(GET_MANY_SUFFIX);
    sql
}

/// Sync pull: this keyspace's records changed after a cursor, in change order, tombstones
/// included.
pub(crate) const PULL: &str = "SELECT key, value, version, node, deleted, seq FROM strata_kv \
    WHERE keyspace = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3";

/// Tombstone purge (see `sync.rs`): the highest `seq` a purge of this keyspace removed, kept
/// in `strata_meta` under `purged_seq:<keyspace>` (bound as ?1).
pub(crate) const PURGED_THROUGH: &str = "SELECT value FROM strata_meta WHERE name = ?1";
/// Before a purge: raise the purge mark to the highest `seq` it will remove — tombstones of
/// keyspace ?2 whose version is older than the *server's* clock minus ?3 milliseconds (the
/// retention: a device with a fast clock cannot purge a fresh tombstone), at most ?4 of them
/// (a purge goes in bounded steps), never the row holding the table's highest `seq` (the
/// trigger numbers new changes from it, so removing it could hand out a `seq` again). Written
/// first, so a purge cut off half way leaves a mark that is too high (a needless resync),
/// never too low.
pub(crate) const PURGE_MARK: &str = "INSERT INTO strata_meta (name, value) \
    SELECT ?1, COALESCE(MAX(seq), 0) FROM (SELECT seq FROM strata_kv WHERE keyspace = ?2 \
    AND deleted != 0 AND version < ((CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER) \
    - 1704067200000 - ?3) << 20) AND seq < (SELECT MAX(seq) FROM strata_kv) ORDER BY seq LIMIT ?4) \
    WHERE true ON CONFLICT (name) DO UPDATE SET value = MAX(value, excluded.value)";
/// The purge itself: the same tombstones, up to the mark (so the step the mark covers; ?4,
/// the step's size, only keeps the parameters of both statements alike).
pub(crate) const PURGE: &str = "DELETE FROM strata_kv WHERE keyspace = ?2 AND deleted != 0 \
    AND version < ((CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER) \
    - 1704067200000 - ?3) << 20) AND seq < (SELECT MAX(seq) FROM strata_kv) \
    AND seq <= COALESCE((SELECT value FROM strata_meta WHERE name = ?1), 0) AND ?4 > 0 RETURNING 1";
/// The version of one record, live or tombstone.
pub(crate) const RECORD: &str =
    "SELECT version, node, deleted FROM strata_kv WHERE keyspace = ?1 AND key = ?2";

/// Scans: one statement per bound shape, all with a limit.
pub(crate) const SCAN_ALL: &str = "SELECT key, value FROM strata_kv WHERE keyspace = ?1 AND deleted = 0 \
    ORDER BY key LIMIT ?2";
pub(crate) const SCAN_FROM_INCL: &str = "SELECT key, value FROM strata_kv WHERE keyspace = ?1 AND deleted = 0 \
    AND key >= ?3 ORDER BY key LIMIT ?2";
pub(crate) const SCAN_FROM_EXCL: &str = "SELECT key, value FROM strata_kv WHERE keyspace = ?1 AND deleted = 0 \
    AND key > ?3 ORDER BY key LIMIT ?2";
pub(crate) const SCAN_TO_INCL: &str = "SELECT key, value FROM strata_kv WHERE keyspace = ?1 AND deleted = 0 \
    AND key <= ?3 ORDER BY key LIMIT ?2";
pub(crate) const SCAN_TO_EXCL: &str = "SELECT key, value FROM strata_kv WHERE keyspace = ?1 AND deleted = 0 \
    AND key < ?3 ORDER BY key LIMIT ?2";
pub(crate) const SCAN_BETWEEN: [[&str; 2]; 2] = [
    [
        "SELECT key, value FROM strata_kv WHERE keyspace = ?1 AND deleted = 0 AND key >= ?3 AND key <= ?4 ORDER BY key LIMIT ?2",
        "SELECT key, value FROM strata_kv WHERE keyspace = ?1 AND deleted = 0 AND key >= ?3 AND key < ?4 ORDER BY key LIMIT ?2",
    ],
    [
        "SELECT key, value FROM strata_kv WHERE keyspace = ?1 AND deleted = 0 AND key > ?3 AND key <= ?4 ORDER BY key LIMIT ?2",
        "SELECT key, value FROM strata_kv WHERE keyspace = ?1 AND deleted = 0 AND key > ?3 AND key < ?4 ORDER BY key LIMIT ?2",
    ],
];

/// `?, ?, …` with `n` placeholders, from the fixed fragments only.
pub(crate) fn placeholders(n: usize, fragment: &str) -> String {
    let mut out = String::with_capacity(n * (fragment.len() + LIST_SEP.len()));
    for i in 0..n {
        if i > 0 {
            out.push_str(LIST_SEP);
        }
        out.push_str(fragment);
    }
    out
}

/// The `get_many` statement for `n` keys (bound as ?2 … ?n+1 after the keyspace).
pub(crate) fn get_many(n: usize) -> String {
    let mut sql = String::from(GET_MANY_PREFIX);
    sql.push_str(&placeholders(n, PLACEHOLDER));
    sql.push_str(GET_MANY_SUFFIX);
    sql
}

/// The upsert statement for `rows` rows; a single row returns what it stored.
pub(crate) fn upsert(rows: usize) -> String {
    let mut sql = String::from(UPSERT_PREFIX);
    sql.push_str(&placeholders(rows, UPSERT_ROW));
    sql.push_str(UPSERT_SUFFIX);
    if rows == 1 {
        sql.push_str(RETURNING);
    }
    sql
}

/// Per keyspace: live entries, tombstones, live key bytes, live value bytes.
pub(crate) const KEYSPACE_STATS: &str = "SELECT keyspace, \
    COALESCE(SUM(deleted = 0), 0), COALESCE(SUM(deleted != 0), 0), \
    COALESCE(SUM(CASE WHEN deleted = 0 THEN length(key) ELSE 0 END), 0), \
    COALESCE(SUM(CASE WHEN deleted = 0 THEN length(value) ELSE 0 END), 0) \
    FROM strata_kv GROUP BY keyspace ORDER BY keyspace";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_made_of_fixed_fragments() {
        assert_eq!(placeholders(3, PLACEHOLDER), "?, ?, ?");
        assert!(get_many(2).ends_with("key IN (?, ?)"));
        assert!(upsert(2).contains("VALUES (?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?) ON CONFLICT"));
    }
}
