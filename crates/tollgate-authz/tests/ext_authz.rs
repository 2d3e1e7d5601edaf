//! Envoy ext_authz v3 `Check` over gRPC, driven by a tonic client generated from the
//! same vendored protos, against the `tollgate-authz` binary (gRPC and `/authz` share
//! one port): the gateway test cases as `CheckResponse`s. No Envoy binary is
//! installable here, so Envoy itself is not exercised.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;

use support::Authz;
use tollgate_authz::ext_authz::proto::envoy::config::core::v3::HeaderValueOption;
use tollgate_authz::ext_authz::proto::envoy::service::auth::v3::attribute_context::{
    HttpRequest, Request,
};
use tollgate_authz::ext_authz::proto::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use tollgate_authz::ext_authz::proto::envoy::service::auth::v3::check_response::HttpResponse;
use tollgate_authz::ext_authz::proto::envoy::service::auth::v3::{
    AttributeContext, CheckRequest, CheckResponse, DeniedHttpResponse, OkHttpResponse,
};
use tollgate_testkit::DevIdp;
use tonic::transport::Channel;

const OK: i32 = 0;
const PERMISSION_DENIED: i32 = 7;
const INTERNAL: i32 = 13;
const UNAVAILABLE: i32 = 14;
const UNAUTHENTICATED: i32 = 16;
const OVERWRITE_IF_EXISTS_OR_ADD: i32 = 2;

fn check(method: &str, path: &str, headers: &[(&str, &str)]) -> CheckRequest {
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request {
                http: Some(HttpRequest {
                    method: method.into(),
                    path: path.into(),
                    headers: headers
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect::<HashMap<_, _>>(),
                    host: "api.example".into(),
                    scheme: "https".into(),
                    protocol: "HTTP/2".into(),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        }),
    }
}

async fn client(addr: std::net::SocketAddr) -> AuthorizationClient<Channel> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    AuthorizationClient::new(channel)
}

async fn ask(c: &mut AuthorizationClient<Channel>, req: CheckRequest) -> CheckResponse {
    c.check(req).await.unwrap().into_inner()
}

fn ok(r: &CheckResponse) -> &OkHttpResponse {
    assert_eq!(r.status.as_ref().unwrap().code, OK, "{r:?}");
    match &r.http_response {
        Some(HttpResponse::OkResponse(o)) => o,
        other => panic!("not an OK response: {other:?}"),
    }
}

fn denied(r: &CheckResponse, grpc: i32, http: i32) -> &DeniedHttpResponse {
    assert_eq!(r.status.as_ref().unwrap().code, grpc, "{r:?}");
    match &r.http_response {
        Some(HttpResponse::DeniedResponse(d)) => {
            assert_eq!(d.status.as_ref().unwrap().code, http, "{r:?}");
            d
        }
        other => panic!("not a denied response: {other:?}"),
    }
}

