//! Errors, and the one table that maps each to the wire.
//!
//! [`AuthError`] is grouped by area (request, token format, signature, claims, keys,
//! upstream availability). Every variant maps through [`AuthError::wire`] to an HTTP
//! status, an RFC 6750 error code and a gRPC code, exactly as in this table:
//!
//! | case | HTTP | RFC 6750 error | gRPC |
//! |---|---|---|---|
//! | no token (also: another auth scheme) | 401 | (none) | UNAUTHENTICATED |
//! | malformed request (two tokens, bad header) | 400 | `invalid_request` | UNAUTHENTICATED |
//! | bad/expired/unknown-key/wrong iss or aud | 401 | `invalid_token` | UNAUTHENTICATED |
//! | scope policy not met | 403 | `insufficient_scope` | PERMISSION_DENIED |
//! | keys or introspection unreachable | 503 (+ Retry-After) | (none) | UNAVAILABLE |
//! | layers stacked wrongly (no claims for a scope check) | 500 | (none) | INTERNAL |
//!
//! [`Display`](std::fmt::Display) is for logs: it carries diagnostic context (which
//! claim, which time) but never the token nor a value taken from it. What a client sees
//! is [`WireError::description`], a fixed phrase in the RFC 6750 character set.
//! Each area enum implements `Display` and `Error` itself and is the
//! [`source`](std::error::Error::source) of its [`AuthError`] variant.
//!
//! Building things ([`Validation`](crate::Validation), the key registry, the
//! introspector) fails with the one [`BuildError`] of this crate, which names the field
//! that failed and chains the cause (a [`UrlError`], a fetch or TLS error).
//!
//! # Example
//!
//! ```
//! use tollgate_core::error::{AuthError, ErrorCode, GrpcCode, RequestError};
//!
//! let missing = AuthError::from(RequestError::Missing).wire();
//! assert_eq!((missing.status, missing.error), (401, None));
//!
//! let twice = AuthError::from(RequestError::MultipleAuthorization).wire();
//! assert_eq!(twice.status, 400);
//! assert_eq!(twice.error, Some(ErrorCode::InvalidRequest));
//! assert_eq!(twice.grpc, GrpcCode::Unauthenticated);
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// RFC 6750 §3.1 error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `invalid_request`: the request is malformed.
    InvalidRequest,
    /// `invalid_token`: expired, revoked, malformed or otherwise invalid token.
    InvalidToken,
    /// `insufficient_scope`: the token lacks the required scope.
    InsufficientScope,
    /// `invalid_dpop_proof` (RFC 9449 §7.1): the DPoP proof is invalid.
    InvalidDpopProof,
    /// `use_dpop_nonce` (RFC 9449 §9): the proof must carry a fresh server nonce.
    UseDpopNonce,
}

impl ErrorCode {
    /// The code as written in a `WWW-Authenticate` challenge.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::InvalidDpopProof => "invalid_dpop_proof",
            ErrorCode::UseDpopNonce => "use_dpop_nonce",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The gRPC status codes tollgate answers with (numbers as in `grpc-status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GrpcCode {
    /// 16: no valid credentials.
    Unauthenticated,
    /// 7: identified, but not allowed.
    PermissionDenied,
    /// 14: the keys or the introspection endpoint cannot be reached.
    Unavailable,
    /// 13: a server misconfiguration (e.g. layers stacked in the wrong order).
    Internal,
}

impl GrpcCode {
    /// The numeric `grpc-status` value.
    #[must_use]
    pub const fn as_i32(self) -> i32 {
        match self {
            GrpcCode::Unauthenticated => 16,
            GrpcCode::PermissionDenied => 7,
            GrpcCode::Unavailable => 14,
            GrpcCode::Internal => 13,
        }
    }
}

/// How an error is answered on the wire. Built only by [`AuthError::wire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct WireError {
    /// HTTP status code.
    pub status: u16,
    /// RFC 6750 error code; `None` for a missing token and for 503.
    pub error: Option<ErrorCode>,
    /// A fixed, client-safe phrase (RFC 6750 `error_description` character set).
    pub description: &'static str,
    /// gRPC status code.
    pub grpc: GrpcCode,
    /// For 503: the suggested `Retry-After`, in seconds.
    pub retry_after: Option<u32>,
}

/// The request did not carry a usable `Authorization: Bearer` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestError {
    /// No `Authorization` header, or one with another scheme (e.g. `Basic`).
    Missing,
    /// More than one `Authorization` header.
    MultipleAuthorization,
    /// `Authorization: Bearer` followed by something that is not a token68.
    Malformed,
}

/// The token is not a well-formed compact JWS we accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatError {
    /// Longer than the configured cap (checked before any decoding).
    TooLong {
        /// The token length in bytes.
        len: usize,
        /// The configured cap.
        max: usize,
    },
    /// Five segments: a JWE, which a resource server does not decrypt.
    Jwe,
    /// Not three dot-separated segments (this includes JSON-serialized JWS).
    Segments,
    /// A segment is not canonical unpadded base64url.
    Base64 {
        /// 0 header, 1 payload, 2 signature.
        segment: u8,
    },
    /// The header is not a JSON object of the expected shape.
    HeaderJson,
    /// The payload is not a JSON object of the expected shape.
    ClaimsJson,
    /// A JSON object in the header or payload repeats a member name.
    DuplicateMember {
        /// True when found in the header, false in the claims.
        in_header: bool,
    },
    /// The signature segment is empty.
    MissingSignature,
    /// `cty: JWT`: a nested token.
    Nested,
    /// An opaque token the introspection screening refuses before any call: a
    /// character outside RFC 6750 `b64token`, shorter than the minimum length, or not
    /// of the configured shape (prefix, filter).
    OpaqueShape,
}

/// Header-level refusals (algorithm, `crit`, `typ`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderError {
    /// `alg: none` in any casing.
    AlgNone,
    /// An `alg` value this library does not implement.
    UnsupportedAlgorithm,
    /// An implemented `alg` that the configuration does not allow.
    AlgorithmNotAllowed(crate::alg::Algorithm),
    /// A `crit` header, or `b64`: no JWS extension is understood.
    UnsupportedCritical,
    /// `typ` is not allowed by the configured profile.
    WrongType,
}

/// Signature refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureError {
    /// The signature has the wrong length for the algorithm.
    WrongLength {
        /// Decoded length.
        len: usize,
    },
    /// The signature does not verify with the selected key.
    Invalid,
}

/// Claim refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClaimsError {
    /// A required claim is absent.
    Missing(&'static str),
    /// A NumericDate claim is not a non-negative number within range.
    InvalidNumericDate(&'static str),
    /// A claim has the wrong JSON type.
    InvalidType(&'static str),
    /// `exp` is in the past (beyond leeway).
    Expired {
        /// The token's exp.
        exp: i64,
        /// Validation time.
        now: i64,
    },
    /// `nbf` is in the future (beyond leeway).
    NotYetValid {
        /// The token's nbf.
        nbf: i64,
        /// Validation time.
        now: i64,
    },
    /// `iat` is in the future (beyond leeway).
    IssuedInFuture {
        /// The token's iat.
        iat: i64,
        /// Validation time.
        now: i64,
    },
    /// Older than the configured maximum age.
    TooOld {
        /// Age in seconds.
        age: i64,
    },
    /// `iss` is not one of the configured issuers.
    IssuerNotAllowed,
    /// No `aud` value is one of the configured audiences.
    AudienceMismatch,
    /// `scope` or `scp` contains an invalid scope-token.
    InvalidScope,
    /// The application's own claims type `X` did not deserialize.
    Custom,
    /// The delegation (`act`) policy refused the token.
    ActorNotAllowed,
    /// The preset's token-kind check failed: the claim (Keycloak's payload `typ`,
    /// Entra's `ver`, Cognito's `token_use`) is absent or does not name an access
    /// token, e.g. a Keycloak ID or refresh token (see [`crate::preset`]).
    NotAnAccessToken {
        /// The preset whose check failed.
        preset: crate::preset::Preset,
        /// The claim checked.
        claim: &'static str,
    },
    /// The token carries `aud` where the preset's access tokens have none (Cognito:
    /// only its ID tokens carry `aud`).
    UnexpectedAudience {
        /// The preset.
        preset: crate::preset::Preset,
    },
    /// The preset's audience rule is on the client (Cognito): `client_id` names none
    /// of the configured audiences.
    ClientNotAllowed,
}

/// Key selection refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// No key with the token's `kid`.
    UnknownKid,
    /// No key usable with the token's `alg` (no kid, or kid of another key type).
    NoCompatibleKey,
    /// The `kid` header is not a string or is too long to be one of ours.
    InvalidKid,
}

/// The server cannot decide right now; not the token's fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnavailableError {
    /// The issuer has never had a key set (IdP down since start-up).
    NoKeys {
        /// Suggested retry delay.
        retry_after: Duration,
    },
    /// The introspection endpoint failed or timed out.
    Introspection {
        /// Suggested retry delay.
        retry_after: Duration,
    },
    /// The check needs a wait (a key refresh for an unknown `kid`, or an
    /// introspection call) that a synchronous caller (the gRPC interceptor) cannot
    /// make; the refresh or call it started goes on, so a retry usually succeeds.
    WouldWait {
        /// Suggested retry delay.
        retry_after: Duration,
    },
}

