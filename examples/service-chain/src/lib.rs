//! A call chain with a token exchanged at every hop (RFC 8693), against the dev IdP:
//!
//! ```text
//! user token (aud gateway)        exchanged (aud orders)            exchanged (aud inventory)
//! client ──────────────► gateway ───────────────────► orders ──────────────────────► inventory
//!           HTTP, axum       HTTP, hyper-util + AddAuthorizationLayer   gRPC, tonic Channel + AddAuthorizationLayer
//! ```
//!
//! - **gateway** (axum, audience `gateway`, `GET /checkout` needs `orders:read`) exchanges
//!   the user's token for one with audience `orders` and scopes
//!   `orders:read inventory:read`, naming itself as actor (its client-credentials
//!   token as `actor_token`), and calls orders.
//! - **orders** (axum, audience `orders`, `GET /stock` needs `orders:read`) exchanges the
//!   token it received for one with audience `inventory` and only `inventory:read`,
//!   naming itself as actor, and calls inventory's `GetItem`.
//! - **inventory** (tonic-inventory's service, audience `inventory`) additionally
//!   requires, by [`ActorPolicy`], that the call comes on someone's behalf through
//!   `orders-svc`.
//!
//! Each hop records (and [`Hop`]'s `Display` prints) who called on whose behalf: `sub`,
//! `client_id`, `aud`, scopes and the `act` chain. A token leaked at any hop is useless
//! upstream: its audience is the next hop only.
//!
//! # Example
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let idp = tollgate_testkit::DevIdp::builder().clients(service_chain::idp_clients()).start().await?;
//! let chain = service_chain::Chain::start(idp.issuer()).await?;
//! // accepted: a user token for the gateway goes all the way through
//! let user = service_chain::user_token(&idp, "alice").await?;
//! let (status, _) = chain.checkout(Some(&user)).await?;
//! assert_eq!(status, 200);
//! // rejected: inventory's token replayed at the gateway (wrong audience)
//! let inventory_token = chain.hops.take().pop().unwrap().token;
//! let (status, _) = chain.checkout(Some(inventory_token.secret())).await?;
//! assert_eq!(status, 401);
//! # Ok(()) }
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tollgate_axum::scopes::all;
use tollgate_axum::{Claims, Tollgate, TollgateBuilder, VerifiedClaims};
use tollgate_client::{
    AccessToken, AddAuthorization, AddAuthorizationLayer, ClientAuth, ClientCredentials,
    ConfigError, Propagation, SubjectToken, TokenEndpoint, TokenExchange,
};
use tollgate_core::actor::ActorPolicy;
use tollgate_testkit::idp::{Client, DevIdp};
use tollgate_tonic::GrpcGate;
use tonic::server::NamedService;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tonic_inventory::InventoryService;
use tonic_inventory::pb::GetItemRequest;
use tonic_inventory::pb::inventory_client::InventoryClient;
use tonic_inventory::pb::inventory_server::InventoryServer;

/// Errors of the example (boxed).
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The dev IdP clients of the chain (add them to the built-in ones or use alone):
///
/// | client | secret | may ask for | may exchange for |
/// |---|---|---|---|
/// | `web` | `web-secret` | user tokens, audience `gateway`, `orders:read orders:write inventory:read` | — |
/// | `gateway` | `gateway-secret` | its own token (actor) | `orders` |
/// | `orders-svc` | `orders-svc-secret` | its own token (actor) | `inventory` |
#[must_use]
pub fn idp_clients() -> Vec<Client> {
    vec![
        Client::new("web", "web-secret")
            .scopes(["orders:read", "orders:write", "inventory:read"])
            .audiences(["gateway"]),
        Client::new("gateway", "gateway-secret")
            .audiences(["gateway"])
            .may_exchange_for(["orders"]),
        Client::new("orders-svc", "orders-svc-secret")
            .audiences(["orders"])
            .may_exchange_for(["inventory"]),
    ]
}

