//! The [`VerifiedClaims`] extractor.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

/// The verified claims of the request's token (`Arc`-shared with the layer; cheap).
///
/// Dereferences to [`tollgate_core::Claims<X>`]. Needs the [`Tollgate`](crate::Tollgate)
/// layer with the same `X`; without it the extractor answers 500 (a server
/// misconfiguration), never 401.
///
/// ```
/// use tollgate_axum::VerifiedClaims;
///
/// async fn me(claims: VerifiedClaims) -> String {
///     claims.sub.clone().unwrap_or_default()
/// }
/// async fn maybe(claims: Option<VerifiedClaims>) -> &'static str {
///     if claims.is_some() { "signed in" } else { "anonymous" }
/// }
/// # let _ = axum::Router::<()>::new().route("/me", axum::routing::get(me)).route("/m", axum::routing::get(maybe));
/// ```
pub struct VerifiedClaims<X = ()>(pub Arc<tollgate_core::Claims<X>>);

impl<X> Clone for VerifiedClaims<X> {
    fn clone(&self) -> Self {
        VerifiedClaims(self.0.clone())
    }
}

impl<X> fmt::Debug for VerifiedClaims<X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl<X> Deref for VerifiedClaims<X> {
    type Target = tollgate_core::Claims<X>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// Why the [`VerifiedClaims`] extractor failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClaimsRejection {
    /// No verified claims in the request: the authentication layer is missing (or uses
    /// another claims type). 500.
    MissingLayer,
}

impl fmt::Display for ClaimsRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no verified claims in the request: the tollgate layer is not installed for this route or claims type")
    }
}

impl std::error::Error for ClaimsRejection {}

impl IntoResponse for ClaimsRejection {
    fn into_response(self) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response()
    }
}

impl<S, X> FromRequestParts<S> for VerifiedClaims<X>
where
    S: Send + Sync,
    X: Send + Sync + 'static,
{
    type Rejection = ClaimsRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Arc<tollgate_core::Claims<X>>>() {
            Some(c) => Ok(VerifiedClaims(c.clone())),
            None => {
                tracing::error!(
                    claims_type = std::any::type_name::<X>(),
                    "VerifiedClaims extractor used on a route without the tollgate layer"
                );
                Err(ClaimsRejection::MissingLayer)
            }
        }
    }
}

/// `Option<VerifiedClaims<X>>`: `None` when the request carried no token (optional mode).
impl<S, X> OptionalFromRequestParts<S> for VerifiedClaims<X>
where
    S: Send + Sync,
    X: Send + Sync + 'static,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Arc<tollgate_core::Claims<X>>>()
            .map(|c| VerifiedClaims(c.clone())))
    }
}
