//! The HTTP client behind key fetching: a small trait ([`HttpClient`]) and the default
//! implementation ([`HyperClient`]).
//!
//! # Why hyper-util + hyper-rustls and not reqwest
//!
//! We need two things: a bounded `GET` with a few headers (keys, discovery) and a bounded
//! form `POST` (token introspection). reqwest 0.13 brings a URL
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

/// A boxed, sendable future (what [`HttpClient::get`] returns; off the request path).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One request to perform: a `GET` (keys, discovery) or a form `POST` (introspection).
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
    pub fn new(uri: Uri, headers: HeaderMap, max_body: usize) -> Self {
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
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpError {
    /// The body was longer than the cap.
    TooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// Connection, TLS or protocol failure (a short description).
    Transport(String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::TooLarge { limit } => write!(f, "body exceeds the cap of {limit} bytes"),
            HttpError::Transport(e) => write!(f, "transport error: {e}"),
        }
    }
}

impl std::error::Error for HttpError {}

/// A minimal HTTP client: one bounded request, redirects not followed.
///
/// Timeouts are applied by the caller around the returned future; the implementation
/// must enforce [`HttpRequest::max_body`] while reading (not after buffering everything)
/// and must send [`HttpRequest::method`] and [`HttpRequest::body`] (key fetching uses
/// `GET` only; token introspection uses `POST`).
pub trait HttpClient: Send + Sync + 'static {
    /// Performs the request (despite the name, with the request's method).
    fn get(&self, request: HttpRequest) -> BoxFuture<'static, Result<HttpResponse, HttpError>>;
}

/// The default [`HttpClient`]: hyper-util's client over hyper-rustls (HTTP/1.1, rustls on
/// aws-lc-rs, Mozilla roots). `http://` is allowed by the client; the key sources only
/// accept it for loopback hosts.
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
        // A key set is fetched every few minutes: a connection pool buys nothing and
        // would keep sockets to the IdP open.
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build(connector);
        HyperClient { client }
    }
}

fn transport(e: impl fmt::Display) -> HttpError {
    HttpError::Transport(e.to_string())
}

impl HttpClient for HyperClient {
    fn get(&self, request: HttpRequest) -> BoxFuture<'static, Result<HttpResponse, HttpError>> {
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
