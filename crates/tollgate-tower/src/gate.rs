//! [`Tollgate`]: one configuration for every front-end, built once, handing out the
//! layers.
//!
//! The gate is front-end neutral. It holds one [`Authenticator`] (local JWT
//! verification over remote or fixed keys, optionally with RFC 7662 introspection:
//! the type stays the same whatever is enabled) and the RFC 6750 challenge settings.
//! It hands out:
//!
//! - [`Tollgate::layer`]: the HTTP authentication layer ([`AuthLayer`]);
//! - [`Tollgate::require`]: a per-route scope check ([`RequireScopeLayer`]);
//! - in `tollgate-tonic`, the gRPC layer with per-method scopes and the interceptor
//!   (`gate.grpc_layer(methods)`, `gate.grpc_interceptor(policy)`).
//!
//! `tollgate-axum` and `tollgate-tonic` re-export it, so users depend on one crate.
//!
//! # Example
//!
//! ```
//! use tollgate_core::KeySet;
//! use tollgate_core::scope::{Scope, ScopePolicy};
//! use tollgate_testkit::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, TestKey};
//! use tollgate_tower::Tollgate;
//! use tower::{Layer, Service, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = TestKey::ed25519("k1");
//! let gate = Tollgate::<()>::builder()
//!     .issuer(DEFAULT_ISSUER)
//!     .audience(DEFAULT_AUDIENCE)
//!     .keys(KeySet::from_keys([key.public_key()])) // or .jwks_uri(..) / .discover()
//!     .build()
//!     .await?;
//!
//! let handler = service_fn(|_req: http::Request<String>| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hello")))
//! });
//! let read = ScopePolicy::all_of([Scope::from_static("orders:read")]);
//! let mut svc = gate.layer().layer(gate.require(read).layer(handler));
//!
//! // accepted
//! let token = key.token().scope("orders:read").sign();
//! let req = http::Request::builder()
//!     .header("authorization", format!("Bearer {token}"))
//!     .body(String::new())?;
//! assert_eq!(svc.ready().await?.call(req).await?.status(), 200);
//!
//! // rejected: the scope is missing
//! let token = key.token().scope("other").sign();
//! let req = http::Request::builder()
//!     .header("authorization", format!("Bearer {token}"))
//!     .body(String::new())?;
//! assert_eq!(svc.ready().await?.call(req).await?.status(), 403);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use tollgate_core::KeySet;
use tollgate_core::actor::ActorPolicy;
use tollgate_core::alg::Algorithm;
use tollgate_core::authenticate::{Authenticator, StaticKeys};
use tollgate_core::cache::CacheConfig;
use tollgate_core::introspect::{IntrospectorBuilder, Routing};
use tollgate_core::oauth::HttpClient;
use tollgate_core::remote::{IssuerConfig, Issuers, RefreshConfig};
use tollgate_core::scope::ScopePolicy;
use tollgate_core::validation::{TokenProfile, Validation, ValidationBuilder};

use crate::auth::{AuthLayer, Dpop, Mode};
use crate::metadata::{MetadataService, Policies, ProtectedResource};
use crate::mtls::Mtls;
use crate::reject::BearerRejector;
use crate::scope::RequireScopeLayer;

/// One configuration, the layers that use it; see the [module docs](self).
///
/// `X` is your own claims type (`()` for none): handlers find `Arc<Claims<X>>` in the
/// request extensions. Cloning is cheap and clones share keys and caches.
#[must_use]
pub struct Tollgate<X = ()> {
    auth: Authenticator,
    rejector: BearerRejector,
    mode: Mode,
    /// The policies handed out (shared by clones): `scopes_supported`, 401 scope hints.
    policies: Arc<Policies>,
    resource: Option<Arc<ProtectedResource>>,
    /// DPoP (RFC 9449); `None`: Bearer only.
    dpop: Option<Dpop>,
    /// Certificate source for certificate-bound tokens (RFC 8705).
    mtls: Mtls,
    /// The Redis store of [`TollgateBuilder::redis`], kept so that DPoP settings given
    /// later ([`Self::dpop`]) get the shared replay store too.
    #[cfg(feature = "redis")]
    redis: Option<RedisReplay>,
    _claims: PhantomData<fn() -> X>,
}

