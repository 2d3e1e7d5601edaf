//! The authentication layer.

mod dpop;
mod future;

use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use http::{Request, Response};
use tollgate_core::AuthError;
use tollgate_core::authenticate::{Authenticate, Authenticator};
use tollgate_core::bearer::extract_bearer;
use tollgate_core::error::RequestError;
use tower_layer::Layer;
use tower_service::Service;

use dpop::Binding;
pub use dpop::{Dpop, DpopChallenge, DpopMode};
pub use future::ResponseFuture;
use future::State;

use crate::reject::{BearerRejector, Rejector};

/// Whether a request without a token may pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Mode {
    /// A token is required (the default): no token → 401 with a bare challenge.
    #[default]
    Required,
    /// A request without any token passes through without claims; a token that is
    /// present but invalid is still refused.
    Optional,
}

pub(crate) struct Shared<A, R> {
    pub(crate) auth: A,
    pub(crate) rejector: R,
    pub(crate) mode: Mode,
    /// DPoP (RFC 9449); `None` is today's Bearer-only behaviour.
    pub(crate) dpop: Option<Dpop>,
    /// Where the client certificate of certificate-bound tokens (RFC 8705) comes from.
    pub(crate) mtls: crate::mtls::Mtls,
}

/// Layer that authenticates bearer tokens; see the [crate docs](crate).
///
/// `X` is the application's own claims type (`()` for none); handlers find
/// `Arc<Claims<X>>` in the request extensions. `A` is the authenticator (the one
/// [`Authenticator`] unless you bring your own [`Authenticate`]). Usually handed out
/// by [`Tollgate::layer`](crate::Tollgate::layer).
#[must_use]
pub struct AuthLayer<X = (), A = Authenticator, R = BearerRejector> {
    shared: Arc<Shared<A, R>>,
    _claims: PhantomData<fn() -> X>,
}

impl<X, A, R> Clone for AuthLayer<X, A, R> {
    fn clone(&self) -> Self {
        AuthLayer {
            shared: self.shared.clone(),
            _claims: PhantomData,
        }
    }
}

impl<X, A, R: fmt::Debug> fmt::Debug for AuthLayer<X, A, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthLayer")
            .field("rejector", &self.shared.rejector)
            .field("mode", &self.shared.mode)
            .finish_non_exhaustive()
    }
}

impl<X, A> AuthLayer<X, A, BearerRejector> {
    /// Authenticates with `auth`, answering refusals per RFC 6750 with realm `api`.
    pub fn new(auth: A) -> Self {
        AuthLayer {
            shared: Arc::new(Shared {
                auth,
                rejector: BearerRejector::default(),
                mode: Mode::Required,
                dpop: None,
                mtls: crate::mtls::Mtls::default(),
            }),
            _claims: PhantomData,
        }
    }
}

impl<X, A, R> AuthLayer<X, A, R> {
    fn map_shared<R2>(self, f: impl FnOnce(A, R, Mode) -> Shared<A, R2>) -> AuthLayer<X, A, R2>
    where
        A: Clone,
        R: Clone,
    {
        let s = Arc::try_unwrap(self.shared).unwrap_or_else(|arc| Shared {
            auth: arc.auth.clone(),
            rejector: arc.rejector.clone(),
            mode: arc.mode,
            dpop: arc.dpop.clone(),
            mtls: arc.mtls,
        });
        let (dpop, mtls) = (s.dpop, s.mtls);
        let mut shared = f(s.auth, s.rejector, s.mode);
        shared.dpop = dpop;
        shared.mtls = mtls;
        AuthLayer {
            shared: Arc::new(shared),
            _claims: PhantomData,
        }
    }

    /// Uses another rejector (e.g. a `BearerRejector` with another realm, or the gRPC one).
    pub fn rejector<R2>(self, rejector: R2) -> AuthLayer<X, A, R2>
    where
        A: Clone,
        R: Clone,
    {
        self.map_shared(|auth, _, mode| Shared {
            auth,
            rejector,
            mode,
            dpop: None,
            mtls: crate::mtls::Mtls::default(),
        })
    }

