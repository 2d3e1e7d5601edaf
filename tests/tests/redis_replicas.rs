//! Issue 16: many replicas sharing the DPoP replay store, the introspection cache and
//! the introspection budget's per-second count on a real `redis-server` (started here
//! on a free loopback port; skipped with a message when it is not installed, unless
//! `CI` is set).
//!
//! Each replica is axum-orders configured by its environment variables
//! (`TOLLGATE_REDIS_URL`, `TOLLGATE_REDIS_PREFIX`, introspection at the dev IdP through
//! a counting proxy), with DPoP turned on in the test (`Dpop` on the gate builder, one
//! public URL for the fleet as behind one load balancer), served on 127.0.0.1:0.
//! One test configures the replicas by a TOML file (`TOLLGATE_CONFIG`, `[redis]` with
//! `fallback = "local-only"`). The budget test floods two replicas
//! (`TOLLGATE_INTROSPECTION_MAX_PER_SEC=5`) with made-up opaque tokens and counts the
//! calls reaching the authorization server, with Redis up and then stopped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tollgate_core::dpop::{DpopVerifier, PublicUrl};
use tollgate_testkit::idp::DevIdp;
use tollgate_testkit::redis::RedisServer;
use tollgate_testkit::{DpopProof, TestKey};
use tollgate_tests::{CountingProxy, Reply, send, serve};
use tollgate_tower::{Dpop, DpopMode, Tollgate};

/// The fleet's public URL (the `htu` of every proof, whichever replica gets it).
const PUBLIC: &str = "https://orders.example";

/// The dev IdP, a counting proxy in front of its introspection endpoint, a DPoP
/// client key.
struct World {
    idp: DevIdp,
    proxy: CountingProxy,
    introspect_url: String,
    client: TestKey,
}

impl World {
    async fn new() -> Self {
        let idp = DevIdp::builder().start().await.unwrap();
        let proxy = CountingProxy::start(idp.introspection_endpoint()).await;
        World {
            idp,
            introspect_url: proxy.url().to_owned(),
            proxy,
            client: TestKey::p256("dpop-client"),
        }
    }

    /// The environment of one replica: the dev IdP, introspection through the counting
    /// proxy, Redis at `redis_url` (none when `None`) with `prefix`, and a Redis
    /// timeout of 2 s (generous: the answers these tests expect must not depend on the
    /// machine's load; the outage and slow-Redis tests use the 50 ms default).
    fn env(&self, redis_url: Option<&str>, prefix: Option<&str>) -> HashMap<&'static str, String> {
        let mut env = self.env_default_timeout(redis_url, prefix);
        if redis_url.is_some() {
            env.insert("TOLLGATE_REDIS_TIMEOUT_MS", "2000".to_owned());
        }
        env
    }

    /// [`Self::env`] with the default Redis timeout (50 ms).
    fn env_default_timeout(
        &self,
        redis_url: Option<&str>,
        prefix: Option<&str>,
    ) -> HashMap<&'static str, String> {
        let mut env: HashMap<&str, String> = [
            ("TOLLGATE_ISSUER", self.idp.issuer().to_owned()),
            ("TOLLGATE_AUDIENCE", "orders".to_owned()),
            ("TOLLGATE_JWKS_URI", self.idp.jwks_uri()),
            ("TOLLGATE_INTROSPECTION_URI", self.introspect_url.clone()),
            ("TOLLGATE_CLIENT_ID", "demo-full".to_owned()),
            ("TOLLGATE_CLIENT_SECRET", "demo-full-secret".to_owned()),
        ]
        .into_iter()
        .collect();
        if let Some(url) = redis_url {
            env.insert("TOLLGATE_REDIS_URL", url.to_owned());
        }
        if let Some(p) = prefix {
            env.insert("TOLLGATE_REDIS_PREFIX", p.to_owned());
        }
        env
    }

    /// One axum-orders replica with DPoP allowed: its base URL and gate.
    async fn replica(&self, env: &HashMap<&'static str, String>) -> (String, Tollgate) {
        let config = axum_orders::Config::from_lookup(|k| env.get(k).cloned()).unwrap();
        let dpop = Dpop::new(DpopMode::Allowed, DpopVerifier::builder().build().unwrap())
            .public_url(PublicUrl::parse(PUBLIC).unwrap());
        let gate = config.tollgate().dpop(dpop).build().await.unwrap();
        (serve(axum_orders::router(&gate)).await, gate)
    }

    fn bound_token(&self) -> String {
        self.idp
            .token_builder("demo-full")
            .audience("orders")
            .dpop_bound(&self.client)
            .sign()
    }

    /// A fresh proof (new `jti`) for GET /orders with `token`.
    fn proof(&self, token: &str) -> String {
        DpopProof::new(&self.client, "GET", &format!("{PUBLIC}/orders"))
            .access_token(token)
            .sign()
    }

    async fn jwt(&self) -> String {
        self.idp
            .client_credentials_token("demo-full", &["orders:read"], Some("orders"))
            .await
            .unwrap()
            .access_token
    }

    async fn opaque(&self) -> String {
        self.idp
            .client_credentials_token("demo-opaque", &["orders:read"], Some("orders"))
            .await
            .unwrap()
            .access_token
    }

    fn calls(&self) -> usize {
        self.proxy.calls()
    }
}