#[cfg(feature = "redis")]
type RedisReplay = (
    tollgate_core::redis::RedisStore,
    tollgate_core::redis::ReplayFallback,
);

/// `dpop` with the Redis replay store when one is configured.
#[cfg(feature = "redis")]
fn with_shared_replay(dpop: Dpop, redis: Option<&RedisReplay>) -> Dpop {
    match redis {
        Some((store, fallback)) => dpop.replay_store(
            tollgate_core::redis::RedisReplayStore::new(store.clone()).fallback(*fallback),
        ),
        None => dpop,
    }
}

impl<X> Clone for Tollgate<X> {
    fn clone(&self) -> Self {
        Tollgate {
            auth: self.auth.clone(),
            rejector: self.rejector.clone(),
            mode: self.mode,
            policies: self.policies.clone(),
            resource: self.resource.clone(),
            dpop: self.dpop.clone(),
            mtls: self.mtls,
            #[cfg(feature = "redis")]
            redis: self.redis.clone(),
            _claims: PhantomData,
        }
    }
}

impl<X> fmt::Debug for Tollgate<X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tollgate")
            .field("auth", &self.auth)
            .field("rejector", &self.rejector)
            .field("mode", &self.mode)
            .field("resource", &self.resource)
            .finish_non_exhaustive()
    }
}

impl<X> Tollgate<X> {
    /// Configure everything in one place: issuer, audiences, algorithms, key source,
    /// refresh, caches, actor policy, introspection, realm.
    pub fn builder() -> TollgateBuilder<X> {
        TollgateBuilder::default()
    }

    /// A gate over an authenticator you assembled yourself (e.g. a multi-issuer
    /// [`Issuers`] registry, or [`StaticKeys`]).
    pub fn new(auth: impl Into<Authenticator>) -> Self {
        let policies = Arc::new(Policies::default());
        Tollgate {
            auth: auth.into(),
            rejector: BearerRejector::default(),
            mode: Mode::Required,
            policies,
            resource: None,
            dpop: None,
            mtls: Mtls::default(),
            #[cfg(feature = "redis")]
            redis: None,
            _claims: PhantomData,
        }
    }

    /// The `realm` of every challenge (default `api`).
    pub fn realm(self, realm: impl Into<String>) -> Self {
        self.rejector(BearerRejector::new(realm))
    }

    /// Uses this challenge configuration (realm, RFC 9728 metadata URL, problem bodies).
    /// With a [resource](TollgateBuilder::resource) configured, its metadata URL is kept
    /// unless `rejector` names one.
    pub fn rejector(mut self, rejector: BearerRejector) -> Self {
        self.rejector = match &self.resource {
            Some(r) => with_resource(rejector, r, &self.policies),
            None => rejector,
        };
        self
    }

    /// Lets requests without a token through without claims (see [`Mode::Optional`]).
    pub fn optional(mut self) -> Self {
        self.mode = Mode::Optional;
        self
    }

    /// Accepts DPoP-bound tokens (RFC 9449) as `dpop` says (see [`Dpop`]); the
    /// default is Bearer only. With [`TollgateBuilder::redis`], the proofs are checked
    /// against the Redis replay store (in place of `dpop`'s own).
    pub fn dpop(mut self, dpop: Dpop) -> Self {
        #[cfg(feature = "redis")]
        let dpop = with_shared_replay(dpop, self.redis.as_ref());
        // the RFC 9728 document advertises the DPoP settings
        self.resource = self
            .resource
            .map(|r| Arc::new((*r).clone().with_dpop(Some(&dpop))));
        self.dpop = Some(dpop);
        self
    }

    /// The DPoP settings, when set.
    #[must_use]
    pub fn dpop_settings(&self) -> Option<&Dpop> {
        self.dpop.as_ref()
    }

    /// Where the client certificate of certificate-bound tokens (RFC 8705) comes from
    /// (see [`crate::mtls`]): the TLS connection by default, a trusted proxy's header
    /// only when configured. The binding check itself is always on.
    pub fn mtls(mut self, mtls: Mtls) -> Self {
        self.mtls = mtls;
        self
    }

