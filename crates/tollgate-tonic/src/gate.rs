//! [`GrpcGate`]: the gRPC layers a [`Tollgate`] hands out.
//!
//! The gate is built once with the same builder as for axum; this trait adds the two
//! gRPC shapes to it:
//!
//! - `gate.grpc_layer(methods)`: a [`GrpcAuthLayer`] with a per-method scope map,
//!   waiting (bounded) when keys must be refreshed;
//! - `gate.grpc_interceptor(policy)?`: a [`GrpcInterceptor`] with one policy for the
//!   wrapped service, answering `UNAVAILABLE` instead of waiting (refused on a gate
//!   with DPoP on).
//!
//! See the [crate docs](crate) for an example.

use tollgate_core::authenticate::Authenticator;
use tollgate_core::scope::ScopePolicy;
use tollgate_tower::{BuildError, DpopMode, Tollgate};

use crate::interceptor::GrpcInterceptor;
use crate::layer::GrpcAuthLayer;
use crate::methods::MethodScopes;
use crate::reject::GrpcRejector;

/// The gRPC side of a [`Tollgate`]: implemented for every gate.
///
/// A gate with DPoP (RFC 9449, [`Tollgate::dpop`]) on enforces it on gRPC through
/// [`Self::grpc_layer`] exactly as over HTTP (see [`GrpcAuthLayer::dpop`]). The
/// interceptor cannot: tonic shows an interceptor the metadata but not the method path,
/// which a proof's `htu` names, so [`Self::grpc_interceptor`] refuses to build on such
/// a gate rather than accept proofs it cannot check.
pub trait GrpcGate<X> {
    /// Authentication plus the per-method scope map (unlisted methods: deny-all), with
    /// the gate's DPoP settings.
    fn grpc_layer(&self, methods: MethodScopes) -> GrpcAuthLayer<X, Authenticator>;

    /// The synchronous interceptor, requiring `policy` for every method of the wrapped
    /// service.
    ///
    /// # Errors
    ///
    /// [`BuildError::Field`] naming `dpop` when the gate has DPoP on (allowed or
    /// required): use [`Self::grpc_layer`] there.
    fn grpc_interceptor(
        &self,
        policy: ScopePolicy,
    ) -> Result<GrpcInterceptor<X, Authenticator>, BuildError>;
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
        let layer = GrpcAuthLayer::with_claims(self.authenticator().clone(), methods)
            .mtls(self.mtls_settings());
        let dpop = self.dpop_for_layers();
        // with a resource configured, refusals carry `resource_metadata` too; with DPoP
        // on, the challenges tell clients which schemes and algorithms are accepted
        let layer = if self.protected_resource().is_some() || dpop.is_some() {
            layer.rejector(GrpcRejector::new().challenge(self.bearer_rejector().clone()))
        } else {
            layer
        };
        match dpop {
            Some(d) => layer.dpop(d),
            None => layer,
        }
    }

    fn grpc_interceptor(
        &self,
        policy: ScopePolicy,
    ) -> Result<GrpcInterceptor<X, Authenticator>, BuildError> {
        if self
            .dpop_settings()
            .is_some_and(|d| d.mode() != DpopMode::Off)
        {
            return Err(BuildError::field(
                "dpop",
                "is not supported by the gRPC interceptor, which cannot see the method \
                 path a proof's htu names: use grpc_layer",
            ));
        }
        Ok(
            GrpcInterceptor::with_claims(self.authenticator().clone(), policy)
                .mtls(self.mtls_settings()),
        )
    }
}
