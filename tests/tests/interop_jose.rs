//! Tokens minted by npm `jose` (panva; see `tests/fixtures/jose/mint.mjs`) verified by
//! tollgate-core: every `ok` token (ES256, RS256, PS256, EdDSA) is accepted with its
//! claims, every broken variant refused with the expected error.
//!
//! Reads the committed fixtures, or a freshly minted set when `TOLLGATE_JOSE_DIR` is set
//! (tests/interop/run.sh mints one with jose on every CI run).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde::Deserialize;
use tollgate_core::alg::Algorithm;
use tollgate_core::error::{
    AuthError, ClaimsError, FormatError, HeaderError, KeyError, SignatureError,
};
use tollgate_core::{KeySet, Validation};

#[derive(Deserialize)]
struct Case {
    name: String,
    token: String,
    expect: String,
}

fn dir() -> String {
    std::env::var("TOLLGATE_JOSE_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/jose").to_owned())
}

// Fixture time: tokens are iat 1700000000, exp 4102444800 (year 2100).
const NOW: i64 = 1_750_000_000;

#[test]
fn jose_tokens() {
    let dir = dir();
    let parsed = KeySet::parse_jwks(&std::fs::read(format!("{dir}/jwks.json")).unwrap()).unwrap();
    assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
    assert_eq!(parsed.keys.len(), 4);
    let keys = parsed.keys;
    // every algorithm allowed (HMAC too), so that key confusion is refused by key
    // selection, not by the allow-list
    let validation = Validation::builder()
        .issuer("https://idp.jose.test")
        .audience("tollgate-tests")
        .algorithms(Algorithm::ALL)
        .build()
        .unwrap();
    let cases: Vec<Case> =
        serde_json::from_slice(&std::fs::read(format!("{dir}/tokens.json")).unwrap()).unwrap();
    let (mut ok, mut refused) = (0, 0);
    for case in &cases {
        let got = validation.verify_at::<serde_json::Value>(&case.token, &keys, NOW);
        if case.expect == "ok" {
            let claims = got.unwrap_or_else(|e| panic!("{}: {e}", case.name));
            assert_eq!(claims.sub.as_deref(), Some("user-123"), "{}", case.name);
            assert_eq!(claims.client_id.as_deref(), Some("jose-client"));
            assert!(claims.scopes.contains("orders:read"), "{}", case.name);
            ok += 1;
            continue;
        }
        let err = got
            .err()
            .unwrap_or_else(|| panic!("{} was accepted", case.name));
        let expected: AuthError = match case.expect.as_str() {
            "expired" => ClaimsError::Expired {
                exp: 1_700_000_100,
                now: NOW,
            }
            .into(),
            "not_yet_valid" => ClaimsError::NotYetValid {
                nbf: 4_000_000_000,
                now: NOW,
            }
            .into(),
            "wrong_audience" => ClaimsError::AudienceMismatch.into(),
            "wrong_issuer" => ClaimsError::IssuerNotAllowed.into(),
            "bad_signature" => SignatureError::Invalid.into(),
            "unknown_kid" => KeyError::UnknownKid.into(),
            "alg_none" => HeaderError::AlgNone.into(),
            "wrong_typ" => HeaderError::WrongType.into(),
            "missing_exp" => ClaimsError::Missing("exp").into(),
            "exp_string" => ClaimsError::InvalidNumericDate("exp").into(),
            "hs_with_rsa_public_key" => KeyError::NoCompatibleKey.into(),
            "unsupported_critical" => HeaderError::UnsupportedCritical.into(),
            "nested" => FormatError::Nested.into(),
            "duplicate_alg_header" => FormatError::DuplicateMember { in_header: true }.into(),
            other => panic!("unknown expectation {other}"),
        };
        assert_eq!(err, expected, "{}", case.name);
        assert_eq!(err.wire().status, 401, "{}", case.name);
        refused += 1;
    }
    eprintln!("jose: {ok} accepted, {refused} refused as expected");
    assert_eq!((ok, refused), (7, 15));
}
