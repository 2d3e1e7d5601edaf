//! The outgoing DPoP layer, [`AddDpopLayer`]: `Authorization: DPoP <token>` plus a
//! fresh `DPoP` proof (RFC 9449 §7) on every request, from a [`Propagation`] mode whose
//! tokens are DPoP-bound (a source built with `dpop(key)`).
//!
//! - The proof names the request's method and URL (`htu`: the request URI when it is
//!   absolute, as with hyper's client; else [`AddDpopLayer::base_url`] + path), the
//!   token's hash (`ath`) and the latest nonce the origin gave.
//! - A `DPoP-Nonce` on any answer is remembered for that origin (servers send fresh
//!   ones proactively), so usually only the first call to an origin meets a nonce
//!   challenge.
//! - A 401 with `error="use_dpop_nonce"` and a new `DPoP-Nonce` is retried **once**
//!   with a new proof carrying it. To resend, the layer keeps a copy of the request:
//!   the body type must be `Clone` (`String`, `Bytes`, `http_body_util::Full<Bytes>`,
//!   ...; cloning those is cheap). Streaming bodies (e.g. tonic's) cannot be resent:
//!   not supported by this layer.
//! - A 401 `invalid_token` drops the cached token, as [`AddAuthorizationLayer`](crate::AddAuthorizationLayer) does.
//!
//! # Example
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::convert::Infallible;
//! use tower::{ServiceBuilder, ServiceExt as _};
//! use tollgate_client::{AddDpopLayer, ClientAuth, ClientCredentials, ConfigError, DpopKey, Propagation, TokenEndpoint};
//!
//! let idp = tollgate_testkit::DevIdp::builder().start().await.unwrap();
//! let endpoint = TokenEndpoint::discover(idp.issuer()).await.unwrap()
//!     .client_auth(ClientAuth::client_secret_basic("demo-full", "demo-full-secret"));
//! // a stand-in downstream service that reports the scheme and whether a proof came
//! let downstream = tower::service_fn(|req: http::Request<String>| async move {
//!     let scheme = req.headers()["authorization"].to_str().unwrap().split(' ').next().unwrap().to_owned();
//!     Ok::<_, Infallible>(http::Response::new((scheme, req.headers().contains_key("dpop"))))
//! });
//!
//! // accepted: a DPoP-bound token and a proof on the request
//! let cc = ClientCredentials::builder(endpoint.clone()).dpop(DpopKey::generate().unwrap()).build().unwrap();
//! let layer = AddDpopLayer::new(Propagation::own_identity(cc)).unwrap();
//! let svc = ServiceBuilder::new().layer(layer).service(downstream);
//! let req = http::Request::get("http://orders.internal/orders").body(String::new()).unwrap();
//! assert_eq!(svc.oneshot(req).await.unwrap().into_body(), ("DPoP".to_owned(), true));
//!
//! // rejected when configured: a source without a DPoP key
//! let bearer = ClientCredentials::builder(endpoint).build().unwrap();
//! let e = AddDpopLayer::new(Propagation::own_identity(bearer)).unwrap_err();
//! assert!(matches!(e, ConfigError::NoDpopKey));
//! # });
//! ```

use std::task::{Context, Poll};

use http::header::AUTHORIZATION;
use http::{HeaderValue, Request, Response, StatusCode, Uri};
use tollgate_core::oauth::BoxFuture;
use tower_layer::Layer;
use tower_service::Service;

use crate::dpop::{DpopKey, DpopKeyError, asks_for_nonce};
use crate::error::{ConfigError, TokenError};
use crate::layer::{BoxError, Propagation, token_refused};
use crate::token::{AccessToken, SubjectToken};

/// Sets `Authorization: DPoP` and a `DPoP` proof on outgoing requests (replacing any
/// already set); see the [module documentation](self).
#[derive(Debug, Clone)]
#[must_use]
pub struct AddDpopLayer {
    mode: Propagation,
    key: DpopKey,
    base: Option<Uri>,
}

impl AddDpopLayer {
    /// A layer for `mode`, whose token source must have a DPoP key.
    ///
    /// # Errors
    /// [`ConfigError::NoDpopKey`] for a source without a key and for
    /// forward-unchanged.
    pub fn new(mode: Propagation) -> Result<Self, ConfigError> {
        let key = mode.dpop_key().cloned().ok_or(ConfigError::NoDpopKey)?;
        Ok(AddDpopLayer {
            mode,
            key,
            base: None,
        })
    }

    /// The scheme and authority (`https://orders.internal:8443`) for requests whose
    /// URI is only a path; `htu` is this plus the path.
    ///
    /// # Errors
    /// [`ConfigError::InsecureUrl`] unless absolute `https` (`http` for loopback
    /// hosts) without user information.
    pub fn base_url(mut self, base: &str) -> Result<Self, ConfigError> {
        let uri = tollgate_core::oauth::parse_url(base).map_err(ConfigError::InsecureUrl)?;
        self.base = Some(uri);
        Ok(self)
    }

