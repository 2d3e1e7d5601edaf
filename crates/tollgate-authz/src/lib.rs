//! # tollgate-authz
//!
//! tollgate as the checkpoint of a gateway, so one deployment protects services
//! written in any language:
//!
//! - [`ForwardAuth`] (module [`forward`]): the forward-auth HTTP endpoint that NGINX
//!   `auth_request`, Caddy `forward_auth` and Traefik `ForwardAuth` call with the
//!   original method and URI in headers; 200 with identity headers, or the exact
//!   401 / 403 / 503 with `WWW-Authenticate` for the gateway to pass back.
//! - [`ExtAuthz`] (module [`ext_authz`]): Envoy's `envoy.service.auth.v3.Authorization`
//!   gRPC `Check` (Envoy, Istio, Envoy Gateway), the same decisions as
//!   `CheckResponse`s.
//! - [`Checkpoint`] (module [`check`]): the decision both translate: route rules
//!   ([`Routes`], module [`routes`]: longest prefix, optional methods, public or
//!   scopes, everything else refused), then the gate's token check, then the rule's
//!   scopes.
//! - [`AuthzConfig`] (module [`config`]): the gate's configuration file
//!   (`TOLLGATE_CONFIG`) plus `[[route]]` rules and identity header names.
//! - [`ForwardClaimsLayer`] (module [`claims_layer`]): for your own Rust proxy, a tower
//!   layer that strips inbound identity headers and sets them from verified claims.
//! - Phantom tokens ([`Checkpoint::phantom`], `[authz.phantom]`): an opaque token is
//!   exchanged (RFC 8693) for a JWT addressed to the upstream, handed over in the
//!   allowed answer as `Authorization`.
//!
//! The `tollgate-authz` binary serves both endpoints on one port (`/authz` over
//! HTTP/1.1 and HTTP/2, `Check` over gRPC); see the README's "Behind a gateway".
//!
//! # Example
//!
//! ```
//! use tollgate_authz::{Access, Checkpoint, ForwardAuth, Route, Routes};
//! use tollgate_core::KeySet;
//! use tollgate_testkit::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, TestKey};
//! use tollgate_tower::{Tollgate, scopes::all};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = TestKey::ed25519("k1");
//! let gate = Tollgate::builder()
//!     .issuer(DEFAULT_ISSUER)
//!     .audience(DEFAULT_AUDIENCE)
//!     .keys(KeySet::from_keys([key.public_key()]))
//!     .build()
//!     .await?;
//! let routes = Routes::new([
//!     Route::new("/orders", Access::Scopes(all(["orders:read"]))).methods(["GET"]),
//!     Route::new("/health", Access::Public),
//! ])?;
//! let svc = ForwardAuth::<String>::new(Checkpoint::new(&gate, routes));
//! let ask = |method: &str, uri: &str| {
//!     http::Request::get("/authz")
//!         .header("x-forwarded-method", method)
//!         .header("x-forwarded-uri", uri)
//!         .body(String::new())
//!         .unwrap()
//! };
//! // accepted: a public route
//! assert_eq!(svc.clone().oneshot(ask("GET", "/health")).await?.status(), 200);
//! // refused: no rule → 403, never allowed by default
//! assert_eq!(svc.oneshot(ask("GET", "/admin")).await?.status(), 403);
//! # Ok(())
//! # }
//! ```

pub mod check;
pub mod claims_layer;
pub mod config;
pub mod ext_authz;
pub mod forward;
pub mod identity;
pub mod routes;

pub use check::{Allow, Check, Checkpoint, Deny, DenyReason, OriginalRequest, Verdict};
pub use claims_layer::{ForwardClaims, ForwardClaimsLayer};
pub use config::{AuthzConfig, PhantomSettings};
pub use ext_authz::ExtAuthz;
pub use forward::{Convention, ForwardAuth, ForwardFuture};
pub use identity::IdentityHeaders;
pub use routes::{Access, Route, RouteError, Routes};
