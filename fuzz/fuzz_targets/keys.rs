#![allow(dead_code)]
// Shared by the token targets: the fixed key set of fuzz/keys/jwks.json (RS256, ES256)
// plus the HMAC secret fuzz/seeds/gen.mjs signs HS256 seeds with.
use std::sync::OnceLock;

use tollgate_core::{Key, KeySet};

pub const ISSUER: &str = "https://idp.fuzz.test";
pub const AUDIENCE: &str = "fuzz-api";
/// Seed tokens are valid at this time (iat 1700000000, exp 4102444800).
pub const NOW: i64 = 1_750_000_000;
pub const HS_SECRET: &[u8] = b"tollgate-fuzz-hmac-secret-0123456789abcdef";

pub fn keys() -> &'static KeySet {
    static KEYS: OnceLock<KeySet> = OnceLock::new();
    KEYS.get_or_init(|| {
        let parsed = KeySet::parse_jwks(include_bytes!("../keys/jwks.json")).expect("fixed JWKS");
        assert!(parsed.skipped.is_empty());
        let mut keys = parsed.keys;
        keys.insert(Key::hmac(Some("hs-1"), HS_SECRET).expect("HMAC secret"));
        keys
    })
}
