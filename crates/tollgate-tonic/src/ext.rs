//! [`RequestExt`]: read the verified claims in a handler, `request.claims::<X>()`.
//!
//! The claims are also reachable directly with
//! `request.extensions().get::<Arc<Claims<X>>>()`: the layer (or interceptor) inserts
//! them into the HTTP request extensions, which tonic hands to the handler.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use tollgate_core::Claims;
//! use tollgate_core::scope::{Scope, ScopePolicy};
//! use tollgate_testkit::TestKey;
//! use tollgate_tonic::RequestExt;
//!
//! # let key = TestKey::ed25519("k1");
//! # let v = tollgate_core::Validation::builder().issuer(tollgate_testkit::DEFAULT_ISSUER)
//! #     .audience(tollgate_testkit::DEFAULT_AUDIENCE).build().unwrap();
//! # let claims: Arc<Claims> = v.verify(&key.token().subject("alice").scope("inventory:read").sign(),
//! #     &tollgate_core::KeySet::from_keys([key.public_key()])).unwrap();
//! // what the layer leaves for the handler
//! let mut request = tonic::Request::new(());
//! request.extensions_mut().insert(claims);
//!
//! // accepted
//! assert_eq!(request.claims::<()>()?.sub.as_deref(), Some("alice"));
//! request.require_scopes::<()>(&ScopePolicy::all_of([Scope::from_static("inventory:read")]))?;
//!
//! // rejected: a scope the token does not hold
//! let status = request
//!     .require_scopes::<()>(&ScopePolicy::all_of([Scope::from_static("inventory:write")]))
//!     .unwrap_err();
//! assert_eq!(status.code(), tonic::Code::PermissionDenied);
//! # Ok::<(), tonic::Status>(())
//! ```

use std::sync::Arc;

use tollgate_core::scope::ScopePolicy;
use tollgate_core::{AuthError, Claims};
use tollgate_tower::{DpopChallenge, check_scopes};
use tonic::Status;
use tonic::metadata::MetadataValue;

use crate::reject::{GrpcRejector, WWW_AUTHENTICATE};

mod sealed {
    pub trait Sealed {}
    impl<T> Sealed for tonic::Request<T> {}
}

/// Claims helpers on `tonic::Request<T>` (sealed).
pub trait RequestExt: sealed::Sealed {
    /// The verified claims.
    ///
    /// # Errors
    ///
    /// `INTERNAL` (and an error log) when no `Arc<Claims<X>>` is present: the method is
    /// not behind the layer or interceptor, or `X` differs from theirs. Never
    /// `UNAUTHENTICATED`: reaching the handler unauthenticated is a server bug.
    fn claims<X: Send + Sync + 'static>(&self) -> Result<&Arc<Claims<X>>, Status>;

    /// Checks `policy` against the verified claims (for checks finer than per method,
    /// or per method behind the interceptor).
    ///
    /// # Errors
    ///
    /// `PERMISSION_DENIED` when not met (with the `DPoP` challenge as
    /// `www-authenticate` metadata when the request was admitted with the `DPoP`
    /// scheme, see [`DpopChallenge`]); `INTERNAL` as for [`RequestExt::claims`].
    fn require_scopes<X: Send + Sync + 'static>(&self, policy: &ScopePolicy) -> Result<(), Status>;
}

impl<T> RequestExt for tonic::Request<T> {
    fn claims<X: Send + Sync + 'static>(&self) -> Result<&Arc<Claims<X>>, Status> {
        self.extensions().get::<Arc<Claims<X>>>().ok_or_else(|| {
            tracing::error!(
                claims_type = std::any::type_name::<X>(),
                "handler asked for claims but none are present: put the service behind GrpcAuthLayer or GrpcInterceptor (with the same claims type)"
            );
            GrpcRejector::new().status(&AuthError::Misconfigured)
        })
    }

    fn require_scopes<X: Send + Sync + 'static>(&self, policy: &ScopePolicy) -> Result<(), Status> {
        check_scopes::<X>(self.extensions(), policy).map_err(|e| {
            let mut status = GrpcRejector::new().status(&e);
            // a request admitted with the DPoP scheme: the RFC 9449 §7.1 challenge
            if let Some(dpop) = self.extensions().get::<DpopChallenge>()
                && matches!(e, AuthError::InsufficientScope { .. })
                && let Ok(v) = MetadataValue::try_from(dpop.challenge(Some(&e)))
            {
                status.metadata_mut().insert(WWW_AUTHENTICATE, v);
            }
            status
        })
    }
}
