//! RFC 7662 introspection over real HTTP: the axum-orders router on 127.0.0.1:0 with a
//! real client, against the dev IdP (through a counting proxy) and against a scripted
//! introspection server that answers each failure mode and counts calls per token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use http::{HeaderMap, Method, Response};
use tollgate_axum::Tollgate;
use tollgate_core::authenticate::Authenticator;
use tollgate_core::authenticate::{Authenticate, StaticKeys};
use tollgate_core::introspect::{Introspector, Routing};
use tollgate_core::oauth::ClientAuth;
use tollgate_core::{KeySet, Validation};
use tollgate_testkit::idp::DevIdp;
use tollgate_testkit::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, TestKey};
use tollgate_tests::{CountingProxy, Reply, send, serve};

// ---------------------------------------------------------------- helpers

fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

async fn get(base: &str, path: &str, token: &str) -> Reply {
    let auth = format!("Bearer {token}");
    send(
        Method::GET,
        &format!("{base}{path}"),
        &[("authorization", &auth)],
        "",
    )
    .await
}

async fn post_order(base: &str, token: &str) -> Reply {
    let auth = format!("Bearer {token}");
    send(
        Method::POST,
        &format!("{base}/orders"),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        r#"{"item":"gear"}"#,
    )
    .await
}

fn form_value<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    body.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

const NOT_ACTIVE: &str = r#"Bearer realm="orders", error="invalid_token", error_description="The access token is not active""#;
const EXPIRED: &str =
    r#"Bearer realm="orders", error="invalid_token", error_description="The access token expired""#;
const INVALID: &str = r#"Bearer realm="orders", error="invalid_token", error_description="The access token is invalid""#;

// ---------------------------------------------------------------- scripted server

/// What the scripted introspection server answers for one token.
#[derive(Clone)]
enum Answer {
    /// 200 with this JSON, after an optional delay.
    Json(serde_json::Value, Duration),
    /// 200 `text/html`.
    Html,
    /// This status, with a JSON body claiming `active: true`.
    Status(u16),
    /// No answer for a long time.
    Hang,
}

#[derive(Clone, Default)]
struct Script {
    answers: Arc<Mutex<HashMap<String, Answer>>>,
    calls: Arc<Mutex<HashMap<String, usize>>>,
    total: Arc<AtomicUsize>,
    last_request: Arc<Mutex<Option<(String, String)>>>,
}

impl Script {
    fn set(&self, token: &str, answer: Answer) {
        self.answers
            .lock()
            .unwrap()
            .insert(token.to_owned(), answer);
    }

    fn calls(&self, token: &str) -> usize {
        self.calls.lock().unwrap().get(token).copied().unwrap_or(0)
    }
}

fn active(scope: &str, exp: i64) -> serde_json::Value {
    serde_json::json!({
        "active": true, "scope": scope, "client_id": "mobile", "sub": "carol",
        "username": "Carol", "token_type": "Bearer", "exp": exp, "iat": now(),
        "iss": DEFAULT_ISSUER, "aud": DEFAULT_AUDIENCE,
    })
}

async fn scripted(State(s): State<Script>, headers: HeaderMap, body: Bytes) -> Response<String> {
    let body = String::from_utf8(body.to_vec()).unwrap();
    let token = form_value(&body, "token").unwrap_or("").to_owned();
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    *s.last_request.lock().unwrap() = Some((auth, body));
    s.total.fetch_add(1, Ordering::SeqCst);
    *s.calls.lock().unwrap().entry(token.clone()).or_default() += 1;
    let answer = s.answers.lock().unwrap().get(&token).cloned();
    let json = |status: u16, v: &serde_json::Value| {
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(v.to_string())
            .unwrap()
    };
    match answer {
        None => json(200, &serde_json::json!({"active": false})),
        Some(Answer::Json(v, delay)) => {
            tokio::time::sleep(delay).await;
            json(200, &v)
        }
        Some(Answer::Html) => Response::builder()
            .status(200)
            .header("content-type", "text/html")
            .body("<html><body><h1>Welcome</h1></body></html>".to_owned())
            .unwrap(),
        Some(Answer::Status(code)) => json(code, &active("orders:read", now() + 300)),
        Some(Answer::Hang) => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            json(200, &active("orders:read", now() + 300))
        }
    }
}