/// Everything that can stop a request from being authenticated or authorized.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// The request carried no usable bearer token.
    Request(RequestError),
    /// The token is not well-formed.
    Format(FormatError),
    /// The header was refused.
    Header(HeaderError),
    /// The signature was refused.
    Signature(SignatureError),
    /// The claims were refused.
    Claims(ClaimsError),
    /// No key could be selected.
    Key(KeyError),
    /// The token is valid but its scopes do not meet the policy.
    InsufficientScope {
        /// Scopes to name in the `scope="..."` challenge parameter.
        required: String,
    },
    /// Introspection answered that the token is not active.
    Inactive,
    /// The server cannot decide right now.
    Unavailable(UnavailableError),
    /// The server is misconfigured (e.g. a scope check stacked without the
    /// authentication layer before it): 500, never 401.
    Misconfigured,
    /// A DPoP (RFC 9449) proof or binding refusal (see [`DpopError`]).
    Dpop(DpopError),
    /// A certificate-bound token (RFC 8705, `cnf["x5t#S256"]`) without its client
    /// certificate (see [`MtlsError`]).
    Mtls(MtlsError),
}

macro_rules! from_area {
    ($($t:ident => $v:ident),*) => {$(
        impl From<$t> for AuthError {
            fn from(e: $t) -> Self { AuthError::$v(e) }
        }
    )*};
}
from_area!(RequestError => Request, FormatError => Format, HeaderError => Header,
    SignatureError => Signature, ClaimsError => Claims, KeyError => Key,
    UnavailableError => Unavailable, DpopError => Dpop, MtlsError => Mtls);

const INVALID_TOKEN_DEFAULT: &str = "The access token is invalid";

impl AuthError {
    /// The one mapping from error to wire (HTTP status, RFC 6750 code, gRPC code).
    #[must_use]
    pub fn wire(&self) -> WireError {
        let invalid_token = |description: &'static str| WireError {
            status: 401,
            error: Some(ErrorCode::InvalidToken),
            description,
            grpc: GrpcCode::Unauthenticated,
            retry_after: None,
        };
        match self {
            AuthError::Request(RequestError::Missing) => WireError {
                status: 401,
                error: None,
                description: "An access token is required",
                grpc: GrpcCode::Unauthenticated,
                retry_after: None,
            },
            AuthError::Request(RequestError::MultipleAuthorization) => WireError {
                status: 400,
                error: Some(ErrorCode::InvalidRequest),
                description: "More than one Authorization header",
                grpc: GrpcCode::Unauthenticated,
                retry_after: None,
            },
            AuthError::Request(RequestError::Malformed) => WireError {
                status: 400,
                error: Some(ErrorCode::InvalidRequest),
                description: "Malformed Authorization header",
                grpc: GrpcCode::Unauthenticated,
                retry_after: None,
            },
            AuthError::Format(_) => invalid_token("The access token is malformed"),
            AuthError::Header(_) | AuthError::Signature(_) | AuthError::Key(_) => {
                invalid_token(INVALID_TOKEN_DEFAULT)
            }
            AuthError::Claims(ClaimsError::Expired { .. }) => {
                invalid_token("The access token expired")
            }
            AuthError::Claims(ClaimsError::NotYetValid { .. }) => {
                invalid_token("The access token is not yet valid")
            }
            AuthError::Claims(_) => invalid_token(INVALID_TOKEN_DEFAULT),
            AuthError::Inactive => invalid_token("The access token is not active"),
            AuthError::InsufficientScope { .. } => WireError {
                status: 403,
                error: Some(ErrorCode::InsufficientScope),
                description: "The access token lacks the required scope",
                grpc: GrpcCode::PermissionDenied,
                retry_after: None,
            },
            AuthError::Misconfigured => WireError {
                status: 500,
                error: None,
                description: "Internal server error",
                grpc: GrpcCode::Internal,
                retry_after: None,
            },
            AuthError::Unavailable(u) => {
                let retry = match u {
                    UnavailableError::NoKeys { retry_after }
                    | UnavailableError::Introspection { retry_after }
                    | UnavailableError::WouldWait { retry_after } => *retry_after,
                };
                WireError {
                    status: 503,
                    error: None,
                    description: "The authorization server is unavailable",
                    grpc: GrpcCode::Unavailable,
                    retry_after: Some(u32::try_from(retry.as_secs().max(1)).unwrap_or(u32::MAX)),
                }
            }
            AuthError::Dpop(d) => d.wire(),
            AuthError::Mtls(m) => m.wire(),
        }
    }

    /// True for a missing token (the bare challenge case).
    #[must_use]
    pub fn is_missing(&self) -> bool {
        matches!(self, AuthError::Request(RequestError::Missing))
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RequestError::Missing => "no bearer token in the request",
            RequestError::MultipleAuthorization => "more than one Authorization header",
            RequestError::Malformed => "malformed Authorization: Bearer header",
        })
    }
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::TooLong { len, max } => {
                write!(f, "token of {len} bytes exceeds the cap of {max}")
            }
            FormatError::Jwe => f.write_str("token has five segments (JWE is not accepted)"),
            FormatError::Segments => f.write_str("token is not three dot-separated segments"),
            FormatError::Base64 { segment } => {
                write!(f, "segment {segment} is not canonical unpadded base64url")
            }
            FormatError::HeaderJson => f.write_str("token header is not a valid JSON object"),
            FormatError::ClaimsJson => f.write_str("token claims are not a valid JSON object"),
            FormatError::DuplicateMember { in_header: true } => {
                f.write_str("duplicate JSON member name in the token header")
            }
            FormatError::DuplicateMember { in_header: false } => {
                f.write_str("duplicate JSON member name in the token claims")
            }
            FormatError::MissingSignature => f.write_str("token has an empty signature"),
            FormatError::Nested => f.write_str("nested token (cty: JWT) is not accepted"),
            FormatError::OpaqueShape => f.write_str(
                "token is not of the shape the introspection endpoint issues (characters, length or prefix)",
            ),
        }
    }
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::AlgNone => f.write_str("alg none is never accepted"),
            HeaderError::UnsupportedAlgorithm => f.write_str("unsupported alg"),
            HeaderError::AlgorithmNotAllowed(a) => {
                write!(f, "alg {a} is not in the configured allow-list")
            }
            HeaderError::UnsupportedCritical => {
                f.write_str("crit/b64 header parameter: no JWS extension is supported")
            }
            HeaderError::WrongType => f.write_str("typ not allowed by the token profile"),
        }
    }
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignatureError::WrongLength { len } => {
                write!(f, "signature of {len} bytes has the wrong length for alg")
            }
            SignatureError::Invalid => f.write_str("signature does not verify"),
        }
    }
}

