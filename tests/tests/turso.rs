//! The Turso backend against a real sqld: auth, errors, the outage behaviour.
#![cfg(feature = "remote")] // on by default; only the fuzz build turns it off

use std::future::Future;
use std::task::Poll;
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
    let resilience = ResilienceConfig::default()
        .timeout(Duration::from_secs(2))
        .max_attempts(2)
        .backoff_base(Duration::from_millis(5))
        .breaker_threshold(3)
        .breaker_cooldown(Duration::from_millis(300));
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

/// How a test cancels the half-open probe.
#[derive(Debug, Clone, Copy)]
enum Cancel {
    /// `tokio::time::timeout` of 1 µs around a get.
    Timeout,
    /// A get in the branch of `tokio::select!` that loses.
    LosingSelect,
    /// A put future polled once, then dropped.
    DroppedPut,
}

const COOLDOWN: Duration = Duration::from_millis(200);

/// Kills sqld so one failed call opens the breaker (threshold 1), restarts it and waits past
/// the cooldown: the next call is the half-open probe.
async fn open_the_breaker_then_restart(sqld: &mut Sqld, remote: &TursoBackend) {
    tokio::task::block_in_place(|| sqld.kill());
    let failed = tokio::time::timeout(Duration::from_secs(10), remote.get(b"k"))
        .await
        .expect("a call during the outage hung for 10 s");
    let err = failed.expect_err("sqld is down");
    assert!(
        matches!(err.kind(), ErrorKind::Unavailable | ErrorKind::Timeout),
        "{err}"
    );
    assert!(remote.is_circuit_open(), "one failure opens the breaker");
    tokio::task::block_in_place(|| sqld.restart());
    tokio::time::sleep(COOLDOWN + Duration::from_millis(50)).await;
}

/// Starts the probe call and cancels it; false if the call finished before the cancel.
async fn cancel_the_probe(remote: &TursoBackend, how: Cancel) -> bool {
    match how {
        Cancel::Timeout => tokio::time::timeout(Duration::from_micros(1), remote.get(b"k"))
            .await
            .is_err(),
        Cancel::LosingSelect => tokio::select! {
            // Biased: the get is polled once (it takes the probe and waits on the network),
            // then the ready branch wins and the get is dropped.
            biased;
            _ = remote.get(b"k") => false,
            () = std::future::ready(()) => true,
        },
        Cancel::DroppedPut => {
            let mut put = Box::pin(remote.put(Bytes::from_static(b"p"), Bytes::from_static(b"v")));
            let first = std::future::poll_fn(|cx| Poll::Ready(put.as_mut().poll(cx))).await;
            drop(put);
            first.is_pending()
        }
    }
}

