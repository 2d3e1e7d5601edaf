//! RFC 9728 OAuth 2.0 Protected Resource Metadata: the document a client (an MCP
//! client, say) reads to learn which authorization server issues tokens for this
//! resource and which scopes to ask for, and the `resource_metadata` challenge parameter
//! that points at it.
//!
//! Configure the resource identifier on the gate
//! ([`TollgateBuilder::resource`](crate::TollgateBuilder::resource), or `resource` /
//! `TOLLGATE_RESOURCE` in [`GateConfig`](crate::GateConfig)). Then:
//!
//! - [`Tollgate::metadata_service`](crate::Tollgate::metadata_service) serves the
//!   document at [`ProtectedResource::well_known_path`]: `/.well-known/oauth-protected-resource`
//!   for a resource without a path, `/.well-known/oauth-protected-resource/<path>` (the
//!   path-aware form of RFC 9728 §3.1) for one with a path, so that the document's
//!   `resource` is exactly the identifier the URL was built from (§3.3);
//! - every 400/401/403 challenge carries `resource_metadata="<that URL>"`;
//! - a 401 on a route whose policy the gate knows carries `scope="..."` too (the routes
//!   registered with [`Tollgate::require_route`](crate::Tollgate::require_route)); without
//!   a resource, 401 challenges stay as RFC 6750 has them (no `scope`);
//! - unless audiences were set, the audience is the resource identifier (RFC 8707):
//!   tokens minted for another resource are refused.
//!
//! The document's fields: `resource`, `authorization_servers` (the configured issuers),
//! `scopes_supported` (every scope of every policy the gate handed out: routes with
//! [`Tollgate::require`](crate::Tollgate::require) /
//! [`require_route`](crate::Tollgate::require_route), gRPC methods with
//! `tollgate-tonic`'s `grpc_layer`), `bearer_methods_supported` (`["header"]`: tokens
//! are read from the `Authorization` header only), and `resource_name` when set.
//! With DPoP on ([`Tollgate::dpop`](crate::Tollgate::dpop)):
//! `dpop_signing_alg_values_supported` (the proof algorithms), and
//! `dpop_bound_access_tokens_required: true` when DPoP is required.
//! Nothing is signed (no `signed_metadata`, no `resource_signing_alg_values_supported`);
//! `tls_client_certificate_bound_access_tokens` is left out (false).
//!
//! # Example
//!
//! ```
//! use tollgate_core::KeySet;
//! use tollgate_core::scope::{Scope, ScopePolicy};
//! use tollgate_testkit::{DEFAULT_ISSUER, TestKey};
//! use tollgate_tower::Tollgate;
//! use tower::{Layer, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = TestKey::ed25519("k1");
//! let gate = Tollgate::<()>::builder()
//!     .issuer(DEFAULT_ISSUER)
//!     .resource("https://orders.example.com") // the audience too
//!     .keys(KeySet::from_keys([key.public_key()]))
//!     .build()
//!     .await?;
//! let read = ScopePolicy::all_of([Scope::from_static("orders:read")]);
//! let orders = gate.layer().layer(gate.require_route(&http::Method::GET, "/orders", read).layer(
//!     service_fn(|_req: http::Request<String>| async {
//!         Ok::<_, std::convert::Infallible>(http::Response::new(String::from("[]")))
//!     }),
//! ));
//!
//! // the document
//! let req = http::Request::get("/.well-known/oauth-protected-resource").body(String::new())?;
//! let res = gate.metadata_service::<String>().oneshot(req).await?;
//! let doc: serde_json::Value = serde_json::from_str(res.body())?;
//! assert_eq!(doc["resource"], "https://orders.example.com");
//! assert_eq!(doc["authorization_servers"][0], DEFAULT_ISSUER);
//! assert_eq!(doc["scopes_supported"][0], "orders:read");
//!
//! // accepted: a token for this resource
//! let token = key.token().audience("https://orders.example.com").scope("orders:read").sign();
//! let req = http::Request::get("/orders").header("authorization", format!("Bearer {token}")).body(String::new())?;
//! assert_eq!(orders.clone().oneshot(req).await?.status(), 200);
//!
//! // rejected: no token; the challenge names the metadata and the route's scope
//! let res = orders.oneshot(http::Request::get("/orders").body(String::new())?).await?;
//! assert_eq!(res.status(), 401);
//! assert_eq!(
//!     res.headers()["www-authenticate"],
//!     "Bearer realm=\"api\", scope=\"orders:read\", \
//!      resource_metadata=\"https://orders.example.com/.well-known/oauth-protected-resource\""
//! );
//! # Ok(())
//! # }
//! ```

