//! The JWS-only path: format, header parsing (alg, kid, typ, crit, cty, duplicates), key
//! selection and signature over the fixed key set, via `dangerous::verify_jws_signature`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_core::alg::{Algorithm, AlgorithmSet};
use tollgate_core::dangerous::verify_jws_signature;

#[path = "keys.rs"]
mod keys;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let algs = AlgorithmSet::empty()
        .with(Algorithm::RS256)
        .with(Algorithm::ES256)
        .with(Algorithm::HS256);
    if let Ok(payload) = verify_jws_signature(token, keys::keys(), algs) {
        // only tokens actually signed by one of our keys get here: the seeds
        // (a mutation that keeps a valid signature would be a finding)
        assert!(token.len() < 64 * 1024);
        let _ = payload;
    }
    let _ = verify_jws_signature(token, keys::keys(), AlgorithmSet::default());
});
