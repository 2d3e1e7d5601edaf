//! Opaque tokens: OAuth 2.0 Token Introspection (RFC 7662) with a safe cache, usable
//! alone ([`Introspector`]) or next to local JWT verification (an
//! [`Authenticator`](crate::authenticate::Authenticator) with both).
//!
//! - **Request**: `POST` of the form `token=...&token_type_hint=access_token` to the
//!   endpoint (configured, or the `introspection_endpoint` of the issuer's discovery
//!   metadata), authenticated as the resource server with [`ClientAuth`]
//!   (`client_secret_basic`, `client_secret_post`, `private_key_jwt`, a separate access
//!   token, or your own hook), through [`crate::oauth`]. Timeout (5 s), response body
//!   cap (64 KiB), `https` only (`http` for loopback hosts), redirects never followed,
//!   200 only.
//! - **Answer** (fail closed): `active` must be the JSON boolean `true`; `false`, the
//!   string `"true"`, a missing `active`, a body that is not a JSON object (an HTML
//!   error page) or a repeated member name are all "not active" → 401 `invalid_token`.
//!   When present, `exp`, `nbf`, `iat`, `iss` and `aud` are checked with the same rules
//!   (and leeway) as JWTs by the [`Validation`] you pass; `token_type`, when present,
//!   must be `Bearer`. `scope`, `client_id`, `sub`, `username`, `token_type` (and your
//!   own members, into `X`) land in the same [`Claims`] a JWT gives, so handlers and
//!   scope policies do not care which kind of token came in.
//! - **Unavailable**: connection failure, timeout, any status other than 200 (a 5xx,
//!   a redirect, a 401 because the resource server's own credentials are wrong) → 503
//!   with `Retry-After`, logged at warn, never cached.
//! - **Cache**: an active answer is kept for min(cache TTL, time left until its `exp`)
//!   (default TTL 30 s), so an entry is gone at `exp` exactly; refusals for a short
//!   negative TTL (default 5 s, [`Duration::ZERO`] turns it off), in a separate, smaller
//!   cache so a flood of unknown tokens cannot evict real clients' entries.
//!   **Revocation trade-off**: with TTL *T*, a token revoked at the authorization
//!   server is still accepted for at most *T* seconds.
//! - **Single flight**: concurrent requests presenting the same new token share one
//!   introspection call (the call runs in its own task, so a disconnecting client does
//!   not cancel it for the others).
//! - **Screening** (no call): before anything else a token must be an RFC 6750
//!   `b64token` (`A-Z a-z 0-9 - . _ ~ + /`, then `=` padding only), of a length within
//!   [`IntrospectorBuilder::token_length`] (default 16–4096 bytes) and, when configured,
//!   start with [`IntrospectorBuilder::token_prefix`] and pass
//!   [`IntrospectorBuilder::token_filter`]; otherwise 401 `invalid_token`
//!   ([`FormatError::OpaqueShape`], or [`FormatError::TooLong`]).
//! - **Budget** (per introspector, so per authorization server): a new token costs the
//!   authorization server one call, and distinct made-up tokens cannot be cached, so
//!   calls are bounded: at most [`IntrospectorBuilder::max_in_flight`] at once (default
//!   16) and [`IntrospectorBuilder::max_per_sec`] new calls per second (default 100,
//!   a token bucket holding at most `max_in_flight` calls of burst). A new token beyond
//!   the budget is answered 503 with `Retry-After: 1` without a call (counted in
//!   `tollgate_introspection_shed_total`, see [`crate::metrics`]); cached answers,
//!   active or refused, and requests joining a call already in flight are served
//!   regardless, so clients with known tokens keep working during a flood.
//!   With a [`SharedBudget`] ([`IntrospectorBuilder::shared_budget`], e.g. Redis)
//!   the rate also holds for the fleet: every new call that passed the local bucket
//!   is counted in a one-second window shared by all replicas, and beyond
//!   `max_per_sec` in that window it is shed the same way (`reason="fleet_rate"`). The
//!   in-flight cap stays per replica.
//! - **Hot path**: a cache hit is answered on the first poll (no allocation beyond the
//!   `Arc` clone, no await); only a miss boxes a future and waits for the network.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use tollgate_core::authenticate::Authenticate;
//! use tollgate_core::introspect::Introspector;
//! use tollgate_core::oauth::ClientAuth;
//! use tollgate_core::{Claims, Validation};
//! use tollgate_testkit::idp::DevIdp;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! // an authorization server issuing opaque tokens (client `demo-opaque`)
//! let idp = DevIdp::builder().start().await?;
//! let token = idp.client_credentials_token("demo-opaque", &["orders:read"], Some("orders")).await?;
//!
//! let introspector = Introspector::builder()
//!     .validation(Validation::builder().issuer(idp.issuer()).audience("orders").build()?)
//!     .endpoint(idp.introspection_endpoint())
//!     .client_auth(ClientAuth::client_secret_basic("demo-full", "demo-full-secret"))
//!     .build()
//!     .await?;
//!
//! // accepted, with the scopes the authorization server reports
//! let claims: Arc<Claims> = introspector.authenticate(&token.access_token).await?;
//! assert!(claims.scopes.contains("orders:read"));
//!
//! // rejected: a token the authorization server does not know
//! let err = Authenticate::<()>::authenticate(&introspector, "not-a-token").await.unwrap_err();
//! assert_eq!(err.wire().status, 401);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod answer;
mod cache;
mod route;