    /// The mTLS settings.
    pub fn mtls_settings(&self) -> Mtls {
        self.mtls
    }

    /// The DPoP settings the layers enforce: [`Self::dpop_settings`] when DPoP is on
    /// (allowed or required), with the RFC 9728 `resource_metadata` of the challenge
    /// configuration when a [resource](TollgateBuilder::resource) is configured (or the
    /// rejector names a metadata URL). `None` when DPoP is off.
    #[must_use]
    pub fn dpop_for_layers(&self) -> Option<Dpop> {
        let dpop = self
            .dpop
            .as_ref()
            .filter(|d| d.mode() != crate::auth::DpopMode::Off)?;
        Some(
            match (
                dpop.resource_metadata_url(),
                self.rejector.resource_metadata_url(),
            ) {
                (None, Some(url)) => dpop.clone().resource_metadata(url),
                _ => dpop.clone(),
            },
        )
    }

    /// The HTTP authentication layer: 401 / 400 / 503 per RFC 6750 (and RFC 9449 with
    /// DPoP on).
    pub fn layer(&self) -> AuthLayer<X> {
        let layer = AuthLayer::new(self.auth.clone())
            .rejector(self.rejector.clone())
            .mode(self.mode)
            .mtls(self.mtls);
        match self.dpop_for_layers() {
            Some(d) => layer.dpop(d),
            None => layer,
        }
    }

    /// A per-route scope check (403 `insufficient_scope`); stack it inside [`Self::layer`].
    /// Its scopes join the RFC 9728 `scopes_supported`.
    pub fn require(&self, policy: ScopePolicy) -> RequireScopeLayer<X> {
        self.policies.record(&policy);
        RequireScopeLayer::with_rejector(policy, self.rejector.clone())
    }

    /// [`Self::require`] for the route `method` `path` (the path as requested, e.g.
    /// `/orders`): with a [resource](TollgateBuilder::resource) configured, a 401 on that
    /// route then names the policy's scope in its challenge (`scope="orders:read"`, as
    /// MCP clients expect).
    pub fn require_route(
        &self,
        method: &http::Method,
        path: &str,
        policy: ScopePolicy,
    ) -> RequireScopeLayer<X> {
        self.policies.record_route(Some(method), path, &policy);
        RequireScopeLayer::with_rejector(policy, self.rejector.clone())
    }

    /// Tells the gate about a policy it did not hand out itself (e.g. `tollgate-tonic`'s
    /// per-method map: `path` is the gRPC method path): its scopes join
    /// `scopes_supported`, and a 401 on `path` names its scope.
    pub fn record_policy(&self, path: &str, policy: &ScopePolicy) {
        self.policies.record_route(None, path, policy);
    }

    /// The RFC 9728 protected resource, when [configured](TollgateBuilder::resource).
    #[must_use]
    pub fn protected_resource(&self) -> Option<&ProtectedResource> {
        self.resource.as_deref()
    }

    /// A service answering the RFC 9728 metadata document at its well-known path (see
    /// [`crate::metadata`]); 404 everywhere when no resource is configured. Mount it
    /// at [`ProtectedResource::well_known_path`], outside the authentication layer.
    pub fn metadata_service<B: From<String>>(&self) -> MetadataService<B> {
        MetadataService::new(self.resource.clone())
    }

    /// The authenticator (key sets, caches, introspector).
    #[must_use]
    pub fn authenticator(&self) -> &Authenticator {
        &self.auth
    }

    /// The RFC 6750 challenge configuration.
    pub fn bearer_rejector(&self) -> &BearerRejector {
        &self.rejector
    }

    /// Whether a token is required.
    #[must_use]
    pub fn mode(&self) -> Mode {
        self.mode
    }
}

