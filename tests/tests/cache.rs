//! The verified-token cache: hits share claims, expiry is exact, a removed key or a
//! re-used kid invalidates cached tokens at once, failures are never cached, and the
//! cache stays within its bounds under a flood of distinct valid tokens.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use tollgate_core::alg::Algorithm;
use tollgate_core::authenticate::{Authenticate, StaticKeys};
use tollgate_core::cache::CacheConfig;
use tollgate_core::error::{AuthError, ClaimsError};
use tollgate_core::remote::{IssuerConfig, Issuers, RefreshConfig};
use tollgate_core::{Claims, KeySet, Validation};
use tollgate_testkit::jwks_server::serve_jwks;
use tollgate_testkit::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, TestKey};

fn validation(leeway: u64) -> Validation {
    Validation::builder()
        .issuer(DEFAULT_ISSUER)
        .audience(DEFAULT_AUDIENCE)
        .algorithms([Algorithm::ES256, Algorithm::HS256])
        .leeway(Duration::from_secs(leeway))
        .build()
        .unwrap()
}

#[test]
fn hit_shares_claims_and_expiry_is_exact() {
    let key = TestKey::p256("k1");
    let auth = StaticKeys::new(validation(0), KeySet::from_keys([key.public_key()]));
    let now = tollgate_testkit::now();
    let exp = now + 100;
    let token = key.token().claim("exp", exp).claim("iat", now).sign();

    // first sighting: verified, only remembered by the doorkeeper
    auth.verify_cached::<()>(&token, now).unwrap();
    assert_eq!(auth.cached_tokens(), 0);
    // second: verified again and admitted
    let first = auth.verify_cached::<()>(&token, now).unwrap();
    assert_eq!(auth.cached_tokens(), 1);
    let second = auth.verify_cached::<()>(&token, exp - 1).unwrap();
    assert!(
        Arc::ptr_eq(&first, &second),
        "the third call is a cache hit"
    );
    // at exp exactly: no longer served from the cache, and the full check refuses it
    let err = auth.verify_cached::<()>(&token, exp).unwrap_err();
    assert!(
        matches!(err, AuthError::Claims(ClaimsError::Expired { .. })),
        "{err:?}"
    );
    assert_eq!(auth.cached_tokens(), 0, "the expired entry was dropped");

    // with leeway the full check still accepts it for a while, but never from cache
    let lenient = StaticKeys::new(validation(30), KeySet::from_keys([key.public_key()]))
        .with_cache(CacheConfig::default().admit_on_first_sight());
    let a = lenient.verify_cached::<()>(&token, now).unwrap();
    let b = lenient.verify_cached::<()>(&token, exp + 5).unwrap();
    assert!(
        !Arc::ptr_eq(&a, &b),
        "past exp the token was verified again"
    );
}

#[test]
fn failures_are_not_cached_and_other_claims_types_miss() {
    let key = TestKey::p256("k1");
    let auth = StaticKeys::new(validation(60), KeySet::from_keys([key.public_key()]));
    let now = tollgate_testkit::now();
    for bad in [
        key.token().expired(),
        key.token().bad_signature(),
        key.token().wrong_audience(),
    ] {
        assert!(auth.verify_cached::<()>(&bad, now).is_err());
        assert!(auth.verify_cached::<()>(&bad, now).is_err());
    }
    assert_eq!(auth.cached_tokens(), 0);
    let token = key.token().claim("tenant", "acme").sign();
    let unit = auth.verify_cached::<()>(&token, now).unwrap();
    let value = auth
        .verify_cached::<serde_json::Value>(&token, now)
        .unwrap();
    assert_eq!(value.extra["tenant"], "acme");
    assert_eq!(unit.sub, value.sub);
    // disabled cache
    let none =
        StaticKeys::new(validation(0), KeySet::from_keys([key.public_key()])).without_cache();
    let a = none.verify_cached::<()>(&token, now).unwrap();
    let b = none.verify_cached::<()>(&token, now).unwrap();
    assert!(!Arc::ptr_eq(&a, &b));
    assert_eq!(none.cached_tokens(), 0);
}

fn fast() -> RefreshConfig {
    let mut c = RefreshConfig::default();
    c.min_interval = Duration::from_millis(50);
    c.cooldown = Duration::from_millis(50);
    c.startup_timeout = Duration::from_secs(3);
    c
}

