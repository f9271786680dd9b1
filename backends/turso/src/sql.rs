//! Every SQL statement the backend runs. All are constants with `?` placeholders: data only
//! ever travels as bound parameters, and the one variable part — the number of placeholders
//! in an `IN (…)` list or a multi-row `VALUES` — is built from the fixed fragments below.
//! `tests/no_sql_from_data.rs` scans this crate's source to keep it that way.

/// The table, with room for offline sync: `version` is the record's hybrid-logical-clock
/// version (last writer wins), `seq` a server-side change sequence set by a trigger, and
/// `deleted` marks tombstones so deletes replicate too.
pub(crate) const SCHEMA: &str = "\
CREATE TABLE IF NOT EXISTS strata_kv (
    keyspace TEXT NOT NULL,
    key BLOB NOT NULL,
    value BLOB,
    version INTEGER NOT NULL,
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
END;";

pub(crate) const GET: &str =
    "SELECT value FROM strata_kv WHERE keyspace = ?1 AND key = ?2 AND deleted = 0";

/// `get_many`: this prefix, then `?` repeated with [`LIST_SEP`], then [`GET_MANY_SUFFIX`].
pub(crate) const GET_MANY_PREFIX: &str =
    "SELECT key, value FROM strata_kv WHERE keyspace = ?1 AND deleted = 0 AND key IN (";
pub(crate) const GET_MANY_SUFFIX: &str = ")";
pub(crate) const LIST_SEP: &str = ", ";
pub(crate) const PLACEHOLDER: &str = "?";

/// Upsert of puts and tombstones: this prefix, then [`UPSERT_ROW`] per row joined by
/// [`LIST_SEP`], then [`UPSERT_SUFFIX`]. Last writer wins by version, so a replay is harmless.
pub(crate) const UPSERT_PREFIX: &str =
    "INSERT INTO strata_kv (keyspace, key, value, version, deleted) VALUES ";
pub(crate) const UPSERT_ROW: &str = "(?, ?, ?, ?, ?)";
pub(crate) const UPSERT_SUFFIX: &str = " ON CONFLICT (keyspace, key) DO UPDATE SET \
    value = excluded.value, version = excluded.version, deleted = excluded.deleted \
    WHERE excluded.version > strata_kv.version";

/// Turns a live key into a tombstone; one affected row means it existed.
pub(crate) const DELETE: &str = "UPDATE strata_kv SET value = NULL, deleted = 1, version = ?3 \
    WHERE keyspace = ?1 AND key = ?2 AND deleted = 0 AND version < ?3";

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

/// The upsert statement for `rows` rows.
pub(crate) fn upsert(rows: usize) -> String {
    let mut sql = String::from(UPSERT_PREFIX);
    sql.push_str(&placeholders(rows, UPSERT_ROW));
    sql.push_str(UPSERT_SUFFIX);
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_made_of_fixed_fragments() {
        assert_eq!(placeholders(3, PLACEHOLDER), "?, ?, ?");
        assert!(get_many(2).ends_with("key IN (?, ?)"));
        assert!(upsert(2).contains("VALUES (?, ?, ?, ?, ?), (?, ?, ?, ?, ?) ON CONFLICT"));
    }
}
