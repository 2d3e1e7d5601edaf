//! The token endpoint: where it is (configured or discovered), how the client
//! authenticates to it ([`ClientAuth`]: `client_secret_basic`, `client_secret_post`,
//! `private_key_jwt` per RFC 7523), and one form `POST` through tollgate-core's
//! [`HttpClient`] (bring your own for proxies or mTLS).
//!
//! # Example
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use tollgate_client::endpoint::{ClientAuth, TokenEndpoint};
//! use tollgate_client::error::OAuthErrorCode;
//!
//! let idp = tollgate_testkit::DevIdp::builder().start().await.unwrap();
//! let endpoint = TokenEndpoint::discover(idp.issuer()).await.unwrap();
//!
//! // accepted: right secret
//! let ok = endpoint
//!     .clone()
//!     .client_auth(ClientAuth::client_secret_basic("demo-reader", "demo-reader-secret"))
//!     .request(vec![("grant_type", "client_credentials".into())])
//!     .await
//!     .unwrap();
//! assert_eq!(ok.scope.as_deref(), Some("orders:read"));
//!
//! // rejected: wrong secret → a typed invalid_client
//! let err = endpoint
//!     .client_auth(ClientAuth::client_secret_post("demo-reader", "guess"))
//!     .request(vec![("grant_type", "client_credentials".into())])
//!     .await
//!     .unwrap_err();
//! assert_eq!(err.oauth_code(), Some(&OAuthErrorCode::InvalidClient));
//! # });
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, StatusCode, Uri};
use serde::Deserialize;
use tollgate_core::alg::Algorithm;
use tollgate_core::introspect::FormParams;
use tollgate_core::remote::{HttpClient, HttpRequest, HyperClient};

use crate::error::TokenError;
use crate::token::{AccessToken, RefreshToken};

/// Token responses larger than this are refused.
const MAX_RESPONSE: usize = 64 * 1024;

/// Signs `private_key_jwt` client assertions (RFC 7523). [`PemSigner`] covers PEM
/// private keys; implement this for keys in an HSM or KMS.
pub trait JwtSigner: fmt::Debug + Send + Sync + 'static {
    /// The JWS algorithm (`alg` header).
    fn algorithm(&self) -> Algorithm;
    /// The `kid` header, if the authorization server needs one.
    fn kid(&self) -> Option<&str>;
    /// The raw signature over `signing_input` (JWS encoding: r‖s for ECDSA).
    ///
    /// # Errors
    /// When the key cannot sign right now.
    fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, TokenError>;
}

/// A [`JwtSigner`] over a PEM private key (RSA, EC or Ed25519) via jsonwebtoken.
pub struct PemSigner {
    key: jsonwebtoken::EncodingKey,
    alg: Algorithm,
    kid: Option<String>,
}

impl fmt::Debug for PemSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PemSigner")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl PemSigner {
    /// A signer for `alg` (RS256/PS256/…: RSA PEM; ES256/ES384: EC PEM; EdDSA:
    /// Ed25519 PEM).
    ///
    /// # Errors
    /// [`TokenError::Config`] when the PEM does not fit `alg` or HMAC is asked for.
    pub fn new(alg: Algorithm, pem: &[u8], kid: Option<&str>) -> Result<Self, TokenError> {
        use jsonwebtoken::EncodingKey as K;
        let key = match alg.as_str() {
            "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" => K::from_rsa_pem(pem),
            "ES256" | "ES384" => K::from_ec_pem(pem),
            "EdDSA" => K::from_ed_pem(pem),
            _ => {
                return Err(TokenError::Config(
                    "private_key_jwt needs an asymmetric algorithm".into(),
                ));
            }
        }
        .map_err(|_| TokenError::Config("the PEM private key does not fit the algorithm".into()))?;
        Ok(PemSigner {
            key,
            alg,
            kid: kid.map(str::to_owned),
        })
    }
}

impl JwtSigner for PemSigner {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
    fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }
    fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, TokenError> {
        let alg: jsonwebtoken::Algorithm = self
            .alg
            .as_str()
            .parse()
            .map_err(|_| TokenError::Signing("unsupported algorithm".into()))?;
        let sig = jsonwebtoken::crypto::sign(signing_input, &self.key, alg)
            .map_err(|e| TokenError::Signing(e.to_string()))?;
        URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|e| TokenError::Signing(e.to_string()))
    }
}

