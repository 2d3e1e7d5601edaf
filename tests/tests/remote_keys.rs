//! Remote key management against a real JWKS server on 127.0.0.1:0: rotation, IdP
//! outages, cold start, unknown-kid floods, caching headers, task lifecycle.
//! Durations are shortened through `RefreshConfig`; no test sleeps for real defaults.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tollgate_core::authenticate::Authenticate;
use tollgate_core::oauth::HttpError;
use tollgate_core::remote::{FetchErrorKind, IssuerConfig, Issuers, RefreshConfig};
use tollgate_core::{BuildError, Validation};
use tollgate_testkit::jwks_server::{Fault, JwksServer, serve_jwks};
use tollgate_testkit::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, TestKey};

fn fast() -> RefreshConfig {
    let mut c = RefreshConfig::default();
    c.min_interval = Duration::from_millis(50);
    c.max_interval = Duration::from_secs(60);
    c.default_interval = Duration::from_secs(60);
    c.cooldown = Duration::from_millis(200);
    c.unknown_kid_wait = Duration::from_secs(2);
    c.fetch_timeout = Duration::from_millis(300);
    c.retry_min = Duration::from_millis(50);
    c.retry_max = Duration::from_millis(200);
    c.startup_timeout = Duration::from_secs(3);
    c
}

fn validation() -> Validation {
    Validation::builder()
        .issuer(DEFAULT_ISSUER)
        .audience(DEFAULT_AUDIENCE)
        .build()
        .unwrap()
}

fn config(url: &str, refresh: RefreshConfig) -> tollgate_core::remote::IssuersBuilder {
    Issuers::builder()
        .refresh(refresh)
        .issuer(IssuerConfig::new(validation()).jwks_uri(url))
}

/// HTTP status the wire table gives (200 when accepted), and Retry-After.
async fn check(issuers: &Issuers, token: &str) -> (u16, Option<u32>) {
    match Authenticate::<()>::authenticate(issuers, token).await {
        Ok(_) => (200, None),
        Err(e) => {
            let w = e.wire();
            (w.status, w.retry_after)
        }
    }
}

async fn status(issuers: &Issuers, token: &str) -> u16 {
    check(issuers, token).await.0
}

