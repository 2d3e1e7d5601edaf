//! Issue 18: the introspection budget under a flood of made-up opaque tokens.
//!
//! axum-orders, configured by its environment variables (introspection at the dev IdP
//! through a counting proxy, `TOLLGATE_INTROSPECTION_MAX_IN_FLIGHT=16`,
//! `TOLLGATE_INTROSPECTION_MAX_PER_SEC=100`), gets 3,000 distinct made-up opaque tokens
//! from 64 concurrent keep-alive connections, with a known-good opaque token
//! interleaved. Loopback only, bounded in count and time (60 s timeout).
//!
//! Checked: the authorization server saw at most `max_per_sec × duration +
//! max_in_flight` calls; every request with the known-good token got 200; every other
//! answer is 401 (introspected: not active) or 503 with `Retry-After: 1` (shed, no
//! call); the shed counter `tollgate_introspection_shed_total` equals the 503s; no call
//! is left in flight and the caches stay bounded. Screening: tokens of the wrong
//! shape are refused with 401 without a call.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use tollgate_core::metrics;
use tollgate_testkit::idp::DevIdp;
use tollgate_tests::{CountingProxy, serve};

const FLOOD: usize = 3_000;
const CONNECTIONS: usize = 64;
const MAX_IN_FLIGHT: usize = 16;
const MAX_PER_SEC: usize = 100;
/// Every this many flood requests, a worker also sends the known-good token.
const GOOD_EVERY: usize = 10;

/// A made-up opaque token of the dev IdP's shape (`dev_at_` + 32 base64url
/// characters), distinct for each `i`.
fn made_up(i: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut s = String::from("dev_at_");
    for _ in 0..26 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.push(char::from(ALPHABET[(x & 63) as usize]));
    }
    s.push_str(&format!("{i:06}"));
    s
}

type Http = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

/// GET /orders with `token` on this worker's keep-alive connection: (status,
/// Retry-After).
async fn get(client: &Http, base: &str, token: &str) -> (u16, String) {
    let req = Request::builder()
        .uri(format!("{base}/orders"))
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let res = client.request(req).await.expect("request sent");
    let status = res.status().as_u16();
    let retry = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let _ = res.into_body().collect().await.expect("body read");
    (status, retry)
}

#[derive(Default)]
struct Counts {
    ok: AtomicUsize,
    refused: AtomicUsize,
    shed: AtomicUsize,
    other: AtomicUsize,
    good: AtomicUsize,
    good_not_200: AtomicUsize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_of_made_up_opaque_tokens_is_bounded_and_known_tokens_keep_working() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();

