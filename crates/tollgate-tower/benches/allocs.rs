//! Allocations and time per request on the warm path (token already verified and
//! cached), through `AuthLayer` + `RequireScopeLayer` + a trivial handler, next to the
//! same handler without tollgate.
//!
//! `cargo bench -p tollgate-tower --bench allocs` prints
//! `allocations per request: <with tollgate> (bare handler: <without>)`. Heap blocks
//! are counted with dhat's global allocator (slow: timings are in `warm_path`).
#![allow(missing_docs, clippy::unwrap_used)]

use std::convert::Infallible;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use http::{Request, Response};
use tollgate_core::authenticate::StaticKeys;
use tollgate_core::scope::{Scope, ScopePolicy};
use tollgate_core::{KeySet, Validation};
use tollgate_testkit::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, TestKey};
use tollgate_tower::{AuthLayer, RequireScopeLayer};
use tower::{Service, ServiceBuilder, service_fn};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

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

fn request(token: &http::HeaderValue) -> Request<()> {
    let mut r = Request::new(());
    r.headers_mut()
        .insert(http::header::AUTHORIZATION, token.clone());
    r
}

fn count_blocks(mut f: impl FnMut()) -> f64 {
    const N: u64 = 1_000;
    f();
    let before = dhat::HeapStats::get().total_blocks;
    for _ in 0..N {
        f();
    }
    let after = dhat::HeapStats::get().total_blocks;
    (after - before) as f64 / N as f64
}

fn bench() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let key = TestKey::p256("k1");
    let validation = Validation::builder()
        .issuer(DEFAULT_ISSUER)
        .audience(DEFAULT_AUDIENCE)
        .build()
        .unwrap();
    let auth = StaticKeys::new(validation, KeySet::from_keys([key.public_key()]));
    let token = key.token().scope("orders:read").sign();
    let header = http::HeaderValue::from_str(&format!("Bearer {token}")).unwrap();

    let mut protected = ServiceBuilder::new()
        .layer(AuthLayer::<_, ()>::new(auth))
        .layer(RequireScopeLayer::<()>::new(ScopePolicy::all_of([
            Scope::from_static("orders:read"),
        ])))
        .service(service_fn(handler));
    let mut bare = service_fn(handler);
    assert_eq!(
        ready(protected.call(request(&header))).unwrap().status(),
        200
    );

    let with = count_blocks(|| {
        black_box(ready(protected.call(request(&header))).unwrap());
    });
    let without = count_blocks(|| {
        black_box(ready(bare.call(request(&header))).unwrap());
    });
    println!(
        "allocations per request: {with} (bare handler: {without}; tollgate adds {})",
        with - without
    );
}

fn main() {
    bench();
}
