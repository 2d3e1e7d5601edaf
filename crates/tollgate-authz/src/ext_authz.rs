//! Envoy external authorization (`envoy.service.auth.v3.Authorization/Check`), the API
//! Envoy's `ext_authz` filter, Istio (`CUSTOM` authorization policies) and Envoy
//! Gateway (`SecurityPolicy.extAuth`) call.
//!
//! [`ExtAuthz`] makes the same decisions as the forward-auth endpoint from the
//! `CheckRequest`'s HTTP attributes (`method`, `path` with the query, lower-cased
//! `headers`):
//!
//! - allowed: `status` OK and an `OkHttpResponse` whose `headers` set the identity
//!   headers (`OVERWRITE_IF_EXISTS_OR_ADD`) and whose `headers_to_remove` drops the
//!   identity headers this answer does not set (so a client's copy never reaches the
//!   upstream) and, with `forward_token = false`, `authorization` (with phantom
//!   tokens, `authorization` is set to the JWT instead);
//! - refused: `status` UNAUTHENTICATED / PERMISSION_DENIED / UNAVAILABLE (from the wire
//!   table) and a `DeniedHttpResponse` with the HTTP status (400 / 401 / 403 / 503) and
//!   `WWW-Authenticate` / `Retry-After` for the client.
//!
//! The messages come from Envoy's data-plane API protos, vendored and trimmed in
//! `proto/` (Apache-2.0; field names and numbers unchanged): [`proto`].
//!
//! # Example
//!
//! ```
//! use std::collections::HashMap;
//! use tollgate_authz::ext_authz::proto::envoy::service::auth::v3::{
//!     attribute_context::{HttpRequest, Request}, check_response::HttpResponse, AttributeContext, CheckRequest,
//!     authorization_server::Authorization,
//! };
//! use tollgate_authz::{Access, Checkpoint, ExtAuthz, Route, Routes};
//! use tollgate_core::KeySet;
//! use tollgate_testkit::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, TestKey};
//! use tollgate_tower::Tollgate;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = TestKey::ed25519("k1");
//! let gate = Tollgate::builder()
//!     .issuer(DEFAULT_ISSUER)
//!     .audience(DEFAULT_AUDIENCE)
//!     .keys(KeySet::from_keys([key.public_key()]))
//!     .build()
//!     .await?;
//! let routes = Routes::new([Route::new("/health", Access::Public)])?;
//! let authz = ExtAuthz::new(Checkpoint::new(&gate, routes));
//! let check = |path: &str| CheckRequest {
//!     attributes: Some(AttributeContext {
//!         request: Some(Request {
//!             http: Some(HttpRequest { method: "GET".into(), path: path.into(), ..Default::default() }),
//!         }),
//!         ..Default::default()
//!     }),
//! };
//! // accepted
//! let res = authz.check(tonic::Request::new(check("/health"))).await?.into_inner();
//! assert_eq!(res.status.unwrap().code, 0);
//! // refused: no rule → PERMISSION_DENIED and an HTTP 403 for the client
//! let res = authz.check(tonic::Request::new(check("/admin"))).await?.into_inner();
//! assert_eq!(res.status.unwrap().code, 7);
//! let Some(HttpResponse::DeniedResponse(d)) = res.http_response else { panic!() };
//! assert_eq!(d.status.unwrap().code, 403);
//! # Ok(())
//! # }
//! ```

use http::HeaderMap;
use http::header::AUTHORIZATION;

use crate::check::{Checkpoint, DenyReason, OriginalRequest, Verdict};

/// The generated messages, server and client (`tonic-prost-build` over the vendored
/// protos), in modules that mirror the proto packages.
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod proto {
    /// `envoy.*`
    pub mod envoy {
        /// `envoy.config.*`
        pub mod config {
            /// `envoy.config.core.*`
            pub mod core {
                /// `envoy.config.core.v3`
                pub mod v3 {
                    include!(concat!(env!("OUT_DIR"), "/envoy.config.core.v3.rs"));
                }
            }
        }
        /// `envoy.type.*`
        pub mod r#type {
            /// `envoy.type.v3`
            pub mod v3 {
                include!(concat!(env!("OUT_DIR"), "/envoy.r#type.v3.rs"));
            }
        }
        /// `envoy.service.*`
        pub mod service {
            /// `envoy.service.auth.*`
            pub mod auth {
                /// `envoy.service.auth.v3`
                pub mod v3 {
                    include!(concat!(env!("OUT_DIR"), "/envoy.service.auth.v3.rs"));
                }
            }
        }
    }
    /// `google.*`
    pub mod google {
        /// `google.rpc`
        pub mod rpc {
            include!(concat!(env!("OUT_DIR"), "/google.rpc.rs"));
        }
    }
}

