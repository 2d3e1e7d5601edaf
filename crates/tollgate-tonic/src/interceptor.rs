//! [`GrpcInterceptor`]: the synchronous variant, for code built around
//! `tonic::service::Interceptor` (`MyServer::with_interceptor(svc, interceptor)`).
//!
//! **Trade-offs against [`GrpcAuthLayer`](crate::GrpcAuthLayer):**
//!
//! - An interceptor is synchronous. It polls the authenticator's future exactly once
//!   (with a no-op waker). With keys already loaded, that is the whole verification and
//!   the answer is exact. When the authenticator would have to wait (an unknown `kid`
//!   triggering a key refresh, or no keys yet because the IdP has not answered since
//!   start-up) the call is answered `UNAVAILABLE` (with `grpc-retry-pushback-ms: 1000`)
//!   instead of waiting; the refresh it asked for still happens, so a retry usually
//!   succeeds. The layer waits (bounded) instead and answers exactly. A key rotation
//!   is therefore seen by interceptor users as one short burst of `UNAVAILABLE`.
//! - No DPoP (RFC 9449): a proof's `htu` names the method, and tonic does not show an
//!   interceptor the method path, so `gate.grpc_interceptor(..)` refuses to build on a
//!   gate with DPoP on. The layer enforces DPoP.
//! - An interceptor sees only metadata and extensions, not the method path, so it
//!   applies one [`ScopePolicy`] to every method of the service it wraps. For
//!   per-method policies use the layer, or check in the handler with
//!   [`RequestExt::require_scopes`](crate::RequestExt::require_scopes).
//!
//! Both share the same core: token extraction rules, verifier, error table and
//! [`GrpcRejector`]. The check runs once at call start, for streaming calls too.
//!
//! # Example
//!
//! ```
//! use tollgate_tonic::{GrpcGate, KeySet, ScopePolicy, Tollgate};
//! use tollgate_testkit::{TestKey, DEFAULT_ISSUER, DEFAULT_AUDIENCE};
//! use tonic::service::Interceptor;
//!
//! let key = TestKey::ed25519("k1");
//! let gate = Tollgate::<()>::builder()
//!     .issuer(DEFAULT_ISSUER)
//!     .audience(DEFAULT_AUDIENCE)
//!     .keys(KeySet::from_keys([key.public_key()]))
//!     .build_lazy() // fixed keys: nothing to wait for
//!     .unwrap();
//! // (refused, with an error naming `dpop`, on a gate with DPoP on)
//! let mut interceptor = gate.grpc_interceptor(ScopePolicy::authenticated()).unwrap();
//!
//! // accepted: the claims are in the extensions afterwards
//! let mut req = tonic::Request::new(());
//! let token = key.token().subject("alice").sign();
//! req.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
//! let req = interceptor.call(req).unwrap();
//! let claims = req.extensions().get::<std::sync::Arc<tollgate_core::Claims>>().unwrap();
//! assert_eq!(claims.sub.as_deref(), Some("alice"));
//!
//! // rejected: no token
//! let status = interceptor.call(tonic::Request::new(())).unwrap_err();
//! assert_eq!(status.code(), tonic::Code::Unauthenticated);
//! ```
//!
//! In a server: `InventoryServer::with_interceptor(service, interceptor)`.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tollgate_core::AuthError;
use tollgate_core::authenticate::{Authenticate, Authenticator};
use tollgate_core::bearer::parse_authorization;
use tollgate_core::error::{RequestError, UnavailableError};
use tollgate_core::scope::ScopePolicy;
use tollgate_tower::check_scopes;
use tonic::metadata::MetadataMap;
use tonic::service::Interceptor;
use tonic::{Request, Status};

use crate::reject::GrpcRejector;

/// The bearer token of the `authorization` metadata: exactly one entry, scheme
/// `Bearer` (case-insensitive), a token68 value. Same rules as HTTP.
pub(crate) fn bearer_from_metadata(metadata: &MetadataMap) -> Result<&str, RequestError> {
    let mut values = metadata.get_all("authorization").iter();
    let Some(value) = values.next() else {
        return Err(RequestError::Missing);
    };
    if values.next().is_some() {
        return Err(RequestError::MultipleAuthorization);
    }
    parse_authorization(value.as_encoded_bytes())
}

/// How long an `UNAVAILABLE` answer asks clients to wait when the authenticator was
/// not ready on its first poll.
const PENDING_RETRY: Duration = Duration::from_secs(1);

struct Shared<A> {
    auth: A,
    policy: ScopePolicy,
    rejector: GrpcRejector,
    mtls: crate::mtls::Mtls,
}

/// A synchronous `tonic` interceptor that authenticates the bearer token, checks one
/// [`ScopePolicy`] and inserts `Arc<Claims<X>>` into the request extensions. See the
/// [module docs](self) for the trade-offs against the layer.
///
/// Cloning is cheap (one `Arc`).
#[must_use]
pub struct GrpcInterceptor<X = (), A = Authenticator> {
    shared: Arc<Shared<A>>,
    _claims: PhantomData<fn() -> X>,
}

impl<X, A> Clone for GrpcInterceptor<X, A> {
    fn clone(&self) -> Self {
        GrpcInterceptor {
            shared: self.shared.clone(),
            _claims: PhantomData,
        }
    }
}

impl<X, A> fmt::Debug for GrpcInterceptor<X, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcInterceptor")
            .field("policy", &self.shared.policy)
            .field("rejector", &self.shared.rejector)
            .finish_non_exhaustive()
    }
}