async fn dpop_get(base: &str, token: &str, proof: &str) -> Reply {
    send(
        Method::GET,
        &format!("{base}/orders"),
        &[("authorization", &format!("DPoP {token}")), ("dpop", proof)],
        "",
    )
    .await
}

async fn bearer_get(base: &str, token: &str) -> Reply {
    send(
        Method::GET,
        &format!("{base}/orders"),
        &[("authorization", &format!("Bearer {token}"))],
        "",
    )
    .await
}

fn show(case: &str, r: &Reply) {
    eprintln!(
        "{case}: {} www-authenticate={:?} retry-after={:?}",
        r.status,
        r.header("www-authenticate"),
        r.header("retry-after")
    );
}

fn assert_replay_refused(case: &str, r: &Reply) {
    show(case, r);
    assert_eq!(r.status, 401, "{case}");
    let ch = r.header("www-authenticate");
    assert!(
        ch.starts_with("DPoP ") && ch.contains(r#"error="invalid_dpop_proof""#),
        "{case}: {ch}"
    );
}

fn assert_unavailable(case: &str, r: &Reply) {
    show(case, r);
    assert_eq!(r.status, 503, "{case}");
    assert_eq!(r.header("retry-after"), "1", "{case}");
}

/// A TCP proxy on loopback that holds every chunk for `delay` before passing it on
/// (a Redis answering slowly).
async fn slow_proxy(target: SocketAddr, delay: Duration) -> SocketAddr {
    async fn pump(
        mut from: tokio::net::tcp::OwnedReadHalf,
        mut to: tokio::net::tcp::OwnedWriteHalf,
        delay: Duration,
    ) {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n) = from.read(&mut buf).await {
            if n == 0 {
                break;
            }
            tokio::time::sleep(delay).await;
            if to.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(upstream) = TcpStream::connect(target).await else {
                    return;
                };
                let (cr, cw) = client.into_split();
                let (ur, uw) = upstream.into_split();
                tokio::spawn(pump(cr, uw, delay));
                pump(ur, cw, delay).await;
            });
        }
    });
    addr
}