impl fmt::Display for ClaimsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClaimsError::Missing(c) => write!(f, "required claim {c} is missing"),
            ClaimsError::InvalidNumericDate(c) => {
                write!(f, "claim {c} is not a valid NumericDate")
            }
            ClaimsError::InvalidType(c) => write!(f, "claim {c} has the wrong JSON type"),
            ClaimsError::Expired { exp, now } => {
                write!(f, "token expired (exp {exp}, now {now})")
            }
            ClaimsError::NotYetValid { nbf, now } => {
                write!(f, "token not yet valid (nbf {nbf}, now {now})")
            }
            ClaimsError::IssuedInFuture { iat, now } => {
                write!(f, "token issued in the future (iat {iat}, now {now})")
            }
            ClaimsError::TooOld { age } => write!(f, "token is {age} s old, beyond max age"),
            ClaimsError::IssuerNotAllowed => f.write_str("iss is not a configured issuer"),
            ClaimsError::AudienceMismatch => f.write_str("aud names none of our audiences"),
            ClaimsError::InvalidScope => f.write_str("scope/scp holds an invalid scope-token"),
            ClaimsError::Custom => f.write_str("application claims did not deserialize"),
            ClaimsError::ActorNotAllowed => f.write_str("act claim refused by actor policy"),
            ClaimsError::NotAnAccessToken { preset, claim } => {
                write!(f, "claim {claim} does not mark a {preset} access token")
            }
            ClaimsError::UnexpectedAudience { preset } => {
                write!(f, "aud is present, but {preset} access tokens carry none")
            }
            ClaimsError::ClientNotAllowed => {
                f.write_str("client_id names none of our audiences (the preset's audience rule)")
            }
        }
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyError::UnknownKid => "no key with the token's kid",
            KeyError::NoCompatibleKey => "no key compatible with the token's alg",
            KeyError::InvalidKid => "kid is not a usable string",
        })
    }
}

impl fmt::Display for UnavailableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UnavailableError::NoKeys { .. } => "issuer has no keys yet (key source unreachable)",
            UnavailableError::Introspection { .. } => "introspection endpoint unavailable",
            UnavailableError::WouldWait { .. } => {
                "the check needs a key refresh or an introspection call (not waited for here)"
            }
        })
    }
}

impl std::error::Error for RequestError {}
impl std::error::Error for FormatError {}
impl std::error::Error for HeaderError {}
impl std::error::Error for SignatureError {}
impl std::error::Error for ClaimsError {}
impl std::error::Error for KeyError {}
impl std::error::Error for UnavailableError {}

/// The text of an area variant is its area error's text, so a log line with `%err` is
/// complete on its own; [`source`](std::error::Error::source) hands out that area error
/// (typed, for `downcast_ref`).
impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::Request(e) => e.fmt(f),
            AuthError::Format(e) => e.fmt(f),
            AuthError::Header(e) => e.fmt(f),
            AuthError::Signature(e) => e.fmt(f),
            AuthError::Claims(e) => e.fmt(f),
            AuthError::Key(e) => e.fmt(f),
            AuthError::Unavailable(e) => e.fmt(f),
            AuthError::Dpop(e) => e.fmt(f),
            AuthError::Mtls(e) => e.fmt(f),
            AuthError::InsufficientScope { required } => {
                write!(f, "scope policy not met (requires {required})")
            }
            AuthError::Inactive => f.write_str("introspection: token not active"),
            AuthError::Misconfigured => f.write_str(
                "no verified claims in request extensions: is the authentication layer \
                 missing, or configured for another claims type?",
            ),
        }
    }
}

impl std::error::Error for AuthError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AuthError::Request(e) => Some(e),
            AuthError::Format(e) => Some(e),
            AuthError::Header(e) => Some(e),
            AuthError::Signature(e) => Some(e),
            AuthError::Claims(e) => Some(e),
            AuthError::Key(e) => Some(e),
            AuthError::Unavailable(e) => Some(e),
            AuthError::Dpop(e) => Some(e),
            AuthError::Mtls(e) => Some(e),
            AuthError::InsufficientScope { .. }
            | AuthError::Inactive
            | AuthError::Misconfigured => None,
        }
    }
}

/// Why a configured URL (JWKS URL, issuer for discovery, introspection endpoint) was
/// refused.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum UrlError {
    /// The text does not parse as a URI; the parser's error is the
    /// [`source`](std::error::Error::source).
    Invalid(Arc<http::uri::InvalidUri>),
    /// Not an absolute `https` URL (plain `http` only for loopback hosts), or it
    /// carries user information (`user@host`).
    Insecure,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UrlError::Invalid(_) => "not a valid URL",
            UrlError::Insecure => {
                "must be absolute https (http only for loopback hosts), without user info"
            }
        })
    }
}

impl std::error::Error for UrlError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            UrlError::Invalid(e) => Some(&**e),
            UrlError::Insecure => None,
        }
    }
}

/// Equal when the same check failed (the parser's messages are compared for
/// [`UrlError::Invalid`]).
impl PartialEq for UrlError {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (UrlError::Invalid(a), UrlError::Invalid(b)) => a.to_string() == b.to_string(),
            (UrlError::Insecure, UrlError::Insecure) => true,
            _ => false,
        }
    }
}

/// Why a builder could not build: [`Validation`](crate::Validation),
/// [`Issuers`](crate::remote::Issuers) or
/// [`Introspector`](crate::introspect::Introspector). The one build error of this
/// crate: each variant names the field or area that failed, and the underlying cause
/// (URL, HTTP, TLS) is its [`source`](std::error::Error::source).
///
/// ```
/// use std::error::Error as _;
/// use tollgate_core::{BuildError, Validation};
/// use tollgate_core::remote::{IssuerConfig, Issuers};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let validation = Validation::builder().issuer("https://idp.example").audience("api").build()?;
/// let err = Issuers::builder()
///     .issuer(IssuerConfig::new(validation).jwks_uri("http://idp.example/jwks"))
///     .build_lazy()
///     .unwrap_err();
/// assert!(matches!(err, BuildError::JwksUri { .. }));
/// assert_eq!(err.to_string(), "issuer https://idp.example: unusable JWKS URL");
/// let why = err.source().unwrap().to_string();
/// assert!(why.starts_with("must be absolute https"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    // ---- the validation policy (`Validation::builder().build()`)
    /// The validation policy names no issuer (opt out with `dangerous`).
    #[error("no issuer configured: set at least one with .issuer(..)")]
    NoIssuer,
    /// The validation policy names no audience (opt out with `dangerous`).
    #[error("no audience configured: set at least one with .audience(..)")]
    NoAudience,
    /// The validation policy's algorithm allow-list is empty.
    #[error("the algorithm allow-list is empty")]
    NoAlgorithms,
    /// A configured issuer or audience of the validation policy is empty.
    #[error("an issuer or audience is the empty string")]
    EmptyValue,
    /// A [`PermissionSource`](crate::preset::PermissionSource) cannot match anything:
    /// its claim path is empty or has an empty segment, or its prefix holds characters
    /// a scope-token cannot (space, `"`, `\`, controls).
    #[error(
        "permission source {claim:?}: empty claim path segment or a prefix with characters a scope cannot hold"
    )]
    PermissionSource {
        /// The configured claim path.
        claim: String,
    },

    // ---- remote keys (`Issuers::builder()`)
    /// No [`IssuerConfig`](crate::remote::IssuerConfig) was added to the registry.
    #[error("no issuer configured: add one with .issuer(IssuerConfig::new(..))")]
    NoIssuers,
    /// An issuer's [`Validation`](crate::Validation) does not name exactly one issuer.
    #[error("issuer {issuer}: the Validation must name exactly one issuer")]
    IssuerValidation {
        /// The first issuer the policy names (or `<none>`).
        issuer: String,
    },
    /// An issuer has no key source.
    #[error("issuer {issuer}: no key source: call jwks_uri() or discover()")]
    NoKeySource {
        /// The issuer.
        issuer: String,
    },
    /// An issuer's JWKS URL is unusable.
    #[error("issuer {issuer}: unusable JWKS URL")]
    JwksUri {
        /// The issuer.
        issuer: String,
        /// Why the URL was refused.
        #[source]
        source: UrlError,
    },
    /// Discovery was asked for, but the issuer is not a URL discovery can fetch.
    #[error("issuer {issuer}: discovery needs the issuer to be a fetchable URL")]
    DiscoveryIssuerUrl {
        /// The issuer.
        issuer: String,
        /// Why the issuer URL was refused.
        #[source]
        source: UrlError,
    },
    /// The same issuer was added twice.
    #[error("issuer {issuer}: configured twice")]
    DuplicateIssuer {
        /// The issuer.
        issuer: String,
    },
    /// [`IssuersBuilder::build`](crate::remote::IssuersBuilder::build): the first key
    /// set of an issuer could not be obtained.
    #[cfg(feature = "remote")]
    #[error("issuer {issuer}: no key set at startup from {}", error.url)]
    Startup {
        /// The issuer.
        issuer: String,
        /// The last fetch failure (its URL included).
        #[source]
        error: crate::remote::FetchError,
    },

    // ---- introspection (`Introspector::builder()`)
    /// The introspector was given no validation policy (it names the accepted issuers
    /// and audiences).
    #[error("introspection: no validation policy: call .validation(..)")]
    IntrospectionValidation,
    /// The introspector has neither an endpoint nor discovery.
    #[error("no introspection endpoint: call .endpoint(..) or .discover()")]
    NoIntrospectionEndpoint,
    /// The introspection endpoint URL is unusable.
    #[error("unusable introspection endpoint URL")]
    IntrospectionEndpoint {
        /// Why the URL was refused.
        #[source]
        source: UrlError,
    },
    /// Introspection endpoint discovery needs a validation policy naming exactly one
    /// issuer.
    #[error("introspection endpoint discovery needs a validation policy naming exactly one issuer")]
    IntrospectionDiscoveryIssuer,
    /// The discovery metadata could not be read or has no `introspection_endpoint`.
    #[cfg(feature = "remote")]
    #[error("introspection endpoint discovery failed")]
    IntrospectionDiscovery {
        /// The failed fetch (its URL included).
        #[source]
        source: crate::remote::FetchError,
    },

    // ---- shared by the builders that start tasks
    /// Not called inside a tokio runtime (refresh tasks and introspection calls run as
    /// tasks).
    #[error("must be called within a tokio runtime")]
    NoRuntime,
    /// The default HTTP client could not be created.
    #[cfg(feature = "remote")]
    #[error("the default HTTP client could not be created")]
    HttpClient {
        /// The TLS setup error.
        #[source]
        source: rustls::Error,
    },
    // ---- DPoP (`dpop::DpopVerifier::builder()`)
    /// The DPoP algorithm allow-list is empty (HMAC algorithms are never allowed).
    #[error("the DPoP algorithm allow-list is empty (HMAC algorithms are never allowed)")]
    DpopAlgorithms,
    /// The DPoP nonce secret is shorter than 32 bytes.
    #[error("the DPoP nonce secret must be at least 32 bytes")]
    DpopNonceSecret,
}

