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

use http::{HeaderValue, StatusCode, Uri};
use serde::Deserialize;
use tollgate_core::oauth::{
    self, ClientAuth, DEFAULT_TIMEOUT, FormParams, HttpClient, HttpResponse, HyperClient,
    MetadataField,
};
use tollgate_core::remote::Discovery;

use crate::dpop::{DpopKey, DpopKeyError, asks_for_nonce};
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
    /// `token_type`: [`TokenType::Dpop`] exactly when the endpoint has a DPoP key.
    pub token_type: TokenType,
}

/// The `token_type` of a token response: how the access token is presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenType {
    /// `Bearer` (RFC 6750).
    Bearer,
    /// `DPoP` (RFC 9449): bound to the client's DPoP key, sent with a proof.
    Dpop,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &self.access_token)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("refresh_token", &self.refresh_token)
            .field("issued_token_type", &self.issued_token_type)
            .field("token_type", &self.token_type)
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
    /// Reads a 200 answer; `dpop`: the request carried a DPoP proof.
    fn parse(body: &[u8], dpop: bool) -> Result<Self, TokenError> {
        let d: ResponseDto = serde_json::from_slice(body)
            .map_err(|_| TokenError::InvalidResponse("not a token response JSON object"))?;
        // RFC 8693 §2.2.1: N_A for tokens that are not access tokens; we only use
        // Bearer and DPoP access tokens. RFC 9449 §5: a Bearer answer to a DPoP
        // request is an unbound token; refused, so nothing is silently less protected
        // than configured.
        let token_type = if d.token_type.eq_ignore_ascii_case("bearer") {
            TokenType::Bearer
        } else if d.token_type.eq_ignore_ascii_case("dpop") {
            TokenType::Dpop
        } else if dpop {
            return Err(TokenError::InvalidResponse("token_type is not DPoP"));
        } else {
            return Err(TokenError::InvalidResponse("token_type is not Bearer"));
        };
        match (dpop, token_type) {
            (true, TokenType::Bearer) => {
                return Err(TokenError::InvalidResponse(
                    "token_type is Bearer although a DPoP proof was sent: the server did not bind the token",
                ));
            }
            (false, TokenType::Dpop) => {
                return Err(TokenError::InvalidResponse(
                    "token_type is DPoP but no DPoP key is configured",
                ));
            }
            _ => {}
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
            token_type,
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
    dpop: Option<DpopKey>,
}

impl fmt::Debug for TokenEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenEndpoint")
            .field("uri", &self.uri)
            .field("auth", &self.auth)
            .field("timeout", &self.timeout)
            .field("dpop", &self.dpop)
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
            dpop: None,
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
        Self::discover_field(issuer, http, MetadataField::TokenEndpoint).await
    }

    /// The endpoint the issuer's metadata names in `field`.
    async fn discover_field(
        issuer: &str,
        http: Arc<dyn HttpClient>,
        field: MetadataField,
    ) -> Result<Self, ConfigError> {
        let uri = oauth::discover_endpoint(
            &*http,
            issuer,
            Discovery::Auto,
            field,
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
            dpop: None,
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
        Self::discover_field(issuer, http, MetadataField::MtlsTokenEndpoint).await
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

    /// Asks for DPoP-bound tokens (RFC 9449) with `key`: every request carries a
    /// `DPoP` proof (`htm` POST, `htu` the endpoint URL, the latest nonce the endpoint
    /// gave), one retry follows a `use_dpop_nonce` answer with the endpoint's
    /// `DPoP-Nonce`, and only `token_type: DPoP` answers are accepted (a `Bearer`
    /// answer is [`TokenError::InvalidResponse`]). The grant builders' `dpop(..)` set
    /// this.
    #[must_use]
    pub fn dpop(mut self, key: DpopKey) -> Self {
        self.dpop = Some(key);
        self
    }

    /// The DPoP key, when tokens are requested DPoP-bound.
    #[must_use]
    pub fn dpop_key(&self) -> Option<&DpopKey> {
        self.dpop.as_ref()
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
        let mut res = self.send(form.clone()).await?;
        if let Some(key) = &self.dpop {
            let fresh = key.remember_nonce(&self.uri, &res.headers);
            // RFC 9449 §8: 400 use_dpop_nonce with a DPoP-Nonce; once
            if fresh
                && res.status.is_client_error()
                && asks_for_nonce(&res.headers, Some(&res.body))
            {
                tracing::debug!("token endpoint asked for a DPoP nonce; retrying once with it");
                res = self.send(form).await?;
                key.remember_nonce(&self.uri, &res.headers);
            }
        }
        if res.status == StatusCode::OK {
            TokenResponse::parse(&res.body, self.dpop.is_some())
        } else {
            Err(TokenError::from_error_response(
                res.status.as_u16(),
                &res.body,
            ))
        }
    }

    /// One POST (with a fresh DPoP proof when a key is set).
    async fn send(&self, form: FormParams) -> Result<HttpResponse, TokenError> {
        let mut req = oauth::form_post(&self.uri, &self.auth, form, MAX_RESPONSE)?;
        if let Some(key) = &self.dpop {
            let nonce = key.nonce_for(&self.uri);
            let proof = key
                .proof("POST", &self.uri.to_string(), None, nonce.as_deref())
                .map_err(TokenError::Dpop)?;
            let value = HeaderValue::from_str(&proof)
                .map_err(|_| TokenError::Dpop(DpopKeyError::Signing))?;
            req.headers.insert("dpop", value);
        }
        tokio::time::timeout(self.timeout, self.http.send(req))
            .await
            .map_err(|_| TokenError::Timeout(self.timeout))?
            .map_err(TokenError::Transport)
    }
}
