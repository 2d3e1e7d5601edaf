//! `bench-raw-verify`: the cold-path limit's signature part, measured in the same run
//! as the load (issue 18): one RSA-2048 / P-256 signature check per cold token with an
//! aws-lc `ParsedPublicKey` parsed once, as tollgate now holds them. No HTTP, no JSON,
//! no base64 in the timed loop (signatures are decoded beforehand).
//!
//! Usage: `bench-raw-verify JWKS_FILE COLD_DIR [N]` (JWKS as served by bench-idp;
//! `COLD_DIR/cold-RS256.txt`, `cold-ES256.txt` as written by it; N tokens per algorithm,
//! default 20000). Prints `RAW_US_RS256=<µs>` and `RAW_US_ES256=<µs>` (CPU time of this
//! thread per verify, median of 5 passes), and `RING_US_*` for the same checks with
//! ring 0.17 (jwt-authorizer's backend), for comparison.

use std::path::Path;
use std::time::Duration;

use aws_lc_rs::signature::ParsedPublicKey;

mod jwk;
use jwk::{b64, key_for};

fn thread_cpu() -> Duration {
    // /proc/thread-self/stat: utime + stime in clock ticks is too coarse; schedstat has ns
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").expect("schedstat");
    let ns: u64 = s
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .expect("ns");
    Duration::from_nanos(ns)
}

fn measure(key: &ParsedPublicKey, tokens: &[(String, Vec<u8>)]) -> f64 {
    let mut passes: Vec<f64> = (0..5)
        .map(|_| {
            let t0 = thread_cpu();
            for (input, sig) in tokens {
                key.verify_sig(std::hint::black_box(input.as_bytes()), sig)
                    .expect("valid signature");
            }
            #[allow(clippy::cast_precision_loss)]
            let us = (thread_cpu() - t0).as_secs_f64() * 1e6 / tokens.len() as f64;
            us
        })
        .collect();
    passes.sort_by(f64::total_cmp);
    passes[2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(jwks), Some(dir)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: bench-raw-verify JWKS_FILE COLD_DIR [N]");
        std::process::exit(2)
    };
    let n: usize = args.get(3).and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let jwks: serde_json::Value =
        serde_json::from_slice(&std::fs::read(jwks).expect("JWKS file")).expect("JWKS JSON");
    for (alg, kty) in [("RS256", "RSA"), ("ES256", "EC")] {
        let text = std::fs::read_to_string(Path::new(dir).join(format!("cold-{alg}.txt")))
            .expect("cold tokens");
        let tokens: Vec<(String, Vec<u8>)> = text
            .lines()
            .take(n)
            .map(|t| {
                let (input, sig) = t.rsplit_once('.').expect("a JWS");
                (input.to_owned(), b64(sig))
            })
            .collect();
        let key = key_for(&jwks, kty);
        println!("RAW_US_{alg}={:.2}", measure(&key, &tokens));
        // the same check with ring (jwt-authorizer's backend), for comparison only
        println!("RING_US_{alg}={:.2}", measure_ring(&jwks, kty, &tokens));
    }
}

/// As [`measure`], with ring 0.17 (`UnparsedPublicKey`: ring has no parsed form; for
/// P-256 the point is decoded per call, for RSA the modulus).
fn measure_ring(jwks: &serde_json::Value, kty: &str, tokens: &[(String, Vec<u8>)]) -> f64 {
    let jwk = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kty"] == kty)
        .expect("a key of this type");
    let m = |name: &str| b64(jwk[name].as_str().expect("member"));
    let verify: Box<dyn Fn(&[u8], &[u8]) -> bool> = match kty {
        "RSA" => {
            let (n, e) = (m("n"), m("e"));
            Box::new(move |msg, sig| {
                ring::signature::RsaPublicKeyComponents { n: &n, e: &e }
                    .verify(&ring::signature::RSA_PKCS1_2048_8192_SHA256, msg, sig)
                    .is_ok()
            })
        }
        _ => {
            let mut point = vec![4u8];
            point.extend(m("x"));
            point.extend(m("y"));
            let key = ring::signature::UnparsedPublicKey::new(
                &ring::signature::ECDSA_P256_SHA256_FIXED,
                point,
            );
            Box::new(move |msg, sig| key.verify(msg, sig).is_ok())
        }
    };
    let mut passes: Vec<f64> = (0..5)
        .map(|_| {
            let t0 = thread_cpu();
            for (input, sig) in tokens {
                assert!(verify(std::hint::black_box(input.as_bytes()), sig));
            }
            #[allow(clippy::cast_precision_loss)]
            let us = (thread_cpu() - t0).as_secs_f64() * 1e6 / tokens.len() as f64;
            us
        })
        .collect();
    passes.sort_by(f64::total_cmp);
    passes[2]
}