/// A token for `user` as if signed in at the `web` app: audience `gateway`, scopes
/// `orders:read orders:write inventory:read`.
///
/// # Errors
/// When the IdP lacks the [`idp_clients`].
pub async fn user_token(idp: &DevIdp, user: &str) -> Result<String, Error> {
    Ok(idp.user_token("web", user, &[], None).await?.access_token)
}

/// What one hop saw.
#[derive(Clone)]
#[non_exhaustive]
pub struct Hop {
    /// `gateway`, `orders` or `inventory`.
    pub service: &'static str,
    /// `sub`: on whose behalf.
    pub sub: String,
    /// `client_id`: who asked for the token.
    pub client_id: String,
    /// `aud`.
    pub aud: Vec<String>,
    /// Scopes.
    pub scopes: String,
    /// The `act` chain, current actor first.
    pub act: Vec<String>,
    /// The token received (for tests; never printed).
    pub token: AccessToken,
}

impl fmt::Debug for Hop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// One line: `orders     sub=alice  client_id=gateway  aud=orders  scope="…"  act=[gateway]`.
impl fmt::Display for Hop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<9}  sub={:<6} client_id={:<10} aud={:<9} act=[{}]  scope=\"{}\"",
            self.service,
            self.sub,
            self.client_id,
            self.aud.join(","),
            self.act.join(" <- "),
            self.scopes
        )
    }
}

/// The hops recorded so far (shared by the three services).
#[derive(Debug, Clone, Default)]
pub struct Hops(Arc<Mutex<Vec<Hop>>>, Arc<AtomicBool>);

impl Hops {
    fn record<X>(&self, service: &'static str, claims: &Claims<X>, headers: &http::HeaderMap) {
        let token = tollgate_core::bearer::extract_bearer(headers)
            .map(AccessToken::new)
            .unwrap_or_else(|_| AccessToken::new(""));
        let hop = Hop {
            service,
            sub: claims.sub.clone().unwrap_or_default(),
            client_id: claims.client_id.clone().unwrap_or_default(),
            aud: claims.aud.as_slice().to_vec(),
            scopes: claims.scopes.to_string(),
            act: claims
                .actor_chain()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            token,
        };
        if self.1.load(Ordering::Relaxed) {
            println!("  {hop}");
        }
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(hop);
    }

    /// Prints each hop as it is recorded (default: quiet).
    pub fn print(&self, on: bool) {
        self.1.store(on, Ordering::Relaxed);
    }

