//! How a client authenticates to an authorization server's endpoints (token,
//! introspection): [`ClientAuth`], one enum for the resource server's introspection
//! calls and for tollgate-client's token requests.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue, Uri};

use super::BoxError;
use super::assertion::{JwtSigner, assertion};
use super::form::{FormParams, form_encode_into};

/// Your own client authentication: a bearer token kept fresh elsewhere, headers a
/// proxy needs, or (later, with an [`HttpClient`](super::HttpClient) presenting a
/// client certificate) mTLS (RFC 8705) beside `client_id` in the form.
///
/// Called once per request to the endpoint (never for cached answers), synchronously:
/// keep anything slow (fetching a token) off this path, e.g. in a background task.
///
/// ```
/// use tollgate_core::oauth::{BoxError, ClientAuth, ClientAuthHook, FormParams};
///
/// /// `tls_client_auth` (RFC 8705 §2): the certificate is presented by the HTTP client,
/// /// the form names the client.
/// #[derive(Debug)]
/// struct TlsClientAuth;
/// impl ClientAuthHook for TlsClientAuth {
///     fn authenticate(
///         &self,
///         _endpoint: &http::Uri,
///         _headers: &mut http::HeaderMap,
///         form: &mut FormParams,
///     ) -> Result<(), BoxError> {
///         form.append("client_id", "orders-api");
///         Ok(())
///     }
/// }
/// let auth = ClientAuth::custom(TlsClientAuth);
/// assert_eq!(format!("{auth:?}"), "Custom(TlsClientAuth)");
/// ```
pub trait ClientAuthHook: fmt::Debug + Send + Sync + 'static {
    /// Adds client authentication to one request to `endpoint`.
    ///
    /// # Errors
    /// When no credential can be produced right now (the request is not sent).
    fn authenticate(
        &self,
        endpoint: &Uri,
        headers: &mut HeaderMap,
        form: &mut FormParams,
    ) -> Result<(), BoxError>;
}

