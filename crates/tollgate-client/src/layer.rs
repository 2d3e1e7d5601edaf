//! The outgoing layer, [`AddAuthorizationLayer`] (named after tower-http's
//! `AddAuthorization`): sets `Authorization: Bearer` on each request from a
//! [`Propagation`] mode, and drops the cached token when the downstream service
//! answers 401 `invalid_token` (or gRPC `UNAUTHENTICATED`), so the next call gets a
//! fresh one.
//!
//! Works on any `tower::Service<http::Request<B>>`: a tonic `Channel`, a hyper-util
//! legacy `Client`, axum's or reqwest-style clients wrapped as services. The service's
//! error becomes `Box<dyn Error + Send + Sync>` (what tonic's generated clients expect),
//! so a token failure ([`TokenError`]) reaches the caller as an error
//! and the request is not sent. The token is set as a sensitive header value and is
//! never logged.
//!
//! The response future is boxed: the outgoing call does network I/O anyway, and the
//! token step may await a fetch.
//!
//! # Propagation modes
//!
//! | mode | what the next hop receives | when |
//! |---|---|---|
//! | [`Propagation::Exchange`] | a token exchanged (RFC 8693) for the caller's, for the next hop's audience, reduced scopes, `act` naming this service | recommended when acting for a user |
//! | [`Propagation::OwnIdentity`] | this service's own token (client credentials) | calls the service makes for itself |
//! | [`Propagation::ForwardUnchanged`] | the caller's token, as is | **risky**: see below |
//!
//! `ForwardUnchanged` sends the incoming token onwards: the next hop can replay it
//! against every service that token is good for (including this one), its scopes do
//! not shrink, and nobody downstream can tell that this service was in the path. It
//! only works when the token's audience names the next hop too. Prefer `Exchange`.
//!
//! For `Exchange` and `ForwardUnchanged` attach the [`SubjectToken`] of the incoming
//! request to the outgoing request's extensions (a `tonic::Request`'s extensions reach
//! the HTTP request).
//!
//! # Example
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::convert::Infallible;
//! use tower::{ServiceBuilder, ServiceExt as _};
//! use tollgate_client::{AddAuthorizationLayer, ClientAuth, ClientCredentials, Propagation, TokenEndpoint};
//!
//! let idp = tollgate_testkit::DevIdp::builder().start().await.unwrap();
//! let endpoint = TokenEndpoint::discover(idp.issuer()).await.unwrap();
//! // a stand-in downstream service that echoes whether it saw a bearer token
//! let downstream = tower::service_fn(|req: http::Request<()>| async move {
//!     let bearer = req.headers().get("authorization").is_some_and(|v| v.as_bytes().starts_with(b"Bearer "));
//!     Ok::<_, Infallible>(http::Response::new(bearer))
//! });
//!
//! // accepted: own identity, a token was set
//! let cc = ClientCredentials::builder(endpoint.clone().client_auth(ClientAuth::client_secret_basic("demo-full", "demo-full-secret")))
//!     .build().unwrap();
//! let svc = ServiceBuilder::new().layer(AddAuthorizationLayer::new(Propagation::own_identity(cc))).service(downstream.clone());
//! assert!(*svc.oneshot(http::Request::new(())).await.unwrap().body());
//!
//! // rejected: wrong secret → the request is not sent, the caller gets the token error
//! let bad = ClientCredentials::builder(endpoint.client_auth(ClientAuth::client_secret_basic("demo-full", "guess")))
//!     .build().unwrap();
//! let svc = ServiceBuilder::new().layer(AddAuthorizationLayer::new(Propagation::own_identity(bad))).service(downstream);
//! let err = svc.oneshot(http::Request::new(())).await.unwrap_err();
//! assert!(err.to_string().contains("invalid_client"));
//! # });
//! ```

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderValue, Request, Response, StatusCode};
use tower_layer::Layer;
use tower_service::Service;

use tollgate_core::oauth::BoxFuture;

use crate::error::TokenError;
use crate::exchange::TokenExchange;
use crate::source::TokenSource;
use crate::token::{AccessToken, SubjectToken};

/// The error of an [`AddAuthorization`] service: the inner service's error or a
/// [`TokenError`].
pub use tollgate_core::oauth::BoxError;

/// How a service authenticates its outgoing calls.
#[derive(Clone)]
#[non_exhaustive]
pub enum Propagation {
    /// Exchange the request's [`SubjectToken`] (RFC 8693) for a token for the next
    /// hop. Recommended for calls made on behalf of a user.
    Exchange(Arc<TokenExchange>),
    /// This service's own token (e.g. [`ClientCredentials`](crate::ClientCredentials)).
    OwnIdentity(Arc<dyn TokenSource>),
    /// **Risky**: forward the request's [`SubjectToken`] unchanged (see the
    /// [module documentation](self)).
    ForwardUnchanged,
}

