//! The Turso backend over `https://`, through a TLS terminator in front of a real sqld (a CA
//! made at test time, given to the backend): connections are reused and counted as on plain
//! HTTP, the server's certificate is checked, auth and outages behave as on HTTP.
#![cfg(feature = "remote")] // on by default; only the fuzz build turns it off

use std::time::Duration;

use bytes::Bytes;
use strata::{ErrorKind, StorageBackend};
use strata_tests::deadline::bounded;
use strata_tests::sqld::{Access, Sqld};
use strata_tests::tls_proxy::TlsProxy;
use strata_turso::TursoBackend;

async fn open(proxy: &TlsProxy, token: String) -> strata::Result<TursoBackend> {
    let open = TursoBackend::builder(proxy.url())
        .auth_token(token)
        .ca_certificate_pem(proxy.ca_pem().as_bytes())
        .open();
    bounded("open over TLS", open).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_reads_over_tls_reuse_the_pools_connections() {
    let sqld = Sqld::start();
    let proxy = TlsProxy::start(sqld.port());
    let store = open(&proxy, sqld.token(Access::ReadWrite)).await.unwrap();
    for i in 0..100 {
        let put = store.put(Bytes::from(format!("k{i}")), Bytes::from(format!("v{i}")));
        bounded("put", put).await.unwrap();
    }
    let before = store.tcp_connects();
    for i in 0..1_000 {
        let got = bounded("get", store.get(format!("k{}", i % 100).as_bytes())).await;
        assert_eq!(got.unwrap(), Some(Bytes::from(format!("v{}", i % 100))));
    }
    let pool = store.config().pool_size as u64;
    let connects = store.tcp_connects();
    assert!(
        connects - before <= pool,
        "1,000 reads opened {} connections (pool {pool})",
        connects - before
    );
    assert!(connects <= 2 * pool, "{connects} connections in all");
    // The server side agrees: as many TLS handshakes as connections, no more.
    assert_eq!(
        proxy.accepted(),
        connects,
        "client and terminator count alike"
    );
    assert!(proxy.handshakes() <= connects);
    assert!(proxy.handshakes() > 0, "the requests went through TLS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_an_unknown_ca_is_refused() {
    let sqld = Sqld::start();
    let proxy = TlsProxy::start(sqld.port());
    let open = TursoBackend::builder(proxy.url())
        .auth_token(sqld.token(Access::ReadWrite))
        .open();
    let err = bounded("open", open).await.unwrap_err();
    assert_untrusted(&err);
    assert!(proxy.accepted() > 0, "the client did reach the terminator");
    assert_eq!(
        proxy.handshakes(),
        0,
        "no handshake completed with an untrusted server"
    );
    // Trusted CA, certificate for another host: refused the same way.
    let other = TlsProxy::start_for(sqld.port(), &["db.example.com"]);
    let open = TursoBackend::builder(other.url())
        .auth_token(sqld.token(Access::ReadWrite))
        .ca_certificate_pem(other.ca_pem().as_bytes())
        .connect_lazily(true)
        .open();
    let store = bounded("open", open).await.unwrap();
    for _ in 0..10 {
        let err = bounded("get", store.get(b"k")).await.unwrap_err();
        assert_untrusted(&err);
    }
    assert!(other.accepted() > 0 && other.handshakes() == 0);
    assert!(
        !store.is_circuit_open(),
        "a certificate error is not an outage: the breaker stays closed"
    );
    // A CA that is not PEM is an input error, not a network one.
    let bad = TursoBackend::builder(proxy.url())
        .ca_certificate_pem(b"not a certificate".to_vec())
        .open();
    let err = bounded("open", bad).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
}

/// A refused certificate: not transient (retrying cannot help), and said so.
fn assert_untrusted(err: &strata::Error) {
    assert_eq!(err.kind(), ErrorKind::Unexpected, "{err}");
    assert!(!err.is_transient(), "{err}");
    assert!(err.to_string().contains("certificate"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_over_tls_behaves_as_over_http() {
    let sqld = Sqld::start();
    let proxy = TlsProxy::start(sqld.port());
    let err = open(&proxy, sqld.foreign_token()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    let err = open(&proxy, sqld.expired_token()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    let reader = open(&proxy, sqld.token(Access::ReadOnly)).await.unwrap();
    let err = bounded("put", reader.put("k".into(), "v".into()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_behind_tls_is_transient_and_recovers() {
    let mut sqld = Sqld::start();
    let proxy = TlsProxy::start(sqld.port());
    let store = TursoBackend::builder(proxy.url())
        .auth_token(sqld.token(Access::ReadWrite))
        .ca_certificate_pem(proxy.ca_pem().as_bytes())
        .resilience(
            strata_turso::ResilienceConfig::default()
                .timeout(Duration::from_secs(2))
                .breaker_cooldown(Duration::from_millis(100)),
        )
        .open();
    let store = bounded("open", store).await.unwrap();
    bounded("put", store.put("k".into(), "v".into()))
        .await
        .unwrap();
    tokio::task::block_in_place(|| sqld.kill());
    let err = bounded("get", store.get(b"k")).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    tokio::task::block_in_place(|| sqld.restart());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match bounded("get", store.get(b"k")).await {
            Ok(v) => {
                assert_eq!(v.as_deref(), Some(&b"v"[..]));
                break;
            }
            Err(e) if e.is_transient() && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("no recovery after the restart: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_and_reads_larger_than_the_request_cap_are_split_and_stay_whole() {
    let sqld = Sqld::start();
    let proxy = TlsProxy::start(sqld.port());
    let open = TursoBackend::builder(proxy.url())
        .auth_token(sqld.token(Access::ReadWrite))
        .ca_certificate_pem(proxy.ca_pem().as_bytes())
        .max_request_bytes(256 * 1024)
        .open();
    let store = bounded("open", open).await.unwrap();
    // 40 values of 100 KiB: 4 MiB in one batch, 16 requests' worth.
    let mut batch = strata::WriteBatch::new();
    let keys: Vec<Bytes> = (0..40).map(|i| Bytes::from(format!("big{i:02}"))).collect();
    for (i, k) in keys.iter().enumerate() {
        batch.put(k.clone(), Bytes::from(vec![i as u8; 100 * 1024]));
    }
    let requests = proxy.requests();
    bounded("batch", store.write_batch(batch)).await.unwrap();
    // Split: at least 16 requests, none much over the cap (headers, the SQL text).
    assert!(
        proxy.requests() - requests >= 16,
        "{} requests",
        proxy.requests() - requests
    );
    assert!(
        proxy.largest_request() <= 256 * 1024 + 16 * 1024,
        "a request of {} bytes under a 256 KiB cap",
        proxy.largest_request()
    );
    let got = bounded("get_many", store.get_many(&keys)).await.unwrap();
    for (i, v) in got.iter().enumerate() {
        assert_eq!(
            v.as_ref().map(|v| (v.len(), v[0])),
            Some((100 * 1024, i as u8))
        );
    }
    // Many keys in one get_many, past the cap by key bytes alone.
    let many: Vec<Bytes> = (0..3_000)
        .map(|i| Bytes::from(format!("{i:0200}")))
        .collect();
    let requests = proxy.requests();
    let got = bounded("get_many", store.get_many(&many)).await.unwrap();
    assert!(got.iter().all(Option::is_none));
    // 3,000 keys of 200 bytes: ~800 KiB of base64, at least 3 requests under the cap.
    assert!(
        proxy.requests() - requests >= 3,
        "{} requests",
        proxy.requests() - requests
    );
    assert!(proxy.largest_request() <= 256 * 1024 + 16 * 1024);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_after_an_idle_past_the_servers_stream_expiry_succeed() {
    // sqld drops a hrana stream after ~10 s without use; both transports must notice and
    // open a new one without failing the caller.
    let sqld = Sqld::start();
    let proxy = TlsProxy::start(sqld.port());
    let tls = open(&proxy, sqld.token(Access::ReadWrite)).await.unwrap();
    let plain = TursoBackend::builder(sqld.url())
        .auth_token(sqld.token(Access::ReadWrite))
        .open();
    let plain = bounded("open", plain).await.unwrap();
    for store in [&tls, &plain] {
        bounded("put", store.put("k".into(), "v".into()))
            .await
            .unwrap();
        // Every reader slot gets a stream (round robin over the pool's 4).
        for _ in 0..8 {
            bounded("get", store.get(b"k")).await.unwrap();
        }
    }
    let restarts = [tls.stream_restarts(), plain.stream_restarts()];
    tokio::time::sleep(Duration::from_secs(12)).await;
    for (store, before) in [&tls, &plain].into_iter().zip(restarts) {
        assert_eq!(
            bounded("get", store.get(b"k")).await.unwrap().as_deref(),
            Some(&b"v"[..])
        );
        // The stream had expired: the read found it gone and went on a fresh one.
        assert!(
            store.stream_restarts() > before,
            "the idle outlived the stream"
        );
        bounded("put", store.put("k2".into(), "v2".into()))
            .await
            .unwrap();
        let mut batch = strata::WriteBatch::new();
        batch.put("a", "1").put("b", "2");
        bounded("batch", store.write_batch(batch)).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_with_a_query_string_reads_and_writes() {
    let sqld = Sqld::start();
    let proxy = TlsProxy::start(sqld.port());
    let open = TursoBackend::builder(format!("{}?x=1", proxy.url()))
        .auth_token(sqld.token(Access::ReadWrite))
        .ca_certificate_pem(proxy.ca_pem().as_bytes())
        .open();
    let store = bounded("open", open).await.unwrap();
    bounded("put", store.put("k".into(), "v".into()))
        .await
        .unwrap();
    let got = bounded("get", store.get(b"k")).await.unwrap();
    assert_eq!(got.as_deref(), Some(&b"v"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_whose_answer_exceeds_the_servers_response_limit_still_succeed() {
    // sqld refuses to send a response over 10 MB; a dozen values at the default 1 MiB limit
    // come to 16 MB of base64. get_many and scan must still return every one.
    let sqld = Sqld::start();
    let proxy = TlsProxy::start(sqld.port());
    let store = open(&proxy, sqld.token(Access::ReadWrite)).await.unwrap();
    let size = store.capabilities().max_value_size;
    let keys: Vec<Bytes> = (0..12)
        .map(|i| Bytes::from(format!("huge{i:02}")))
        .collect();
    for (i, key) in keys.iter().enumerate() {
        let put = store.put(key.clone(), Bytes::from(vec![i as u8; size]));
        bounded("put", put).await.unwrap();
    }
    let restarts = store.stream_restarts();
    let got = bounded("get_many", store.get_many(&keys)).await.unwrap();
    for (i, v) in got.iter().enumerate() {
        assert_eq!(v.as_ref().map(|v| (v.len(), v[0])), Some((size, i as u8)));
    }
    let requests = proxy.requests();
    let scanned = bounded("scan", store.scan(strata::KeyRange::all(), None))
        .await
        .unwrap();
    let scan_requests = proxy.requests() - requests;
    assert_eq!(scanned.len(), keys.len());
    for (i, (k, v)) in scanned.iter().enumerate() {
        assert_eq!((k, v.len(), v[0]), (&keys[i], size, i as u8));
    }
    // An answer too large is not a stale stream: nothing was sent twice for it.
    assert_eq!(store.stream_restarts(), restarts, "no stream was resent");
    // One refused full answer, then pages sized to fit: 12 values of 1 MiB take few requests.
    assert!(
        scan_requests <= 5,
        "scan(None) took {scan_requests} requests"
    );
    // A sync pull over the same values pages too, and an empty page ends it.
    let (mut cursor, mut pulled) = (0, 0);
    loop {
        let page = bounded("pull", store.pull(cursor, 5_000)).await.unwrap();
        let Some(last) = page.last() else { break };
        cursor = last.seq;
        pulled += page.len();
        assert!(pulled <= keys.len(), "pulled {pulled}");
    }
    assert_eq!(pulled, keys.len());
    // A huge limit pages like no limit: it does not halve its way down from 2^64.
    let requests = proxy.requests();
    let limited = store.scan(strata::KeyRange::all(), Some(usize::MAX));
    assert_eq!(bounded("scan", limited).await.unwrap().len(), keys.len());
    let limited_requests = proxy.requests() - requests;
    assert!(
        limited_requests <= scan_requests + 2,
        "scan(Some(usize::MAX)) took {limited_requests} requests, scan(None) {scan_requests}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_push_larger_than_the_request_cap_is_split() {
    let sqld = Sqld::start();
    let proxy = TlsProxy::start(sqld.port());
    let open = TursoBackend::builder(proxy.url())
        .auth_token(sqld.token(Access::ReadWrite))
        .ca_certificate_pem(proxy.ca_pem().as_bytes())
        .max_request_bytes(256 * 1024)
        .open();
    let store = bounded("open", open).await.unwrap();
    // 16 records of 100 KiB: 2 MiB of base64 in one push.
    let records: Vec<strata_turso::SyncRecord> = (0..16)
        .map(|i| strata_turso::SyncRecord {
            key: Bytes::from(format!("p{i:02}")),
            value: Some(Bytes::from(vec![i as u8; 100 * 1024])),
            timestamp: 1 << 40,
            node: 7,
        })
        .collect();
    let requests = proxy.requests();
    let outcome = bounded("push", store.push(&records)).await.unwrap();
    assert_eq!(outcome.applied, 16);
    assert!(
        proxy.requests() - requests >= 8,
        "{} requests",
        proxy.requests() - requests
    );
    assert!(
        proxy.largest_request() <= 256 * 1024 + 16 * 1024,
        "a push request of {} bytes under a 256 KiB cap",
        proxy.largest_request()
    );
}