    /// The key proofs are signed with.
    #[must_use]
    pub fn key(&self) -> &DpopKey {
        &self.key
    }
}

impl<S> Layer<S> for AddDpopLayer {
    type Service = AddDpop<S>;
    fn layer(&self, inner: S) -> AddDpop<S> {
        AddDpop {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`AddDpopLayer`].
#[derive(Debug, Clone)]
pub struct AddDpop<S> {
    inner: S,
    layer: AddDpopLayer,
}

impl<S> AddDpop<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// The absolute URL the request goes to.
fn target(uri: &Uri, base: Option<&Uri>) -> Option<Uri> {
    if uri.scheme().is_some() && uri.authority().is_some() {
        return Some(uri.clone());
    }
    let base = base?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    format!(
        "{}://{}{path}",
        base.scheme_str()?,
        base.authority()?.as_str()
    )
    .parse()
    .ok()
}

fn copy<B: Clone>(req: &Request<B>) -> Request<B> {
    let mut out = Request::new(req.body().clone());
    *out.method_mut() = req.method().clone();
    *out.uri_mut() = req.uri().clone();
    *out.version_mut() = req.version();
    *out.headers_mut() = req.headers().clone();
    *out.extensions_mut() = req.extensions().clone();
    out
}

/// Sets the two headers on `req` (with `nonce` when known for the origin).
fn authorize<B>(
    req: &mut Request<B>,
    key: &DpopKey,
    token: &AccessToken,
    url: &Uri,
) -> Result<(), TokenError> {
    let nonce = key.nonce_for(url);
    let proof = key
        .proof(
            req.method().as_str(),
            &url.to_string(),
            Some(token.secret()),
            nonce.as_deref(),
        )
        .map_err(TokenError::Dpop)?;
    let mut auth = HeaderValue::try_from(format!("DPoP {}", token.secret()))
        .map_err(|_| TokenError::InvalidResponse("the access token is not a header value"))?;
    auth.set_sensitive(true);
    let proof =
        HeaderValue::try_from(proof).map_err(|_| TokenError::Dpop(DpopKeyError::Signing))?;
    let headers = req.headers_mut();
    headers.insert(AUTHORIZATION, auth);
    headers.insert("dpop", proof);
    Ok(())
}

impl<S, B, ResB> Service<Request<B>> for AddDpop<S>
where
    S: Service<Request<B>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: Clone + Send + 'static,
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
        let layer = self.layer.clone();
        let subject = req.extensions().get::<SubjectToken>().cloned();
        let token = layer.mode.token(subject.clone());
        Box::pin(async move {
            let token = token.await?;
            let url = target(req.uri(), layer.base.as_ref())
                .ok_or(TokenError::Dpop(DpopKeyError::InvalidUrl))?;
            let key = &layer.key;
            let mut again = copy(&req);
            authorize(&mut req, key, &token, &url)?;
            let mut res = inner.call(req).await.map_err(Into::into)?;
            let fresh = key.remember_nonce(&url, res.headers());
            if fresh
                && res.status() == StatusCode::UNAUTHORIZED
                && asks_for_nonce(res.headers(), None)
            {
                tracing::debug!("resource server asked for a DPoP nonce; retrying once with it");
                drop(res);
                std::future::poll_fn(|cx| inner.poll_ready(cx))
                    .await
                    .map_err(Into::into)?;
                authorize(&mut again, key, &token, &url)?;
                res = inner.call(again).await.map_err(Into::into)?;
                key.remember_nonce(&url, res.headers());
            }
            if token_refused(&res) {
                tracing::debug!("downstream refused the token; dropping it from the cache");
                layer.mode.invalidate(subject.as_ref(), &token);
            }
            Ok(res)
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn target_url_absolute_or_from_base() {
        let abs: Uri = "http://127.0.0.1:8080/orders?x=1".parse().unwrap();
        assert_eq!(target(&abs, None), Some(abs.clone()));
        let path: Uri = "/inventory.Inventory/Get".parse().unwrap();
        // a path-only URI needs the configured base
        assert_eq!(target(&path, None), None);
        let base: Uri = "https://inventory.internal:8443".parse().unwrap();
        assert_eq!(
            target(&path, Some(&base)).unwrap().to_string(),
            "https://inventory.internal:8443/inventory.Inventory/Get"
        );
        // base_url refuses what the token endpoint URL policy refuses
        let key = DpopKey::generate().unwrap();
        let layer = AddDpopLayer {
            mode: Propagation::forward_unchanged_risky(),
            key,
            base: None,
        };
        assert!(layer.clone().base_url("http://orders.example").is_err());
        assert!(
            layer
                .clone()
                .base_url("https://user:pw@orders.example")
                .is_err()
        );
        assert!(layer.base_url("https://orders.example").is_ok());
        // forward-unchanged has no key to bind with
        assert!(matches!(
            AddDpopLayer::new(Propagation::forward_unchanged_risky()),
            Err(ConfigError::NoDpopKey)
        ));
    }
}