    /// Sets the [`Mode`].
    pub fn mode(self, mode: Mode) -> Self
    where
        A: Clone,
        R: Clone,
    {
        self.map_shared(|auth, rejector, _| Shared {
            auth,
            rejector,
            mode,
            dpop: None,
            mtls: crate::mtls::Mtls::default(),
        })
    }

    /// Accepts DPoP-bound tokens (RFC 9449) as `dpop` says; [`DpopMode::Off`] (the
    /// default) keeps today's Bearer-only behaviour byte for byte.
    pub fn dpop(self, dpop: Dpop) -> Self
    where
        A: Clone,
        R: Clone,
    {
        let dpop = (dpop.mode() != DpopMode::Off).then_some(dpop);
        self.update(|shared| shared.dpop = dpop)
    }

    /// Where the client certificate of certificate-bound tokens (RFC 8705) comes from
    /// (see [`crate::mtls`]); the default is the request's [`ClientCertificate`]
    /// extension. The binding check itself is always on.
    ///
    /// [`ClientCertificate`]: crate::mtls::ClientCertificate
    pub fn mtls(self, mtls: crate::mtls::Mtls) -> Self
    where
        A: Clone,
        R: Clone,
    {
        self.update(|shared| shared.mtls = mtls)
    }

    /// This layer with `f` applied to its own copy of the shared settings.
    fn update(self, f: impl FnOnce(&mut Shared<A, R>)) -> Self
    where
        A: Clone,
        R: Clone,
    {
        // map_shared hands back a layer whose `Arc` nobody else holds
        let mut layer = self.map_shared(|auth, rejector, mode| Shared {
            auth,
            rejector,
            mode,
            dpop: None,
            mtls: crate::mtls::Mtls::default(),
        });
        if let Some(shared) = Arc::get_mut(&mut layer.shared) {
            f(shared);
        }
        layer
    }

    /// Shorthand for `.mode(Mode::Optional)`.
    pub fn optional(self) -> Self
    where
        A: Clone,
        R: Clone,
    {
        self.mode(Mode::Optional)
    }
}

impl<S, X, A, R> Layer<S> for AuthLayer<X, A, R> {
    type Service = Auth<S, X, A, R>;
    fn layer(&self, inner: S) -> Self::Service {
        Auth {
            inner,
            shared: self.shared.clone(),
            _claims: PhantomData,
        }
    }
}

/// The service built by [`AuthLayer`].
pub struct Auth<S, X = (), A = Authenticator, R = BearerRejector> {
    inner: S,
    shared: Arc<Shared<A, R>>,
    _claims: PhantomData<fn() -> X>,
}

impl<S: Clone, X, A, R> Clone for Auth<S, X, A, R> {
    fn clone(&self) -> Self {
        Auth {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
            _claims: PhantomData,
        }
    }
}

impl<S: fmt::Debug, X, A, R: fmt::Debug> fmt::Debug for Auth<S, X, A, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("inner", &self.inner)
            .field("rejector", &self.shared.rejector)
            .finish_non_exhaustive()
    }
}

impl<S, X, A, R> Auth<S, X, A, R> {
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

impl<S, X, A, R, ReqBody, ResBody> Service<Request<ReqBody>> for Auth<S, X, A, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    A: Authenticate<X>,
    X: Send + Sync + 'static,
    R: Rejector<ResBody>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, X, A, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        // the service that was polled ready gets the request
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = &*self.shared;
        let (token, binding) = match presented(shared, &req) {
            Ok(p) => p,
            Err(Early::Anonymous) => {
                tollgate_core::metrics::record_anonymous();
                return ResponseFuture::inner(inner.call(req), tracing::Span::none(), false);
            }
            Err(Early::Refuse(e, used_dpop)) => {
                return ResponseFuture::reject(reject_with(shared, &e, &req, used_dpop));
            }
        };
        let mut fut = shared.auth.authenticate(token);
        // Poll once inline: a known key answers at once, with no state kept.
        let state = match Pin::new(&mut fut).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(result) => State::decide(&self.shared, inner, req, result, &binding),
            Poll::Pending => State::Waiting {
                auth: fut,
                pending: Some((req, inner)),
                shared: self.shared.clone(),
                binding,
            },
        };
        ResponseFuture { state }
    }
}

