//! Token fixtures minted by independent implementations (PyJWT, npm `jose`): a folder
//! with `jwks.json` and `tokens.json` (`[{name, token, expect}]`), checked the same way
//! for each minting library.

use std::sync::Arc;

use serde::Deserialize;
use tollgate_core::error::{
    AuthError, ClaimsError, FormatError, HeaderError, KeyError, SignatureError,
};
use tollgate_core::{Claims, KeySet, Validation};

/// Fixture time: tokens are iat 1700000000, exp 4102444800 (year 2100).
pub const NOW: i64 = 1_750_000_000;

/// One minted token and what must happen to it.
#[derive(Debug, Deserialize)]
pub struct Case {
    /// A readable name.
    pub name: String,
    /// The compact token.
    pub token: String,
    /// `ok`, or the name of the expected refusal (see [`expected_error`]).
    pub expect: String,
}

/// The folder named by `env_var` (a fresh mint, set by tests/interop/run.sh), else the
/// committed `tests/fixtures/<committed>`.
#[must_use]
pub fn dir(env_var: &str, committed: &str) -> String {
    std::env::var(env_var)
        .unwrap_or_else(|_| format!("{}/fixtures/{committed}", env!("CARGO_MANIFEST_DIR")))
}

/// The folder's JWKS (every key must load) and its cases.
///
/// # Panics
///
/// When a file is missing or malformed, or a key is skipped (tests only).
#[must_use]
pub fn load(dir: &str) -> (KeySet, Vec<Case>) {
    let jwks = std::fs::read(format!("{dir}/jwks.json")).expect("jwks.json");
    let parsed = KeySet::parse_jwks(&jwks).expect("a JWKS");
    assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
    let tokens = std::fs::read(format!("{dir}/tokens.json")).expect("tokens.json");
    (parsed.keys, serde_json::from_slice(&tokens).expect("cases"))
}

/// The exact error a broken fixture must be refused with.
///
/// # Panics
///
/// On an expectation name not listed here.
#[must_use]
pub fn expected_error(expect: &str) -> AuthError {
    match expect {
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
        "unsupported_critical" => HeaderError::UnsupportedCritical.into(),
        "nested" => FormatError::Nested.into(),
        "duplicate_alg_header" => FormatError::DuplicateMember { in_header: true }.into(),
        other => panic!("unknown expectation {other}"),
    }
}

/// Verifies every case at [`NOW`]: `ok` cases must pass and are handed to `accepted`;
/// the others must fail with exactly [`expected_error`] and answer 401. Returns
/// (accepted, refused).
///
/// # Panics
///
/// On any case with another outcome (tests only).
pub fn check(
    validation: &Validation,
    keys: &KeySet,
    cases: &[Case],
    mut accepted: impl FnMut(&Case, &Arc<Claims<serde_json::Value>>),
) -> (usize, usize) {
    let (mut ok, mut refused) = (0, 0);
    for case in cases {
        let got = validation.verify_at::<serde_json::Value>(&case.token, keys, NOW);
        if case.expect == "ok" {
            let claims = got.unwrap_or_else(|e| panic!("{}: {e}", case.name));
            accepted(case, &claims);
            ok += 1;
            continue;
        }
        let err = got
            .err()
            .unwrap_or_else(|| panic!("{} was accepted", case.name));
        assert_eq!(err, expected_error(&case.expect), "{}", case.name);
        assert_eq!(err.wire().status, 401, "{}", case.name);
        refused += 1;
    }
    (ok, refused)
}