struct Scripted {
    base: String,
    script: Script,
    key: TestKey,
    introspector: Introspector,
}

/// The axum-orders router with JWTs from a static key and other tokens introspected at
/// the scripted server.
async fn scripted_app(
    configure: impl FnOnce(
        tollgate_core::introspect::IntrospectorBuilder,
    ) -> tollgate_core::introspect::IntrospectorBuilder,
    leeway: Duration,
) -> Scripted {
    let script = Script::default();
    let idp = serve(
        axum::Router::new()
            .route("/introspect", post(scripted))
            .with_state(script.clone()),
    )
    .await;
    let validation = Validation::builder()
        .issuer(DEFAULT_ISSUER)
        .audience(DEFAULT_AUDIENCE)
        .leeway(leeway)
        .build()
        .unwrap();
    let introspector = configure(
        Introspector::builder()
            .validation(validation.clone())
            .endpoint(format!("{idp}/introspect"))
            .client_auth(ClientAuth::client_secret_basic("orders-api", "s3cret:x"))
            .timeout(Duration::from_millis(500))
            .retry_after(Duration::from_secs(7))
            // the scripted tokens are short names ("t-500"), below the default 16
            .token_length(1..=4096),
    )
    .build()
    .await
    .unwrap();
    let key = TestKey::p256("k1");
    let jwt = StaticKeys::new(validation, KeySet::from_keys([key.public_key()]));
    let gate = Tollgate::new(
        Authenticator::from(jwt).with_introspection(introspector.clone(), Routing::NonJwt),
    )
    .realm("orders");
    let base = serve(axum_orders::router(&gate)).await;
    Scripted {
        base,
        script,
        key,
        introspector,
    }
}

