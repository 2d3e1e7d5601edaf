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