use std::collections::{BTreeSet, HashMap};
use std::convert::Infallible;
use std::fmt;
use std::future::{Ready, ready};
use std::marker::PhantomData;
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context, Poll};

use http::header::{ACCESS_CONTROL_ALLOW_ORIGIN, CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode, Uri};
use serde::Serialize;
use tollgate_core::scope::ScopePolicy;

use crate::gate::BuildError;

/// The well-known path prefix of RFC 9728.
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// The metadata document (RFC 9728 §2), as served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ResourceMetadata {
    /// The resource identifier.
    pub resource: String,
    /// The issuers whose tokens this resource accepts.
    pub authorization_servers: Vec<String>,
    /// Every scope of every policy the gate handed out, sorted.
    pub scopes_supported: Vec<String>,
    /// `["header"]`: the `Authorization: Bearer` header only.
    pub bearer_methods_supported: Vec<&'static str>,
    /// A human-readable name, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    /// With DPoP on: the proof algorithms accepted (RFC 9728 §2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dpop_signing_alg_values_supported: Option<Vec<String>>,
    /// `true` when DPoP is required (RFC 9728 §2; omitted, i.e. false, otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dpop_bound_access_tokens_required: Option<bool>,
}

/// What the gate learns about its policies as the application hands them out: the
/// scopes (for `scopes_supported`) and, per route, the challenge scope of a 401.
#[derive(Debug, Default)]
pub(crate) struct Policies {
    scopes: RwLock<BTreeSet<String>>,
    /// `"METHOD /path"` (or `"/path"` for every method) → challenge scope.
    routes: RwLock<HashMap<String, String>>,
}

impl Policies {
    pub(crate) fn record(&self, policy: &ScopePolicy) {
        let mut scopes = self.scopes.write().unwrap_or_else(PoisonError::into_inner);
        for alternative in policy.alternatives() {
            for s in alternative {
                scopes.insert(s.as_str().to_owned());
            }
        }
    }

    pub(crate) fn record_route(&self, method: Option<&Method>, path: &str, policy: &ScopePolicy) {
        self.record(policy);
        let challenge = policy.challenge_scope();
        if challenge.is_empty() {
            return;
        }
        let key = match method {
            Some(m) => format!("{m} {path}"),
            None => path.to_owned(),
        };
        self.routes
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, challenge);
    }

    /// The challenge scope of the route (refusal path only: one read lock and a
    /// small formatting).
    pub(crate) fn route_scope(&self, method: &Method, path: &str) -> Option<String> {
        let routes = self.routes.read().unwrap_or_else(PoisonError::into_inner);
        if routes.is_empty() {
            return None;
        }
        routes
            .get(&format!("{method} {path}"))
            .or_else(|| routes.get(path))
            .cloned()
    }

    fn scopes(&self) -> Vec<String> {
        self.scopes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }
}

/// A protected resource: its identifier, metadata URL and the live policy record.
#[derive(Clone)]
pub struct ProtectedResource {
    resource: String,
    metadata_url: String,
    well_known_path: String,
    name: Option<String>,
    issuers: Vec<String>,
    pub(crate) policies: Arc<Policies>,
    /// DPoP: (proof algorithms, required); `None` when off.
    dpop: Option<(Vec<String>, bool)>,
}

impl fmt::Debug for ProtectedResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProtectedResource")
            .field("resource", &self.resource)
            .field("metadata_url", &self.metadata_url)
            .field("issuers", &self.issuers)
            .finish_non_exhaustive()
    }
}

/// The metadata URL for `resource` (RFC 9728 §3.1: the well-known segment goes between
/// the host and the resource's path) and that URL's path.
///
/// # Errors
///
/// [`BuildError::Field`] for `resource` when it is not an absolute `https` URL (plain
/// `http` only for loopback hosts), or carries a query or fragment (§1.2).
pub fn metadata_url(resource: &str) -> Result<(String, String), BuildError> {
    let bad = |problem: &str| BuildError::field("resource", problem.to_owned());
    if resource.contains('#') {
        return Err(bad("must not have a fragment"));
    }
    let uri: Uri = resource.parse().map_err(|_| bad("is not a valid URL"))?;
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err(bad("must be an absolute URL"));
    };
    let loopback = matches!(authority.host(), "localhost" | "127.0.0.1" | "[::1]");
    if scheme != "https" && !(scheme == "http" && loopback) {
        return Err(bad("must be https (http only for loopback hosts)"));
    }
    if uri.query().is_some() {
        return Err(bad("must not have a query"));
    }
    if authority.as_str().contains('@') {
        return Err(bad("must not carry user info"));
    }
    let path = uri.path().trim_end_matches('/');
    let well_known = format!("{WELL_KNOWN}{path}");
    Ok((format!("{scheme}://{authority}{well_known}"), well_known))
}

