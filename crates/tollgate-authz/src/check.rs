//! The decision, front-end neutral: [`Checkpoint::check`] takes the original request
//! (method, request target, headers) and answers a [`Verdict`]; the forward-auth HTTP
//! service ([`crate::forward`]) and the Envoy ext_authz service ([`crate::ext_authz`])
//! only translate it.
//!
//! Order: the route first (no rule → 403 without looking at the token; a public rule →
//! allowed without one), then the token (the gate's authenticator: 400 / 401 / 503 per
//! the wire table), then the rule's scopes (403 `insufficient_scope`).
//!
//! # Example
//!
//! ```
//! use tollgate_authz::{Access, Checkpoint, OriginalRequest, Route, Routes, Verdict};
//! use tollgate_core::KeySet;
//! use tollgate_testkit::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, TestKey};
//! use tollgate_tower::{Tollgate, scopes::all};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = TestKey::ed25519("k1");
//! let gate = Tollgate::builder()
//!     .issuer(DEFAULT_ISSUER)
//!     .audience(DEFAULT_AUDIENCE)
//!     .keys(KeySet::from_keys([key.public_key()]))
//!     .build()
//!     .await?;
//! let routes = Routes::new([Route::new("/orders", Access::Scopes(all(["orders:read"]))).methods(["GET"])])?;
//! let checkpoint = Checkpoint::new(&gate, routes);
//!
//! let mut headers = http::HeaderMap::new();
//! let token = key.token().subject("alice").scope("orders:read").sign();
//! headers.insert("authorization", format!("Bearer {token}").parse()?);
//! // accepted: the upstream learns who called
//! let Verdict::Allow(allow) = checkpoint.check(&OriginalRequest::new("GET", "/orders", &headers)).await else { panic!() };
//! assert!(allow.headers().iter().any(|(n, v)| n == "x-auth-subject" && v == "alice"));
//! // refused: no rule for POST
//! let Verdict::Deny(deny) = checkpoint.check(&OriginalRequest::new("POST", "/orders", &headers)).await else { panic!() };
//! assert_eq!(deny.status(), 403);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use http::header::{AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use tollgate_client::{AccessToken, SubjectToken, TokenError, TokenExchange};
use tollgate_core::AuthError;
use tollgate_core::authenticate::{Authenticate, AuthenticateFuture, Authenticator};
use tollgate_core::bearer::extract_bearer;
use tollgate_core::introspect::looks_like_jwt;
use tollgate_tower::{BearerRejector, Tollgate};

use crate::identity::IdentityHeaders;
use crate::routes::{Access, Routes};

/// The request the gateway is asking about.
#[derive(Debug, Clone, Copy)]
pub struct OriginalRequest<'a> {
    method: &'a str,
    uri: &'a str,
    headers: &'a HeaderMap,
}

impl<'a> OriginalRequest<'a> {
    /// `method` (e.g. `GET`), `uri` (the request target: path and optional query, as
    /// the client sent it) and the headers that carry the token.
    #[must_use]
    pub fn new(method: &'a str, uri: &'a str, headers: &'a HeaderMap) -> Self {
        OriginalRequest {
            method,
            uri,
            headers,
        }
    }
}

pub(crate) struct Inner {
    auth: Authenticator,
    rejector: BearerRejector,
    routes: Routes,
    identity: IdentityHeaders,
    forward_token: bool,
    phantom: Option<TokenExchange>,
}

/// The gateway's checkpoint: a gate, route rules, identity header names. `Clone` is
/// an `Arc` clone.
#[derive(Clone)]
#[must_use]
pub struct Checkpoint {
    inner: Arc<Inner>,
}

impl fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Checkpoint")
            .field("routes", &self.inner.routes)
            .field("identity", &self.inner.identity)
            .field("forward_token", &self.inner.forward_token)
            .finish_non_exhaustive()
    }
}

impl Checkpoint {
    /// A checkpoint over `gate`'s authenticator and challenge settings.
    pub fn new(gate: &Tollgate, routes: Routes) -> Self {
        Self::from_parts(
            gate.authenticator().clone(),
            gate.bearer_rejector().clone(),
            routes,
        )
    }

