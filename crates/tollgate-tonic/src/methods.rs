//! Per-method authorization: [`MethodScopes`] (full method path → [`ScopePolicy`]) and
//! the [`MethodScopeLayer`] that enforces it after authentication (tollgate-tower's
//! one scope-check middleware, choosing the policy by method path).
//!
//! Unlisted methods get the default policy, which is [`ScopePolicy::deny_all`] unless
//! changed: a method added to the proto later is refused (`PERMISSION_DENIED`) until it
//! is given a policy. Fail closed.
//!
//! **Misspelled entries.** A key that names no real method would never match, and the
//! method it meant would silently fall to the default (refused, so still closed, but
//! a confusing bug). Catch it at start-up with [`MethodScopes::verify`] against the
//! list of real methods, or, with the `descriptor` feature, with
//! `MethodScopes::verify_descriptor` against the encoded `FileDescriptorSet` that
//! `tonic-prost-build` writes for server reflection (the generated code itself has no
//! method list). Both return an error naming every unknown entry. Without either, the
//! layer still logs a warning at construction for each key that is not even shaped
//! like `/package.Service/Method`.
//!
//! # Example
//!
//! ```
//! use tollgate_core::scope::{Scope, ScopePolicy};
//! use tollgate_tonic::MethodScopes;
//!
//! let read = ScopePolicy::all_of([Scope::from_static("inventory:read")]);
//! let scopes = MethodScopes::new()
//!     .method("/inventory.v1.Inventory/GetItem", read.clone())
//!     .method("/inventory.v1.Inventory/WatchStock", read);
//!
//! let granted = "inventory:read".parse().unwrap();
//! // accepted: the method is listed and the scope is granted
//! assert!(scopes.policy_for("/inventory.v1.Inventory/GetItem").is_satisfied_by(&granted));
//! // rejected: an unlisted method falls to the default, deny-all
//! assert!(!scopes.policy_for("/inventory.v1.Inventory/DeleteAll").is_satisfied_by(&granted));
//!
//! // a misspelled entry is caught at start-up
//! let typo = MethodScopes::new().method("/inventory.v1.Inventory/GetItems", ScopePolicy::authenticated());
//! let err = typo.verify(["/inventory.v1.Inventory/GetItem"]).unwrap_err();
//! assert_eq!(err.unknown(), ["/inventory.v1.Inventory/GetItems"]);
//! ```

use std::collections::HashMap;
use std::fmt;

use tollgate_core::scope::ScopePolicy;
use tollgate_tower::scope::{ScopeCheck, ScopeLayer, SelectPolicy};

use crate::reject::GrpcRejector;

/// A map from full gRPC method paths (`/package.Service/Method`) to scope policies, with
/// a default for unlisted methods ([`ScopePolicy::deny_all`] unless set).
///
/// See the [module docs](self) for misspelling detection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use]
pub struct MethodScopes {
    methods: HashMap<Box<str>, ScopePolicy>,
    default: ScopePolicy,
}

/// Some entries of a [`MethodScopes`] name no known method.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// These keys are not among the known methods (sorted).
    UnknownMethods(Vec<String>),
    /// The `FileDescriptorSet` could not be decoded.
    Descriptor(String),
}

impl VerifyError {
    /// The unknown keys (empty for [`VerifyError::Descriptor`]).
    #[must_use]
    pub fn unknown(&self) -> &[String] {
        match self {
            VerifyError::UnknownMethods(v) => v,
            VerifyError::Descriptor(_) => &[],
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::UnknownMethods(v) => write!(
                f,
                "scope policy for unknown gRPC method(s): {} (expected /package.Service/Method)",
                v.join(", ")
            ),
            VerifyError::Descriptor(e) => write!(f, "cannot decode the FileDescriptorSet: {e}"),
        }
    }
}

impl std::error::Error for VerifyError {}

/// True when `path` is shaped like `/package.Service/Method`.
fn is_method_path(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    let Some((service, method)) = rest.split_once('/') else {
        return false;
    };
    let ident = |s: &str| {
        !s.is_empty()
            && s.split('.').all(|part| {
                !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            })
    };
    ident(service) && ident(method) && !method.contains('.')
}

impl MethodScopes {
    /// An empty map whose default is [`ScopePolicy::deny_all`].
    pub fn new() -> Self {
        MethodScopes {
            methods: HashMap::new(),
            default: ScopePolicy::deny_all(),
        }
    }

    /// Requires `policy` for the method at `path`, written as on the wire:
    /// `/package.Service/Method` (case-sensitive). A second entry for the same path
    /// replaces the first.
    pub fn method(mut self, path: impl Into<String>, policy: ScopePolicy) -> Self {
        self.methods.insert(path.into().into_boxed_str(), policy);
        self
    }

    /// The policy for methods not in the map (default: [`ScopePolicy::deny_all`]).
    /// [`ScopePolicy::authenticated`] opens unlisted methods to any valid token.
    pub fn unlisted(mut self, policy: ScopePolicy) -> Self {
        self.default = policy;
        self
    }

    /// The policy that applies to `path`.
    #[must_use]
    pub fn policy_for(&self, path: &str) -> &ScopePolicy {
        self.methods.get(path).unwrap_or(&self.default)
    }

    /// The policy for unlisted methods.
    #[must_use]
    pub fn unlisted_policy(&self) -> &ScopePolicy {
        &self.default
    }

    /// The listed methods and their policies (in no particular order).
    pub fn methods(&self) -> impl Iterator<Item = (&str, &ScopePolicy)> {
        self.methods.iter().map(|(k, v)| (&**k, v))
    }

