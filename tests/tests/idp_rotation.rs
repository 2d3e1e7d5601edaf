//! Key rotation end to end: the dev IdP issues tokens over HTTP, the real axum-orders
//! router finds the IdP by discovery (`TOLLGATE_ISSUER` only) and refreshes its JWKS on
//! the IdP's `max-age`. Signing keys rotate repeatedly while requests flow: no valid
//! token is ever refused; a token whose key was retired keeps working through the
//! grace period and is refused (401 `invalid_token`) only after the key left the JWKS
//! and the resource server refreshed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use http::Method;
use tollgate_core::remote::RefreshConfig;
use tollgate_testkit::idp::DevIdp;
use tollgate_tests::send;

const GRACE: Duration = Duration::from_secs(3);

async fn start_orders(issuer: &str) -> String {
    let env: HashMap<&str, String> = [
        ("TOLLGATE_ISSUER", issuer.to_owned()),
        ("TOLLGATE_AUDIENCE", "orders".to_owned()),
    ]
    .into_iter()
    .collect();
    let config = axum_orders::Config::from_lookup(|k| env.get(k).cloned()).unwrap();
    assert_eq!(
        config.gate.issuers[0].jwks_uri, None,
        "keys come from discovery"
    );
    let mut refresh = RefreshConfig::default();
    // follow the IdP's max-age (1 s) instead of the production floor of 60 s
    refresh.min_interval = Duration::from_millis(500);
    refresh.cooldown = Duration::from_millis(500);
    let gate = config.tollgate().refresh(refresh).build().await.unwrap();
    tollgate_tests::serve(axum_orders::router(&gate)).await
}

/// A token for demo-reader from the token endpoint (real HTTP, client_secret_basic).
async fn fetch_token(idp: &DevIdp) -> String {
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("demo-reader:demo-reader-secret")
    );
    let r = send(
        Method::POST,
        &idp.token_endpoint(),
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("authorization", &auth),
        ],
        "grant_type=client_credentials&resource=orders&scope=orders:read",
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    r.json()["access_token"].as_str().unwrap().to_owned()
}

fn kid(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    serde_json::from_slice::<serde_json::Value>(&header).unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn orders(base: &str, token: &str) -> (u16, String) {
    let auth = format!("Bearer {token}");
    let r = send(
        Method::GET,
        &format!("{base}/orders"),
        &[("authorization", &auth)],
        "",
    )
    .await;
    (r.status.as_u16(), r.header("www-authenticate").to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_rejects_no_valid_token_and_drops_retired_keys_after_grace() {
    let idp = Arc::new(
        DevIdp::builder()
            .jwks_max_age(Duration::from_secs(1))
            .rotation_grace(GRACE)
            .token_ttl(Duration::from_secs(120))
            .algorithm(tollgate_core::alg::Algorithm::ES256)
            .start()
            .await
            .unwrap(),
    );
    let base = start_orders(idp.issuer()).await;

    // traffic in the background: a fresh token per request, used at once
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let (idp, base, stop) = (idp.clone(), base.clone(), stop.clone());
        tokio::spawn(async move {
            let (mut sent, mut refused) = (0usize, Vec::new());
            while !stop.load(Ordering::Relaxed) {
                let token = fetch_token(&idp).await;
                let got = orders(&base, &token).await;
                sent += 1;
                if got.0 != 200 {
                    refused.push((kid(&token), got));
                }
            }
            (sent, refused)
        })
    };

    // rotate repeatedly; around each rotation, tokens from before and after it
    let mut kids_used = Vec::new();
    let mut checked = 0usize;
    for _ in 0..5 {
        let before = fetch_token(&idp).await;
        let rotated_at = Instant::now();
        let new_kid = idp.rotate_now();
        let after = fetch_token(&idp).await;
        assert_eq!(kid(&after), new_kid);
        assert_ne!(kid(&before), new_kid);
        kids_used.push(new_kid);
        while rotated_at.elapsed() < Duration::from_millis(1200) {
            for t in [&before, &after] {
                let got = orders(&base, t).await;
                assert_eq!(got.0, 200, "valid token (kid {}) refused: {got:?}", kid(t));
                checked += 1;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let (sent, refused) = traffic.await.unwrap();
    assert!(refused.is_empty(), "valid tokens refused: {refused:?}");
    assert!(
        sent >= 20 && checked >= 40,
        "too little traffic: {sent} / {checked}"
    );
    kids_used.dedup();
    assert_eq!(kids_used.len(), 5, "each rotation brings a new signing key");

    // a token of the current key, then one more rotation retires that key
    let old = fetch_token(&idp).await;
    let old_kid = kid(&old);
    assert_eq!(orders(&base, &old).await.0, 200);
    let retired_at = Instant::now();
    idp.rotate_now();
    assert!(idp.published_kids().contains(&old_kid));
    // still accepted through the grace period; refused once the key left the JWKS and
    // the resource server refreshed (max-age 1 s)
    let refused_at = loop {
        let got = orders(&base, &old).await;
        if got.0 != 200 {
            assert_eq!(got.0, 401, "{got:?}");
            assert!(got.1.contains(r#"error="invalid_token""#), "{got:?}");
            break retired_at.elapsed();
        }
        assert!(
            retired_at.elapsed() < GRACE + Duration::from_secs(8),
            "token of a removed key still accepted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        refused_at >= GRACE,
        "refused after {refused_at:?}, inside the grace period"
    );
    assert!(!idp.published_kids().contains(&old_kid));
    eprintln!(
        "rotation: {sent} background requests and {checked} before/after checks over 5 \
         rotations, none refused; retired key's token refused after {refused_at:?} \
         (grace {GRACE:?})"
    );
    // while fresh tokens still work
    assert_eq!(orders(&base, &fetch_token(&idp).await).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timer_rotation_keeps_tokens_working() {
    let idp = DevIdp::builder()
        .jwks_max_age(Duration::from_secs(1))
        .rotation(Duration::from_millis(1500))
        .rotation_grace(Duration::from_secs(10))
        .algorithm(tollgate_core::alg::Algorithm::EdDSA)
        .start()
        .await
        .unwrap();
    let base = start_orders(idp.issuer()).await;
    let first = idp.signing_kid();
    let mut kids = vec![first.clone()];
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(4000) {
        let t = fetch_token(&idp).await;
        let got = orders(&base, &t).await;
        assert_eq!(got.0, 200, "kid {}: {got:?}", kid(&t));
        if kids.last() != Some(&kid(&t)) {
            kids.push(kid(&t));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(kids.len() >= 3, "the timer rotated: {kids:?}");
    assert!(idp.published_kids().contains(&first), "within grace");
}
