//! Time per request on the cold path (issue 18): every request carries a token this
//! gate has never seen, through `AuthLayer` + `RequireScopeLayer` + a trivial handler,
//! with the verified-token cache on (the default: the miss, the doorkeeper mark) and
//! off, next to the bare handler and the pre-parsed aws-lc signature check alone (the
//! limit's signature part):
//!
//! `cargo bench -p tollgate-tower --bench cold_path`
//!
//! Tokens are minted beforehand (a pool per algorithm); when a measurement needs more
//! requests than the pool holds, a fresh gate (empty cache and doorkeeper) is built
//! outside the timed section, so every timed request is a first sighting. Requests are
//! built outside the timed section too.
//!
//! Times are the bench thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`, read around
//! each batch), not wall-clock time: on a machine shared with other work, time spent
//! preempted does not count. (Cache and frequency effects of the other work remain:
//! compare rows of one run, and pin with `taskset`.)
#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use std::hint::black_box;
use std::time::Duration;

use aws_lc_rs::signature::{self, ParsedPublicKey, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group};
use tollgate_testkit::TestKey;

fn parsed_key(key: &TestKey) -> ParsedPublicKey {
    let jwk = key.jwk();
    let member = |m: &str| URL_SAFE_NO_PAD.decode(jwk[m].as_str().unwrap()).unwrap();
    if jwk["kty"] == "RSA" {
        RsaPublicKeyComponents {
            n: member("n"),
            e: member("e"),
        }
        .to_parsed_public_key(&signature::RSA_PKCS1_2048_8192_SHA256)
        .unwrap()
    } else {
        let mut point = vec![4u8];
        point.extend(member("x"));
        point.extend(member("y"));
        ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point).unwrap()
    }
}

/// CPU time of this thread so far.
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
    let mut g = c.benchmark_group("cold_path");
    for (alg, key, pool) in [
        ("RS256", TestKey::rsa("k1"), 3_000),
        ("ES256", TestKey::p256("k1"), 6_000),
    ] {
        let headers = common::cold_headers(&key, pool);
        for (name, cache) in [("tollgate", true), ("tollgate_no_cache", false)] {
            let factory = common::cold_factory(&key, cache);
            g.bench_function(format!("{alg}/{name}"), |b| {
                b.iter_custom(|iters| {
                    let mut left = iters as usize;
                    let mut spent = Duration::ZERO;
                    while left > 0 {
                        let n = left.min(headers.len());
                        let mut svc = factory();
                        let reqs: Vec<_> = headers[..n].iter().map(common::request).collect();
                        let t0 = cpu_time();
                        for r in reqs {
                            let res = svc(r);
                            assert_eq!(res.status(), 200);
                            black_box(res);
                        }
                        spent += cpu_time() - t0;
                        left -= n;
                    }
                    spent
                })
            });
        }
        // the bare handler, same request shape
        let (_, mut bare, _) = common::setup();
        g.bench_function(format!("{alg}/bare"), |b| {
            b.iter_custom(|iters| {
                let mut left = iters as usize;
                let mut spent = Duration::ZERO;
                while left > 0 {
                    let n = left.min(headers.len());
                    let reqs: Vec<_> = headers[..n].iter().map(common::request).collect();
                    let t0 = cpu_time();
                    for r in reqs {
                        black_box(bare(r));
                    }
                    spent += cpu_time() - t0;
                    left -= n;
                }
                spent
            })
        });
        // the signature check alone, with a pre-parsed key and the signature decoded
        // beforehand (what bench-raw-verify measures in the load run)
        let parsed = parsed_key(&key);
        let split: Vec<(String, Vec<u8>)> = headers
            .iter()
            .map(|h| {
                let token = &h.to_str().unwrap()["Bearer ".len()..];
                let (input, sig) = token.rsplit_once('.').unwrap();
                (input.to_owned(), URL_SAFE_NO_PAD.decode(sig).unwrap())
            })
            .collect();
        g.bench_function(format!("{alg}/raw_parsed_key"), |b| {
            b.iter_custom(|iters| {
                cpu_iters(iters, &split, |(input, sig)| {
                    parsed.verify_sig(black_box(input.as_bytes()), sig).unwrap();
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