use std::fmt;
use std::future::Future;
use std::ops::RangeInclusive;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::{StatusCode, Uri};
use serde::de::DeserializeOwned;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use crate::authenticate::Authenticate;
use crate::cache::CacheConfig;
use crate::error::{AuthError, BuildError, FormatError, UnavailableError};
use crate::oauth::{FormParams, HttpClient, HyperClient, form_post};
use crate::remote::fetch::{self, MetadataField};
use crate::remote::{Discovery, RefreshConfig};
use crate::validation::now_secs;
use crate::{Claims, Validation};

pub use route::{Routing, looks_like_jwt};

/// The future of a [`SharedCache`] or [`SharedBudget`] operation.
pub type SharedFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// An introspection cache shared by replicas (e.g.
/// [`RedisAnswers`](crate::redis::RedisAnswers) with the `redis` feature), asked after
/// the local cache and before the authorization server.
///
/// Entries are keyed by the SHA-256 of the token (never the token) and hold the
/// authorization server's answer as it came (the JSON body), which every reader
/// verifies again with its own [`Validation`]: an active answer lives until
/// min(cache TTL, `exp`), a refusal for the negative TTL. A shared cache that cannot
/// answer is a miss, never an error for the client: implementations bound their own
/// time.
pub trait SharedCache: Send + Sync + fmt::Debug + 'static {
    /// The answer stored for the token whose SHA-256 is `token_hash`, if any.
    fn get(&self, token_hash: &[u8; 32]) -> SharedFuture<Option<Vec<u8>>>;
    /// Stores `answer` for `ttl`.
    fn put(&self, token_hash: &[u8; 32], answer: Vec<u8>, ttl: Duration) -> SharedFuture<()>;
}

/// A count of new introspection calls per second shared by replicas (e.g.
/// [`RedisBudget`](crate::redis::RedisBudget) with the `redis` feature), so that
/// [`IntrospectorBuilder::max_per_sec`] holds for the fleet, not per replica.
///
/// Asked once per new call to the authorization server, after the local budget
/// admitted it (the local token bucket stays in front: a replica never exceeds its own
/// share either). The introspector sheds the call (503 + `Retry-After: 1`, metric
/// reason `fleet_rate`) when the count returned is above `max_per_sec`.
/// Implementations bound their own time and answer `None` when they cannot count
/// (the store is down or slow): the call then goes ahead under the local budget only,
/// never blocked.
pub trait SharedBudget: Send + Sync + fmt::Debug + 'static {
    /// Counts one new call to the authorization server identified by `scope` (the
    /// SHA-256 of its introspection endpoint) in the current one-second window:
    /// the window's count with this call included, or `None` when it could not be
    /// counted.
    fn count(&self, scope: &[u8; 32]) -> SharedFuture<Option<u64>>;
}

fn token_hash(token: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes()).as_ref(),
    );
    out
}

use crate::oauth::ClientAuth;

use cache::{AnswerCache, Joined, Shared};

/// Default positive cache TTL.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(30);
/// Default negative (refusal) cache TTL.
pub const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(5);
/// Default most introspection calls in flight at once.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 16;
/// Default most new introspection calls per second.
pub const DEFAULT_MAX_PER_SEC: u32 = 100;
/// Default accepted length of an opaque token, in bytes.
pub const DEFAULT_TOKEN_LENGTH: RangeInclusive<usize> = 16..=4096;
/// The `Retry-After` of a request shed by the budget.
const SHED_RETRY_AFTER: Duration = Duration::from_secs(1);

/// A custom shape check of opaque tokens.
type Filter = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Where the introspection endpoint comes from.
#[derive(Debug, Clone)]
enum Endpoint {
    None,
    Url(String),
    Discover(Discovery),
}

/// Builder of an [`Introspector`]; start with [`Introspector::builder`].
#[derive(Clone)]
#[must_use]
pub struct IntrospectorBuilder {
    validation: Option<Validation>,
    endpoint: Endpoint,
    auth: ClientAuth,
    token_type_hint: Option<String>,
    cache_ttl: Duration,
    negative_ttl: Duration,
    cache: CacheConfig,
    negative_entries: usize,
    timeout: Duration,
    max_body: usize,
    retry_after: Duration,
    max_in_flight: usize,
    max_per_sec: u32,
    token_length: RangeInclusive<usize>,
    token_prefix: Option<String>,
    token_filter: Option<Filter>,
    any_token_type: bool,
    client: Option<Arc<dyn HttpClient>>,
    shared: Option<Arc<dyn SharedCache>>,
    budget: Option<Arc<dyn SharedBudget>>,
}

