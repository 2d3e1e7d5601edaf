//! Scope policies from string literals, for router and gRPC method configuration
//! (re-exported by `tollgate-axum` and `tollgate-tonic` as `scopes`).
//!
//! ```
//! use tollgate_tower::scopes::{all, any};
//! use tollgate_core::scope::ScopeSet;
//!
//! let granted: ScopeSet = "orders:read".parse().unwrap();
//! // accepted
//! assert!(all(["orders:read"]).is_satisfied_by(&granted));
//! assert!(any(["orders:read", "admin"]).is_satisfied_by(&granted));
//! // rejected
//! assert!(!all(["orders:read", "orders:write"]).is_satisfied_by(&granted));
//! ```

use tollgate_core::scope::{Scope, ScopePolicy};

fn scope(s: &str) -> Scope {
    match Scope::new(s.to_owned()) {
        Ok(s) => s,
        Err(e) => panic!("invalid scope {s:?} in route configuration: {e}"),
    }
}

/// Every listed scope is required.
///
/// # Panics
///
/// When a string is not an RFC 6749 scope-token: a configuration error, found at start-up.
#[must_use]
pub fn all<'a>(scopes: impl IntoIterator<Item = &'a str>) -> ScopePolicy {
    ScopePolicy::all_of(scopes.into_iter().map(scope))
}

/// Any one listed scope is enough.
///
/// # Panics
///
/// When a string is not an RFC 6749 scope-token.
#[must_use]
pub fn any<'a>(scopes: impl IntoIterator<Item = &'a str>) -> ScopePolicy {
    ScopePolicy::any_of(scopes.into_iter().map(scope))
}

/// Any valid token, whatever its scopes.
#[must_use]
pub fn authenticated() -> ScopePolicy {
    ScopePolicy::authenticated()
}