/// How the client authenticates to the token endpoint.
#[derive(Clone)]
#[non_exhaustive]
pub enum ClientAuth {
    /// `client_secret_basic` (RFC 6749 §2.3.1): HTTP Basic with form-encoded id and
    /// secret.
    ClientSecretBasic {
        /// `client_id`.
        client_id: String,
        /// `client_secret`.
        client_secret: String,
    },
    /// `client_secret_post`: `client_id` and `client_secret` in the form.
    ClientSecretPost {
        /// `client_id`.
        client_id: String,
        /// `client_secret`.
        client_secret: String,
    },
    /// `private_key_jwt` (RFC 7523 §2.2, OIDC Core §9): a fresh signed assertion per
    /// request (`iss` = `sub` = client id, `aud` = the token endpoint, `jti` random,
    /// 60 s lifetime).
    PrivateKeyJwt {
        /// `client_id`.
        client_id: String,
        /// The signing key.
        signer: Arc<dyn JwtSigner>,
    },
    /// A public client: only `client_id` in the form.
    None {
        /// `client_id`.
        client_id: String,
    },
}

/// Secrets are never shown.
impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, id) = match self {
            ClientAuth::ClientSecretBasic { client_id, .. } => ("client_secret_basic", client_id),
            ClientAuth::ClientSecretPost { client_id, .. } => ("client_secret_post", client_id),
            ClientAuth::PrivateKeyJwt { client_id, .. } => ("private_key_jwt", client_id),
            ClientAuth::None { client_id } => ("none", client_id),
        };
        f.debug_struct("ClientAuth")
            .field("method", &kind)
            .field("client_id", id)
            .finish_non_exhaustive()
    }
}

impl ClientAuth {
    /// `client_secret_basic`.
    pub fn client_secret_basic(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        ClientAuth::ClientSecretBasic {
            client_id: client_id.into(),
            client_secret: secret.into(),
        }
    }

    /// `client_secret_post`.
    pub fn client_secret_post(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        ClientAuth::ClientSecretPost {
            client_id: client_id.into(),
            client_secret: secret.into(),
        }
    }

    /// `private_key_jwt` with `signer`.
    pub fn private_key_jwt(client_id: impl Into<String>, signer: impl JwtSigner) -> Self {
        ClientAuth::PrivateKeyJwt {
            client_id: client_id.into(),
            signer: Arc::new(signer),
        }
    }

    /// The client id.
    #[must_use]
    pub fn client_id(&self) -> &str {
        match self {
            ClientAuth::ClientSecretBasic { client_id, .. }
            | ClientAuth::ClientSecretPost { client_id, .. }
            | ClientAuth::PrivateKeyJwt { client_id, .. }
            | ClientAuth::None { client_id } => client_id,
        }
    }

    fn apply(
        &self,
        endpoint: &Uri,
        headers: &mut HeaderMap,
        form: &mut FormParams,
    ) -> Result<(), TokenError> {
        match self {
            ClientAuth::ClientSecretBasic {
                client_id,
                client_secret,
            } => {
                let mut pair = FormParams::default();
                pair.append(client_id, client_secret);
                // "id=secret" form-encoded; Basic wants "id:secret"
                let enc = pair.encode().replacen('=', ":", 1);
                let mut v = HeaderValue::try_from(format!("Basic {}", STANDARD.encode(enc)))
                    .map_err(|_| TokenError::Config("client credentials".into()))?;
                v.set_sensitive(true);
                headers.insert(AUTHORIZATION, v);
            }
            ClientAuth::ClientSecretPost {
                client_id,
                client_secret,
            } => {
                form.append("client_id", client_id);
                form.append("client_secret", client_secret);
            }
            ClientAuth::PrivateKeyJwt { client_id, signer } => {
                form.append("client_id", client_id);
                form.append(
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                );
                form.append(
                    "client_assertion",
                    assertion(client_id, endpoint, &**signer)?,
                );
            }
            ClientAuth::None { client_id } => form.append("client_id", client_id),
        }
        Ok(())
    }
}

pub(crate) fn random_id() -> String {
    let mut b = [0u8; 16];
    // no randomness: a fixed-but-unique-enough fallback is worse than failing loudly,
    // but the jti only needs to be unique, so fall back to the clock
    if aws_lc_rs::rand::fill(&mut b).is_err() {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        b = n.to_le_bytes();
    }
    URL_SAFE_NO_PAD.encode(b)
}

fn assertion(
    client_id: &str,
    endpoint: &Uri,
    signer: &dyn JwtSigner,
) -> Result<String, TokenError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut header = serde_json::json!({"alg": signer.algorithm().as_str(), "typ": "JWT"});
    if let Some(kid) = signer.kid() {
        header["kid"] = kid.into();
    }
    let claims = serde_json::json!({
        "iss": client_id, "sub": client_id, "aud": endpoint.to_string(),
        "jti": random_id(), "iat": now, "exp": now + 60,
    });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = signer.sign(input.as_bytes())?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
}

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
    auth: Option<ClientAuth>,
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

fn default_http() -> Result<Arc<dyn HttpClient>, TokenError> {
    HyperClient::new()
        .map(|c| Arc::new(c) as Arc<dyn HttpClient>)
        .map_err(|e| TokenError::Config(format!("TLS: {e}")))
}

