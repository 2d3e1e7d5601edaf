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
pub trait GrpcGate<X> {
    /// Authentication plus the per-method scope map (unlisted methods: deny-all).
    fn grpc_layer(&self, methods: MethodScopes) -> GrpcAuthLayer<X, Authenticator>;

    /// The synchronous interceptor, requiring `policy` for every method of the wrapped
    /// service.
    fn grpc_interceptor(&self, policy: ScopePolicy) -> GrpcInterceptor<X, Authenticator>;
}

impl<X> GrpcGate<X> for Tollgate<X>
where
    X: serde::de::DeserializeOwned + Send + Sync + 'static,
{
    fn grpc_layer(&self, methods: MethodScopes) -> GrpcAuthLayer<X, Authenticator> {
        // the method policies join the RFC 9728 scopes_supported
        for (path, policy) in methods.methods() {
            self.record_policy(path, policy);
        }
        let layer = GrpcAuthLayer::with_claims(self.authenticator().clone(), methods);
        if self.protected_resource().is_some() {
            // with a resource configured, refusals carry `resource_metadata` too
            layer.rejector(GrpcRejector::new().challenge(self.bearer_rejector().clone()))
        } else {
            layer
        }
    }

    fn grpc_interceptor(&self, policy: ScopePolicy) -> GrpcInterceptor<X, Authenticator> {
        GrpcInterceptor::with_claims(self.authenticator().clone(), policy)
    }
}