/// The configuration could not be turned into a [`Tollgate`].
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No key source configured (and no introspection to take every token).
    #[error("no key source: call .jwks_uri(..), .discover() or .keys(..)")]
    NoKeySource,
    /// A configuration value is missing or not understood (names the field).
    #[error("{field} {problem}")]
    Field {
        /// The field or environment variable.
        field: String,
        /// What is wrong with it, as a predicate: "is required" (never a secret's value).
        problem: String,
    },
    /// A configuration file could not be read or parsed (the problem names the field
    /// and line).
    #[error("configuration file {}: {problem}", path.display())]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The validation policy, the key source or the introspection set-up failed (an
    /// incomplete policy, a bad URL, no key set at start-up, an issuer mismatch...):
    /// core's error, with its own cause chain.
    #[error(transparent)]
    Core(#[from] tollgate_core::BuildError),
}

impl BuildError {
    /// True when the configuration itself is wrong (fix it and restart: a process
    /// should exit with a configuration status), false when a start-up dependency
    /// failed (the IdP or its discovery unreachable, no runtime, no TLS roots: retrying
    /// later may succeed).
    #[must_use]
    pub fn is_configuration(&self) -> bool {
        !matches!(
            self,
            BuildError::Core(
                tollgate_core::BuildError::Startup { .. }
                    | tollgate_core::BuildError::IntrospectionDiscovery { .. }
                    | tollgate_core::BuildError::NoRuntime
                    | tollgate_core::BuildError::HttpClient { .. }
            )
        )
    }

    /// The message followed by every cause of its `source()` chain, joined by `: `
    /// (for a start-up log line or `eprintln!`).
    #[must_use]
    pub fn report(&self) -> String {
        let mut out = self.to_string();
        let mut next = std::error::Error::source(self);
        while let Some(e) = next {
            let text = e.to_string();
            if !out.ends_with(&text) {
                out.push_str(": ");
                out.push_str(&text);
            }
            next = e.source();
        }
        out
    }

