//! Replays the committed fuzz corpus as ordinary tests, so CI exercises every fuzz input on
//! stable Rust without cargo-fuzz.

use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {} is missing: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let data = std::fs::read(&p).unwrap();
            (p, data)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn backend_ops_corpus_replays() {
    let files = corpus("backend_ops");
    assert!(
        files.len() >= 16,
        "the backend_ops corpus holds only {} inputs",
        files.len()
    );
    for (path, data) in files {
        let result = std::panic::catch_unwind(|| strata_tests::ops::run_input(&data));
        assert!(result.is_ok(), "corpus input {} failed", path.display());
    }
}

#[test]
fn envelope_decode_corpus_replays() {
    let files = corpus("envelope_decode");
    assert!(
        files.len() >= 8,
        "the envelope_decode corpus holds only {} inputs",
        files.len()
    );
    for (path, data) in files {
        let result = std::panic::catch_unwind(|| strata_tests::fuzzing::envelope_decode(&data));
        assert!(result.is_ok(), "corpus input {} failed", path.display());
    }
}

#[test]
fn compressed_decode_corpus_replays() {
    let files = corpus("compressed_decode");
    assert!(
        files.len() >= 8,
        "the compressed_decode corpus holds only {} inputs",
        files.len()
    );
    for (path, data) in files {
        let result = std::panic::catch_unwind(|| strata_tests::fuzzing::compressed_decode(&data));
        assert!(result.is_ok(), "corpus input {} failed", path.display());
    }
}

#[test]
fn archived_access_corpus_replays() {
    let files = corpus("archived_access");
    assert!(
        files.len() >= 8,
        "the archived_access corpus holds only {} inputs",
        files.len()
    );
    for (path, data) in files {
        let result = std::panic::catch_unwind(|| strata_tests::fuzzing::archived_access(&data));
        assert!(result.is_ok(), "corpus input {} failed", path.display());
    }
}

#[test]
fn compressed_ops_corpus_replays() {
    // Its own corpus, plus the backend_ops inputs replayed through the compression layer.
    let own = corpus("compressed_ops");
    assert!(
        own.len() >= 16,
        "the compressed_ops corpus holds only {} inputs",
        own.len()
    );
    for (path, data) in own.into_iter().chain(corpus("backend_ops")) {
        let result = std::panic::catch_unwind(|| strata_tests::ops::run_compressed_input(&data));
        assert!(
            result.is_ok(),
            "corpus input {} failed through Compressed",
            path.display()
        );
    }
}
