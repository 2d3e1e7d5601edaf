//! Token values that never show themselves: [`AccessToken`], [`RefreshToken`],
//! [`SubjectToken`].
//!
//! `Debug` prints a redacted form; there is no `Display`. The text is reached only
//! through an explicit `secret()` call.
//!
//! # Example
//!
//! ```
//! use tollgate_client::{AccessToken, SubjectToken};
//!
//! let t = AccessToken::new("eyJhbGciOi.secret.bits");
//! // accepted: the value is there when asked for explicitly
//! assert_eq!(t.secret(), "eyJhbGciOi.secret.bits");
//! // rejected: Debug never shows it
//! assert!(!format!("{t:?}").contains("secret"));
//!
//! // a subject token is only taken from a request whose claims were verified
//! let req = http::Request::builder()
//!     .header("authorization", "Bearer abc")
//!     .body(())
//!     .unwrap();
//! assert!(SubjectToken::from_verified_request::<(), _>(&req).is_none());
//! ```

use std::fmt;
use std::sync::Arc;

use http::HeaderMap;
use tollgate_core::Claims;

macro_rules! secret_type {
    ($(#[$m:meta])* $name:ident, $label:literal) => {
        $(#[$m])*
        #[derive(Clone, PartialEq, Eq, Hash)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Wraps a token value.
            #[must_use]
            pub fn new(value: impl Into<Arc<str>>) -> Self {
                $name(value.into())
            }

            /// The token text (keep it out of logs).
            #[must_use]
            pub fn secret(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($label, "(<{} bytes redacted>)"), self.0.len())
            }
        }
    };
}

secret_type!(
    /// An access token to send as `Authorization: Bearer`.
    AccessToken,
    "AccessToken"
);
secret_type!(
    /// A refresh token (RFC 6749 §6).
    RefreshToken,
    "RefreshToken"
);
secret_type!(
    /// The token of the incoming request, to exchange (RFC 8693 `subject_token`) or,
    /// only with [`Propagation::ForwardUnchanged`](crate::Propagation), to forward.
    ///
    /// Attach it to an outgoing `http::Request` (or `tonic::Request`) as an extension
    /// for the [`AddAuthorizationLayer`](crate::AddAuthorizationLayer) in exchange mode.
    SubjectToken,
    "SubjectToken"
);

impl SubjectToken {
    /// The bearer token of an incoming request, but only if the tollgate
    /// authentication layer verified it (its `Arc<Claims<X>>` is in the extensions).
    #[must_use]
    pub fn from_verified_request<X, B>(req: &http::Request<B>) -> Option<Self>
    where
        X: Send + Sync + 'static,
    {
        Self::from_verified_parts::<X>(req.headers(), req.extensions())
    }

    /// As [`SubjectToken::from_verified_request`], from the parts (e.g. in an axum
    /// handler taking `http::request::Parts`).
    #[must_use]
    pub fn from_verified_parts<X>(
        headers: &HeaderMap,
        extensions: &http::Extensions,
    ) -> Option<Self>
    where
        X: Send + Sync + 'static,
    {
        extensions.get::<Arc<Claims<X>>>()?;
        Self::from_headers(headers)
    }

    /// The bearer token of `headers` once the caller holds its verified claims
    /// (`_claims` is the proof; e.g. from the axum `Claims` extractor).
    #[must_use]
    pub fn from_verified_headers<X>(headers: &HeaderMap, _claims: &Claims<X>) -> Option<Self> {
        Self::from_headers(headers)
    }

    fn from_headers(headers: &HeaderMap) -> Option<Self> {
        tollgate_core::bearer::extract_bearer(headers)
            .ok()
            .map(SubjectToken::new)
    }
}
