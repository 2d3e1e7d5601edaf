//! Setup shared by the `warm_path` and `allocs` benches: a protected and a bare service
//! over the same trivial handler, and a request carrying an already-minted token.

use std::convert::Infallible;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use http::{HeaderValue, Request, Response};
use tollgate_core::authenticate::StaticKeys;
use tollgate_core::scope::{Scope, ScopePolicy};
use tollgate_core::{KeySet, Validation};
use tollgate_testkit::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, TestKey};
use tollgate_tower::Tollgate;
use tower::{Service, ServiceBuilder, service_fn};

/// Polls once: the warm path must be ready at once.
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

/// With `TOLLGATE_BENCH_RECORDER` set: installs a Prometheus recorder (what the
/// examples' admin listener renders), so that the warm path records for real.
#[allow(dead_code)] // not every bench uses it
pub(crate) fn install_recorder_if_asked() -> Option<metrics_exporter_prometheus::PrometheusHandle> {
    std::env::var_os("TOLLGATE_BENCH_RECORDER")?;
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).unwrap();
    eprintln!("metrics: Prometheus recorder installed");
    Some(handle)
}

/// A request with `Authorization: <header>`.
pub(crate) fn request(header: &HeaderValue) -> Request<()> {
    let mut r = Request::new(());
    r.headers_mut()
        .insert(http::header::AUTHORIZATION, header.clone());
    r
}

type Svc = Box<dyn FnMut(Request<()>) -> Response<String>>;

/// (protected service, bare service, the `Bearer` header), with the token already
/// verified twice so that it is admitted to the cache.
pub(crate) fn setup() -> (Svc, Svc, HeaderValue) {
    let key = TestKey::p256("k1");
    let validation = Validation::builder()
        .issuer(DEFAULT_ISSUER)
        .audience(DEFAULT_AUDIENCE)
        .build()
        .unwrap();
    // the gate's own authenticator (what users get from Tollgate::builder())
    let gate = Tollgate::<()>::new(StaticKeys::new(
        validation,
        KeySet::from_keys([key.public_key()]),
    ));
    let token = key.token().scope("orders:read").sign();
    let header = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
    let mut protected = ServiceBuilder::new()
        .layer(gate.layer())
        .layer(gate.require(ScopePolicy::all_of([Scope::from_static("orders:read")])))
        .service(service_fn(handler));
    let mut bare = service_fn(handler);
    for _ in 0..2 {
        assert_eq!(
            ready(protected.call(request(&header))).unwrap().status(),
            200
        );
    }
    (
        Box::new(move |r| ready(protected.call(r)).unwrap()),
        Box::new(move |r| ready(bare.call(r)).unwrap()),
        header,
    )
}

/// A service factory for the cold path: every call builds a fresh gate (empty
/// verified-token cache and doorkeeper) over `key`, with the default cache or none,
/// layered as in [`setup`].
#[allow(dead_code)] // not every bench uses it
pub(crate) fn cold_factory(key: &TestKey, cache: bool) -> impl Fn() -> Svc + use<> {
    let keys = KeySet::from_keys([key.public_key()]);
    move || {
        let validation = Validation::builder()
            .issuer(DEFAULT_ISSUER)
            .audience(DEFAULT_AUDIENCE)
            .algorithms([
                tollgate_core::alg::Algorithm::RS256,
                tollgate_core::alg::Algorithm::ES256,
            ])
            .build()
            .unwrap();
        let auth = StaticKeys::new(validation, keys.clone());
        let auth = if cache { auth } else { auth.without_cache() };
        let gate = Tollgate::<()>::new(auth);
        let mut protected = ServiceBuilder::new()
            .layer(gate.layer())
            .layer(gate.require(ScopePolicy::all_of([Scope::from_static("orders:read")])))
            .service(service_fn(handler));
        Box::new(move |r| ready(protected.call(r)).unwrap())
    }
}

/// `n` distinct valid `Bearer` headers signed by `key` (RFC 9068 shape, `scope`
/// `orders:read`, a different `jti` each).
#[allow(dead_code)] // not every bench uses it
pub(crate) fn cold_headers(key: &TestKey, n: usize) -> Vec<HeaderValue> {
    (0..n)
        .map(|_| {
            let token = key.token().scope("orders:read").sign();
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap()
        })
        .collect()
}
