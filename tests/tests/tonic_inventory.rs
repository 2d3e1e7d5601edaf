//! The real tonic-inventory routes on 127.0.0.1:0, keys from a JWKS served over HTTP
//! (the same `Config` path as the binary), driven by a real tonic client: every status
//! case, every streaming kind, the per-method map with its fail-closed default, claims
//! in the handler; once behind `GrpcAuthLayer` and once behind `GrpcInterceptor`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio_stream::StreamExt;
use tollgate_core::authenticate::Authenticate;
use tollgate_core::remote::{IssuerConfig, Issuers, RefreshConfig};
use tollgate_core::scope::{Scope, ScopePolicy};
use tollgate_core::{KeySet, Validation, authenticate::StaticKeys};
use tollgate_testkit::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, JwksServer, TestKey, serve_jwks};
use tollgate_tonic::{
    GrpcAuthLayer, GrpcRejector, MethodScopes, RETRY_PUSHBACK, Tollgate, WWW_AUTHENTICATE,
};
use tollgate_tower::BearerRejector;
use tonic::server::NamedService;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tonic::{Code, Request, Status};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
use tonic_inventory::pb::inventory_client::InventoryClient;
use tonic_inventory::pb::inventory_server::InventoryServer;
use tonic_inventory::pb::{GetItemRequest, ReserveItemRequest, WatchStockRequest, WhoAmIRequest};
use tonic_inventory::{Config, Guard, InventoryService, methods, routes};

const GUARDS: [Guard; 2] = [Guard::Layer, Guard::Interceptor];

struct App {
    key: TestKey,
    channel: Channel,
    _jwks: JwksServer,
}

async fn serve(routes: tonic::service::Routes) -> Channel {
    let incoming = TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = incoming.local_addr().unwrap();
    tokio::spawn(
        Server::builder()
            .add_routes(routes)
            .serve_with_incoming(incoming),
    );
    connect(addr).await
}

