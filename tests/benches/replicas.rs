//! Issue 16, measured (a benchmark, not a test): `cargo bench -p tollgate-tests --bench
//! replicas` (needs `redis-server` on the PATH; started here on a free loopback port).
//!
//! 1. DPoP requests per second through axum-orders' router (in process, no HTTP
//!    client), one replica, the in-memory replay store vs the Redis one, same run,
//!    interleaved rounds; latency percentiles (p50/p99) of each, so the p99 the Redis
//!    round trip adds. Proofs are signed before the clock starts (client-side cost).
//! 2. Calls to the authorization server for N replicas, each replica getting every
//!    one of T new opaque tokens, with and without the shared introspection cache.
//!
//! `BENCH_REQUESTS` (default 4000 per round), `BENCH_CONCURRENCY` (default 16),
//! `BENCH_ROUNDS` (default 3), `BENCH_REPLICAS` (default 4), `BENCH_TOKENS` (default 50).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use http::Request;
use tollgate_core::dpop::{DpopVerifier, PublicUrl};
use tollgate_core::redis::{RedisReplayStore, RedisStore};
use tollgate_testkit::idp::DevIdp;
use tollgate_testkit::redis::RedisServer;
use tollgate_testkit::{DpopProof, TestKey};
use tollgate_tower::{Dpop, DpopMode};
use tower::ServiceExt;

const PUBLIC: &str = "https://orders.example";

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn env_of(idp: &DevIdp, redis: Option<&str>) -> HashMap<&'static str, String> {
    let mut env: HashMap<&str, String> = [
        ("TOLLGATE_ISSUER", idp.issuer().to_owned()),
        ("TOLLGATE_AUDIENCE", "orders".to_owned()),
        ("TOLLGATE_JWKS_URI", idp.jwks_uri()),
        ("TOLLGATE_INTROSPECTION_URI", idp.introspection_endpoint()),
        ("TOLLGATE_CLIENT_ID", "demo-full".to_owned()),
        ("TOLLGATE_CLIENT_SECRET", "demo-full-secret".to_owned()),
    ]
    .into_iter()
    .collect();
    if let Some(url) = redis {
        env.insert("TOLLGATE_REDIS_URL", url.to_owned());
    }
    env
}

async fn gate(env: &HashMap<&'static str, String>, dpop: Option<Dpop>) -> tollgate_tower::Tollgate {
    let config = axum_orders::Config::from_lookup(|k| env.get(k).cloned()).unwrap();
    let b = config.tollgate();
    let b = match dpop {
        Some(d) => b.dpop(d),
        None => b,
    };
    b.build().await.unwrap()
}

fn dpop_request(token: &str, proof: String) -> Request<Body> {
    Request::get("/orders")
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", proof)
        .body(Body::empty())
        .unwrap()
}

/// Sends the (token, proof) pairs through `app` with `concurrency` workers:
/// (requests/s, sorted latencies in µs, answers other than 200).
async fn drive(
    app: axum::Router,
    proofs: Vec<(Arc<str>, String)>,
    concurrency: usize,
) -> (f64, Vec<u64>, usize) {
    let n = proofs.len();
    let queue = Arc::new(std::sync::Mutex::new(proofs));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (app, queue) = (app.clone(), queue.clone());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut not_ok = 0;
                loop {
                    let Some((token, proof)) = queue.lock().unwrap().pop() else {
                        break;
                    };
                    let t = Instant::now();
                    let res = app
                        .clone()
                        .oneshot(dpop_request(&token, proof))
                        .await
                        .unwrap();
                    if res.status() != 200 {
                        not_ok += 1;
                    }
                    lat.push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
                }
                (lat, not_ok)
            })
        })
        .collect();
    let mut all = Vec::with_capacity(n);
    let mut not_ok = 0;
    for w in workers {
        let (lat, bad) = w.await.unwrap();
        all.extend(lat);
        not_ok += bad;
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort_unstable();
    #[allow(clippy::cast_precision_loss)]
    (n as f64 / secs, all, not_ok)
}

fn pct(sorted: &[u64], p: f64) -> u64 {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or(0)
}

