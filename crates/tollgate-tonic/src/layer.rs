//! [`GrpcAuthLayer`]: authentication ([`tollgate_tower::AuthLayer`]) plus the per-method
//! scope map ([`MethodScopeLayer`]), answering with gRPC statuses.
//!
//! Use it for the whole server with `Server::builder().layer(..)`, or around one service
//! with [`GrpcAuthLayer::named`], which keeps the service's `NamedService::NAME` so that
//! other services (health, reflection) stay public.
//!
//! The token is read from the `authorization` metadata (`Bearer <token>`, scheme
//! case-insensitive) once, when the call starts, for unary and streaming calls alike;
//! the handler then finds `Arc<Claims<X>>` in `request.extensions()` (see
//! [`RequestExt`](crate::RequestExt)).
//!
//! # Example
//!
//! The whole server behind the layer (`Server::builder().layer(..)`):
//!
//! ```
//! use tollgate_core::{KeySet, Validation, authenticate::StaticKeys};
//! use tollgate_core::scope::{Scope, ScopePolicy};
//! use tollgate_testkit::{TestKey, DEFAULT_ISSUER, DEFAULT_AUDIENCE};
//! use tollgate_tonic::{GrpcAuthLayer, MethodScopes};
//! use tonic::transport::{Channel, Server, server::TcpIncoming};
//! use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = TestKey::ed25519("k1");
//! let validation = Validation::builder().issuer(DEFAULT_ISSUER).audience(DEFAULT_AUDIENCE).build()?;
//! let auth = StaticKeys::new(validation, KeySet::from_keys([key.public_key()]));
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
//!         .layer(GrpcAuthLayer::new(auth, scopes))
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

use tollgate_core::authenticate::Authenticate;
use tollgate_tower::{Auth, AuthLayer};
use tonic::service::{LayerExt, Layered};
use tower_layer::Layer;

use crate::methods::{MethodScope, MethodScopeLayer, MethodScopes};
use crate::reject::GrpcRejector;

/// The service a [`GrpcAuthLayer`] builds around `S`: authentication outside, the
/// per-method scope check inside.
pub type GrpcAuthService<S, A, X = ()> = Auth<MethodScope<S, X>, A, X, GrpcRejector>;

/// Authenticates every call and enforces a per-method [`MethodScopes`] map; see the
/// [module docs](self).
///
/// | case | gRPC status |
/// |---|---|
/// | no token, malformed `authorization`, two tokens | `UNAUTHENTICATED` |
/// | invalid, expired, wrong issuer or audience, unknown key | `UNAUTHENTICATED` |
/// | method's scope policy not met (default: deny-all) | `PERMISSION_DENIED` |
/// | keys unreachable (IdP down since start-up) | `UNAVAILABLE` |
///
/// `X` is your own claims type (`()` for none).
#[must_use]
pub struct GrpcAuthLayer<A, X = ()> {
    auth: AuthLayer<A, X, GrpcRejector>,
    scopes: MethodScopeLayer<X, GrpcRejector>,
}

impl<A, X> Clone for GrpcAuthLayer<A, X> {
    fn clone(&self) -> Self {
        GrpcAuthLayer {
            auth: self.auth.clone(),
            scopes: self.scopes.clone(),
        }
    }
}

impl<A, X> fmt::Debug for GrpcAuthLayer<A, X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcAuthLayer")
            .field("auth", &self.auth)
            .field("scopes", &self.scopes)
            .finish()
    }
}

impl<A> GrpcAuthLayer<A, ()>
where
    A: Authenticate<()> + Clone,
{
    /// Authenticates with `auth` (e.g. `Issuers` or `StaticKeys`) and enforces `scopes`,
    /// with no application claims type (`Claims<()>`).
    pub fn new(auth: A, scopes: MethodScopes) -> Self {
        Self::with_claims(auth, scopes)
    }
}

impl<A, X> GrpcAuthLayer<A, X>
where
    A: Authenticate<X> + Clone,
{
    /// As [`GrpcAuthLayer::new`], deserializing your own claims `X` from each token:
    /// `GrpcAuthLayer::<_, MyClaims>::with_claims(auth, scopes)`.
    pub fn with_claims(auth: A, scopes: MethodScopes) -> Self {
        let rejector = GrpcRejector::new();
        GrpcAuthLayer {
            auth: AuthLayer::new(auth).rejector(rejector.clone()),
            scopes: MethodScopeLayer::with_rejector(scopes, rejector),
        }
    }

    /// Uses this rejector for every refusal (e.g. one that adds `www-authenticate`).
    pub fn rejector(self, rejector: GrpcRejector) -> Self {
        let scopes = self.scopes.scopes().clone();
        GrpcAuthLayer {
            auth: self.auth.rejector(rejector.clone()),
            scopes: MethodScopeLayer::quiet(scopes, rejector),
        }
    }
}

impl<A, X> GrpcAuthLayer<A, X> {
    /// The per-method map.
    pub fn scopes(&self) -> &MethodScopes {
        self.scopes.scopes()
    }

    /// Wraps one generated service, keeping its `NamedService::NAME`, so it can be
    /// passed to `Server::builder().add_service(..)` next to public services.
    pub fn named<S>(&self, service: S) -> Layered<GrpcAuthService<S, A, X>, S> {
        self.named_layer(service)
    }
}

impl<S, A, X> Layer<S> for GrpcAuthLayer<A, X> {
    type Service = GrpcAuthService<S, A, X>;
    fn layer(&self, inner: S) -> Self::Service {
        self.auth.layer(self.scopes.layer(inner))
    }
}
