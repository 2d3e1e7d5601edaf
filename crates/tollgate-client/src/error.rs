//! Typed errors: [`TokenError`] when no token could be obtained (OAuth error responses
//! by code per RFC 6749 §5.2, RFC 8707, RFC 8693; transport failures; backoff) and
//! [`ConfigError`] when a configuration cannot work. Both implement
//! [`std::error::Error`] with their causes as [`source`](std::error::Error::source).
//!
//! `Display` and `Debug` never show a token or a secret: only the error code, the
//! authorization server's `error_description` (its own fixed text) and statuses.
//!
//! # Example
//!
//! ```
//! use tollgate_client::error::{OAuthErrorCode, TokenError};
//!
//! // accepted: a well-formed error answer becomes a typed error
//! let e = TokenError::from_error_response(400, br#"{"error":"invalid_grant","error_description":"expired"}"#);
//! assert_eq!(e.oauth_code(), Some(&OAuthErrorCode::InvalidGrant));
//! assert_eq!(e.to_string(), "token endpoint answered invalid_grant (400): expired");
//!
//! // rejected: an answer that is not an OAuth error is reported as such
//! let e = TokenError::from_error_response(502, b"<html>bad gateway</html>");
//! assert!(matches!(e, TokenError::Status { status: 502 }));
//! ```

use std::fmt;
use std::time::Duration;

use tollgate_core::oauth::{BoxError, ClientAuthError, HttpError, InsecureUrl};
use tollgate_core::remote::FetchError;
use tollgate_core::scope::ScopeError;

use crate::dpop::DpopKeyError;

/// The `error` code of an OAuth error response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OAuthErrorCode {
    /// `invalid_request`.
    InvalidRequest,
    /// `invalid_client`: client authentication failed (wrong secret, unknown client,
    /// bad assertion).
    InvalidClient,
    /// `invalid_grant`: the refresh token, subject token or actor token is invalid,
    /// expired, revoked or already used.
    InvalidGrant,
    /// `unauthorized_client`: this client may not use this grant type.
    UnauthorizedClient,
    /// `unsupported_grant_type`.
    UnsupportedGrantType,
    /// `invalid_scope`: a requested scope is unknown or exceeds what may be granted.
    InvalidScope,
    /// `invalid_target` (RFC 8707): the requested resource/audience is not allowed.
    InvalidTarget,
    /// `invalid_dpop_proof` (RFC 9449): the DPoP proof was refused.
    InvalidDpopProof,
    /// `use_dpop_nonce` (RFC 9449 §8): the server wants a nonce in the proof (asked
    /// again after the one retry with the server's nonce).
    UseDpopNonce,
    /// Any other code.
    Other(String),
}

impl OAuthErrorCode {
    /// Reads an `error` value.
    #[must_use]
    pub fn parse(code: &str) -> Self {
        match code {
            "invalid_request" => Self::InvalidRequest,
            "invalid_client" => Self::InvalidClient,
            "invalid_grant" => Self::InvalidGrant,
            "unauthorized_client" => Self::UnauthorizedClient,
            "unsupported_grant_type" => Self::UnsupportedGrantType,
            "invalid_scope" => Self::InvalidScope,
            "invalid_target" => Self::InvalidTarget,
            "invalid_dpop_proof" => Self::InvalidDpopProof,
            "use_dpop_nonce" => Self::UseDpopNonce,
            other => Self::Other(other.chars().take(64).collect()),
        }
    }