/// Fresh proofs to `base` until one is accepted (each refusal must be a 503 of the
/// replay store, within 20 s): the statuses seen.
async fn until_200(w: &World, base: &str, token: &str) -> Vec<u16> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut statuses = Vec::new();
    loop {
        let r = dpop_get(base, token, &w.proof(token)).await;
        statuses.push(r.status.as_u16());
        if r.status == 200 {
            return statuses;
        }
        assert_unavailable("DPoP while (re)connecting", &r);
        assert!(Instant::now() < deadline, "no success: {statuses:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dpop_proof_is_accepted_once_by_the_fleet() {
    let Some(redis) = RedisServer::start_or_skip("dpop_proof_is_accepted_once_by_the_fleet") else {
        return;
    };
    let w = World::new().await;
    let env = w.env(Some(&redis.url()), None);
    let (a, _) = w.replica(&env).await;
    let (b, _) = w.replica(&env).await;
    let token = w.bound_token();

    let proof = w.proof(&token);
    let r = dpop_get(&a, &token, &proof).await;
    show("A, fresh proof", &r);
    assert_eq!(r.status, 200);
    // B never saw it: only Redis can tell
    assert_replay_refused("B, same proof", &dpop_get(&b, &token, &proof).await);
    assert_replay_refused("A, same proof again", &dpop_get(&a, &token, &proof).await);

    // another proof is fine at B, then refused at A
    let second = w.proof(&token);
    assert_eq!(dpop_get(&b, &token, &second).await.status, 200);
    assert_replay_refused("A, B's proof", &dpop_get(&a, &token, &second).await);

    // one entry per proof, under the default prefix, the values hashed
    assert_eq!(redis.count_keys("tollgate:dpop:").unwrap(), 2);

    // the same fleet without Redis: each replica accepts the proof once (the gap
    // the shared store closes)
    let local = w.env(None, None);
    let (c, _) = w.replica(&local).await;
    let (d, _) = w.replica(&local).await;
    let third = w.proof(&token);
    assert_eq!(dpop_get(&c, &token, &third).await.status, 200);
    assert_eq!(dpop_get(&d, &token, &third).await.status, 200);
}

/// DPoP settings given to a gate after it was built (`Tollgate::dpop`) use the Redis
/// replay store too (they used to keep their own in-memory store, silently).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dpop_given_after_build_uses_the_shared_store() {
    let Some(redis) = RedisServer::start_or_skip("dpop_given_after_build_uses_the_shared_store")
    else {
        return;
    };
    let w = World::new().await;
    let env = w.env(Some(&redis.url()), None);
    let replica = async || {
        let config = axum_orders::Config::from_lookup(|k| env.get(k).cloned()).unwrap();
        let gate = config.tollgate().build().await.unwrap().dpop(
            Dpop::new(DpopMode::Allowed, DpopVerifier::builder().build().unwrap())
                .public_url(PublicUrl::parse(PUBLIC).unwrap()),
        );
        serve(axum_orders::router(&gate)).await
    };
    let (a, b) = (replica().await, replica().await);
    let token = w.bound_token();
    let proof = w.proof(&token);
    assert_eq!(dpop_get(&a, &token, &proof).await.status, 200);
    assert_replay_refused("B, same proof", &dpop_get(&b, &token, &proof).await);
    assert_eq!(redis.count_keys("tollgate:dpop:").unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opaque_token_is_introspected_once_for_the_fleet() {
    let Some(redis) = RedisServer::start_or_skip("opaque_token_is_introspected_once_for_the_fleet")
    else {
        return;
    };
    let w = World::new().await;
    let env = w.env(Some(&redis.url()), None);
    let (a, gate_a) = w.replica(&env).await;
    let (b, gate_b) = w.replica(&env).await;

    let token = w.opaque().await;
    assert_eq!(bearer_get(&a, &token).await.status, 200);
    assert_eq!(w.calls(), 1, "A introspected it");
    for _ in 0..3 {
        assert_eq!(bearer_get(&b, &token).await.status, 200);
    }
    assert_eq!(w.calls(), 1, "B was served from Redis: no further call");
    let b_intro = gate_b.authenticator().introspector().unwrap();
    assert_eq!((b_intro.calls(), b_intro.shared_hits()), (0, 1));
    // the entry is keyed by a hash of the token, never the token
    assert_eq!(redis.count_keys("tollgate:introspect:").unwrap(), 1);
    assert_eq!(redis.count_keys(&format!("*{token}")).unwrap(), 0);

    // a revoked token: the negative answer is shared too
    let revoked = w.opaque().await;
    assert!(w.idp.revoke(&revoked));
    let r = bearer_get(&a, &revoked).await;
    show("A, revoked", &r);
    assert_eq!(r.status, 401);
    assert_eq!(w.calls(), 2);
    let r = bearer_get(&b, &revoked).await;
    show("B, revoked", &r);
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").contains("invalid_token"));
    assert_eq!(w.calls(), 2, "B refused it from Redis: no further call");
    let a_intro = gate_a.authenticator().introspector().unwrap();
    assert_eq!(a_intro.calls() + b_intro.calls(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_fails_dpop_closed_and_recovers_without_restart() {
    let Some(mut redis) =
        RedisServer::start_or_skip("redis_outage_fails_dpop_closed_and_recovers_without_restart")
    else {
        return;
    };
    let w = World::new().await;
    let env = w.env_default_timeout(Some(&redis.url()), None);
    let (a, _) = w.replica(&env).await;
    let token = w.bound_token();
    let jwt = w.jwt().await;
    eprintln!("before the outage: {:?}", until_200(&w, &a, &token).await);

    redis.stop();
    for i in 0..3 {
        let started = Instant::now();
        let r = dpop_get(&a, &token, &w.proof(&token)).await;
        eprintln!("503 after {:?}", started.elapsed());
        assert_unavailable(&format!("DPoP while Redis is down #{i}"), &r);
        // the timeout is 50 ms; a generous bound for a busy machine
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
    // bearer JWTs do not need Redis
    assert_eq!(bearer_get(&a, &jwt).await.status, 200);
    // a new opaque token: Redis is skipped, the authorization server answers
    let calls = w.calls();
    assert_eq!(bearer_get(&a, &w.opaque().await).await.status, 200);
    assert_eq!(w.calls(), calls + 1);

    redis.restart().unwrap();
    // the same replica, not restarted: DPoP works again once the manager reconnects
    eprintln!("after restart: {:?}", until_200(&w, &a, &token).await);
    assert!(redis.count_keys("tollgate:dpop:").unwrap() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_redis_bounds_the_latency() {
    let Some(redis) = RedisServer::start_or_skip("slow_redis_bounds_the_latency") else {
        return;
    };
    let w = World::new().await;
    // every chunk held 500 ms: ten times the 50 ms timeout
    let slow = slow_proxy(redis.addr(), Duration::from_millis(500)).await;
    let env = w.env_default_timeout(Some(&format!("redis://{slow}/0")), None);
    let (a, gate) = w.replica(&env).await;
    let token = w.bound_token();
    for i in 0..3 {
        let started = Instant::now();
        let r = dpop_get(&a, &token, &w.proof(&token)).await;
        eprintln!("503 after {:?}", started.elapsed());
        assert_unavailable(&format!("DPoP with a slow Redis #{i}"), &r);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
    assert_eq!(bearer_get(&a, &w.jwt().await).await.status, 200);
    // introspection: the slow Redis is a miss, the authorization server answers
    let opaque = w.opaque().await;
    assert_eq!(bearer_get(&a, &opaque).await.status, 200);
    assert_eq!(w.calls(), 1);
    assert_eq!(
        gate.authenticator().introspector().unwrap().shared_hits(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_prefixes_keep_services_apart() {
    let Some(redis) = RedisServer::start_or_skip("key_prefixes_keep_services_apart") else {
        return;
    };
    let w = World::new().await;
    let (orders, _) = w.replica(&w.env(Some(&redis.url()), Some("orders:"))).await;
    let (billing, _) = w
        .replica(&w.env(Some(&redis.url()), Some("billing:")))
        .await;
    let (orders2, _) = w.replica(&w.env(Some(&redis.url()), Some("orders:"))).await;
    let token = w.bound_token();
    let proof = w.proof(&token);
    assert_eq!(dpop_get(&orders, &token, &proof).await.status, 200);
    // another service: its own replay entries
    assert_eq!(dpop_get(&billing, &token, &proof).await.status, 200);
    // the same service: shared
    assert_replay_refused(
        "orders replica 2",
        &dpop_get(&orders2, &token, &proof).await,
    );

    let opaque = w.opaque().await;
    assert_eq!(bearer_get(&orders, &opaque).await.status, 200);
    assert_eq!(bearer_get(&billing, &opaque).await.status, 200);
    assert_eq!(
        w.calls(),
        2,
        "billing does not see orders' introspection entry"
    );
    assert_eq!(bearer_get(&orders2, &opaque).await.status, 200);
    assert_eq!(w.calls(), 2);
    for service in ["orders:", "billing:"] {
        assert_eq!(redis.count_keys(&format!("{service}dpop:")).unwrap(), 1);
        assert_eq!(
            redis.count_keys(&format!("{service}introspect:")).unwrap(),
            1
        );
        // plus the budget's one-second counters of the calls (gone after 2 s)
        let all = redis.count_keys(service).unwrap();
        let budget = redis.count_keys(&format!("{service}budget:")).unwrap();
        assert_eq!(all, 2 + budget, "{service}");
        assert!(budget <= 1, "{service}: one call, at most one window");
    }
    assert_eq!(redis.count_keys("tollgate:").unwrap(), 0);
}

#[test]
fn a_bad_redis_url_stops_start_up_naming_the_field() {
    let env: HashMap<&str, &str> = [
        ("TOLLGATE_ISSUER", "https://idp.example"),
        ("TOLLGATE_AUDIENCE", "orders"),
        ("TOLLGATE_REDIS_URL", "http://127.0.0.1:6379"),
    ]
    .into_iter()
    .collect();
    let err = axum_orders::Config::from_lookup(|k| env.get(k).map(|v| (*v).to_owned()))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("TOLLGATE_REDIS_URL "), "{err}");
    let err = tollgate_tower::GateConfig::from_toml(
        "[[issuer]]\nissuer = \"https://idp.example\"\naudiences = [\"orders\"]\n\n[redis]\nurl = \"127.0.0.1:6379\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("redis.url "), "{err}");
    let err = tollgate_tower::GateConfig::from_toml(
        "[[issuer]]\nissuer = \"https://idp.example\"\naudiences = [\"orders\"]\n\n[redis]\nurl = \"redis://127.0.0.1:6379/0\"\nfallback = \"sometimes\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("fallback"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_only_fallback_from_the_config_file() {
    let Some(mut redis) = RedisServer::start_or_skip("local_only_fallback_from_the_config_file")
    else {
        return;
    };
    let w = World::new().await;
    let file = std::env::temp_dir().join(format!(
        "tollgate-redis-{}-{}.toml",
        std::process::id(),
        redis.port()
    ));
    std::fs::write(
        &file,
        format!(
            "[[issuer]]\nissuer = \"{}\"\naudiences = [\"orders\"]\njwks_uri = \"{}\"\n\n\
             [redis]\nurl = \"{}\"\nprefix = \"file:\"\ntimeout_ms = 2000\nfallback = \"local-only\"\n",
            w.idp.issuer(),
            w.idp.jwks_uri(),
            redis.url()
        ),
    )
    .unwrap();
    let env: HashMap<&'static str, String> = [("TOLLGATE_CONFIG", file.display().to_string())]
        .into_iter()
        .collect();
    let (a, _) = w.replica(&env).await;
    let (b, _) = w.replica(&env).await;
    let _ = std::fs::remove_file(&file);
    let token = w.bound_token();
    let proof = w.proof(&token);
    assert_eq!(dpop_get(&a, &token, &proof).await.status, 200);
    assert_replay_refused("B, Redis up", &dpop_get(&b, &token, &proof).await);
    assert_eq!(redis.count_keys("file:dpop:").unwrap(), 1);

    redis.stop();
    // opted in: checked against this replica's memory alone (logged at warn)
    let proof = w.proof(&token);
    let r = dpop_get(&a, &token, &proof).await;
    show("A, Redis down, local-only", &r);
    assert_eq!(r.status, 200);
    assert_replay_refused("A again, Redis down", &dpop_get(&a, &token, &proof).await);
    // the documented cost: another replica cannot know
    assert_eq!(dpop_get(&b, &token, &proof).await.status, 200);
}

/// The fleet's introspection rate (`TOLLGATE_INTROSPECTION_MAX_PER_SEC`) for the
/// budget tests.
const FLEET_PER_SEC: usize = 5;
/// Each replica's in-flight cap: ample for the requests sent at once
/// ([`FLOOD_CONCURRENCY`]), and also the burst of its local token bucket.
const FLEET_IN_FLIGHT: usize = 8;
/// Requests each replica has in flight at once.
const FLOOD_CONCURRENCY: usize = 4;
/// Distinct made-up tokens sent to each replica.
const FLOOD_PER_REPLICA: usize = 40;

/// What a flood of made-up tokens got.
#[derive(Debug, Default)]
struct Flood {
    /// 401: introspected, not active (each one call).
    refused: usize,
    /// 503 + `Retry-After: 1`: shed by the budget, no call.
    shed: usize,
    /// Anything else (status, retry-after).
    other: Vec<(u16, String)>,
    /// The slowest request.
    slowest: Duration,
}

/// Sends [`FLOOD_PER_REPLICA`] distinct made-up opaque tokens (tagged `tag`) to
/// `base`, [`FLOOD_CONCURRENCY`] at a time.
async fn flood(base: String, tag: String) -> Flood {
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..FLOOD_CONCURRENCY {
        let (base, tag, next) = (base.clone(), tag.clone(), next.clone());
        workers.spawn(async move {
            let mut seen = Flood::default();
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                if n >= FLOOD_PER_REPLICA {
                    return seen;
                }
                // the dev IdP's shape, never issued: not active
                let token = format!("dev_at_{tag}{n:04}madeUpOpaqueToken0123456789");
                let started = Instant::now();
                let r = bearer_get(&base, &token).await;
                seen.slowest = seen.slowest.max(started.elapsed());
                match (r.status.as_u16(), r.header("retry-after")) {
                    (401, _) => seen.refused += 1,
                    (503, "1") => seen.shed += 1,
                    (s, ra) => seen.other.push((s, ra.to_owned())),
                }
            }
        });
    }
    let mut all = Flood::default();
    while let Some(w) = workers.join_next().await {
        let w = w.unwrap();
        all.refused += w.refused;
        all.shed += w.shed;
        all.other.extend(w.other);
        all.slowest = all.slowest.max(w.slowest);
    }
    all
}

/// Both replicas flooded at the same time: what each got, and the seconds it took
/// (from before the first request to after the last answer).
async fn flood_both(a: &str, b: &str, tag: &str) -> (Flood, Flood, f64) {
    let started = Instant::now();
    let (fa, fb) = tokio::join!(
        flood(a.to_owned(), format!("{tag}A")),
        flood(b.to_owned(), format!("{tag}B"))
    );
    (fa, fb, started.elapsed().as_secs_f64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_rate_holds_for_the_fleet() {
    let Some(mut redis) = RedisServer::start_or_skip("introspection_rate_holds_for_the_fleet")
    else {
        return;
    };
    let w = World::new().await;
    let mut env = w.env(Some(&redis.url()), None);
    env.insert(
        "TOLLGATE_INTROSPECTION_MAX_PER_SEC",
        FLEET_PER_SEC.to_string(),
    );
    env.insert(
        "TOLLGATE_INTROSPECTION_MAX_IN_FLIGHT",
        FLEET_IN_FLIGHT.to_string(),
    );
    let (a, gate_a) = w.replica(&env).await;
    let (b, gate_b) = w.replica(&env).await;
    let intro_a = gate_a.authenticator().introspector().unwrap();
    let intro_b = gate_b.authenticator().introspector().unwrap();

    // Redis up: the fleet shares one count per second
    let (fa, fb, secs) = flood_both(&a, &b, "up").await;
    let calls = w.calls();
    // fixed one-second windows: a run of `secs` touches at most ⌈secs⌉ + 1 of them
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let windows = secs.ceil() as usize + 1;
    let bound = FLEET_PER_SEC * windows;
    eprintln!(
        "Redis up: {calls} calls to the authorization server in {secs:.3} s (bound {bound}); \
         A {fa:?}; B {fb:?}; shed counters A {} B {}",
        intro_a.shed(),
        intro_b.shed()
    );
    assert!(fa.other.is_empty() && fb.other.is_empty(), "{fa:?} {fb:?}");
    assert_eq!(fa.refused + fa.shed, FLOOD_PER_REPLICA);
    assert_eq!(fb.refused + fb.shed, FLOOD_PER_REPLICA);
    // every call refused one token; every other token was shed without a call
    assert_eq!(fa.refused + fb.refused, calls);
    assert_eq!(
        usize::try_from(intro_a.calls() + intro_b.calls()).unwrap(),
        calls
    );
    assert_eq!(
        usize::try_from(intro_a.shed() + intro_b.shed()).unwrap(),
        fa.shed + fb.shed
    );
    assert!(calls >= 1);
    assert!(
        calls <= bound,
        "{calls} calls for the fleet in {secs:.3} s: more than {FLEET_PER_SEC}/s over {windows} windows"
    );
    assert!(fa.slowest < Duration::from_secs(10) && fb.slowest < Duration::from_secs(10));

    // Redis stopped: each replica keeps to its own budget, nothing hangs
    redis.stop();
    // both local buckets full again (burst FLEET_IN_FLIGHT at FLEET_PER_SEC per second)
    tokio::time::sleep(Duration::from_secs_f64(
        (FLEET_IN_FLIGHT as f64 / FLEET_PER_SEC as f64) + 0.2,
    ))
    .await;
    let before = w.calls();
    let shed_before = intro_a.shed() + intro_b.shed();
    let (fa, fb, secs) = flood_both(&a, &b, "down").await;
    let calls = w.calls() - before;
    // each replica: its bucket's burst, then FLEET_PER_SEC per second
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let local_bound = FLEET_IN_FLIGHT + (FLEET_PER_SEC as f64 * secs).ceil() as usize;
    eprintln!(
        "Redis down: {calls} calls in {secs:.3} s (local bound {local_bound} per replica, \
         {} for two); A {fa:?}; B {fb:?}",
        2 * local_bound
    );
    assert!(fa.other.is_empty() && fb.other.is_empty(), "{fa:?} {fb:?}");
    assert_eq!(fa.refused + fa.shed, FLOOD_PER_REPLICA);
    assert_eq!(fb.refused + fb.shed, FLOOD_PER_REPLICA);
    assert_eq!(fa.refused + fb.refused, calls);
    assert_eq!(
        usize::try_from(intro_a.shed() + intro_b.shed() - shed_before).unwrap(),
        fa.shed + fb.shed
    );
    // the lost fleet count does not stop calls: each full local bucket is spent
    assert!(
        fa.refused >= FLEET_IN_FLIGHT && fb.refused >= FLEET_IN_FLIGHT,
        "{fa:?} {fb:?}"
    );
    assert!(calls <= 2 * local_bound, "{calls} > 2 × {local_bound}");
    // the Redis timeout here is 2 s per operation; nothing waits much longer
    assert!(
        fa.slowest < Duration::from_secs(10) && fb.slowest < Duration::from_secs(10),
        "{:?} {:?}",
        fa.slowest,
        fb.slowest
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budget_window_counts_on_redis() {
    use tollgate_core::introspect::SharedBudget;
    let Some(redis) = RedisServer::start_or_skip("budget_window_counts_on_redis") else {
        return;
    };
    let store = tollgate_core::redis::RedisStore::builder(redis.url())
        .prefix("svc:")
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let budget = store.budget();
    let second = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    // three counts within one second (retried when a second boundary fell in between)
    for attempt in 0.. {
        assert!(attempt < 20, "never three counts within one second");
        let scope = [attempt; 32];
        let s0 = second();
        let counts = [
            budget.count(&scope).await,
            budget.count(&scope).await,
            budget.count(&scope).await,
        ];
        if second() != s0 {
            continue;
        }
        assert_eq!(counts, [Some(1), Some(2), Some(3)]);
        // another endpoint: its own counter
        assert_eq!(budget.count(&[200; 32]).await.map(|n| n >= 1), Some(true));
        let key = store.budget_key(&scope, s0);
        assert!(key.starts_with("svc:budget:"));
        assert_eq!(redis.command(&["INCRBY", &key, "0"]).unwrap(), ":3");
        // expires on its own: at most 2 s left
        let ttl = redis.command(&["TTL", &key]).unwrap();
        assert!(matches!(ttl.as_str(), ":0" | ":1" | ":2"), "ttl {ttl}");
        break;
    }
}
