//! # tollgate-tower
//!
//! Tower middleware for OAuth 2.0 resource servers, generic over `http::Request<B>`
//! (no axum or tonic dependency):
//!
//! - [`AuthLayer`] authenticates the bearer token of every request with an
//!   [`Authenticate`](tollgate_core::authenticate::Authenticate) implementation, inserts
//!   the verified `Arc<Claims<X>>` into the request extensions, and answers refusals with
//!   a [`Rejector`] (RFC 6750 by default: [`BearerRejector`]).
//! - [`RequireScopeLayer`] checks a [`ScopePolicy`](tollgate_core::scope::ScopePolicy)
//!   per route against those claims: 403 `insufficient_scope` when not met, 500 when no
//!   claims are present (the layers were stacked wrongly).
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
//!     .layer(AuthLayer::<_, ()>::new(auth).rejector(BearerRejector::new("orders")))
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

mod auth;
mod reject;
mod scope;

#[doc(inline)]
pub use auth::{Auth, AuthLayer, Mode, ResponseFuture};
#[doc(inline)]
pub use reject::{BearerRejector, Rejector};
#[doc(inline)]
pub use scope::{RequireScope, RequireScopeLayer, ScopeResponseFuture, check_scopes};
