//! The HTTP client behind every call tollgate makes to an authorization server (key
//! sets, discovery, introspection, token requests): a small trait ([`HttpClient`]) and
//! the default implementation ([`HyperClient`]).
//!
//! # Why hyper-util + hyper-rustls and not reqwest
//!
//! We need two things: a bounded `GET` with a few headers (keys, discovery) and a bounded
//! form `POST` (introspection, token requests). reqwest 0.13 brings a URL
//! parser, a redirect engine, cookie/proxy/decompression plumbing and (with its rustls
//! feature) the platform verifier and its dependencies. hyper-util's legacy client with
//! hyper-rustls is the same HTTP stack reqwest is built on, minus those layers, and
//! shares `hyper`/`hyper-util`/`tokio` with the axum and tonic crates of this workspace,
//! so it adds almost nothing to a service's build. TLS is rustls on the aws-lc-rs
//! provider (already our crypto backend for JWS), with the Mozilla roots from
//! `webpki-roots`, so no OpenSSL and no system certificate store is needed. Redirects are
//! never followed by the client; the fetch layer follows same-origin ones itself, so a
//! user-supplied client gets the same policy.
//!
//! Bring your own client (proxy, custom CA, mTLS) by implementing [`HttpClient`], or
//! pass your own `rustls::ClientConfig` to [`HyperClient::with_tls_config`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Uri};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::remote::{FetchError, FetchErrorKind};

/// A boxed, sendable future (what [`HttpClient::send`] returns; off the request path).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One request to perform: a `GET` (keys, discovery) or a form `POST` (introspection,
/// token requests).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpRequest {
    /// `GET` or `POST`.
    pub method: Method,
    /// The absolute URL.
    pub uri: Uri,
    /// Request headers (`Accept`, `If-None-Match`, `If-Modified-Since`, `Content-Type`,
    /// `Authorization`).
    pub headers: HeaderMap,
    /// The request body (empty for `GET`).
    pub body: Bytes,
    /// The client must stop reading (and fail with [`HttpError::TooLarge`]) past this
    /// many response body bytes.
    pub max_body: usize,
}

impl HttpRequest {
    /// A `GET` for `uri` with a response body cap.
    #[must_use]
    pub fn get(uri: Uri, headers: HeaderMap, max_body: usize) -> Self {
        HttpRequest {
            method: Method::GET,
            uri,
            headers,
            body: Bytes::new(),
            max_body,
        }
    }

    /// A `POST` of `body` to `uri` (set `Content-Type` in `headers`) with a response
    /// body cap.
    #[must_use]
    pub fn post(uri: Uri, headers: HeaderMap, body: Bytes, max_body: usize) -> Self {
        HttpRequest {
            method: Method::POST,
            uri,
            headers,
            body,
            max_body,
        }
    }
}

/// The answer to an [`HttpRequest`]: status, headers and the (bounded) body.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpResponse {
    /// Status code. Redirects must be returned as they are, not followed.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body, at most `max_body` bytes.
    pub body: Bytes,
}

impl HttpResponse {
    /// A response.
    #[must_use]
    pub fn new(status: StatusCode, headers: HeaderMap, body: Bytes) -> Self {
        HttpResponse {
            status,
            headers,
            body,
        }
    }
}

/// Why a request failed below the HTTP level.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The body was longer than the cap.
    #[error("body exceeds the cap of {limit} bytes")]
    TooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// Connection, TLS or protocol failure (a short description).
    #[error("transport error: {0}")]
    Transport(String),
}

/// A minimal HTTP client: one bounded request, redirects not followed.
///
/// Timeouts are applied by the caller around the returned future (default
/// [`DEFAULT_TIMEOUT`](super::DEFAULT_TIMEOUT)); the implementation must enforce
/// [`HttpRequest::max_body`] while reading (not after buffering everything) and must
/// send [`HttpRequest::method`] and [`HttpRequest::body`] (key fetching and discovery
/// use `GET`; introspection and token requests use `POST`).
pub trait HttpClient: Send + Sync + 'static {
    /// Performs the request with its method, headers and body.
    fn send(&self, request: HttpRequest) -> BoxFuture<'static, Result<HttpResponse, HttpError>>;
}

/// The default [`HttpClient`]: hyper-util's client over hyper-rustls (HTTP/1.1, rustls on
/// aws-lc-rs, Mozilla roots). `http://` is allowed by the client; the URL checks
/// ([`check_url`](super::check_url)) only accept it for loopback hosts.
#[derive(Clone)]
pub struct HyperClient {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl fmt::Debug for HyperClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HyperClient").finish_non_exhaustive()
    }
}