    /// A field error (`field` names the setting, `problem` says what is wrong).
    pub fn field(field: impl Into<String>, problem: impl Into<String>) -> Self {
        BuildError::Field {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

#[derive(Clone, Default)]
enum KeySource {
    #[default]
    None,
    Jwks(String),
    Discovery,
    Static(KeySet),
}

#[derive(Clone, Default)]
enum CacheChoice {
    #[default]
    Default,
    Sized(CacheConfig),
    Off,
}

/// Builder of a [`Tollgate`] (from [`Tollgate::builder`]). `Clone` and cheap: it holds
/// configuration only; every build makes its own key stores and caches.
#[must_use]
pub struct TollgateBuilder<X = ()> {
    validation: ValidationBuilder,
    issuer: Option<String>,
    keys: KeySource,
    refresh: RefreshConfig,
    cache: CacheChoice,
    http_client: Option<Arc<dyn HttpClient>>,
    more_issuers: Vec<IssuerConfig>,
    introspection: Option<IntrospectorBuilder>,
    routing: Routing,
    rejector: BearerRejector,
    mode: Mode,
    resource: Option<String>,
    resource_name: Option<String>,
    has_audience: bool,
    error: Option<BuildError>,
    dpop: Option<Dpop>,
    mtls: Mtls,
    /// State shared by replicas (issue 16).
    #[cfg(feature = "redis")]
    redis: Option<RedisReplay>,
    _claims: PhantomData<fn() -> X>,
}

impl<X> Default for TollgateBuilder<X> {
    fn default() -> Self {
        TollgateBuilder {
            validation: Validation::builder(),
            issuer: None,
            keys: KeySource::None,
            refresh: RefreshConfig::default(),
            cache: CacheChoice::Default,
            http_client: None,
            more_issuers: Vec::new(),
            introspection: None,
            routing: Routing::default(),
            rejector: BearerRejector::default(),
            mode: Mode::Required,
            resource: None,
            resource_name: None,
            has_audience: false,
            error: None,
            dpop: None,
            mtls: Mtls::default(),
            #[cfg(feature = "redis")]
            redis: None,
            _claims: PhantomData,
        }
    }
}

impl<X> Clone for TollgateBuilder<X> {
    fn clone(&self) -> Self {
        TollgateBuilder {
            validation: self.validation.clone(),
            issuer: self.issuer.clone(),
            keys: self.keys.clone(),
            refresh: self.refresh.clone(),
            cache: self.cache.clone(),
            http_client: self.http_client.clone(),
            more_issuers: self.more_issuers.clone(),
            introspection: self.introspection.clone(),
            routing: self.routing,
            rejector: self.rejector.clone(),
            mode: self.mode,
            resource: self.resource.clone(),
            resource_name: self.resource_name.clone(),
            has_audience: self.has_audience,
            error: self.error.clone(),
            dpop: self.dpop.clone(),
            mtls: self.mtls,
            #[cfg(feature = "redis")]
            redis: self.redis.clone(),
            _claims: PhantomData,
        }
    }
}

impl<X> fmt::Debug for TollgateBuilder<X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TollgateBuilder")
            .field("validation", &self.validation)
            .field("issuer", &self.issuer)
            .field("introspection", &self.introspection)
            .field("routing", &self.routing)
            .field("rejector", &self.rejector)
            .field("mode", &self.mode)
            .field("resource", &self.resource)
            .finish_non_exhaustive()
    }
}

impl<X> TollgateBuilder<X>
where
    X: serde::de::DeserializeOwned + Send + Sync + 'static,
{
    /// The issuer (exact `iss` value).
    pub fn issuer(mut self, iss: impl Into<String>) -> Self {
        let iss = iss.into();
        self.validation = self.validation.issuer(&iss);
        self.issuer = Some(iss);
        self
    }

    /// An accepted audience (call again for more; any-of).
    pub fn audience(mut self, aud: impl AsRef<str>) -> Self {
        self.validation = self.validation.audience(aud);
        self.has_audience = true;
        self
    }

    /// The RFC 9728 protected resource identifier (an `https` URL; `http` for loopback
    /// hosts), e.g. `https://orders.example.com`: the gate serves its metadata document
    /// ([`Tollgate::metadata_service`]), every 401/403 challenge carries
    /// `resource_metadata`, and, unless [audiences](Self::audience) are set, the
    /// audience is this identifier (RFC 8707): tokens for other resources are refused.
    /// See [`crate::metadata`].
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// A human-readable `resource_name` for the metadata document.
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// The algorithm allow-list (default: all asymmetric ones).
    pub fn algorithms(mut self, algs: impl IntoIterator<Item = Algorithm>) -> Self {
        self.validation = self.validation.algorithms(algs);
        self
    }

    /// The token profile: the same knob as [`Self::preset`] (`AccessToken` is preset
    /// `rfc9068`, `Permissive` is preset `jwt`); the later call wins.
    pub fn profile(mut self, profile: TokenProfile) -> Self {
        self.validation = self.validation.profile(profile);
        self
    }

    /// The identity-provider preset (default RFC 9068): see
    /// [`tollgate_core::preset`]. Presets never weaken signature or issuer checks.
    pub fn preset(mut self, preset: tollgate_core::preset::Preset) -> Self {
        self.validation = self.validation.preset(preset);
        self
    }

    /// One more claim whose values become permissions (scopes), besides the preset's.
    pub fn permission_source(mut self, source: tollgate_core::preset::PermissionSource) -> Self {
        self.validation = self.validation.permission_source(source);
        self
    }

    /// Clock-skew leeway (default 30 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.validation = self.validation.leeway(leeway);
        self
    }

    /// Refuses tokens issued (`iat`) longer ago than this.
    pub fn max_age(mut self, age: Duration) -> Self {
        self.validation = self.validation.max_age(age);
        self
    }

    /// The largest token accepted, in bytes (checked before any decoding).
    pub fn max_token_len(mut self, len: usize) -> Self {
        self.validation = self.validation.max_token_len(len);
        self
    }

    /// Who may act for the subject in delegated (`act`) tokens.
    pub fn actor_policy(mut self, policy: ActorPolicy) -> Self {
        self.validation = self.validation.actor_policy(policy);
        self
    }

    /// Keys from this JWKS URL (refreshed in the background).
    pub fn jwks_uri(mut self, url: impl Into<String>) -> Self {
        self.keys = KeySource::Jwks(url.into());
        self
    }

    /// Keys from the issuer's discovery metadata (`jwks_uri`).
    pub fn discover(mut self) -> Self {
        self.keys = KeySource::Discovery;
        self
    }