impl fmt::Debug for IntrospectorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectorBuilder")
            .field("endpoint", &self.endpoint)
            .field("auth", &self.auth)
            .field("cache_ttl", &self.cache_ttl)
            .field("negative_ttl", &self.negative_ttl)
            .field("timeout", &self.timeout)
            .field("max_in_flight", &self.max_in_flight)
            .field("max_per_sec", &self.max_per_sec)
            .field("token_length", &self.token_length)
            .field("token_prefix", &self.token_prefix)
            .field("shared", &self.shared)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl IntrospectorBuilder {
    /// A cache shared by replicas (see [`SharedCache`]), asked after the local cache
    /// and before the authorization server. [`Self::max_in_flight`] bounds the shared
    /// lookups and the calls together (a flood of made-up tokens cannot open more
    /// lookups at once); [`Self::max_per_sec`] counts only the calls to the
    /// authorization server.
    pub fn shared_cache(mut self, cache: impl SharedCache) -> Self {
        self.shared = Some(Arc::new(cache));
        self
    }

    /// As [`Self::shared_cache`], with a shared handle.
    pub fn shared_cache_arc(mut self, cache: Arc<dyn SharedCache>) -> Self {
        self.shared = Some(cache);
        self
    }

    /// A per-second count of new calls shared by replicas (see [`SharedBudget`]), so
    /// that [`Self::max_per_sec`] holds for the fleet: a new call admitted by this
    /// replica's token bucket is also counted in a one-second window common to all
    /// replicas, and shed (503 + `Retry-After: 1`) when that window already holds
    /// `max_per_sec` calls. Over any period of *T* seconds the fleet then makes at most
    /// `max_per_sec × (⌈T⌉ + 1)` calls (the fixed windows let up to one extra second's
    /// worth through across a window boundary), instead of N × `max_per_sec` for N
    /// replicas. When the shared count cannot be had (its store is down or slow) each
    /// replica falls back to its own budget. No effect when `max_per_sec` is 0; the
    /// in-flight cap ([`Self::max_in_flight`]) stays per replica.
    pub fn shared_budget(mut self, budget: impl SharedBudget) -> Self {
        self.budget = Some(Arc::new(budget));
        self
    }

    /// As [`Self::shared_budget`], with a shared handle.
    pub fn shared_budget_arc(mut self, budget: Arc<dyn SharedBudget>) -> Self {
        self.budget = Some(budget);
        self
    }

    /// The policy for the answers' `exp`, `nbf`, `iat`, `iss`, `aud` (checked when
    /// present, with its leeway). Required. Share it with the JWT side.
    pub fn validation(mut self, validation: Validation) -> Self {
        self.validation = Some(validation);
        self
    }

    /// True when a validation policy was set.
    #[must_use]
    pub fn has_validation(&self) -> bool {
        self.validation.is_some()
    }

    /// The introspection endpoint URL.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Endpoint::Url(url.into());
        self
    }

    /// The endpoint from the issuer's discovery metadata (`introspection_endpoint`),
    /// read once by [`Self::build`]; [`Discovery::Auto`].
    pub fn discover(self) -> Self {
        self.discover_with(Discovery::Auto)
    }

    /// As [`Self::discover`], from this metadata document.
    pub fn discover_with(mut self, form: Discovery) -> Self {
        self.endpoint = Endpoint::Discover(form);
        self
    }

    /// How the resource server authenticates to the endpoint (default none).
    pub fn client_auth(mut self, auth: ClientAuth) -> Self {
        self.auth = auth;
        self
    }

    /// The `token_type_hint` sent (default `access_token`; `None` sends none).
    pub fn token_type_hint(mut self, hint: Option<&str>) -> Self {
        self.token_type_hint = hint.map(str::to_owned);
        self
    }

    /// How long an active answer is reused at most (default 30 s; never past its
    /// `exp`). [`Duration::ZERO`] asks on every request. A revoked token stays accepted
    /// for at most this long.
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// How long a refusal is reused (default 5 s; [`Duration::ZERO`]: not at all).
    pub fn negative_cache_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = ttl;
        self
    }

    /// Capacity of the cache of active answers (default 100,000 entries / 128 MiB).
    pub fn cache(mut self, config: CacheConfig) -> Self {
        self.cache = config;
        self
    }

    /// Most refusals remembered (default 10,000).
    pub fn negative_cache_entries(mut self, n: usize) -> Self {
        self.negative_entries = n;
        self
    }

    /// Timeout of one introspection call, body included (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Cap on the answer's body (default 64 KiB).
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// The `Retry-After` of a 503 when the endpoint fails (default 5 s).
    pub fn retry_after(mut self, delay: Duration) -> Self {
        self.retry_after = delay;
        self
    }

    /// Most introspection calls in flight at once (default 16, at least 1). A new
    /// token arriving while that many calls are out is answered 503 (`Retry-After: 1`)
    /// without a call; cached tokens are served regardless. Also the burst of the
    /// [`Self::max_per_sec`] bucket.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// Most new introspection calls per second (default 100; 0: no rate limit, only
    /// [`Self::max_in_flight`]). A token bucket refilled at this rate and holding at
    /// most `max_in_flight` calls, so over any period *T* at most
    /// `max_per_sec × T + max_in_flight` calls are made. A new token beyond it is
    /// answered 503 (`Retry-After: 1`) without a call; cached answers (active or
    /// refused) are served regardless.
    pub fn max_per_sec(mut self, n: u32) -> Self {
        self.max_per_sec = n;
        self
    }

    /// Accepted token lengths in bytes (default 16–4096); others are refused with
    /// 401 `invalid_token` without a call. The upper bound is also capped by the
    /// [`Validation`]'s `max_token_len`. Under [`Routing::All`] the JWTs go through this
    /// check too: widen it if yours are longer.
    pub fn token_length(mut self, range: RangeInclusive<usize>) -> Self {
        self.token_length = range;
        self
    }

    /// Tokens not starting with `prefix` (e.g. the `dev_at_` of a provider whose
    /// reference tokens have a known shape) are refused without a call.
    pub fn token_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.token_prefix = Some(prefix.into());
        self
    }

    /// Tokens for which `filter` answers `false` are refused without a call (a cheap
    /// check of the provider's token format; it runs before every cache lookup).
    pub fn token_filter(mut self, filter: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        self.token_filter = Some(Arc::new(filter));
        self
    }

    /// Accepts answers whose `token_type` is not `Bearer` (by default such tokens, e.g.
    /// refresh tokens or DPoP-bound tokens, are refused).
    pub fn accept_any_token_type(mut self) -> Self {
        self.any_token_type = true;
        self
    }

    /// Uses your HTTP client instead of [`HyperClient`]. It must send `POST` bodies
    /// (see [`HttpRequest::method`](crate::oauth::HttpRequest::method)).
    pub fn http_client(mut self, client: impl HttpClient) -> Self {
        self.client = Some(Arc::new(client));
        self
    }

    /// Uses a shared HTTP client.
    pub fn http_client_arc(mut self, client: Arc<dyn HttpClient>) -> Self {
        self.client = Some(client);
        self
    }

    /// Builds; reads the discovery metadata first when asked to. Must be called
    /// within a tokio runtime.
    ///
    /// # Errors
    /// See [`BuildError`].
    pub async fn build(self) -> Result<Introspector, BuildError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| BuildError::NoRuntime)?;
        let validation = self.validation.ok_or(BuildError::IntrospectionValidation)?;
        let client = match self.client {
            Some(c) => c,
            None => {
                Arc::new(HyperClient::new().map_err(|source| BuildError::HttpClient { source })?)
            }
        };
        let endpoint = match self.endpoint {
            Endpoint::None => return Err(BuildError::NoIntrospectionEndpoint),
            Endpoint::Url(u) => crate::remote::config_url(&u)
                .map_err(|source| BuildError::IntrospectionEndpoint { source })?,
            Endpoint::Discover(form) => {
                let mut issuers = validation.issuers();
                let (Some(issuer), None) = (issuers.next(), issuers.next()) else {
                    return Err(BuildError::IntrospectionDiscoveryIssuer);
                };
                let cfg = RefreshConfig {
                    fetch_timeout: self.timeout,
                    ..RefreshConfig::default()
                };
                fetch::discover_endpoint(
                    &*client,
                    issuer,
                    form,
                    &cfg,
                    MetadataField::IntrospectionEndpoint,
                )
                .await
                .map_err(|source| BuildError::IntrospectionDiscovery { source })?
            }
        };
        let max_len = (*self.token_length.end()).min(validation.max_token_len());
        let max_in_flight = self.max_in_flight.max(1);
        let budget_scope = token_hash(&endpoint.to_string());
        Ok(Introspector {
            inner: Arc::new(Inner {
                max_token_len: max_len,
                min_token_len: *self.token_length.start(),
                token_prefix: self.token_prefix,
                token_filter: self.token_filter,
                validation,
                endpoint,
                auth: self.auth,
                token_type_hint: self.token_type_hint,
                timeout: self.timeout,
                max_body: self.max_body,
                retry_after: self.retry_after,
                any_token_type: self.any_token_type,
                client,
                cache: AnswerCache::new(
                    self.cache,
                    self.cache_ttl,
                    self.negative_entries,
                    self.negative_ttl,
                ),
                permits: Arc::new(Semaphore::new(max_in_flight)),
                bucket: (self.max_per_sec > 0)
                    .then(|| Mutex::new(Bucket::new(self.max_per_sec, max_in_flight))),
                runtime,
                calls: AtomicU64::new(0),
                shed: AtomicU64::new(0),
                shared: self.shared,
                shared_hits: AtomicU64::new(0),
                // no rate limit: nothing to count for the fleet either
                budget: self.budget.filter(|_| self.max_per_sec > 0),
                budget_scope,
                max_per_sec: self.max_per_sec,
            }),
        })
    }
}