// ---- decision reasons (issue 17): one bounded label per error, for logs, audit
// events and metric labels. Kept at the end of the file, additive.

/// What became of a request: the `outcome` label of `tollgate_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// The token was accepted (and its scope policy, where one applies, met).
    Allowed,
    /// The request was refused (400, 401, 403): the caller's fault.
    Refused,
    /// The server could not decide (503): keys or introspection unreachable.
    Unavailable,
    /// The server is misconfigured (500).
    Error,
}

impl Outcome {
    /// The label value: `allowed`, `refused`, `unavailable` or `error`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Refused => "refused",
            Outcome::Unavailable => "unavailable",
            Outcome::Error => "error",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a request was refused (or could not be decided), as a bounded label: the
/// `reason` of log lines, audit events and `tollgate_requests_total{outcome, reason}`.
/// [`AuthError::reason`] is the one place that maps every error to one of these; the
/// label never carries a value from the token.
///
/// ```
/// use tollgate_core::error::{AuthError, ClaimsError, Outcome, Reason, RequestError};
///
/// let e = AuthError::from(ClaimsError::Expired { exp: 1, now: 2 });
/// assert_eq!((e.reason(), e.reason().as_str()), (Reason::Expired, "expired"));
/// assert_eq!(e.reason().outcome(), Outcome::Refused);
/// assert_eq!(AuthError::from(RequestError::Missing).reason().as_str(), "missing_token");
/// assert_eq!(Reason::ALL.len(), Reason::COUNT);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// No bearer token (or another scheme).
    MissingToken,
    /// Two `Authorization` headers, or a broken `Bearer` header.
    InvalidRequest,
    /// Not a well-formed compact JWS (segments, base64, JSON, JWE, nested).
    Malformed,
    /// Longer than the configured cap.
    TooLarge,
    /// `alg` is `none`, unknown, or not allowed by the configuration.
    AlgorithmNotAllowed,
    /// A `crit`/`b64` header, or a `typ` the profile does not allow.
    BadHeader,
    /// The signature does not verify (or has the wrong length).
    BadSignature,
    /// No key with the token's `kid` (or none usable for its `alg`).
    UnknownKey,
    /// `exp` is past.
    Expired,
    /// `nbf` or `iat` is in the future.
    NotYetValid,
    /// Older than the configured maximum age.
    TooOld,
    /// `iss` is not a configured issuer.
    WrongIssuer,
    /// No `aud` value is one of ours.
    WrongAudience,
    /// A required claim is missing or has the wrong type or value.
    InvalidClaims,
    /// The delegation (`act`) policy refused the token.
    ActorNotAllowed,
    /// The token's scopes do not meet the route's or method's policy.
    InsufficientScope,
    /// Introspection answered `active: false`.
    Inactive,
    /// The issuer has no keys yet (its key source has never answered).
    KeysUnavailable,
    /// The introspection endpoint failed or timed out.
    IntrospectionUnavailable,
    /// A synchronous check would have to wait for a refresh or an introspection call.
    WouldWait,
    /// The layers are stacked wrongly (500).
    Misconfigured,
    /// The DPoP proof is invalid (shape, header, key, signature, method, URL, time,
    /// access-token hash).
    DpopInvalidProof,
    /// The DPoP proof's `jti` was already used with this key.
    DpopReplay,
    /// The DPoP proof lacks a fresh server nonce.
    DpopNonce,
    /// The token's key binding (`cnf.jkt`) and the presentation disagree: a bound
    /// token sent as Bearer, an unbound one sent as DPoP, or another key.
    DpopBinding,
    /// The DPoP replay store is full or unreachable (503).
    DpopUnavailable,
    /// A certificate-bound token (RFC 8705 `cnf["x5t#S256"]`) came without its client
    /// certificate, with another one, or with an unreadable binding or forwarded
    /// certificate header.
    MtlsBinding,
}

impl Reason {
    /// How many reasons there are (for tables indexed by `reason as usize`).
    pub const COUNT: usize = 27;

    /// Every reason, in declaration order (`ALL[r as usize] == r`).
    pub const ALL: [Reason; Reason::COUNT] = [
        Reason::MissingToken,
        Reason::InvalidRequest,
        Reason::Malformed,
        Reason::TooLarge,
        Reason::AlgorithmNotAllowed,
        Reason::BadHeader,
        Reason::BadSignature,
        Reason::UnknownKey,
        Reason::Expired,
        Reason::NotYetValid,
        Reason::TooOld,
        Reason::WrongIssuer,
        Reason::WrongAudience,
        Reason::InvalidClaims,
        Reason::ActorNotAllowed,
        Reason::InsufficientScope,
        Reason::Inactive,
        Reason::KeysUnavailable,
        Reason::IntrospectionUnavailable,
        Reason::WouldWait,
        Reason::Misconfigured,
        Reason::DpopInvalidProof,
        Reason::DpopReplay,
        Reason::DpopNonce,
        Reason::DpopBinding,
        Reason::DpopUnavailable,
        Reason::MtlsBinding,
    ];

