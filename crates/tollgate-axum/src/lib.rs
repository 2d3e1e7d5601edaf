//! # tollgate-axum
//!
//! Protect an axum router with OAuth 2.0 bearer tokens in a few lines:
//!
//! - [`Tollgate`] (from tollgate-tower, the same gate tonic services use): configure
//!   issuer, audience and keys (JWKS URL, discovery or a fixed set) once; it hands out
//!   the authentication layer and per-route scope layers that share one configuration
//!   (same claims type, same realm).
//! - [`VerifiedClaims<X>`]: the extractor of the verified [`Claims<X>`] in a handler
//!   (`Option<VerifiedClaims<X>>` on routes where a token is optional).
//! - [`scopes::all`] / [`scopes::any`]: scope policies that read naturally in a router.
//!
//! An axum user depends on this crate alone: it re-exports the gate, core's claims,
//! scopes, policies and key sets, and the whole core as [`core`].
//!
//! Per-route scopes use `route_layer`, so unmatched paths still answer 404 and the
//! scope check runs after authentication:
//!
//! ```
//! use axum::{Router, body::Body, http::{Request, StatusCode}, routing::get};
//! use tollgate_axum::{KeySet, Tollgate, VerifiedClaims, scopes::all};
//! use tollgate_testkit::{TestKey, DEFAULT_ISSUER, DEFAULT_AUDIENCE};
//! use tower::ServiceExt;
//!
//! async fn list(claims: VerifiedClaims) -> String {
//!     format!("orders of {}", claims.sub.as_deref().unwrap_or("?"))
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let key = TestKey::ed25519("k1");
//! let gate = Tollgate::<()>::builder()
//!     .issuer(DEFAULT_ISSUER)
//!     .audience(DEFAULT_AUDIENCE)
//!     .keys(KeySet::from_keys([key.public_key()]))
//!     .realm("orders")
//!     .build()
//!     .await
//!     .unwrap();
//!
//! let app: Router = Router::new()
//!     .route("/orders", get(list).route_layer(gate.require(all(["orders:read"]))))
//!     .route_layer(gate.layer()); // route_layer: unknown paths stay 404
//!
//! let call = |token: String| Request::get("/orders")
//!     .header("authorization", format!("Bearer {token}")).body(Body::empty()).unwrap();
//! // accepted
//! let res = app.clone().oneshot(call(key.token().subject("ann").scope("orders:read").sign())).await.unwrap();
//! assert_eq!(res.status(), StatusCode::OK);
//! // rejected: valid token without the scope
//! let res = app.oneshot(call(key.token().sign())).await.unwrap();
//! assert_eq!(res.status(), StatusCode::FORBIDDEN);
//! # });
//! ```
//!
//! With remote keys (the usual production setup; needs a tokio runtime):
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let gate = tollgate_axum::Tollgate::<()>::builder()
//!     .issuer("https://idp.example.com")
//!     .audience("orders")
//!     .discover()                       // or .jwks_uri("https://idp.example.com/jwks")
//!     .build()
//!     .await?;                          // waits for the first key set
//! # let _ = gate; Ok(()) }
//! ```

pub mod extract;

pub use extract::{ClaimsRejection, VerifiedClaims};
pub use tollgate_tower::audit::{self, PeerAddr};
pub use tollgate_tower::mtls;
pub use tollgate_tower::scopes;

pub use tollgate_core as core;
pub use tollgate_core::scope::{Scope, ScopePolicy, ScopeSet};
pub use tollgate_core::{AuthError, Claims, KeySet};
pub use tollgate_tower::{
    AuthLayer, BearerRejector, BuildError, GateConfig, Mode, RequireScopeLayer, Tollgate,
    TollgateBuilder,
};