    /// The keys that are not in `known` (full method paths), sorted.
    #[must_use]
    pub fn unknown_methods<'a>(&self, known: impl IntoIterator<Item = &'a str>) -> Vec<&str> {
        let known: std::collections::HashSet<&str> = known.into_iter().collect();
        let mut out: Vec<&str> = self
            .methods
            .keys()
            .map(|k| &**k)
            .filter(|k| !known.contains(k))
            .collect();
        out.sort_unstable();
        out
    }

    /// Checks that every key names one of the `known` methods (full paths such as
    /// `/inventory.v1.Inventory/GetItem`), so a misspelling fails at start-up.
    ///
    /// # Errors
    ///
    /// [`VerifyError::UnknownMethods`] listing every key not in `known`.
    pub fn verify<'a>(self, known: impl IntoIterator<Item = &'a str>) -> Result<Self, VerifyError> {
        let unknown = self.unknown_methods(known);
        if unknown.is_empty() {
            Ok(self)
        } else {
            Err(VerifyError::UnknownMethods(
                unknown.into_iter().map(str::to_owned).collect(),
            ))
        }
    }

    /// Checks every key against the methods of an encoded protobuf `FileDescriptorSet`
    /// (e.g. the bytes `tonic-prost-build` writes with `file_descriptor_set_path`, which
    /// are also what server reflection serves).
    ///
    /// # Errors
    ///
    /// [`VerifyError::Descriptor`] when the bytes do not decode,
    /// [`VerifyError::UnknownMethods`] listing every key the set does not define.
    #[cfg(feature = "descriptor")]
    pub fn verify_descriptor(self, file_descriptor_set: &[u8]) -> Result<Self, VerifyError> {
        let known = descriptor_methods(file_descriptor_set)?;
        self.verify(known.iter().map(String::as_str))
    }

    pub(crate) fn warn_malformed(&self) {
        for key in self.methods.keys() {
            if !is_method_path(key) {
                tracing::warn!(
                    method = &**key,
                    "per-method scope entry is not shaped like /package.Service/Method and will never match"
                );
            }
        }
    }
}

/// Every method path (`/package.Service/Method`) defined in an encoded protobuf
/// `FileDescriptorSet`.
///
/// # Errors
///
/// [`VerifyError::Descriptor`] when the bytes do not decode.
#[cfg(feature = "descriptor")]
pub fn descriptor_methods(file_descriptor_set: &[u8]) -> Result<Vec<String>, VerifyError> {
    use prost::Message;
    let set = prost_types::FileDescriptorSet::decode(file_descriptor_set)
        .map_err(|e| VerifyError::Descriptor(e.to_string()))?;
    let mut out = Vec::new();
    for file in &set.file {
        let package = file.package();
        for service in &file.service {
            for method in &service.method {
                let svc = if package.is_empty() {
                    service.name().to_owned()
                } else {
                    format!("{package}.{}", service.name())
                };
                out.push(format!("/{svc}/{}", method.name()));
            }
        }
    }
    Ok(out)
}

/// Per-method authorization: tollgate-tower's one scope-check middleware
/// ([`ScopeLayer`]) with the policy picked by the request's method path from a
/// [`MethodScopes`] map. Not met → `PERMISSION_DENIED`; no claims at all →
/// `INTERNAL` and an error log (the layers are stacked wrongly).
///
/// Usually built for you by [`GrpcAuthLayer`](crate::GrpcAuthLayer).
pub type MethodScopeLayer<X = (), R = GrpcRejector> = ScopeLayer<X, MethodScopes, R>;

/// The service built by [`MethodScopeLayer`].
pub type MethodScope<S, X = (), R = GrpcRejector> = ScopeCheck<S, X, MethodScopes, R>;

/// The policy is the one listed for the request's path (`/package.Service/Method`), or
/// the unlisted policy.
impl SelectPolicy for MethodScopes {
    fn select<B>(&self, request: &http::Request<B>) -> &ScopePolicy {
        self.policy_for(request.uri().path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_core::scope::Scope;

    #[test]
    fn shapes() {
        assert!(is_method_path("/inventory.v1.Inventory/GetItem"));
        assert!(is_method_path("/Svc/M"));
        assert!(!is_method_path("inventory.v1.Inventory/GetItem"));
        assert!(!is_method_path("/inventory.v1.Inventory.GetItem"));
        assert!(!is_method_path("/inventory.v1.Inventory/"));
        assert!(!is_method_path("/inventory..Inventory/GetItem"));
        assert!(!is_method_path("/a/b/c"));
    }

    #[test]
    fn default_is_deny_all() {
        let m = MethodScopes::new();
        assert!(m.policy_for("/x.Y/Z").is_deny_all());
        let m = m.unlisted(ScopePolicy::authenticated());
        assert!(!m.policy_for("/x.Y/Z").is_deny_all());
    }

    #[test]
    fn verify_lists_all_unknown() {
        let p = ScopePolicy::all_of([Scope::from_static("a")]);
        let m = MethodScopes::new()
            .method("/x.Y/B", p.clone())
            .method("/x.Y/A", p.clone())
            .method("/x.Y/Ok", p);
        let e = m.clone().verify(["/x.Y/Ok"]).unwrap_err();
        assert_eq!(e.unknown(), ["/x.Y/A", "/x.Y/B"]);
        assert!(e.to_string().contains("/x.Y/A, /x.Y/B"));
        assert!(m.verify(["/x.Y/Ok", "/x.Y/A", "/x.Y/B"]).is_ok());
    }
}