    /// Takes the hops recorded so far, in call order.
    #[must_use]
    pub fn take(&self) -> Vec<Hop> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

type Outgoing = AddAuthorization<HttpClient<HttpConnector, Full<Bytes>>>;

#[derive(Clone)]
struct GatewayState {
    orders: String,
    http: Outgoing,
    hops: Hops,
}

async fn checkout(
    State(s): State<GatewayState>,
    headers: HeaderMap,
    claims: VerifiedClaims,
) -> Result<Json<Value>, (StatusCode, String)> {
    s.hops.record("gateway", &claims, &headers);
    let subject = SubjectToken::from_verified_headers(&headers, &claims)
        .ok_or((StatusCode::INTERNAL_SERVER_ERROR, "no bearer token".into()))?;
    let mut req = http::Request::get(format!("{}/stock", s.orders))
        .body(Full::new(Bytes::new()))
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    req.extensions_mut().insert(subject);
    let bad_gateway =
        |e: tollgate_client::layer::BoxError| (StatusCode::BAD_GATEWAY, e.to_string());
    let res = tower::ServiceExt::oneshot(s.http, req)
        .await
        .map_err(bad_gateway)?;
    let status = res.status();
    let body = res
        .into_body()
        .collect()
        .await
        .map_err(|e| (StatusCode::BAD_GATEWAY, e.to_string()))?
        .to_bytes();
    if !status.is_success() {
        return Err((StatusCode::BAD_GATEWAY, format!("orders answered {status}")));
    }
    let orders: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Ok(Json(json!({"user": claims.sub, "orders": orders})))
}

#[derive(Clone)]
struct OrdersState {
    inventory: InventoryClient<AddAuthorization<Channel>>,
    hops: Hops,
}

async fn stock(
    State(s): State<OrdersState>,
    headers: HeaderMap,
    claims: VerifiedClaims,
) -> Result<Json<Value>, (StatusCode, String)> {
    s.hops.record("orders", &claims, &headers);
    let subject = SubjectToken::from_verified_headers(&headers, &claims)
        .ok_or((StatusCode::INTERNAL_SERVER_ERROR, "no bearer token".into()))?;
    let mut req = tonic::Request::new(GetItemRequest {
        id: "widget".into(),
    });
    req.extensions_mut().insert(subject);
    let mut client = s.inventory.clone();
    let item = client
        .get_item(req)
        .await
        .map_err(|st| {
            (
                StatusCode::BAD_GATEWAY,
                format!("inventory: {}", st.message()),
            )
        })?
        .into_inner();
    Ok(Json(
        json!({"item": item.id, "stock": item.stock, "for": claims.sub}),
    ))
}

/// Records the inventory hop (inside the auth layer, so the claims are there) and keeps
/// the service's gRPC name.
#[derive(Clone)]
struct RecordHop<S> {
    inner: S,
    hops: Hops,
}

impl<S: NamedService> NamedService for RecordHop<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> tower_service::Service<http::Request<B>> for RecordHop<S>
where
    S: tower_service::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> S::Future {
        if let Some(claims) = req.extensions().get::<Arc<Claims>>() {
            self.hops.record("inventory", claims, req.headers());
        }
        self.inner.call(req)
    }
}

/// The three running services.
#[derive(Debug)]
#[non_exhaustive]
pub struct Chain {
    /// `http://127.0.0.1:PORT` of the gateway.
    pub gateway: String,
    /// `http://127.0.0.1:PORT` of orders.
    pub orders: String,
    /// The inventory gRPC address.
    pub inventory: SocketAddr,
    /// What each hop saw.
    pub hops: Hops,
    http: HttpClient<HttpConnector, Full<Bytes>>,
}

fn cc(endpoint: &TokenEndpoint, id: &str, secret: &str) -> Result<ClientCredentials, ConfigError> {
    ClientCredentials::builder(
        endpoint
            .clone()
            .client_auth(ClientAuth::client_secret_basic(id, secret)),
    )
    .build()
}

fn gate(issuer: &str, audience: &str) -> TollgateBuilder {
    Tollgate::builder()
        .issuer(issuer)
        .audience(audience)
        .realm(audience)
        .discover()
}

async fn serve(app: Router) -> Result<String, Error> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

impl Chain {
    /// Starts inventory, orders and gateway on free loopback ports against the IdP at
    /// `issuer`, which must know the [`idp_clients`].
    ///
    /// # Errors
    /// Discovery or binding failures.
    pub async fn start(issuer: &str) -> Result<Chain, Error> {
        let hops = Hops::default();
        let endpoint = TokenEndpoint::discover(issuer).await?;

        // inventory: tonic-inventory's service; only calls on behalf of someone via orders-svc
        let inventory_gate = gate(issuer, "inventory")
            .actor_policy(
                ActorPolicy::new()
                    .require_actor()
                    .current_actor_one_of(["orders-svc"]),
            )
            .build()
            .await?;
        let service = inventory_gate
            .grpc_layer(tonic_inventory::scopes()?)
            .named(RecordHop {
                inner: InventoryServer::new(InventoryService::new()),
                hops: hops.clone(),
            });
        let incoming = TcpIncoming::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let inventory = incoming.local_addr()?;
        tokio::spawn(
            Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming),
        );