    /// A checkpoint over an authenticator and challenge settings (e.g. of a gate with
    /// your own claims type: `gate.authenticator().clone()`, `gate.bearer_rejector().clone()`).
    pub fn from_parts(auth: Authenticator, rejector: BearerRejector, routes: Routes) -> Self {
        Checkpoint {
            inner: Arc::new(Inner {
                auth,
                rejector,
                routes,
                identity: IdentityHeaders::default(),
                forward_token: true,
                phantom: None,
            }),
        }
    }

    fn map(self, f: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = match Arc::try_unwrap(self.inner) {
            Ok(i) => i,
            Err(arc) => Inner {
                auth: arc.auth.clone(),
                rejector: arc.rejector.clone(),
                routes: arc.routes.clone(),
                identity: arc.identity.clone(),
                forward_token: arc.forward_token,
                phantom: arc.phantom.clone(),
            },
        };
        f(&mut inner);
        Checkpoint {
            inner: Arc::new(inner),
        }
    }

    /// The identity header names (default `X-Auth-Subject`, `X-Auth-Client-Id`,
    /// `X-Auth-Scopes`, `X-Auth-Issuer`).
    pub fn identity_headers(self, identity: IdentityHeaders) -> Self {
        self.map(|i| i.identity = identity)
    }

    /// Whether the upstream may still see the client's `Authorization` header (default
    /// true). With `false`, allowed answers ask the gateway to remove it (Envoy:
    /// `headers_to_remove`; HTTP: `x-envoy-auth-headers-to-remove`); NGINX and Caddy
    /// drop it by their own configuration (see the README).
    pub fn forward_token(self, on: bool) -> Self {
        self.map(|i| i.forward_token = on)
    }

    /// Phantom tokens: for an opaque token (one that is not a JWT, checked by
    /// introspection), hand the upstream a JWT instead, got by an RFC 8693 exchange
    /// with `exchange` (its audience is the upstream's) and cached per token until
    /// shortly before the JWT expires (`tollgate-client`'s exchange cache; concurrent
    /// requests with one token exchange once). The allowed answer then carries
    /// `Authorization: Bearer <jwt>` for the gateway to send upstream; when the
    /// exchange fails the request is refused with 503 (`Retry-After`), never sent on
    /// with the opaque token.
    pub fn phantom(self, exchange: TokenExchange) -> Self {
        self.map(|i| i.phantom = Some(exchange))
    }

    /// The identity header names in use.
    pub fn identity(&self) -> &IdentityHeaders {
        &self.inner.identity
    }

    /// Decides about `req`. Ready at once on the warm path (known key, cached token);
    /// waits only when the authenticator does (key refresh, introspection).
    pub fn check(&self, req: &OriginalRequest<'_>) -> Check {
        let inner = &*self.inner;
        let Some(rule) = inner.routes.find_index(req.method, req.uri) else {
            tracing::debug!(method = %req.method, outcome = "no_route", "no route rule: refused");
            return Check::done(Verdict::Deny(Deny::new(inner, DenyReason::NoRoute)));
        };
        if matches!(inner.routes.rules()[rule].access(), Access::Public) {
            return Check::done(Verdict::Allow(allow(inner, None)));
        }
        let token = match extract_bearer(req.headers) {
            Ok(t) => t,
            Err(e) => {
                return Check::done(Verdict::Deny(Deny::new(inner, DenyReason::Token(e.into()))));
            }
        };
        let phantom = (inner.phantom.is_some() && !looks_like_jwt(token)).then(|| token.to_owned());
        let mut fut: AuthenticateFuture<()> = inner.auth.authenticate(token);
        match Pin::new(&mut fut).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(r) => Check {
                state: after_auth(inner, rule, r, phantom),
            },
            Poll::Pending => Check {
                state: State::Waiting {
                    fut,
                    inner: self.inner.clone(),
                    rule,
                    phantom,
                },
            },
        }
    }

    /// Decides about the request a denial must answer for when the gateway did not
    /// say what the original request was.
    pub(crate) fn deny(&self, reason: DenyReason) -> Verdict {
        Verdict::Deny(Deny::new(&self.inner, reason))
    }
}

