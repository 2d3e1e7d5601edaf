//! [`ForwardClaimsLayer`]: claim forwarding for your own Rust proxy (axum, hyper,
//! tower). Stack it inside the gate's authentication layer, in front of the service
//! that forwards the request upstream: it removes every identity header the client
//! sent (never trusted) and sets them from the verified `Arc<Claims<X>>` the
//! authentication layer inserted. Without verified claims (a public route, or the
//! gate in optional mode and no token) the identity headers are only removed.
//!
//! # Example
//!
//! ```
//! use tollgate_authz::ForwardClaimsLayer;
//! use tollgate_core::KeySet;
//! use tollgate_testkit::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, TestKey};
//! use tollgate_tower::Tollgate;
//! use tower::{Layer, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = TestKey::ed25519("k1");
//! let gate = Tollgate::<()>::builder()
//!     .issuer(DEFAULT_ISSUER)
//!     .audience(DEFAULT_AUDIENCE)
//!     .keys(KeySet::from_keys([key.public_key()]))
//!     .build()
//!     .await?;
//! // the "upstream": answers with the subject header it received
//! let upstream = service_fn(|req: http::Request<String>| async move {
//!     let sub = req.headers().get("x-auth-subject").map(|v| v.to_str().unwrap().to_owned());
//!     Ok::<_, std::convert::Infallible>(http::Response::new(sub.unwrap_or_default()))
//! });
//! let proxy = gate.layer().layer(ForwardClaimsLayer::<()>::new().layer(upstream));
//!
//! // accepted: the verified subject replaces the client's claim
//! let token = key.token().subject("alice").sign();
//! let req = http::Request::get("/")
//!     .header("authorization", format!("Bearer {token}"))
//!     .header("x-auth-subject", "admin")
//!     .body(String::new())?;
//! assert_eq!(proxy.clone().oneshot(req).await?.body(), "alice");
//! // rejected: no token, no upstream call
//! let req = http::Request::get("/").header("x-auth-subject", "admin").body(String::new())?;
//! assert_eq!(proxy.oneshot(req).await?.status(), 401);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Request;
use tollgate_core::Claims;
use tower_layer::Layer;
use tower_service::Service;

use crate::identity::IdentityHeaders;

/// Layer that strips inbound identity headers and sets them from verified claims;
/// see the [module docs](self). `X` is the gate's claims type.
#[must_use]
pub struct ForwardClaimsLayer<X = ()> {
    identity: Arc<IdentityHeaders>,
    _claims: PhantomData<fn() -> X>,
}

impl<X> Clone for ForwardClaimsLayer<X> {
    fn clone(&self) -> Self {
        ForwardClaimsLayer {
            identity: self.identity.clone(),
            _claims: PhantomData,
        }
    }
}

impl<X> fmt::Debug for ForwardClaimsLayer<X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForwardClaimsLayer")
            .field("identity", &self.identity)
            .finish()
    }
}

impl<X> Default for ForwardClaimsLayer<X> {
    fn default() -> Self {
        Self::new()
    }
}

impl<X> ForwardClaimsLayer<X> {
    /// With the default header names (`X-Auth-Subject`, `X-Auth-Client-Id`,
    /// `X-Auth-Scopes`, `X-Auth-Issuer`).
    pub fn new() -> Self {
        Self::with_headers(IdentityHeaders::default())
    }

    /// With these header names.
    pub fn with_headers(identity: IdentityHeaders) -> Self {
        ForwardClaimsLayer {
            identity: Arc::new(identity),
            _claims: PhantomData,
        }
    }
}

impl<S, X> Layer<S> for ForwardClaimsLayer<X> {
    type Service = ForwardClaims<S, X>;
    fn layer(&self, inner: S) -> Self::Service {
        ForwardClaims {
            inner,
            identity: self.identity.clone(),
            _claims: PhantomData,
        }
    }
}

/// The service built by [`ForwardClaimsLayer`].
pub struct ForwardClaims<S, X = ()> {
    inner: S,
    identity: Arc<IdentityHeaders>,
    _claims: PhantomData<fn() -> X>,
}

impl<S: Clone, X> Clone for ForwardClaims<S, X> {
    fn clone(&self) -> Self {
        ForwardClaims {
            inner: self.inner.clone(),
            identity: self.identity.clone(),
            _claims: PhantomData,
        }
    }
}

impl<S: fmt::Debug, X> fmt::Debug for ForwardClaims<S, X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForwardClaims")
            .field("inner", &self.inner)
            .field("identity", &self.identity)
            .finish()
    }
}

impl<S, X> ForwardClaims<S, X> {
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

impl<S, X, B> Service<Request<B>> for ForwardClaims<S, X>
where
    S: Service<Request<B>>,
    X: Send + Sync + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> S::Future {
        for name in self.identity.names() {
            req.headers_mut().remove(name);
        }
        let values = req
            .extensions()
            .get::<Arc<Claims<X>>>()
            .map(|c| self.identity.values(c));
        for (name, value) in values.into_iter().flatten() {
            req.headers_mut().insert(name, value);
        }
        self.inner.call(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tower::{ServiceExt, service_fn};

    type Seen = Vec<(String, String)>;

    /// The headers a request arrives with, sorted.
    fn seen(req: Request<()>) -> std::future::Ready<Result<Seen, Infallible>> {
        let mut v: Seen = req
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("?").to_owned()))
            .collect();
        v.sort();
        std::future::ready(Ok(v))
    }

    #[tokio::test]
    async fn strips_without_claims_and_sets_from_claims() {
        let layer = ForwardClaimsLayer::<()>::with_headers(
            IdentityHeaders::default().subject(Some("x-user")).unwrap(),
        );
        let svc = layer.layer(service_fn(seen));
        // no verified claims: every identity header removed, others kept
        let req = Request::builder()
            .header("x-user", "admin")
            .header("x-auth-scopes", "admin")
            .header("accept", "*/*")
            .body(())
            .unwrap();
        let got = svc.clone().oneshot(req).await.unwrap();
        assert_eq!(got, [("accept".to_owned(), "*/*".to_owned())]);
        // verified claims: set from them, the client's value replaced
        let claims: Claims = Claims::from_json(
            br#"{"iss":"https://idp","sub":"alice","client_id":"web","scope":"a b"}"#,
        )
        .unwrap();
        let mut req = Request::builder()
            .header("x-user", "admin")
            .body(())
            .unwrap();
        req.extensions_mut().insert(Arc::new(claims));
        let got = svc.oneshot(req).await.unwrap();
        let want: Vec<(String, String)> = [
            ("x-auth-client-id", "web"),
            ("x-auth-issuer", "https://idp"),
            ("x-auth-scopes", "a b"),
            ("x-user", "alice"),
        ]
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
        assert_eq!(got, want);
    }
}
