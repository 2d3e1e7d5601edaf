//! JWS algorithms (RFC 7518 / RFC 8037) and allow-lists.
//!
//! The algorithm is pinned by configuration: a token's `alg` is only compared with the
//! allow-list and with the selected key, never trusted to choose how to verify.
//!
//! # Example
//!
//! ```
//! use tollgate_core::alg::{Algorithm, AlgorithmSet};
//!
//! let allowed = AlgorithmSet::default();
//! // accepted: asymmetric algorithms are allowed by default
//! assert!(allowed.contains(Algorithm::RS256));
//! // rejected: HMAC must be asked for explicitly
//! assert!(!allowed.contains(Algorithm::HS256));
//! // `alg` is case-sensitive, and `none` is not an algorithm here
//! assert!("rs256".parse::<Algorithm>().is_err());
//! assert!("none".parse::<Algorithm>().is_err());
//! ```

use std::fmt;
use std::str::FromStr;

/// A JWS signature algorithm tollgate can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC SHA-256.
    HS256,
    /// HMAC SHA-384.
    HS384,
    /// HMAC SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 SHA-512.
    RS512,
    /// RSASSA-PSS SHA-256.
    PS256,
    /// RSASSA-PSS SHA-384.
    PS384,
    /// RSASSA-PSS SHA-512.
    PS512,
    /// ECDSA P-256 SHA-256.
    ES256,
    /// ECDSA P-384 SHA-384.
    ES384,
    /// Ed25519 (RFC 8037).
    EdDSA,
}

/// The key family an algorithm needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyFamily {
    /// Shared secret.
    Hmac,
    /// RSA public key.
    Rsa,
    /// EC P-256 public key.
    P256,
    /// EC P-384 public key.
    P384,
    /// Ed25519 public key.
    Ed25519,
}

impl Algorithm {
    /// Every algorithm, in a fixed order.
    pub const ALL: [Algorithm; 12] = [
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];

    /// The registered name, as in a JWS header.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// The key family this algorithm verifies with.
    #[must_use]
    pub const fn family(self) -> KeyFamily {
        match self {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => KeyFamily::Hmac,
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => KeyFamily::Rsa,
            Algorithm::ES256 => KeyFamily::P256,
            Algorithm::ES384 => KeyFamily::P384,
            Algorithm::EdDSA => KeyFamily::Ed25519,
        }
    }

    /// The exact signature length for fixed-length algorithms (RSA depends on the key).
    #[must_use]
    pub const fn fixed_signature_len(self) -> Option<usize> {
        match self {
            Algorithm::HS256 => Some(32),
            Algorithm::HS384 => Some(48),
            Algorithm::HS512 => Some(64),
            Algorithm::ES256 => Some(64),
            Algorithm::ES384 => Some(96),
            Algorithm::EdDSA => Some(64),
            _ => None,
        }
    }

    pub(crate) const fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `alg` value is not one tollgate implements (this includes `none`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownAlgorithm;

impl fmt::Display for UnknownAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown or unsupported JWS algorithm")
    }
}

impl std::error::Error for UnknownAlgorithm {}

/// Case-sensitive, as RFC 7515 requires.
impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or(UnknownAlgorithm)
    }
}

/// A set of allowed algorithms (a bit set: copying it is free).
///
/// The [`Default`] holds every asymmetric algorithm (RS*, PS*, ES256, ES384, EdDSA) and
/// no HMAC algorithm.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AlgorithmSet(u16);

impl AlgorithmSet {
    /// No algorithm.
    #[must_use]
    pub const fn empty() -> Self {
        AlgorithmSet(0)
    }

    /// The default allow-list: all asymmetric algorithms.
    #[must_use]
    pub const fn asymmetric() -> Self {
        let mut bits = 0;
        let mut i = 0;
        while i < Algorithm::ALL.len() {
            let a = Algorithm::ALL[i];
            if !matches!(a.family(), KeyFamily::Hmac) {
                bits |= a.bit();
            }
            i += 1;
        }
        AlgorithmSet(bits)
    }

    /// Adds an algorithm.
    #[must_use]
    pub const fn with(self, alg: Algorithm) -> Self {
        AlgorithmSet(self.0 | alg.bit())
    }

    /// True when `alg` is allowed.
    #[must_use]
    pub const fn contains(self, alg: Algorithm) -> bool {
        self.0 & alg.bit() != 0
    }

    /// True when no algorithm is allowed.
    #[must_use]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The allowed algorithms.
    pub fn iter(self) -> impl Iterator<Item = Algorithm> {
        Algorithm::ALL
            .into_iter()
            .filter(move |a| self.contains(*a))
    }
}

impl Default for AlgorithmSet {
    fn default() -> Self {
        AlgorithmSet::asymmetric()
    }
}

impl FromIterator<Algorithm> for AlgorithmSet {
    fn from_iter<T: IntoIterator<Item = Algorithm>>(iter: T) -> Self {
        iter.into_iter()
            .fold(AlgorithmSet::empty(), AlgorithmSet::with)
    }
}

impl fmt::Debug for AlgorithmSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_case_sensitive() {
        for a in Algorithm::ALL {
            assert_eq!(a.as_str().parse::<Algorithm>(), Ok(a));
            assert!(a.as_str().to_lowercase().parse::<Algorithm>().is_err());
        }
        for n in ["none", "None", "NONE", "nOnE", "ES512", "", "RS256 "] {
            assert!(n.parse::<Algorithm>().is_err(), "{n}");
        }
    }

    #[test]
    fn default_set_has_no_hmac() {
        let d = AlgorithmSet::default();
        assert_eq!(d.iter().count(), 9);
        assert!(d.iter().all(|a| a.family() != KeyFamily::Hmac));
    }
}
