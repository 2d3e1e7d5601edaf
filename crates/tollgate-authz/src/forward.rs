//! The forward-auth HTTP endpoint ([`ForwardAuth`]): a tower service over
//! `http::Request<B>` for NGINX `auth_request`, Caddy `forward_auth` and Traefik
//! `ForwardAuth`. Any method; the original request comes from headers the gateway
//! sets:
//!
//! | convention | method | request target | used by |
//! |---|---|---|---|
//! | [`Convention::Forwarded`] | `X-Forwarded-Method` | `X-Forwarded-Uri` | Traefik, Caddy |
//! | [`Convention::Original`] | `X-Original-Method` | `X-Original-URI` | NGINX (by configuration) |
//!
//! With [`Convention::Auto`] (the default) whichever is present is used; when headers
//! of both are present, or one header is repeated, the request is refused (403): a
//! client may have added one of them, and the gateway only overwrites its own.
//!
//! Answers: 200 with the identity headers (and, with phantom tokens, `Authorization`
//! carrying the JWT for the upstream); or the refusal (400 / 401 / 403 / 503 with
//! `WWW-Authenticate`, and `Retry-After` on 503) for the gateway to hand to the client;
//! 500 when the gateway sent no original request at all.
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
//!     .realm("orders")
//!     .build()
//!     .await?;
//! let routes = Routes::new([Route::new("/orders", Access::Scopes(all(["orders:read"])))])?;
//! let svc = ForwardAuth::<String>::new(Checkpoint::new(&gate, routes));
//!
//! // accepted
//! let token = key.token().subject("alice").scope("orders:read").sign();
//! let req = http::Request::get("/authz")
//!     .header("x-original-method", "GET")
//!     .header("x-original-uri", "/orders?page=2")
//!     .header("authorization", format!("Bearer {token}"))
//!     .body(String::new())?;
//! let res = svc.clone().oneshot(req).await?;
//! assert_eq!(res.status(), 200);
//! assert_eq!(res.headers()["x-auth-subject"], "alice");
//!
//! // refused: no token → 401 and the challenge to pass back
//! let req = http::Request::get("/authz")
//!     .header("x-forwarded-method", "GET")
//!     .header("x-forwarded-uri", "/orders")
//!     .body(String::new())?;
//! let res = svc.oneshot(req).await?;
//! assert_eq!(res.status(), 401);
//! assert_eq!(res.headers()["www-authenticate"], "Bearer realm=\"orders\"");
//! # Ok(())
//! # }
//! ```

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderMap, HeaderName, Request, Response};

use crate::check::{Check, Checkpoint, DenyReason, OriginalRequest, Verdict};

/// Which headers carry the original request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Convention {
    /// Whichever set is present; both present → refused.
    #[default]
    Auto,
    /// `X-Forwarded-Method` + `X-Forwarded-Uri` only.
    Forwarded,
    /// `X-Original-Method` + `X-Original-URI` only.
    Original,
}

const FWD_METHOD: HeaderName = HeaderName::from_static("x-forwarded-method");
const FWD_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");
const ORIG_METHOD: HeaderName = HeaderName::from_static("x-original-method");
const ORIG_URI: HeaderName = HeaderName::from_static("x-original-uri");

enum Original<'a> {
    Found(&'a str, &'a str),
    Missing,
    Ambiguous,
}

fn one<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Result<Option<&'a str>, ()> {
    let mut all = headers.get_all(name).into_iter();
    let Some(v) = all.next() else {
        return Ok(None);
    };
    if all.next().is_some() {
        return Err(());
    }
    v.to_str().map(Some).map_err(|_| ())
}

fn pair<'a>(
    headers: &'a HeaderMap,
    m: &HeaderName,
    u: &HeaderName,
) -> Result<Option<(&'a str, &'a str)>, ()> {
    match (one(headers, m)?, one(headers, u)?) {
        (None, None) => Ok(None),
        (Some(m), Some(u)) => Ok(Some((m, u))),
        // half of a convention: not something a gateway sends
        _ => Err(()),
    }
}

fn original(headers: &HeaderMap, convention: Convention) -> Original<'_> {
    let fwd = || pair(headers, &FWD_METHOD, &FWD_URI);
    let orig = || pair(headers, &ORIG_METHOD, &ORIG_URI);
    let found = match convention {
        Convention::Forwarded => fwd(),
        Convention::Original => orig(),
        Convention::Auto => match (fwd(), orig()) {
            (Ok(Some(p)), Ok(None)) | (Ok(None), Ok(Some(p))) => Ok(Some(p)),
            (Ok(None), Ok(None)) => Ok(None),
            _ => Err(()),
        },
    };
    match found {
        Ok(Some((m, u))) => Original::Found(m, u),
        Ok(None) => Original::Missing,
        Err(()) => Original::Ambiguous,
    }
}