// ---------------------------------------------------------------- scripted tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_answer_maps_claims_and_scopes() {
    let app = scripted_app(|b| b, Duration::from_secs(30)).await;
    app.script.set(
        "opaque-reader",
        Answer::Json(active("orders:read", now() + 300), Duration::ZERO),
    );
    let r = get(&app.base, "/me", "opaque-reader").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        serde_json::json!({"sub": "carol", "client_id": "mobile", "scopes": ["orders:read"]})
    );
    assert_eq!(get(&app.base, "/orders", "opaque-reader").await.status, 200);
    let r = post_order(&app.base, "opaque-reader").await;
    assert_eq!(r.status, 403);
    assert!(
        r.header("www-authenticate")
            .ends_with(r#"scope="orders:write""#)
    );
    // three requests, one call (cached); the call was authenticated as the resource
    // server (client_secret_basic, form-encoded id and secret) and carried the hint
    assert_eq!(app.script.calls("opaque-reader"), 1);
    let (auth, body) = app.script.last_request.lock().unwrap().clone().unwrap();
    // base64("orders-api:s3cret%3Ax")
    assert_eq!(auth, "Basic b3JkZXJzLWFwaTpzM2NyZXQlM0F4");
    assert_eq!(body, "token=opaque-reader&token_type_hint=access_token");

    // the claims a handler sees are the same type as for a JWT
    let c = Authenticate::<()>::authenticate(&app.introspector, "opaque-reader")
        .await
        .unwrap();
    assert_eq!(c.username.as_deref(), Some("Carol"));
    assert_eq!(c.token_type.as_deref(), Some("Bearer"));

    // a JWT through the same router never reaches the introspection endpoint
    let jwt = app.key.token().scope("orders:read orders:write").sign();
    assert_eq!(post_order(&app.base, &jwt).await.status, 201);
    assert_eq!(app.script.total.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_modes_each_with_its_status() {
    let app = scripted_app(|b| b, Duration::from_secs(30)).await;
    let s = &app.script;
    let mut string_true = active("orders:read", now() + 300);
    string_true["active"] = "true".into();
    let mut missing = active("orders:read", now() + 300);
    missing.as_object_mut().unwrap().remove("active");
    s.set(
        "t-false",
        Answer::Json(serde_json::json!({"active": false}), Duration::ZERO),
    );
    s.set("t-string-true", Answer::Json(string_true, Duration::ZERO));
    s.set("t-missing", Answer::Json(missing, Duration::ZERO));
    s.set("t-html", Answer::Html);
    s.set("t-500", Answer::Status(500));
    s.set("t-401", Answer::Status(401));
    s.set("t-hang", Answer::Hang);
    let mut other_aud = active("orders:read", now() + 300);
    other_aud["aud"] = "inventory".into();
    s.set("t-other-aud", Answer::Json(other_aud, Duration::ZERO));
    s.set(
        "t-expired",
        Answer::Json(active("orders:read", now() - 120), Duration::ZERO),
    );
    let mut refresh = active("orders:read", now() + 300);
    refresh["token_type"] = "refresh_token".into();
    s.set("t-refresh", Answer::Json(refresh, Duration::ZERO));

    for (token, status, challenge) in [
        ("t-false", 401, NOT_ACTIVE),
        ("t-string-true", 401, NOT_ACTIVE),
        ("t-missing", 401, NOT_ACTIVE),
        ("t-html", 401, NOT_ACTIVE),
        ("t-refresh", 401, NOT_ACTIVE),
        ("t-unknown", 401, NOT_ACTIVE),
        ("t-other-aud", 401, INVALID),
        ("t-expired", 401, EXPIRED),
        ("t-500", 503, ""),
        ("t-401", 503, ""),
        ("t-hang", 503, ""),
    ] {
        let started = std::time::Instant::now();
        let r = get(&app.base, "/orders", token).await;
        let took = started.elapsed();
        assert_eq!(r.status.as_u16(), status, "{token}");
        if status == 401 {
            assert_eq!(r.header("www-authenticate"), challenge, "{token}");
        } else {
            assert_eq!(r.header("retry-after"), "7", "{token}");
        }
        if token == "t-hang" {
            // the 500 ms timeout, not the server's 30 s
            assert!(took < Duration::from_secs(3), "{token}: {took:?}");
        }
        assert_eq!(s.calls(token), 1, "{token}");
    }
    // refusals are cached briefly (no second call); unavailability never is
    for token in ["t-false", "t-html", "t-expired"] {
        assert_eq!(get(&app.base, "/orders", token).await.status, 401);
        assert_eq!(s.calls(token), 1, "{token}");
    }
    assert_eq!(get(&app.base, "/orders", "t-500").await.status, 503);
    assert_eq!(s.calls("t-500"), 2);
    // the endpoint recovers: the same token is now answered
    s.set(
        "t-500",
        Answer::Json(active("orders:read", now() + 300), Duration::ZERO),
    );
    assert_eq!(get(&app.base, "/orders", "t-500").await.status, 200);
    assert_eq!(s.calls("t-500"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_endpoint_is_503() {
    // a port that was just free: nothing listens there
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let validation = Validation::builder()
        .issuer(DEFAULT_ISSUER)
        .audience(DEFAULT_AUDIENCE)
        .build()
        .unwrap();
    let introspector = Introspector::builder()
        .validation(validation)
        .endpoint(format!("http://127.0.0.1:{port}/introspect"))
        .build()
        .await
        .unwrap();
    let gate = Tollgate::new(introspector).realm("orders");
    let base = serve(axum_orders::router(&gate)).await;
    // (16 bytes at least: shorter tokens are refused without a call)
    let r = get(&base, "/orders", "anything-opaque-0123").await;
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), "5");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_flight_200_concurrent_requests_one_call() {
    let app = scripted_app(|b| b, Duration::from_secs(30)).await;
    // the server takes its time, so all 200 requests arrive while the call is open
    app.script.set(
        "burst",
        Answer::Json(
            active("orders:read", now() + 300),
            Duration::from_millis(300),
        ),
    );
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let base = app.base.clone();
            tokio::spawn(async move { get(&base, "/orders", "burst").await.status })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap() == 200 {
            ok += 1;
        }
    }
    assert_eq!(ok, 200);
    assert_eq!(app.script.calls("burst"), 1);
    assert_eq!(app.introspector.calls(), 1);
    assert_eq!(app.introspector.in_flight(), 0);

    // the same for a refusal: 200 requests with one unknown token, one call
    app.script.set(
        "burst-bad",
        Answer::Json(
            serde_json::json!({"active": false}),
            Duration::from_millis(300),
        ),
    );
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let base = app.base.clone();
            tokio::spawn(async move { get(&base, "/orders", "burst-bad").await.status })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 401);
    }
    assert_eq!(app.script.calls("burst-bad"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_entry_gone_at_exp() {
    // long TTL, no leeway: only exp limits the entry
    let app = scripted_app(|b| b.cache_ttl(Duration::from_secs(600)), Duration::ZERO).await;
    let exp = now() + 2;
    app.script.set(
        "short",
        Answer::Json(active("orders:read", exp), Duration::ZERO),
    );
    assert_eq!(get(&app.base, "/orders", "short").await.status, 200);
    assert_eq!(get(&app.base, "/orders", "short").await.status, 200);
    assert_eq!(app.script.calls("short"), 1);
    assert_eq!(app.introspector.cached_tokens(), 1);
    // wait until the wall clock is past exp
    while now() < exp {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // the entry is gone: the server is asked again, and its (stale) answer now fails
    // the exp rule
    let r = get(&app.base, "/orders", "short").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), EXPIRED);
    assert_eq!(app.script.calls("short"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_cache_can_be_off_and_ttl_zero_asks_every_time() {
    let app = scripted_app(
        |b| {
            b.cache_ttl(Duration::ZERO)
                .negative_cache_ttl(Duration::ZERO)
        },
        Duration::from_secs(30),
    )
    .await;
    app.script.set(
        "live",
        Answer::Json(active("orders:read", now() + 300), Duration::ZERO),
    );
    for _ in 0..3 {
        assert_eq!(get(&app.base, "/orders", "live").await.status, 200);
        assert_eq!(get(&app.base, "/orders", "dead").await.status, 401);
    }
    assert_eq!(app.script.calls("live"), 3);
    assert_eq!(app.script.calls("dead"), 3);
    assert_eq!(app.introspector.cached_tokens(), 0);
}

// ---------------------------------------------------------------- dev IdP

struct IdpApp {
    idp: DevIdp,
    base: String,
    proxy: CountingProxy,
}

/// axum-orders configured through its environment variables, JWT keys and
/// introspection from the dev IdP (introspection through a counting proxy).
async fn idp_app(cache_secs: &str, routing: Routing) -> IdpApp {
    let idp = DevIdp::builder().start().await.unwrap();
    let proxy = CountingProxy::start(idp.introspection_endpoint()).await;
    let env: HashMap<&str, String> = [
        ("TOLLGATE_ISSUER", idp.issuer().to_owned()),
        ("TOLLGATE_AUDIENCE", "orders".to_owned()),
        ("TOLLGATE_JWKS_URI", idp.jwks_uri()),
        ("TOLLGATE_INTROSPECTION_URI", proxy.url().to_owned()),
        ("TOLLGATE_CLIENT_ID", "demo-full".to_owned()),
        ("TOLLGATE_CLIENT_SECRET", "demo-full-secret".to_owned()),
        ("TOLLGATE_INTROSPECTION_CACHE_SECS", cache_secs.to_owned()),
    ]
    .into_iter()
    .collect();
    let config = axum_orders::Config::from_lookup(|k| env.get(k).cloned()).unwrap();
    let gate = config
        .tollgate()
        .introspection(config.introspector().unwrap())
        .routing(routing)
        .build()
        .await
        .unwrap();
    let base = serve(axum_orders::router(&gate)).await;
    IdpApp { idp, base, proxy }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_idp_jwt_and_opaque_through_one_router() {
    let app = idp_app("30", Routing::NonJwt).await;
    let opaque = app
        .idp
        .client_credentials_token("demo-opaque", &["orders:read"], Some("orders"))
        .await
        .unwrap()
        .access_token;
    let jwt = app
        .idp
        .client_credentials_token(
            "demo-full",
            &["orders:read", "orders:write"],
            Some("orders"),
        )
        .await
        .unwrap()
        .access_token;
    assert!(!tollgate_core::introspect::looks_like_jwt(&opaque));
    assert!(tollgate_core::introspect::looks_like_jwt(&jwt));

    // opaque: accepted with its scopes
    let r = get(&app.base, "/me", &opaque).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        serde_json::json!({"sub": "demo-opaque", "client_id": "demo-opaque", "scopes": ["orders:read"]})
    );
    assert_eq!(get(&app.base, "/orders", &opaque).await.status, 200);
    assert_eq!(post_order(&app.base, &opaque).await.status, 403);
    assert_eq!(app.proxy.calls(), 1);

    // JWT from the same issuer: verified locally, no introspection call
    let r = get(&app.base, "/me", &jwt).await;
    assert_eq!(r.json()["client_id"], "demo-full");
    assert_eq!(post_order(&app.base, &jwt).await.status, 201);
    assert_eq!(app.proxy.calls(), 1);

    // an opaque token the IdP never issued (of the accepted length: 16 bytes at least)
    let r = get(&app.base, "/orders", "dev_at_forged_0123456789").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), NOT_ACTIVE);
    assert_eq!(app.proxy.calls(), 2);

    // an opaque token for another audience (inventory): the answer's aud is checked
    let inv = app
        .idp
        .client_credentials_token("demo-opaque", &["inventory:read"], Some("inventory"))
        .await
        .unwrap()
        .access_token;
    let r = get(&app.base, "/me", &inv).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), INVALID);
    assert_eq!(app.proxy.calls(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_idp_revoked_token_refused_after_cache_ttl() {
    let app = idp_app("1", Routing::NonJwt).await;
    let opaque = app
        .idp
        .client_credentials_token("demo-opaque", &["orders:read"], Some("orders"))
        .await
        .unwrap()
        .access_token;
    assert_eq!(get(&app.base, "/orders", &opaque).await.status, 200);
    let revoked_at = std::time::Instant::now();
    assert!(app.idp.revoke(&opaque));
    // within the TTL the cached answer still stands (the documented trade-off)
    assert_eq!(get(&app.base, "/orders", &opaque).await.status, 200);
    assert_eq!(app.proxy.calls(), 1);
    // after at most T = 1 s it is refused
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = get(&app.base, "/orders", &opaque).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), NOT_ACTIVE);
    assert!(revoked_at.elapsed() < Duration::from_secs(3));
    assert_eq!(app.proxy.calls(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_idp_routing_all_makes_jwt_revocation_visible() {
    let app = idp_app("1", Routing::All).await;
    let jwt = app
        .idp
        .client_credentials_token("demo-full", &["orders:read"], Some("orders"))
        .await
        .unwrap()
        .access_token;
    assert_eq!(get(&app.base, "/orders", &jwt).await.status, 200);
    assert_eq!(app.proxy.calls(), 1);
    assert!(app.idp.revoke(&jwt));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // the signature is still valid, but the IdP says it is not active any more
    assert_eq!(get(&app.base, "/orders", &jwt).await.status, 401);
    assert_eq!(app.proxy.calls(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_idp_discovery_and_client_secret_post() {
    let idp = DevIdp::builder().start().await.unwrap();
    let introspector = Introspector::builder()
        .validation(
            Validation::builder()
                .issuer(idp.issuer())
                .audience("orders")
                .build()
                .unwrap(),
        )
        .discover()
        .client_auth(ClientAuth::client_secret_post(
            "demo-reader",
            "demo-reader-secret",
        ))
        .build()
        .await
        .unwrap();
    assert_eq!(
        introspector.endpoint().to_string(),
        idp.introspection_endpoint()
    );
    let opaque = idp
        .client_credentials_token("demo-opaque", &["orders:read"], Some("orders"))
        .await
        .unwrap()
        .access_token;
    let c = Authenticate::<()>::authenticate(&introspector, &opaque)
        .await
        .unwrap();
    assert!(c.scopes.contains("orders:read"));
    assert_eq!(c.iss.as_deref(), Some(idp.issuer()));

    // wrong resource-server credentials: the IdP answers 401, which is our
    // misconfiguration, not the token's fault → 503
    let wrong = Introspector::builder()
        .validation(
            Validation::builder()
                .issuer(idp.issuer())
                .audience("orders")
                .build()
                .unwrap(),
        )
        .endpoint(idp.introspection_endpoint())
        .client_auth(ClientAuth::client_secret_basic("demo-reader", "nope"))
        .build()
        .await
        .unwrap();
    let e = Authenticate::<()>::authenticate(&wrong, &opaque)
        .await
        .unwrap_err();
    assert_eq!(e.wire().status, 503);
}
