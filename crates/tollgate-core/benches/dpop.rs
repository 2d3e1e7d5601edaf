//! DPoP figures (issue 15): what a proof check costs over the raw ES256 signature check
//! it contains, and the in-memory replay check.
//!
//! `cargo bench -p tollgate-core --bench dpop` (times are the thread's CPU time)
//!
//! - `dpop/verify`: [`DpopVerifier::verify`] on a proof not verified before (a pool of
//!   pre-signed ES256 proofs with distinct `jti`, `ath` bound to an access token):
//!   format, header rules, the embedded JWK parsed into a key, its RFC 7638
//!   thumbprint, the signature, the claims, `htu` normalisation, `ath`;
//! - `dpop/verify_and_remember`: the same plus the replay check-and-insert in the
//!   default `MemoryReplayStore` (a fresh verifier, hence an empty store, whenever the
//!   pool wraps, outside the timed section: every timed proof is new to the store);
//! - `dpop/remember`: the replay check-and-insert alone (two SHA-256 for the key, one
//!   shard lock, the map insert);
//! - `dpop/part/*`: pieces of `verify` the raw check does not do (the proof's JWK
//!   parsed into a key, its thumbprint, the access-token hash), for attribution;
//! - `dpop/raw_es256_parsed_key`: `ParsedPublicKey::verify_sig` alone on the same proofs
//!   (key parsed and signatures decoded beforehand): the floor.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Duration;

use aws_lc_rs::signature::{self, ParsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use tollgate_core::dpop::{DpopVerifier, ProofRequest};
use tollgate_testkit::{DpopProof, TestKey};

const URL: &str = "https://api.example/orders";
const POOL: usize = 4_000;

/// CPU time of this thread so far (`CLOCK_THREAD_CPUTIME_ID`): times below are CPU
/// time, so time spent preempted by other work on a shared machine does not count.
fn cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Runs `f` once per item of `items` (cycled to `iters` calls), returning the CPU time.
fn cpu_iters<T>(iters: u64, items: &[T], mut f: impl FnMut(&T)) -> Duration {
    let t0 = cpu_time();
    for i in 0..iters as usize {
        f(&items[i % items.len()]);
    }
    cpu_time() - t0
}

fn bench(c: &mut Criterion) {
    let key = TestKey::p256("dpop");
    let token = TestKey::p256("as").token().dpop_bound(&key).sign();
    let proofs: Vec<String> = (0..POOL)
        .map(|_| DpopProof::new(&key, "GET", URL).access_token(&token).sign())
        .collect();
    let request = ProofRequest::new("GET", URL).access_token(&token);
    let now = tollgate_testkit::now();
    let verifier = DpopVerifier::builder().build().unwrap();
    for p in &proofs {
        verifier.verify(p, &request, now).unwrap();
    }

    let mut g = c.benchmark_group("dpop");
    g.bench_function("verify", |b| {
        b.iter_custom(|iters| {
            cpu_iters(iters, &proofs, |p| {
                black_box(verifier.verify(black_box(p), &request, now).unwrap());
            })
        })
    });
    g.bench_function("verify_and_remember", |b| {
        b.iter_custom(|iters| {
            let mut left = iters as usize;
            let mut spent = Duration::ZERO;
            while left > 0 {
                let n = left.min(POOL);
                let fresh = DpopVerifier::builder().build().unwrap();
                let t0 = cpu_time();
                for p in &proofs[..n] {
                    let v = fresh.verify(black_box(p), &request, now).unwrap();
                    fresh.remember(&v, now).now_or_never().unwrap().unwrap();
                }
                spent += cpu_time() - t0;
                left -= n;
            }
            spent
        })
    });
    let verified: Vec<_> = proofs
        .iter()
        .map(|p| verifier.verify(p, &request, now).unwrap())
        .collect();
    g.bench_function("remember", |b| {
        b.iter_custom(|iters| {
            let mut left = iters as usize;
            let mut spent = Duration::ZERO;
            while left > 0 {
                let n = left.min(POOL);
                let fresh = DpopVerifier::builder().build().unwrap();
                let t0 = cpu_time();
                for v in &verified[..n] {
                    fresh
                        .remember(black_box(v), now)
                        .now_or_never()
                        .unwrap()
                        .unwrap();
                }
                spent += cpu_time() - t0;
                left -= n;
            }
            spent
        })
    });
    // parts of `verify` that the raw check does not do (for attribution)
    let proof_jwk = key.dpop_jwk();
    g.bench_function("part/key_from_jwk", |b| {
        b.iter_custom(|iters| {
            cpu_iters(iters, &[()], |()| {
                black_box(tollgate_core::Key::from_jwk(black_box(&proof_jwk)).unwrap());
            })
        })
    });
    g.bench_function("part/jwk_thumbprint", |b| {
        b.iter_custom(|iters| {
            cpu_iters(iters, &[()], |()| {
                black_box(tollgate_core::dpop::jwk_thumbprint(black_box(&proof_jwk)).unwrap());
            })
        })
    });
    g.bench_function("part/access_token_hash", |b| {
        b.iter_custom(|iters| {
            cpu_iters(iters, &[()], |()| {
                black_box(tollgate_core::dpop::access_token_hash(black_box(&token)));
            })
        })
    });
    let jwk = key.jwk();
    let member = |m: &str| URL_SAFE_NO_PAD.decode(jwk[m].as_str().unwrap()).unwrap();
    let mut point = vec![4u8];
    point.extend(member("x"));
    point.extend(member("y"));
    let parsed = ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point).unwrap();
    let split: Vec<(String, Vec<u8>)> = proofs
        .iter()
        .map(|p| {
            let (input, sig) = p.rsplit_once('.').unwrap();
            (input.to_owned(), URL_SAFE_NO_PAD.decode(sig).unwrap())
        })
        .collect();
    g.bench_function("raw_es256_parsed_key", |b| {
        b.iter_custom(|iters| {
            cpu_iters(iters, &split, |(input, sig)| {
                parsed.verify_sig(black_box(input.as_bytes()), sig).unwrap();
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
