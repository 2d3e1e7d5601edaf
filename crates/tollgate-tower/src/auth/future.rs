//! The response future of [`Auth`](super::Auth): a small state machine, no boxing.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tollgate_core::authenticate::Authenticate;
use tollgate_core::dpop::ReplayFuture;
use tower_service::Service;

use super::dpop::Admission;
use super::{Binding, Shared, reject_with, span_for};
use crate::audit::Counted;
use crate::reject::Rejector;

pin_project! {
    /// Response future of [`Auth`](super::Auth).
    pub struct ResponseFuture<S, ReqBody, X, A, R>
    where
        S: Service<Request<ReqBody>>,
        A: Authenticate<X>,
    {
        #[pin]
        pub(super) state: State<S, ReqBody, X, A, R>,
    }
}

pin_project! {
    #[project = StateProj]
    pub(super) enum State<S, ReqBody, X, A, R>
    where
        S: Service<Request<ReqBody>>,
        A: Authenticate<X>,
    {
        Reject { response: Option<S::Response> },
        // `count`: count the decision as allowed when the inner service answers (unless
        // a scope check refused and counted it already).
        // `nonce`: a fresh DPoP-Nonce for the response (DPoP with nonces only).
        Inner {
            #[pin] fut: tracing::instrument::Instrumented<S::Future>,
            count: bool,
            nonce: Option<http::HeaderValue>,
        },
        // Only when the authenticator must wait (e.g. key refresh on an unknown kid).
        Waiting {
            auth: A::Future,
            pending: Option<(Request<ReqBody>, S)>,
            shared: Arc<Shared<A, R>>,
            binding: Binding,
        },
        // Only when the DPoP replay store does I/O (Redis): its answer, then the
        // request is forwarded with its claims or refused.
        Replay {
            replay: ReplayFuture,
            pending: Option<(Request<ReqBody>, S, Arc<tollgate_core::Claims<X>>)>,
            shared: Arc<Shared<A, R>>,
        },
    }
}

impl<S, ReqBody, ResBody, X, A, R> State<S, ReqBody, X, A, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    A: Authenticate<X>,
    X: Send + Sync + 'static,
    R: Rejector<ResBody>,
{
    /// What follows the authenticator's answer, on the inline path and after a wait
    /// alike: the DPoP binding check (when DPoP is on), then the request forwarded with
    /// its claims (and a fresh `DPoP-Nonce` for a DPoP request), or the refusal. A
    /// replay store doing I/O moves to the `Replay` state first.
    pub(super) fn decide(
        shared: &Arc<Shared<A, R>>,
        inner: S,
        req: Request<ReqBody>,
        result: Result<Arc<tollgate_core::Claims<X>>, tollgate_core::AuthError>,
        binding: &Binding,
    ) -> Self {
        // the certificate binding (RFC 8705) before the DPoP step, so that a refused
        // request does not spend its proof in the replay store
        let result = result.and_then(|c| shared.mtls.admit(&c, &req).map(|()| c));
        let admitted = match (result, &shared.dpop) {
            (Ok(claims), Some(dpop)) => match dpop.admit(&claims, binding) {
                Ok(Admission::Done) => Ok(claims),
                Ok(Admission::Wait(replay)) => {
                    return State::Replay {
                        replay,
                        pending: Some((req, inner, claims)),
                        shared: shared.clone(),
                    };
                }
                Err(e) => Err(e),
            },
            // DPoP off: a DPoP-bound token is not accepted as a bearer token either (a
            // token copied from a DPoP client must not work here without its key)
            (Ok(claims), None) => tollgate_core::dpop::check_bearer(claims.cnf.as_ref())
                .map(|()| claims)
                .map_err(Into::into),
            (result, _) => result,
        };
        Self::settle(shared, inner, req, admitted, binding.used_dpop())
    }

    /// The request forwarded with its claims (and a fresh `DPoP-Nonce` for a DPoP
    /// request), or refused.
    fn settle(
        shared: &Shared<A, R>,
        mut inner: S,
        mut req: Request<ReqBody>,
        admitted: Result<Arc<tollgate_core::Claims<X>>, tollgate_core::AuthError>,
        used_dpop: bool,
    ) -> Self {
        match admitted {
            Ok(claims) => {
                let nonce = match &shared.dpop {
                    Some(dpop) if used_dpop => {
                        // marks the request as DPoP for a scope check's challenge
                        req.extensions_mut().insert(dpop.challenge().clone());
                        dpop.fresh_nonce()
                    }
                    _ => None,
                };
                let span = span_for(&claims);
                req.extensions_mut().insert(claims);
                State::Inner {
                    fut: tracing::Instrument::instrument(inner.call(req), span),
                    count: true,
                    nonce,
                }
            }
            Err(e) => State::Reject {
                response: Some(reject_with(shared, &e, &req, used_dpop)),
            },
        }
    }
}

impl<S, ReqBody, X, A, R> ResponseFuture<S, ReqBody, X, A, R>
where
    S: Service<Request<ReqBody>>,
    A: Authenticate<X>,
{
    pub(super) fn inner(fut: S::Future, span: tracing::Span, count: bool) -> Self {
        ResponseFuture {
            state: State::Inner {
                fut: tracing::Instrument::instrument(fut, span),
                count,
                nonce: None,
            },
        }
    }

    pub(super) fn reject(response: S::Response) -> Self {
        ResponseFuture {
            state: State::Reject {
                response: Some(response),
            },
        }
    }
}

impl<S, ReqBody, X, A, R> fmt::Debug for ResponseFuture<S, ReqBody, X, A, R>
where
    S: Service<Request<ReqBody>>,
    A: Authenticate<X>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody, X, A, R> Future for ResponseFuture<S, ReqBody, X, A, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    A: Authenticate<X>,
    X: Send + Sync + 'static,
    R: Rejector<ResBody>,
{
    type Output = Result<Response<ResBody>, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let mut this = self.as_mut().project();
            let next = match this.state.as_mut().project() {
                StateProj::Inner { fut, count, nonce } => {
                    let mut result = ready!(fut.poll(cx));
                    if let Some(n) = nonce.take()
                        && let Ok(res) = &mut result
                    {
                        res.headers_mut().insert("dpop-nonce", n);
                    }
                    if *count
                        && let Ok(res) = &result
                        && res.extensions().get::<Counted>().is_none()
                    {
                        crate::audit::record_allowed();
                    }
                    return Poll::Ready(result);
                }
                StateProj::Reject { response } => {
                    return match response.take() {
                        Some(r) => Poll::Ready(Ok(r)),
                        None => panic!("ResponseFuture polled after completion"),
                    };
                }
                StateProj::Waiting {
                    auth,
                    pending,
                    shared,
                    binding,
                } => {
                    let result = ready!(Pin::new(auth).poll(cx));
                    let Some((req, inner)) = pending.take() else {
                        panic!("ResponseFuture polled after completion");
                    };
                    State::decide(shared, inner, req, result, binding)
                }
                StateProj::Replay {
                    replay,
                    pending,
                    shared,
                } => {
                    let answer = ready!(Pin::new(replay).poll(cx));
                    let Some((req, inner, claims)) = pending.take() else {
                        panic!("ResponseFuture polled after completion");
                    };
                    // only a DPoP request waits for the replay store
                    State::settle(
                        shared,
                        inner,
                        req,
                        answer.map(|()| claims).map_err(Into::into),
                        true,
                    )
                }
            };
            this.state.set(next);
        }
    }
}
