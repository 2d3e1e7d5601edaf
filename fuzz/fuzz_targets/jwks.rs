//! JWKS parsing: `KeySet::parse_jwks` on arbitrary bytes; every key kept must have a
//! usable family, and `from_jwks` agrees.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_core::KeySet;

fuzz_target!(|data: &[u8]| {
    match KeySet::parse_jwks(data) {
        Ok(parsed) => {
            for key in parsed.keys.iter() {
                let _ = (key.kid(), key.alg(), key.family(), key.fingerprint());
            }
            let again = KeySet::from_jwks(data).map(|k| k.len());
            assert_eq!(again.ok(), Some(parsed.keys.len()));
        }
        Err(_) => assert!(KeySet::from_jwks(data).is_err()),
    }
});