/// The state after the token check: done, or exchanging for a phantom token.
fn after_auth(
    inner: &Inner,
    rule: usize,
    result: Result<Arc<tollgate_core::Claims>, AuthError>,
    phantom: Option<String>,
) -> State {
    match (finish(inner, rule, result), phantom, &inner.phantom) {
        (Verdict::Allow(allow), Some(token), Some(exchange)) => {
            let exchange = exchange.clone();
            State::Exchanging {
                fut: Box::pin(async move { exchange.exchange(&SubjectToken::new(token)).await }),
                allow: Some(allow),
                rejector: inner.rejector.clone(),
            }
        }
        (v, _, _) => State::Done(Some(v)),
    }
}

fn with_phantom(
    rejector: &BearerRejector,
    mut allow: Allow,
    r: Result<AccessToken, TokenError>,
) -> Verdict {
    let value = r.map_err(|e| e.to_string()).and_then(|t| {
        HeaderValue::from_str(&format!("Bearer {}", t.secret())).map_err(|e| e.to_string())
    });
    match value {
        Ok(v) => {
            allow.remove.retain(|n| n != AUTHORIZATION);
            allow.headers.push((AUTHORIZATION, v));
            Verdict::Allow(allow)
        }
        Err(e) => {
            tracing::warn!(error = %e, outcome = "phantom_unavailable", "token exchange for the upstream failed");
            Verdict::Deny(Deny::build(rejector, DenyReason::PhantomUnavailable))
        }
    }
}

fn finish(
    inner: &Inner,
    rule: usize,
    result: Result<Arc<tollgate_core::Claims>, AuthError>,
) -> Verdict {
    let claims = match result {
        Ok(c) => c,
        Err(e) => return Verdict::Deny(Deny::new(inner, DenyReason::Token(e))),
    };
    // A certificate-bound token (RFC 8705) needs the client certificate, which the
    // gateway holds and does not pass here yet: refused (fail closed), never let through.
    if let Err(e) = tollgate_core::mtls::check_certificate(claims.cnf.as_ref(), None) {
        return Verdict::Deny(Deny::new(inner, DenyReason::Token(e.into())));
    }
    // Likewise a DPoP-bound token (RFC 9449): the checkpoint does not see the proof's
    // request, so the token is refused rather than accepted as a bearer token.
    if let Err(e) = tollgate_core::dpop::check_bearer(claims.cnf.as_ref()) {
        return Verdict::Deny(Deny::new(inner, DenyReason::Token(e.into())));
    }
    let Access::Scopes(policy) = inner.routes.rules()[rule].access() else {
        return Verdict::Allow(allow(inner, None));
    };
    if policy.is_satisfied_by(&claims.scopes) {
        Verdict::Allow(allow(inner, Some(&claims)))
    } else {
        let e = AuthError::InsufficientScope {
            required: policy.challenge_scope(),
        };
        Verdict::Deny(Deny::new(inner, DenyReason::Token(e)))
    }
}

fn allow(inner: &Inner, claims: Option<&tollgate_core::Claims>) -> Allow {
    let headers = claims.map(|c| inner.identity.values(c)).unwrap_or_default();
    let mut remove: Vec<HeaderName> = inner
        .identity
        .names()
        .filter(|n| !headers.iter().any(|(h, _)| h == *n))
        .cloned()
        .collect();
    if !inner.forward_token {
        remove.push(AUTHORIZATION);
    }
    Allow { headers, remove }
}

/// The decision.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Verdict {
    /// Let the request through, with these headers.
    Allow(Allow),
    /// Answer the client with this refusal.
    Deny(Deny),
}

impl Verdict {
    /// The forward-auth HTTP answer: 200 with the identity headers, or the refusal
    /// (status, `WWW-Authenticate`, `Retry-After`) with an empty body.
    pub fn into_response<B: Default>(self) -> Response<B> {
        let mut res = Response::new(B::default());
        match self {
            Verdict::Allow(a) => {
                let h = res.headers_mut();
                for (n, v) in a.headers {
                    h.insert(n, v);
                }
                if a.remove.contains(&AUTHORIZATION) {
                    h.insert(
                        HeaderName::from_static("x-envoy-auth-headers-to-remove"),
                        HeaderValue::from_static("authorization"),
                    );
                }
            }
            Verdict::Deny(d) => {
                *res.status_mut() = d.status;
                let h = res.headers_mut();
                for (n, v) in d.headers {
                    h.insert(n, v);
                }
            }
        }
        res.headers_mut().insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        );
        res
    }
}