async fn replay_store(idp: &DevIdp, redis: &RedisServer) {
    let requests = env_num("BENCH_REQUESTS", 4000);
    let concurrency = env_num("BENCH_CONCURRENCY", 16);
    let rounds = env_num("BENCH_ROUNDS", 3);
    if rounds == 0 {
        return;
    }
    // 32 clients (keys and bound tokens): the in-memory store holds at most 10,000
    // live proofs per key
    let clients: Vec<(TestKey, Arc<str>)> = (0..32)
        .map(|i| {
            let key = TestKey::p256(&format!("bench-client-{i}"));
            let token: Arc<str> = idp
                .token_builder("demo-full")
                .audience("orders")
                .dpop_bound(&key)
                .sign()
                .into();
            (key, token)
        })
        .collect();
    let dpop = || {
        Dpop::new(DpopMode::Allowed, DpopVerifier::builder().build().unwrap())
            .public_url(PublicUrl::parse(PUBLIC).unwrap())
    };
    let memory_app = axum_orders::router(&gate(&env_of(idp, None), Some(dpop())).await);
    // a generous timeout: the machine is shared, and a 503 would not measure the store
    let store = RedisStore::builder(redis.url())
        .prefix("bench:")
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let redis_app = axum_orders::router(
        &gate(
            &env_of(idp, None),
            Some(dpop().replay_store(RedisReplayStore::new(store))),
        )
        .await,
    );
    let sign = |n: usize| -> Vec<(Arc<str>, String)> {
        (0..n)
            .map(|i| {
                let (key, token) = &clients[i % clients.len()];
                let proof = DpopProof::new(key, "GET", &format!("{PUBLIC}/orders"))
                    .access_token(token)
                    .sign();
                (token.clone(), proof)
            })
            .collect()
    };
    // warm-up: the tokens land in each verified-token cache, the connection is made
    drive(memory_app.clone(), sign(256), concurrency).await;
    drive(redis_app.clone(), sign(256), concurrency).await;
    println!("DPoP, one replica, {requests} requests x {rounds} rounds, concurrency {concurrency}");
    println!("store   round  req/s     p50 µs  p99 µs  not-200");
    let mut sums = [0.0f64; 2];
    let mut p99s = [Vec::new(), Vec::new()];
    for round in 0..rounds {
        for (i, (name, app)) in [("memory", &memory_app), ("redis", &redis_app)]
            .into_iter()
            .enumerate()
        {
            let (rps, lat, not_ok) = drive(app.clone(), sign(requests), concurrency).await;
            println!(
                "{name:<7} {round:>5}  {rps:>8.0}  {:>6}  {:>6}  {not_ok}",
                pct(&lat, 0.5),
                pct(&lat, 0.99)
            );
            sums[i] += rps;
            p99s[i].push(pct(&lat, 0.99));
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let (m, r) = (sums[0] / rounds as f64, sums[1] / rounds as f64);
    let med = |v: &mut Vec<u64>| {
        v.sort_unstable();
        v[v.len() / 2]
    };
    let (pm, pr) = (med(&mut p99s[0]), med(&mut p99s[1]));
    println!(
        "mean req/s: memory {m:.0}, redis {r:.0} (redis/memory = {:.2}); median p99: memory {pm} µs, redis {pr} µs (+{} µs)",
        r / m,
        pr.saturating_sub(pm)
    );
    println!(
        "redis keys written: {}",
        redis.count_keys("bench:dpop:").unwrap()
    );
}

async fn introspection_calls(idp: &DevIdp, redis: &RedisServer) {
    let replicas = env_num("BENCH_REPLICAS", 4);
    let tokens = env_num("BENCH_TOKENS", 50);
    for shared in [false, true] {
        let url = redis.url();
        let mut env = env_of(idp, shared.then_some(url.as_str()));
        // no rate limit: this counts calls, it does not test the budget
        env.insert("TOLLGATE_INTROSPECTION_MAX_PER_SEC", "0".to_owned());
        let mut gates = Vec::new();
        for _ in 0..replicas {
            gates.push(gate(&env, None).await);
        }
        let apps: Vec<_> = gates.iter().map(axum_orders::router).collect();
        for _ in 0..tokens {
            let t = idp
                .client_credentials_token("demo-opaque", &["orders:read"], Some("orders"))
                .await
                .unwrap()
                .access_token;
            // every replica gets the token, one after the other (a client spread
            // over the fleet by the load balancer)
            for app in &apps {
                let req = Request::get("/orders")
                    .header("authorization", format!("Bearer {t}"))
                    .body(Body::empty())
                    .unwrap();
                let status = app.clone().oneshot(req).await.unwrap().status();
                assert_eq!(status, 200, "opaque token refused");
            }
        }
        let calls: u64 = gates
            .iter()
            .map(|g| g.authenticator().introspector().unwrap().calls())
            .sum();
        println!(
            "introspection, {replicas} replicas x {tokens} new opaque tokens, shared cache {}: {calls} calls to the authorization server ({:.2} per token)",
            if shared { "on " } else { "off" },
            {
                #[allow(clippy::cast_precision_loss)]
                let per = calls as f64 / tokens as f64;
                per
            }
        );
    }
}

fn main() {
    if !tollgate_testkit::redis::available() {
        eprintln!("replicas bench: redis-server is not installed (apt-get install redis-server)");
        return;
    }
    // `cargo bench` passes --bench; a plain `cargo test --benches` run only checks it builds
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let redis = RedisServer::start().unwrap();
        let idp = DevIdp::builder().start().await.unwrap();
        tokio::time::timeout(Duration::from_secs(600), async {
            replay_store(&idp, &redis).await;
            introspection_calls(&idp, &redis).await;
        })
        .await
        .expect("bench finished within 10 minutes");
    });
}
