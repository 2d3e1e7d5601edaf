//! Per-method authorization: [`MethodScopes`] (full method path → [`ScopePolicy`]) and
//! the [`MethodScopeLayer`] that enforces it after authentication.
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
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tollgate_core::scope::ScopePolicy;
use tollgate_tower::{Rejector, check_scopes};
use tower_layer::Layer;
use tower_service::Service;

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
    pub fn default_policy(mut self, policy: ScopePolicy) -> Self {
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

    fn warn_malformed(&self) {
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

struct Config<R> {
    scopes: MethodScopes,
    rejector: R,
}

/// Enforces a [`MethodScopes`] map against the `Arc<Claims<X>>` that
/// [`AuthLayer`](tollgate_tower::AuthLayer) inserted: not met → `PERMISSION_DENIED`;
/// no claims at all → `INTERNAL` and an error log (the layers are stacked wrongly).
///
/// Usually built for you by [`GrpcAuthLayer`](crate::GrpcAuthLayer).
#[must_use]
pub struct MethodScopeLayer<X = (), R = GrpcRejector> {
    config: Arc<Config<R>>,
    _claims: PhantomData<fn() -> X>,
}

impl<X, R> Clone for MethodScopeLayer<X, R> {
    fn clone(&self) -> Self {
        MethodScopeLayer {
            config: self.config.clone(),
            _claims: PhantomData,
        }
    }
}

impl<X, R: fmt::Debug> fmt::Debug for MethodScopeLayer<X, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MethodScopeLayer")
            .field("scopes", &self.config.scopes)
            .field("rejector", &self.config.rejector)
            .finish()
    }
}

impl<X> MethodScopeLayer<X, GrpcRejector> {
    /// Enforces `scopes`, answering refusals with a plain [`GrpcRejector`].
    pub fn new(scopes: MethodScopes) -> Self {
        Self::with_rejector(scopes, GrpcRejector::new())
    }
}

impl<X, R> MethodScopeLayer<X, R> {
    /// Enforces `scopes`, answering refusals with `rejector`. Logs a warning for each
    /// key that is not shaped like `/package.Service/Method`.
    pub fn with_rejector(scopes: MethodScopes, rejector: R) -> Self {
        scopes.warn_malformed();
        Self::quiet(scopes, rejector)
    }

    /// As [`MethodScopeLayer::with_rejector`], without the warnings (already given).
    pub(crate) fn quiet(scopes: MethodScopes, rejector: R) -> Self {
        MethodScopeLayer {
            config: Arc::new(Config { scopes, rejector }),
            _claims: PhantomData,
        }
    }

    /// The map.
    pub fn scopes(&self) -> &MethodScopes {
        &self.config.scopes
    }
}

impl<S, X, R> Layer<S> for MethodScopeLayer<X, R> {
    type Service = MethodScope<S, X, R>;
    fn layer(&self, inner: S) -> Self::Service {
        MethodScope {
            inner,
            config: self.config.clone(),
            _claims: PhantomData,
        }
    }
}

/// The service built by [`MethodScopeLayer`].
pub struct MethodScope<S, X = (), R = GrpcRejector> {
    inner: S,
    config: Arc<Config<R>>,
    _claims: PhantomData<fn() -> X>,
}

impl<S: Clone, X, R> Clone for MethodScope<S, X, R> {
    fn clone(&self) -> Self {
        MethodScope {
            inner: self.inner.clone(),
            config: self.config.clone(),
            _claims: PhantomData,
        }
    }
}

impl<S: fmt::Debug, X, R> fmt::Debug for MethodScope<S, X, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MethodScope")
            .field("inner", &self.inner)
            .field("scopes", &self.config.scopes)
            .finish_non_exhaustive()
    }
}

impl<S, X, R> MethodScope<S, X, R> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }
    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, X, R, ReqBody, ResBody> Service<Request<ReqBody>> for MethodScope<S, X, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    X: Send + Sync + 'static,
    R: Rejector<ResBody>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = MethodScopeFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let policy = self.config.scopes.policy_for(req.uri().path());
        match check_scopes::<X>(req.extensions(), policy) {
            Ok(()) => MethodScopeFuture {
                state: State::Inner {
                    fut: self.inner.call(req),
                },
            },
            Err(e) => {
                tracing::debug!(method = req.uri().path(), reason = %e, "gRPC call refused by the per-method scope policy");
                MethodScopeFuture {
                    state: State::Reject {
                        response: Some(self.config.rejector.reject(&e)),
                    },
                }
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// Response future of [`MethodScope`].
    pub struct MethodScopeFuture<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Reject { response: Option<Response<B>> },
        Inner { #[pin] fut: F },
    }
}

impl<F, B> fmt::Debug for MethodScopeFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MethodScopeFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for MethodScopeFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner { fut } => fut.poll(cx),
            StateProj::Reject { response } => match response.take() {
                Some(r) => Poll::Ready(Ok(r)),
                None => panic!("MethodScopeFuture polled after completion"),
            },
        }
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
        let m = m.default_policy(ScopePolicy::authenticated());
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