impl HyperClient {
    /// The default client: webpki (Mozilla) roots, safe default protocol versions.
    ///
    /// # Errors
    /// When the TLS provider refuses the default protocol versions (does not happen
    /// with the aws-lc-rs provider this crate selects).
    pub fn new() -> Result<Self, rustls::Error> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::aws_lc_rs::default_provider())?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self::from_connector(connector))
    }

    /// A client presenting a TLS client certificate (mTLS, RFC 8705) to every
    /// server, with the webpki (Mozilla) roots: for `tls_client_auth` token requests
    /// (see [`ClientAuth::tls_client_auth`](super::ClientAuth::tls_client_auth)) and
    /// the certificate-bound tokens they yield. `certs` is the chain, end-entity
    /// first; `key` its private key. For a private CA, build the configuration with
    /// [`mtls_client_config`] and pass it to [`Self::with_tls_config`].
    ///
    /// # Errors
    /// When rustls refuses the key or the certificate.
    pub fn with_client_auth_cert(
        certs: Vec<rustls::pki_types::CertificateDer<'static>>,
        key: rustls::pki_types::PrivateKeyDer<'static>,
    ) -> Result<Self, rustls::Error> {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        Ok(Self::with_tls_config(mtls_client_config(
            roots, certs, key,
        )?))
    }

    /// A client with your own TLS configuration (custom CA, client certificate).
    #[must_use]
    pub fn with_tls_config(config: rustls::ClientConfig) -> Self {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .build();
        Self::from_connector(connector)
    }

    fn from_connector(connector: hyper_rustls::HttpsConnector<HttpConnector>) -> Self {
        // A key set is fetched every few minutes and tokens are cached: a connection
        // pool buys nothing and would keep sockets to the IdP open.
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build(connector);
        HyperClient { client }
    }
}

/// A rustls client configuration (aws-lc-rs, safe default protocol versions) that
/// trusts `roots` and presents the client certificate `certs` (end-entity first) with
/// `key`: for [`HyperClient::with_tls_config`], and for the client that then calls the
/// resource server with the certificate-bound tokens (RFC 8705 §3), which must
/// present the same certificate.
///
/// # Errors
/// When rustls refuses the key or the certificate.
pub fn mtls_client_config(
    roots: rustls::RootCertStore,
    certs: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
) -> Result<rustls::ClientConfig, rustls::Error> {
    rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_client_auth_cert(certs, key)
}

fn transport(e: impl fmt::Display) -> HttpError {
    HttpError::Transport(e.to_string())
}

impl HttpClient for HyperClient {
    fn send(&self, request: HttpRequest) -> BoxFuture<'static, Result<HttpResponse, HttpError>> {
        let client = self.client.clone();
        Box::pin(async move {
            let limit = request.max_body;
            let mut req = http::Request::builder()
                .method(request.method)
                .uri(request.uri)
                .body(Full::new(request.body))
                .map_err(transport)?;
            *req.headers_mut() = request.headers;
            let response = client.request(req).await.map_err(transport)?;
            let (parts, body) = response.into_parts();
            let declared = parts
                .headers
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|len| len > limit as u64) {
                return Err(HttpError::TooLarge { limit });
            }
            let body = Limited::new(body, limit)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        HttpError::TooLarge { limit }
                    } else {
                        transport(e)
                    }
                })?
                .to_bytes();
            Ok(HttpResponse {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        })
    }
}

const MAX_REDIRECTS: usize = 3;

fn same_origin(a: &Uri, b: &Uri) -> bool {
    a.scheme() == b.scheme()
        && a.authority().map(|x| x.as_str().to_ascii_lowercase())
            == b.authority().map(|x| x.as_str().to_ascii_lowercase())
}

/// A `GET` of `url` within `timeout` (body included), following at most three
/// same-origin redirects (a redirect elsewhere fails): key sets and discovery.
pub(crate) async fn get_same_origin(
    client: &dyn HttpClient,
    url: &Uri,
    headers: HeaderMap,
    timeout: std::time::Duration,
    max_body: usize,
) -> Result<HttpResponse, FetchError> {
    let fail = |kind| FetchError::new(url, kind);
    let exchange = async {
        let mut current = url.clone();
        for _ in 0..=MAX_REDIRECTS {
            let response = client
                .send(HttpRequest::get(current.clone(), headers.clone(), max_body))
                .await
                .map_err(|e| fail(FetchErrorKind::Http(e)))?;
            if !response.status.is_redirection() || response.status == StatusCode::NOT_MODIFIED {
                return Ok(response);
            }
            let location = response
                .headers
                .get(http::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| fail(FetchErrorKind::Redirect))?;
            let next = if location.starts_with('/') && !location.starts_with("//") {
                let mut parts = current.clone().into_parts();
                parts.path_and_query = Some(
                    location
                        .parse()
                        .map_err(|_| fail(FetchErrorKind::Redirect))?,
                );
                Uri::from_parts(parts).map_err(|_| fail(FetchErrorKind::Redirect))?
            } else {
                location
                    .parse::<Uri>()
                    .map_err(|_| fail(FetchErrorKind::Redirect))?
            };
            if !same_origin(&current, &next) {
                return Err(fail(FetchErrorKind::Redirect));
            }
            current = next;
        }
        Err(fail(FetchErrorKind::Redirect))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| fail(FetchErrorKind::Timeout(timeout)))?
}
