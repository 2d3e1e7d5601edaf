//! DPoP proofs minted by PyJWT (tests/fixtures/pyjwt/gen_dpop.py) verified by
//! tollgate-core: PyJWT's proofs of every default algorithm pass with the RFC 7638
//! thumbprint computed in Python, a reused one is a replay, and each broken one is
//! refused with its exact reason (wrong htu, htm, ath; HS256; private key in the jwk;
//! typ; no jwk; another key's signature; too old; no jti, no ath).
//!
//! Reads the committed `tests/fixtures/pyjwt/dpop.json`, or a freshly minted one when
//! `TOLLGATE_PYJWT_DIR` is set (tests/interop/run.sh mints one on every CI run).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde::Deserialize;
use tollgate_core::dpop::{DpopVerifier, ProofRequest};
use tollgate_core::error::DpopError;

/// The proofs' `iat`.
const NOW: i64 = 1_700_000_000;
/// What every proof is checked against (the request URL; `htu` normalises to it).
const URL: &str = "https://api.example/orders";

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    expect: String,
    htm: String,
    token: String,
    proof: String,
    jkt: String,
}

fn expected(expect: &str) -> DpopError {
    match expect {
        "replayed" => DpopError::Replayed,
        "url_mismatch" => DpopError::UrlMismatch,
        "method_mismatch" => DpopError::MethodMismatch,
        "ath_mismatch" => DpopError::AccessTokenHashMismatch,
        "missing_ath" => DpopError::MissingClaim("ath"),
        "missing_jti" => DpopError::MissingClaim("jti"),
        "alg_not_allowed" => DpopError::AlgorithmNotAllowed,
        "private_key" => DpopError::PrivateKey,
        "wrong_type" => DpopError::WrongType,
        "missing_jwk" => DpopError::MissingJwk,
        "bad_signature" => DpopError::BadSignature,
        "too_old" => DpopError::IssuedTooLongAgo {
            iat: NOW - 61,
            now: NOW,
        },
        other => panic!("unknown expectation {other}"),
    }
}

/// verify, then (like the gate, once the token is bound) the replay check.
fn check(verifier: &DpopVerifier, c: &Case) -> Result<String, DpopError> {
    let request = ProofRequest::new(&c.htm, URL).access_token(&c.token);
    let v = verifier.verify(&c.proof, &request, NOW)?;
    verifier.remember(&v, NOW).now_or_never().unwrap()?;
    Ok(v.jkt().to_owned())
}

#[test]
fn pyjwt_minted_proofs() {
    let dir = tollgate_tests::fixtures::dir("TOLLGATE_PYJWT_DIR", "pyjwt");
    let cases: Vec<Case> =
        serde_json::from_slice(&std::fs::read(format!("{dir}/dpop.json")).unwrap()).unwrap();
    assert_eq!(cases.len(), 19);
    let verifier = DpopVerifier::builder().build().unwrap();
    let (mut ok, mut refused) = (0, 0);
    for c in &cases {
        let got = check(&verifier, c);
        eprintln!(
            "{:<30} {}",
            c.name,
            match &got {
                Ok(jkt) => format!("accepted, jkt {jkt}"),
                Err(e) => format!("refused: {e}"),
            }
        );
        match c.expect.as_str() {
            "ok" => {
                // PyJWT's side computed the thumbprint independently
                assert_eq!(got.as_deref(), Ok(c.jkt.as_str()), "{}", c.name);
                ok += 1;
            }
            "replayed" => {
                assert_eq!(got.as_deref(), Ok(c.jkt.as_str()), "{}: first use", c.name);
                let again = check(&verifier, c);
                eprintln!(
                    "{:<30} refused: {}",
                    "  (same proof again)",
                    again.clone().unwrap_err()
                );
                assert_eq!(again, Err(DpopError::Replayed), "{}", c.name);
                refused += 1;
            }
            e => {
                assert_eq!(got, Err(expected(e)), "{}", c.name);
                refused += 1;
            }
        }
    }
    eprintln!("pyjwt DPoP: {ok} accepted, {refused} refused as expected");
    assert_eq!((ok, refused), (7, 12));
}
