//! tollgate-authz behind real gateways: NGINX (`auth_request`) and Caddy
//! (`forward_auth`) from their Debian packages, started on loopback in front of an
//! upstream that echoes the request it received, with the `tollgate-authz` binary as
//! the checkpoint and the dev IdP issuing the tokens. The gateway configurations are
//! the README's (`tests/gateways/`).
//!
//! Skipped, loudly, when a gateway is not installed and `CI` is not set; `.ci/run`
//! installs both and sets `CI`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;
use std::path::Path;

use support::{Authz, Gateway, Reply, caddy, echo_upstream, gateway, nginx, send};
use tollgate_testkit::DevIdp;

const CHALLENGE: &str = r#"Bearer realm="orders""#;
const EXPIRED: &str =
    r#"Bearer realm="orders", error="invalid_token", error_description="The access token expired""#;
const MALFORMED: &str = r#"Bearer realm="orders", error="invalid_token", error_description="The access token is malformed""#;
const TWO: &str = r#"Bearer realm="orders", error="invalid_request", error_description="More than one Authorization header""#;
const BROKEN: &str = r#"Bearer realm="orders", error="invalid_request", error_description="Malformed Authorization header""#;
const SCOPE: &str = r#"Bearer realm="orders", error="insufficient_scope", error_description="The access token lacks the required scope", scope="orders:write""#;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Nginx,
    Caddy,
}

fn reached_upstream(r: &Reply) -> bool {
    serde_json::from_slice::<serde_json::Value>(&r.body)
        .map(|v| v.get("headers").is_some())
        .unwrap_or(false)
}

fn note(kind: Kind, case: &str, r: &Reply) {
    eprintln!(
        "{kind:?}: {case} → {} (upstream reached: {}, www-authenticate: {:?})",
        r.status,
        reached_upstream(r),
        r.all("www-authenticate")
    );
}

