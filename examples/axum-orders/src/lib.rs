//! The orders service: routes and configuration, shared by the binary and the tests.
//!
//! | route | needs |
//! |---|---|
//! | `GET /health` | nothing (public) |
//! | `GET /me` | any valid token → `{"sub", "client_id", "scopes"}` |
//! | `GET /orders` | `orders:read` |
//! | `POST /orders` | `orders:write` → 201 |
//! | anything else | 404 |

use std::fmt;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tollgate_axum::scopes::all;
use tollgate_axum::{Claims, Tollgate};
use tollgate_core::alg::Algorithm;
use tollgate_core::authenticate::Authenticate;
use tollgate_core::introspect::{ClientAuth, Introspector, IntrospectorBuilder};

/// The router, protected by `gate`.
pub fn router<A>(gate: &Tollgate<(), A>) -> Router
where
    A: Authenticate<()> + Clone,
{
    let protected = Router::new()
        .route("/me", get(me))
        .route(
            "/orders",
            get(list_orders)
                .route_layer(gate.require(all(["orders:read"])))
                .merge(
                    axum::routing::post(create_order)
                        .route_layer(gate.require(all(["orders:write"]))),
                ),
        )
        // route_layer: only matched routes are authenticated, so unknown paths are 404
        .route_layer(gate.layer());
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .merge(protected)
}

async fn me(claims: Claims) -> Json<Value> {
    Json(json!({
        "sub": claims.sub,
        "client_id": claims.client_id,
        "scopes": claims.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
    }))
}

async fn list_orders(claims: Claims) -> Json<Value> {
    Json(json!({
        "orders": [{"id": 1, "item": "widget", "qty": 2}],
        "for": claims.sub,
    }))
}

async fn create_order(claims: Claims, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    (
        StatusCode::CREATED,
        Json(json!({"id": 2, "order": body, "by": claims.sub})),
    )
}

/// Configuration from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// `TOLLGATE_ISSUER` (required).
    pub issuer: String,
    /// `TOLLGATE_AUDIENCE` (required; comma-separated for several).
    pub audiences: Vec<String>,
    /// `TOLLGATE_JWKS_URI` (optional: discovery from the issuer when absent).
    pub jwks_uri: Option<String>,
    /// `TOLLGATE_ALGORITHMS` (optional, comma-separated allow-list).
    pub algorithms: Option<Vec<Algorithm>>,
    /// `BIND` (default `127.0.0.1:8080`).
    pub bind: String,
    /// Opaque tokens through RFC 7662 introspection, when `TOLLGATE_INTROSPECTION_URI`
    /// is set.
    pub introspection: Option<Introspection>,
}

/// Introspection settings (see [`Config::introspection`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Introspection {
    /// `TOLLGATE_INTROSPECTION_URI`: the endpoint.
    pub uri: String,
    /// `TOLLGATE_CLIENT_ID` and `TOLLGATE_CLIENT_SECRET` (optional, both or neither):
    /// the resource server's credentials, sent as `client_secret_basic`.
    pub client: Option<(String, String)>,
    /// `TOLLGATE_INTROSPECTION_CACHE_SECS` (default 30): how long an active answer is
    /// reused, so a revoked token is refused at most this long after revocation.
    pub cache_secs: u64,
}

/// A configuration problem, with the variable it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads the configuration through `get` (e.g. `|k| std::env::var(k).ok()`).
    ///
    /// # Errors
    ///
    /// A missing required variable or an unknown algorithm name.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |k: &str| {
            get(k)
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| ConfigError(format!("{k} is required")))
        };
        let issuer = required("TOLLGATE_ISSUER")?;
        let audiences = required("TOLLGATE_AUDIENCE")?
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        let algorithms = match get("TOLLGATE_ALGORITHMS").filter(|v| !v.trim().is_empty()) {
            None => None,
            Some(list) => Some(
                list.split(',')
                    .map(|a| {
                        a.trim().parse::<Algorithm>().map_err(|_| {
                            ConfigError(format!(
                                "TOLLGATE_ALGORITHMS: unknown algorithm {:?}",
                                a.trim()
                            ))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        let optional = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let introspection = match optional("TOLLGATE_INTROSPECTION_URI") {
            None => None,
            Some(uri) => {
                let client = match (
                    optional("TOLLGATE_CLIENT_ID"),
                    optional("TOLLGATE_CLIENT_SECRET"),
                ) {
                    (Some(id), Some(secret)) => Some((id, secret)),
                    (None, None) => None,
                    _ => {
                        return Err(ConfigError(
                            "TOLLGATE_CLIENT_ID and TOLLGATE_CLIENT_SECRET go together".to_owned(),
                        ));
                    }
                };
                let cache_secs = match optional("TOLLGATE_INTROSPECTION_CACHE_SECS") {
                    None => tollgate_core::introspect::DEFAULT_CACHE_TTL.as_secs(),
                    Some(v) => v.trim().parse().map_err(|_| {
                        ConfigError(format!(
                            "TOLLGATE_INTROSPECTION_CACHE_SECS: not a number of seconds: {:?}",
                            v.trim()
                        ))
                    })?,
                };
                Some(Introspection {
                    uri,
                    client,
                    cache_secs,
                })
            }
        };
        Ok(Config {
            issuer,
            audiences,
            jwks_uri: optional("TOLLGATE_JWKS_URI"),
            algorithms,
            bind: get("BIND").unwrap_or_else(|| "127.0.0.1:8080".to_owned()),
            introspection,
        })
    }

    /// The introspector for this configuration, when introspection is configured
    /// (checked with the same issuer and audiences as JWTs when combined through
    /// [`tollgate_axum::TollgateBuilder::introspection`]).
    #[must_use]
    pub fn introspector(&self) -> Option<IntrospectorBuilder> {
        let i = self.introspection.as_ref()?;
        let auth = match &i.client {
            Some((id, secret)) => ClientAuth::client_secret_basic(id, secret),
            None => ClientAuth::None,
        };
        Some(
            Introspector::builder()
                .endpoint(&i.uri)
                .client_auth(auth)
                .cache_ttl(Duration::from_secs(i.cache_secs)),
        )
    }

    /// The tollgate builder for this configuration.
    pub fn tollgate(&self) -> tollgate_axum::TollgateBuilder<()> {
        let mut b = Tollgate::<()>::builder()
            .issuer(&self.issuer)
            .realm("orders");
        for a in &self.audiences {
            b = b.audience(a);
        }
        if let Some(algs) = &self.algorithms {
            b = b.algorithms(algs.iter().copied());
        }
        match &self.jwks_uri {
            Some(u) => b.jwks_uri(u),
            None => b.discover(),
        }
    }
}
