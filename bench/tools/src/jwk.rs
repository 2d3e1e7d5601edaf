//! Shared by `bench-raw-verify` and `axum-sigcheck`: the bench JWKS's keys, pre-parsed
//! for aws-lc-rs.

use aws_lc_rs::signature::{self, ParsedPublicKey, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub fn b64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).expect("base64url")
}

/// The JWKS's first key of type `kty` (`RSA` or `EC` P-256), parsed once.
pub fn key_for(jwks: &serde_json::Value, kty: &str) -> ParsedPublicKey {
    let jwk = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kty"] == kty)
        .expect("a key of this type");
    let m = |name: &str| b64(jwk[name].as_str().expect("member"));
    match kty {
        "RSA" => RsaPublicKeyComponents {
            n: m("n"),
            e: m("e"),
        }
        .to_parsed_public_key(&signature::RSA_PKCS1_2048_8192_SHA256)
        .expect("RSA key"),
        _ => {
            let mut point = vec![4u8];
            point.extend(m("x"));
            point.extend(m("y"));
            ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point).expect("EC key")
        }
    }
}
