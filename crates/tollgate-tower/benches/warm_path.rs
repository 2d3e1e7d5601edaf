//! Time per request on the warm path (token already verified and cached), through
//! `AuthLayer` + `RequireScopeLayer` + a trivial handler, next to the same handler
//! without tollgate: `cargo bench -p tollgate-tower --bench warm_path`.
//! (Allocations are counted by the `allocs` bench, whose counting allocator would
//! distort these timings.)
#![allow(missing_docs, clippy::unwrap_used)]

use std::convert::Infallible;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use tollgate_core::authenticate::StaticKeys;
use tollgate_core::scope::{Scope, ScopePolicy};
use tollgate_core::{KeySet, Validation};
use tollgate_testkit::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, TestKey};
use tollgate_tower::{AuthLayer, RequireScopeLayer};
use tower::{Service, ServiceBuilder, service_fn};

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

fn bench(c: &mut Criterion) {
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

    let mut g = c.benchmark_group("warm_path");
    g.bench_function("tollgate", |b| {
        b.iter(|| ready(protected.call(request(&header))).unwrap())
    });
    g.bench_function("bare", |b| {
        b.iter(|| ready(bare.call(request(&header))).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