/// Why the client authentication could not be added to a request (it is not sent).
/// Never carries a secret.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ClientAuthError {
    /// The credentials do not fit in an HTTP header value (a control character in an
    /// access token).
    #[error("the client credentials are not a valid HTTP header value")]
    InvalidHeader,
    /// The [`JwtSigner`] of `private_key_jwt` failed.
    #[error("signing the private_key_jwt client assertion failed")]
    Signing(#[source] Arc<dyn std::error::Error + Send + Sync>),
    /// A [`ClientAuthHook`] failed.
    #[error("the client authentication hook failed")]
    Hook(#[source] Arc<dyn std::error::Error + Send + Sync>),
}

/// How a client authenticates to an authorization server's endpoint (RFC 6749 §2.3,
/// RFC 7523, RFC 7662 §2.1). Secrets are never shown by `Debug`.
///
/// mTLS client authentication (RFC 8705 §2: `tls_client_auth`,
/// `self_signed_tls_client_auth`) is a pair: the variant names the client in the
/// form, the [`HttpClient`](super::HttpClient) presents the certificate
/// ([`HyperClient::with_client_auth_cert`](super::HyperClient::with_client_auth_cert)).
///
/// ```
/// use tollgate_core::oauth::ClientAuth;
/// let auth = ClientAuth::client_secret_basic("orders-api", "hunter2");
/// // accepted: the client id is there
/// assert_eq!(auth.client_id(), Some("orders-api"));
/// // rejected: the secret never shows
/// assert!(!format!("{auth:?}").contains("hunter2"));
/// ```
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum ClientAuth {
    /// No client authentication (only for endpoints protected otherwise).
    #[default]
    None,
    /// A public client (`token_endpoint_auth_method` `none`): only `client_id` in the
    /// form.
    Public {
        /// `client_id`.
        client_id: String,
    },
    /// `client_secret_basic` (RFC 6749 §2.3.1): HTTP Basic with the form-encoded
    /// `client_id` and `client_secret`.
    ClientSecretBasic {
        /// `client_id`.
        client_id: String,
        /// `client_secret`.
        client_secret: String,
    },
    /// `client_secret_post`: `client_id` and `client_secret` as form parameters.
    ClientSecretPost {
        /// `client_id`.
        client_id: String,
        /// `client_secret`.
        client_secret: String,
    },
    /// `private_key_jwt` (RFC 7523 §2.2, OIDC Core §9): a fresh signed assertion per
    /// request (`iss` = `sub` = client id, `aud` = the endpoint, `jti` random, 60 s
    /// lifetime).
    PrivateKeyJwt {
        /// `client_id`.
        client_id: String,
        /// The signing key.
        signer: Arc<dyn JwtSigner>,
    },
    /// `Authorization: Bearer <token>` with a separately obtained access token (RFC 7662
    /// §2.1 allows it for introspection).
    AccessToken(String),
    /// Your own scheme: see [`ClientAuthHook`].
    Custom(Arc<dyn ClientAuthHook>),
    /// `tls_client_auth` (RFC 8705 §2.1): the client authenticates with a TLS client
    /// certificate from a PKI the authorization server trusts, presented by the HTTP
    /// client; the form carries `client_id` only.
    TlsClientAuth {
        /// `client_id`.
        client_id: String,
    },
    /// `self_signed_tls_client_auth` (RFC 8705 §2.2): as [`Self::TlsClientAuth`]
    /// with a self-signed certificate registered with the authorization server.
    SelfSignedTlsClientAuth {
        /// `client_id`.
        client_id: String,
    },
}

/// Secrets are never shown.
impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (method, client_id) = match self {
            ClientAuth::None => return f.write_str("None"),
            ClientAuth::AccessToken(_) => return f.write_str("AccessToken(..)"),
            ClientAuth::Custom(hook) => return f.debug_tuple("Custom").field(hook).finish(),
            ClientAuth::Public { client_id } => ("Public", client_id),
            ClientAuth::ClientSecretBasic { client_id, .. } => ("ClientSecretBasic", client_id),
            ClientAuth::ClientSecretPost { client_id, .. } => ("ClientSecretPost", client_id),
            ClientAuth::PrivateKeyJwt { client_id, .. } => ("PrivateKeyJwt", client_id),
            ClientAuth::TlsClientAuth { client_id } => ("TlsClientAuth", client_id),
            ClientAuth::SelfSignedTlsClientAuth { client_id } => {
                ("SelfSignedTlsClientAuth", client_id)
            }
        };
        f.debug_struct(method)
            .field("client_id", client_id)
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

    /// `private_key_jwt` with `signer` (e.g. a [`PemSigner`](super::PemSigner)).
    pub fn private_key_jwt(client_id: impl Into<String>, signer: impl JwtSigner) -> Self {
        ClientAuth::PrivateKeyJwt {
            client_id: client_id.into(),
            signer: Arc::new(signer),
        }
    }

    /// A public client: `client_id` only.
    pub fn public(client_id: impl Into<String>) -> Self {
        ClientAuth::Public {
            client_id: client_id.into(),
        }
    }

    /// `Authorization: Bearer` with a separately obtained access token.
    pub fn access_token(token: impl Into<String>) -> Self {
        ClientAuth::AccessToken(token.into())
    }

    /// `tls_client_auth` (RFC 8705 §2.1): `client_id` in the form, the certificate
    /// presented by the HTTP client (e.g.
    /// [`HyperClient::with_client_auth_cert`](super::HyperClient::with_client_auth_cert)).
    ///
    /// ```
    /// use tollgate_core::oauth::ClientAuth;
    /// let auth = ClientAuth::tls_client_auth("orders-api");
    /// assert_eq!(auth.client_id(), Some("orders-api"));
    /// ```
    pub fn tls_client_auth(client_id: impl Into<String>) -> Self {
        ClientAuth::TlsClientAuth {
            client_id: client_id.into(),
        }
    }

    /// `self_signed_tls_client_auth` (RFC 8705 §2.2): as
    /// [`Self::tls_client_auth`], with a self-signed certificate.
    pub fn self_signed_tls_client_auth(client_id: impl Into<String>) -> Self {
        ClientAuth::SelfSignedTlsClientAuth {
            client_id: client_id.into(),
        }
    }

    /// Your own scheme.
    pub fn custom(hook: impl ClientAuthHook) -> Self {
        ClientAuth::Custom(Arc::new(hook))
    }

    /// The client id, when this authentication names one.
    #[must_use]
    pub fn client_id(&self) -> Option<&str> {
        match self {
            ClientAuth::Public { client_id }
            | ClientAuth::ClientSecretBasic { client_id, .. }
            | ClientAuth::ClientSecretPost { client_id, .. }
            | ClientAuth::PrivateKeyJwt { client_id, .. }
            | ClientAuth::TlsClientAuth { client_id }
            | ClientAuth::SelfSignedTlsClientAuth { client_id } => Some(client_id),
            ClientAuth::None | ClientAuth::AccessToken(_) | ClientAuth::Custom(_) => None,
        }
    }

    /// Adds this authentication to one request to `endpoint`.
    ///
    /// # Errors
    /// See [`ClientAuthError`].
    pub fn apply(
        &self,
        endpoint: &Uri,
        headers: &mut HeaderMap,
        form: &mut FormParams,
    ) -> Result<(), ClientAuthError> {
        match self {
            ClientAuth::None => {}
            ClientAuth::Public { client_id }
            | ClientAuth::TlsClientAuth { client_id }
            | ClientAuth::SelfSignedTlsClientAuth { client_id } => {
                form.append("client_id", client_id);
            }
            ClientAuth::ClientSecretBasic {
                client_id,
                client_secret,
            } => {
                let mut pair = String::new();
                form_encode_into(&mut pair, client_id);
                pair.push(':');
                form_encode_into(&mut pair, client_secret);
                let value = format!("Basic {}", STANDARD.encode(pair));
                headers.insert(AUTHORIZATION, sensitive(value)?);
            }
            ClientAuth::ClientSecretPost {
                client_id,
                client_secret,
            } => {
                form.append("client_id", client_id);
                form.append("client_secret", client_secret);
            }
            ClientAuth::PrivateKeyJwt { client_id, signer } => {
                let jwt = assertion(client_id, endpoint, &**signer)
                    .map_err(|e| ClientAuthError::Signing(Arc::from(e)))?;
                form.append("client_id", client_id);
                form.append(
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                );
                form.append("client_assertion", jwt);
            }
            ClientAuth::AccessToken(token) => {
                headers.insert(AUTHORIZATION, sensitive(format!("Bearer {token}"))?);
            }
            ClientAuth::Custom(hook) => hook
                .authenticate(endpoint, headers, form)
                .map_err(|e| ClientAuthError::Hook(Arc::from(e)))?,
        }
        Ok(())
    }
}