    /// The label value (`snake_case`, fixed).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::MissingToken => "missing_token",
            Reason::InvalidRequest => "invalid_request",
            Reason::Malformed => "malformed",
            Reason::TooLarge => "too_large",
            Reason::AlgorithmNotAllowed => "algorithm_not_allowed",
            Reason::BadHeader => "bad_header",
            Reason::BadSignature => "bad_signature",
            Reason::UnknownKey => "unknown_key",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::TooOld => "too_old",
            Reason::WrongIssuer => "wrong_issuer",
            Reason::WrongAudience => "wrong_audience",
            Reason::InvalidClaims => "invalid_claims",
            Reason::ActorNotAllowed => "actor_not_allowed",
            Reason::InsufficientScope => "insufficient_scope",
            Reason::Inactive => "inactive",
            Reason::KeysUnavailable => "keys_unavailable",
            Reason::IntrospectionUnavailable => "introspection_unavailable",
            Reason::WouldWait => "would_wait",
            Reason::Misconfigured => "misconfigured",
            Reason::DpopInvalidProof => "dpop_invalid_proof",
            Reason::DpopReplay => "dpop_replay",
            Reason::DpopNonce => "dpop_nonce",
            Reason::DpopBinding => "dpop_binding",
            Reason::DpopUnavailable => "dpop_unavailable",
            Reason::MtlsBinding => "mtls_binding",
        }
    }

    /// The outcome this reason belongs to (never [`Outcome::Allowed`]).
    #[must_use]
    pub const fn outcome(self) -> Outcome {
        match self {
            Reason::KeysUnavailable
            | Reason::IntrospectionUnavailable
            | Reason::WouldWait
            | Reason::DpopUnavailable => Outcome::Unavailable,
            Reason::Misconfigured => Outcome::Error,
            _ => Outcome::Refused,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AuthError {
    /// The bounded [`Reason`] of this error: the one mapping for logs, audit events and
    /// metric labels.
    #[must_use]
    pub fn reason(&self) -> Reason {
        match self {
            AuthError::Request(RequestError::Missing) => Reason::MissingToken,
            AuthError::Request(_) => Reason::InvalidRequest,
            AuthError::Format(FormatError::TooLong { .. }) => Reason::TooLarge,
            AuthError::Format(_) => Reason::Malformed,
            AuthError::Header(
                HeaderError::AlgNone
                | HeaderError::UnsupportedAlgorithm
                | HeaderError::AlgorithmNotAllowed(_),
            ) => Reason::AlgorithmNotAllowed,
            AuthError::Header(_) => Reason::BadHeader,
            AuthError::Signature(_) => Reason::BadSignature,
            AuthError::Key(_) => Reason::UnknownKey,
            AuthError::Claims(c) => match c {
                ClaimsError::Expired { .. } => Reason::Expired,
                ClaimsError::NotYetValid { .. } | ClaimsError::IssuedInFuture { .. } => {
                    Reason::NotYetValid
                }
                ClaimsError::TooOld { .. } => Reason::TooOld,
                ClaimsError::IssuerNotAllowed => Reason::WrongIssuer,
                ClaimsError::AudienceMismatch => Reason::WrongAudience,
                ClaimsError::ActorNotAllowed => Reason::ActorNotAllowed,
                // missing, wrong type, bad scope syntax, custom claims (and variants
                // added later) are claim-content problems
                _ => Reason::InvalidClaims,
            },
            AuthError::InsufficientScope { .. } => Reason::InsufficientScope,
            AuthError::Inactive => Reason::Inactive,
            AuthError::Unavailable(UnavailableError::NoKeys { .. }) => Reason::KeysUnavailable,
            AuthError::Unavailable(UnavailableError::Introspection { .. }) => {
                Reason::IntrospectionUnavailable
            }
            AuthError::Unavailable(UnavailableError::WouldWait { .. }) => Reason::WouldWait,
            AuthError::Misconfigured => Reason::Misconfigured,
            AuthError::Dpop(d) => d.reason(),
            AuthError::Mtls(_) => Reason::MtlsBinding,
        }
    }
}

#[cfg(test)]
mod reason_tests {
    use super::*;

    #[test]
    fn all_is_indexed_by_discriminant_and_labels_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
            assert!(seen.insert(r.as_str()), "{r:?}");
            assert!(
                r.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_')
            );
        }
    }

    /// The outcome follows the wire status: 5xx unavailable/error, else refused.
    #[test]
    fn outcome_follows_the_wire_table() {
        let errors = [
            AuthError::from(RequestError::Missing),
            AuthError::from(RequestError::Malformed),
            AuthError::from(FormatError::Jwe),
            AuthError::from(HeaderError::AlgNone),
            AuthError::from(SignatureError::Invalid),
            AuthError::from(KeyError::UnknownKid),
            AuthError::from(ClaimsError::Expired { exp: 1, now: 2 }),
            AuthError::from(ClaimsError::AudienceMismatch),
            AuthError::Inactive,
            AuthError::InsufficientScope {
                required: "a".into(),
            },
            AuthError::from(UnavailableError::NoKeys {
                retry_after: Duration::from_secs(1),
            }),
            AuthError::Misconfigured,
        ];
        for e in errors {
            let expected = match e.wire().status {
                503 => Outcome::Unavailable,
                500 => Outcome::Error,
                _ => Outcome::Refused,
            };
            assert_eq!(e.reason().outcome(), expected, "{e:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6750 §3: error_description is `%x20-21 / %x23-5B / %x5D-7E`.
    fn rfc6750_safe(s: &str) -> bool {
        s.bytes()
            .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E))
    }

    fn all_errors() -> Vec<AuthError> {
        use AuthError as A;
        vec![
            A::Request(RequestError::Missing),
            A::Request(RequestError::MultipleAuthorization),
            A::Request(RequestError::Malformed),
            A::Format(FormatError::TooLong {
                len: 9000,
                max: 8192,
            }),
            A::Format(FormatError::Jwe),
            A::Format(FormatError::Segments),
            A::Format(FormatError::Base64 { segment: 1 }),
            A::Format(FormatError::HeaderJson),
            A::Format(FormatError::ClaimsJson),
            A::Format(FormatError::DuplicateMember { in_header: true }),
            A::Format(FormatError::MissingSignature),
            A::Format(FormatError::Nested),
            A::Format(FormatError::OpaqueShape),
            A::Header(HeaderError::AlgNone),
            A::Header(HeaderError::UnsupportedAlgorithm),
            A::Header(HeaderError::UnsupportedCritical),
            A::Header(HeaderError::WrongType),
            A::Signature(SignatureError::Invalid),
            A::Signature(SignatureError::WrongLength { len: 3 }),
            A::Claims(ClaimsError::Missing("exp")),
            A::Claims(ClaimsError::Expired { exp: 1, now: 2 }),
            A::Claims(ClaimsError::NotYetValid { nbf: 3, now: 2 }),
            A::Claims(ClaimsError::IssuerNotAllowed),
            A::Claims(ClaimsError::AudienceMismatch),
            A::Key(KeyError::UnknownKid),
            A::Inactive,
            A::Misconfigured,
            A::InsufficientScope {
                required: "a".into(),
            },
            A::Unavailable(UnavailableError::NoKeys {
                retry_after: Duration::from_secs(5),
            }),
        ]
    }

    #[test]
    fn table_matches_design() {
        for e in all_errors() {
            let w = e.wire();
            assert!(rfc6750_safe(w.description), "{e:?}");
            match &e {
                AuthError::Request(RequestError::Missing) => {
                    assert_eq!((w.status, w.error), (401, None));
                    assert_eq!(w.grpc, GrpcCode::Unauthenticated);
                }
                AuthError::Request(_) => {
                    assert_eq!((w.status, w.error), (400, Some(ErrorCode::InvalidRequest)));
                    assert_eq!(w.grpc, GrpcCode::Unauthenticated);
                }
                AuthError::InsufficientScope { .. } => {
                    assert_eq!(
                        (w.status, w.error),
                        (403, Some(ErrorCode::InsufficientScope))
                    );
                    assert_eq!(w.grpc, GrpcCode::PermissionDenied);
                }
                AuthError::Misconfigured => {
                    assert_eq!((w.status, w.error), (500, None));
                    assert_eq!(w.grpc, GrpcCode::Internal);
                }
                AuthError::Unavailable(_) => {
                    assert_eq!((w.status, w.error), (503, None));
                    assert_eq!(w.grpc, GrpcCode::Unavailable);
                    assert_eq!(w.retry_after, Some(5));
                }
                _ => {
                    assert_eq!((w.status, w.error), (401, Some(ErrorCode::InvalidToken)));
                    assert_eq!(w.grpc, GrpcCode::Unauthenticated);
                }
            }
        }
    }

    /// The texts moved into the area enums: byte for byte what `AuthError` printed.
    #[test]
    fn display_texts_unchanged() {
        let expected = [
            "no bearer token in the request",
            "more than one Authorization header",
            "malformed Authorization: Bearer header",
            "token of 9000 bytes exceeds the cap of 8192",
            "token has five segments (JWE is not accepted)",
            "token is not three dot-separated segments",
            "segment 1 is not canonical unpadded base64url",
            "token header is not a valid JSON object",
            "token claims are not a valid JSON object",
            "duplicate JSON member name in the token header",
            "token has an empty signature",
            "nested token (cty: JWT) is not accepted",
            "token is not of the shape the introspection endpoint issues (characters, length or prefix)",
            "alg none is never accepted",
            "unsupported alg",
            "crit/b64 header parameter: no JWS extension is supported",
            "typ not allowed by the token profile",
            "signature does not verify",
            "signature of 3 bytes has the wrong length for alg",
            "required claim exp is missing",
            "token expired (exp 1, now 2)",
            "token not yet valid (nbf 3, now 2)",
            "iss is not a configured issuer",
            "aud names none of our audiences",
            "no key with the token's kid",
            "introspection: token not active",
            "no verified claims in request extensions: is the authentication layer \
             missing, or configured for another claims type?",
            "scope policy not met (requires a)",
            "issuer has no keys yet (key source unreachable)",
        ];
        let shown: Vec<String> = all_errors().iter().map(ToString::to_string).collect();
        assert_eq!(shown, expected);
    }

    /// Every link of `e`'s `source()` chain, outermost first.
    fn chain<'a>(
        e: &'a (dyn std::error::Error + 'static),
    ) -> Vec<&'a (dyn std::error::Error + 'static)> {
        let mut links = vec![e];
        while let Some(next) = links.last().and_then(|l| l.source()) {
            links.push(next);
        }
        links
    }

    /// Each area variant's source is its typed area error, which ends the chain.
    #[test]
    fn auth_error_chain_is_the_area_error() {
        for e in all_errors() {
            let links = chain(&e);
            let area: Option<&dyn std::error::Error> = match &e {
                AuthError::Request(a) => Some(a),
                AuthError::Format(a) => Some(a),
                AuthError::Header(a) => Some(a),
                AuthError::Signature(a) => Some(a),
                AuthError::Claims(a) => Some(a),
                AuthError::Key(a) => Some(a),
                AuthError::Unavailable(a) => Some(a),
                _ => None,
            };
            match area {
                Some(area) => {
                    assert_eq!(links.len(), 2, "{e:?}");
                    assert_eq!(links[1].to_string(), area.to_string());
                    // the top-level text is the area text: logs stay complete on one line
                    assert_eq!(e.to_string(), area.to_string());
                }
                None => assert_eq!(links.len(), 1, "{e:?}"),
            }
        }
        let e = AuthError::from(ClaimsError::Expired { exp: 1, now: 2 });
        let source = std::error::Error::source(&e).unwrap();
        assert_eq!(
            source.downcast_ref::<ClaimsError>(),
            Some(&ClaimsError::Expired { exp: 1, now: 2 })
        );
    }

    /// Refusals of real tokens carrying a marker in every place a value can hide: no
    /// link of the chain shows the marker or the token.
    #[test]
    fn auth_error_chain_shows_no_token_content() {
        use crate::{KeySet, Validation};
        use tollgate_testkit::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, TestKey};

        let key = TestKey::p256("k1");
        let keys = KeySet::from_jwks(&serde_json::to_vec(&TestKey::jwks([&key])).unwrap()).unwrap();
        let validation = Validation::builder()
            .issuer(DEFAULT_ISSUER)
            .audience(DEFAULT_AUDIENCE)
            .build()
            .unwrap();
        let marker = "SECRETMARKER";
        let tokens = [
            key.token().header("kid", marker).sign(),
            key.token().issuer(marker).sign(),
            key.token().audience(marker).sign(),
            key.token().scope(&format!("{marker}\"")).sign(),
            key.token().header("alg", marker).sign(),
            key.token().header("typ", marker).sign(),
            key.token().claim("exp", marker).sign(),
            key.token()
                .claim("sub", 7)
                .claim("client_id", marker)
                .sign(),
            key.token().bad_signature(),
            key.token().expired(),
        ];
        for token in tokens {
            let err = validation.verify::<()>(&token, &keys).unwrap_err();
            let links = chain(&err);
            assert!(links.len() >= 2, "no chain for {err:?}");
            for link in links {
                let shown = format!("{link} {link:?}");
                assert!(!shown.contains(marker), "{shown}");
                assert!(!shown.contains(&token[..20]), "{shown}");
                let payload = token.split('.').nth(1).unwrap();
                assert!(!shown.contains(&payload[..12]), "{shown}");
            }
        }
    }

    /// A bad JWKS URL: `BuildError` names the issuer and field, its source says why,
    /// and a URL that does not parse carries the parser's error one level deeper.
    #[cfg(feature = "remote")]
    #[tokio::test]
    async fn build_error_chain_names_the_field_and_the_cause() {
        use crate::Validation;
        use crate::remote::{IssuerConfig, Issuers};

        let validation = Validation::builder()
            .issuer("https://idp.example")
            .audience("api")
            .build()
            .unwrap();
        let build = |cfg: IssuerConfig| Issuers::builder().issuer(cfg).build_lazy().unwrap_err();

        // plain http to another host; the first bad value wins over a later good one
        let err = build(
            IssuerConfig::new(validation.clone())
                .jwks_uri("http://idp.example/jwks")
                .jwks_uri("https://idp.example/jwks"),
        );
        let links = chain(&err);
        assert_eq!(links.len(), 2, "{err:?}");
        assert_eq!(
            links[0].to_string(),
            "issuer https://idp.example: unusable JWKS URL"
        );
        assert_eq!(
            links[1].downcast_ref::<UrlError>(),
            Some(&UrlError::Insecure)
        );

        // not a URL at all: BuildError -> UrlError -> the parser's InvalidUri
        let err = build(IssuerConfig::new(validation.clone()).jwks_uri("https://idp example/"));
        let links = chain(&err);
        assert_eq!(links.len(), 3, "{err:?}");
        assert!(matches!(
            links[1].downcast_ref::<UrlError>(),
            Some(UrlError::Invalid(_))
        ));
        assert!(links[2].downcast_ref::<http::uri::InvalidUri>().is_some());

        // user info is refused too
        let err = build(IssuerConfig::new(validation.clone()).jwks_uri("https://u:p@idp.example/"));
        assert!(matches!(
            err,
            BuildError::JwksUri {
                source: UrlError::Insecure,
                ..
            }
        ));
        assert!(!format!("{err} {err:?}").contains("u:p"), "{err:?}");

        // introspection endpoint: the same cause under another field
        let err = crate::introspect::Introspector::builder()
            .validation(validation)
            .endpoint("http://idp.example/introspect")
            .build()
            .await
            .unwrap_err();
        let links = chain(&err);
        assert_eq!(links[0].to_string(), "unusable introspection endpoint URL");
        assert_eq!(
            links[1].downcast_ref::<UrlError>(),
            Some(&UrlError::Insecure)
        );
    }

    /// `build()` with an unreachable key source: the one `BuildError` names the issuer
    /// and URL, and its source is the typed fetch failure.
    #[cfg(feature = "remote")]
    #[tokio::test]
    async fn startup_error_chain_reaches_the_fetch_error() {
        use crate::Validation;
        use crate::remote::{FetchError, FetchErrorKind, IssuerConfig, Issuers, RefreshConfig};

        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let url = format!("http://127.0.0.1:{port}/jwks");
        let validation = Validation::builder()
            .issuer("https://idp.example")
            .audience("api")
            .build()
            .unwrap();
        let refresh = RefreshConfig {
            startup_timeout: Duration::from_millis(300),
            fetch_timeout: Duration::from_millis(200),
            ..RefreshConfig::default()
        };
        let err = Issuers::builder()
            .issuer(
                IssuerConfig::new(validation)
                    .jwks_uri(&url)
                    .refresh(refresh),
            )
            .build()
            .await
            .unwrap_err();
        assert!(matches!(err, BuildError::Startup { .. }), "{err:?}");
        assert!(err.to_string().contains(&url), "{err}");
        let links = chain(&err);
        let fetch = links[1].downcast_ref::<FetchError>().unwrap();
        assert_eq!(fetch.url, url);
        assert!(
            matches!(
                fetch.kind,
                FetchErrorKind::Http(_) | FetchErrorKind::Timeout(_)
            ),
            "{fetch:?}"
        );
    }

    /// The preset refusals: 401 `invalid_token` with the default text, fixed Display
    /// texts naming only the preset and the claim.
    #[test]
    fn preset_refusals_on_the_wire() {
        use crate::preset::Preset;
        let cases = [
            (
                ClaimsError::NotAnAccessToken {
                    preset: Preset::Keycloak,
                    claim: "typ",
                },
                "claim typ does not mark a keycloak access token",
            ),
            (
                ClaimsError::UnexpectedAudience {
                    preset: Preset::Cognito,
                },
                "aud is present, but cognito access tokens carry none",
            ),
            (
                ClaimsError::ClientNotAllowed,
                "client_id names none of our audiences (the preset's audience rule)",
            ),
        ];
        for (e, text) in cases {
            assert_eq!(e.to_string(), text);
            let w = AuthError::from(e).wire();
            assert_eq!((w.status, w.error), (401, Some(ErrorCode::InvalidToken)));
            assert_eq!(w.description, INVALID_TOKEN_DEFAULT);
            assert_eq!(w.grpc, GrpcCode::Unauthenticated);
        }
    }

    #[test]
    fn grpc_numbers() {
        assert_eq!(GrpcCode::Unauthenticated.as_i32(), 16);
        assert_eq!(GrpcCode::PermissionDenied.as_i32(), 7);
        assert_eq!(GrpcCode::Unavailable.as_i32(), 14);
    }
}