/// The token bucket of new calls per second.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    capacity: f64,
    per_sec: f64,
    last: Instant,
}

impl Bucket {
    fn new(per_sec: u32, burst: usize) -> Self {
        #[allow(clippy::cast_precision_loss)]
        let capacity = burst.max(1) as f64;
        Bucket {
            tokens: capacity,
            capacity,
            per_sec: f64::from(per_sec),
            last: Instant::now(),
        }
    }

    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = elapsed
            .mul_add(self.per_sec, self.tokens)
            .min(self.capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Why a new token got no call.
#[derive(Debug, Clone, Copy)]
enum Shed {
    InFlight,
    Rate,
    FleetRate,
}

struct Inner {
    validation: Validation,
    max_token_len: usize,
    min_token_len: usize,
    token_prefix: Option<String>,
    token_filter: Option<Filter>,
    endpoint: Uri,
    auth: ClientAuth,
    token_type_hint: Option<String>,
    timeout: Duration,
    max_body: usize,
    retry_after: Duration,
    any_token_type: bool,
    client: Arc<dyn HttpClient>,
    cache: AnswerCache,
    permits: Arc<Semaphore>,
    bucket: Option<Mutex<Bucket>>,
    runtime: tokio::runtime::Handle,
    calls: AtomicU64,
    shed: AtomicU64,
    shared: Option<Arc<dyn SharedCache>>,
    shared_hits: AtomicU64,
    budget: Option<Arc<dyn SharedBudget>>,
    /// SHA-256 of the endpoint: the fleet budget's scope.
    budget_scope: [u8; 32],
    max_per_sec: u32,
}

/// The introspection authenticator (RFC 7662): see the [module docs](self). Cheap to
/// clone (one `Arc`); clones share the cache. Implements [`Authenticate`]; use one
/// claims type `X` per introspector (another type sees only cache misses).
#[derive(Clone)]
pub struct Introspector {
    inner: Arc<Inner>,
}

impl fmt::Debug for Introspector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Introspector")
            .field("endpoint", &self.inner.endpoint)
            .field("auth", &self.inner.auth)
            .field("cache", &self.inner.cache)
            .finish_non_exhaustive()
    }
}

