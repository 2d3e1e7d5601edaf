//! Authorization after authentication: one scope-check middleware, generic over how
//! the policy for a request is chosen ([`SelectPolicy`]): one fixed policy per route
//! ([`RequireScopeLayer`], an alias of [`ScopeLayer`] over a [`ScopePolicy`]) or one per
//! gRPC method (`tollgate_tonic::MethodScopes`).

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::WWW_AUTHENTICATE;
use http::{HeaderValue, Request, Response};
use tollgate_core::scope::ScopePolicy;
use tollgate_core::{AuthError, Claims};
use tower_layer::Layer;
use tower_service::Service;

use crate::auth::DpopChallenge;
use crate::reject::{BearerRejector, Rejector};

/// Chooses the scope policy that applies to a request.
pub trait SelectPolicy: Send + Sync + 'static {
    /// The policy for `request` (by route, method path, ...).
    fn select<B>(&self, request: &Request<B>) -> &ScopePolicy;
}

/// One policy for every request the layer wraps (a route).
impl SelectPolicy for ScopePolicy {
    fn select<B>(&self, _: &Request<B>) -> &ScopePolicy {
        self
    }
}

struct Config<P, R> {
    policies: P,
    rejector: R,
}

/// Checks the policy that `P` selects against the `Arc<Claims<X>>` that
/// [`AuthLayer`](crate::AuthLayer) inserted. Not met → 403 `insufficient_scope` with
/// `scope="..."` (gRPC: `PERMISSION_DENIED`; the `DPoP` challenge of RFC 9449 §7.1
/// when the request was admitted with the `DPoP` scheme, see [`DpopChallenge`]); no claims at all → 500 / `INTERNAL` and
/// an error log (the layers were stacked wrongly, or `X` differs from the auth
/// layer's), never 401.
///
/// `X` must be the same claims type as the [`AuthLayer`](crate::AuthLayer)'s.
#[must_use]
pub struct ScopeLayer<X = (), P = ScopePolicy, R = BearerRejector> {
    config: Arc<Config<P, R>>,
    _claims: PhantomData<fn() -> X>,
}

/// Per-route authorization: [`ScopeLayer`] with one fixed [`ScopePolicy`].
pub type RequireScopeLayer<X = (), R = BearerRejector> = ScopeLayer<X, ScopePolicy, R>;

/// The service built by [`RequireScopeLayer`].
pub type RequireScope<S, X = (), R = BearerRejector> = ScopeCheck<S, X, ScopePolicy, R>;

impl<X, P, R> Clone for ScopeLayer<X, P, R> {
    fn clone(&self) -> Self {
        ScopeLayer {
            config: self.config.clone(),
            _claims: PhantomData,
        }
    }
}

impl<X, P: fmt::Debug, R> fmt::Debug for ScopeLayer<X, P, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeLayer")
            .field("policy", &self.config.policies)
            .finish_non_exhaustive()
    }
}

impl<X> ScopeLayer<X, ScopePolicy, BearerRejector> {
    /// Requires `policy`, answering refusals per RFC 6750 (realm `api`).
    pub fn new(policy: ScopePolicy) -> Self {
        Self::with_rejector(policy, BearerRejector::default())
    }
}

impl<X, P, R> ScopeLayer<X, P, R> {
    /// Requires the policies `policies` selects, answering refusals with `rejector`.
    pub fn with_rejector(policies: P, rejector: R) -> Self {
        ScopeLayer {
            config: Arc::new(Config { policies, rejector }),
            _claims: PhantomData,
        }
    }

    /// The policy (or the policy map).
    #[must_use]
    pub fn policy(&self) -> &P {
        &self.config.policies
    }

    /// The rejector.
    #[must_use]
    pub fn rejector(&self) -> &R {
        &self.config.rejector
    }
}

impl<S, X, P, R> Layer<S> for ScopeLayer<X, P, R> {
    type Service = ScopeCheck<S, X, P, R>;
    fn layer(&self, inner: S) -> Self::Service {
        ScopeCheck {
            inner,
            config: self.config.clone(),
            _claims: PhantomData,
        }
    }
}