fn sensitive(value: String) -> Result<HeaderValue, ClientAuthError> {
    let mut v = HeaderValue::try_from(value).map_err(|_| ClientAuthError::InvalidHeader)?;
    v.set_sensitive(true);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_encoded() {
        let uri: Uri = "https://as.example/introspect".parse().expect("uri");
        let mut h = HeaderMap::new();
        let mut f = FormParams::default();
        ClientAuth::client_secret_basic("rs:1", "p w")
            .apply(&uri, &mut h, &mut f)
            .expect("applies");
        // "rs%3A1:p+w"
        assert_eq!(
            h.get(AUTHORIZATION).and_then(|v| v.to_str().ok()),
            Some("Basic cnMlM0ExOnArdw==")
        );
        assert!(h.get(AUTHORIZATION).is_some_and(HeaderValue::is_sensitive));
        assert!(f.as_slice().is_empty());
        for auth in [
            ClientAuth::client_secret_post("rs", "hunter2"),
            ClientAuth::client_secret_basic("rs", "hunter2"),
            ClientAuth::access_token("hunter2"),
        ] {
            let dbg = format!("{auth:?}");
            assert!(!dbg.contains("hunter2"), "{dbg}");
        }
    }

    #[test]
    fn tls_client_auth_names_the_client_only() {
        let uri: Uri = "https://as.example/token".parse().expect("uri");
        for auth in [
            ClientAuth::tls_client_auth("rs"),
            ClientAuth::self_signed_tls_client_auth("rs"),
        ] {
            let mut h = HeaderMap::new();
            let mut f = FormParams::default();
            auth.apply(&uri, &mut h, &mut f).expect("applies");
            assert!(h.is_empty());
            assert_eq!(f.as_slice(), [("client_id".to_owned(), "rs".to_owned())]);
            assert_eq!(auth.client_id(), Some("rs"));
        }
    }

    #[test]
    fn a_token_that_is_no_header_value_is_refused() {
        let uri: Uri = "https://as.example/introspect".parse().expect("uri");
        let e = ClientAuth::access_token("a\nb")
            .apply(&uri, &mut HeaderMap::new(), &mut FormParams::default())
            .expect_err("refused");
        assert!(matches!(e, ClientAuthError::InvalidHeader));
    }
}
