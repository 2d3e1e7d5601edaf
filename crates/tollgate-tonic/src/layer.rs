//! [`GrpcAuthLayer`]: authentication ([`tollgate_tower::AuthLayer`]) plus the per-method
//! scope map ([`MethodScopeLayer`]), answering with gRPC statuses.
//!
//! Use it for the whole server with `Server::builder().layer(..)`, or around one service
//! with [`GrpcAuthLayer::named`], which keeps the service's `NamedService::NAME` so that
//! other services (health, reflection) stay public.
//!
//! The token is read from the `authorization` metadata (`Bearer <token>`, scheme
//! case-insensitive; `DPoP <token>` with a `dpop` proof when DPoP is on, see
//! [`GrpcAuthLayer::dpop`]) once, when the call starts, for unary and streaming calls alike;
//! the handler then finds `Arc<Claims<X>>` in `request.extensions()` (see
//! [`RequestExt`](crate::RequestExt)).
//!
//! # Example
//!
//! The whole server behind the layer (`Server::builder().layer(..)`):
//!
//! ```
//! use tollgate_tonic::{GrpcGate, KeySet, MethodScopes, Scope, ScopePolicy, Tollgate};
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
//! let scopes = MethodScopes::new().method(
//!     "/grpc.health.v1.Health/Check",
//!     ScopePolicy::all_of([Scope::from_static("health:read")]),
//! );
//!
//! let (_reporter, health) = tonic_health::server::health_reporter();
//! let incoming = TcpIncoming::bind("127.0.0.1:0".parse()?)?;
//! let addr = incoming.local_addr()?;
//! tokio::spawn(
//!     Server::builder()
//!         .layer(gate.grpc_layer(scopes))
//!         .add_service(health)
//!         .serve_with_incoming(incoming),
//! );
//! let mut client = HealthClient::new(Channel::from_shared(format!("http://{addr}"))?.connect().await?);
//!
//! // accepted
//! let mut req = tonic::Request::new(HealthCheckRequest::default());
//! let token = key.token().scope("health:read").sign();
//! req.metadata_mut().insert("authorization", format!("Bearer {token}").parse()?);
//! client.check(req).await?;
//!
//! // rejected: the token lacks the scope
//! let mut req = tonic::Request::new(HealthCheckRequest::default());
//! let token = key.token().scope("other").sign();
//! req.metadata_mut().insert("authorization", format!("Bearer {token}").parse()?);
//! let status = client.check(req).await.unwrap_err();
//! assert_eq!(status.code(), tonic::Code::PermissionDenied);
//! assert_eq!(status.message(), "The access token lacks the required scope");
//! # Ok(())
//! # }
//! ```

use std::fmt;

use tollgate_core::authenticate::{Authenticate, Authenticator};
use tollgate_tower::scope::ScopeLayer;
use tollgate_tower::{Auth, AuthLayer};
use tonic::service::{LayerExt, Layered};
use tower_layer::Layer;

use crate::methods::{MethodScope, MethodScopeLayer, MethodScopes};
use crate::reject::GrpcRejector;

/// The service built by [`GrpcAuthLayer`]: authentication around the per-method scope
/// check around your service.
pub type GrpcAuthService<S, X = (), A = Authenticator> =
    Auth<MethodScope<S, X>, X, A, GrpcRejector>;

/// Authentication plus per-method scopes for gRPC services; see the
/// [module docs](self). Usually handed out by a gate:
/// [`GrpcGate::grpc_layer`](crate::GrpcGate::grpc_layer).
#[must_use]
pub struct GrpcAuthLayer<X = (), A = Authenticator> {
    auth: AuthLayer<X, A, GrpcRejector>,
    scopes: MethodScopeLayer<X, GrpcRejector>,
}

impl<X, A> Clone for GrpcAuthLayer<X, A> {
    fn clone(&self) -> Self {
        GrpcAuthLayer {
            auth: self.auth.clone(),
            scopes: self.scopes.clone(),
        }
    }
}