    /// A fixed key set (JWKS file, PEM, HMAC secret); nothing is fetched.
    pub fn keys(mut self, keys: KeySet) -> Self {
        self.keys = KeySource::Static(keys);
        self
    }

    /// Refresh timings of remote keys (cooldown, intervals, timeouts).
    pub fn refresh(mut self, refresh: RefreshConfig) -> Self {
        self.refresh = refresh;
        self
    }

    /// The verified-token cache's size (on by default).
    pub fn cache(mut self, config: CacheConfig) -> Self {
        self.cache = CacheChoice::Sized(config);
        self
    }

    /// Verifies every token in full (no verified-token cache).
    pub fn without_cache(mut self) -> Self {
        self.cache = CacheChoice::Off;
        self
    }

    /// Fetches keys and metadata with your HTTP client (proxy, mTLS) instead of the
    /// default one.
    pub fn http_client(mut self, client: impl HttpClient) -> Self {
        self.http_client = Some(Arc::new(client));
        self
    }

    /// Trusts one more issuer, with its own validation policy and key source (remote
    /// keys only). The token's `iss` picks the issuer before any key is used.
    pub fn also_issuer(mut self, issuer: IssuerConfig) -> Self {
        self.more_issuers.push(issuer);
        self
    }

    /// Also accepts opaque tokens through RFC 7662 introspection: tokens that are not
    /// JWTs (by default; see [`Self::routing`]) are introspected with `introspector`.
    /// Unless it has its own, the introspector checks answers with this builder's
    /// validation policy (issuer, audiences, leeway). The gate's type does not change.
    pub fn introspection(mut self, introspector: IntrospectorBuilder) -> Self {
        self.introspection = Some(introspector);
        self
    }

    /// Which tokens are introspected (default [`Routing::NonJwt`]: only tokens that
    /// are not JWTs; [`Routing::All`]: every token).
    pub fn routing(mut self, routing: Routing) -> Self {
        self.routing = routing;
        self
    }