async fn auth(issuers: &Issuers, token: &str) -> Result<Arc<Claims>, AuthError> {
    Authenticate::<()>::authenticate(issuers, token).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_key_and_reused_kid_invalidate_cached_tokens() {
    let k1 = TestKey::p256("k1");
    let k2 = TestKey::p256("k2");
    let (url, server) = serve_jwks(TestKey::jwks([&k1, &k2])).await;
    let issuers = Issuers::builder()
        .refresh(fast())
        .issuer(IssuerConfig::new(validation(0)).jwks_uri(&url))
        .build()
        .await
        .unwrap();

    let t1 = k1.token().sign();
    let t2 = k2.token().sign();
    // first sightings only mark the doorkeeper
    auth(&issuers, &t1).await.unwrap();
    auth(&issuers, &t2).await.unwrap();
    let a = auth(&issuers, &t1).await.unwrap();
    let b = auth(&issuers, &t1).await.unwrap();
    assert!(Arc::ptr_eq(&a, &b), "cached");
    let c = auth(&issuers, &t2).await.unwrap();
    assert!(Arc::ptr_eq(&c, &auth(&issuers, &t2).await.unwrap()));

    // k1 removed; a token with a new kid makes the registry refresh
    let k3 = TestKey::p256("k3");
    server.set_jwks(TestKey::jwks([&k2, &k3]));
    auth(&issuers, &k3.token().sign()).await.unwrap();
    assert_eq!(
        auth(&issuers, &t1).await.unwrap_err().wire().status,
        401,
        "cached token of a removed key"
    );
    assert!(
        Arc::ptr_eq(&c, &auth(&issuers, &t2).await.unwrap()),
        "k2's tokens stay cached"
    );

    // kid "k2" re-used for new key material: k2's cached tokens die at once
    let k2_new = TestKey::p256("k2");
    let k4 = TestKey::p256("k4");
    server.set_jwks(TestKey::jwks([&k2_new, &k3, &k4]));
    // past the unknown-kid cooldown, so the next unknown kid may refresh again
    tokio::time::sleep(Duration::from_millis(150)).await;
    auth(&issuers, &k4.token().sign()).await.unwrap();
    assert_eq!(
        auth(&issuers, &t2).await.unwrap_err().wire().status,
        401,
        "kid re-used"
    );
    auth(&issuers, &k2_new.token().sign()).await.unwrap();
}

#[test]
fn one_time_tokens_are_never_inserted() {
    let key = TestKey::hmac_random("h");
    let auth = StaticKeys::new(validation(60), KeySet::from_keys([key.public_key()]));
    let now = tollgate_testkit::now();
    for i in 0..2_000 {
        let t = key.token().claim("jti", format!("once-{i}")).sign();
        auth.verify_cached::<()>(&t, now).unwrap();
    }
    assert_eq!(auth.cached_tokens(), 0, "the cold path inserts nothing");
    // without the doorkeeper every verified token is inserted at once
    let eager = StaticKeys::new(validation(60), KeySet::from_keys([key.public_key()]))
        .with_cache(CacheConfig::default().admit_on_first_sight());
    for i in 0..100 {
        let t = key.token().claim("jti", format!("eager-{i}")).sign();
        eager.verify_cached::<()>(&t, now).unwrap();
    }
    assert_eq!(eager.cached_tokens(), 100);
}

/// Bounded under a flood of distinct valid tokens, each used twice so that it is
/// admitted (quick check; the 1M run is below).
#[test]
fn bounded_under_distinct_valid_tokens() {
    let key = TestKey::hmac_random("h");
    let auth = StaticKeys::new(validation(60), KeySet::from_keys([key.public_key()]))
        .with_cache(CacheConfig::default().max_entries(1_000));
    let hot = key.token().sign();
    let now = tollgate_testkit::now();
    auth.verify_cached::<()>(&hot, now).unwrap();
    let hot_claims = auth.verify_cached::<()>(&hot, now).unwrap();
    for i in 0..20_000 {
        let t = key.token().claim("jti", format!("flood-{i}")).sign();
        auth.verify_cached::<()>(&t, now).unwrap();
        auth.verify_cached::<()>(&t, now).unwrap();
        if i % 10 == 0 {
            // the hot token keeps being used, as real clients do
            auth.verify_cached::<()>(&hot, now).unwrap();
        }
    }
    assert!(auth.cached_tokens() <= 1_000, "{}", auth.cached_tokens());
    let again = auth.verify_cached::<()>(&hot, now).unwrap();
    assert!(
        Arc::ptr_eq(&hot_claims, &again),
        "a frequently used entry survives the flood"
    );
}

fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4
}

/// 1,000,000 distinct valid tokens (each used twice, so each is admitted) through a
/// 100k-entry cache. Slow in debug builds:
/// `cargo test --release -p tollgate-tests --test cache -- --ignored --nocapture`.
#[test]
#[ignore = "long: run with --release --ignored"]
fn million_distinct_tokens() {
    let key = TestKey::hmac_random("h");
    let auth = StaticKeys::new(validation(60), KeySet::from_keys([key.public_key()]));
    let now = tollgate_testkit::now();
    let base = key.token();
    let before = rss_kib();
    let mut peak = 0;
    for i in 0..1_000_000u32 {
        let t = base.clone().claim("jti", format!("m{i}")).sign();
        auth.verify_cached::<()>(&t, now).unwrap();
        auth.verify_cached::<()>(&t, now).unwrap();
        if i % 100_000 == 0 {
            peak = peak.max(rss_kib());
        }
    }
    peak = peak.max(rss_kib());
    let n = auth.cached_tokens();
    eprintln!(
        "1M distinct tokens: {n} cached (bound 100000), RSS {} MiB before, peak {} MiB",
        before / 1024,
        peak / 1024
    );
    assert!(n <= 100_000);
}