async fn scenario(kind: Kind, bin: &Path) {
    let idp = DevIdp::builder().start().await.unwrap();
    let authz = Authz::for_idp(&idp).await;
    let down = Authz::idp_down(idp.issuer()).await;
    let app = echo_upstream().await;
    let servers = [(app, authz.addr), (app, down.addr)];
    let gw: Gateway = match kind {
        Kind::Nginx => nginx(bin, &servers).await,
        Kind::Caddy => caddy(bin, &servers).await,
    };
    let main: SocketAddr = gw.at(gw.ports[0]);
    let broken: SocketAddr = gw.at(gw.ports[1]);
    let reader = idp
        .client_credentials_token("demo-reader", &["orders:read"], Some("orders"))
        .await
        .unwrap()
        .access_token;
    let bearer = format!("Bearer {reader}");
    let auth = ("Authorization", bearer.as_str());

    // no token → 401 with the bare challenge, passed through
    let r = send(main, "GET", "/orders", &[]).await;
    note(kind, "no token, GET /orders", &r);
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some(CHALLENGE));
    assert!(!reached_upstream(&r));

    // a valid read token on GET /orders → 200 at the upstream with the identity headers
    let r = send(main, "GET", "/orders?page=2", &[auth]).await;
    note(kind, "read token, GET /orders?page=2", &r);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["method"], "GET");
    assert_eq!(r.json()["uri"], "/orders?page=2");
    assert_eq!(r.upstream_header("x-auth-subject"), ["demo-reader"]);
    assert_eq!(r.upstream_header("x-auth-client-id"), ["demo-reader"]);
    assert_eq!(r.upstream_header("x-auth-scopes"), ["orders:read"]);
    assert_eq!(r.upstream_header("x-auth-issuer"), [idp.issuer()]);
    assert_eq!(r.upstream_header("authorization"), [bearer.as_str()]);

    // the same token on POST /orders → 403 insufficient_scope, challenge passed through
    let r = send(main, "POST", "/orders", &[auth]).await;
    note(kind, "read token, POST /orders", &r);
    assert_eq!(r.status, 403);
    assert_eq!(r.header("www-authenticate"), Some(SCOPE));
    assert!(!reached_upstream(&r));

    // unmatched path, unmatched method → 403 (never allowed by default), no challenge
    for (m, p) in [
        ("GET", "/admin"),
        ("DELETE", "/orders"),
        ("GET", "/orders-admin"),
    ] {
        let r = send(main, m, p, &[auth]).await;
        note(kind, &format!("read token, {m} {p} (no rule)"), &r);
        assert_eq!(r.status, 403, "{m} {p}");
        assert!(!reached_upstream(&r));
    }
    let r = send(main, "GET", "/admin", &[]).await;
    note(kind, "no token, GET /admin (no rule)", &r);
    assert_eq!(r.status, 403);

    // /health is public: no token needed, no identity headers upstream
    let r = send(main, "GET", "/health", &[]).await;
    note(kind, "no token, GET /health", &r);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["uri"], "/health");
    for h in [
        "x-auth-subject",
        "x-auth-client-id",
        "x-auth-scopes",
        "x-auth-issuer",
    ] {
        assert!(
            r.upstream_header(h).is_empty(),
            "{h}: {:?}",
            r.upstream_header(h)
        );
    }

    // a spoofed identity never reaches the upstream: replaced on protected routes...
    let r = send(
        main,
        "GET",
        "/orders",
        &[
            auth,
            ("X-Auth-Subject", "admin"),
            ("x-auth-scopes", "orders:write admin"),
            ("X-Auth-Issuer", "https://evil.example"),
        ],
    )
    .await;
    note(kind, "read token + spoofed X-Auth-*, GET /orders", &r);
    assert_eq!(r.status, 200);
    assert_eq!(r.upstream_header("x-auth-subject"), ["demo-reader"]);
    assert_eq!(r.upstream_header("x-auth-scopes"), ["orders:read"]);
    assert_eq!(r.upstream_header("x-auth-issuer"), [idp.issuer()]);
    // ...and removed on public ones
    let r = send(
        main,
        "GET",
        "/health",
        &[("X-Auth-Subject", "admin"), ("X-Auth-Client-Id", "root")],
    )
    .await;
    note(kind, "no token + spoofed X-Auth-*, GET /health", &r);
    assert_eq!(r.status, 200);
    assert!(r.upstream_header("x-auth-subject").is_empty());
    assert!(r.upstream_header("x-auth-client-id").is_empty());

    // a client cannot name another original request (either convention)
    let r = send(
        main,
        "GET",
        "/orders",
        &[
            ("X-Original-URI", "/health"),
            ("X-Original-Method", "GET"),
            ("X-Forwarded-Uri", "/health"),
            ("X-Forwarded-Method", "GET"),
        ],
    )
    .await;
    note(
        kind,
        "no token + spoofed X-Original-*/X-Forwarded-* = /health, GET /orders",
        &r,
    );
    assert_eq!(r.status, 401);
    assert!(!reached_upstream(&r));

    // a path the upstream could read as /orders does not pass as /health
    let r = send(main, "GET", "/health/../orders", &[]).await;
    note(kind, "no token, GET /health/../orders", &r);
    assert!(!reached_upstream(&r) || r.json()["uri"] == "/health/../orders");
    assert_ne!(r.status, 200, "traversal allowed through {kind:?}");

    // an invalid token → 401 invalid_token
    let r = send(
        main,
        "GET",
        "/orders",
        &[("Authorization", "Bearer abc.def.ghi")],
    )
    .await;
    note(kind, "malformed token, GET /orders", &r);
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some(MALFORMED));

    // a broken Authorization header → 400 invalid_request (NGINX: through its
    // error_page map, as the subrequest's 400 reaches NGINX as 500)
    let r = send(main, "GET", "/orders", &[("Authorization", "Bearer a b")]).await;
    note(kind, "broken Authorization header, GET /orders", &r);
    assert_eq!(r.status, 400);
    assert_eq!(r.header("www-authenticate"), Some(BROKEN));
    assert!(!reached_upstream(&r));

    // two Authorization headers → 400: tollgate's invalid_request through Caddy; NGINX
    // refuses a repeated Authorization itself ("client sent duplicate header line")
    let r = send(
        main,
        "GET",
        "/orders",
        &[auth, ("Authorization", "Bearer x")],
    )
    .await;
    note(kind, "two Authorization headers, GET /orders", &r);
    assert_eq!(r.status, 400);
    if kind == Kind::Caddy {
        assert_eq!(r.header("www-authenticate"), Some(TWO));
    }
    assert!(!reached_upstream(&r));

    // an expired token → 401 invalid_token
    let expired = idp.token_builder("demo-reader").expired();
    let r = send(
        main,
        "GET",
        "/orders",
        &[("Authorization", &format!("Bearer {expired}"))],
    )
    .await;
    note(kind, "expired token, GET /orders", &r);
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some(EXPIRED));

    // IdP keys unreachable from the start → 503 with Retry-After, no challenge
    let r = send(broken, "GET", "/orders", &[auth]).await;
    note(kind, "IdP unreachable since start, GET /orders", &r);
    assert_eq!(r.status, 503);
    assert!(
        r.header("retry-after")
            .is_some_and(|v| v.parse::<u32>().is_ok()),
        "{r:?}"
    );
    assert_eq!(r.header("www-authenticate"), None);
    assert!(!reached_upstream(&r));
    // public routes still work while the IdP is down
    let r = send(broken, "GET", "/health", &[]).await;
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_nginx() {
    let Some(bin) = gateway("nginx") else { return };
    scenario(Kind::Nginx, &bin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_caddy() {
    let Some(bin) = gateway("caddy") else { return };
    scenario(Kind::Caddy, &bin).await;
}
