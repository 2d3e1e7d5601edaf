//! Allocations per request on the warm path (token already verified and cached),
//! through `AuthLayer` + `RequireScopeLayer` + a trivial handler, next to the same
//! handler without tollgate; and on the cold path (issue 18: every request a token the
//! gate has never seen, cache on and off; requests built before counting).
//!
//! `cargo bench -p tollgate-tower --bench allocs` prints
//! `allocations per request: <with tollgate> (bare handler: <without>)` and one
//! `cold <alg>` line per algorithm. Heap blocks are counted with dhat's global
//! allocator (slow: timings are in `warm_path` and `cold_path`).
#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use std::hint::black_box;

use tollgate_testkit::TestKey;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

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

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let recorder = common::install_recorder_if_asked();
    let (mut protected, mut bare, header) = common::setup();
    let with = count_blocks(|| {
        black_box(protected(common::request(&header)));
    });
    let without = count_blocks(|| {
        black_box(bare(common::request(&header)));
    });
    print_warm(with, without, recorder.is_some());
    for (alg, key) in [
        ("RS256", TestKey::rsa("k1")),
        ("ES256", TestKey::p256("k1")),
    ] {
        let headers = common::cold_headers(&key, 300);
        let counts: Vec<f64> = [true, false]
            .into_iter()
            .map(|cache| {
                let mut svc = common::cold_factory(&key, cache)();
                count_each(&headers, |r| {
                    assert_eq!(svc(r).status(), 200);
                })
            })
            .collect();
        let mut bare = common::setup().1;
        let bare = count_each(&headers, |r| {
            black_box(bare(r));
        });
        println!(
            "cold {alg}: allocations per request: {} with the cache on (default), {} cache off (bare handler: {bare})",
            counts[0], counts[1]
        );
    }
}

/// Heap blocks per call of `f`, once per header (requests built before counting).
fn count_each(headers: &[http::HeaderValue], mut f: impl FnMut(http::Request<()>)) -> f64 {
    let reqs: Vec<_> = headers.iter().map(common::request).collect();
    let n = reqs.len();
    let before = dhat::HeapStats::get().total_blocks;
    for r in reqs {
        f(r);
    }
    let after = dhat::HeapStats::get().total_blocks;
    (after - before) as f64 / n as f64
}

fn print_warm(with: f64, without: f64, recorded: bool) {
    println!(
        "allocations per request: {with} (bare handler: {without}; tollgate adds {}){}",
        with - without,
        if recorded { ", metrics recorded" } else { "" }
    );
    let (bound, unbound) = (certificate_bound(true), certificate_bound(false));
    println!(
        "allocations per request with a ClientCertificate extension, no scope layer: \
         certificate-bound token (RFC 8705) {bound}, unbound token {unbound}"
    );
}

/// The warm path for a token bound (or not) to a client certificate, the request
/// carrying that certificate as its `ClientCertificate` extension.
fn certificate_bound(bound: bool) -> f64 {
    use std::task::{Context, Poll, Waker};
    use tollgate_core::authenticate::StaticKeys;
    use tollgate_core::{KeySet, Validation};
    use tollgate_testkit::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, TestKey};
    use tollgate_tower::mtls::ClientCertificate;
    use tower::{Service, ServiceBuilder, service_fn};

    let key = TestKey::p256("k1");
    let validation = Validation::builder()
        .issuer(DEFAULT_ISSUER)
        .audience(DEFAULT_AUDIENCE)
        .build()
        .unwrap();
    let gate = tollgate_tower::Tollgate::<()>::new(StaticKeys::new(
        validation,
        KeySet::from_keys([key.public_key()]),
    ));
    let cert = ClientCertificate::from_der(b"client certificate");
    let token = if bound {
        key.token()
            .claim(
                "cnf",
                serde_json::json!({ "x5t#S256": cert.thumbprint().to_base64url() }),
            )
            .sign()
    } else {
        key.token().sign()
    };
    let header = http::HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
    let mut svc = ServiceBuilder::new()
        .layer(gate.layer())
        .service(service_fn(|_req: http::Request<()>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
        }));
    let mut call = move || {
        let mut req = common::request(&header);
        req.extensions_mut().insert(cert);
        let mut fut = std::pin::pin!(svc.call(req));
        match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(r) => assert_eq!(r.unwrap().status(), 200),
            Poll::Pending => panic!("the warm path must not wait"),
        }
    };
    call();
    call(); // admitted to the verified-token cache on the second verification
    count_blocks(call)
}
