//! Warm path with DPoP vs Bearer (issue 15): time per request through `AuthLayer` +
//! `RequireScopeLayer` + a trivial handler, the access token already verified and
//! cached in both cases.
//!
//! `cargo bench -p tollgate-tower --bench dpop_path` (times are the thread's CPU time;
//! requests are built outside the timed section)
//!
//! - `bearer`: the default gate (DPoP off), `Authorization: Bearer`;
//! - `bearer_dpop_allowed`: a gate with DPoP allowed, an unbound token sent as Bearer
//!   (what turning DPoP on costs the clients that do not use it);
//! - `dpop`: the same gate, a DPoP-bound token with a new proof on every request (one
//!   more ES256 verify, the proof's checks, the binding check and the replay
//!   check-and-insert). Proofs are pre-signed (a pool of distinct `jti`); when the pool
//!   wraps, a fresh gate (empty replay store) is built and the token cached again
//!   outside the timed section, so every timed proof is new.
#![allow(missing_docs, clippy::unwrap_used)]

use std::convert::Infallible;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{Criterion, criterion_group};
use http::{HeaderValue, Request, Response};
use tollgate_core::authenticate::StaticKeys;
use tollgate_core::dpop::DpopVerifier;
use tollgate_core::scope::{Scope, ScopePolicy};
use tollgate_core::{KeySet, Validation};
use tollgate_testkit::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, DpopProof, TestKey};
use tollgate_tower::{Dpop, DpopMode, Tollgate};
use tower::{Service, ServiceBuilder, service_fn};

const URL: &str = "http://api.example/orders";
const POOL: usize = 4_000;

/// CPU time of this thread so far (`CLOCK_THREAD_CPUTIME_ID`): times below are CPU
/// time, so time spent preempted by other work on a shared machine does not count.
fn cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

fn ready<F: std::future::Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the warm path must not wait"),
    }
}

async fn handler(_req: Request<()>) -> Result<Response<String>, Infallible> {
    Ok(Response::new(String::new()))
}

type Svc = Box<dyn FnMut(Request<()>) -> Response<String>>;

fn gate(issuer: &TestKey, dpop: bool) -> Svc {
    let validation = Validation::builder()
        .issuer(DEFAULT_ISSUER)
        .audience(DEFAULT_AUDIENCE)
        .build()
        .unwrap();
    let mut gate = Tollgate::<()>::new(StaticKeys::new(
        validation,
        KeySet::from_keys([issuer.public_key()]),
    ));
    if dpop {
        gate = gate.dpop(Dpop::new(
            DpopMode::Allowed,
            DpopVerifier::builder().build().unwrap(),
        ));
    }
    let mut svc = ServiceBuilder::new()
        .layer(gate.layer())
        .layer(gate.require(ScopePolicy::all_of([Scope::from_static("orders:read")])))
        .service(service_fn(handler));
    Box::new(move |r| ready(svc.call(r)).unwrap())
}

fn request(authorization: &HeaderValue, proof: Option<&HeaderValue>) -> Request<()> {
    let mut r = Request::get(URL).body(()).unwrap();
    r.headers_mut()
        .insert(http::header::AUTHORIZATION, authorization.clone());
    if let Some(p) = proof {
        r.headers_mut().insert("dpop", p.clone());
    }
    r
}

fn bench(c: &mut Criterion) {
    let issuer = TestKey::p256("k1");
    let client = TestKey::p256("client");
    let bearer_token = issuer.token().scope("orders:read").sign();
    let bound_token = issuer
        .token()
        .scope("orders:read")
        .dpop_bound(&client)
        .sign();
    let bearer = HeaderValue::from_str(&format!("Bearer {bearer_token}")).unwrap();
    let dpop_auth = HeaderValue::from_str(&format!("DPoP {bound_token}")).unwrap();
    let proofs: Vec<HeaderValue> = (0..POOL)
        .map(|_| {
            let p = DpopProof::new(&client, "GET", URL)
                .access_token(&bound_token)
                .sign();
            HeaderValue::from_str(&p).unwrap()
        })
        .collect();

    let mut g = c.benchmark_group("dpop_path");
    for (name, dpop) in [("bearer", false), ("bearer_dpop_allowed", true)] {
        let mut svc = gate(&issuer, dpop);
        for _ in 0..2 {
            assert_eq!(svc(request(&bearer, None)).status(), 200);
        }
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut left = iters;
                let mut spent = Duration::ZERO;
                while left > 0 {
                    let n = left.min(10_000);
                    let reqs: Vec<_> = (0..n).map(|_| request(&bearer, None)).collect();
                    let t0 = cpu_time();
                    for r in reqs {
                        black_box(svc(r));
                    }
                    spent += cpu_time() - t0;
                    left -= n;
                }
                spent
            })
        });
    }
    // two proofs per fresh gate admit the token to the cache
    let warm_up = |svc: &mut Svc| {
        for _ in 0..2 {
            let p = DpopProof::new(&client, "GET", URL)
                .access_token(&bound_token)
                .sign();
            let p = HeaderValue::from_str(&p).unwrap();
            assert_eq!(svc(request(&dpop_auth, Some(&p))).status(), 200);
        }
    };
    g.bench_function("dpop", |b| {
        b.iter_custom(|iters| {
            let mut left = iters as usize;
            let mut spent = Duration::ZERO;
            while left > 0 {
                let n = left.min(POOL);
                let mut svc = gate(&issuer, true);
                warm_up(&mut svc);
                let reqs: Vec<_> = proofs[..n]
                    .iter()
                    .map(|p| request(&dpop_auth, Some(p)))
                    .collect();
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
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