fn check_uri(uri: &Uri) -> Result<(), TokenError> {
    let loopback = matches!(
        uri.host(),
        Some("127.0.0.1" | "localhost" | "[::1]" | "::1")
    );
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if loopback => Ok(()),
        _ => Err(TokenError::Config(
            "the token endpoint must be https (http only on loopback)".into(),
        )),
    }
}

impl TokenEndpoint {
    /// The endpoint at `uri` (https, or http on loopback), with the default HTTP client
    /// and no client authentication yet.
    ///
    /// # Errors
    /// [`TokenError::Config`] for an unusable URL.
    pub fn new(uri: &str) -> Result<Self, TokenError> {
        let uri: Uri = uri
            .parse()
            .map_err(|_| TokenError::Config("the token endpoint is not a URL".into()))?;
        check_uri(&uri)?;
        Ok(TokenEndpoint {
            uri,
            auth: None,
            http: default_http()?,
            timeout: Duration::from_secs(10),
        })
    }

    /// Finds the token endpoint by discovery from `issuer`
    /// (`/.well-known/openid-configuration`, then RFC 8414
    /// `/.well-known/oauth-authorization-server`); the metadata's `issuer` must equal
    /// `issuer` exactly.
    ///
    /// # Errors
    /// [`TokenError::Config`] when neither document names a usable endpoint.
    pub async fn discover(issuer: &str) -> Result<Self, TokenError> {
        Self::discover_with(issuer, default_http()?).await
    }

    /// [`TokenEndpoint::discover`] with your own HTTP client.
    ///
    /// # Errors
    /// As [`TokenEndpoint::discover`].
    pub async fn discover_with(
        issuer: &str,
        http: Arc<dyn HttpClient>,
    ) -> Result<Self, TokenError> {
        let base = issuer.trim_end_matches('/');
        let mut last = TokenError::Config("discovery failed".into());
        for path in [
            "/.well-known/openid-configuration",
            "/.well-known/oauth-authorization-server",
        ] {
            let uri: Uri = match format!("{base}{path}").parse() {
                Ok(u) => u,
                Err(_) => return Err(TokenError::Config("the issuer is not a URL".into())),
            };
            check_uri(&uri)?;
            let mut headers = HeaderMap::new();
            headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
            let fut = http.get(HttpRequest::new(uri, headers, MAX_RESPONSE));
            let res = match tokio::time::timeout(Duration::from_secs(10), fut).await {
                Ok(Ok(r)) if r.status == StatusCode::OK => r,
                Ok(Ok(r)) => {
                    last = TokenError::Config(format!("discovery answered {}", r.status));
                    continue;
                }
                Ok(Err(e)) => {
                    last = TokenError::Transport(e.to_string());
                    continue;
                }
                Err(_) => {
                    last = TokenError::Timeout;
                    continue;
                }
            };
            let meta: serde_json::Value = serde_json::from_slice(&res.body)
                .map_err(|_| TokenError::Config("discovery document is not JSON".into()))?;
            if meta["issuer"].as_str() != Some(issuer) {
                return Err(TokenError::Config(
                    "discovery metadata names another issuer".into(),
                ));
            }
            let endpoint = meta["token_endpoint"]
                .as_str()
                .ok_or_else(|| TokenError::Config("metadata has no token_endpoint".into()))?;
            let mut e = TokenEndpoint::new(endpoint)?;
            e.http = http;
            return Ok(e);
        }
        Err(last)
    }

    /// Sets the client authentication.
    #[must_use]
    pub fn client_auth(mut self, auth: ClientAuth) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Uses your own HTTP client (proxy, custom CA, mTLS).
    #[must_use]
    pub fn http_client(mut self, http: impl HttpClient) -> Self {
        self.http = Arc::new(http);
        self
    }

    /// Per-request timeout (default 10 s).
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

    /// The client id, when client authentication is set.
    #[must_use]
    pub fn client_id(&self) -> Option<&str> {
        self.auth.as_ref().map(ClientAuth::client_id)
    }

    /// POSTs `params` (plus the client authentication) and reads the answer.
    ///
    /// # Errors
    /// See [`TokenError`]; OAuth error answers become [`TokenError::OAuth`].
    pub async fn request(&self, params: Vec<(&str, String)>) -> Result<TokenResponse, TokenError> {
        let mut form = FormParams::default();
        for (k, v) in params {
            form.append(k, v);
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        if let Some(auth) = &self.auth {
            auth.apply(&self.uri, &mut headers, &mut form)?;
        }
        let req = HttpRequest::post(
            self.uri.clone(),
            headers,
            Bytes::from(form.encode()),
            MAX_RESPONSE,
        );
        let res = tokio::time::timeout(self.timeout, self.http.get(req))
            .await
            .map_err(|_| TokenError::Timeout)?
            .map_err(|e| TokenError::Transport(e.to_string()))?;
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