    /// The `realm` of every challenge (default `api`).
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.rejector = BearerRejector::new(realm);
        self
    }

    /// The challenge configuration (realm, RFC 9728 metadata URL, problem bodies).
    pub fn rejector(mut self, rejector: BearerRejector) -> Self {
        self.rejector = rejector;
        self
    }

    /// Lets requests without a token through without claims (see [`Mode::Optional`]).
    pub fn optional(mut self) -> Self {
        self.mode = Mode::Optional;
        self
    }

    /// Accepts DPoP-bound tokens (RFC 9449) as `dpop` says (see [`Dpop`]); the
    /// default is Bearer only.
    pub fn dpop(mut self, dpop: Dpop) -> Self {
        self.dpop = Some(dpop);
        self
    }

    /// Where the client certificate of certificate-bound tokens (RFC 8705) comes from
    /// (see [`crate::mtls`]). The default, [`CertificateSource::Connection`], reads the
    /// [`ClientCertificate`](crate::mtls::ClientCertificate) the TLS server inserts;
    /// [`CertificateSource::TrustedProxy`] reads a proxy's header instead, and only
    /// then: a client could forge it.
    ///
    /// [`CertificateSource::Connection`]: crate::mtls::CertificateSource::Connection
    /// [`CertificateSource::TrustedProxy`]: crate::mtls::CertificateSource::TrustedProxy
    pub fn mtls(mut self, mtls: Mtls) -> Self {
        self.mtls = mtls;
        self
    }

    /// Shares state between replicas on Redis (feature `redis`): the DPoP replay
    /// store (this replica's memory, then `SET NX PX` on Redis; `fallback` when Redis
    /// cannot answer in time, default [`ReplayFallback::Refuse`]: 503) and the
    /// introspection cache (local, then Redis, then the authorization server), and
    /// the introspection budget's `max_per_sec`, counted for the fleet in a one-second
    /// window on Redis (each replica's own budget in front, and alone while Redis
    /// cannot answer). See `tollgate_core::redis`. The Redis replay store replaces the one of the
    /// [`Self::dpop`] settings (with a default in-memory store in front). Build the
    /// store within a tokio runtime.
    ///
    /// [`ReplayFallback::Refuse`]: tollgate_core::redis::ReplayFallback::Refuse
    #[cfg(feature = "redis")]
    pub fn redis(
        mut self,
        store: tollgate_core::redis::RedisStore,
        fallback: tollgate_core::redis::ReplayFallback,
    ) -> Self {
        self.redis = Some((store, fallback));
        self
    }

    /// The DPoP settings, with the Redis replay store when configured.
    fn dpop_settings(&self) -> Option<Dpop> {
        let dpop = self.dpop.clone()?;
        #[cfg(feature = "redis")]
        let dpop = with_shared_replay(dpop, self.redis.as_ref());
        Some(dpop)
    }

    fn finish(&self, auth: Authenticator) -> Result<Tollgate<X>, BuildError> {
        let policies = Arc::new(Policies::default());
        let resource = match &self.resource {
            None => None,
            Some(r) => {
                let issuers = self
                    .issuer
                    .iter()
                    .map(String::as_str)
                    .chain(self.more_issuers.iter().filter_map(IssuerConfig::issuer))
                    .map(str::to_owned)
                    .collect();
                Some(Arc::new(
                    ProtectedResource::new(
                        r,
                        self.resource_name.clone(),
                        issuers,
                        policies.clone(),
                    )?
                    .with_dpop(self.dpop.as_ref()),
                ))
            }
        };
        let rejector = match &resource {
            Some(r) => with_resource(self.rejector.clone(), r, &policies),
            None => self.rejector.clone(),
        };
        Ok(Tollgate {
            auth,
            rejector,
            mode: self.mode,
            policies,
            resource,
            dpop: self.dpop_settings(),
            mtls: self.mtls,
            #[cfg(feature = "redis")]
            redis: self.redis.clone(),
            _claims: PhantomData,
        })
    }

    /// Records a configuration error met while filling the builder (the first one
    /// wins); [`Self::build`] returns it.
    pub(crate) fn fail(mut self, error: BuildError) -> Self {
        self.error.get_or_insert(error);
        self
    }

    /// Checks the configuration; the parts to build.
    fn plan(&self) -> Result<Plan, BuildError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let validation = match &self.resource {
            // RFC 8707: the resource identifier is the audience unless told otherwise
            Some(r) if !self.has_audience => self.validation.clone().audience(r),
            _ => self.validation.clone(),
        };
        let validation = validation.build().map_err(BuildError::Core)?;
        let jwt = match &self.keys {
            KeySource::None if self.more_issuers.is_empty() => {
                if self.introspection.is_none() {
                    return Err(BuildError::NoKeySource);
                }
                None
            }
            KeySource::None => Some(self.issuers(None)),
            KeySource::Static(keys) => {
                if !self.more_issuers.is_empty() {
                    return Err(BuildError::field(
                        "also_issuer",
                        "needs remote keys for the first issuer too (jwks_uri or discover)",
                    ));
                }
                let keys = StaticKeys::new(validation.clone(), keys.clone());
                let keys = match &self.cache {
                    CacheChoice::Default => keys,
                    CacheChoice::Sized(c) => keys.with_cache(*c),
                    CacheChoice::Off => keys.without_cache(),
                };
                return Ok(Plan {
                    jwt: Some(JwtPlan::Static(keys)),
                    validation,
                });
            }
            KeySource::Jwks(url) => {
                Some(self.issuers(Some(IssuerConfig::new(validation.clone()).jwks_uri(url))))
            }
            KeySource::Discovery => {
                Some(self.issuers(Some(IssuerConfig::new(validation.clone()).discover())))
            }
        };
        Ok(Plan {
            jwt: jwt.map(JwtPlan::Remote),
            validation,
        })
    }

    fn issuers(&self, first: Option<IssuerConfig>) -> tollgate_core::remote::IssuersBuilder {
        let mut b = Issuers::builder().refresh(self.refresh.clone());
        for i in first.into_iter().chain(self.more_issuers.iter().cloned()) {
            b = b.issuer(i);
        }
        b = match &self.cache {
            CacheChoice::Default => b,
            CacheChoice::Sized(c) => b.cache(*c),
            CacheChoice::Off => b.without_cache(),
        };
        match &self.http_client {
            Some(c) => b.http_client(SharedClient(c.clone())),
            None => b,
        }
    }

    fn introspector(&self, validation: Validation) -> Option<IntrospectorBuilder> {
        let i = self.introspection.clone()?;
        let i = if i.has_validation() {
            i
        } else {
            i.validation(validation)
        };
        #[cfg(feature = "redis")]
        let i = match &self.redis {
            Some((store, _)) => i
                .shared_cache(store.answers())
                .shared_budget(store.budget()),
            None => i,
        };
        Some(match &self.http_client {
            Some(c) => i.http_client_arc(c.clone()),
            None => i,
        })
    }

    /// Builds, waiting for the first key set (up to the refresh configuration's
    /// start-up timeout) and reading the introspection endpoint from discovery when
    /// asked to: a clear error names the issuer and URL when they cannot be had.
    ///
    /// # Errors
    ///
    /// See [`BuildError`].
    pub async fn build(self) -> Result<Tollgate<X>, BuildError> {
        let plan = self.plan()?;
        let introspector = match self.introspector(plan.validation) {
            Some(b) => Some(b.build().await.map_err(BuildError::Core)?),
            None => None,
        };
        let jwt = match plan.jwt {
            None => None,
            Some(JwtPlan::Static(k)) => Some(Authenticator::from(k)),
            Some(JwtPlan::Remote(b)) => Some(Authenticator::from(
                b.build().await.map_err(BuildError::Core)?,
            )),
        };
        self.finish(combine(jwt, introspector, self.routing)?)
    }

    /// Builds without waiting: requests get 503 until the first key set arrives.
    /// Not with introspection (its set-up may read discovery): use [`Self::build`].
    ///
    /// # Errors
    ///
    /// See [`BuildError`].
    pub fn build_lazy(self) -> Result<Tollgate<X>, BuildError> {
        if self.introspection.is_some() {
            return Err(BuildError::field(
                "introspection",
                "needs .build().await (its set-up may read discovery)",
            ));
        }
        let plan = self.plan()?;
        let introspector = None;
        let jwt = match plan.jwt {
            None => None,
            Some(JwtPlan::Static(k)) => Some(Authenticator::from(k)),
            Some(JwtPlan::Remote(b)) => Some(Authenticator::from(
                b.build_lazy().map_err(BuildError::Core)?,
            )),
        };
        self.finish(combine(jwt, introspector, self.routing)?)
    }
}

