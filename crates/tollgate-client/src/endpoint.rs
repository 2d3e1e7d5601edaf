//! The token endpoint: where it is (configured or discovered), how the client
//! authenticates to it ([`ClientAuth`]: `client_secret_basic`, `client_secret_post`,
//! `private_key_jwt` per RFC 7523, ...), and one form `POST` — all through
//! tollgate-core's OAuth stack ([`tollgate_core::oauth`]): the same URL policy,
//! discovery (OpenID Connect, RFC 8414 with path insertion), client authentication,
//! timeout (5 s) and [`HttpClient`] (bring your own for proxies or mTLS) as the
//! resource server's key fetching and introspection.
//!
//! A [`TokenEndpoint`] is configuration: cloning it shares nothing but the HTTP client.
//!
//! # Example
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use tollgate_client::endpoint::TokenEndpoint;
//! use tollgate_client::error::OAuthErrorCode;
//! use tollgate_client::{ClientAuth, FormParams};
//!
//! let idp = tollgate_testkit::DevIdp::builder().start().await.unwrap();
//! let endpoint = TokenEndpoint::discover(idp.issuer()).await.unwrap();
//! let grant = || FormParams::from_iter([("grant_type", "client_credentials")]);
//!
//! // accepted: right secret
//! let ok = endpoint
//!     .clone()
//!     .client_auth(ClientAuth::client_secret_basic("demo-reader", "demo-reader-secret"))
//!     .request(grant())
//!     .await
//!     .unwrap();
//! assert_eq!(ok.scope.as_deref(), Some("orders:read"));
//!
//! // rejected: wrong secret → a typed invalid_client
//! let err = endpoint
//!     .client_auth(ClientAuth::client_secret_post("demo-reader", "guess"))
//!     .request(grant())
//!     .await
//!     .unwrap_err();
//! assert_eq!(err.oauth_code(), Some(&OAuthErrorCode::InvalidClient));
//!
//! // rejected when configured: user info in the URL
//! assert!(TokenEndpoint::new("https://user:pw@idp.example/token").is_err());
//! # });
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::{StatusCode, Uri};
use serde::Deserialize;
use tollgate_core::oauth::{
    self, ClientAuth, DEFAULT_TIMEOUT, FormParams, HttpClient, HyperClient, MetadataField,
};
use tollgate_core::remote::Discovery;

use crate::error::{ConfigError, TokenError};
use crate::token::{AccessToken, RefreshToken};

/// Token responses (and discovery documents) larger than this are refused.
const MAX_RESPONSE: usize = 64 * 1024;

/// A successful token response (RFC 6749 §5.1, RFC 8693 §2.2.1).
#[derive(Clone)]
#[non_exhaustive]
pub struct TokenResponse {
    /// The access token.
    pub access_token: AccessToken,
    /// Lifetime in seconds, when given.
    pub expires_in: Option<u64>,
    /// Granted scopes, when given.
    pub scope: Option<String>,
    /// A (new) refresh token, when given.
    pub refresh_token: Option<RefreshToken>,
    /// `issued_token_type` (token exchange).
    pub issued_token_type: Option<String>,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &self.access_token)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("refresh_token", &self.refresh_token)
            .field("issued_token_type", &self.issued_token_type)
            .finish()
    }
}

#[derive(Deserialize)]
struct ResponseDto {
    access_token: String,
    token_type: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    issued_token_type: Option<String>,
}

impl TokenResponse {
    fn parse(body: &[u8]) -> Result<Self, TokenError> {
        let d: ResponseDto = serde_json::from_slice(body)
            .map_err(|_| TokenError::InvalidResponse("not a token response JSON object"))?;
        // RFC 8693 §2.2.1: N_A for tokens that are not access tokens; we only use
        // Bearer access tokens
        if !d.token_type.eq_ignore_ascii_case("bearer") {
            return Err(TokenError::InvalidResponse("token_type is not Bearer"));
        }
        if d.access_token.is_empty() {
            return Err(TokenError::InvalidResponse("empty access_token"));
        }
        let expires_in = match d.expires_in {
            None => None,
            Some(serde_json::Value::Number(n)) => n.as_u64().or_else(|| {
                // as_f64 of a valid number is finite; truncation intended
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)
            }),
            // some servers send a string
            Some(serde_json::Value::String(s)) => s.parse().ok(),
            Some(_) => return Err(TokenError::InvalidResponse("expires_in is not a number")),
        };
        Ok(TokenResponse {
            access_token: AccessToken::new(d.access_token),
            expires_in,
            scope: d.scope,
            refresh_token: d.refresh_token.map(RefreshToken::new),
            issued_token_type: d.issued_token_type,
        })
    }
}