async fn connect(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// The example as the binary builds it: env config, remote JWKS, `routes(..)`.
async fn start(guard: Guard) -> App {
    let key = TestKey::rsa("inventory-key-1");
    let (jwks_url, jwks) = serve_jwks(TestKey::jwks([&key])).await;
    let env: HashMap<&str, String> = [
        ("TOLLGATE_ISSUER", DEFAULT_ISSUER.to_owned()),
        ("TOLLGATE_AUDIENCE", DEFAULT_AUDIENCE.to_owned()),
        ("TOLLGATE_JWKS_URI", jwks_url),
        ("TOLLGATE_ALGORITHMS", "RS256".to_owned()),
    ]
    .into_iter()
    .collect();
    let config = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
    let gate = config.tollgate().build().await.unwrap();
    let channel = serve(routes(&gate, guard).await.unwrap()).await;
    App {
        key,
        channel,
        _jwks: jwks,
    }
}

fn with_auth<T>(msg: T, value: &str) -> Request<T> {
    let mut req = Request::new(msg);
    req.metadata_mut()
        .insert("authorization", value.parse().unwrap());
    req
}

fn bearer<T>(msg: T, token: &str) -> Request<T> {
    with_auth(msg, &format!("Bearer {token}"))
}

fn item(id: &str) -> GetItemRequest {
    GetItemRequest { id: id.into() }
}

fn reserve(id: &str, quantity: u32) -> ReserveItemRequest {
    ReserveItemRequest {
        id: id.into(),
        quantity,
    }
}

fn watch(id: &str) -> WatchStockRequest {
    WatchStockRequest { id: id.into() }
}

#[track_caller]
fn assert_status(r: Result<impl std::fmt::Debug, Status>, code: Code, message: &str) -> Status {
    let s = r.expect_err("expected a refusal");
    assert_eq!(s.code(), code, "{s:?}");
    assert_eq!(s.message(), message, "{s:?}");
    s
}

const REQUIRED: &str = "An access token is required";
const INVALID: &str = "The access token is invalid";
const EXPIRED: &str = "The access token expired";
const MALFORMED: &str = "Malformed Authorization header";
const TWICE: &str = "More than one Authorization header";
const SCOPE: &str = "The access token lacks the required scope";
const UNAVAILABLE: &str = "The authorization server is unavailable";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_codes_for_each_case() {
    for guard in GUARDS {
        let app = start(guard).await;
        let mut c = InventoryClient::new(app.channel.clone());
        let reader = app
            .key
            .token()
            .subject("alice")
            .scope("inventory:read")
            .sign();

        // accepted
        let got = c.get_item(bearer(item("widget"), &reader)).await.unwrap();
        assert_eq!(got.get_ref().stock, 10, "{guard:?}");

        // missing → UNAUTHENTICATED
        assert_status(
            c.get_item(item("widget")).await,
            Code::Unauthenticated,
            REQUIRED,
        );
        // another scheme counts as missing
        assert_status(
            c.get_item(with_auth(item("widget"), "Basic dXNlcjpwYXNz"))
                .await,
            Code::Unauthenticated,
            REQUIRED,
        );
        // malformed → UNAUTHENTICATED
        for bad in ["Bearer", "Bearer a,b", "Bearer a b"] {
            assert_status(
                c.get_item(with_auth(item("widget"), bad)).await,
                Code::Unauthenticated,
                MALFORMED,
            );
        }
        // two authorization entries → UNAUTHENTICATED
        let mut req = bearer(item("widget"), &reader);
        req.metadata_mut()
            .append("authorization", format!("Bearer {reader}").parse().unwrap());
        assert_status(c.get_item(req).await, Code::Unauthenticated, TWICE);
        // invalid → UNAUTHENTICATED, with a fixed phrase
        let forged = TestKey::rsa("inventory-key-1")
            .token()
            .scope("inventory:read")
            .sign();
        assert_status(
            c.get_item(bearer(item("widget"), &forged)).await,
            Code::Unauthenticated,
            INVALID,
        );
        let expired = app.key.token().scope("inventory:read").expired();
        assert_status(
            c.get_item(bearer(item("widget"), &expired)).await,
            Code::Unauthenticated,
            EXPIRED,
        );
        let other_aud = app
            .key
            .token()
            .audience("someone-else")
            .scope("inventory:read")
            .sign();
        let s = c.get_item(bearer(item("widget"), &other_aud)).await;
        assert_eq!(s.unwrap_err().code(), Code::Unauthenticated);
        // scope not met → PERMISSION_DENIED
        assert_status(
            c.reserve_item(bearer(reserve("widget", 1), &reader)).await,
            Code::PermissionDenied,
            SCOPE,
        );
        // ...and nothing was reserved
        let got = c.get_item(bearer(item("widget"), &reader)).await.unwrap();
        assert_eq!(got.get_ref().stock, 10, "{guard:?}");
        let writer = app
            .key
            .token()
            .subject("bob")
            .scope("inventory:write")
            .sign();
        let r = c
            .reserve_item(bearer(reserve("widget", 4), &writer))
            .await
            .unwrap();
        assert_eq!(r.get_ref().reserved_by, "bob");
        assert_status(
            c.get_item(bearer(item("widget"), &writer)).await,
            Code::PermissionDenied,
            SCOPE,
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_reach_the_handler() {
    for guard in GUARDS {
        let app = start(guard).await;
        let mut c = InventoryClient::new(app.channel.clone());
        let token = app
            .key
            .token()
            .subject("carol")
            .client_id("cli")
            .scope("profile")
            .sign();
        let me = c.who_am_i(bearer(WhoAmIRequest {}, &token)).await.unwrap();
        let me = me.into_inner();
        assert_eq!((me.sub.as_str(), me.client_id.as_str()), ("carol", "cli"));
        assert_eq!(me.scopes, ["profile"], "{guard:?}");
        assert_status(
            c.who_am_i(WhoAmIRequest {}).await,
            Code::Unauthenticated,
            REQUIRED,
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_calls_are_checked_at_start() {
    for guard in GUARDS {
        let app = start(guard).await;
        let mut c = InventoryClient::new(app.channel.clone());
        let reader = app.key.token().scope("inventory:read").sign();
        let writer = app
            .key
            .token()
            .subject("dave")
            .scope("inventory:write")
            .sign();

        // server streaming
        let stream = c
            .watch_stock(bearer(watch("gadget"), &reader))
            .await
            .unwrap();
        let levels: Vec<_> = stream.into_inner().collect().await;
        assert_eq!(levels.len(), 3, "{guard:?}");
        assert!(levels.iter().all(|l| l.as_ref().unwrap().stock == 3));
        assert_status(
            c.watch_stock(watch("gadget")).await,
            Code::Unauthenticated,
            REQUIRED,
        );
        assert_status(
            c.watch_stock(bearer(watch("gadget"), &writer)).await,
            Code::PermissionDenied,
            SCOPE,
        );

        // client streaming
        let items = || tokio_stream::iter(vec![reserve("gadget", 1), reserve("widget", 2)]);
        let r = c.reserve_many(bearer(items(), &writer)).await.unwrap();
        assert_eq!(r.get_ref().quantity, 3);
        assert_eq!(r.get_ref().reserved_by, "dave");
        assert_status(
            c.reserve_many(items()).await,
            Code::Unauthenticated,
            REQUIRED,
        );
        assert_status(
            c.reserve_many(bearer(items(), &reader)).await,
            Code::PermissionDenied,
            SCOPE,
        );
        // the refused calls reserved nothing
        let got = c.get_item(bearer(item("gadget"), &reader)).await.unwrap();
        assert_eq!(got.get_ref().stock, 2, "{guard:?}");

        // bidirectional streaming
        let queries = || tokio_stream::iter(vec![watch("widget"), watch("gadget")]);
        let answers: Vec<_> = c
            .sync_stock(bearer(queries(), &reader))
            .await
            .unwrap()
            .into_inner()
            .collect()
            .await;
        let stocks: Vec<u32> = answers.into_iter().map(|a| a.unwrap().stock).collect();
        assert_eq!(stocks, [8, 2], "{guard:?}");
        assert_status(
            c.sync_stock(queries()).await,
            Code::Unauthenticated,
            REQUIRED,
        );
        assert_status(
            c.sync_stock(bearer(queries(), &writer)).await,
            Code::PermissionDenied,
            SCOPE,
        );
    }
}

/// A token valid when the call starts keeps its stream open after it expires: the
/// check happens once, at call start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_outlives_its_token() {
    for guard in GUARDS {
        let app = start(guard).await;
        let mut c = InventoryClient::new(app.channel.clone());
        // valid for about 2 s more: exp is 28 s ago, within the 30 s leeway
        let short = app
            .key
            .token()
            .scope("inventory:read")
            .issued_in(-60)
            .expires_in(-28)
            .sign();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let queries = tokio_stream::wrappers::ReceiverStream::new(rx);
        tx.send(watch("widget")).await.unwrap();
        let mut answers = c
            .sync_stock(bearer(queries, &short))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answers.next().await.unwrap().unwrap().stock, 10);
        tokio::time::sleep(Duration::from_millis(3100)).await;
        tx.send(watch("gadget")).await.unwrap();
        assert_eq!(answers.next().await.unwrap().unwrap().stock, 3, "{guard:?}");
        drop(tx);
        assert!(answers.next().await.is_none());
        // a new call with the same token is refused now
        assert_status(
            c.get_item(bearer(item("widget"), &short)).await,
            Code::Unauthenticated,
            EXPIRED,
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reflection_are_public() {
    for guard in GUARDS {
        let app = start(guard).await;
        let mut h = HealthClient::new(app.channel.clone());
        let r = h
            .check(HealthCheckRequest {
                service: InventoryServer::<InventoryService>::NAME.into(),
            })
            .await
            .unwrap();
        assert_eq!(r.get_ref().status(), ServingStatus::Serving, "{guard:?}");

        use tonic_reflection::pb::v1::ServerReflectionRequest;
        use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
        let mut r = ServerReflectionClient::new(app.channel.clone());
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut answers = r
            .server_reflection_info(tokio_stream::iter(vec![req]))
            .await
            .unwrap()
            .into_inner();
        let Some(MessageResponse::ListServicesResponse(list)) =
            answers.next().await.unwrap().unwrap().message_response
        else {
            panic!("expected a service list");
        };
        let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
        assert!(
            names.iter().any(|n| n == "inventory.v1.Inventory"),
            "{names:?}"
        );
        assert!(
            names.iter().any(|n| n == "grpc.health.v1.Health"),
            "{names:?}"
        );
    }
}

/// An authenticator whose IdP has never answered: the JWKS URL points at a closed port.
async fn unreachable_issuers() -> Issuers {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let validation = Validation::builder()
        .issuer(DEFAULT_ISSUER)
        .audience(DEFAULT_AUDIENCE)
        .build()
        .unwrap();
    let mut refresh = RefreshConfig::default();
    refresh.unknown_kid_wait = Duration::from_millis(200);
    Issuers::builder()
        .issuer(
            IssuerConfig::new(validation)
                .jwks_uri(format!("http://127.0.0.1:{port}/jwks"))
                .refresh(refresh),
        )
        .build_lazy()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_unavailable_is_unavailable() {
    let key = TestKey::rsa("k");
    let token = key.token().scope("inventory:read").sign();
    for guard in GUARDS {
        let channel = serve(
            routes(&Tollgate::new(unreachable_issuers().await), guard)
                .await
                .unwrap(),
        )
        .await;
        let mut c = InventoryClient::new(channel);
        for _ in 0..2 {
            let s = assert_status(
                c.get_item(bearer(item("widget"), &token)).await,
                Code::Unavailable,
                UNAVAILABLE,
            );
            let pushback = s.metadata().get(RETRY_PUSHBACK).expect("retry pushback");
            assert!(pushback.to_str().unwrap().parse::<u64>().unwrap() >= 1000);
        }
        // no token is still UNAUTHENTICATED: no key is needed to know that
        assert_status(
            c.get_item(item("widget")).await,
            Code::Unauthenticated,
            REQUIRED,
        );
    }
}

fn static_keys(key: &TestKey) -> StaticKeys {
    let validation = Validation::builder()
        .issuer(DEFAULT_ISSUER)
        .audience(DEFAULT_AUDIENCE)
        .build()
        .unwrap();
    StaticKeys::new(validation, KeySet::from_keys([key.public_key()]))
}

fn read_only_map() -> MethodScopes {
    MethodScopes::new().method(
        methods::GET_ITEM,
        ScopePolicy::all_of([Scope::from_static("inventory:read")]),
    )
}

/// `Server::builder().layer(..)`: every service (health included) is behind the
/// layer; methods missing from the map are refused (deny-all default) until a default
/// is set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_wide_layer_and_fail_closed_default() {
    let key = TestKey::ed25519("k1");
    let token = key.token().subject("erin").scope("inventory:read").sign();
    let start = |scopes: MethodScopes| {
        let layer = GrpcAuthLayer::new(static_keys(&key), scopes)
            .rejector(GrpcRejector::new().challenge(BearerRejector::new("inventory")));
        async move {
            let incoming = TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let addr = incoming.local_addr().unwrap();
            let (_reporter, health) = tonic_health::server::health_reporter();
            tokio::spawn(
                Server::builder()
                    .layer(layer)
                    .add_service(InventoryServer::new(InventoryService::new()))
                    .add_service(health)
                    .serve_with_incoming(incoming),
            );
            connect(addr).await
        }
    };

    let channel = start(read_only_map()).await;
    let mut c = InventoryClient::new(channel.clone());
    let mut h = HealthClient::new(channel);
    c.get_item(bearer(item("widget"), &token)).await.unwrap();
    // unlisted method, valid token → PERMISSION_DENIED (deny-all default)
    let s = assert_status(
        c.who_am_i(bearer(WhoAmIRequest {}, &token)).await,
        Code::PermissionDenied,
        SCOPE,
    );
    assert_eq!(
        s.metadata().get(WWW_AUTHENTICATE).unwrap(),
        r#"Bearer realm="inventory", error="insufficient_scope", error_description="The access token lacks the required scope""#
    );
    let s = assert_status(
        c.watch_stock(bearer(watch("widget"), &token)).await,
        Code::PermissionDenied,
        SCOPE,
    );
    drop(s);
    // the server-wide layer covers health too
    let s = assert_status(
        h.check(HealthCheckRequest::default()).await,
        Code::Unauthenticated,
        REQUIRED,
    );
    assert_eq!(
        s.metadata().get(WWW_AUTHENTICATE).unwrap(),
        r#"Bearer realm="inventory""#
    );
    assert_status(
        h.check(bearer(HealthCheckRequest::default(), &token)).await,
        Code::PermissionDenied,
        SCOPE,
    );
    // a scope failure names the missing scope in the challenge
    let other = key.token().scope("other").sign();
    let s = assert_status(
        c.get_item(bearer(item("widget"), &other)).await,
        Code::PermissionDenied,
        SCOPE,
    );
    assert!(
        s.metadata()
            .get(WWW_AUTHENTICATE)
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with(r#"scope="inventory:read""#)
    );

    // an explicit default opens unlisted methods to any valid token
    let channel = start(read_only_map().unlisted(ScopePolicy::authenticated())).await;
    let mut c = InventoryClient::new(channel.clone());
    let me = c.who_am_i(bearer(WhoAmIRequest {}, &token)).await.unwrap();
    assert_eq!(me.get_ref().sub, "erin");
    HealthClient::new(channel)
        .check(bearer(HealthCheckRequest::default(), &token))
        .await
        .unwrap();
}

/// The interceptor variant with the same map checked in the handlers: same default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interceptor_with_handler_map_fails_closed() {
    let key = TestKey::ed25519("k1");
    let token = key.token().scope("inventory:read").sign();
    let service = InventoryServer::with_interceptor(
        InventoryService::new().check_scopes_in_handlers(read_only_map()),
        tollgate_tonic::GrpcInterceptor::new(static_keys(&key), ScopePolicy::authenticated()),
    );
    let channel = serve(tonic::service::Routes::new(service)).await;
    let mut c = InventoryClient::new(channel);
    c.get_item(bearer(item("widget"), &token)).await.unwrap();
    assert_status(
        c.who_am_i(bearer(WhoAmIRequest {}, &token)).await,
        Code::PermissionDenied,
        SCOPE,
    );
    assert_status(
        c.reserve_many(bearer(
            tokio_stream::iter(vec![reserve("widget", 1)]),
            &token,
        ))
        .await,
        Code::PermissionDenied,
        SCOPE,
    );
}

#[test]
fn named_keeps_the_service_name() {
    fn name_of<S: NamedService>(_: &S) -> &'static str {
        S::NAME
    }
    let key = TestKey::ed25519("k1");
    let layer = GrpcAuthLayer::new(static_keys(&key), read_only_map());
    let wrapped = layer.named(InventoryServer::new(InventoryService::new()));
    assert_eq!(name_of(&wrapped), "inventory.v1.Inventory");
    // the authenticator type is not part of the name
    fn assert_auth<A: Authenticate<()>>(_: &A) {}
    assert_auth(&static_keys(&key));
}
