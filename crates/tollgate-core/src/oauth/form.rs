//! `application/x-www-form-urlencoded` bodies ([`FormParams`]) and the one way a form
//! `POST` to an authorization server is built ([`form_post`]): introspection and token
//! requests alike.

use std::fmt;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Uri};

use super::auth::{ClientAuth, ClientAuthError};
use super::client::HttpRequest;

/// The form parameters of one request (`grant_type`, `token`, ... and whatever the
/// client authentication adds), in order.
///
/// ```
/// use tollgate_core::oauth::FormParams;
/// let form: FormParams = [("grant_type", "client_credentials"), ("scope", "a b")].into_iter().collect();
/// assert_eq!(form.encode(), "grant_type=client_credentials&scope=a+b");
/// // values are never shown
/// assert_eq!(format!("{form:?}"), r#"["grant_type", "scope"]"#);
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct FormParams(Vec<(String, String)>);

/// Values are not shown: the form may carry a token or a client secret.
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

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for FormParams {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        FormParams(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl<K: Into<String>, V: Into<String>> Extend<(K, V)> for FormParams {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        self.0
            .extend(iter.into_iter().map(|(k, v)| (k.into(), v.into())));
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

/// A form `POST` of `form` to `endpoint`, authenticated with `auth`
/// (`Content-Type: application/x-www-form-urlencoded`, `Accept: application/json`),
/// with a response body cap. Send it with your [`HttpClient`](super::HttpClient)
/// within a timeout.
///
/// # Errors
/// When the client authentication cannot be added ([`ClientAuthError`]).
pub fn form_post(
    endpoint: &Uri,
    auth: &ClientAuth,
    mut form: FormParams,
    max_body: usize,
) -> Result<HttpRequest, ClientAuthError> {
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    auth.apply(endpoint, &mut headers, &mut form)?;
    Ok(HttpRequest::post(
        endpoint.clone(),
        headers,
        Bytes::from(form.encode()),
        max_body,
    ))
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
}
