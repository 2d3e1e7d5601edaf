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
//!   not cancel it for the others); at most 32 calls are in flight at once.
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
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{StatusCode, Uri};
use serde::de::DeserializeOwned;
use tokio::sync::{Semaphore, watch};

use crate::authenticate::Authenticate;
use crate::cache::CacheConfig;
use crate::error::{AuthError, BuildError, FormatError, UnavailableError};
use crate::oauth::{FormParams, HttpClient, HyperClient, form_post};
use crate::remote::fetch::{self, MetadataField};
use crate::remote::{Discovery, RefreshConfig};
use crate::validation::now_secs;
use crate::{Claims, Validation};

pub use route::{Routing, looks_like_jwt};

use crate::oauth::ClientAuth;

use cache::{AnswerCache, Joined, Shared};

/// Default positive cache TTL.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(30);
/// Default negative (refusal) cache TTL.
pub const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(5);

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
    any_token_type: bool,
    client: Option<Arc<dyn HttpClient>>,
}

impl fmt::Debug for IntrospectorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectorBuilder")
            .field("endpoint", &self.endpoint)
            .field("auth", &self.auth)
            .field("cache_ttl", &self.cache_ttl)
            .field("negative_ttl", &self.negative_ttl)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl IntrospectorBuilder {
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

    /// Most introspection calls in flight at once (default 32); more wait their turn
    /// within the timeout.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
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
        Ok(Introspector {
            inner: Arc::new(Inner {
                max_token_len: validation.max_token_len(),
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
                permits: Semaphore::new(self.max_in_flight),
                runtime,
                calls: AtomicU64::new(0),
            }),
        })
    }
}

struct Inner {
    validation: Validation,
    max_token_len: usize,
    endpoint: Uri,
    auth: ClientAuth,
    token_type_hint: Option<String>,
    timeout: Duration,
    max_body: usize,
    retry_after: Duration,
    any_token_type: bool,
    client: Arc<dyn HttpClient>,
    cache: AnswerCache,
    permits: Semaphore,
    runtime: tokio::runtime::Handle,
    calls: AtomicU64,
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
            max_in_flight: 32,
            any_token_type: false,
            client: None,
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
}

impl Inner {
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
        let started = std::time::Instant::now();
        let result = self.call_inner(token).await;
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
            // the permit is held for the exchange only
            let _permit = self.permits.acquire().await;
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
        answer::read::<X>(
            &response.body,
            &self.validation,
            now_secs(),
            self.any_token_type,
        )
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
) {
    let guard = FlightGuard {
        inner,
        token,
        id,
        tx,
    };
    let result = guard.inner.call::<X>(&guard.token).await;
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
        Err(_) => inner.call::<X>(&token).await.map(Arc::new),
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
        if token.len() > inner.max_token_len {
            return IntrospectFuture::ready(Err(FormatError::TooLong {
                len: token.len(),
                max: inner.max_token_len,
            }
            .into()));
        }
        if let Some(hit) = inner.cache.get::<X>(token) {
            crate::metrics::introspection_cache_hit();
            return IntrospectFuture::ready(hit);
        }
        let token: Arc<str> = Arc::from(token);
        let rx = match inner.cache.join_or_start::<X>(&token) {
            Joined::Cached(hit) => {
                crate::metrics::introspection_cache_hit();
                return IntrospectFuture::ready(hit);
            }
            Joined::Wait(rx) => rx,
            Joined::Start { id, tx, rx } => {
                inner
                    .runtime
                    .spawn(flight::<X>(inner.clone(), token.clone(), id, tx));
                rx
            }
        };
        IntrospectFuture {
            state: State::Waiting(Box::pin(wait::<X>(inner.clone(), rx, token))),
        }
    }
}