// ---- DPoP (RFC 9449, issue 15). Kept at the end of the file, additive.

/// DPoP (RFC 9449) refusals: one variant per check, so logs and tests name the exact
/// check; the wire answer is fixed per group (see [`DpopError::wire`]).
///
/// ```
/// use tollgate_core::error::{AuthError, DpopError, ErrorCode};
///
/// let w = AuthError::from(DpopError::UrlMismatch).wire();
/// assert_eq!((w.status, w.error), (401, Some(ErrorCode::InvalidDpopProof)));
/// let w = AuthError::from(DpopError::BoundTokenAsBearer).wire();
/// assert_eq!((w.status, w.error), (401, Some(ErrorCode::InvalidToken)));
/// let w = AuthError::from(DpopError::NonceRequired).wire();
/// assert_eq!(w.error, Some(ErrorCode::UseDpopNonce));
/// assert_eq!(AuthError::from(DpopError::ReplayStoreFull).wire().status, 503);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DpopError {
    /// `Authorization: DPoP` without a `DPoP` proof header.
    MissingProof,
    /// More than one `DPoP` header.
    MultipleProofs,
    /// The proof is longer than the configured cap (checked before decoding).
    TooLong {
        /// The proof length in bytes.
        len: usize,
        /// The configured cap.
        max: usize,
    },
    /// Not a compact JWS of JSON objects (segments, base64url, JSON shape).
    Malformed,
    /// A JSON object in the proof repeats a member name.
    DuplicateMember {
        /// True when found in the header, false in the claims.
        in_header: bool,
    },
    /// `typ` is not `dpop+jwt`.
    WrongType,
    /// `alg` is `none`, symmetric, unknown, or not in the DPoP allow-list.
    AlgorithmNotAllowed,
    /// A `crit` or `b64` header parameter.
    UnsupportedCritical,
    /// No `jwk` header parameter (or not a JSON object).
    MissingJwk,
    /// The `jwk` holds private key members (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`).
    PrivateKey,
    /// The `jwk` is not a usable public key for the proof's `alg`.
    InvalidJwk,
    /// The signature does not verify with the `jwk`.
    BadSignature,
    /// A required claim (`jti`, `htm`, `htu`, `iat`, `ath`) is absent.
    MissingClaim(&'static str),
    /// A claim has the wrong JSON type or an unusable value.
    InvalidClaim(&'static str),
    /// `htm` is not the request method.
    MethodMismatch,
    /// `htu` is not the request URL (after normalisation).
    UrlMismatch,
    /// `iat` is older than the acceptance window.
    IssuedTooLongAgo {
        /// The proof's iat.
        iat: i64,
        /// Validation time.
        now: i64,
    },
    /// `iat` is further in the future than allowed.
    IssuedInFuture {
        /// The proof's iat.
        iat: i64,
        /// Validation time.
        now: i64,
    },
    /// `ath` is not the hash of the presented access token.
    AccessTokenHashMismatch,
    /// The proof (its key and `jti`) was already used within the window.
    Replayed,
    /// The proof's key thumbprint is not the token's `cnf.jkt`.
    KeyMismatch,
    /// Nonces are required and the proof carries none.
    NonceRequired,
    /// The proof's nonce is not one this server issued recently.
    NonceInvalid,
    /// A DPoP-bound token (`cnf.jkt`) was presented with the `Bearer` scheme.
    BoundTokenAsBearer,
    /// A token without `cnf.jkt` was presented with the `DPoP` scheme.
    UnboundToken,
    /// The replay store is full: the proof cannot be checked, so it is refused (503).
    ReplayStoreFull,
    /// The replay store cannot be reached (503).
    ReplayStoreUnavailable,
}

impl DpopError {
    /// The wire answer: 401 `invalid_dpop_proof` for proof failures, 401
    /// `invalid_token` for a token presented under the wrong scheme, 401
    /// `use_dpop_nonce` for nonces, 503 when the replay store cannot answer.
    #[must_use]
    pub fn wire(&self) -> WireError {
        let w = |error, description| WireError {
            status: 401,
            error: Some(error),
            description,
            grpc: GrpcCode::Unauthenticated,
            retry_after: None,
        };
        let proof = |description| w(ErrorCode::InvalidDpopProof, description);
        match self {
            DpopError::MissingProof | DpopError::MultipleProofs => {
                proof("Exactly one DPoP proof is required")
            }
            DpopError::MethodMismatch | DpopError::UrlMismatch => {
                proof("The DPoP proof is for another request")
            }
            DpopError::IssuedTooLongAgo { .. } | DpopError::IssuedInFuture { .. } => {
                proof("The DPoP proof is outside its time window")
            }
            DpopError::AccessTokenHashMismatch => {
                proof("The DPoP proof is for another access token")
            }
            DpopError::Replayed => proof("The DPoP proof was already used"),
            DpopError::KeyMismatch => proof("The DPoP proof key does not match the access token"),
            DpopError::NonceRequired | DpopError::NonceInvalid => w(
                ErrorCode::UseDpopNonce,
                "Resource server requires nonce in DPoP proof",
            ),
            DpopError::BoundTokenAsBearer => w(
                ErrorCode::InvalidToken,
                "The access token is bound to a key and needs a DPoP proof",
            ),
            DpopError::UnboundToken => w(
                ErrorCode::InvalidToken,
                "The access token is not bound to a DPoP key",
            ),
            DpopError::ReplayStoreFull | DpopError::ReplayStoreUnavailable => WireError {
                status: 503,
                error: None,
                description: "The DPoP proof cannot be checked right now",
                grpc: GrpcCode::Unavailable,
                retry_after: Some(1),
            },
            _ => proof("The DPoP proof is invalid"),
        }
    }

    /// The bounded [`Reason`] label.
    #[must_use]
    pub fn reason(&self) -> Reason {
        match self {
            DpopError::Replayed => Reason::DpopReplay,
            DpopError::NonceRequired | DpopError::NonceInvalid => Reason::DpopNonce,
            DpopError::KeyMismatch | DpopError::BoundTokenAsBearer | DpopError::UnboundToken => {
                Reason::DpopBinding
            }
            DpopError::ReplayStoreFull | DpopError::ReplayStoreUnavailable => {
                Reason::DpopUnavailable
            }
            _ => Reason::DpopInvalidProof,
        }
    }

    /// True when the challenge for this refusal uses the `DPoP` scheme (RFC 9449
    /// §7.1): every proof and nonce refusal; false for a bound token sent as Bearer
    /// (answered with the `Bearer` scheme) and for 503.
    #[must_use]
    pub fn dpop_challenge(&self) -> bool {
        !matches!(
            self,
            DpopError::BoundTokenAsBearer
                | DpopError::ReplayStoreFull
                | DpopError::ReplayStoreUnavailable
        )
    }
}

impl fmt::Display for DpopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DpopError::MissingProof => f.write_str("DPoP scheme without a DPoP proof header"),
            DpopError::MultipleProofs => f.write_str("more than one DPoP proof header"),
            DpopError::TooLong { len, max } => {
                write!(f, "DPoP proof of {len} bytes exceeds the cap of {max}")
            }
            DpopError::Malformed => f.write_str("DPoP proof is not a compact JWS of JSON objects"),
            DpopError::DuplicateMember { in_header: true } => {
                f.write_str("duplicate JSON member name in the DPoP proof header")
            }
            DpopError::DuplicateMember { in_header: false } => {
                f.write_str("duplicate JSON member name in the DPoP proof claims")
            }
            DpopError::WrongType => f.write_str("DPoP proof typ is not dpop+jwt"),
            DpopError::AlgorithmNotAllowed => {
                f.write_str("DPoP proof alg is not an allowed asymmetric algorithm")
            }
            DpopError::UnsupportedCritical => {
                f.write_str("DPoP proof has a crit/b64 header parameter")
            }
            DpopError::MissingJwk => f.write_str("DPoP proof has no jwk header object"),
            DpopError::PrivateKey => f.write_str("DPoP proof jwk holds private key members"),
            DpopError::InvalidJwk => {
                f.write_str("DPoP proof jwk is not a usable public key for its alg")
            }
            DpopError::BadSignature => f.write_str("DPoP proof signature does not verify"),
            DpopError::MissingClaim(c) => write!(f, "DPoP proof claim {c} is missing"),
            DpopError::InvalidClaim(c) => write!(f, "DPoP proof claim {c} is invalid"),
            DpopError::MethodMismatch => f.write_str("DPoP proof htm is not the request method"),
            DpopError::UrlMismatch => f.write_str("DPoP proof htu is not the request URL"),
            DpopError::IssuedTooLongAgo { iat, now } => {
                write!(f, "DPoP proof too old (iat {iat}, now {now})")
            }
            DpopError::IssuedInFuture { iat, now } => {
                write!(f, "DPoP proof issued in the future (iat {iat}, now {now})")
            }
            DpopError::AccessTokenHashMismatch => {
                f.write_str("DPoP proof ath is not the hash of the access token")
            }
            DpopError::Replayed => f.write_str("DPoP proof jti already used with this key"),
            DpopError::KeyMismatch => f.write_str("DPoP proof key is not the token's cnf.jkt"),
            DpopError::NonceRequired => f.write_str("DPoP proof has no nonce (nonces required)"),
            DpopError::NonceInvalid => f.write_str("DPoP proof nonce is not fresh"),
            DpopError::BoundTokenAsBearer => {
                f.write_str("DPoP-bound token (cnf.jkt) presented as Bearer")
            }
            DpopError::UnboundToken => f.write_str("token without cnf.jkt presented as DPoP"),
            DpopError::ReplayStoreFull => f.write_str("DPoP replay store is full"),
            DpopError::ReplayStoreUnavailable => f.write_str("DPoP replay store is unavailable"),
        }
    }
}

