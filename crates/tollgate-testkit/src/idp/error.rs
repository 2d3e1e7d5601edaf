//! OAuth 2.0 error responses (RFC 6749 §5.2, RFC 8707 `invalid_target`).

use std::fmt;

use serde_json::json;

use super::http::Response;

/// An OAuth error answer: the `error` code, a fixed description and the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OAuthError {
    /// The `error` code (`invalid_client`, `invalid_scope`, ...).
    pub error: &'static str,
    /// `error_description`.
    pub description: String,
    /// The HTTP status (401 for `invalid_client`, else 400).
    pub status: u16,
    /// A `DPoP-Nonce` to send along (`use_dpop_nonce`).
    pub(crate) dpop_nonce: Option<String>,
}

impl OAuthError {
    fn new(error: &'static str, status: u16, description: impl Into<String>) -> Self {
        OAuthError {
            error,
            description: description.into(),
            status,
            dpop_nonce: None,
        }
    }

    /// `invalid_dpop_proof` (400, RFC 9449 §5).
    pub(crate) fn invalid_dpop_proof(description: impl Into<String>) -> Self {
        Self::new("invalid_dpop_proof", 400, description)
    }

    /// `use_dpop_nonce` (400, RFC 9449 §8) with a fresh `DPoP-Nonce`.
    pub(crate) fn use_dpop_nonce(nonce: Option<String>) -> Self {
        let mut e = Self::new(
            "use_dpop_nonce",
            400,
            "Authorization server requires nonce in DPoP proof",
        );
        e.dpop_nonce = nonce;
        e
    }

    /// `invalid_request` (400).
    pub(crate) fn invalid_request(description: impl Into<String>) -> Self {
        Self::new("invalid_request", 400, description)
    }

    /// `invalid_client` (401): unknown client, wrong secret, or no client authentication.
    pub(crate) fn invalid_client() -> Self {
        Self::new("invalid_client", 401, "Client authentication failed")
    }

    /// `invalid_scope` (400).
    pub(crate) fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new("invalid_scope", 400, description)
    }

    /// `invalid_target` (400, RFC 8707).
    pub(crate) fn invalid_target(description: impl Into<String>) -> Self {
        Self::new("invalid_target", 400, description)
    }

    /// `invalid_grant` (400): a refresh, subject or actor token that is not (or no
    /// longer) good.
    pub(crate) fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new("invalid_grant", 400, description)
    }

    /// `unauthorized_client` (400): the client may not use this grant.
    pub(crate) fn unauthorized_client(description: impl Into<String>) -> Self {
        Self::new("unauthorized_client", 400, description)
    }

    /// `unsupported_grant_type` (400).
    pub(crate) fn unsupported_grant_type() -> Self {
        Self::new(
            "unsupported_grant_type",
            400,
            "Supported grant types: client_credentials, refresh_token, \
             urn:ietf:params:oauth:grant-type:token-exchange",
        )
    }

    /// The HTTP answer: JSON body, `Cache-Control: no-store`, and on 401 a
    /// `WWW-Authenticate: Basic` challenge (RFC 6749 §5.2 requires it when the client
    /// used `Authorization: Basic`; RFC 9110 requires a challenge on every 401).
    pub(crate) fn response(&self) -> Response {
        let r = Response::json(
            self.status,
            &json!({"error": self.error, "error_description": self.description}),
        )
        .no_store();
        let r = match &self.dpop_nonce {
            Some(n) => r.header("DPoP-Nonce", n.as_str()),
            None => r,
        };
        if self.status == 401 {
            r.header("WWW-Authenticate", r#"Basic realm="tollgate-dev-idp""#)
        } else {
            r
        }
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.error, self.status, self.description)
    }
}

impl std::error::Error for OAuthError {}
