//! Tokens minted by npm `jose` (panva; see `tests/fixtures/jose/mint.mjs`) verified by
//! tollgate-core: every `ok` token (ES256, RS256, PS256, EdDSA) is accepted with its
//! claims, every broken variant refused with the expected error.
//!
//! Reads the committed fixtures, or a freshly minted set when `TOLLGATE_JOSE_DIR` is set
//! (tests/interop/run.sh mints one with jose on every CI run).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use tollgate_core::Validation;
use tollgate_core::alg::Algorithm;
use tollgate_tests::fixtures;

#[test]
fn jose_tokens() {
    let (keys, cases) = fixtures::load(&fixtures::dir("TOLLGATE_JOSE_DIR", "jose"));
    assert_eq!(keys.len(), 4);
    // every algorithm allowed (HMAC too), so that key confusion is refused by key
    // selection, not by the allow-list
    let validation = Validation::builder()
        .issuer("https://idp.jose.test")
        .audience("tollgate-tests")
        .algorithms(Algorithm::ALL)
        .build()
        .unwrap();
    let (ok, refused) = fixtures::check(&validation, &keys, &cases, |case, claims| {
        assert_eq!(claims.sub.as_deref(), Some("user-123"), "{}", case.name);
        assert_eq!(claims.client_id.as_deref(), Some("jose-client"));
        assert!(claims.scopes.contains("orders:read"), "{}", case.name);
    });
    eprintln!("jose: {ok} accepted, {refused} refused as expected");
    assert_eq!((ok, refused), (7, 15));
}
