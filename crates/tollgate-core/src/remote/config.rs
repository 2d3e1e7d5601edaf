//! Refresh timings, key sources and the errors of fetching.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::UrlError;
use crate::oauth::HttpError;

/// Timings and limits of one issuer's key refresh. Start from [`Default`] and change
/// the fields you need:
///
/// ```
/// # use std::time::Duration;
/// let mut refresh = tollgate_core::remote::RefreshConfig::default();
/// refresh.cooldown = Duration::from_secs(10);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RefreshConfig {
    /// Lower clamp of the scheduled refresh interval (default 60 s).
    pub min_interval: Duration,
    /// Upper clamp of the scheduled refresh interval (default 24 h).
    pub max_interval: Duration,
    /// Interval when the server sends neither `Cache-Control: max-age` nor `Expires`
    /// (default 10 min).
    pub default_interval: Duration,
    /// At most one refresh caused by unknown `kid`s per issuer per this window
    /// (default 30 s).
    pub cooldown: Duration,
    /// How long a request with an unknown `kid` waits for the refresh (default 2 s).
    pub unknown_kid_wait: Duration,
    /// Failed refreshes keep the last good key set this long after its last successful
    /// fetch; then it is dropped and requests get 503 (default 24 h).
    pub max_staleness: Duration,
    /// Timeout of one HTTP exchange, body included (default 5 s).
    pub fetch_timeout: Duration,
    /// Cap on a response body (default 1 MiB).
    pub max_body: usize,
    /// First retry delay after a failed fetch; doubled per failure (default 1 s).
    pub retry_min: Duration,
    /// Largest retry delay after failures (default 5 min).
    pub retry_max: Duration,
    /// How often discovery metadata is fetched again to follow a changed `jwks_uri`
    /// (default 6 h).
    pub rediscovery_interval: Duration,
    /// How long [`IssuersBuilder::build`](crate::remote::IssuersBuilder::build) waits
    /// for the first key set (default 10 s).
    pub startup_timeout: Duration,
}

impl Default for RefreshConfig {
    fn default() -> Self {
        RefreshConfig {
            min_interval: Duration::from_secs(60),
            max_interval: Duration::from_secs(24 * 3600),
            default_interval: Duration::from_secs(600),
            cooldown: Duration::from_secs(30),
            unknown_kid_wait: Duration::from_secs(2),
            max_staleness: Duration::from_secs(24 * 3600),
            fetch_timeout: crate::oauth::DEFAULT_TIMEOUT,
            max_body: 1024 * 1024,
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            rediscovery_interval: Duration::from_secs(6 * 3600),
            startup_timeout: Duration::from_secs(10),
        }
    }
}

/// Which discovery document to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Discovery {
    /// OpenID Connect: `{issuer}/.well-known/openid-configuration`.
    OpenIdConnect,
    /// RFC 8414: `{origin}/.well-known/oauth-authorization-server{issuer path}`.
    OAuthServer,
    /// OpenID Connect first; RFC 8414 when that fails (the default).
    #[default]
    Auto,
}

/// Why fetching a JWKS or discovery document failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchErrorKind {
    /// No complete answer within the fetch timeout.
    Timeout(Duration),
    /// Connection, TLS, protocol or size failure.
    Http(HttpError),
    /// A status other than 200 (or 304 to a conditional request).
    Status(u16),
    /// A redirect to another origin, a redirect without a usable `Location`, or too
    /// many redirects.
    Redirect,
    /// The URL is not absolute, or not `https` (plain `http` is accepted for loopback
    /// hosts only).
    InsecureUrl,
    /// The body is not a JWKS (JSON object with a `keys` array). The body itself is
    /// never reported.
    NotAJwks,
    /// The JWKS holds no usable key (the last good set is kept).
    NoUsableKeys,
    /// The discovery document is not JSON or lacks `issuer`/`jwks_uri`.
    InvalidMetadata,
    /// The discovery document names another issuer than the configured one.
    IssuerMismatch {
        /// The `issuer` the metadata names (at most 200 characters).
        found: String,
    },
}

/// A failed fetch: the URL and the reason (never the response body).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchError {
    /// The URL requested.
    pub url: String,
    /// What went wrong.
    pub kind: FetchErrorKind,
}

impl FetchError {
    pub(crate) fn new(url: impl fmt::Display, kind: FetchErrorKind) -> Self {
        FetchError {
            url: url.to_string(),
            kind,
        }
    }

    /// True for errors retrying will not fix (issuer mismatch, insecure URL).
    #[must_use]
    pub fn is_permanent(&self) -> bool {
        matches!(
            self.kind,
            FetchErrorKind::IssuerMismatch { .. } | FetchErrorKind::InsecureUrl
        )
    }
}

impl fmt::Display for FetchErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchErrorKind::Timeout(d) => write!(f, "no answer within {} ms", d.as_millis()),
            FetchErrorKind::Http(e) => write!(f, "{e}"),
            FetchErrorKind::Status(s) => write!(f, "unexpected HTTP status {s}"),
            FetchErrorKind::Redirect => {
                f.write_str("redirect refused (other origin, no Location, or too many)")
            }
            FetchErrorKind::InsecureUrl => {
                f.write_str("URL must be absolute https (http only for loopback hosts)")
            }
            FetchErrorKind::NotAJwks => f.write_str("response is not a JWKS document"),
            FetchErrorKind::NoUsableKeys => f.write_str("JWKS holds no usable key"),
            FetchErrorKind::InvalidMetadata => {
                f.write_str("discovery document is not JSON with issuer and jwks_uri")
            }
            FetchErrorKind::IssuerMismatch { found } => {
                write!(f, "discovery document names issuer {found:?}")
            }
        }
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GET {}: {}", self.url, self.kind)
    }
}

/// The reason alone; for [`FetchErrorKind::Http`] its text is the HTTP error's.
impl std::error::Error for FetchErrorKind {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // the text already says what the HTTP error says: hand out its cause
            FetchErrorKind::Http(e) => std::error::Error::source(e),
            _ => None,
        }
    }
}

/// Its text names the URL and the reason; [`source`](std::error::Error::source) is the
/// cause below the reason (for [`FetchErrorKind::Http`], the HTTP error's own cause).
impl std::error::Error for FetchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.kind)
    }
}

/// Parses a configured URL (JWKS URL, issuer for discovery, introspection endpoint) and
/// applies the fetch rules: absolute `https`, `http` for loopback hosts only, no user
/// information.
pub(crate) fn config_url(s: &str) -> Result<http::Uri, UrlError> {
    let uri: http::Uri = s.parse().map_err(|e| UrlError::Invalid(Arc::new(e)))?;
    crate::oauth::check_url(&uri).map_err(|_| UrlError::Insecure)?;
    Ok(uri)
}