impl ProtectedResource {
    pub(crate) fn new(
        resource: &str,
        name: Option<String>,
        issuers: Vec<String>,
        policies: Arc<Policies>,
    ) -> Result<Self, BuildError> {
        let (metadata_url, well_known_path) = metadata_url(resource)?;
        Ok(ProtectedResource {
            resource: resource.to_owned(),
            metadata_url,
            well_known_path,
            name,
            issuers,
            policies,
            dpop: None,
        })
    }

    /// Advertises DPoP (`dpop_signing_alg_values_supported`, and
    /// `dpop_bound_access_tokens_required` when required); `None` when DPoP is off.
    pub(crate) fn with_dpop(mut self, dpop: Option<&crate::auth::Dpop>) -> Self {
        use crate::auth::DpopMode;
        self.dpop = dpop.filter(|d| d.mode() != DpopMode::Off).map(|d| {
            let algs = d
                .verifier()
                .algorithms()
                .iter()
                .map(|a| a.as_str().to_owned())
                .collect();
            (algs, d.mode() == DpopMode::Required)
        });
        self
    }

    /// The resource identifier.
    #[must_use]
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The URL of the metadata document (the `resource_metadata` challenge parameter).
    #[must_use]
    pub fn metadata_url(&self) -> &str {
        &self.metadata_url
    }

    /// The path the document is served at, e.g. `/.well-known/oauth-protected-resource`
    /// or `/.well-known/oauth-protected-resource/api`.
    #[must_use]
    pub fn well_known_path(&self) -> &str {
        &self.well_known_path
    }

    /// The document as of now (policies handed out later show up in later documents).
    #[must_use]
    pub fn document(&self) -> ResourceMetadata {
        ResourceMetadata {
            resource: self.resource.clone(),
            authorization_servers: self.issuers.clone(),
            scopes_supported: self.policies.scopes(),
            bearer_methods_supported: vec!["header"],
            resource_name: self.name.clone(),
            dpop_signing_alg_values_supported: self.dpop.as_ref().map(|(a, _)| a.clone()),
            dpop_bound_access_tokens_required: self
                .dpop
                .as_ref()
                .and_then(|(_, required)| required.then_some(true)),
        }
    }
}

/// Serves the metadata document: `GET`/`HEAD` at
/// [`ProtectedResource::well_known_path`] → 200 `application/json`; any other path
/// → 404, another method → 405. From [`Tollgate::metadata_service`](crate::Tollgate::metadata_service).
pub struct MetadataService<B = String> {
    resource: Option<Arc<ProtectedResource>>,
    _body: PhantomData<fn() -> B>,
}

impl<B> Clone for MetadataService<B> {
    fn clone(&self) -> Self {
        MetadataService {
            resource: self.resource.clone(),
            _body: PhantomData,
        }
    }
}

impl<B> fmt::Debug for MetadataService<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetadataService")
            .field("resource", &self.resource)
            .finish()
    }
}

impl<B> MetadataService<B> {
    pub(crate) fn new(resource: Option<Arc<ProtectedResource>>) -> Self {
        MetadataService {
            resource,
            _body: PhantomData,
        }
    }
}

fn plain<B: From<String>>(status: StatusCode, text: &str) -> Response<B> {
    let mut res = Response::new(B::from(text.to_owned()));
    *res.status_mut() = status;
    res
}

