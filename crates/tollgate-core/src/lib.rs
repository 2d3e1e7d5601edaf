//! # tollgate-core
//!
//! The token-validation core of tollgate, OAuth 2.0 resource-server middleware: scopes,
//! claims, a strict JWT verifier, key sets, bearer extraction, and the one table that
//! maps every refusal to its HTTP status, RFC 6750 error code and gRPC code.
//!
//! No HTTP framework here: `tollgate-tower`, `tollgate-axum` and `tollgate-tonic` build
//! the middleware on top.
//!
//! # Example
//!
//! ```
//! use tollgate_core::{Key, KeySet, Validation, alg::Algorithm};
//! use tollgate_core::scope::{Scope, ScopePolicy};
//!
//! let validation = Validation::builder()
//!     .issuer("https://idp.example")
//!     .audience("orders")
//!     .algorithms([Algorithm::HS256])
//!     .build()?;
//! let keys = KeySet::from_keys([Key::hmac(Some("k1"), b"0123456789abcdef0123456789abcdef")?]);
//!
//! let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
//! header.kid = Some("k1".into());
//! header.typ = Some("at+jwt".into());
//! let claims = serde_json::json!({
//!     "iss": "https://idp.example", "aud": "orders", "sub": "alice",
//!     "client_id": "web", "iat": 1_700_000_000, "exp": 4_102_444_800u64,
//!     "jti": "1", "scope": "orders:read",
//! });
//! let key = jsonwebtoken::EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef");
//! let token = jsonwebtoken::encode(&header, &claims, &key)?;
//!
//! // accepted, and the route's scope policy is met
//! let verified = validation.verify::<()>(&token, &keys)?;
//! assert!(ScopePolicy::all_of([Scope::from_static("orders:read")]).is_satisfied_by(&verified.scopes));
//!
//! // rejected: one changed byte in the payload breaks the signature
//! let mut forged = token.clone().into_bytes();
//! let i = token.find('.').unwrap() + 5;
//! forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
//! let err = validation.verify::<()>(std::str::from_utf8(&forged)?, &keys).unwrap_err();
//! assert_eq!(err.wire().status, 401);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod actor;
pub mod alg;
pub mod authenticate;
pub mod bearer;
pub mod cache;
pub mod claims;
pub mod dangerous;
pub mod dpop;
pub mod error;
#[cfg(feature = "remote")]
pub mod introspect;
mod json;
pub mod keys;
pub mod metrics;
pub mod mtls;
#[cfg(feature = "remote")]
pub mod oauth;
pub mod preset;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "remote")]
pub mod remote;
pub mod scope;
pub mod validation;

pub use claims::Claims;
pub use error::{AuthError, BuildError};
pub use keys::{Key, KeySet};
pub use validation::{TokenProfile, Validation};
