//! DPoP proofs minted by npm `jose` (tests/fixtures/jose/mint_dpop.mjs) verified by
//! tollgate-core: jose's RFC 7638 thumbprints equal ours, valid proofs of every default
//! algorithm pass, and each broken one is refused with its exact reason.
//! `TOLLGATE_JOSE_DPOP_DIR` names a freshly minted folder; else the committed one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde::Deserialize;
use tollgate_core::dpop::{DpopVerifier, ProofRequest};
use tollgate_core::error::DpopError;

/// The proofs' `iat`.
const NOW: i64 = 1_700_000_000;

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    expect: String,
    htm: String,
    htu: String,
    token: String,
    proof: String,
    jkt: String,
}

fn expected(expect: &str) -> DpopError {
    match expect {
        "wrong_type" => DpopError::WrongType,
        "private_key" => DpopError::PrivateKey,
        "bad_signature" => DpopError::BadSignature,
        "url_mismatch" => DpopError::UrlMismatch,
        "method_mismatch" => DpopError::MethodMismatch,
        "ath_mismatch" => DpopError::AccessTokenHashMismatch,
        "missing_ath" => DpopError::MissingClaim("ath"),
        "missing_jti" => DpopError::MissingClaim("jti"),
        "too_old" => DpopError::IssuedTooLongAgo {
            iat: NOW - 61,
            now: NOW,
        },
        "future" => DpopError::IssuedInFuture {
            iat: NOW + 6,
            now: NOW,
        },
        other => panic!("unknown expectation {other}"),
    }
}

#[test]
fn jose_minted_proofs() {
    let dir = std::env::var("TOLLGATE_JOSE_DPOP_DIR")
        .unwrap_or_else(|_| format!("{}/fixtures/jose", env!("CARGO_MANIFEST_DIR")));
    let cases: Vec<Case> =
        serde_json::from_slice(&std::fs::read(format!("{dir}/dpop.json")).unwrap()).unwrap();
    assert!(cases.len() >= 16, "{}", cases.len());
    let verifier = DpopVerifier::builder().build().unwrap();
    let mut ok = 0;
    for c in &cases {
        let request =
            ProofRequest::new(&c.htm, "https://api.example/orders").access_token(&c.token);
        let got = verifier.verify(&c.proof, &request, NOW);
        eprintln!(
            "{}: {:?}",
            c.name,
            got.as_ref().map(|v| v.jkt()).map_err(ToString::to_string)
        );
        assert!(c.htu.starts_with("http"), "{}", c.name);
        if c.expect == "ok" {
            let v = got.unwrap_or_else(|e| panic!("{}: {e}", c.name));
            // jose's thumbprint is ours
            assert_eq!(v.jkt(), c.jkt, "{}", c.name);
            ok += 1;
        } else {
            assert_eq!(got.err(), Some(expected(&c.expect)), "{}", c.name);
        }
    }
    assert_eq!(ok, 6);
}
