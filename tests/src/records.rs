//! Test and benchmark records shared by the codec tests and the codec benchmark.

use bytes::Bytes;

/// A JSON-like episode record of at least `len` bytes: ids, timestamps, words from a small
/// vocabulary, numbers — repetitive in structure, varied in content, like real logs.
pub fn json_record(i: usize, len: usize) -> Bytes {
    const WORDS: [&str; 16] = [
        "summarise",
        "report",
        "quarterly",
        "invoice",
        "search",
        "customer",
        "refund",
        "schedule",
        "meeting",
        "draft",
        "email",
        "review",
        "deploy",
        "rollback",
        "analyse",
        "metrics",
    ];
    let mut state = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut s = format!(
        "{{\"id\":\"{:016x}\",\"created_at\":{},\"task\":\"{} the {} for {}\",\"steps\":[",
        next(),
        1_700_000_000 + next() % 10_000_000,
        WORDS[(next() % 16) as usize],
        WORDS[(next() % 16) as usize],
        WORDS[(next() % 16) as usize]
    );
    let mut step = 0;
    while s.len() < len {
        s.push_str(&format!(
            "{{\"n\":{step},\"tool\":\"{}\",\"ms\":{},\"score\":{:.3},\"ok\":{}}},",
            WORDS[(next() % 16) as usize],
            next() % 5000,
            (next() % 1000) as f64 / 1000.0,
            next() % 4 != 0
        ));
        step += 1;
    }
    s.push_str("{}],\"tags\":[\"agent\"]}");
    Bytes::from(s)
}