    tokio::time::timeout(Duration::from_secs(60), async {
        let idp = DevIdp::builder().start().await.unwrap();
        let proxy = CountingProxy::start(idp.introspection_endpoint()).await;
        let env: HashMap<&str, String> = [
            ("TOLLGATE_ISSUER", idp.issuer().to_owned()),
            ("TOLLGATE_AUDIENCE", "orders".to_owned()),
            ("TOLLGATE_JWKS_URI", idp.jwks_uri()),
            ("TOLLGATE_INTROSPECTION_URI", proxy.url().to_owned()),
            ("TOLLGATE_CLIENT_ID", "demo-full".to_owned()),
            ("TOLLGATE_CLIENT_SECRET", "demo-full-secret".to_owned()),
            (
                "TOLLGATE_INTROSPECTION_MAX_IN_FLIGHT",
                MAX_IN_FLIGHT.to_string(),
            ),
            (
                "TOLLGATE_INTROSPECTION_MAX_PER_SEC",
                MAX_PER_SEC.to_string(),
            ),
        ]
        .into_iter()
        .collect();
        let config = axum_orders::Config::from_lookup(|k| env.get(k).cloned()).unwrap();
        let gate = config.tollgate().build().await.unwrap();
        let introspector = gate
            .authenticator()
            .introspector()
            .expect("introspection configured")
            .clone();
        let base = serve(axum_orders::router(&gate)).await;

        // the known-good token: introspected once, then served from the cache
        let good = idp
            .client_credentials_token("demo-opaque", &["orders:read"], Some("orders"))
            .await
            .unwrap()
            .access_token;
        let warm = Client::builder(TokioExecutor::new()).build_http();
        assert_eq!(get(&warm, &base, &good).await.0, 200);
        assert_eq!(proxy.calls(), 1);

        // screening: refused without a call (too short, too long; characters outside
        // b64token are already refused by the Bearer header parser, 400)
        for bad in ["short".to_owned(), "x".repeat(4097)] {
            assert_eq!(get(&warm, &base, &bad).await.0, 401, "{bad}");
        }
        let (status, _) = get(&warm, &base, "dev_at_padding=in=the=middle").await;
        assert!(matches!(status, 400 | 401), "{status}");
        assert_eq!(proxy.calls(), 1);

        // the flood
        let next = Arc::new(AtomicUsize::new(0));
        let counts = Arc::new(Counts::default());
        let started = Instant::now();
        let workers: Vec<_> = (0..CONNECTIONS)
            .map(|_| {
                let (next, counts, base, good) =
                    (next.clone(), counts.clone(), base.clone(), good.clone());
                tokio::spawn(async move {
                    // one keep-alive connection per worker
                    let client: Http = Client::builder(TokioExecutor::new())
                        .pool_max_idle_per_host(1)
                        .build_http();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= FLOOD {
                            break;
                        }
                        let (status, retry) = get(&client, &base, &made_up(i)).await;
                        let bucket = match (status, retry.as_str()) {
                            (200, _) => &counts.ok,
                            (401, _) => &counts.refused,
                            (503, "1") => &counts.shed,
                            _ => &counts.other,
                        };
                        bucket.fetch_add(1, Ordering::Relaxed);
                        if i % GOOD_EVERY == 0 {
                            counts.good.fetch_add(1, Ordering::Relaxed);
                            if get(&client, &base, &good).await.0 != 200 {
                                counts.good_not_200.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            w.await.unwrap();
        }
        let duration = started.elapsed();
        // wait for the calls still out to land (their clients already have answers)
        let calm = Instant::now();
        while introspector.in_flight() > 0 && calm.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let calls = proxy.calls() - 1;
        let load = |c: &AtomicUsize| c.load(Ordering::Relaxed);
        let (ok, refused, shed, other) = (
            load(&counts.ok),
            load(&counts.refused),
            load(&counts.shed),
            load(&counts.other),
        );
        let mut shed_metric = 0u64;
        for (key, _, _, v) in snapshotter.snapshot().into_vec() {
            if key.key().name() == metrics::INTROSPECTION_SHED_TOTAL
                && let DebugValue::Counter(c) = v
            {
                shed_metric += c;
            }
        }
        #[allow(clippy::cast_precision_loss)]
        let bound = MAX_PER_SEC as f64 * duration.as_secs_f64() + MAX_IN_FLIGHT as f64;
        println!(
            "flood: {FLOOD} made-up tokens over {CONNECTIONS} connections in {:.3} s: \
             {calls} introspection calls (bound {bound:.1}, at most {} at once at the AS), \
             {refused} refused 401 after a call, {shed} shed 503 (metric {shed_metric}), \
             {ok} accepted, {other} other; known-good token {} times, {} not 200; \
             introspector: {} calls, {} shed, {} cached answers",
            duration.as_secs_f64(),
            proxy.max_in_flight(),
            load(&counts.good),
            load(&counts.good_not_200),
            introspector.calls(),
            introspector.shed(),
            introspector.cached_tokens(),
        );
        #[allow(clippy::cast_precision_loss)]
        let within = calls as f64 <= bound;
        assert!(within, "{calls} calls > {bound:.1}");
        assert!(proxy.max_in_flight() <= MAX_IN_FLIGHT);
        assert_eq!(load(&counts.good_not_200), 0);
        assert_eq!(load(&counts.good), FLOOD.div_ceil(GOOD_EVERY));
        assert_eq!((ok, other), (0, 0));
        assert_eq!(refused + shed, FLOOD);
        // every call refused a made-up token; every other one was shed
        assert_eq!(refused, calls);
        assert!(shed > 0);
        assert_eq!(shed_metric, shed as u64);
        assert_eq!(introspector.shed(), shed as u64);
        assert_eq!(introspector.in_flight(), 0);
        // bounded memory: the refusals sit in the bounded negative cache
        assert!(introspector.cached_tokens() <= 1 + calls);

        // the budget refills: a fresh known token is introspected again
        tokio::time::sleep(Duration::from_millis(300)).await;
        let fresh = idp
            .client_credentials_token("demo-opaque", &["orders:read"], Some("orders"))
            .await
            .unwrap()
            .access_token;
        assert_eq!(get(&warm, &base, &fresh).await.0, 200);
    })
    .await
    .expect("the flood test finishes within 60 s");
}