impl<X, A> fmt::Debug for GrpcAuthLayer<X, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcAuthLayer")
            .field("auth", &self.auth)
            .field("scopes", &self.scopes)
            .finish()
    }
}

impl<A> GrpcAuthLayer<(), A>
where
    A: Authenticate<()> + Clone,
{
    /// Authenticates with `auth` and enforces `scopes`, with no application claims
    /// type (`Claims<()>`); see [`GrpcAuthLayer::with_claims`] for your own.
    pub fn new(auth: A, scopes: MethodScopes) -> Self {
        Self::with_claims(auth, scopes)
    }
}

impl<X, A> GrpcAuthLayer<X, A>
where
    A: Authenticate<X> + Clone,
{
    /// Authenticates with `auth`, deserializing your claims `X`, and enforces `scopes`
    /// (unlisted methods: deny-all unless [`MethodScopes::unlisted`] says otherwise).
    /// Logs a warning for each entry not shaped like `/package.Service/Method`.
    pub fn with_claims(auth: A, scopes: MethodScopes) -> Self {
        scopes.warn_malformed();
        let rejector = GrpcRejector::new();
        GrpcAuthLayer {
            auth: AuthLayer::new(auth)
                .rejector(rejector.clone())
                .mtls(crate::mtls::for_tonic(Default::default())),
            scopes: ScopeLayer::with_rejector(scopes, rejector),
        }
    }

    /// Uses this rejector (e.g. with an RFC 6750 challenge in the metadata).
    pub fn rejector(self, rejector: GrpcRejector) -> Self {
        GrpcAuthLayer {
            auth: self.auth.rejector(rejector.clone()),
            scopes: ScopeLayer::with_rejector(self.scopes.policy().clone(), rejector),
        }
    }

    /// Enforces DPoP (RFC 9449) as `dpop` says, as the HTTP layer does: an
    /// `authorization: DPoP <token>` entry and exactly one `dpop` entry in the metadata,
    /// the proof's `htm` `POST` and its `htu` the method's full URL (the
    /// [public URL](tollgate_tower::Dpop::public_url) followed by the method path, e.g.
    /// `https://inventory.example/inventory.v1.Inventory/GetItem`). Refusals are
    /// `UNAUTHENTICATED` with the `DPoP` challenge in the `www-authenticate` metadata
    /// (and `dpop-nonce` when a nonce is needed); an accepted DPoP call gets a fresh
    /// `dpop-nonce` in its response metadata when nonces are on. Per-method scopes are
    /// unchanged. [`DpopMode::Off`](tollgate_tower::DpopMode::Off) (the default) keeps
    /// Bearer only.
    pub fn dpop(self, dpop: tollgate_tower::Dpop) -> Self {
        GrpcAuthLayer {
            auth: self.auth.dpop(dpop),
            scopes: self.scopes,
        }
    }
}

impl<X, A: Clone> GrpcAuthLayer<X, A> {
    /// Where the client certificate of certificate-bound tokens (RFC 8705) comes from
    /// (see [`crate::mtls`]); tonic's own TLS record is read too (feature `tls`).
    pub fn mtls(self, mtls: crate::mtls::Mtls) -> Self {
        GrpcAuthLayer {
            auth: self.auth.mtls(crate::mtls::for_tonic(mtls)),
            scopes: self.scopes,
        }
    }
}

impl<X, A> GrpcAuthLayer<X, A> {
    /// The per-method scope map.
    pub fn scopes(&self) -> &MethodScopes {
        self.scopes.policy()
    }

    /// Wraps one service, keeping its `NamedService::NAME` (for `Routes::add_service`
    /// next to public services such as health and reflection).
    pub fn named<S>(&self, service: S) -> Layered<GrpcAuthService<S, X, A>, S> {
        self.named_layer(service)
    }
}

impl<S, X, A> Layer<S> for GrpcAuthLayer<X, A> {
    type Service = GrpcAuthService<S, X, A>;
    fn layer(&self, inner: S) -> Self::Service {
        self.auth.layer(self.scopes.layer(inner))
    }
}