/// With a protected resource: the metadata URL in every challenge (unless the rejector
/// names one) and the route's scope in 401 challenges (RFC 9728 / MCP).
fn with_resource(
    rejector: BearerRejector,
    resource: &ProtectedResource,
    policies: &Arc<Policies>,
) -> BearerRejector {
    let rejector = match rejector.resource_metadata_url() {
        Some(_) => rejector,
        None => rejector.resource_metadata(resource.metadata_url()),
    };
    rejector.with_routes(policies.clone())
}

struct Plan {
    jwt: Option<JwtPlan>,
    validation: Validation,
}

enum JwtPlan {
    Static(StaticKeys),
    Remote(tollgate_core::remote::IssuersBuilder),
}

fn combine(
    jwt: Option<Authenticator>,
    introspector: Option<tollgate_core::introspect::Introspector>,
    routing: Routing,
) -> Result<Authenticator, BuildError> {
    Ok(match (jwt, introspector) {
        (Some(j), Some(i)) => j.with_introspection(i, routing),
        (Some(j), None) => j,
        (None, Some(i)) => Authenticator::from(i),
        (None, None) => return Err(BuildError::NoKeySource),
    })
}

/// One user-supplied HTTP client shared by the key source and the introspector.
struct SharedClient(Arc<dyn HttpClient>);

impl HttpClient for SharedClient {
    fn send(
        &self,
        request: tollgate_core::oauth::HttpRequest,
    ) -> tollgate_core::oauth::BoxFuture<
        'static,
        Result<tollgate_core::oauth::HttpResponse, tollgate_core::oauth::HttpError>,
    > {
        self.0.send(request)
    }
}