/// An allowed request.
#[derive(Debug, Clone)]
pub struct Allow {
    headers: Vec<(HeaderName, HeaderValue)>,
    remove: Vec<HeaderName>,
}

impl Allow {
    /// Headers to set on the request sent upstream (replacing any of the same name).
    pub fn headers(&self) -> &[(HeaderName, HeaderValue)] {
        &self.headers
    }

    /// Headers to remove from the request sent upstream: the identity headers not set
    /// by this answer (a client's copy is never trusted) and, when the token is not
    /// forwarded, `authorization`.
    pub fn remove(&self) -> &[HeaderName] {
        &self.remove
    }
}

/// Why a request was refused (a bounded set, for logs and metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DenyReason {
    /// The token: missing, malformed, invalid, insufficient scope, or not checkable now.
    Token(AuthError),
    /// No route rule applies (403).
    NoRoute,
    /// The gateway's headers do not say unambiguously what the original request was
    /// (both conventions present, or one header repeated): 403.
    Ambiguous,
    /// The gateway sent no original method or URI at all (its configuration is
    /// wrong): 500.
    MissingOriginal,
    /// The token is valid, but the phantom token for the upstream could not be had
    /// (the exchange failed): 503 with `Retry-After`.
    PhantomUnavailable,
}

impl DenyReason {
    /// A short, fixed label.
    #[must_use]
    pub fn label(&self) -> &'static str {
        match self {
            DenyReason::Token(e) => match e.wire().status {
                400 => "invalid_request",
                401 => "invalid_token",
                403 => "insufficient_scope",
                503 => "unavailable",
                _ => "error",
            },
            DenyReason::NoRoute => "no_route",
            DenyReason::Ambiguous => "ambiguous_original_request",
            DenyReason::MissingOriginal => "missing_original_request",
            DenyReason::PhantomUnavailable => "phantom_unavailable",
        }
    }
}

/// A refused request.
#[derive(Debug, Clone)]
pub struct Deny {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    reason: DenyReason,
}

impl Deny {
    fn new(inner: &Inner, reason: DenyReason) -> Self {
        Self::build(&inner.rejector, reason)
    }

    fn build(rejector: &BearerRejector, reason: DenyReason) -> Self {
        let mut headers = Vec::new();
        let status = match &reason {
            DenyReason::Token(e) => {
                let wire = e.wire();
                if let Some(ch) = rejector.challenge(e)
                    && let Ok(v) = HeaderValue::from_str(&ch)
                {
                    headers.push((WWW_AUTHENTICATE, v));
                }
                if let Some(secs) = wire.retry_after {
                    headers.push((RETRY_AFTER, HeaderValue::from(secs)));
                }
                if wire.status >= 500 {
                    tracing::warn!(status = wire.status, reason = %e, outcome = "unavailable", "token not checked");
                } else {
                    tracing::debug!(status = wire.status, reason = %e, outcome = "rejected", "token refused");
                }
                StatusCode::from_u16(wire.status).unwrap_or(StatusCode::UNAUTHORIZED)
            }
            DenyReason::NoRoute | DenyReason::Ambiguous => StatusCode::FORBIDDEN,
            DenyReason::MissingOriginal => {
                tracing::error!(
                    "the gateway sent neither X-Forwarded-Method/X-Forwarded-Uri nor X-Original-Method/X-Original-URI: fix its configuration"
                );
                StatusCode::INTERNAL_SERVER_ERROR
            }
            DenyReason::PhantomUnavailable => {
                headers.push((RETRY_AFTER, HeaderValue::from_static("5")));
                StatusCode::SERVICE_UNAVAILABLE
            }
        };
        Deny {
            status,
            headers,
            reason,
        }
    }

    /// The status to answer the client with.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Headers for the client (`WWW-Authenticate`, `Retry-After`).
    pub fn headers(&self) -> &[(HeaderName, HeaderValue)] {
        &self.headers
    }

    /// Why.
    #[must_use]
    pub fn reason(&self) -> &DenyReason {
        &self.reason
    }
}