/// A token endpoint with the client's authentication and an HTTP client.
#[derive(Clone)]
pub struct TokenEndpoint {
    uri: Uri,
    auth: ClientAuth,
    http: Arc<dyn HttpClient>,
    timeout: Duration,
}

impl fmt::Debug for TokenEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenEndpoint")
            .field("uri", &self.uri)
            .field("auth", &self.auth)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn default_http() -> Result<Arc<dyn HttpClient>, ConfigError> {
    HyperClient::new()
        .map(|c| Arc::new(c) as Arc<dyn HttpClient>)
        .map_err(|e| ConfigError::HttpClient(Box::new(e)))
}

impl TokenEndpoint {
    /// The endpoint at `uri` ([`oauth::check_url`]: https, or http on loopback; no
    /// user info), with the default HTTP client and no client authentication yet.
    ///
    /// # Errors
    /// [`ConfigError::InsecureUrl`] for an unusable URL.
    pub fn new(uri: &str) -> Result<Self, ConfigError> {
        let uri = oauth::parse_url(uri).map_err(ConfigError::InsecureUrl)?;
        Ok(TokenEndpoint {
            uri,
            auth: ClientAuth::None,
            http: default_http()?,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Finds the token endpoint by discovery from `issuer`
    /// (`/.well-known/openid-configuration`, then RFC 8414
    /// `/.well-known/oauth-authorization-server` with the issuer's path after it); the
    /// metadata's `issuer` must equal `issuer` exactly.
    ///
    /// # Errors
    /// [`ConfigError::Discovery`] when neither document names a usable endpoint.
    pub async fn discover(issuer: &str) -> Result<Self, ConfigError> {
        Self::discover_with(issuer, default_http()?).await
    }

    /// [`TokenEndpoint::discover`] with your own HTTP client.
    ///
    /// # Errors
    /// As [`TokenEndpoint::discover`].
    pub async fn discover_with(
        issuer: &str,
        http: Arc<dyn HttpClient>,
    ) -> Result<Self, ConfigError> {
        let uri = oauth::discover_endpoint(
            &*http,
            issuer,
            Discovery::Auto,
            MetadataField::TokenEndpoint,
            DEFAULT_TIMEOUT,
            MAX_RESPONSE,
        )
        .await
        .map_err(ConfigError::Discovery)?;
        Ok(TokenEndpoint {
            uri,
            auth: ClientAuth::None,
            http,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// [`TokenEndpoint::discover_with`] for a client that authenticates with a TLS
    /// client certificate (RFC 8705, [`ClientAuth::TlsClientAuth`]): the metadata's
    /// `mtls_endpoint_aliases.token_endpoint` when present (RFC 8705 §5), else its
    /// `token_endpoint`. `http` must present the certificate (e.g.
    /// [`HyperClient::with_client_auth_cert`]).
    ///
    /// # Errors
    /// As [`TokenEndpoint::discover`].
    pub async fn discover_mtls(
        issuer: &str,
        http: Arc<dyn HttpClient>,
    ) -> Result<Self, ConfigError> {
        let uri = oauth::discover_endpoint(
            &*http,
            issuer,
            Discovery::Auto,
            MetadataField::MtlsTokenEndpoint,
            DEFAULT_TIMEOUT,
            MAX_RESPONSE,
        )
        .await
        .map_err(ConfigError::Discovery)?;
        Ok(TokenEndpoint {
            uri,
            auth: ClientAuth::None,
            http,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Sets the client authentication (default [`ClientAuth::None`]).
    #[must_use]
    pub fn client_auth(mut self, auth: ClientAuth) -> Self {
        self.auth = auth;
        self
    }

    /// Uses your own HTTP client (proxy, custom CA, mTLS).
    #[must_use]
    pub fn http_client(mut self, http: impl HttpClient) -> Self {
        self.http = Arc::new(http);
        self
    }

    /// Per-request timeout, body included (default [`DEFAULT_TIMEOUT`], 5 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The endpoint URL.
    #[must_use]
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The client id, when the client authentication names one.
    #[must_use]
    pub fn client_id(&self) -> Option<&str> {
        self.auth.client_id()
    }

    /// POSTs `form` (plus the client authentication) and reads the answer.
    ///
    /// # Errors
    /// See [`TokenError`]; OAuth error answers become [`TokenError::OAuth`].
    pub async fn request(&self, form: FormParams) -> Result<TokenResponse, TokenError> {
        let req = oauth::form_post(&self.uri, &self.auth, form, MAX_RESPONSE)?;
        let res = tokio::time::timeout(self.timeout, self.http.send(req))
            .await
            .map_err(|_| TokenError::Timeout(self.timeout))?
            .map_err(TokenError::Transport)?;
        if res.status == StatusCode::OK {
            TokenResponse::parse(&res.body)
        } else {
            Err(TokenError::from_error_response(
                res.status.as_u16(),
                &res.body,
            ))
        }
    }
}
