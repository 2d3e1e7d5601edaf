//! # tollgate-testkit
//!
//! Helpers to test services protected by tollgate without a real identity provider:
//! key generation (RSA 2048, P-256, P-384, Ed25519, HMAC), a token-minting builder
//! with full control over header and claims, and deliberately broken tokens for
//! negative tests.
//!
//! **For tests and development only.** Keys are generated in memory and never
//! persisted.
//!
//! # Example
//!
//! ```
//! use tollgate_testkit::TestKey;
//! use tollgate_core::{KeySet, Validation};
//!
//! let key = TestKey::p256("k1");
//! let keys = KeySet::from_keys([key.public_key()]);
//! let validation = Validation::builder()
//!     .issuer(tollgate_testkit::DEFAULT_ISSUER)
//!     .audience(tollgate_testkit::DEFAULT_AUDIENCE)
//!     .build()
//!     .unwrap();
//!
//! // accepted
//! let token = key.token().scope("orders:read").sign();
//! assert!(validation.verify::<()>(&token, &keys).is_ok());
//! // rejected: expired an hour ago
//! let token = key.token().expires_in(-3600).sign();
//! assert!(validation.verify::<()>(&token, &keys).is_err());
//! ```

mod dpop;
pub mod jwks_server;
mod key;
pub mod process;
mod token;

pub use dpop::DpopProof;
pub use jwks_server::{JwksServer, serve_jwks};
pub use key::TestKey;
pub use token::TokenBuilder;

#[cfg(feature = "idp")]
pub mod idp;
#[cfg(feature = "ops")]
pub mod ops;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "idp")]
pub use idp::DevIdp;

/// Issuer used by [`TestKey::token`] unless changed.
pub const DEFAULT_ISSUER: &str = "https://idp.tollgate.test";
/// Audience used by [`TestKey::token`] unless changed.
pub const DEFAULT_AUDIENCE: &str = "tollgate-tests";

/// base64url without padding.
#[must_use]
pub fn b64url(bytes: impl AsRef<[u8]>) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Seconds since the Unix epoch, now.
#[must_use]
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
