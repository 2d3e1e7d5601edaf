//! Phantom tokens (RFC 8693 flavour): an opaque token comes in, the checkpoint
//! introspects it (cached), exchanges it for a JWT addressed to the upstream (cached)
//! and hands that JWT over in its allowed answer; the upstream verifies the JWT with
//! the IdP's keys. N requests cost one introspection call and one exchange. Also
//! through NGINX with the README's lines (skipped loudly without nginx unless CI).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use support::{
    Authz, ROUTES, TempDir, counting_introspection, echo_upstream, gateway, nginx_with, send,
};
use tollgate_authz::{AuthzConfig, ForwardAuth};
use tollgate_core::authenticate::Authenticate;
use tollgate_core::introspect::looks_like_jwt;
use tollgate_testkit::DevIdp;
use tollgate_testkit::idp::Client;
use tollgate_tower::Tollgate;
use tower::ServiceExt;

fn ask(token: &str) -> http::Request<String> {
    http::Request::get("/authz")
        .header("x-forwarded-method", "GET")
        .header("x-forwarded-uri", "/orders")
        .header("authorization", format!("Bearer {token}"))
        .body(String::new())
        .unwrap()
}

fn phantom_config(idp: &DevIdp, introspect: SocketAddr, audience: &str) -> String {
    format!(
        r#"realm = "orders"
[[issuer]]
issuer = "{issuer}"
audiences = ["orders"]
jwks_uri = "{jwks}"

[introspection]
endpoint = "http://{introspect}/introspect"
client_id = "gateway"
client_secret_env = "GATEWAY_SECRET"
cache_secs = 60

[authz.phantom]
token_endpoint = "{token}"
client_id = "gateway"
client_secret_env = "GATEWAY_SECRET"
audience = "{audience}"
scope = "orders:read"
{ROUTES}"#,
        issuer = idp.issuer(),
        jwks = idp.jwks_uri(),
        token = idp.token_endpoint(),
    )
}

async fn forward_auth(idp: &DevIdp, introspect: SocketAddr, audience: &str) -> ForwardAuth<String> {
    let dir = TempDir::new("phantom");
    let file = dir.0.join("authz.toml");
    std::fs::write(&file, phantom_config(idp, introspect, audience)).unwrap();
    let env = |k: &str| match k {
        "TOLLGATE_CONFIG" => Some(file.display().to_string()),
        "GATEWAY_SECRET" => Some("gateway-secret".to_owned()),
        _ => None,
    };
    let config = AuthzConfig::from_lookup(env).unwrap();
    let gate = config.gate.builder::<()>().build().await.unwrap();
    config.forward_auth(&gate).unwrap()
}

/// The dev IdP with a `gateway` client that may exchange tokens for `orders`.
async fn gateway_idp() -> DevIdp {
    DevIdp::builder()
        .client(
            Client::new("gateway", "gateway-secret")
                .scopes(["orders:read"])
                .audiences(["gateway"])
                .may_exchange_for(["orders"]),
        )
        .start()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opaque_in_jwt_out_one_introspection_for_n_requests() {
    let idp = gateway_idp().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let introspect = counting_introspection(idp.addr(), calls.clone()).await;
    let fwd = forward_auth(&idp, introspect, "orders").await;
    // the upstream verifies what it receives with the IdP's keys
    let upstream = Tollgate::<()>::builder()
        .issuer(idp.issuer())
        .audience("orders")
        .jwks_uri(idp.jwks_uri())
        .build()
        .await
        .unwrap();

    let opaque = idp
        .client_credentials_token("demo-opaque", &["orders:read"], Some("orders"))
        .await
        .unwrap()
        .access_token;
    assert!(!looks_like_jwt(&opaque));

    let n = 5;
    let mut jwts = HashSet::new();
    for _ in 0..n {
        let res = fwd.clone().oneshot(ask(&opaque)).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["x-auth-subject"], "demo-opaque");
        let jwt = res.headers()["authorization"]
            .to_str()
            .unwrap()
            .strip_prefix("Bearer ")
            .unwrap()
            .to_owned();
        assert!(looks_like_jwt(&jwt));
        let claims = Authenticate::<()>::authenticate(upstream.authenticator(), &jwt)
            .await
            .unwrap();
        assert_eq!(claims.sub.as_deref(), Some("demo-opaque"));
        assert!(claims.aud.contains("orders"));
        assert!(claims.scopes.contains("orders:read"));
        jwts.insert(jwt);
    }
    assert_eq!(jwts.len(), 1, "one exchange, cached");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one introspection call for {n} requests"
    );
    eprintln!("phantom: {n} requests with one opaque token → 1 introspection call, 1 JWT");

    // a JWT coming in is passed on as it is (no exchange, no Authorization in the answer)
    let jwt_in = idp
        .client_credentials_token("demo-reader", &["orders:read"], Some("orders"))
        .await
        .unwrap()
        .access_token;
    let res = fwd.clone().oneshot(ask(&jwt_in)).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("authorization").is_none());

    // an unknown opaque token: refused by introspection, nothing exchanged
    let res = fwd.clone().oneshot(ask("not-a-real-token")).await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers().get("authorization").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_exchange_is_503_never_the_opaque_token() {
    // the gateway may not exchange for "billing": the IdP answers invalid_target
    let idp = gateway_idp().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let introspect = counting_introspection(idp.addr(), calls).await;
    let fwd = forward_auth(&idp, introspect, "billing").await;
    let opaque = idp
        .client_credentials_token("demo-opaque", &["orders:read"], Some("orders"))
        .await
        .unwrap()
        .access_token;
    let res = fwd.oneshot(ask(&opaque)).await.unwrap();
    assert_eq!(res.status(), 503);
    assert!(res.headers().get("retry-after").is_some());
    assert!(res.headers().get("authorization").is_none());
    assert!(res.headers().get("x-auth-subject").is_none());
}

