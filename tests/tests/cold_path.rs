//! Issue 18, cold path: with several issuers the payload is decoded and its registered
//! claims parsed once (for the issuer selection and the verification). Every token
//! gets the same answer from the registry as from its issuer's own policy with the
//! same keys, including malformed ones (duplicate members, wrong claim types, bad
//! base64, unreadable claims); and keys parsed once at load verify every algorithm of
//! their family (RS*/PS* with one RSA key, a pinned `alg` only its own).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use tollgate_core::alg::Algorithm;
use tollgate_core::authenticate::Authenticate;
use tollgate_core::error::{AuthError, SignatureError};
use tollgate_core::remote::{IssuerConfig, Issuers, RefreshConfig};
use tollgate_core::{Key, KeySet, Validation};
use tollgate_testkit::TestKey;
use tollgate_testkit::jwks_server::serve_jwks;

fn refresh() -> RefreshConfig {
    let mut c = RefreshConfig::default();
    c.cooldown = Duration::from_secs(60);
    c.unknown_kid_wait = Duration::from_millis(100);
    c.fetch_timeout = Duration::from_millis(500);
    c.startup_timeout = Duration::from_secs(3);
    c
}

fn validation(issuer: &str, audience: &str) -> Validation {
    Validation::builder()
        .issuer(issuer)
        .audience(audience)
        .algorithms(Algorithm::ALL)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_issuer_answers_as_the_issuers_own_policy() {
    let ka = TestKey::rsa("a1");
    let kb = TestKey::p256("b1");
    let (url_a, _sa) = serve_jwks(TestKey::jwks([&ka])).await;
    let (url_b, _sb) = serve_jwks(TestKey::jwks([&kb])).await;
    let (iss_a, iss_b) = ("https://a.example", "https://b.example");
    let issuers = Issuers::builder()
        .refresh(refresh())
        .without_cache()
        .issuer(IssuerConfig::new(validation(iss_a, "api-a")).jwks_uri(&url_a))
        .issuer(IssuerConfig::new(validation(iss_b, "api-b")).jwks_uri(&url_b))
        .build()
        .await
        .unwrap();
    let keys_a = KeySet::from_keys([ka.public_key()]);
    let keys_b = KeySet::from_keys([kb.public_key()]);
    let now = tollgate_testkit::now();
    let exp = now + 300;

    let cases: Vec<(&str, &TestKey, String)> = vec![
        (
            "valid a",
            &ka,
            ka.token().issuer(iss_a).audience("api-a").sign(),
        ),
        (
            "valid b",
            &kb,
            kb.token().issuer(iss_b).audience("api-b").sign(),
        ),
        (
            "duplicate unknown member",
            &ka,
            ka.token()
                .raw_claims(&format!(
                    r#"{{"iss":"{iss_a}","aud":"api-a","exp":{exp},"x":1,"x":2}}"#
                ))
                .sign(),
        ),
        (
            "duplicate iss",
            &ka,
            ka.token()
                .raw_claims(&format!(
                    r#"{{"iss":"{iss_a}","iss":"{iss_b}","aud":"api-a","exp":{exp}}}"#
                ))
                .sign(),
        ),
        (
            "aud of the wrong type",
            &kb,
            kb.token()
                .raw_claims(&format!(r#"{{"iss":"{iss_b}","aud":5,"exp":{exp}}}"#))
                .sign(),
        ),
        (
            "exp of the wrong type",
            &kb,
            kb.token()
                .raw_claims(&format!(
                    r#"{{"iss":"{iss_b}","aud":"api-b","exp":"soon"}}"#
                ))
                .sign(),
        ),
        (
            "escaped iss",
            &kb,
            kb.token()
                .raw_claims(&format!(
                    r#"{{"iss":"https:\/\/b.example","aud":"api-b","exp":{exp}}}"#
                ))
                .sign(),
        ),
        (
            "expired",
            &ka,
            ka.token()
                .issuer(iss_a)
                .audience("api-a")
                .claim("exp", now - 600)
                .sign(),
        ),
        (
            "wrong audience",
            &ka,
            ka.token().issuer(iss_a).audience("api-b").sign(),
        ),
        (
            "claims not an object",
            &ka,
            ka.token().raw_claims("[1,2]").sign(),
        ),
        ("claims not JSON", &ka, ka.token().raw_claims("{").sign()),
        (
            "no iss",
            &ka,
            ka.token().without("iss").audience("api-a").sign(),
        ),
    ];
    for (what, key, token) in &cases {
        let own = if std::ptr::eq(*key, &ka) {
            validation(iss_a, "api-a").verify::<()>(token, &keys_a)
        } else {
            validation(iss_b, "api-b").verify::<()>(token, &keys_b)
        }
        .map(|c| c.sub.clone());
        let registry = Authenticate::<()>::authenticate(&issuers, token)
            .await
            .map(|c| c.sub.clone());
        // "no iss" and unreadable claims go to the first issuer, as before
        assert_eq!(registry, own, "{what}");
    }
    // and a broken payload segment (not base64url)
    let t = ka.token().issuer(iss_a).audience("api-a").sign();
    let mut segs: Vec<&str> = t.split('.').collect();
    segs[1] = "e30*";
    let broken = segs.join(".");
    assert_eq!(
        Authenticate::<()>::authenticate(&issuers, &broken)
            .await
            .unwrap_err(),
        validation(iss_a, "api-a")
            .verify::<()>(&broken, &keys_a)
            .unwrap_err()
    );
}

#[test]
fn one_rsa_key_verifies_each_rsa_algorithm_and_a_pinned_one_only_its_own() {
    let key = TestKey::rsa("r");
    let v = validation(
        tollgate_testkit::DEFAULT_ISSUER,
        tollgate_testkit::DEFAULT_AUDIENCE,
    );
    let jwk = key.jwk();
    let any = KeySet::from_keys([Key::from_jwk(&jwk).unwrap()]);
    let mut pinned = jwk.clone();
    pinned["alg"] = "PS384".into();
    let pinned = KeySet::from_keys([Key::from_jwk(&pinned).unwrap()]);
    for alg in [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
    ] {
        let token = key.token().alg(alg).sign();
        assert!(v.verify::<()>(&token, &any).is_ok(), "{alg}");
        assert_eq!(
            v.verify::<()>(&token, &pinned).is_ok(),
            alg == Algorithm::PS384,
            "{alg}"
        );
        // a flipped signature byte is refused by the parsed key
        let (input, sig) = token.rsplit_once('.').unwrap();
        let mut sig = sig.as_bytes().to_vec();
        sig[10] = if sig[10] == b'A' { b'B' } else { b'A' };
        let bad = format!("{input}.{}", String::from_utf8(sig).unwrap());
        assert_eq!(
            v.verify::<()>(&bad, &any).unwrap_err(),
            AuthError::Signature(SignatureError::Invalid),
            "{alg}"
        );
    }
}