impl fmt::Debug for Propagation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Propagation::Exchange(x) => f.debug_tuple("Exchange").field(x).finish(),
            Propagation::OwnIdentity(_) => f.write_str("OwnIdentity(..)"),
            Propagation::ForwardUnchanged => f.write_str("ForwardUnchanged"),
        }
    }
}

impl Propagation {
    /// [`Propagation::Exchange`].
    #[must_use]
    pub fn exchange(exchange: TokenExchange) -> Self {
        Propagation::Exchange(Arc::new(exchange))
    }

    /// [`Propagation::OwnIdentity`].
    #[must_use]
    pub fn own_identity(source: impl TokenSource) -> Self {
        Propagation::OwnIdentity(Arc::new(source))
    }

    /// [`Propagation::ForwardUnchanged`]: the name says it; read the module docs first.
    #[must_use]
    pub fn forward_unchanged_risky() -> Self {
        Propagation::ForwardUnchanged
    }

    /// The token for one outgoing request.
    pub(crate) fn token(
        &self,
        subject: Option<SubjectToken>,
    ) -> BoxFuture<'static, Result<AccessToken, TokenError>> {
        match self {
            Propagation::Exchange(x) => {
                let x = x.clone();
                Box::pin(async move {
                    let subject = subject.ok_or(TokenError::NoSubjectToken)?;
                    x.exchange(&subject).await
                })
            }
            Propagation::OwnIdentity(s) => {
                let s = s.clone();
                Box::pin(async move { s.token().await })
            }
            Propagation::ForwardUnchanged => Box::pin(async move {
                subject
                    .map(|s| AccessToken::new(s.secret()))
                    .ok_or(TokenError::NoSubjectToken)
            }),
        }
    }

    /// The DPoP key of the mode's tokens (none for forward-unchanged).
    pub(crate) fn dpop_key(&self) -> Option<&crate::DpopKey> {
        match self {
            Propagation::Exchange(x) => x.dpop_key(),
            Propagation::OwnIdentity(s) => s.dpop_key(),
            Propagation::ForwardUnchanged => None,
        }
    }

    pub(crate) fn invalidate(&self, subject: Option<&SubjectToken>, token: &AccessToken) {
        match self {
            Propagation::Exchange(x) => {
                if let Some(s) = subject {
                    x.invalidate(s, token);
                }
            }
            Propagation::OwnIdentity(s) => s.invalidate(token),
            Propagation::ForwardUnchanged => {}
        }
    }
}

/// Sets `Authorization: Bearer` on outgoing requests (replacing any already set).
#[derive(Debug, Clone)]
#[must_use]
pub struct AddAuthorizationLayer {
    mode: Propagation,
}

impl AddAuthorizationLayer {
    /// A layer for `mode`.
    pub fn new(mode: Propagation) -> Self {
        AddAuthorizationLayer { mode }
    }
}

impl<S> Layer<S> for AddAuthorizationLayer {
    type Service = AddAuthorization<S>;
    fn layer(&self, inner: S) -> AddAuthorization<S> {
        AddAuthorization {
            inner,
            mode: self.mode.clone(),
        }
    }
}

/// The service of [`AddAuthorizationLayer`].
#[derive(Debug, Clone)]
pub struct AddAuthorization<S> {
    inner: S,
    mode: Propagation,
}

impl<S> AddAuthorization<S> {
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

/// True for answers that say the token itself was refused: HTTP 401 with
/// `error="invalid_token"` (or a bare Bearer challenge), or gRPC `UNAUTHENTICATED`
/// (`grpc-status: 16` in a trailers-only answer).
pub(crate) fn token_refused<B>(res: &Response<B>) -> bool {
    if res.status() == StatusCode::UNAUTHORIZED {
        return res
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .any(|v| v.to_str().is_ok_and(|s| s.contains("invalid_token")));
    }
    res.headers()
        .get("grpc-status")
        .is_some_and(|v| v.as_bytes() == b"16")
}

impl<S, B, ResB> Service<Request<B>> for AddAuthorization<S>
where
    S: Service<Request<B>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: Send + 'static,
    ResB: Send + 'static,
{
    type Response = Response<ResB>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Response<ResB>, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        // the service that was polled ready handles this request
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let mode = self.mode.clone();
        let subject = req.extensions().get::<SubjectToken>().cloned();
        let token = mode.token(subject.clone());
        Box::pin(async move {
            let token = token.await?;
            let mut value =
                HeaderValue::try_from(format!("Bearer {}", token.secret())).map_err(|_| {
                    TokenError::InvalidResponse("the access token is not a header value")
                })?;
            value.set_sensitive(true);
            req.headers_mut().insert(AUTHORIZATION, value);
            let res = inner.call(req).await.map_err(Into::into)?;
            if token_refused(&res) {
                tracing::debug!("downstream refused the token; dropping it from the cache");
                mode.invalidate(subject.as_ref(), &token);
            }
            Ok(res)
        })
    }
}