impl<ReqBody, B: From<String>> tower_service::Service<Request<ReqBody>> for MetadataService<B> {
    type Response = Response<B>;
    type Error = Infallible;
    type Future = Ready<Result<Response<B>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let Some(resource) = self
            .resource
            .as_deref()
            .filter(|r| req.uri().path().trim_end_matches('/') == r.well_known_path)
        else {
            return ready(Ok(plain(StatusCode::NOT_FOUND, "")));
        };
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return ready(Ok(plain(StatusCode::METHOD_NOT_ALLOWED, "")));
        }
        let body = serde_json::to_string(&resource.document()).unwrap_or_default();
        let mut res = Response::new(B::from(body));
        let h = res.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        // public metadata: browser-based clients read it cross-origin
        h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("max-age=300"));
        ready(Ok(res))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_layer::Layer;

    #[test]
    fn urls_per_rfc_9728_section_3_1() {
        let u = |r: &str| metadata_url(r).map(|(u, _)| u);
        assert_eq!(
            u("https://orders.example.com").unwrap(),
            "https://orders.example.com/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            u("https://orders.example.com/").unwrap(),
            "https://orders.example.com/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            u("https://api.example.com/mcp/v1").unwrap(),
            "https://api.example.com/.well-known/oauth-protected-resource/mcp/v1"
        );
        assert_eq!(
            u("http://127.0.0.1:8080/api").unwrap(),
            "http://127.0.0.1:8080/.well-known/oauth-protected-resource/api"
        );
        for bad in [
            "http://orders.example.com",
            "orders.example.com",
            "https://orders.example.com/?a=b",
            "https://orders.example.com/#x",
            "https://u:p@orders.example.com/",
        ] {
            assert!(u(bad).is_err(), "{bad}");
        }
    }

    /// A resource with a path: the document is served at the path-aware URL only, and
    /// lists the scopes of every policy handed out, whenever it was handed out.
    #[tokio::test]
    async fn path_aware_form_and_late_policies() {
        use tollgate_core::KeySet;
        use tollgate_core::scope::Scope;
        use tollgate_testkit::{DEFAULT_ISSUER, TestKey};
        use tower::ServiceExt;

        let key = TestKey::ed25519("k1");
        let gate = crate::Tollgate::<()>::builder()
            .issuer(DEFAULT_ISSUER)
            .resource("https://api.example.com/mcp")
            .resource_name("Orders MCP")
            .keys(KeySet::from_keys([key.public_key()]))
            .build()
            .await
            .unwrap();
        let r = gate.protected_resource().unwrap();
        assert_eq!(
            r.well_known_path(),
            "/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            r.metadata_url(),
            "https://api.example.com/.well-known/oauth-protected-resource/mcp"
        );
        let get = |path: &str| {
            let svc = gate.metadata_service::<String>();
            let req = Request::get(path).body(String::new()).unwrap();
            async move { svc.oneshot(req).await.unwrap() }
        };
        assert_eq!(get(WELL_KNOWN).await.status(), 404);
        let _ = gate.require(ScopePolicy::any_of([
            Scope::from_static("b"),
            Scope::from_static("a"),
        ]));
        gate.record_policy(
            "/inventory.v1.Inventory/GetItem",
            &ScopePolicy::all_of([Scope::from_static("c")]),
        );
        let res = get("/.well-known/oauth-protected-resource/mcp").await;
        assert_eq!(res.status(), 200);
        let doc: serde_json::Value = serde_json::from_str(res.body()).unwrap();
        assert_eq!(
            doc,
            serde_json::json!({
                "resource": "https://api.example.com/mcp",
                "authorization_servers": [DEFAULT_ISSUER],
                "scopes_supported": ["a", "b", "c"],
                "bearer_methods_supported": ["header"],
                "resource_name": "Orders MCP",
            })
        );
        // the resource is the audience
        let rejected = key.token().sign();
        let accepted = key.token().audience("https://api.example.com/mcp").sign();
        let svc = gate
            .layer()
            .layer(tower::service_fn(|_req: Request<String>| async {
                Ok::<_, Infallible>(Response::new(String::new()))
            }));
        let call = |token: String| {
            let req = Request::get("/x")
                .header("authorization", format!("Bearer {token}"))
                .body(String::new())
                .unwrap();
            svc.clone().oneshot(req)
        };
        assert_eq!(call(accepted).await.unwrap().status(), 200);
        let res = call(rejected).await.unwrap();
        assert_eq!(res.status(), 401);
        assert!(
            res.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .ends_with("resource_metadata=\"https://api.example.com/.well-known/oauth-protected-resource/mcp\""),
        );
        // POST at the document: 405; no resource: 404 everywhere
        let res = gate
            .metadata_service::<String>()
            .oneshot(
                Request::post("/.well-known/oauth-protected-resource/mcp")
                    .body(String::new())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), 405);
    }

    #[test]
    fn route_scopes_by_method_then_path() {
        let p = Policies::default();
        let read = ScopePolicy::all_of([tollgate_core::scope::Scope::from_static("r")]);
        let write = ScopePolicy::all_of([tollgate_core::scope::Scope::from_static("w")]);
        p.record_route(Some(&Method::GET), "/orders", &read);
        p.record_route(Some(&Method::POST), "/orders", &write);
        p.record_route(None, "/all", &read);
        p.record_route(None, "/open", &ScopePolicy::authenticated());
        assert_eq!(p.route_scope(&Method::GET, "/orders").as_deref(), Some("r"));
        assert_eq!(
            p.route_scope(&Method::POST, "/orders").as_deref(),
            Some("w")
        );
        assert_eq!(p.route_scope(&Method::PUT, "/orders"), None);
        assert_eq!(p.route_scope(&Method::PUT, "/all").as_deref(), Some("r"));
        assert_eq!(p.route_scope(&Method::GET, "/open"), None);
        assert_eq!(p.scopes(), ["r", "w"]);
    }
}