/// A cancelled probe must not leave the breaker open: a later call gets through within a
/// bounded number of attempts.
async fn breaker_recovers_after_a_cancelled_probe(how: Cancel) {
    let mut sqld = Sqld::start();
    let remote = TursoBackend::builder(sqld.url())
        .auth_token(sqld.token(Access::ReadWrite))
        .resilience(
            ResilienceConfig::default()
                .timeout(Duration::from_secs(2))
                .max_attempts(1)
                .breaker_threshold(1)
                .breaker_cooldown(COOLDOWN),
        )
        .open()
        .await
        .unwrap();
    remote
        .put(Bytes::from_static(b"k"), Bytes::from_static(b"v"))
        .await
        .unwrap();

    // The probe may, rarely, beat a 1 µs timeout; then nothing was cancelled: go again.
    let mut cancelled = false;
    for _ in 0..3 {
        open_the_breaker_then_restart(&mut sqld, &remote).await;
        if cancel_the_probe(&remote, how).await {
            cancelled = true;
            break;
        }
    }
    assert!(cancelled, "{how:?}: the probe call was never cancelled");
    assert!(
        remote.is_circuit_open(),
        "{how:?}: the cancelled probe reported nothing"
    );

    let started = Instant::now();
    let mut last = String::new();
    let mut recovered = None;
    for attempt in 1..=50 {
        match tokio::time::timeout(Duration::from_secs(5), remote.get(b"k")).await {
            Ok(Ok(value)) => {
                assert_eq!(value, Some(Bytes::from_static(b"v")));
                recovered = Some(attempt);
                break;
            }
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => last = "a call hung for 5 s".to_string(),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let Some(attempts) = recovered else {
        panic!(
            "{how:?}: no recovery in 50 calls over {:?} after a cancelled probe, sqld up; last error: {last}",
            started.elapsed()
        );
    };
    eprintln!(
        "{how:?}: recovered after {attempts} call(s), {:?}",
        started.elapsed()
    );
    assert!(!remote.is_circuit_open());
    tokio::time::timeout(
        Duration::from_secs(5),
        remote.put(Bytes::from_static(b"after"), Bytes::from_static(b"cancel")),
    )
    .await
    .expect("a put after recovery hung")
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_probe_by_timeout_does_not_stick_the_breaker_open() {
    breaker_recovers_after_a_cancelled_probe(Cancel::Timeout).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_probe_in_a_losing_select_branch_does_not_stick_the_breaker_open() {
    breaker_recovers_after_a_cancelled_probe(Cancel::LosingSelect).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_probe_by_dropping_a_put_future_does_not_stick_the_breaker_open() {
    breaker_recovers_after_a_cancelled_probe(Cancel::DroppedPut).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_retry_after_a_lost_attempt_does_not_claim_the_write_was_never_sent() {
    // Attempt 1 of a put reaches the server, which may apply it, and its answer is lost (the
    // link swallows the request, then drops). The server is then unreachable, so attempt 2's
    // connect is refused. The call's error must not say "never sent": the sync layer would
    // then read a replay's answer wrongly.
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sqld = Sqld::start();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let swallow = std::sync::Arc::new(AtomicBool::new(false));
    let (swallowed_tx, mut swallowed) = tokio::sync::mpsc::unbounded_channel::<()>();
    let (kill, killed) = tokio::sync::watch::channel(false);
    let upstream = sqld.port();
    let link = tokio::spawn({
        let swallow = swallow.clone();
        async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let (swallow, swallowed_tx, mut killed) =
                    (swallow.clone(), swallowed_tx.clone(), killed.clone());
                tokio::spawn(async move {
                    let Ok(mut server) =
                        tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                    else {
                        return;
                    };
                    let (mut a, mut b) = ([0u8; 16 * 1024], [0u8; 16 * 1024]);
                    loop {
                        tokio::select! {
                            _ = killed.changed() => return,
                            n = client.read(&mut a) => {
                                let Ok(n @ 1..) = n else { return };
                                if swallow.load(Ordering::SeqCst) {
                                    let _ = swallowed_tx.send(());
                                } else if server.write_all(&a[..n]).await.is_err() {
                                    return;
                                }
                            }
                            n = server.read(&mut b) => {
                                let Ok(n @ 1..) = n else { return };
                                if client.write_all(&b[..n]).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        }
    });
    let resilience = ResilienceConfig::default()
        .timeout(Duration::from_secs(5))
        .max_attempts(2)
        .backoff_base(Duration::from_millis(1))
        .backoff_max(Duration::from_millis(1));
    let store = TursoBackend::builder(format!("http://127.0.0.1:{port}"))
        .auth_token(sqld.token(Access::ReadWrite))
        .resilience(resilience)
        .open();
    let store = tokio::time::timeout(Duration::from_secs(10), store)
        .await
        .expect("open within 10 s")
        .unwrap();
    // Every reader slot holds an open stream, so attempt 1 also retries on a fresh one.
    for _ in 0..8 {
        let get = tokio::time::timeout(Duration::from_secs(5), store.get(b"x"));
        get.await.expect("a get within 5 s").unwrap();
    }
    swallow.store(true, Ordering::SeqCst);
    let put = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .put(Bytes::from_static(b"k"), Bytes::from_static(b"v"))
                .await
        }
    });
    tokio::time::timeout(Duration::from_secs(5), swallowed.recv())
        .await
        .expect("attempt 1 reaches the link within 5 s");
    link.abort(); // later connects are refused …
    let _ = link.await;
    kill.send(true).unwrap(); // … and attempt 1's connection drops, unanswered
    let err = tokio::time::timeout(Duration::from_secs(10), put)
        .await
        .expect("the put ends within 10 s")
        .unwrap()
        .unwrap_err();
    assert!(
        !strata_turso::never_sent(&err),
        "attempt 1 may have been applied: {err:?}"
    );
}