impl Introspector {
    /// Starts a builder.
    pub fn builder() -> IntrospectorBuilder {
        IntrospectorBuilder {
            validation: None,
            endpoint: Endpoint::None,
            auth: ClientAuth::None,
            token_type_hint: Some("access_token".to_owned()),
            cache_ttl: DEFAULT_CACHE_TTL,
            negative_ttl: DEFAULT_NEGATIVE_TTL,
            cache: CacheConfig::default(),
            negative_entries: 10_000,
            timeout: crate::oauth::DEFAULT_TIMEOUT,
            max_body: 64 * 1024,
            retry_after: Duration::from_secs(5),
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_per_sec: DEFAULT_MAX_PER_SEC,
            token_length: DEFAULT_TOKEN_LENGTH,
            token_prefix: None,
            token_filter: None,
            any_token_type: false,
            client: None,
            shared: None,
            budget: None,
        }
    }

    /// The introspection endpoint in use.
    #[must_use]
    pub fn endpoint(&self) -> &Uri {
        &self.inner.endpoint
    }

    /// Introspection calls made so far (cache hits and joined flights not counted).
    #[must_use]
    pub fn calls(&self) -> u64 {
        self.inner.calls.load(Ordering::Relaxed)
    }

    /// Answers taken from the [`SharedCache`] so far (no call to the authorization
    /// server).
    #[must_use]
    pub fn shared_hits(&self) -> u64 {
        self.inner.shared_hits.load(Ordering::Relaxed)
    }

    /// Cached answers (active and refused) held now.
    #[must_use]
    pub fn cached_tokens(&self) -> usize {
        self.inner.cache.len()
    }

    /// Introspection calls in flight now.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.inner.cache.flights()
    }

    /// New tokens answered 503 without a call so far because the budget
    /// ([`IntrospectorBuilder::max_in_flight`], [`IntrospectorBuilder::max_per_sec`])
    /// was spent.
    #[must_use]
    pub fn shed(&self) -> u64 {
        self.inner.shed.load(Ordering::Relaxed)
    }
}

/// RFC 6750 §2.1 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

impl Inner {
    /// The screening before any lookup or call.
    fn screen(&self, token: &str) -> Result<(), AuthError> {
        if token.len() > self.max_token_len {
            return Err(FormatError::TooLong {
                len: token.len(),
                max: self.max_token_len,
            }
            .into());
        }
        let shaped = token.len() >= self.min_token_len
            && is_b64token(token)
            && self
                .token_prefix
                .as_deref()
                .is_none_or(|p| token.starts_with(p))
            && self.token_filter.as_ref().is_none_or(|f| f(token));
        if shaped {
            Ok(())
        } else {
            Err(FormatError::OpaqueShape.into())
        }
    }

    /// A permit for one new call, if the budget allows it.
    fn admit(&self) -> Result<OwnedSemaphorePermit, Shed> {
        let permit = self.in_flight()?;
        self.take_rate()?;
        Ok(permit)
    }