/// The service built by [`ScopeLayer`].
pub struct ScopeCheck<S, X = (), P = ScopePolicy, R = BearerRejector> {
    inner: S,
    config: Arc<Config<P, R>>,
    _claims: PhantomData<fn() -> X>,
}

impl<S: Clone, X, P, R> Clone for ScopeCheck<S, X, P, R> {
    fn clone(&self) -> Self {
        ScopeCheck {
            inner: self.inner.clone(),
            config: self.config.clone(),
            _claims: PhantomData,
        }
    }
}

impl<S: fmt::Debug, X, P: fmt::Debug, R> fmt::Debug for ScopeCheck<S, X, P, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeCheck")
            .field("inner", &self.inner)
            .field("policy", &self.config.policies)
            .finish_non_exhaustive()
    }
}

impl<S, X, P, R> ScopeCheck<S, X, P, R> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }
    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// Checks `policy` against the claims in `extensions` (shared by the HTTP and gRPC layers).
///
/// # Errors
///
/// [`AuthError::Misconfigured`] when no `Arc<Claims<X>>` is present,
/// [`AuthError::InsufficientScope`] when the policy is not met.
pub fn check_scopes<X: Send + Sync + 'static>(
    extensions: &http::Extensions,
    policy: &ScopePolicy,
) -> Result<(), AuthError> {
    let Some(claims) = extensions.get::<Arc<Claims<X>>>() else {
        tracing::error!(
            claims_type = std::any::type_name::<X>(),
            "scope check without verified claims: stack the AuthLayer (with the same claims type) outside RequireScopeLayer"
        );
        return Err(AuthError::Misconfigured);
    };
    if policy.is_satisfied_by(&claims.scopes) {
        Ok(())
    } else {
        Err(AuthError::InsufficientScope {
            required: policy.challenge_scope(),
        })
    }
}

pin_project_lite::pin_project! {
    /// Response future of [`ScopeCheck`]: the inner future, or the refusal.
    pub struct ScopeFuture<F, B> {
        #[pin]
        state: ScopeState<F, B>,
    }
}

pin_project_lite::pin_project! {
    #[project = ScopeProj]
    enum ScopeState<F, B> {
        Reject { response: Option<Response<B>> },
        Inner { #[pin] fut: F },
    }
}

impl<F, B> fmt::Debug for ScopeFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> std::future::Future for ScopeFuture<F, B>
where
    F: std::future::Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            ScopeProj::Inner { fut } => fut.poll(cx),
            ScopeProj::Reject { response } => match response.take() {
                Some(r) => Poll::Ready(Ok(r)),
                None => panic!("ScopeFuture polled after completion"),
            },
        }
    }
}

impl<S, X, P, R, ReqBody, ResBody> Service<Request<ReqBody>> for ScopeCheck<S, X, P, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    X: Send + Sync + 'static,
    P: SelectPolicy,
    R: Rejector<ResBody>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ScopeFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let policy = self.config.policies.select(&req);
        match check_scopes::<X>(req.extensions(), policy) {
            Ok(()) => ScopeFuture {
                state: ScopeState::Inner {
                    fut: self.inner.call(req),
                },
            },
            Err(e) => {
                let claims = req.extensions().get::<Arc<Claims<X>>>();
                crate::audit::refusal(
                    &e,
                    req.method(),
                    req.uri().path(),
                    crate::audit::peer_addr(req.extensions()),
                    claims.map(|c| &**c),
                );
                let mut response =
                    self.config
                        .rejector
                        .reject_request(&e, req.method(), req.uri().path());
                // RFC 9449 §7.1: a request made with the DPoP scheme gets the DPoP
                // challenge (HTTP header; gRPC metadata of the trailers-only response)
                if matches!(e, AuthError::InsufficientScope { .. })
                    && let Some(dpop) = req.extensions().get::<DpopChallenge>()
                    && let Ok(v) = HeaderValue::from_str(&dpop.challenge(Some(&e)))
                {
                    response.headers_mut().insert(WWW_AUTHENTICATE, v);
                }
                response.extensions_mut().insert(crate::audit::Counted);
                ScopeFuture {
                    state: ScopeState::Reject {
                        response: Some(response),
                    },
                }
            }
        }
    }
}