    /// The wire value.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why no token could be obtained (at run time; a configuration that cannot work is
/// a [`ConfigError`] when it is built).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The token endpoint answered an OAuth error.
    #[error("token endpoint answered {code} ({status}){}", .description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    OAuth {
        /// The `error` code.
        code: OAuthErrorCode,
        /// `error_description`, when given (cut to 200 characters).
        description: Option<String>,
        /// The HTTP status.
        status: u16,
    },
    /// The token endpoint answered an unexpected status without an OAuth error body.
    #[error("token endpoint answered HTTP {status} without an OAuth error")]
    Status {
        /// The HTTP status.
        status: u16,
    },
    /// A success answer that is not a usable token response (missing `access_token`,
    /// broken JSON, `token_type` other than Bearer — or other than DPoP when a DPoP
    /// key is configured).
    #[error("unusable token response: {0}")]
    InvalidResponse(&'static str),
    /// Connection, TLS or protocol failure, or a body over the size cap.
    #[error("token endpoint unreachable")]
    Transport(#[source] HttpError),
    /// The token endpoint did not answer in time.
    #[error("token endpoint did not answer within {} ms", .0.as_millis())]
    Timeout(Duration),
    /// Earlier attempts failed; no request is made until `retry_in` has passed. The
    /// last failure is kept (and is the [`source`](std::error::Error::source)).
    #[error("backing off for {} ms after a failed token request", .retry_in.as_millis())]
    Backoff {
        /// Time until the next attempt is allowed.
        retry_in: Duration,
        /// The failure that started (or extended) the backoff.
        #[source]
        last: Box<TokenError>,
    },
    /// The refresh token was rejected (`invalid_grant`) earlier: the source cannot
    /// produce tokens any more; a new sign-in (a new refresh token) is needed.
    #[error("the refresh token was rejected; a new sign-in is needed")]
    RefreshTokenRejected,
    /// Exchange propagation found no subject token on the outgoing request (attach a
    /// [`SubjectToken`](crate::SubjectToken) to its extensions).
    #[error("no subject token on the request to exchange")]
    NoSubjectToken,
    /// The client authentication could not be added (a `private_key_jwt` signer or a
    /// custom hook failed); the request was not sent.
    #[error("client authentication failed")]
    ClientAuth(#[from] ClientAuthError),
    /// No DPoP proof could be made (a URL that is not absolute, no randomness); the
    /// request was not sent.
    #[error("cannot make a DPoP proof")]
    Dpop(#[source] DpopKeyError),
}

/// Why a token endpoint or token source could not be configured: the one
/// configuration error of this crate. Never shows a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The token endpoint URL is not absolute `https` (`http` only for loopback
    /// hosts) or carries user info. The URL is not repeated (it may hold a password).
    #[error("the token endpoint URL is refused")]
    InsecureUrl(#[source] InsecureUrl),
    /// Discovery found no usable token endpoint: the document could not be read, names
    /// another issuer, or has no (acceptable) `token_endpoint`.
    #[error("token endpoint discovery failed")]
    Discovery(#[source] FetchError),
    /// The default HTTP client could not be created.
    #[error("the default HTTP client could not be created")]
    HttpClient(#[source] BoxError),
    /// A configured scope is not an RFC 6749 §3.3 scope-token (one scope per call:
    /// `"a b"` is two scopes).
    #[error("scope {scope:?} is not a valid scope-token")]
    InvalidScope {
        /// The scope as configured (at most 100 characters).
        scope: String,
        /// What is wrong with it.
        #[source]
        source: ScopeError,
    },
    /// [`AddDpopLayer`](crate::AddDpopLayer) needs a propagation mode whose tokens
    /// are DPoP-bound: a token source built with a DPoP key (`dpop(..)`); forwarding
    /// the caller's token cannot work (it is bound to the caller's key).
    #[error(
        "the DPoP layer needs a token source configured with a DPoP key (dpop(..)); forward-unchanged cannot be DPoP-bound"
    )]
    NoDpopKey,
}

/// Shows an error with its causes, `outer: cause: root cause` (for log lines).
pub(crate) struct Chain<'a>(pub(crate) &'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(c) = cause {
            write!(f, ": {c}")?;
            cause = c.source();
        }
        Ok(())
    }
}

impl ConfigError {
    pub(crate) fn scope(scope: &str, source: ScopeError) -> Self {
        ConfigError::InvalidScope {
            scope: scope.chars().take(100).collect(),
            source,
        }
    }
}

impl TokenError {
    /// The OAuth error code, when the token endpoint answered one (also inside
    /// [`TokenError::Backoff`]).
    #[must_use]
    pub fn oauth_code(&self) -> Option<&OAuthErrorCode> {
        match self {
            TokenError::OAuth { code, .. } => Some(code),
            TokenError::Backoff { last, .. } => last.oauth_code(),
            _ => None,
        }
    }

    /// True for failures worth retrying later (transport, timeout, 5xx, 429).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            TokenError::Transport(_) | TokenError::Timeout(_) => true,
            TokenError::Status { status } => *status >= 500 || *status == 429,
            TokenError::Backoff { last, .. } => last.is_transient(),
            _ => false,
        }
    }

    /// Reads a non-200 token endpoint answer.
    #[must_use]
    pub fn from_error_response(status: u16, body: &[u8]) -> Self {
        #[derive(serde::Deserialize)]
        struct Dto {
            error: String,
            #[serde(default)]
            error_description: Option<String>,
        }
        match serde_json::from_slice::<Dto>(body) {
            Ok(d) if (400..500).contains(&status) => TokenError::OAuth {
                code: OAuthErrorCode::parse(&d.error),
                description: d.error_description.map(|s| s.chars().take(200).collect()),
                status,
            },
            _ => TokenError::Status { status },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn chains_and_no_secrets() {
        let transport = TokenError::Transport(HttpError::Transport("connection refused".into()));
        let e = TokenError::Backoff {
            retry_in: Duration::from_millis(1500),
            last: Box::new(transport),
        };
        assert_eq!(
            e.to_string(),
            "backing off for 1500 ms after a failed token request"
        );
        let last = e.source().expect("the last failure");
        assert_eq!(last.to_string(), "token endpoint unreachable");
        assert_eq!(
            last.source().map(ToString::to_string).as_deref(),
            Some("transport error: connection refused")
        );
        let e = ConfigError::scope(
            "orders:read orders:write",
            ScopeError::InvalidCharacter { position: 11 },
        );
        assert_eq!(
            e.to_string(),
            r#"scope "orders:read orders:write" is not a valid scope-token"#
        );
        assert!(e.source().is_some());
        let e = TokenError::Transport(HttpError::Transport("refused".into()));
        assert_eq!(
            Chain(&e).to_string(),
            "token endpoint unreachable: transport error: refused"
        );
    }
}