impl std::error::Error for DpopError {}

#[cfg(test)]
mod dpop_tests {
    use super::*;

    #[test]
    fn dpop_rows() {
        let all = [
            DpopError::MissingProof,
            DpopError::MultipleProofs,
            DpopError::TooLong { len: 9, max: 8 },
            DpopError::Malformed,
            DpopError::DuplicateMember { in_header: true },
            DpopError::WrongType,
            DpopError::AlgorithmNotAllowed,
            DpopError::UnsupportedCritical,
            DpopError::MissingJwk,
            DpopError::PrivateKey,
            DpopError::InvalidJwk,
            DpopError::BadSignature,
            DpopError::MissingClaim("jti"),
            DpopError::InvalidClaim("htu"),
            DpopError::MethodMismatch,
            DpopError::UrlMismatch,
            DpopError::IssuedTooLongAgo { iat: 1, now: 100 },
            DpopError::IssuedInFuture { iat: 100, now: 1 },
            DpopError::AccessTokenHashMismatch,
            DpopError::Replayed,
            DpopError::KeyMismatch,
            DpopError::NonceRequired,
            DpopError::NonceInvalid,
            DpopError::BoundTokenAsBearer,
            DpopError::UnboundToken,
            DpopError::ReplayStoreFull,
            DpopError::ReplayStoreUnavailable,
        ];
        for d in all {
            let e = AuthError::from(d);
            let w = e.wire();
            assert!(
                w.description
                    .bytes()
                    .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)),
                "{d:?}"
            );
            assert_eq!(e.reason(), d.reason());
            assert_eq!(e.to_string(), d.to_string());
            let expected = match d {
                DpopError::ReplayStoreFull | DpopError::ReplayStoreUnavailable => (503, None),
                DpopError::BoundTokenAsBearer | DpopError::UnboundToken => {
                    (401, Some(ErrorCode::InvalidToken))
                }
                DpopError::NonceRequired | DpopError::NonceInvalid => {
                    (401, Some(ErrorCode::UseDpopNonce))
                }
                _ => (401, Some(ErrorCode::InvalidDpopProof)),
            };
            assert_eq!((w.status, w.error), expected, "{d:?}");
            let outcome = if w.status == 503 {
                Outcome::Unavailable
            } else {
                Outcome::Refused
            };
            assert_eq!(e.reason().outcome(), outcome, "{d:?}");
        }
        assert_eq!(ErrorCode::InvalidDpopProof.as_str(), "invalid_dpop_proof");
        assert_eq!(ErrorCode::UseDpopNonce.as_str(), "use_dpop_nonce");
    }
}

