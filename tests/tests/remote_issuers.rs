//! Issuer discovery (both well-known forms, issuers with a path, mismatch, re-discovery)
//! and the multi-issuer registry (binding of issuer to keys, unlisted issuers without
//! I/O), against real HTTP servers on 127.0.0.1:0.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use tollgate_core::authenticate::Authenticate;
use tollgate_core::remote::{Discovery, FetchErrorKind, IssuerConfig, Issuers, RefreshConfig};
use tollgate_core::{BuildError, Validation};
use tollgate_testkit::jwks_server::{WellKnown, serve_jwks};
use tollgate_testkit::{DEFAULT_AUDIENCE, TestKey};

fn fast() -> RefreshConfig {
    let mut c = RefreshConfig::default();
    c.min_interval = Duration::from_millis(50);
    c.default_interval = Duration::from_secs(60);
    c.cooldown = Duration::from_millis(200);
    c.fetch_timeout = Duration::from_millis(500);
    c.retry_min = Duration::from_millis(50);
    c.retry_max = Duration::from_millis(200);
    c.startup_timeout = Duration::from_secs(3);
    c
}

fn validation(issuer: &str, audience: &str) -> Validation {
    Validation::builder()
        .issuer(issuer)
        .audience(audience)
        .build()
        .unwrap()
}

async fn status(issuers: &Issuers, token: &str) -> u16 {
    match Authenticate::<()>::authenticate(issuers, token).await {
        Ok(_) => 200,
        Err(e) => e.wire().status,
    }
}

async fn discovered(form: WellKnown, discovery: Discovery, path: &str, expect_path: &str) {
    let key = TestKey::p256("k1");
    let (_, server) = serve_jwks(TestKey::jwks([&key])).await;
    let issuer = server.serve_discovery(path, form);
    let issuers = Issuers::builder()
        .refresh(fast())
        .issuer(IssuerConfig::new(validation(&issuer, DEFAULT_AUDIENCE)).discover_with(discovery))
        .build()
        .await
        .unwrap();
    assert_eq!(server.requests_to(expect_path), 1, "{expect_path}");
    assert_eq!(server.jwks_requests(), 1);
    let stats = issuers.stats_for(&issuer).unwrap();
    assert_eq!(stats.jwks_uri.as_deref(), Some(&*server.jwks_url()));
    assert_eq!(
        status(&issuers, &key.token().issuer(&issuer).sign()).await,
        200
    );
    // the same key under another issuer name is not accepted
    assert_eq!(status(&issuers, &key.token().sign()).await, 401);
}

#[tokio::test]
async fn discovery_openid_configuration() {
    discovered(
        WellKnown::OpenId,
        Discovery::OpenIdConnect,
        "",
        "/.well-known/openid-configuration",
    )
    .await;
}

#[tokio::test]
async fn discovery_rfc8414() {
    discovered(
        WellKnown::OAuth,
        Discovery::OAuthServer,
        "",
        "/.well-known/oauth-authorization-server",
    )
    .await;
}

#[tokio::test]
async fn discovery_issuer_with_path_openid() {
    discovered(
        WellKnown::OpenId,
        Discovery::OpenIdConnect,
        "/tenants/a",
        "/tenants/a/.well-known/openid-configuration",
    )
    .await;
}

#[tokio::test]
async fn discovery_issuer_with_path_rfc8414_inserts_well_known() {
    discovered(
        WellKnown::OAuth,
        Discovery::OAuthServer,
        "/tenants/a",
        "/.well-known/oauth-authorization-server/tenants/a",
    )
    .await;
}

#[tokio::test]
async fn discovery_auto_falls_back_to_rfc8414() {
    discovered(
        WellKnown::OAuth,
        Discovery::Auto,
        "/t",
        "/.well-known/oauth-authorization-server/t",
    )
    .await;
}

