//! # tollgate-tower
//!
//! Tower middleware for OAuth 2.0 resource servers, generic over `http::Request<B>`
//! (no axum or tonic dependency):
//!
//! - [`Tollgate`] (module [`gate`]): one builder for every option (issuer, audiences,
//!   algorithms, key source, refresh, caches, actor policy, introspection, realm), built
//!   once, handing out the layers below, and, through `tollgate-tonic`, the gRPC layer
//!   and interceptor. `tollgate-axum` and `tollgate-tonic` re-export it.
//! - [`AuthLayer`] authenticates the bearer token of every request with an
//!   [`Authenticate`](tollgate_core::authenticate::Authenticate) implementation, inserts
//!   the verified `Arc<Claims<X>>` into the request extensions, and answers refusals with
//!   a [`Rejector`] (RFC 6750 by default: [`BearerRejector`]).
//! - [`ScopeLayer`] checks the [`ScopePolicy`](tollgate_core::scope::ScopePolicy) that a
//!   [`SelectPolicy`] picks for a request against those claims: [`RequireScopeLayer`]
//!   (one policy per route) here, per gRPC method in `tollgate-tonic`. 403
//!   `insufficient_scope` when not met, 500 when no claims are present (the layers
//!   were stacked wrongly).
//! - Certificate-bound tokens (RFC 8705, module [`mtls`]): a token with
//!   `cnf["x5t#S256"]` needs the matching client certificate, found in the
//!   [`ClientCertificate`](mtls::ClientCertificate) extension a TLS server inserts or,
//!   only when configured, in a trusted proxy's header.
//! - [`GateConfig`] (module [`config`]): the settings as plain data, read from
//!   `TOLLGATE_*` environment variables, turned into a [`TollgateBuilder`].
//!
//! Exports: each area is a public module holding its items and their docs; the crate
//! root re-exports the items users name.
//!
//! # Example
//!
//! ```
//! use http::{Request, Response, StatusCode, header};
//! use tollgate_core::{KeySet, Validation, authenticate::StaticKeys};
//! use tollgate_core::scope::{Scope, ScopePolicy};
//! use tollgate_testkit::{TestKey, DEFAULT_ISSUER, DEFAULT_AUDIENCE};
//! use tollgate_tower::{AuthLayer, BearerRejector, RequireScopeLayer};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let key = TestKey::ed25519("k1");
//! let validation = Validation::builder().issuer(DEFAULT_ISSUER).audience(DEFAULT_AUDIENCE).build().unwrap();
//! let auth = StaticKeys::new(validation, KeySet::from_keys([key.public_key()]));
//!
//! let svc = ServiceBuilder::new()
//!     .layer(AuthLayer::<(), _>::new(auth).rejector(BearerRejector::new("orders")))
//!     .layer(RequireScopeLayer::<()>::new(ScopePolicy::all_of([Scope::from_static("orders:read")])))
//!     .service(service_fn(|_req: Request<String>| async {
//!         Ok::<_, std::convert::Infallible>(Response::new(String::from("hello")))
//!     }));
//!
//! // accepted
//! let token = key.token().scope("orders:read").sign();
//! let req = Request::get("/").header(header::AUTHORIZATION, format!("Bearer {token}")).body(String::new()).unwrap();
//! assert_eq!(svc.clone().oneshot(req).await.unwrap().status(), StatusCode::OK);
//!
//! // rejected: no token → 401 with a bare challenge
//! let res = svc.oneshot(Request::get("/").body(String::new()).unwrap()).await.unwrap();
//! assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(res.headers()[header::WWW_AUTHENTICATE], r#"Bearer realm="orders""#);
//! # });
//! ```

pub mod audit;
pub mod auth;
pub mod config;
pub mod gate;
pub mod metadata;
pub mod mtls;
pub mod reject;
pub mod scope;
pub mod scopes;

pub use audit::PeerAddr;
pub use auth::{Auth, AuthLayer, Dpop, DpopChallenge, DpopMode, Mode, ResponseFuture};
pub use config::GateConfig;
pub use gate::{BuildError, Tollgate, TollgateBuilder};
pub use metadata::{MetadataService, ProtectedResource, ResourceMetadata};
pub use reject::{BearerRejector, Rejector};
pub use scope::{
    RequireScope, RequireScopeLayer, ScopeCheck, ScopeFuture, ScopeLayer, SelectPolicy,
    check_scopes,
};