// ---- mTLS certificate-bound tokens (RFC 8705, issue 15). Additive, at the end.

/// Refusals of a certificate-bound access token (RFC 8705 §3: `cnf["x5t#S256"]`).
/// Every one answers 401 `invalid_token` (gRPC `UNAUTHENTICATED`) with a fixed
/// description, and is counted under [`Reason::MtlsBinding`].
///
/// ```
/// use tollgate_core::error::{AuthError, ErrorCode, MtlsError, Reason};
///
/// let e = AuthError::from(MtlsError::MissingCertificate);
/// let w = e.wire();
/// assert_eq!((w.status, w.error), (401, Some(ErrorCode::InvalidToken)));
/// assert_eq!(w.description, "The access token is bound to a client certificate that was not presented");
/// assert_eq!(e.reason(), Reason::MtlsBinding);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MtlsError {
    /// The token is bound to a certificate and the request presented none.
    MissingCertificate,
    /// The presented certificate's SHA-256 thumbprint is not the token's `x5t#S256`.
    CertificateMismatch,
    /// The token's `cnf["x5t#S256"]` is not the base64url of 32 bytes.
    InvalidConfirmation,
    /// The trusted proxy's certificate header (Envoy `x-forwarded-client-cert`, RFC
    /// 9440 `Client-Cert`) is present but cannot be read: repeated, several
    /// elements, bad encoding, or `Hash` and `Cert` disagreeing.
    MalformedForwardedCertificate,
}

impl MtlsError {
    /// The wire answer: always 401 `invalid_token`, a fixed description per case.
    #[must_use]
    pub fn wire(&self) -> WireError {
        let description = match self {
            MtlsError::MissingCertificate => {
                "The access token is bound to a client certificate that was not presented"
            }
            MtlsError::CertificateMismatch => {
                "The client certificate does not match the access token"
            }
            MtlsError::InvalidConfirmation => "The access token has an invalid certificate binding",
            MtlsError::MalformedForwardedCertificate => {
                "The forwarded client certificate cannot be read"
            }
        };
        WireError {
            status: 401,
            error: Some(ErrorCode::InvalidToken),
            description,
            grpc: GrpcCode::Unauthenticated,
            retry_after: None,
        }
    }
}

impl fmt::Display for MtlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MtlsError::MissingCertificate => {
                "certificate-bound token (cnf.x5t#S256) without a client certificate"
            }
            MtlsError::CertificateMismatch => {
                "client certificate thumbprint is not the token's cnf.x5t#S256"
            }
            MtlsError::InvalidConfirmation => {
                "token cnf.x5t#S256 is not the base64url of a SHA-256 digest"
            }
            MtlsError::MalformedForwardedCertificate => {
                "forwarded client certificate header from the trusted proxy is malformed"
            }
        })
    }
}

impl std::error::Error for MtlsError {}

#[cfg(test)]
mod mtls_tests {
    use super::*;

    #[test]
    fn mtls_rows() {
        for m in [
            MtlsError::MissingCertificate,
            MtlsError::CertificateMismatch,
            MtlsError::InvalidConfirmation,
            MtlsError::MalformedForwardedCertificate,
        ] {
            let e = AuthError::from(m);
            let w = e.wire();
            assert_eq!((w.status, w.error), (401, Some(ErrorCode::InvalidToken)));
            assert_eq!(w.grpc, GrpcCode::Unauthenticated);
            assert!(
                w.description
                    .bytes()
                    .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)),
                "{m:?}"
            );
            assert_eq!(e.reason(), Reason::MtlsBinding);
            assert_eq!(e.reason().outcome(), Outcome::Refused);
            assert_eq!(e.to_string(), m.to_string());
            let source = std::error::Error::source(&e).and_then(|s| s.downcast_ref::<MtlsError>());
            assert_eq!(source, Some(&m));
        }
        assert_eq!(Reason::MtlsBinding.as_str(), "mtls_binding");
    }
}