/// Why a request is answered before its token is verified.
enum Early {
    /// No token, and the layer lets such requests through without claims.
    Anonymous,
    /// Refused; `true` when the request came with the DPoP scheme.
    Refuse(AuthError, bool),
}

/// The token the request presents and what its binding must be checked against:
/// `Authorization: Bearer` only (DPoP off, today's rules), or either scheme with the
/// DPoP proof verified before the token (DPoP on).
fn presented<'r, A, R, B>(
    shared: &Shared<A, R>,
    req: &'r Request<B>,
) -> Result<(&'r str, Binding), Early> {
    use tollgate_core::dpop::{Presented, ProofRequest, extract_authorization, extract_proof};
    let missing = |e: RequestError| match e {
        RequestError::Missing if shared.mode == Mode::Optional => Early::Anonymous,
        e => Early::Refuse(e.into(), false),
    };
    let Some(dpop) = &shared.dpop else {
        return extract_bearer(req.headers())
            .map(|t| (t, Binding::Off))
            .map_err(missing);
    };
    match extract_authorization(req.headers()).map_err(missing)? {
        Presented::Bearer(_) if dpop.mode() == DpopMode::Required => {
            Err(Early::Refuse(RequestError::Missing.into(), false))
        }
        Presented::Bearer(t) => Ok((t, Binding::Bearer)),
        Presented::Dpop(t) => extract_proof(req.headers())
            .and_then(|proof| {
                let url = dpop
                    .expected_url(req)
                    .ok_or(tollgate_core::error::DpopError::UrlMismatch)?;
                let request = ProofRequest::new(req.method().as_str(), &url).access_token(t);
                dpop.verifier().verify(proof, &request, dpop::now())
            })
            .map(|p| (t, Binding::Dpop(Box::new(p))))
            .map_err(|e| Early::Refuse(e.into(), true)),
    }
}

/// One span per authenticated request (cheap when no subscriber listens). It names the
/// issuer and the client, never the subject, the token or its `jti`.
pub(crate) fn span_for<X>(claims: &tollgate_core::Claims<X>) -> tracing::Span {
    tracing::info_span!(
        "tollgate",
        iss = claims.iss.as_deref(),
        client_id = claims.client(),
        outcome = "authenticated",
    )
}

/// Counts and audits the refusal (see [`crate::audit`]), then builds its response.
pub(crate) fn reject<A, R: Rejector<B>, B, ReqBody>(
    shared: &Shared<A, R>,
    e: &AuthError,
    req: &Request<ReqBody>,
) -> Response<B> {
    crate::audit::refusal::<()>(
        e,
        req.method(),
        req.uri().path(),
        crate::audit::peer_addr(req.extensions()),
        None,
    );
    shared
        .rejector
        .reject_request(e, req.method(), req.uri().path())
}

/// [`reject`], with the DPoP challenges when DPoP is on (`used_dpop`: the request
/// came with the DPoP scheme).
pub(crate) fn reject_with<A, R: Rejector<B>, B, ReqBody>(
    shared: &Shared<A, R>,
    e: &AuthError,
    req: &Request<ReqBody>,
    used_dpop: bool,
) -> Response<B> {
    let mut res = reject(shared, e, req);
    if let Some(dpop) = &shared.dpop {
        dpop.decorate(&mut res, e, used_dpop);
    }
    res
}