/// The README's NGINX lines for phantom tokens (http-level map, then two lines in
/// `location /`).
const NGINX_MAP: &str = r#"map $tg_authorization $tg_upstream_authorization {
    ""      $http_authorization;
    default $tg_authorization;
}"#;
const NGINX_LINES: [&str; 2] = [
    "auth_request_set $tg_authorization $upstream_http_authorization;",
    "proxy_set_header Authorization $tg_upstream_authorization;",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phantom_through_nginx() {
    let Some(bin) = gateway("nginx") else { return };
    let readme = include_str!("../../../README.md");
    for l in NGINX_MAP.lines().chain(NGINX_LINES) {
        assert!(readme.contains(l), "README lacks {l:?}");
    }
    let idp = gateway_idp().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let introspect = counting_introspection(idp.addr(), calls.clone()).await;
    let authz = Authz::start_with_env(
        &phantom_config(&idp, introspect, "orders"),
        &[("GATEWAY_SECRET", "gateway-secret")],
    )
    .await;
    let app = echo_upstream().await;
    let anchor = "        proxy_set_header X-Auth-Issuer    $tg_issuer;\n";
    let base = include_str!("gateways/nginx-server.conf");
    assert!(base.contains(anchor));
    let template = base.replace(
        anchor,
        &format!(
            "{anchor}        {}\n        {}\n",
            NGINX_LINES[0], NGINX_LINES[1]
        ),
    );
    let gw = nginx_with(&bin, &[(app, authz.addr)], &template, NGINX_MAP).await;
    let upstream = Tollgate::<()>::builder()
        .issuer(idp.issuer())
        .audience("orders")
        .jwks_uri(idp.jwks_uri())
        .build()
        .await
        .unwrap();

    let opaque = idp
        .client_credentials_token("demo-opaque", &["orders:read"], Some("orders"))
        .await
        .unwrap()
        .access_token;
    let bearer = format!("Bearer {opaque}");
    let n = 5;
    let mut jwts = HashSet::new();
    for _ in 0..n {
        let r = send(gw.addr, "GET", "/orders", &[("Authorization", &bearer)]).await;
        assert_eq!(r.status, 200, "{r:?}");
        let got = r.upstream_header("authorization");
        assert_eq!(got.len(), 1, "{got:?}");
        let jwt = got[0].strip_prefix("Bearer ").unwrap().to_owned();
        assert!(looks_like_jwt(&jwt), "the upstream got {jwt:?}");
        let claims = Authenticate::<()>::authenticate(upstream.authenticator(), &jwt)
            .await
            .unwrap();
        assert_eq!(claims.sub.as_deref(), Some("demo-opaque"));
        assert_eq!(r.upstream_header("x-auth-subject"), ["demo-opaque"]);
        jwts.insert(jwt);
    }
    assert_eq!(jwts.len(), 1);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one introspection call for {n} requests"
    );
    eprintln!(
        "phantom through NGINX: {n} requests, opaque in, JWT at the upstream (verified), 1 introspection call"
    );

    // a JWT passes through NGINX unchanged
    let jwt_in = idp
        .client_credentials_token("demo-reader", &["orders:read"], Some("orders"))
        .await
        .unwrap()
        .access_token;
    let r = send(
        gw.addr,
        "GET",
        "/orders",
        &[("Authorization", &format!("Bearer {jwt_in}"))],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.upstream_header("authorization"),
        [format!("Bearer {jwt_in}")]
    );
}
