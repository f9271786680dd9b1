//! How big a request is on the wire, and splitting work into requests under a cap: sqld and
//! the proxies in front of it refuse bodies past a limit, and arguments travel as base64 in
//! JSON (about 4/3 of their bytes, plus the JSON around each).

use std::ops::Range;

use crate::pipeline::Arg;
use crate::sql;

/// JSON around one argument on the wire (`{"type":"blob","base64":"…"}` and separators).
pub(crate) const ARG_OVERHEAD: usize = 40;

/// The bytes a blob argument of `len` bytes takes in a request: base64 plus its JSON.
pub(crate) fn wire_bytes(len: usize) -> usize {
    len.div_ceil(3) * 4 + ARG_OVERHEAD
}

/// Splits `items` into consecutive ranges of at most `max_items` items and, unless a single
/// item is larger, at most `max_bytes` by `size`; an empty input gives no range.
pub(crate) fn split_by_size<T>(
    items: &[T],
    max_items: usize,
    max_bytes: usize,
    size: impl Fn(&T) -> usize,
) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, item) in items.iter().enumerate() {
        let n = size(item);
        if i > start && (i - start == max_items || bytes + n > max_bytes) {
            out.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += n;
    }
    if start < items.len() {
        out.push(start..items.len());
    }
    out
}

/// Splits upsert parameters (`UPSERT_PARAMS` per row) into ranges of whole rows, each of at
/// most `max_rows` rows and — unless a single row is larger — at most `max_bytes` on the
/// wire; always at least one range.
pub(crate) fn split_rows(rows: &[Arg], max_rows: usize, max_bytes: usize) -> Vec<Range<usize>> {
    let arg_bytes = |v: &Arg| match v {
        Arg::Blob(b) => wire_bytes(b.len()),
        Arg::Text(t) => t.len() + ARG_OVERHEAD,
        _ => ARG_OVERHEAD,
    };
    let row_list: Vec<&[Arg]> = rows.chunks(sql::UPSERT_PARAMS).collect();
    let row_bytes = |row: &&[Arg]| row.iter().map(arg_bytes).sum();
    let mut out: Vec<Range<usize>> = split_by_size(&row_list, max_rows, max_bytes, row_bytes)
        .into_iter()
        .map(|r| r.start * sql::UPSERT_PARAMS..(r.end * sql::UPSERT_PARAMS).min(rows.len()))
        .collect();
    if out.is_empty() {
        out.push(0..rows.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn row(len: usize) -> Vec<Arg> {
        vec![
            Arg::Text("ks".into()),
            Arg::Blob(Bytes::from(vec![1; 4])),
            Arg::Blob(Bytes::from(vec![0; len])),
            Arg::Integer(1),
            Arg::Integer(1),
            Arg::Integer(0),
        ]
    }

    #[test]
    fn rows_split_by_count_and_by_bytes_never_inside_a_row() {
        let rows: Vec<Arg> = (0..10).flat_map(|_| row(100)).collect();
        let p = sql::UPSERT_PARAMS;
        assert_eq!(split_rows(&rows, 100, 1 << 20), vec![0..10 * p]);
        assert_eq!(
            split_rows(&rows, 4, 1 << 20),
            vec![0..4 * p, 4 * p..8 * p, 8 * p..10 * p]
        );
        // ~420 bytes a row on the wire (base64 and JSON): 3 rows fit 1,300 bytes.
        let by_bytes = split_rows(&rows, 100, 1_300);
        assert_eq!(by_bytes[0], 0..3 * p);
        assert_eq!(by_bytes.last().unwrap().end, 10 * p);
        // A row larger than the cap goes alone.
        let big: Vec<Arg> = [row(10), row(1_000), row(10)].concat();
        assert_eq!(
            split_rows(&big, 100, 500),
            vec![0..p, p..2 * p, 2 * p..3 * p]
        );
    }
}
