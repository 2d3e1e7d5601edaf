//! Tokens minted by an independent implementation (PyJWT 2.x, see
//! `tests/fixtures/pyjwt/gen.py`) verified by tollgate-core: every `ok` token is
//! accepted with its claims, every broken one refused with the expected error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use serde::Deserialize;
use tollgate_core::alg::Algorithm;
use tollgate_core::error::{
    AuthError, ClaimsError, FormatError, HeaderError, KeyError, SignatureError,
};
use tollgate_core::{Key, KeySet, Validation};

#[derive(Deserialize)]
struct Case {
    name: String,
    token: String,
    expect: String,
}

/// The committed fixtures, or a freshly minted set when `TOLLGATE_PYJWT_DIR` is set
/// (tests/interop/run.sh mints one with PyJWT on every CI run).
fn dir() -> String {
    std::env::var("TOLLGATE_PYJWT_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/pyjwt").to_owned())
}

fn setup() -> (Validation, KeySet, Vec<Case>) {
    #[allow(non_snake_case)]
    let DIR = dir();
    let jwks = std::fs::read(format!("{DIR}/jwks.json")).unwrap();
    let parsed = KeySet::parse_jwks(&jwks).unwrap();
    assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
    let secret = std::fs::read_to_string(format!("{DIR}/hmac_secret.txt")).unwrap();
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(secret.trim())
        .unwrap();
    let mut keys = parsed.keys;
    keys.insert(Key::hmac(Some("py-hs"), &secret).unwrap());
    let validation = Validation::builder()
        .issuer("https://idp.pyjwt.test")
        .audience("tollgate-tests")
        .algorithms(Algorithm::ALL)
        .build()
        .unwrap();
    let cases: Vec<Case> =
        serde_json::from_slice(&std::fs::read(format!("{DIR}/tokens.json")).unwrap()).unwrap();
    (validation, keys, cases)
}

// Fixture time: tokens are iat 1700000000, exp 4102444800 (year 2100).
const NOW: i64 = 1_750_000_000;

#[test]
fn pyjwt_tokens() {
    let (validation, keys, cases) = setup();
    let mut ok = 0;
    let mut refused = 0;
    for case in &cases {
        let got = validation.verify_at::<serde_json::Value>(&case.token, &keys, NOW);
        match case.expect.as_str() {
            "ok" => {
                let claims = got.unwrap_or_else(|e| panic!("{}: {e}", case.name));
                assert_eq!(claims.sub.as_deref(), Some("user-123"), "{}", case.name);
                assert_eq!(claims.client_id.as_deref(), Some("py-client"));
                assert!(!claims.scopes.is_empty(), "{}", case.name);
                ok += 1;
            }
            expect => {
                let err = got
                    .err()
                    .unwrap_or_else(|| panic!("{} was accepted", case.name));
                let expected: AuthError = match expect {
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
                    // the RSA key has no HMAC family: no key can verify HS256 under its kid
                    "hs_with_rsa_public_key" => KeyError::NoCompatibleKey.into(),
                    "exp_string" => ClaimsError::InvalidNumericDate("exp").into(),
                    "duplicate_alg_header" => {
                        FormatError::DuplicateMember { in_header: true }.into()
                    }
                    other => panic!("unknown expectation {other}"),
                };
                assert_eq!(err, expected, "{}", case.name);
                assert_eq!(err.wire().status, 401, "{}", case.name);
                refused += 1;
            }
        }
    }
    eprintln!("pyjwt: {ok} accepted, {refused} refused as expected");
    assert_eq!(ok, 14);
    assert_eq!(refused, 12);
}