/// The forward-auth service; see the [module docs](self). `ResBody` is the response
/// body type (empty bodies; e.g. `String` or `axum::body::Body`).
#[must_use]
pub struct ForwardAuth<ResBody = String> {
    checkpoint: Checkpoint,
    convention: Convention,
    _body: PhantomData<fn() -> ResBody>,
}

impl<B> Clone for ForwardAuth<B> {
    fn clone(&self) -> Self {
        ForwardAuth {
            checkpoint: self.checkpoint.clone(),
            convention: self.convention,
            _body: PhantomData,
        }
    }
}

impl<B> fmt::Debug for ForwardAuth<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForwardAuth")
            .field("checkpoint", &self.checkpoint)
            .field("convention", &self.convention)
            .finish()
    }
}

impl<B> ForwardAuth<B> {
    /// The endpoint for `checkpoint`, with [`Convention::Auto`].
    pub fn new(checkpoint: Checkpoint) -> Self {
        ForwardAuth {
            checkpoint,
            convention: Convention::Auto,
            _body: PhantomData,
        }
    }

    /// Reads only this convention's headers.
    pub fn convention(mut self, convention: Convention) -> Self {
        self.convention = convention;
        self
    }
}

impl<ReqBody, ResBody: Default> tower_service::Service<Request<ReqBody>> for ForwardAuth<ResBody> {
    type Response = Response<ResBody>;
    type Error = Infallible;
    type Future = ForwardFuture<ResBody>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let headers = req.headers();
        let check = match original(headers, self.convention) {
            Original::Found(method, uri) => self
                .checkpoint
                .check(&OriginalRequest::new(method, uri, headers)),
            Original::Missing => {
                return ForwardFuture::ready(self.checkpoint.deny(DenyReason::MissingOriginal));
            }
            Original::Ambiguous => {
                tracing::warn!(
                    outcome = "ambiguous_original_request",
                    "original method/URI headers repeated or of both conventions: refused"
                );
                return ForwardFuture::ready(self.checkpoint.deny(DenyReason::Ambiguous));
            }
        };
        ForwardFuture {
            state: FState::Check(check),
            _body: PhantomData,
        }
    }
}

/// Response future of [`ForwardAuth`].
#[must_use]
pub struct ForwardFuture<B> {
    state: FState,
    _body: PhantomData<fn() -> B>,
}

enum FState {
    Check(Check),
    Ready(Option<Verdict>),
}

impl<B> fmt::Debug for ForwardFuture<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ForwardFuture")
    }
}

impl<B> ForwardFuture<B> {
    fn ready(v: Verdict) -> Self {
        ForwardFuture {
            state: FState::Ready(Some(v)),
            _body: PhantomData,
        }
    }
}

impl<B: Default> Future for ForwardFuture<B> {
    type Output = Result<Response<B>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().state {
            FState::Check(c) => Pin::new(c).poll(cx).map(|v| Ok(v.into_response())),
            FState::Ready(v) => match v.take() {
                Some(v) => Poll::Ready(Ok(v.into_response())),
                None => panic!("ForwardFuture polled after completion"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, v.parse().unwrap());
        }
        m
    }

    #[test]
    fn conventions() {
        let f = h(&[("x-forwarded-method", "GET"), ("x-forwarded-uri", "/a")]);
        let o = h(&[("x-original-method", "POST"), ("x-original-uri", "/b")]);
        assert!(matches!(
            original(&f, Convention::Auto),
            Original::Found("GET", "/a")
        ));
        assert!(matches!(
            original(&o, Convention::Auto),
            Original::Found("POST", "/b")
        ));
        assert!(matches!(
            original(&f, Convention::Original),
            Original::Missing
        ));
        let mut both = f.clone();
        both.extend(o.clone());
        assert!(matches!(
            original(&both, Convention::Auto),
            Original::Ambiguous
        ));
        assert!(matches!(
            original(&both, Convention::Original),
            Original::Found("POST", "/b")
        ));
        let half = h(&[("x-original-uri", "/b")]);
        assert!(matches!(
            original(&half, Convention::Auto),
            Original::Ambiguous
        ));
        let twice = h(&[
            ("x-original-method", "GET"),
            ("x-original-uri", "/b"),
            ("x-original-uri", "/c"),
        ]);
        assert!(matches!(
            original(&twice, Convention::Auto),
            Original::Ambiguous
        ));
        assert!(matches!(
            original(&HeaderMap::new(), Convention::Auto),
            Original::Missing
        ));
    }
}