use proto::envoy::config::core::v3::{
    HeaderValue, HeaderValueOption, header_value_option::HeaderAppendAction,
};
use proto::envoy::service::auth::v3::authorization_server::{Authorization, AuthorizationServer};
use proto::envoy::service::auth::v3::check_response::HttpResponse;
use proto::envoy::service::auth::v3::{
    CheckRequest, CheckResponse, DeniedHttpResponse, OkHttpResponse,
};
use proto::envoy::r#type::v3::HttpStatus;
use proto::google::rpc::Status;

/// The ext_authz gRPC service; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct ExtAuthz {
    checkpoint: Checkpoint,
}

impl ExtAuthz {
    /// The service for `checkpoint`.
    #[must_use]
    pub fn new(checkpoint: Checkpoint) -> Self {
        ExtAuthz { checkpoint }
    }

    /// As a tonic server (add it to a `tonic::transport::Server` or
    /// `tonic::service::Routes`).
    #[must_use]
    pub fn into_server(self) -> AuthorizationServer<Self> {
        AuthorizationServer::new(self)
    }

    /// Decides about one `CheckRequest`.
    pub async fn decide(&self, req: &CheckRequest) -> CheckResponse {
        let http = req
            .attributes
            .as_ref()
            .and_then(|a| a.request.as_ref())
            .and_then(|r| r.http.as_ref());
        let verdict = match http {
            None => self.checkpoint.deny(DenyReason::MissingOriginal),
            Some(h) => {
                let mut headers = HeaderMap::new();
                if let Some(v) = h.headers.get("authorization")
                    && let Ok(v) = http::HeaderValue::from_str(v)
                {
                    headers.insert(AUTHORIZATION, v);
                }
                self.checkpoint
                    .check(&OriginalRequest::new(&h.method, &h.path, &headers))
                    .await
            }
        };
        response(verdict)
    }
}

fn header(name: &str, value: &http::HeaderValue) -> HeaderValueOption {
    HeaderValueOption {
        header: Some(HeaderValue {
            key: name.to_owned(),
            value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
            raw_value: Vec::new(),
        }),
        append_action: HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
        keep_empty_value: false,
    }
}

/// The `CheckResponse` for a verdict.
#[must_use]
pub fn response(verdict: Verdict) -> CheckResponse {
    match verdict {
        Verdict::Allow(a) => CheckResponse {
            status: Some(Status {
                code: 0,
                message: String::new(),
            }),
            http_response: Some(HttpResponse::OkResponse(OkHttpResponse {
                headers: a
                    .headers()
                    .iter()
                    .map(|(n, v)| header(n.as_str(), v))
                    .collect(),
                headers_to_remove: a.remove().iter().map(|n| n.as_str().to_owned()).collect(),
            })),
        },
        Verdict::Deny(d) => {
            let code = match d.reason() {
                DenyReason::Token(e) => e.wire().grpc.as_i32(),
                DenyReason::NoRoute | DenyReason::Ambiguous => 7,
                DenyReason::MissingOriginal => 13,
                DenyReason::PhantomUnavailable => 14,
            };
            CheckResponse {
                status: Some(Status {
                    code,
                    message: d.reason().label().to_owned(),
                }),
                http_response: Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
                    status: Some(HttpStatus {
                        code: i32::from(d.status().as_u16()),
                    }),
                    headers: d
                        .headers()
                        .iter()
                        .map(|(n, v)| header(n.as_str(), v))
                        .collect(),
                    body: String::new(),
                })),
            }
        }
    }
}

#[tonic::async_trait]
impl Authorization for ExtAuthz {
    async fn check(
        &self,
        request: tonic::Request<CheckRequest>,
    ) -> Result<tonic::Response<CheckResponse>, tonic::Status> {
        Ok(tonic::Response::new(self.decide(request.get_ref()).await))
    }
}