        // orders: exchange for audience inventory, inventory:read only, actor orders-svc
        let to_inventory = TokenExchange::builder(endpoint.clone().client_auth(
            ClientAuth::client_secret_basic("orders-svc", "orders-svc-secret"),
        ))
        .audience("inventory")
        .scope("inventory:read")
        .actor(cc(&endpoint, "orders-svc", "orders-svc-secret")?)
        .build()?;
        let channel = AddAuthorizationLayer::new(Propagation::exchange(to_inventory));
        let channel = tower::Layer::layer(
            &channel,
            Channel::from_shared(format!("http://{inventory}"))?.connect_lazy(),
        );
        let orders_gate = gate(issuer, "orders").build().await?;
        let orders_app = Router::new()
            .route(
                "/stock",
                get(stock).route_layer(orders_gate.require(all(["orders:read"]))),
            )
            .route_layer(orders_gate.layer())
            .with_state(OrdersState {
                inventory: InventoryClient::new(channel),
                hops: hops.clone(),
            });
        let orders = serve(orders_app).await?;

        // gateway: exchange for audience orders, actor gateway
        let to_orders = TokenExchange::builder(
            endpoint
                .clone()
                .client_auth(ClientAuth::client_secret_basic("gateway", "gateway-secret")),
        )
        .audience("orders")
        .scope("orders:read")
        .scope("inventory:read")
        .actor(cc(&endpoint, "gateway", "gateway-secret")?)
        .build()?;
        let http = HttpClient::builder(TokioExecutor::new()).build_http();
        let outgoing = tower::Layer::layer(
            &AddAuthorizationLayer::new(Propagation::exchange(to_orders)),
            http.clone(),
        );
        let gateway_gate = gate(issuer, "gateway").build().await?;
        let gateway_app = Router::new()
            .route(
                "/checkout",
                get(checkout).route_layer(gateway_gate.require(all(["orders:read"]))),
            )
            .route_layer(gateway_gate.layer())
            .with_state(GatewayState {
                orders: orders.clone(),
                http: outgoing,
                hops: hops.clone(),
            });
        let gateway = serve(gateway_app).await?;

        Ok(Chain {
            gateway,
            orders,
            inventory,
            hops,
            http,
        })
    }

    /// `GET {gateway}/checkout` with `token` → status and JSON body.
    ///
    /// # Errors
    /// Transport failures.
    pub async fn checkout(&self, token: Option<&str>) -> Result<(u16, Value), Error> {
        self.get(&format!("{}/checkout", self.gateway), token).await
    }

    /// `GET {orders}/stock` with `token` (to call orders directly).
    ///
    /// # Errors
    /// Transport failures.
    pub async fn orders_stock(&self, token: Option<&str>) -> Result<(u16, Value), Error> {
        self.get(&format!("{}/stock", self.orders), token).await
    }

    async fn get(&self, url: &str, token: Option<&str>) -> Result<(u16, Value), Error> {
        let mut req = http::Request::get(url);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let res = self
            .http
            .request(req.body(Full::new(Bytes::new()))?)
            .await?;
        let status = res.status().as_u16();
        let body = res.into_body().collect().await?.to_bytes();
        Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
    }

    /// Calls inventory's `GetItem` directly with `token`: the gRPC code's name
    /// (`OK`, `UNAUTHENTICATED`, ...).
    ///
    /// # Errors
    /// Connection failures.
    pub async fn inventory_get_item(&self, token: &str) -> Result<tonic::Code, Error> {
        let channel = Channel::from_shared(format!("http://{}", self.inventory))?
            .connect()
            .await?;
        let mut req = tonic::Request::new(GetItemRequest {
            id: "widget".into(),
        });
        req.metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
        Ok(match InventoryClient::new(channel).get_item(req).await {
            Ok(_) => tonic::Code::Ok,
            Err(s) => s.code(),
        })
    }
}
