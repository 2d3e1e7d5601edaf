//! Per-route authorization: [`RequireScopeLayer`].

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tollgate_core::scope::ScopePolicy;
use tollgate_core::{AuthError, Claims};
use tower_layer::Layer;
use tower_service::Service;

use crate::reject::{BearerRejector, Rejector};

struct Config<R> {
    policy: ScopePolicy,
    rejector: R,
}

/// Checks a [`ScopePolicy`] against the `Arc<Claims<X>>` that [`AuthLayer`](crate::AuthLayer)
/// inserted. Not met → 403 `insufficient_scope` with `scope="..."`; no claims at all → 500
/// and an error log (the layers were stacked wrongly, or `X` differs from the auth
/// layer's), never 401.
///
/// `X` must be the same claims type as the [`AuthLayer`](crate::AuthLayer)'s.
#[must_use]
pub struct RequireScopeLayer<X = (), R = BearerRejector> {
    config: Arc<Config<R>>,
    _claims: PhantomData<fn() -> X>,
}

impl<X, R> Clone for RequireScopeLayer<X, R> {
    fn clone(&self) -> Self {
        RequireScopeLayer {
            config: self.config.clone(),
            _claims: PhantomData,
        }
    }
}

impl<X, R> fmt::Debug for RequireScopeLayer<X, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireScopeLayer")
            .field("policy", &self.config.policy)
            .finish_non_exhaustive()
    }
}

impl<X> RequireScopeLayer<X, BearerRejector> {
    /// Requires `policy`, answering refusals per RFC 6750 (realm `api`).
    pub fn new(policy: ScopePolicy) -> Self {
        Self::with_rejector(policy, BearerRejector::default())
    }
}

impl<X, R> RequireScopeLayer<X, R> {
    /// Requires `policy`, answering refusals with `rejector`.
    pub fn with_rejector(policy: ScopePolicy, rejector: R) -> Self {
        RequireScopeLayer {
            config: Arc::new(Config { policy, rejector }),
            _claims: PhantomData,
        }
    }

    /// The policy.
    #[must_use]
    pub fn policy(&self) -> &ScopePolicy {
        &self.config.policy
    }
}

impl<S, X, R> Layer<S> for RequireScopeLayer<X, R> {
    type Service = RequireScope<S, X, R>;
    fn layer(&self, inner: S) -> Self::Service {
        RequireScope {
            inner,
            config: self.config.clone(),
            _claims: PhantomData,
        }
    }
}

/// The service built by [`RequireScopeLayer`].
pub struct RequireScope<S, X = (), R = BearerRejector> {
    inner: S,
    config: Arc<Config<R>>,
    _claims: PhantomData<fn() -> X>,
}

impl<S: Clone, X, R> Clone for RequireScope<S, X, R> {
    fn clone(&self) -> Self {
        RequireScope {
            inner: self.inner.clone(),
            config: self.config.clone(),
            _claims: PhantomData,
        }
    }
}

impl<S: fmt::Debug, X, R> fmt::Debug for RequireScope<S, X, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireScope")
            .field("inner", &self.inner)
            .field("policy", &self.config.policy)
            .finish_non_exhaustive()
    }
}

impl<S, X, R> RequireScope<S, X, R> {
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
        tracing::debug!(
            sub = claims.sub.as_deref(),
            required = ?policy,
            outcome = "insufficient_scope",
            "scope policy not met"
        );
        Err(AuthError::InsufficientScope {
            required: policy.challenge_scope(),
        })
    }
}

pin_project_lite::pin_project! {
    /// Response future of [`RequireScope`].
    pub struct ScopeResponseFuture<F, B> {
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

impl<F, B> fmt::Debug for ScopeResponseFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeResponseFuture")
            .finish_non_exhaustive()
    }
}

impl<F, B, E> std::future::Future for ScopeResponseFuture<F, B>
where
    F: std::future::Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            ScopeProj::Inner { fut } => fut.poll(cx),
            ScopeProj::Reject { response } => match response.take() {
                Some(r) => Poll::Ready(Ok(r)),
                None => panic!("ScopeResponseFuture polled after completion"),
            },
        }
    }
}

impl<S, X, R, ReqBody, ResBody> Service<Request<ReqBody>> for RequireScope<S, X, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    X: Send + Sync + 'static,
    R: Rejector<ResBody>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ScopeResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        match check_scopes::<X>(req.extensions(), &self.config.policy) {
            Ok(()) => ScopeResponseFuture {
                state: ScopeState::Inner {
                    fut: self.inner.call(req),
                },
            },
            Err(e) => ScopeResponseFuture {
                state: ScopeState::Reject {
                    response: Some(self.config.rejector.reject(&e)),
                },
            },
        }
    }
}
