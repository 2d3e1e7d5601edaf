//! [`GrpcGate`]: the gRPC layers a [`Tollgate`] hands out.
//!
//! The gate is built once with the same builder as for axum; this trait adds the two
//! gRPC shapes to it:
//!
//! - `gate.grpc_layer(methods)`: a [`GrpcAuthLayer`] with a per-method scope map,
//!   waiting (bounded) when keys must be refreshed;
//! - `gate.grpc_interceptor(policy)`: a [`GrpcInterceptor`] with one policy for the
//!   wrapped service, answering `UNAVAILABLE` instead of waiting.
//!
//! See the [crate docs](crate) for an example.

use tollgate_core::authenticate::Authenticator;
use tollgate_core::scope::ScopePolicy;
use tollgate_tower::Tollgate;

use crate::interceptor::GrpcInterceptor;
use crate::layer::GrpcAuthLayer;
use crate::methods::MethodScopes;
use crate::reject::GrpcRejector;

/// The gRPC side of a [`Tollgate`]: implemented for every gate.
///
/// DPoP (RFC 9449) is not enforced on gRPC yet: a gate with DPoP on logs a warning when
/// it hands out a gRPC layer or interceptor, which check Bearer tokens as before.
pub trait GrpcGate<X> {
    /// Authentication plus the per-method scope map (unlisted methods: deny-all).
    fn grpc_layer(&self, methods: MethodScopes) -> GrpcAuthLayer<X, Authenticator>;

    /// The synchronous interceptor, requiring `policy` for every method of the wrapped
    /// service.
    fn grpc_interceptor(&self, policy: ScopePolicy) -> GrpcInterceptor<X, Authenticator>;
}

/// DPoP (RFC 9449) is enforced by the HTTP layer only so far: say so loudly when a gate
/// with DPoP on hands out a gRPC layer or interceptor.
fn warn_dpop_not_enforced<X>(gate: &Tollgate<X>) {
    if gate
        .dpop_settings()
        .is_some_and(|d| d.mode() != tollgate_tower::DpopMode::Off)
    {
        tracing::warn!(
            "DPoP is configured on this gate but not enforced on gRPC yet: the gRPC layer \
             and interceptor accept Bearer tokens only and do not check DPoP bindings"
        );
    }
}

impl<X> GrpcGate<X> for Tollgate<X>
where
    X: serde::de::DeserializeOwned + Send + Sync + 'static,
{
    fn grpc_layer(&self, methods: MethodScopes) -> GrpcAuthLayer<X, Authenticator> {
        warn_dpop_not_enforced(self);
        // the method policies join the RFC 9728 scopes_supported
        for (path, policy) in methods.methods() {
            self.record_policy(path, policy);
        }
        let layer = GrpcAuthLayer::with_claims(self.authenticator().clone(), methods)
            .mtls(self.mtls_settings());
        if self.protected_resource().is_some() {
            // with a resource configured, refusals carry `resource_metadata` too
            layer.rejector(GrpcRejector::new().challenge(self.bearer_rejector().clone()))
        } else {
            layer
        }
    }

    fn grpc_interceptor(&self, policy: ScopePolicy) -> GrpcInterceptor<X, Authenticator> {
        warn_dpop_not_enforced(self);
        GrpcInterceptor::with_claims(self.authenticator().clone(), policy)
            .mtls(self.mtls_settings())
    }
}
