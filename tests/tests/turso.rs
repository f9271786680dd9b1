//! The Turso backend against a real sqld: auth, errors, the outage behaviour.
#![cfg(feature = "remote")] // on by default; only the fuzz build turns it off

use std::time::{Duration, Instant};

use bytes::Bytes;
use strata::{ErrorKind, MemoryCache, StorageBackend, Tiered};
use strata_tests::sqld::{Access, Sqld};
use strata_turso::{ResilienceConfig, TursoBackend};

async fn open(sqld: &Sqld, token: &str) -> strata::Result<TursoBackend> {
    TursoBackend::builder(sqld.url())
        .auth_token(token)
        .open()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_against_a_real_sqld() {
    let sqld = Sqld::start();
    let store = open(&sqld, &sqld.token(Access::ReadWrite)).await.unwrap();
    store
        .put(Bytes::from_static(b"k"), Bytes::from_static(b"v"))
        .await
        .unwrap();
    assert_eq!(
        store.get(b"k").await.unwrap(),
        Some(Bytes::from_static(b"v"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_failures_are_typed() {
    let sqld = Sqld::start();
    let cases = [
        ("", "no token", ErrorKind::Unauthorized),
        (
            &sqld.foreign_token()[..],
            "a token signed by another key",
            ErrorKind::Unauthorized,
        ),
        (
            &sqld.expired_token()[..],
            "an expired token",
            ErrorKind::Unauthorized,
        ),
    ];
    for (token, what, kind) in cases {
        let err = open(&sqld, token).await.expect_err(what);
        assert_eq!(err.kind(), kind, "{what}: {err}");
        assert!(!err.is_transient(), "{what}: auth errors are not retried");
    }
    let expired = open(&sqld, &sqld.expired_token()).await.unwrap_err();
    assert!(expired.message().contains("expired"), "{expired}");
    let missing = open(&sqld, "").await.unwrap_err();
    eprintln!("no token: {missing}");
    assert!(missing.message().contains("no auth token"), "{missing}");
    let wrong = open(&sqld, &sqld.foreign_token()).await.unwrap_err();
    eprintln!("wrong key: {wrong}");
    assert!(wrong.message().contains("invalid"), "{wrong}");

    // A read-only token can read but not write.
    let rw = open(&sqld, &sqld.token(Access::ReadWrite)).await.unwrap();
    rw.put(Bytes::from_static(b"k"), Bytes::from_static(b"v"))
        .await
        .unwrap();
    let ro = TursoBackend::builder(sqld.url())
        .auth_token(sqld.token(Access::ReadOnly))
        .open()
        .await
        .expect("a read-only token can open an existing store");
    assert_eq!(ro.get(b"k").await.unwrap(), Some(Bytes::from_static(b"v")));
    let err = ro
        .put(Bytes::from_static(b"k"), Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden, "{err}");
    assert_eq!(
        rw.get(b"k").await.unwrap(),
        Some(Bytes::from_static(b"v")),
        "the refused write changed nothing"
    );
    // Reads with bad tokens are typed the same way (they take another code path).
    let bad = TursoBackend::builder(sqld.url())
        .auth_token(sqld.expired_token())
        .open()
        .await
        .unwrap_err();
    assert_eq!(bad.kind(), ErrorKind::Unauthorized);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_never_appears_in_debug_output() {
    let sqld = Sqld::start();
    let token = sqld.token(Access::ReadWrite);
    let store = open(&sqld, &token).await.unwrap();
    let shown = format!(
        "{store:?} {:?} {:?}",
        store.config(),
        store.config().auth_token
    );
    assert!(!shown.contains(&token), "token leaked: {shown}");
    assert!(
        !shown.contains(&token[token.len() - 20..]),
        "part of the token leaked"
    );
    assert!(shown.contains("<redacted>"));
    let err = open(&sqld, "not-a-jwt-secret-value").await.unwrap_err();
    assert!(
        !format!("{err} {err:?}").contains("not-a-jwt-secret-value"),
        "token in an error"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_fails_fast_serves_from_upper_tiers_and_recovers() {
    let mut sqld = Sqld::start();
    let resilience = ResilienceConfig {
        timeout: Duration::from_secs(2),
        max_attempts: 2,
        backoff_base: Duration::from_millis(5),
        breaker_threshold: 3,
        breaker_cooldown: Duration::from_millis(300),
        ..ResilienceConfig::default()
    };
    let remote = TursoBackend::builder(sqld.url())
        .auth_token(sqld.token(Access::ReadWrite))
        .resilience(resilience)
        .open()
        .await
        .unwrap();
    let tiered = Tiered::new(MemoryCache::with_max_entries(1000).unwrap(), remote.clone());
    for i in 0..50 {
        tiered
            .put(Bytes::from(format!("k{i}")), Bytes::from_static(b"v"))
            .await
            .unwrap();
    }

    sqld.kill();
    // Calls fail while the breaker learns; then they fail fast.
    for _ in 0..5 {
        let err = remote.get(b"k1").await.unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::Unavailable | ErrorKind::Timeout),
            "{err}"
        );
    }
    assert!(remote.is_circuit_open(), "the breaker opened");
    let started = Instant::now();
    for _ in 0..100 {
        assert_eq!(
            remote.get(b"k1").await.unwrap_err().kind(),
            ErrorKind::Unavailable
        );
    }
    let per_call = started.elapsed() / 100;
    assert!(remote.is_circuit_open());
    eprintln!("failing fast: {per_call:?} per call while open");
    // Reads through the tiers are still served from memory.
    for i in 0..50 {
        assert_eq!(
            tiered.get(format!("k{i}").as_bytes()).await.unwrap(),
            Some(Bytes::from_static(b"v"))
        );
    }

    sqld.restart();
    // The backend recovers by itself once the cooldown lets a probe through.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match remote.get(b"k7").await {
            Ok(v) => {
                assert_eq!(
                    v,
                    Some(Bytes::from_static(b"v")),
                    "data survived the restart"
                );
                break;
            }
            Err(e) => {
                assert!(Instant::now() < deadline, "no recovery after restart: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    assert!(!remote.is_circuit_open());
    remote
        .put(Bytes::from_static(b"after"), Bytes::from_static(b"restart"))
        .await
        .unwrap();
}
