//! Typed errors of the token sources: OAuth error responses (RFC 6749 §5.2, RFC 8707,
//! RFC 8693) by code, transport failures, backoff.
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
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why no token could be obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenError {
    /// The token endpoint answered an OAuth error.
    OAuth {
        /// The `error` code.
        code: OAuthErrorCode,
        /// `error_description`, when given (cut to 200 characters).
        description: Option<String>,
        /// The HTTP status.
        status: u16,
    },
    /// The token endpoint answered an unexpected status without an OAuth error body.
    Status {
        /// The HTTP status.
        status: u16,
    },
    /// A success answer that is not a usable token response (missing `access_token`,
    /// `token_type` other than Bearer, broken JSON).
    InvalidResponse(&'static str),
    /// Connection, TLS or protocol failure, or a body over the size cap.
    Transport(String),
    /// The token endpoint did not answer in time.
    Timeout,
    /// Earlier attempts failed; no request is made until `retry_in` has passed. The
    /// last failure is kept.
    Backoff {
        /// Time until the next attempt is allowed.
        retry_in: Duration,
        /// The failure that started (or extended) the backoff.
        last: Box<TokenError>,
    },
    /// The refresh token was rejected (`invalid_grant`) earlier: the source cannot
    /// produce tokens any more; a new sign-in (a new refresh token) is needed.
    RefreshTokenRejected,
    /// Exchange propagation found no subject token on the outgoing request (attach a
    /// [`SubjectToken`](crate::SubjectToken) to its extensions).
    NoSubjectToken,
    /// Signing a `private_key_jwt` client assertion failed.
    Signing(String),
    /// The configuration is unusable (bad URL, discovery failed, ...).
    Config(String),
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
            TokenError::Transport(_) | TokenError::Timeout => true,
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

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::OAuth {
                code,
                description,
                status,
            } => {
                write!(f, "token endpoint answered {code} ({status})")?;
                if let Some(d) = description {
                    write!(f, ": {d}")?;
                }
                Ok(())
            }
            TokenError::Status { status } => {
                write!(
                    f,
                    "token endpoint answered HTTP {status} without an OAuth error"
                )
            }
            TokenError::InvalidResponse(why) => write!(f, "unusable token response: {why}"),
            TokenError::Transport(e) => write!(f, "token endpoint unreachable: {e}"),
            TokenError::Timeout => f.write_str("token endpoint did not answer in time"),
            TokenError::Backoff { retry_in, last } => write!(
                f,
                "backing off for {} ms after: {last}",
                retry_in.as_millis()
            ),
            TokenError::RefreshTokenRejected => {
                f.write_str("the refresh token was rejected; a new sign-in is needed")
            }
            TokenError::NoSubjectToken => {
                f.write_str("no subject token on the request to exchange")
            }
            TokenError::Signing(e) => write!(f, "client assertion signing failed: {e}"),
            TokenError::Config(e) => write!(f, "configuration: {e}"),
        }
    }
}

impl std::error::Error for TokenError {}