impl<A: Authenticate<()>> GrpcInterceptor<(), A> {
    /// Authenticates with `auth` and requires `policy` for every method of the wrapped
    /// service ([`ScopePolicy::authenticated`] for any valid token), with no application
    /// claims type.
    pub fn new(auth: A, policy: ScopePolicy) -> Self {
        Self::with_rejector(auth, policy, GrpcRejector::new())
    }
}

impl<X, A: Authenticate<X>> GrpcInterceptor<X, A> {
    /// As [`GrpcInterceptor::new`], deserializing your own claims `X`:
    /// `GrpcInterceptor::<_, MyClaims>::with_claims(auth, policy)`.
    pub fn with_claims(auth: A, policy: ScopePolicy) -> Self {
        Self::with_rejector(auth, policy, GrpcRejector::new())
    }

    /// As [`GrpcInterceptor::with_claims`], answering refusals with `rejector`.
    pub fn with_rejector(auth: A, policy: ScopePolicy, rejector: GrpcRejector) -> Self {
        GrpcInterceptor {
            shared: Arc::new(Shared {
                auth,
                policy,
                rejector,
                mtls: crate::mtls::for_tonic(crate::mtls::Mtls::default()),
            }),
            _claims: PhantomData,
        }
    }

    /// The policy.
    #[must_use]
    pub fn policy(&self) -> &ScopePolicy {
        &self.shared.policy
    }

    /// Where the client certificate of certificate-bound tokens (RFC 8705) comes from
    /// (see [`crate::mtls`]); tonic's own TLS record is read too (feature `tls`).
    pub fn mtls(self, mtls: crate::mtls::Mtls) -> Self
    where
        A: Clone,
    {
        let s = &self.shared;
        GrpcInterceptor {
            shared: Arc::new(Shared {
                auth: s.auth.clone(),
                policy: s.policy.clone(),
                rejector: s.rejector.clone(),
                mtls: crate::mtls::for_tonic(mtls),
            }),
            _claims: PhantomData,
        }
    }
}

impl<X, A> GrpcInterceptor<X, A>
where
    A: Authenticate<X>,
    X: Send + Sync + 'static,
{
    fn check(&self, request: &mut Request<()>) -> Result<(), AuthError> {
        let token = bearer_from_metadata(request.metadata())?;
        let mut fut = self.shared.auth.authenticate(token);
        match Pin::new(&mut fut).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Ok(claims)) => {
                let (headers, extensions) = (request.metadata().as_ref(), request.extensions());
                self.shared.mtls.admit_in(&claims, headers, extensions)?;
                // no DPoP here (refused at build): a DPoP-bound token is not a bearer token
                tollgate_core::dpop::check_bearer(claims.cnf.as_ref())?;
                request.extensions_mut().insert(claims);
                check_scopes::<X>(request.extensions(), &self.shared.policy)
            }
            Poll::Ready(Err(e)) => Err(e),
            Poll::Pending => Err(AuthError::Unavailable(UnavailableError::WouldWait {
                retry_after: PENDING_RETRY,
            })),
        }
    }
}

impl<X, A> Interceptor for GrpcInterceptor<X, A>
where
    A: Authenticate<X>,
    X: Send + Sync + 'static,
{
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        match self.check(&mut request) {
            Ok(()) => {
                tollgate_tower::audit::record_allowed();
                Ok(request)
            }
            Err(e) => {
                // an interceptor sees metadata only: no method path to name
                let claims = request
                    .extensions()
                    .get::<std::sync::Arc<tollgate_core::Claims<X>>>();
                tollgate_tower::audit::refusal(
                    &e,
                    &http::Method::POST,
                    "(grpc interceptor)",
                    request.remote_addr(),
                    claims.map(|c| &**c),
                );
                Err(self.shared.rejector.status(&e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_rules() {
        let mut m = MetadataMap::new();
        assert_eq!(bearer_from_metadata(&m), Err(RequestError::Missing));
        m.insert("authorization", "Basic eDp5".parse().unwrap());
        assert_eq!(bearer_from_metadata(&m), Err(RequestError::Missing));
        m.insert("authorization", "bEaReR a.b.c".parse().unwrap());
        assert_eq!(bearer_from_metadata(&m), Ok("a.b.c"));
        m.append("authorization", "Bearer x".parse().unwrap());
        assert_eq!(
            bearer_from_metadata(&m),
            Err(RequestError::MultipleAuthorization)
        );
        let mut m = MetadataMap::new();
        m.insert("authorization", "Bearer a b".parse().unwrap());
        assert_eq!(bearer_from_metadata(&m), Err(RequestError::Malformed));
    }

    struct Never;
    impl Authenticate<()> for Never {
        type Future = std::future::Pending<Result<Arc<tollgate_core::Claims>, AuthError>>;
        fn authenticate(&self, _: &str) -> Self::Future {
            std::future::pending()
        }
    }

    #[test]
    fn pending_is_unavailable() {
        let mut i = GrpcInterceptor::new(Never, ScopePolicy::authenticated());
        let mut req = Request::new(());
        req.metadata_mut()
            .insert("authorization", "Bearer a.b.c".parse().unwrap());
        let s = i.call(req).unwrap_err();
        assert_eq!(s.code(), tonic::Code::Unavailable);
        assert_eq!(
            s.metadata().get(crate::reject::RETRY_PUSHBACK).unwrap(),
            "1000"
        );
    }
}