    /// One of the `max_in_flight` slots (held while a shared cache is asked too).
    fn in_flight(&self) -> Result<OwnedSemaphorePermit, Shed> {
        self.permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| Shed::InFlight)
    }

    /// A token of this replica's `max_per_sec` bucket.
    fn take_rate(&self) -> Result<(), Shed> {
        if let Some(bucket) = &self.bucket {
            let mut b = bucket.lock().unwrap_or_else(PoisonError::into_inner);
            if !b.take(Instant::now()) {
                return Err(Shed::Rate);
            }
        }
        Ok(())
    }

    /// The fleet's share of the budget (see [`SharedBudget`]), for a call the local
    /// budget admitted: refused when the shared window is full; granted when no
    /// shared budget is set or it could not count.
    async fn admit_fleet(&self) -> Result<(), Shed> {
        let Some(budget) = &self.budget else {
            return Ok(());
        };
        match budget.count(&self.budget_scope).await {
            Some(n) if n > u64::from(self.max_per_sec) => Err(Shed::FleetRate),
            _ => Ok(()),
        }
    }

    /// The answer to a request the budget refused.
    fn shed(&self, why: Shed) -> AuthError {
        self.shed.fetch_add(1, Ordering::Relaxed);
        crate::metrics::introspection_shed(match why {
            Shed::InFlight => 0,
            Shed::Rate => 1,
            Shed::FleetRate => 2,
        });
        tracing::debug!(target: "tollgate::introspect", endpoint = %self.endpoint,
            reason = ?why, "introspection budget spent; answering 503 without a call");
        AuthError::Unavailable(UnavailableError::Introspection {
            retry_after: SHED_RETRY_AFTER,
        })
    }

    fn unavailable(&self, why: &dyn fmt::Display) -> AuthError {
        tracing::warn!(target: "tollgate::introspect", endpoint = %self.endpoint,
            error = %why, "introspection failed; answering 503");
        AuthError::Unavailable(UnavailableError::Introspection {
            retry_after: self.retry_after,
        })
    }

    /// One introspection call and the reading of its answer, counted and timed.
    async fn call<X: DeserializeOwned + Send + Sync + 'static>(
        &self,
        token: &str,
    ) -> Result<Claims<X>, AuthError> {
        self.call_keeping::<X>(token, &mut None).await
    }

    /// [`Self::call`], keeping the answer's body in `body` when it was read (active
    /// or not; not when the endpoint failed).
    async fn call_keeping<X: DeserializeOwned + Send + Sync + 'static>(
        &self,
        token: &str,
        body: &mut Option<bytes::Bytes>,
    ) -> Result<Claims<X>, AuthError> {
        let started = std::time::Instant::now();
        let result = self.call_inner(token, body).await;
        let label = match &result {
            Ok(_) => 0,
            Err(AuthError::Inactive) => 1,
            Err(AuthError::Unavailable(_)) => 3,
            Err(_) => 2,
        };
        crate::metrics::introspection_call(label, started.elapsed().as_secs_f64());
        result
    }

    async fn call_inner<X: DeserializeOwned + Send + Sync + 'static>(
        &self,
        token: &str,
        body: &mut Option<bytes::Bytes>,
    ) -> Result<Claims<X>, AuthError> {
        let mut form = FormParams::default();
        form.append("token", token);
        if let Some(hint) = &self.token_type_hint {
            form.append("token_type_hint", hint);
        }
        let request = form_post(&self.endpoint, &self.auth, form, self.max_body).map_err(|e| {
            match std::error::Error::source(&e) {
                Some(cause) => self.unavailable(&format_args!("{e}: {cause}")),
                None => self.unavailable(&e),
            }
        })?;
        let exchange = async {
            self.calls.fetch_add(1, Ordering::Relaxed);
            self.client.send(request).await
        };
        let response = match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => {
                return Err(self.unavailable(&format_args!(
                    "no answer within {} ms",
                    self.timeout.as_millis()
                )));
            }
            Ok(Err(e)) => return Err(self.unavailable(&e)),
            Ok(Ok(r)) => r,
        };
        if response.status != StatusCode::OK {
            return Err(self.unavailable(&format_args!(
                "unexpected HTTP status {}",
                response.status.as_u16()
            )));
        }
        let result = answer::read::<X>(
            &response.body,
            &self.validation,
            now_secs(),
            self.any_token_type,
        );
        *body = Some(response.body);
        result
    }

    /// The answer for `token`: from the shared cache when it holds one (verified
    /// again here), else from the authorization server within the budget (`permit`:
    /// already granted), stored in the shared cache for the others.
    async fn answer<X: DeserializeOwned + Send + Sync + 'static>(
        &self,
        token: &str,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Result<Claims<X>, AuthError> {
        let key = self.shared.as_ref().map(|_| token_hash(token));
        if let (Some(shared), Some(key)) = (&self.shared, &key)
            && let Some(stored) = shared.get(key).await
        {
            self.shared_hits.fetch_add(1, Ordering::Relaxed);
            return answer::read::<X>(&stored, &self.validation, now_secs(), self.any_token_type);
        }
        let permit = match permit {
            // from `authenticate`: with a shared cache only the in-flight slot so far
            Some(p) => {
                if self.shared.is_some() {
                    self.take_rate().map_err(|why| self.shed(why))?;
                }
                p
            }
            None => self.admit().map_err(|why| self.shed(why))?,
        };
        self.admit_fleet().await.map_err(|why| self.shed(why))?;
        let mut body = None;
        let result = self.call_keeping::<X>(token, &mut body).await;
        drop(permit);
        if let (Some(shared), Some(key), Some(body)) = (&self.shared, &key, body) {
            let ttl = match &result {
                Ok(c) => c
                    .exp
                    .map(crate::claims::NumericDate::as_secs)
                    .map_or(self.cache.ttl(), |e| {
                        self.cache.ttl().min(cache::until_exp(e))
                    }),
                Err(AuthError::Unavailable(_) | AuthError::Misconfigured) => Duration::ZERO,
                Err(_) => self.cache.negative_ttl(),
            };
            if !ttl.is_zero() {
                shared.put(key, body.to_vec(), ttl).await;
            }
        }
        result
    }
}

/// Ends its flight when dropped: normally after the answer was cached and sent, but
/// also when the task is cancelled or panics. The sender is dropped after that.
struct FlightGuard {
    inner: Arc<Inner>,
    token: Arc<str>,
    id: u64,
    tx: watch::Sender<Option<Shared>>,
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        self.inner.cache.finish(&self.token, self.id);
    }
}

async fn flight<X: DeserializeOwned + Send + Sync + 'static>(
    inner: Arc<Inner>,
    token: Arc<str>,
    id: u64,
    tx: watch::Sender<Option<Shared>>,
    permit: Option<OwnedSemaphorePermit>,
) {
    let guard = FlightGuard {
        inner,
        token,
        id,
        tx,
    };
    // the permit is dropped when the call is over: the next new token may go
    let result = guard.inner.answer::<X>(&guard.token, permit).await;
    let exp = result
        .as_ref()
        .ok()
        .and_then(|c| c.exp)
        .map(crate::claims::NumericDate::as_secs);
    let shared: Shared = result.map(|c| Arc::new(c) as Arc<dyn std::any::Any + Send + Sync>);
    // cached before it is sent and before the flight ends: a request arriving in
    // between finds it in the cache (see AnswerCache::join_or_start)
    guard.inner.cache.put(&guard.token, &shared, exp);
    let _ = guard.tx.send(Some(shared));
}