/// The future of one [`Checkpoint::check`]; `Unpin`, no allocation unless the
/// authenticator waits.
#[must_use]
pub struct Check {
    state: State,
}

type ExchangeFuture = Pin<Box<dyn Future<Output = Result<AccessToken, TokenError>> + Send>>;

enum State {
    Done(Option<Verdict>),
    Waiting {
        fut: AuthenticateFuture<()>,
        inner: Arc<Inner>,
        rule: usize,
        phantom: Option<String>,
    },
    /// Phantom tokens only (boxed: the exchange is a network call anyway).
    Exchanging {
        fut: ExchangeFuture,
        allow: Option<Allow>,
        rejector: BearerRejector,
    },
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.state {
            State::Done(_) => "Check::Done",
            State::Waiting { .. } => "Check::Waiting",
            State::Exchanging { .. } => "Check::Exchanging",
        })
    }
}

impl Check {
    fn done(v: Verdict) -> Self {
        Check {
            state: State::Done(Some(v)),
        }
    }
}

impl Future for Check {
    type Output = Verdict;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Verdict> {
        // every state is Unpin
        let state = &mut self.get_mut().state;
        loop {
            let next = match state {
                State::Done(v) => match v.take() {
                    Some(v) => return Poll::Ready(v),
                    None => panic!("Check polled after completion"),
                },
                State::Waiting {
                    fut,
                    inner,
                    rule,
                    phantom,
                } => match Pin::new(fut).poll(cx) {
                    Poll::Ready(r) => after_auth(inner, *rule, r, phantom.take()),
                    Poll::Pending => return Poll::Pending,
                },
                State::Exchanging {
                    fut,
                    allow,
                    rejector,
                } => match fut.as_mut().poll(cx) {
                    Poll::Ready(r) => match allow.take() {
                        Some(a) => State::Done(Some(with_phantom(rejector, a, r))),
                        None => panic!("Check polled after completion"),
                    },
                    Poll::Pending => return Poll::Pending,
                },
            };
            *state = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AuthzConfig;
    use tollgate_testkit::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, TestKey};

    /// A certificate-bound or DPoP-bound token cannot be checked at the checkpoint (no
    /// certificate source, no proof): refused with 401 `invalid_token`; unbound tokens
    /// pass.
    #[tokio::test]
    async fn certificate_bound_tokens_fail_closed() {
        let key = TestKey::p256("k");
        let gate = tollgate_tower::Tollgate::<()>::builder()
            .issuer(DEFAULT_ISSUER)
            .audience(DEFAULT_AUDIENCE)
            .keys(tollgate_core::KeySet::from_keys([key.public_key()]))
            .build()
            .await
            .unwrap();
        let config = AuthzConfig::from_toml(&format!(
            "[[issuer]]\nissuer = \"{DEFAULT_ISSUER}\"\naudiences = [\"{DEFAULT_AUDIENCE}\"]\n\
             jwks_uri = \"https://idp.example/jwks\"\n[[route]]\nprefix = \"/\"\nscopes = {{ all = [] }}\n"
        ))
        .unwrap();
        let checkpoint = config.checkpoint(&gate).unwrap();
        let verdict = |token: String| {
            let mut headers = HeaderMap::new();
            headers.insert(AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
            let checkpoint = checkpoint.clone();
            async move {
                checkpoint
                    .check(&OriginalRequest::new("GET", "/orders", &headers))
                    .await
            }
        };
        let bound = key
            .token()
            .claim(
                "cnf",
                serde_json::json!({ "x5t#S256": "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0" }),
            )
            .sign();
        match verdict(bound).await {
            Verdict::Deny(d) => assert_eq!(d.status(), http::StatusCode::UNAUTHORIZED),
            Verdict::Allow(_) => panic!("certificate-bound token allowed"),
        }
        // a DPoP-bound token: the checkpoint cannot check its proof either
        let client = TestKey::p256("dpop-client");
        match verdict(key.token().dpop_bound(&client).sign()).await {
            Verdict::Deny(d) => assert_eq!(d.status(), http::StatusCode::UNAUTHORIZED),
            Verdict::Allow(_) => panic!("DPoP-bound token allowed as a bearer token"),
        }
        assert!(matches!(
            verdict(key.token().sign()).await,
            Verdict::Allow(_)
        ));
    }
}
