//! How the resource server authenticates itself to the introspection endpoint.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue, Uri};

/// The form parameters of one introspection request (`token`, `token_type_hint`, and
/// whatever the client authentication adds).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct FormParams(Vec<(String, String)>);

/// Values are not shown: the form carries the token and maybe a client secret.
impl fmt::Debug for FormParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(k, _)| k))
            .finish()
    }
}

impl FormParams {
    /// Appends `name=value`.
    pub fn append(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push((name.into(), value.into()));
    }

    /// The parameters, in order.
    #[must_use]
    pub fn as_slice(&self) -> &[(String, String)] {
        &self.0
    }

    /// The `application/x-www-form-urlencoded` body.
    #[must_use]
    pub fn encode(&self) -> String {
        let mut out = String::new();
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            form_encode_into(&mut out, k);
            out.push('=');
            form_encode_into(&mut out, v);
        }
        out
    }
}

/// `application/x-www-form-urlencoded` byte serialization (WHATWG URL §5.2).
pub(crate) fn form_encode_into(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 15)]));
            }
        }
    }
}

fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    form_encode_into(&mut out, s);
    out
}

/// The error a [`ClientAuthHook`] returns; the request is not sent and the caller gets
/// 503 (the resource server cannot decide, which is not the token's fault).
pub type HookError = Box<dyn std::error::Error + Send + Sync>;

/// Your own client authentication for the introspection request: `private_key_jwt`
/// (RFC 7523: append `client_assertion_type` and a freshly signed `client_assertion`),
/// a bearer token kept fresh elsewhere, mTLS headers set by a proxy, ...
///
/// Called once per introspection request (never for cache hits), synchronously: keep
/// anything slow (fetching a token) off this path, e.g. in a background task.
///
/// ```
/// use tollgate_core::introspect::{ClientAuth, ClientAuthHook, FormParams, HookError};
///
/// #[derive(Debug)]
/// struct PrivateKeyJwt;
/// impl ClientAuthHook for PrivateKeyJwt {
///     fn authenticate(
///         &self,
///         endpoint: &http::Uri,
///         _headers: &mut http::HeaderMap,
///         form: &mut FormParams,
///     ) -> Result<(), HookError> {
///         form.append("client_id", "orders-api");
///         form.append(
///             "client_assertion_type",
///             "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
///         );
///         // sign a short-lived JWT with aud = the endpoint here
///         form.append("client_assertion", format!("signed-for-{endpoint}"));
///         Ok(())
///     }
/// }
/// let auth = ClientAuth::custom(PrivateKeyJwt);
/// # let _ = auth;
/// ```
pub trait ClientAuthHook: fmt::Debug + Send + Sync + 'static {
    /// Adds client authentication to one introspection request to `endpoint`.
    ///
    /// # Errors
    /// When no credential can be produced right now (answered 503).
    fn authenticate(
        &self,
        endpoint: &Uri,
        headers: &mut HeaderMap,
        form: &mut FormParams,
    ) -> Result<(), HookError>;
}

/// How the resource server authenticates to the introspection endpoint (RFC 7662 §2.1
/// requires some authorization).
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum ClientAuth {
    /// No client authentication (only for endpoints protected otherwise).
    #[default]
    None,
    /// `client_secret_basic` (RFC 6749 §2.3.1): HTTP Basic with the form-encoded
    /// `client_id` and `client_secret`.
    ClientSecretBasic {
        /// The resource server's client id.
        client_id: String,
        /// Its secret.
        client_secret: String,
    },
    /// `client_secret_post`: `client_id` and `client_secret` as form parameters.
    ClientSecretPost {
        /// The resource server's client id.
        client_id: String,
        /// Its secret.
        client_secret: String,
    },
    /// `Authorization: Bearer <token>` (RFC 7662 §2.1 allows a separate access token).
    Bearer(String),
    /// Your own scheme, e.g. `private_key_jwt`: see [`ClientAuthHook`].
    Custom(Arc<dyn ClientAuthHook>),
}

/// Secrets are never shown.
impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientAuth::None => f.write_str("None"),
            ClientAuth::ClientSecretBasic { client_id, .. } => f
                .debug_struct("ClientSecretBasic")
                .field("client_id", client_id)
                .finish_non_exhaustive(),
            ClientAuth::ClientSecretPost { client_id, .. } => f
                .debug_struct("ClientSecretPost")
                .field("client_id", client_id)
                .finish_non_exhaustive(),
            ClientAuth::Bearer(_) => f.write_str("Bearer(..)"),
            ClientAuth::Custom(hook) => f.debug_tuple("Custom").field(hook).finish(),
        }
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

    /// Your own scheme.
    pub fn custom(hook: impl ClientAuthHook) -> Self {
        ClientAuth::Custom(Arc::new(hook))
    }

    /// Adds this authentication to one request.
    pub(crate) fn apply(
        &self,
        endpoint: &Uri,
        headers: &mut HeaderMap,
        form: &mut FormParams,
    ) -> Result<(), HookError> {
        match self {
            ClientAuth::None => Ok(()),
            ClientAuth::ClientSecretBasic {
                client_id,
                client_secret,
            } => {
                let pair = format!("{}:{}", form_encode(client_id), form_encode(client_secret));
                let mut value = HeaderValue::try_from(format!("Basic {}", STANDARD.encode(pair)))?;
                value.set_sensitive(true);
                headers.insert(AUTHORIZATION, value);
                Ok(())
            }
            ClientAuth::ClientSecretPost {
                client_id,
                client_secret,
            } => {
                form.append("client_id", client_id);
                form.append("client_secret", client_secret);
                Ok(())
            }
            ClientAuth::Bearer(token) => {
                let mut value = HeaderValue::try_from(format!("Bearer {token}"))?;
                value.set_sensitive(true);
                headers.insert(AUTHORIZATION, value);
                Ok(())
            }
            ClientAuth::Custom(hook) => hook.authenticate(endpoint, headers, form),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding() {
        let mut f = FormParams::default();
        f.append("token", "a b+c/=&é");
        f.append("token_type_hint", "access_token");
        assert_eq!(
            f.encode(),
            "token=a+b%2Bc%2F%3D%26%C3%A9&token_type_hint=access_token"
        );
        assert_eq!(format!("{f:?}"), r#"["token", "token_type_hint"]"#);
    }

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
        assert!(f.as_slice().is_empty());
        let dbg = format!("{:?}", ClientAuth::client_secret_post("rs", "hunter2"));
        assert!(!dbg.contains("hunter2"), "{dbg}");
    }
}
