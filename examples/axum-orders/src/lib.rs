//! The orders service: routes and configuration, shared by the binary and the tests.
//!
//! | route | needs |
//! |---|---|
//! | `GET /health` | nothing (public) |
//! | `GET /me` | any valid token → `{"sub", "client_id", "scopes"}` |
//! | `GET /orders` | `orders:read` |
//! | `POST /orders` | `orders:write` → 201 |
//! | `GET /.well-known/oauth-protected-resource[/<path>]` | nothing: the RFC 9728 metadata, when `TOLLGATE_RESOURCE` is set |
//! | anything else | 404 |
//!
//! With `TOLLGATE_RESOURCE` (e.g. `https://orders.example.com`) the service is an RFC
//! 9728 protected resource: the audience defaults to that URL, every 401/403 names
//! the metadata URL (`resource_metadata`), and a 401 on `/orders` names the route's
//! scope.
//!
//! With `TOLLGATE_DPOP=allowed` (or `required`) the service accepts DPoP-bound tokens
//! (RFC 9449): `Authorization: DPoP <token>` plus a `DPoP` proof whose `htu` is
//! `TOLLGATE_PUBLIC_URL` (default `http://<BIND>`, the address it listens on) followed
//! by the path; `TOLLGATE_DPOP_NONCE=required` adds server nonces
//! (`TOLLGATE_DPOP_NONCE_SECRET`: a shared secret of at least 32 bytes, random when
//! unset). See `tollgate_tower::config`.

use axum::http::{Method, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tollgate_axum::core::introspect::IntrospectorBuilder;
use tollgate_axum::scopes::all;
use tollgate_axum::{BuildError, GateConfig, PeerAddr, Tollgate, TollgateBuilder, VerifiedClaims};

/// The router, protected by `gate`.
pub fn router(gate: &Tollgate) -> Router {
    let read = gate.require_route(&Method::GET, "/orders", all(["orders:read"]));
    let write = gate.require_route(&Method::POST, "/orders", all(["orders:write"]));
    let protected = Router::new()
        .route("/me", get(me))
        .route(
            "/orders",
            get(list_orders)
                .route_layer(read)
                .merge(axum::routing::post(create_order).route_layer(write)),
        )
        // route_layer: only matched routes are authenticated, so unknown paths are 404
        .route_layer(gate.layer());
    let mut public = Router::new().route("/health", get(|| async { "ok" }));
    if let Some(resource) = gate.protected_resource() {
        public = public.route_service(
            resource.well_known_path(),
            gate.metadata_service::<String>(),
        );
    }
    public
        .merge(protected)
        .layer(axum::middleware::map_request(peer_addr))
}

/// Hands the peer address (recorded when served with
/// `into_make_service_with_connect_info::<SocketAddr>()`) to tollgate's audit events.
async fn peer_addr(mut req: axum::extract::Request) -> axum::extract::Request {
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| PeerAddr(c.0));
    if let Some(peer) = peer {
        req.extensions_mut().insert(peer);
    }
    req
}

async fn me(claims: VerifiedClaims) -> Json<Value> {
    Json(json!({
        "sub": claims.sub,
        "client_id": claims.client(),
        "scopes": claims.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
    }))
}

async fn list_orders(claims: VerifiedClaims) -> Json<Value> {
    Json(json!({
        "orders": [{"id": 1, "item": "widget", "qty": 2}],
        "for": claims.sub,
    }))
}

async fn create_order(
    claims: VerifiedClaims,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    (
        StatusCode::CREATED,
        Json(json!({"id": 2, "order": body, "by": claims.sub})),
    )
}

/// The service's configuration: the gate's settings ([`GateConfig`]: the TOML file
/// named by `TOLLGATE_CONFIG`, or the `TOLLGATE_*` variables; shared with
/// tonic-inventory) plus `BIND`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// The gate's settings.
    pub gate: GateConfig,
    /// `BIND` (default `127.0.0.1:8080`).
    pub bind: String,
}

impl Config {
    /// Reads the configuration through `get` (e.g. `|k| std::env::var(k).ok()`).
    ///
    /// # Errors
    ///
    /// A missing or bad variable, named in the message.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, BuildError> {
        Ok(Config {
            gate: GateConfig::from_lookup(&get)?,
            bind: get("BIND").unwrap_or_else(|| "127.0.0.1:8080".to_owned()),
        })
    }

    /// Makes `http://<addr>` (the address the service listens on) the public URL DPoP
    /// proofs name in `htu`, unless `TOLLGATE_PUBLIC_URL` (or the file's `public_url`)
    /// names one. Call it once bound, before [`Self::tollgate`].
    pub fn listening_on(&mut self, addr: std::net::SocketAddr) {
        self.gate
            .public_url
            .get_or_insert_with(|| format!("http://{addr}"));
    }

    /// The gate builder for this configuration (realm `orders` unless the file names
    /// one; introspection and DPoP when configured).
    pub fn tollgate(&self) -> TollgateBuilder<()> {
        let b = self.gate.builder();
        if self.gate.realm.is_none() {
            b.realm("orders")
        } else {
            b
        }
    }

    /// The introspector, when `TOLLGATE_INTROSPECTION_URI` is set; its budget comes
    /// from `TOLLGATE_INTROSPECTION_MAX_IN_FLIGHT` (calls at once, default 16) and
    /// `TOLLGATE_INTROSPECTION_MAX_PER_SEC` (new calls per second, default 100): a new
    /// token beyond it is answered 503 without a call.
    #[must_use]
    pub fn introspector(&self) -> Option<IntrospectorBuilder> {
        self.gate.introspector()
    }
}
