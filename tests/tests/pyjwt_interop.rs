//! Tokens minted by an independent implementation (PyJWT 2.x, see
//! `tests/fixtures/pyjwt/gen.py`) verified by tollgate-core: every `ok` token is
//! accepted with its claims, every broken one refused with the expected error.
//!
//! Reads the committed fixtures, or a freshly minted set when `TOLLGATE_PYJWT_DIR` is
//! set (tests/interop/run.sh mints one with PyJWT on every CI run).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use tollgate_core::alg::Algorithm;
use tollgate_core::{Key, Validation};
use tollgate_tests::fixtures;

#[test]
fn pyjwt_tokens() {
    let dir = fixtures::dir("TOLLGATE_PYJWT_DIR", "pyjwt");
    let (mut keys, cases) = fixtures::load(&dir);
    let secret = std::fs::read_to_string(format!("{dir}/hmac_secret.txt")).unwrap();
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(secret.trim())
        .unwrap();
    keys.insert(Key::hmac(Some("py-hs"), &secret).unwrap());
    let validation = Validation::builder()
        .issuer("https://idp.pyjwt.test")
        .audience("tollgate-tests")
        .algorithms(Algorithm::ALL)
        .build()
        .unwrap();
    let (ok, refused) = fixtures::check(&validation, &keys, &cases, |case, claims| {
        assert_eq!(claims.sub.as_deref(), Some("user-123"), "{}", case.name);
        assert_eq!(claims.client_id.as_deref(), Some("py-client"));
        assert!(!claims.scopes.is_empty(), "{}", case.name);
    });
    eprintln!("pyjwt: {ok} accepted, {refused} refused as expected");
    assert_eq!(ok, 14);
    assert_eq!(refused, 12);
}
