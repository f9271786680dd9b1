//! One flipped bit at each byte of a closed 1,000-entry redb store (header, branch and leaf
//! pages, values, free space): opening it and reading every key gives the value written, a
//! missing key or a clean error — never a wrong value, never a key that was not written.
//!
//! CI flips every `STRATA_FLIP_STRIDE`-th byte (default: about 600 positions spread over the
//! whole file); `STRATA_FLIP_STRIDE=1` sweeps every byte (see docs/BENCHMARKS.md for the run).

use bytes::Bytes;
use strata::{ErrorKind, KeyRange, StorageBackend, SyncMode};
use strata_redb::RedbBackend;
use strata_tests::io_faults::{FaultyStorage, open_store};

const ENTRIES: u32 = 1_000;

fn key(i: u32) -> Bytes {
    Bytes::from(format!("k{i:04}"))
}

fn value(i: u32) -> Bytes {
    Bytes::from(format!(
        "v{i:04}-{}",
        "x".repeat(usize::try_from(i % 50).unwrap())
    ))
}

#[derive(Debug, Default)]
struct Outcomes {
    flips: usize,
    open_errors: usize,
    read_errors: usize,
    missing: usize,
    intact: usize,
}

/// The store's image after writing the entries and closing it.
async fn written_image() -> Vec<u8> {
    let storage = FaultyStorage::new();
    let store = open_store(storage.clone(), SyncMode::Full).await.unwrap();
    for chunk in (0..ENTRIES).collect::<Vec<_>>().chunks(100) {
        let mut batch = strata::WriteBatch::new();
        for &i in chunk {
            batch.put(key(i), value(i));
        }
        store.write_batch(batch).await.unwrap();
    }
    store.close().await.unwrap();
    storage.image()
}

/// Opens a store on `image`, checking every page first if `verify`.
async fn open_image(image: Vec<u8>, verify: bool) -> strata::Result<RedbBackend> {
    RedbBackend::builder("flipped.redb")
        .storage_backend(FaultyStorage::from_image(image))
        .verify_on_open(verify)
        .open()
        .await
}

/// Opens the damaged image and reads every key and the whole range; panics on a wrong read.
async fn check_flip(image: Vec<u8>, at: usize, verify: bool, outcomes: &mut Outcomes) {
    outcomes.flips += 1;
    let store = match open_image(image, verify).await {
        Ok(store) => store,
        Err(e) => {
            assert!(
                matches!(e.kind(), ErrorKind::Corrupted | ErrorKind::Unexpected),
                "flip at {at}: open failed unclearly: {e}"
            );
            outcomes.open_errors += 1;
            return;
        }
    };
    let keys: Vec<Bytes> = (0..ENTRIES).map(key).collect();
    // One call for the common case; key by key when it fails, to classify each.
    let got = match store.get_many(&keys).await {
        Ok(got) => got.into_iter().map(Ok).collect(),
        Err(_) => {
            let mut each = Vec::new();
            for k in &keys {
                each.push(store.get(k).await);
            }
            each
        }
    };
    for (i, got) in (0..ENTRIES).zip(got) {
        match got {
            Ok(Some(v)) => {
                assert_eq!(v, value(i), "flip at {at}: key {i} read a wrong value");
                outcomes.intact += 1;
            }
            Ok(None) => outcomes.missing += 1,
            Err(e) => {
                assert!(
                    matches!(e.kind(), ErrorKind::Corrupted | ErrorKind::Unexpected),
                    "flip at {at}: key {i} failed unclearly: {e}"
                );
                outcomes.read_errors += 1;
            }
        }
    }
    if let Ok(rows) = store.scan(KeyRange::all(), None).await {
        for (k, v) in rows {
            let i = std::str::from_utf8(&k)
                .ok()
                .and_then(|k| k.strip_prefix('k'))
                .and_then(|n| n.parse::<u32>().ok())
                .filter(|&i| i < ENTRIES && k == key(i))
                .unwrap_or_else(|| panic!("flip at {at}: a scan returned a key never written"));
            assert_eq!(v, value(i), "flip at {at}: a scan returned a wrong value");
        }
    }
    // A damaged store may refuse to close cleanly; that is a clean error too.
    let _ = store.close().await;
}

/// The sweep, opening each damaged image with `verify_on_open` set as given.
fn sweep(verify: bool) -> Outcomes {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let image = written_image().await;
        let stride: usize = std::env::var("STRATA_FLIP_STRIDE")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| (image.len() / 600).max(1) | 1);
        let from: usize = std::env::var("STRATA_FLIP_FROM")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        // With STRATA_FLIP_PROGRESS=FILE, each offset is written there before it is tried,
        // so a flip that kills the process can be found.
        let progress = std::env::var("STRATA_FLIP_PROGRESS").ok();
        let mut outcomes = Outcomes::default();
        for at in (from..image.len()).step_by(stride) {
            if let Some(file) = &progress {
                std::fs::write(file, at.to_string()).unwrap();
            }
            let mut damaged = image.clone();
            damaged[at] ^= 1 << (at % 8);
            let _watchdog = strata_tests::watchdog::Watchdog::arm(
                std::time::Duration::from_secs(30),
                move || format!("flip at {at} (verify_on_open {verify})"),
            );
            check_flip(damaged, at, verify, &mut outcomes).await;
        }
        eprintln!(
            "verify_on_open {verify}: {} bytes, stride {stride}: {outcomes:?} (key reads; 0 wrong)",
            image.len()
        );
        assert!(
            outcomes.flips >= (image.len() - from) / stride,
            "{outcomes:?}"
        );
        outcomes
    })
}

#[test]
fn a_flipped_bit_at_any_byte_of_a_1000_entry_store_never_reads_wrong() {
    let outcomes = sweep(false);
    assert!(
        outcomes.intact > 0,
        "no flip left a readable store: {outcomes:?}"
    );
}

/// With `verify_on_open`, every page's checksum is checked first: damage redb can repair is
/// repaired, the rest is `Corrupted` at open — so no key goes missing either.
#[test]
fn with_verify_on_open_a_flipped_bit_never_reads_wrong_or_missing() {
    let outcomes = sweep(true);
    assert!(
        outcomes.intact > 0,
        "no flip left a readable store: {outcomes:?}"
    );
    assert_eq!(outcomes.missing, 0, "{outcomes:?}");
}

/// Found by the full sweep: a bit flipped at byte 12,291 (redb's freed-page tree) passes
/// every read, then redb's close panics on it — twice, the second time while unwinding, which
/// aborts the process. `verify_on_open` finds it at open instead, as a clean `Corrupted`.
#[test]
fn damage_that_would_abort_redbs_close_is_corrupted_at_open_with_verify() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut image = written_image().await;
        let at = 12_291;
        image[at] ^= 1 << (at % 8);
        let open = open_image(image, true);
        let err = tokio::time::timeout(std::time::Duration::from_secs(30), open)
            .await
            .expect("open in time")
            .expect_err("the damage is found at open");
        assert_eq!(err.kind(), ErrorKind::Corrupted, "{err}");
    });
}
