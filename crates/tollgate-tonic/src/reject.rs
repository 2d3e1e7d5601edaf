//! gRPC refusals: [`GrpcRejector`] turns an [`AuthError`] into a `tonic::Status`.
//!
//! # Example
//!
//! ```
//! use tollgate_core::AuthError;
//! use tollgate_core::error::{ClaimsError, RequestError};
//! use tollgate_tower::{BearerRejector, Rejector};
//! use tollgate_tonic::GrpcRejector;
//! use tonic::Code;
//!
//! let rejector = GrpcRejector::new().challenge(BearerRejector::new("inventory"));
//!
//! // rejected: no token → UNAUTHENTICATED, trailers-only (HTTP 200 with grpc-status)
//! let res: http::Response<tonic::body::Body> = rejector.reject(&RequestError::Missing.into());
//! assert_eq!(res.status(), 200);
//! assert_eq!(res.headers()["grpc-status"], "16");
//! assert_eq!(res.headers()["www-authenticate"], r#"Bearer realm="inventory""#);
//!
//! // rejected: scope not met → PERMISSION_DENIED with a fixed message
//! let status = rejector.status(&AuthError::InsufficientScope { required: "inventory:write".into() });
//! assert_eq!(status.code(), Code::PermissionDenied);
//! assert_eq!(status.message(), "The access token lacks the required scope");
//!
//! // an expired token gets the same fixed phrase as any other invalid token
//! let status = rejector.status(&ClaimsError::Expired { exp: 1, now: 2 }.into());
//! assert_eq!(status.code(), Code::Unauthenticated);
//! ```

use http::Response;
use tollgate_core::AuthError;
use tollgate_core::error::GrpcCode;
use tollgate_tower::{BearerRejector, Rejector};
use tonic::metadata::MetadataValue;
use tonic::{Code, Status};

/// The metadata key of the optional RFC 6750 challenge.
pub const WWW_AUTHENTICATE: &str = "www-authenticate";

/// The metadata key of the retry delay sent with `UNAVAILABLE` (gRPC retry pushback,
/// in milliseconds; clients with a retry policy honour it).
pub const RETRY_PUSHBACK: &str = "grpc-retry-pushback-ms";

/// Answers refusals as gRPC statuses, per the error table of
/// [`tollgate_core::error`]: `UNAUTHENTICATED` (no, malformed or invalid token),
/// `PERMISSION_DENIED` (scope policy not met), `UNAVAILABLE` (keys unreachable, with
/// `grpc-retry-pushback-ms`), `INTERNAL` (layers stacked wrongly).
///
/// The message is the fixed, client-safe [`WireError::description`] of the case, never
/// a value from the token. As a [`Rejector`] it builds a trailers-only response with
/// [`Status::into_http`] (HTTP 200, `grpc-status` in the headers, empty body).
///
/// [`WireError::description`]: tollgate_core::error::WireError::description
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct GrpcRejector {
    challenge: Option<BearerRejector>,
}

impl GrpcRejector {
    /// A rejector without `www-authenticate` metadata.
    pub fn new() -> Self {
        GrpcRejector { challenge: None }
    }

    /// Also sends the RFC 6750 challenge built by `bearer` (realm, `error`,
    /// `error_description`, `scope`, `resource_metadata`) as `www-authenticate`
    /// metadata, for clients that share code with an HTTP API.
    pub fn challenge(mut self, bearer: BearerRejector) -> Self {
        self.challenge = Some(bearer);
        self
    }

    /// The status for `error`.
    #[must_use]
    pub fn status(&self, error: &AuthError) -> Status {
        let wire = error.wire();
        let code = match wire.grpc {
            GrpcCode::Unauthenticated => Code::Unauthenticated,
            GrpcCode::PermissionDenied => Code::PermissionDenied,
            GrpcCode::Unavailable => Code::Unavailable,
            _ => Code::Internal,
        };
        let mut status = Status::new(code, wire.description);
        if let Some(bearer) = &self.challenge
            && let Some(challenge) = bearer.challenge(error)
            && let Ok(value) = MetadataValue::try_from(challenge.as_str())
        {
            status.metadata_mut().insert(WWW_AUTHENTICATE, value);
        }
        if let Some(secs) = wire.retry_after {
            let ms = u64::from(secs).saturating_mul(1000);
            status
                .metadata_mut()
                .insert(RETRY_PUSHBACK, MetadataValue::from(ms));
        }
        status
    }
}

impl<B: Default> Rejector<B> for GrpcRejector {
    fn reject(&self, error: &AuthError) -> Response<B> {
        self.status(error).into_http()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tollgate_core::error::{RequestError, UnavailableError};

    #[test]
    fn codes_and_metadata() {
        let r = GrpcRejector::new();
        let s = r.status(&RequestError::MultipleAuthorization.into());
        assert_eq!(s.code(), Code::Unauthenticated);
        assert!(s.metadata().get(WWW_AUTHENTICATE).is_none());

        let s = r.status(&AuthError::Unavailable(UnavailableError::NoKeys {
            retry_after: Duration::from_secs(3),
        }));
        assert_eq!(s.code(), Code::Unavailable);
        assert_eq!(s.metadata().get(RETRY_PUSHBACK).unwrap(), "3000");

        let s = r.status(&AuthError::Misconfigured);
        assert_eq!(s.code(), Code::Internal);

        let r = r.challenge(BearerRejector::new("x"));
        let s = r.status(&AuthError::InsufficientScope {
            required: "a b".into(),
        });
        assert_eq!(s.code(), Code::PermissionDenied);
        let ch = s
            .metadata()
            .get(WWW_AUTHENTICATE)
            .unwrap()
            .to_str()
            .unwrap();
        assert!(ch.contains(r#"scope="a b""#), "{ch}");
    }

    #[test]
    fn trailers_only() {
        let res: Response<tonic::body::Body> =
            GrpcRejector::new().reject(&RequestError::Malformed.into());
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["grpc-status"], "16");
        assert_eq!(res.headers()["content-type"], "application/grpc");
        assert_eq!(
            res.headers()["grpc-message"],
            "Malformed%20Authorization%20header"
        );
    }
}