#[tokio::test]
async fn discovery_issuer_mismatch_fails_startup() {
    let key = TestKey::p256("k1");
    let (_, server) = serve_jwks(TestKey::jwks([&key])).await;
    let issuer = server.serve_discovery("/realm", WellKnown::Both);

    for (metadata_issuer, configured) in [
        // an attacker-controlled or misconfigured issuer value
        ("https://evil.example/realm".to_owned(), issuer.clone()),
        // a trailing slash is a different issuer (byte-for-byte comparison)
        (format!("{issuer}/"), issuer.clone()),
    ] {
        server.set_metadata_issuer(Some(&metadata_issuer));
        let started = Instant::now();
        let err = Issuers::builder()
            .refresh(fast())
            .issuer(IssuerConfig::new(validation(&configured, DEFAULT_AUDIENCE)).discover())
            .build()
            .await
            .unwrap_err();
        let BuildError::Startup {
            issuer: named,
            error,
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(named, &configured);
        assert!(
            matches!(error.kind, FetchErrorKind::IssuerMismatch { .. }),
            "{err}"
        );
        assert!(
            error
                .url
                .ends_with("/realm/.well-known/openid-configuration")
        );
        // permanent: reported at once, not after the startup timeout
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    assert_eq!(
        server.jwks_requests(),
        0,
        "no keys fetched from a mismatched issuer"
    );
}

#[tokio::test]
async fn rediscovery_follows_a_moved_jwks_uri() {
    let k1 = TestKey::p256("k1");
    let k2 = TestKey::p256("k2");
    let (_, server) = serve_jwks(TestKey::jwks([&k1])).await;
    let issuer = server.serve_discovery("", WellKnown::OpenId);
    let mut refresh = fast();
    refresh.rediscovery_interval = Duration::from_millis(200);
    refresh.default_interval = Duration::from_millis(100);
    refresh.min_interval = Duration::from_millis(50);
    let issuers = Issuers::builder()
        .refresh(refresh)
        .issuer(IssuerConfig::new(validation(&issuer, DEFAULT_AUDIENCE)).discover())
        .build()
        .await
        .unwrap();
    server.set_jwks_path("/keys/v2");
    server.set_jwks(TestKey::jwks([&k1, &k2]));
    let deadline = Instant::now() + Duration::from_secs(10);
    while issuers.stats_for(&issuer).unwrap().jwks_uri.as_deref()
        != Some(&*format!("{}/keys/v2", server.base_url()))
        || !issuers
            .stats_for(&issuer)
            .unwrap()
            .kids
            .contains(&"k2".to_owned())
    {
        assert!(Instant::now() < deadline, "jwks_uri change not followed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        status(&issuers, &k2.token().issuer(&issuer).sign()).await,
        200
    );
    assert!(server.requests_to("/.well-known/openid-configuration") >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_issuer_binding_and_unlisted_issuer() {
    let ka = TestKey::p256("a1");
    let kb = TestKey::p256("b1");
    let (url_a, server_a) = serve_jwks(TestKey::jwks([&ka])).await;
    let (url_b, server_b) = serve_jwks(TestKey::jwks([&kb])).await;
    let (iss_a, iss_b) = ("https://a.example", "https://b.example");
    let issuers = Issuers::builder()
        .refresh(fast())
        .issuer(IssuerConfig::new(validation(iss_a, "api-a")).jwks_uri(&url_a))
        .issuer(IssuerConfig::new(validation(iss_b, "api-b")).jwks_uri(&url_b))
        .build()
        .await
        .unwrap();
    assert_eq!((server_a.jwks_requests(), server_b.jwks_requests()), (1, 1));

    // each issuer with its own keys and audience
    let a_ok = ka.token().issuer(iss_a).audience("api-a").sign();
    let b_ok = kb.token().issuer(iss_b).audience("api-b").sign();
    assert_eq!(status(&issuers, &a_ok).await, 200);
    assert_eq!(status(&issuers, &b_ok).await, 200);
    // A's audience is not B's
    assert_eq!(
        status(&issuers, &ka.token().issuer(iss_a).audience("api-b").sign()).await,
        401
    );

    // a token claiming issuer A signed with B's key (B's kid): unknown kid in A's set;
    // one refresh of A's JWKS, never a request to B
    let forged = kb.token().issuer(iss_a).audience("api-a").sign();
    assert_eq!(status(&issuers, &forged).await, 401);
    assert_eq!(server_b.jwks_requests(), 1);
    assert!(server_a.jwks_requests() <= 2);
    // ... and with B's key under A's kid: signature refused, no fetch at all
    let before = server_a.jwks_requests();
    let forged = kb
        .with_kid("a1")
        .token()
        .issuer(iss_a)
        .audience("api-a")
        .sign();
    assert_eq!(status(&issuers, &forged).await, 401);
    assert_eq!(server_a.jwks_requests(), before);

    // an unlisted issuer: 401, and no request to any server
    let (total_a, total_b) = (server_a.total_requests(), server_b.total_requests());
    for kid in ["a1", "zz"] {
        let t = ka
            .with_kid(kid)
            .token()
            .issuer("https://c.example")
            .audience("api-a")
            .sign();
        assert_eq!(status(&issuers, &t).await, 401);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        (server_a.total_requests(), server_b.total_requests()),
        (total_a, total_b)
    );
    let stats = issuers.stats();
    assert_eq!(stats.len(), 2);
    assert!(stats.iter().all(|s| s.has_keys));
}