fn header<'a>(hs: &'a [HeaderValueOption], name: &str) -> Option<&'a str> {
    hs.iter()
        .filter_map(|h| h.header.as_ref())
        .find(|h| h.key == name)
        .map(|h| h.value.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_answers_the_gateway_cases() {
    let idp = DevIdp::builder().start().await.unwrap();
    let authz = Authz::for_idp(&idp).await;
    let down = Authz::idp_down(idp.issuer()).await;
    let mut c = client(authz.addr).await;
    let reader = idp
        .client_credentials_token("demo-reader", &["orders:read"], Some("orders"))
        .await
        .unwrap()
        .access_token;
    let bearer = format!("Bearer {reader}");
    let auth = ("authorization", bearer.as_str());

    // no token → UNAUTHENTICATED, 401 with the bare challenge
    let r = ask(&mut c, check("GET", "/orders", &[])).await;
    let d = denied(&r, UNAUTHENTICATED, 401);
    assert_eq!(
        header(&d.headers, "www-authenticate"),
        Some(r#"Bearer realm="orders""#)
    );
    eprintln!("ext_authz: no token, GET /orders → grpc {UNAUTHENTICATED}, http 401");

    // a valid read token on GET /orders → OK with the identity headers, overwriting
    let r = ask(
        &mut c,
        check(
            "GET",
            "/orders?page=2",
            &[auth, ("x-auth-subject", "admin")],
        ),
    )
    .await;
    let o = ok(&r);
    assert_eq!(header(&o.headers, "x-auth-subject"), Some("demo-reader"));
    assert_eq!(header(&o.headers, "x-auth-client-id"), Some("demo-reader"));
    assert_eq!(header(&o.headers, "x-auth-scopes"), Some("orders:read"));
    assert_eq!(header(&o.headers, "x-auth-issuer"), Some(idp.issuer()));
    assert!(
        o.headers
            .iter()
            .all(|h| h.append_action == OVERWRITE_IF_EXISTS_OR_ADD)
    );
    assert!(o.headers_to_remove.is_empty(), "{:?}", o.headers_to_remove);
    eprintln!(
        "ext_authz: read token (+ spoofed x-auth-subject), GET /orders → grpc OK, x-auth-subject overwritten"
    );

    // the same token on POST /orders → PERMISSION_DENIED, 403 insufficient_scope
    let r = ask(&mut c, check("POST", "/orders", &[auth])).await;
    let d = denied(&r, PERMISSION_DENIED, 403);
    assert_eq!(
        header(&d.headers, "www-authenticate"),
        Some(
            r#"Bearer realm="orders", error="insufficient_scope", error_description="The access token lacks the required scope", scope="orders:write""#
        )
    );
    eprintln!("ext_authz: read token, POST /orders → grpc {PERMISSION_DENIED}, http 403");

    // unmatched → PERMISSION_DENIED, 403, no challenge
    for (m, p) in [
        ("GET", "/admin"),
        ("DELETE", "/orders"),
        ("GET", "/health/../orders"),
    ] {
        let r = ask(&mut c, check(m, p, &[auth])).await;
        let d = denied(&r, PERMISSION_DENIED, 403);
        assert!(d.headers.is_empty());
        eprintln!("ext_authz: read token, {m} {p} → grpc {PERMISSION_DENIED}, http 403");
    }

    // /health is public; a spoofed identity is removed
    let r = ask(
        &mut c,
        check("GET", "/health", &[("x-auth-subject", "admin")]),
    )
    .await;
    let o = ok(&r);
    assert!(o.headers.is_empty());
    let mut removed = o.headers_to_remove.clone();
    removed.sort();
    assert_eq!(
        removed,
        [
            "x-auth-client-id",
            "x-auth-issuer",
            "x-auth-scopes",
            "x-auth-subject"
        ]
    );
    eprintln!(
        "ext_authz: no token (+ spoofed x-auth-subject), GET /health → grpc OK, identity headers removed"
    );

    // invalid token → UNAUTHENTICATED, 401 invalid_token
    let r = ask(
        &mut c,
        check("GET", "/orders", &[("authorization", "Bearer abc.def.ghi")]),
    )
    .await;
    let d = denied(&r, UNAUTHENTICATED, 401);
    assert!(
        header(&d.headers, "www-authenticate")
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
    // two tokens as Envoy merges them ("a,b") → 400 invalid_request
    let r = ask(
        &mut c,
        check(
            "GET",
            "/orders",
            &[("authorization", &format!("{bearer},Bearer x"))],
        ),
    )
    .await;
    let d = denied(&r, UNAUTHENTICATED, 400);
    assert!(
        header(&d.headers, "www-authenticate")
            .unwrap()
            .contains("error=\"invalid_request\"")
    );

    // no HTTP attributes at all → INTERNAL, 500
    let r = ask(&mut c, CheckRequest { attributes: None }).await;
    denied(&r, INTERNAL, 500);

    // IdP keys unreachable from the start → UNAVAILABLE, 503 with Retry-After
    let mut c = client(down.addr).await;
    let r = ask(&mut c, check("GET", "/orders", &[auth])).await;
    let d = denied(&r, UNAVAILABLE, 503);
    assert!(header(&d.headers, "retry-after").is_some_and(|v| v.parse::<u32>().is_ok()));
    assert_eq!(header(&d.headers, "www-authenticate"), None);
    eprintln!("ext_authz: IdP unreachable since start, GET /orders → grpc {UNAVAILABLE}, http 503");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_token_false_removes_authorization() {
    let idp = DevIdp::builder().start().await.unwrap();
    // [authz] before the first [[route]] table
    let text = support::config(idp.issuer(), &idp.jwks_uri()).replacen(
        "\n[[route]]",
        "\n[authz]\nforward_token = false\n[authz.headers]\nsubject = \"X-User\"\nissuer = \"\"\n\n[[route]]",
        1,
    );
    let config = tollgate_authz::AuthzConfig::from_toml(&text).unwrap();
    let gate = config.gate.builder::<()>().build().await.unwrap();
    let authz = tollgate_authz::ExtAuthz::new(config.checkpoint(&gate).unwrap());
    let token = idp
        .client_credentials_token("demo-reader", &[], Some("orders"))
        .await
        .unwrap()
        .access_token;
    let bearer = format!("Bearer {token}");
    let r = authz
        .decide(&check("GET", "/orders", &[("authorization", &bearer)]))
        .await;
    let o = ok(&r);
    assert_eq!(header(&o.headers, "x-user"), Some("demo-reader"));
    assert_eq!(header(&o.headers, "x-auth-issuer"), None);
    assert_eq!(o.headers_to_remove, ["authorization"]);
}
