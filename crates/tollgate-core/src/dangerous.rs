//! Switches that weaken validation. Each one is a deliberate, reviewable opt-out.
//!
//! Importing this module is the signal: a code review that sees
//! `use tollgate_core::dangerous::...` should ask why.
//!
//! # Example
//!
//! ```
//! use tollgate_core::Validation;
//! use tollgate_core::dangerous::DangerousValidation as _;
//!
//! // rejected: no audience configured
//! assert!(Validation::builder().issuer("https://idp.example").build().is_err());
//! // accepted, but only through an explicit opt-out
//! let v = Validation::builder()
//!     .issuer("https://idp.example")
//!     .dangerous_skip_audience_check()
//!     .build();
//! assert!(v.is_ok());
//! ```

use crate::validation::ValidationBuilder;

/// Opt-outs of the required `iss`, `aud` and `exp` checks.
pub trait DangerousValidation: Sized {
    /// Accept any issuer, and tokens without `iss`.
    #[must_use]
    fn dangerous_skip_issuer_check(self) -> Self;
    /// Accept any audience, and tokens without `aud`.
    #[must_use]
    fn dangerous_skip_audience_check(self) -> Self;
    /// Accept tokens without `exp` (a present `exp` is still enforced).
    #[must_use]
    fn dangerous_allow_missing_exp(self) -> Self;
}

impl DangerousValidation for ValidationBuilder {
    fn dangerous_skip_issuer_check(mut self) -> Self {
        self.inner_mut().skip_issuer = true;
        self
    }
    fn dangerous_skip_audience_check(mut self) -> Self {
        self.inner_mut().skip_audience = true;
        self
    }
    fn dangerous_allow_missing_exp(mut self) -> Self {
        self.inner_mut().skip_exp = true;
        self
    }
}

/// Verifies only the JWS layer of a compact token — format, the header rules (no
/// `none`, `alg` in `algorithms`, no `crit`/`b64`, no nesting; `typ` is NOT checked),
/// key selection and signature — and returns the payload bytes unchecked.
///
/// Nothing about the payload is validated: no expiry, issuer or audience. For
/// conformance tests and non-JWT JWS payloads; never to authenticate a request.
///
/// ```
/// use tollgate_core::{Key, KeySet, alg::{Algorithm, AlgorithmSet}};
/// let keys = KeySet::from_keys([Key::hmac(None, &[1u8; 32]).unwrap()]);
/// let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
/// let token = jsonwebtoken::encode(&header, &"hello", &jsonwebtoken::EncodingKey::from_secret(&[1u8; 32])).unwrap();
/// let algs = AlgorithmSet::empty().with(Algorithm::HS256);
/// assert_eq!(tollgate_core::dangerous::verify_jws_signature(&token, &keys, algs).unwrap(), br#""hello""#);
/// // rejected: the same token when HS256 is not allowed
/// assert!(tollgate_core::dangerous::verify_jws_signature(&token, &keys, AlgorithmSet::default()).is_err());
/// ```
pub fn verify_jws_signature(
    token: &str,
    keys: &crate::KeySet,
    algorithms: crate::alg::AlgorithmSet,
) -> Result<Vec<u8>, crate::AuthError> {
    crate::validation::verify_jws(token, keys, algorithms)
}

/// Verifies a raw `signature` over `message` with one `key`, through the same checks and
/// the same primitive call as the token verifier (fixed signature length, key/algorithm
/// compatibility, RSA modulus length, then `jsonwebtoken::crypto::verify`).
///
/// For primitive conformance vectors (Wycheproof), whose messages cannot be expressed as
/// a JWS signing input. Never use it to authenticate anything.
#[doc(hidden)]
#[must_use]
pub fn verify_raw(
    key: &crate::Key,
    alg: crate::alg::Algorithm,
    message: &[u8],
    signature: &[u8],
) -> bool {
    if alg
        .fixed_signature_len()
        .is_some_and(|len| len != signature.len())
    {
        return false;
    }
    if !key.is_compatible(alg) {
        return false;
    }
    if alg.family() == crate::alg::KeyFamily::Rsa
        && key.rsa_len() != 0
        && key.rsa_len() != signature.len()
    {
        return false;
    }
    // the same check as the request path (pre-parsed aws-lc keys; HMAC: jsonwebtoken)
    key.verify_sig(alg, message, signature)
}