async fn wait<X: DeserializeOwned + Send + Sync + 'static>(
    inner: Arc<Inner>,
    mut rx: watch::Receiver<Option<Shared>>,
    token: Arc<str>,
) -> Result<Arc<Claims<X>>, AuthError> {
    let shared = match rx.wait_for(Option::is_some).await {
        Ok(v) => v.clone().unwrap_or(Err(AuthError::Misconfigured)),
        Err(_) => return Err(inner.unavailable(&"the introspection task ended early")),
    };
    match shared?.downcast::<Claims<X>>() {
        Ok(c) => Ok(c),
        // a flight started for another claims type on this introspector: ask on our own
        Err(_) => {
            let _permit = inner.admit().map_err(|why| inner.shed(why))?;
            inner.admit_fleet().await.map_err(|why| inner.shed(why))?;
            inner.call::<X>(&token).await.map(Arc::new)
        }
    }
}

/// The future of [`Introspector::authenticate`](Authenticate::authenticate): ready on
/// the first poll for a cache hit or a token refused without a call; otherwise a boxed
/// wait for the (shared) introspection call.
#[must_use = "futures do nothing unless polled"]
pub struct IntrospectFuture<X> {
    state: State<X>,
}

type Waiting<X> = Pin<Box<dyn Future<Output = Result<Arc<Claims<X>>, AuthError>> + Send>>;

enum State<X> {
    Ready(Option<Result<Arc<Claims<X>>, AuthError>>),
    Waiting(Waiting<X>),
}

impl<X> fmt::Debug for IntrospectFuture<X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.state {
            State::Ready(_) => "IntrospectFuture::Ready",
            State::Waiting(_) => "IntrospectFuture::Waiting",
        })
    }
}

impl<X> IntrospectFuture<X> {
    fn ready(r: Result<Arc<Claims<X>>, AuthError>) -> Self {
        IntrospectFuture {
            state: State::Ready(Some(r)),
        }
    }
}

impl<X> Future for IntrospectFuture<X> {
    type Output = Result<Arc<Claims<X>>, AuthError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().state {
            State::Ready(r) => Poll::Ready(r.take().unwrap_or(Err(AuthError::Misconfigured))),
            State::Waiting(fut) => fut.as_mut().poll(cx),
        }
    }
}

