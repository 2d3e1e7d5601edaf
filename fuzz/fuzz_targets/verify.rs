//! Full verification (`Validation::verify_at`) against the fixed key set: header and
//! claims parsing, issuer, key selection, signature, time and audience checks, scopes.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tollgate_core::alg::Algorithm;
use tollgate_core::{TokenProfile, Validation};

#[path = "keys.rs"]
mod keys;

fn validations() -> &'static [Validation; 2] {
    static V: OnceLock<[Validation; 2]> = OnceLock::new();
    V.get_or_init(|| {
        let b = || {
            Validation::builder()
                .issuer(keys::ISSUER)
                .audience(keys::AUDIENCE)
                .algorithms([Algorithm::RS256, Algorithm::ES256, Algorithm::HS256])
        };
        [
            b().build().expect("strict"),
            b().profile(TokenProfile::Permissive)
                .max_token_len(64 * 1024)
                .build()
                .expect("permissive"),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    for v in validations() {
        match v.verify_at::<serde_json::Value>(token, keys::keys(), keys::NOW) {
            Ok(claims) => {
                assert_eq!(claims.iss.as_deref(), Some(keys::ISSUER));
                assert!(claims.aud.contains(keys::AUDIENCE));
            }
            Err(e) => {
                // every refusal maps to the wire table, and its log text is bounded
                // whatever the token's size (it carries no token content). (A check that
                // the text does not *contain* the token is useless under libFuzzer: its
                // comparison feedback steers the input into a substring of the fixed
                // message, e.g. "three dot-separated segments".)
                let w = e.wire();
                assert!(matches!(w.status, 400 | 401));
                assert!(e.to_string().len() < 200);
            }
        }
    }
});
