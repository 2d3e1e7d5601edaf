//! # tollgate-tonic
//!
//! gRPC (tonic 0.14) integration of tollgate, built on the same core and tower layer as
//! the HTTP side. A tonic user depends on this crate alone: it re-exports the gate
//! ([`Tollgate`], its builder and [`BuildError`]), core's claims, scopes, policies and
//! key sets, and the whole core as [`core`].
//!
//! - [`GrpcGate`]: what a [`Tollgate`] hands out for gRPC: `gate.grpc_layer(methods)`
//!   and `gate.grpc_interceptor(policy)?` (not with DPoP on).
//! - [`GrpcAuthLayer`]: authenticates the `authorization: Bearer` metadata of every call
//!   (or `authorization: DPoP` with a `dpop` proof when the gate has DPoP on: RFC 9449,
//!   `htm` `POST`, `htu` the method's full URL)
//!   and enforces a per-method [`MethodScopes`] map (deny-all default); for the whole
//!   server (`Server::builder().layer(..)`) or one service ([`GrpcAuthLayer::named`]
//!   keeps `NamedService::NAME`).
//! - [`GrpcRejector`]: the [`Rejector`](tollgate_tower::Rejector) answering with gRPC
//!   statuses (trailers-only, fixed safe messages, optional `www-authenticate`).
//! - [`GrpcInterceptor`]: the synchronous `tonic::service::Interceptor` variant.
//! - [`RequestExt`]: `request.claims::<X>()` and `request.require_scopes::<X>(..)` in
//!   handlers.
//!
//! | case | gRPC status | message |
//! |---|---|---|
//! | no token | `UNAUTHENTICATED` | An access token is required |
//! | malformed `authorization`, two tokens | `UNAUTHENTICATED` | Malformed Authorization header / More than one Authorization header |
//! | invalid, expired, wrong issuer or audience | `UNAUTHENTICATED` | (fixed phrase per case) |
//! | scope policy not met | `PERMISSION_DENIED` | The access token lacks the required scope |
//! | keys unreachable | `UNAVAILABLE` | The authorization server is unavailable |
//! | DPoP proof refused (missing, replayed, for another URL, wrong key...) | `UNAUTHENTICATED` | (fixed phrase per case; the `DPoP error=".."` challenge in `www-authenticate`) |
//! | DPoP nonce missing or stale | `UNAUTHENTICATED` | Resource server requires nonce in DPoP proof (`dpop-nonce` metadata) |
//! | DPoP replay store cannot answer | `UNAVAILABLE` | The DPoP proof cannot be checked right now |
//!
//! Streaming calls (server, client, bidirectional) are checked once, when the call
//! starts: the request stream is never read by the layer.
//!
//! Choices worth knowing: the per-method map fails closed (unlisted methods are
//! refused) and catches misspelled entries at start-up against the real method list
//! ([`MethodScopes::verify`], or the `FileDescriptorSet` with the `descriptor`
//! feature); see [`methods`]. The interceptor answers `UNAVAILABLE` rather than wait
//! when keys must be fetched, and applies one policy per service; see [`interceptor`].
//!
//! # Features
//!
//! - `descriptor` (off): `MethodScopes::verify_descriptor` and `descriptor_methods`,
//!   reading method names from an encoded protobuf `FileDescriptorSet` (adds `prost`
//!   and `prost-types`).
//!
//! # Example
//!
//! One protected service next to a public one: health is public, the protected copy
//! requires a token.
//!
//! ```
//! use tollgate_tonic::{GrpcGate, KeySet, MethodScopes, ScopePolicy, Tollgate};
//! use tollgate_testkit::{TestKey, DEFAULT_ISSUER, DEFAULT_AUDIENCE};
//! use tonic::transport::{Channel, Server, server::TcpIncoming};
//! use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = TestKey::ed25519("k1");
//! let gate = Tollgate::<()>::builder()
//!     .issuer(DEFAULT_ISSUER)
//!     .audience(DEFAULT_AUDIENCE)
//!     .keys(KeySet::from_keys([key.public_key()])) // or .jwks_uri(..) / .discover()
//!     .build()
//!     .await?;
//! let scopes = MethodScopes::new()
//!     .method("/grpc.health.v1.Health/Check", ScopePolicy::authenticated());
//! let auth = gate.grpc_layer(scopes);
//!
//! let (_reporter, health) = tonic_health::server::health_reporter();
//! let incoming = TcpIncoming::bind("127.0.0.1:0".parse()?)?;
//! let addr = incoming.local_addr()?;
//! tokio::spawn(
//!     Server::builder()
//!         .add_service(auth.named(health)) // keeps the name grpc.health.v1.Health
//!         .serve_with_incoming(incoming),
//! );
//! let mut client = HealthClient::new(Channel::from_shared(format!("http://{addr}"))?.connect().await?);
//!
//! // accepted
//! let mut req = tonic::Request::new(HealthCheckRequest::default());
//! req.metadata_mut().insert("authorization", format!("Bearer {}", key.token().sign()).parse()?);
//! client.check(req).await?;
//!
//! // rejected: no token
//! let status = client.check(HealthCheckRequest::default()).await.unwrap_err();
//! assert_eq!(status.code(), tonic::Code::Unauthenticated);
//! assert_eq!(status.message(), "An access token is required");
//! # Ok(())
//! # }
//! ```

pub mod ext;
pub mod gate;
pub mod interceptor;
pub mod layer;
pub mod methods;
pub mod mtls;
pub mod reject;

pub use ext::RequestExt;
pub use gate::GrpcGate;
pub use interceptor::GrpcInterceptor;
pub use layer::{GrpcAuthLayer, GrpcAuthService};
#[cfg(feature = "descriptor")]
pub use methods::descriptor_methods;
pub use methods::{MethodScope, MethodScopeLayer, MethodScopes, VerifyError};
pub use reject::{GrpcRejector, RETRY_PUSHBACK, WWW_AUTHENTICATE};

pub use tollgate_core as core;
pub use tollgate_core::scope::{Scope, ScopePolicy, ScopeSet};
pub use tollgate_core::{AuthError, Claims, KeySet};
pub use tollgate_tower::audit::{self, PeerAddr};
pub use tollgate_tower::scopes;
pub use tollgate_tower::{
    BearerRejector, BuildError, Dpop, DpopMode, GateConfig, Tollgate, TollgateBuilder,
};