async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn kids(issuers: &Issuers) -> Vec<String> {
    let mut k = issuers.stats_for(DEFAULT_ISSUER).unwrap().kids;
    k.sort();
    k
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_rejects_no_valid_token() {
    let k1 = TestKey::p256("k1");
    let k2 = TestKey::ed25519("k2");
    let (url, server) = serve_jwks(TestKey::jwks([&k1])).await;
    let issuers = config(&url, fast()).build().await.unwrap();
    assert_eq!(server.jwks_requests(), 1);

    // a client stream that always presents a token from the IdP's current signing key
    let signer = Arc::new(Mutex::new(k1.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, rejected) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let stream = tokio::spawn({
        let (issuers, signer, stop) = (issuers.clone(), signer.clone(), stop.clone());
        let (sent, rejected) = (sent.clone(), rejected.clone());
        async move {
            while !stop.load(Ordering::Relaxed) {
                let token = signer.lock().unwrap().token().sign();
                if status(&issuers, &token).await != 200 {
                    rejected.fetch_add(1, Ordering::Relaxed);
                }
                sent.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;

    // 1. publish k2 next to k1 and start signing with it: the first k2 request succeeds
    //    through an unknown-kid refresh (the schedule is 60 s away)
    server.set_cache_control(Some("max-age=1"));
    server.set_jwks(TestKey::jwks([&k1, &k2]));
    assert_eq!(status(&issuers, &k2.token().sign()).await, 200);
    *signer.lock().unwrap() = k2.clone();
    let stats = issuers.stats_for(DEFAULT_ISSUER).unwrap();
    assert_eq!(stats.unknown_kid_refreshes, 1);
    assert_eq!(server.jwks_requests(), 2);
    assert_eq!(kids(&issuers), ["k1", "k2"]);
    let old_token = k1.token().sign();
    assert_eq!(status(&issuers, &old_token).await, 200);

    // 2. retire k1: gone after the next scheduled refresh (max-age=1 now)
    server.set_jwks(TestKey::jwks([&k2]));
    eventually("k1 removed", || kids(&issuers) == ["k2"]).await;
    assert_eq!(status(&issuers, &old_token).await, 401);
    assert_eq!(status(&issuers, &k2.token().sign()).await, 200);

    stop.store(true, Ordering::Relaxed);
    stream.await.unwrap();
    assert!(sent.load(Ordering::Relaxed) > 20);
    assert_eq!(rejected.load(Ordering::Relaxed), 0, "valid tokens rejected");
}

#[derive(Debug, Clone, Copy)]
enum Outage {
    Stopped,
    Status500,
    Hang,
    Garbage,
    Huge,
}

async fn outage(kind: Outage) {
    let k1 = TestKey::p256("k1");
    let k2 = TestKey::p256("k2");
    let (url, server) = serve_jwks(TestKey::jwks([&k1])).await;
    server.set_cache_control(Some("max-age=0")); // refresh every min_interval (50 ms)
    let issuers = config(&url, fast()).build().await.unwrap();
    let known = k1.token().sign();
    assert_eq!(status(&issuers, &known).await, 200);

    match kind {
        Outage::Stopped => server.stop(),
        Outage::Status500 => server.set_fault(Some(Fault::Status(500))),
        Outage::Hang => server.set_fault(Some(Fault::Hang)),
        Outage::Garbage => server.set_fault(Some(Fault::Garbage)),
        Outage::Huge => server.set_fault(Some(Fault::Huge(20 * 1024 * 1024))),
    }
    let failures_before = issuers.stats_for(DEFAULT_ISSUER).unwrap().failures;
    eventually("two failed refreshes", || {
        issuers.stats_for(DEFAULT_ISSUER).unwrap().failures >= failures_before + 2
    })
    .await;
    // known keys keep working through the outage
    for _ in 0..20 {
        assert_eq!(status(&issuers, &k1.token().sign()).await, 200, "{kind:?}");
    }
    let stats = issuers.stats_for(DEFAULT_ISSUER).unwrap();
    assert!(stats.has_keys);
    let err = stats.last_error.expect("a failure is recorded");
    assert_eq!(err.url, url, "{kind:?}");
    match kind {
        Outage::Stopped => assert!(matches!(
            err.kind,
            FetchErrorKind::Http(HttpError::Transport(_))
        )),
        Outage::Status500 => assert_eq!(err.kind, FetchErrorKind::Status(500)),
        Outage::Hang => assert!(matches!(err.kind, FetchErrorKind::Timeout(_))),
        Outage::Garbage => {
            assert_eq!(err.kind, FetchErrorKind::NotAJwks);
            assert!(!err.to_string().contains("html"), "body echoed: {err}");
        }
        Outage::Huge => assert_eq!(
            err.kind,
            FetchErrorKind::Http(HttpError::TooLarge { limit: 1024 * 1024 })
        ),
    }
    // a new key cannot be learned while the IdP is down: 401, not 503
    server.set_jwks(TestKey::jwks([&k1, &k2]));
    assert_eq!(status(&issuers, &k2.token().sign()).await, 401, "{kind:?}");

    // recovery picks up the new key
    match kind {
        Outage::Stopped => server.restart(),
        _ => server.set_fault(None),
    }
    eventually("k2 learned after recovery", || {
        kids(&issuers) == ["k1", "k2"]
    })
    .await;
    assert_eq!(status(&issuers, &k2.token().sign()).await, 200);
    assert_eq!(status(&issuers, &known).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_server_stopped() {
    outage(Outage::Stopped).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_status_500() {
    outage(Outage::Status500).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_hang_past_timeout() {
    outage(Outage::Hang).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_garbage() {
    outage(Outage::Garbage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_huge_body() {
    outage(Outage::Huge).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_start_503_then_200() {
    let key = TestKey::rsa("r1");
    let (url, server) = serve_jwks(TestKey::jwks([&key])).await;
    server.stop();

    // build() gives up with the issuer and the URL named
    let mut short = fast();
    short.startup_timeout = Duration::from_millis(400);
    let err = config(&url, short).build().await.unwrap_err();
    let BuildError::Startup { issuer, error } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(issuer, DEFAULT_ISSUER);
    assert_eq!(error.url, url);
    assert!(err.to_string().contains(&url), "{err}");

    // build_lazy(): 503 with Retry-After while the IdP is down, never 401
    let issuers = config(&url, fast()).build_lazy().unwrap();
    let token = key.token().sign();
    for _ in 0..5 {
        let (status, retry_after) = check(&issuers, &token).await;
        assert_eq!(status, 503);
        assert!(retry_after.is_some_and(|s| s >= 1));
    }
    // a malformed token is still the token's fault
    assert_eq!(status(&issuers, "not.a.token").await, 401);
    server.restart();
    eventually("keys after the IdP came up", || {
        issuers.stats_for(DEFAULT_ISSUER).unwrap().has_keys
    })
    .await;
    assert_eq!(status(&issuers, &token).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kid_flood_is_rate_limited() {
    let key = TestKey::ed25519("good");
    let (url, server) = serve_jwks(TestKey::jwks([&key])).await;
    let mut refresh = fast();
    refresh.cooldown = Duration::from_secs(1);
    let issuers = config(&url, refresh).build().await.unwrap();
    assert_eq!(server.jwks_requests(), 1);

    let started = Instant::now();
    let mut forged = Vec::new();
    let mut good = Vec::new();
    for batch in 0..10 {
        for i in 0..100 {
            let token = key
                .token()
                .header("kid", format!("forged-{batch}-{i}"))
                .sign();
            let issuers = issuers.clone();
            forged.push(tokio::spawn(async move { status(&issuers, &token).await }));
        }
        let token = key.token().sign();
        let issuers = issuers.clone();
        good.push(tokio::spawn(async move { status(&issuers, &token).await }));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for h in forged {
        assert_eq!(h.await.unwrap(), 401);
    }
    for h in good {
        assert_eq!(h.await.unwrap(), 200);
    }
    let elapsed = started.elapsed();
    let on_demand = server.jwks_requests() - 1;
    let windows = elapsed.as_secs_f64().ceil() as usize; // cooldown = 1 s
    let stats = issuers.stats_for(DEFAULT_ISSUER).unwrap();
    println!(
        "1000 forged kids over {elapsed:?}: {on_demand} fetches, {} suppressed",
        stats.cooldown_suppressed
    );
    assert!(on_demand >= 1, "the first unknown kid refreshes");
    assert!(
        on_demand <= windows,
        "{on_demand} fetches in {windows} cooldown windows"
    );
    assert_eq!(stats.unknown_kid_refreshes as usize, on_demand);
    assert!(stats.cooldown_suppressed > 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_control_max_age_is_honoured() {
    let key = TestKey::p256("k1");
    let (url, server) = serve_jwks(TestKey::jwks([&key])).await;
    server.set_etag(false);
    server.set_cache_control(Some("public, max-age=1"));
    let issuers = config(&url, fast()).build().await.unwrap();
    tokio::time::sleep(Duration::from_millis(2600)).await;
    // refreshes at 0.9..1.0 s intervals (10 % jitter): 1 initial + 2 within 2.6 s
    let n = server.jwks_requests();
    assert!(
        (2..=4).contains(&n),
        "{n} requests with max-age=1 over 2.6 s"
    );

    // a long max-age: no refresh at all in the same time
    let (url, long) = serve_jwks(TestKey::jwks([&key])).await;
    long.set_cache_control(Some("max-age=3600"));
    let _issuers2 = config(&url, fast()).build().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(long.jwks_requests(), 1);

    // max-age=0 is clamped to min_interval (300 ms here): at most ~4 requests a second
    let (url, zero) = serve_jwks(TestKey::jwks([&key])).await;
    zero.set_cache_control(Some("max-age=0"));
    let mut refresh = fast();
    refresh.min_interval = Duration::from_millis(300);
    let _issuers3 = config(&url, refresh).build().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let n = zero.jwks_requests();
    assert!(
        (2..=5).contains(&n),
        "{n} requests over 1 s with a 300 ms floor"
    );
    drop(issuers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etag_304_keeps_the_set() {
    let k1 = TestKey::p256("k1");
    let k2 = TestKey::p256("k2");
    let (url, server) = serve_jwks(TestKey::jwks([&k1])).await;
    server.set_cache_control(Some("max-age=0"));
    let issuers = config(&url, fast()).build().await.unwrap();
    // wait on the client's own count: the server counts a 304 before the client has
    // processed it
    eventually("three 304s applied", || {
        issuers
            .stats_for(DEFAULT_ISSUER)
            .is_some_and(|s| s.not_modified >= 3)
    })
    .await;
    let stats = issuers.stats_for(DEFAULT_ISSUER).unwrap();
    assert!(stats.not_modified >= 3);
    assert!(stats.fetches >= 4);
    assert!(stats.has_keys);
    assert_eq!(status(&issuers, &k1.token().sign()).await, 200);
    // every request after the first was conditional and answered 304 while unchanged
    assert!(server.jwks_requests() <= server.not_modified() + 2);

    // a changed set has a new ETag: answered 200 and applied
    server.set_jwks(TestKey::jwks([&k1, &k2]));
    eventually("k2 after ETag change", || kids(&issuers) == ["k1", "k2"]).await;
    assert_eq!(status(&issuers, &k2.token().sign()).await, 200);
}

fn alive(server: &JwksServer) -> (usize, usize) {
    (
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks(),
        server.jwks_requests(),
    )
}

#[tokio::test(flavor = "current_thread")]
async fn refresh_tasks_end_when_handles_drop() {
    let key = TestKey::p256("k1");
    let (url, server) = serve_jwks(TestKey::jwks([&key])).await;
    server.set_cache_control(Some("max-age=0"));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (baseline, _) = alive(&server);

    let other = Validation::builder()
        .issuer("https://other.example")
        .audience(DEFAULT_AUDIENCE)
        .build()
        .unwrap();
    let issuers = config(&url, fast())
        .issuer(IssuerConfig::new(other).jwks_uri(&url))
        .build()
        .await
        .unwrap();
    let clone = issuers.clone();
    assert!(alive(&server).0 >= baseline + 2, "one task per issuer");
    drop(issuers);
    // a clone keeps the tasks running
    let before = server.jwks_requests();
    eventually("refreshes continue while a clone lives", || {
        server.jwks_requests() >= before + 2
    })
    .await;
    drop(clone);
    eventually("tasks ended", || alive(&server).0 == baseline).await;
    let (_, requests) = alive(&server);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        server.jwks_requests(),
        requests,
        "no fetch after the last drop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_set_is_dropped_after_max_staleness() {
    let key = TestKey::p256("k1");
    let (url, server) = serve_jwks(TestKey::jwks([&key])).await;
    server.set_cache_control(Some("max-age=0"));
    let mut refresh = fast();
    refresh.max_staleness = Duration::from_millis(400);
    let issuers = config(&url, refresh).build().await.unwrap();
    let token = key.token().sign();
    assert_eq!(status(&issuers, &token).await, 200);
    server.stop();
    eventually("stale set dropped", || {
        !issuers.stats_for(DEFAULT_ISSUER).unwrap().has_keys
    })
    .await;
    let (status_code, retry_after) = check(&issuers, &token).await;
    assert_eq!((status_code, retry_after.is_some()), (503, true));
    server.restart();
    eventually("keys back", || {
        issuers.stats_for(DEFAULT_ISSUER).unwrap().has_keys
    })
    .await;
    assert_eq!(status(&issuers, &token).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_only_within_the_origin() {
    let key = TestKey::p256("k1");
    let (_, target) = serve_jwks(TestKey::jwks([&key])).await;
    let (url, server) = serve_jwks(TestKey::jwks([&key])).await;

    // off-origin (another port): refused, the target is never asked
    server.set_fault(Some(tollgate_testkit::jwks_server::Fault::Redirect(
        target.jwks_url(),
    )));
    let mut short = fast();
    short.startup_timeout = Duration::from_millis(300);
    let err = config(&url, short).build().await.unwrap_err();
    let BuildError::Startup { error, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(error.kind, FetchErrorKind::Redirect);
    assert_eq!(target.total_requests(), 0);

    // same origin: followed, at most 3 hops (a redirect loop to itself: 1 + 3 requests)
    server.set_fault(Some(tollgate_testkit::jwks_server::Fault::Redirect(
        "/jwks".into(),
    )));
    let before = server.jwks_requests();
    let mut short = fast();
    short.startup_timeout = Duration::from_millis(300);
    short.retry_min = Duration::from_secs(10); // one attempt within the timeout
    let err = config(&url, short).build().await.unwrap_err();
    let BuildError::Startup { error, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(error.kind, FetchErrorKind::Redirect);
    assert_eq!(server.jwks_requests() - before, 4);
}