impl<X> Authenticate<X> for Introspector
where
    X: DeserializeOwned + Send + Sync + 'static,
{
    type Future = IntrospectFuture<X>;

    fn authenticate(&self, token: &str) -> Self::Future {
        let inner = &self.inner;
        if let Err(e) = inner.screen(token) {
            return IntrospectFuture::ready(Err(e));
        }
        if let Some(hit) = inner.cache.get::<X>(token) {
            crate::metrics::introspection_cache_hit();
            return IntrospectFuture::ready(hit);
        }
        let token: Arc<str> = Arc::from(token);
        // with a shared cache only the in-flight slot is taken here (it bounds the
        // shared-cache lookups too); the rate is counted when the shared cache misses
        let admit = || match inner.shared {
            Some(_) => inner.in_flight().map(Some),
            None => inner.admit().map(Some),
        };
        let rx = match inner.cache.join_or_start::<X, _, _>(&token, admit) {
            Joined::Cached(hit) => {
                crate::metrics::introspection_cache_hit();
                return IntrospectFuture::ready(hit);
            }
            Joined::Wait(rx) => rx,
            Joined::Start { id, tx, rx, permit } => {
                inner
                    .runtime
                    .spawn(flight::<X>(inner.clone(), token.clone(), id, tx, permit));
                rx
            }
            Joined::Refused(why) => return IntrospectFuture::ready(Err(inner.shed(why))),
        };
        IntrospectFuture {
            state: State::Waiting(Box::pin(wait::<X>(inner.clone(), rx, token))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b64token_screening() {
        for ok in [
            "dev_at_Qk9PTQ",
            "a-b.c_d~e+f/g==",
            "x=",
            "eyJhbGciOiJub25lIn0.e30.",
        ] {
            assert!(is_b64token(ok), "{ok}");
        }
        for bad in [
            "",
            "===",
            "a=b",
            "has space",
            "q\"uote",
            "ünï",
            "a,b",
            "a\tb",
        ] {
            assert!(!is_b64token(bad), "{bad}");
        }
    }

    #[test]
    fn bucket_bursts_then_refills_at_its_rate() {
        let mut b = Bucket::new(100, 4);
        let t0 = b.last;
        assert_eq!((0..10).filter(|_| b.take(t0)).count(), 4);
        // 10 ms at 100/s: one more
        let t1 = t0 + Duration::from_millis(10);
        assert!(b.take(t1));
        assert!(!b.take(t1));
        // a long pause refills up to the burst only
        let t2 = t1 + Duration::from_secs(60);
        assert_eq!((0..10).filter(|_| b.take(t2)).count(), 4);
    }

    #[tokio::test]
    async fn screening_refuses_without_a_call() {
        let i = Introspector::builder()
            .validation(
                Validation::builder()
                    .issuer("https://idp.example")
                    .audience("a")
                    .build()
                    .expect("validation"),
            )
            // nothing listens there: a call would be a 503
            .endpoint("http://127.0.0.1:9/introspect")
            .token_prefix("dev_at_")
            .token_filter(|t| !t.ends_with("_no"))
            .build()
            .await
            .expect("introspector");
        for (token, want) in [
            ("dev_at_short", FormatError::OpaqueShape),
            ("rt_0123456789abcdef", FormatError::OpaqueShape),
            ("dev_at_0123456789_no", FormatError::OpaqueShape),
            ("dev_at_0123 456789abc", FormatError::OpaqueShape),
        ] {
            let err = Authenticate::<()>::authenticate(&i, token)
                .await
                .unwrap_err();
            assert_eq!(err, AuthError::Format(want), "{token}");
            assert_eq!(err.wire().status, 401);
        }
        let long = format!("dev_at_{}", "a".repeat(5000));
        let err = Authenticate::<()>::authenticate(&i, &long)
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            AuthError::Format(FormatError::TooLong { max: 4096, .. })
        ));
        assert_eq!(i.calls(), 0);
        // the right shape is asked about (and the endpoint is unreachable: 503)
        let err = Authenticate::<()>::authenticate(&i, "dev_at_0123456789abcdef")
            .await
            .unwrap_err();
        assert_eq!(err.wire().status, 503);
        assert_eq!(i.calls(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn budget_sheds_new_tokens_beyond_it() {
        let i = Introspector::builder()
            .validation(
                Validation::builder()
                    .issuer("https://idp.example")
                    .audience("a")
                    .build()
                    .expect("validation"),
            )
            .endpoint("http://127.0.0.1:9/introspect")
            .max_in_flight(2)
            .max_per_sec(1)
            .timeout(Duration::from_millis(200))
            .build()
            .await
            .expect("introspector");
        let mut unavailable = 0;
        let mut shed = 0;
        for n in 0..10 {
            let err = Authenticate::<()>::authenticate(&i, &format!("token-number-{n:04}"))
                .await
                .unwrap_err();
            match err {
                AuthError::Unavailable(UnavailableError::Introspection { retry_after })
                    if retry_after == SHED_RETRY_AFTER =>
                {
                    shed += 1;
                }
                AuthError::Unavailable(_) => unavailable += 1,
                e => panic!("{e:?}"),
            }
        }
        // the burst (2) is called, the rest shed without a call
        assert_eq!((unavailable, shed, i.calls(), i.shed()), (2, 8, 2, 8));
    }

    /// A fleet count kept in memory: `None` (cannot count) until `up`, then one
    /// counter per scope (one window for the whole test).
    #[derive(Debug, Default)]
    struct Fleet {
        up: std::sync::atomic::AtomicBool,
        counts: Mutex<std::collections::HashMap<[u8; 32], u64>>,
    }

    impl SharedBudget for Arc<Fleet> {
        fn count(&self, scope: &[u8; 32]) -> SharedFuture<Option<u64>> {
            let n = self.up.load(Ordering::SeqCst).then(|| {
                let mut c = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
                let n = c.entry(*scope).or_default();
                *n += 1;
                *n
            });
            Box::pin(std::future::ready(n))
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fleet_budget_sheds_beyond_the_shared_window() {
        let fleet = Arc::new(Fleet::default());
        let replica = || {
            Introspector::builder()
                .validation(
                    Validation::builder()
                        .issuer("https://idp.example")
                        .audience("a")
                        .build()
                        .expect("validation"),
                )
                .endpoint("http://127.0.0.1:9/introspect")
                // burst 3; one request at a time, so never 3 in flight
                .max_in_flight(3)
                .max_per_sec(3)
                .timeout(Duration::from_millis(200))
                .shared_budget(fleet.clone())
                .build()
        };
        let (a, b) = (replica().await.expect("a"), replica().await.expect("b"));
        let run = |i: Introspector, tag: &'static str| async move {
            let (mut called, mut shed) = (0, 0);
            for n in 0..5 {
                let token = format!("token-{tag}-number-{n:04}");
                match Authenticate::<()>::authenticate(&i, &token).await {
                    Err(AuthError::Unavailable(UnavailableError::Introspection {
                        retry_after,
                    })) if retry_after == SHED_RETRY_AFTER => shed += 1,
                    // unreachable endpoint: a call was made
                    Err(AuthError::Unavailable(_)) => called += 1,
                    other => panic!("{other:?}"),
                }
            }
            (called, shed, i.calls(), i.shed())
        };
        // the shared count cannot be had: each replica spends its own full bucket
        // (3, and a refill at 3/s while it runs), never blocked
        for r in [run(a.clone(), "down").await, run(b.clone(), "down").await] {
            assert!(
                r.0 >= 3 && r.0 + r.1 == 5 && r.2 == r.0 && r.3 == r.1,
                "{r:?}"
            );
        }
        // counted for the fleet: 3 calls in the window for the two replicas together
        fleet.up.store(true, Ordering::SeqCst);
        // both buckets full again
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let (sa, sb) = (a.calls(), b.calls());
        let (ra, rb) = (run(a.clone(), "up").await, run(b.clone(), "up").await);
        assert_eq!(ra.0 + rb.0, 3, "{ra:?} {rb:?}");
        assert_eq!(ra.0 + rb.0, a.calls() - sa + b.calls() - sb);
        // B's bucket admitted its first 3, the fleet window refused them
        assert_eq!(rb.0, 0, "{rb:?}");
        assert!(fleet.counts.lock().expect("counts").values().sum::<u64>() >= 6);
    }
}
