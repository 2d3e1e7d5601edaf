//! Remote key management (feature `remote`, on by default): JWKS URLs, issuer discovery,
//! background refresh with rotation and outage handling, and a multi-issuer registry.
//!
//! [`Issuers`] is the authenticator: a registry keyed by exact `iss`, each issuer with
//! its own [`Validation`] (audiences, algorithms, profile) and its own key store, an
//! `Arc`'d `ArcSwapOption<KeySet>` refreshed by one tokio task per issuer.
//!
//! - **Request path**: peek the unverified `iss` (only with several issuers), look it up
//!   (an unlisted issuer is refused with 401 and costs no I/O), one `load()` of the key
//!   set, verify. No lock, no await, no allocation beyond verification itself.
//! - **Unknown `kid`**: the request asks the refresh task for a fetch. Concurrent askers
//!   share that one fetch; a per-issuer cooldown ([`RefreshConfig::cooldown`], 30 s)
//!   bounds fetches, so a forged-kid flood costs the IdP at most one request per
//!   window. The request waits at most [`RefreshConfig::unknown_kid_wait`] (2 s), then
//!   verifies once more; still unknown → 401 `invalid_token`.
//! - **Schedule**: `Cache-Control: max-age` / `Expires`, clamped to
//!   [[`min_interval`](RefreshConfig::min_interval),
//!   [`max_interval`](RefreshConfig::max_interval)] (1 min .. 24 h, 10 min when the
//!   server says nothing), minus up to 10 % jitter. Conditional GET with
//!   `If-None-Match` / `If-Modified-Since`; 304 keeps the set.
//! - **Failures** keep the last good set, retried with jittered exponential backoff and
//!   logged at warn; after [`max_staleness`](RefreshConfig::max_staleness) (24 h) the set
//!   is dropped. An issuer without a key set answers 503 with `Retry-After`
//!   ([`UnavailableError::NoKeys`]), never 401.
//! - **Fetch hygiene**: timeout (5 s), body cap (1 MiB, enforced while reading), 200
//!   only, same-origin redirects only (at most 3), `https` only (`http` for loopback
//!   hosts), errors name the URL but never echo the body.
//! - **Discovery**: OpenID Connect and RFC 8414 (with path insertion); the metadata's
//!   `issuer` must equal the configured one byte for byte; re-discovered every
//!   [`rediscovery_interval`](RefreshConfig::rediscovery_interval) (6 h) so a changed
//!   `jwks_uri` is followed.
//! - **Lifecycle**: [`IssuersBuilder::build`] waits (up to
//!   [`startup_timeout`](RefreshConfig::startup_timeout)) for every issuer's first key
//!   set and fails with the issuer and URL; [`IssuersBuilder::build_lazy`] returns at
//!   once and requests get 503 until keys arrive. The refresh tasks end when the last
//!   clone of the [`Issuers`] is dropped.
//!
//! The HTTP client is behind [`HttpClient`]; [`HyperClient`] is the default.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use tollgate_core::authenticate::Authenticate;
//! use tollgate_core::remote::{IssuerConfig, Issuers};
//! use tollgate_core::{Claims, Validation};
//! use tollgate_testkit::{TestKey, jwks_server::serve_jwks};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let key = TestKey::ed25519("k1");
//! let (jwks_url, _server) = serve_jwks(TestKey::jwks([&key])).await;
//!
//! let validation = Validation::builder()
//!     .issuer(tollgate_testkit::DEFAULT_ISSUER)
//!     .audience(tollgate_testkit::DEFAULT_AUDIENCE)
//!     .build()?;
//! let issuers = Issuers::builder()
//!     .issuer(IssuerConfig::new(validation).jwks_uri(&jwks_url))
//!     .build() // waits for the first key set
//!     .await?;
//!
//! // accepted
//! let claims: Arc<Claims> = issuers.authenticate(&key.token().sign()).await?;
//! assert_eq!(claims.sub.as_deref(), Some("user-1"));
//!
//! // rejected: a token from an issuer that is not configured (no network call made)
//! let other = key.token().issuer("https://elsewhere.example").sign();
//! let err = Authenticate::<()>::authenticate(&issuers, &other).await.unwrap_err();
//! assert_eq!(err.wire().status, 401);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
pub(crate) mod fetch;
mod store;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use crate::authenticate::Authenticate;
use crate::cache::{CacheConfig, TokenCache};
use crate::error::{AuthError, BuildError, ClaimsError, KeyError, UnavailableError};
use crate::validation::Verified;
use crate::{Claims, Validation};

/// Tokens longer than this are never cached (nor looked up): the verifier's default
/// length cap.
const MAX_CACHED_TOKEN: usize = crate::validation::DEFAULT_MAX_TOKEN_LEN;

pub(crate) use config::config_url;
pub use config::{Discovery, FetchError, FetchErrorKind, RefreshConfig};

use crate::oauth::{HttpClient, HyperClient};
pub use store::IssuerStats;

use store::{Entry, Source};

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Reads the `iss` claim of a compact JWS **without verifying anything**. Only for
/// choosing which issuer's policy and keys verify the token.
#[must_use]
pub fn peek_issuer(token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Peek {
        iss: Option<String>,
    }
    let mut parts = token.splitn(3, '.');
    let (_, payload) = (parts.next()?, parts.next()?);
    if payload.len() > 16 * 1024 {
        return None;
    }
    let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<Peek>(&json).ok()?.iss
}

/// One issuer: its validation policy (naming exactly this issuer) and its key source.
///
/// A bad value (an unusable JWKS URL) is kept as a typed [`BuildError`], the first one
/// wins, and [`IssuersBuilder::build`] / [`IssuersBuilder::build_lazy`] return it.
#[derive(Debug, Clone)]
#[must_use]
pub struct IssuerConfig {
    validation: Validation,
    source: Option<Source>,
    error: Option<BuildError>,
    refresh: Option<RefreshConfig>,
}

impl IssuerConfig {
    /// An issuer verified with `validation`, which must name exactly one issuer: the
    /// `iss` this entry is keyed by. Set the key source next.
    pub fn new(validation: Validation) -> Self {
        IssuerConfig {
            validation,
            source: None,
            error: None,
            refresh: None,
        }
    }

    /// The issuer this entry is keyed by (`None` when its policy names none).
    #[must_use]
    pub fn issuer(&self) -> Option<&str> {
        self.validation.issuers().next()
    }

    /// The issuer this entry names (`<none>` when its policy names none).
    fn issuer_name(&self) -> String {
        self.validation.issuers().next().unwrap_or("<none>").into()
    }

    /// Keys from this JWKS URL (`https`, or `http` to a loopback host). An unusable
    /// URL is reported by the registry's `build` as [`BuildError::JwksUri`].
    pub fn jwks_uri(mut self, url: impl AsRef<str>) -> Self {
        match config::config_url(url.as_ref()) {
            Ok(uri) => self.source = Some(Source::Jwks(uri)),
            Err(source) => {
                if self.error.is_none() {
                    self.error = Some(BuildError::JwksUri {
                        issuer: self.issuer_name(),
                        source,
                    });
                }
            }
        }
        self
    }

    /// Keys from the `jwks_uri` of the issuer's metadata ([`Discovery::Auto`]).
    pub fn discover(self) -> Self {
        self.discover_with(Discovery::Auto)
    }

    /// Keys from the `jwks_uri` of the issuer's metadata, read from `form`.
    pub fn discover_with(mut self, form: Discovery) -> Self {
        self.source = Some(Source::Discovery(form));
        self
    }

    /// Timings for this issuer (default: the registry's).
    pub fn refresh(mut self, refresh: RefreshConfig) -> Self {
        self.refresh = Some(refresh);
        self
    }
}

/// Builder of [`Issuers`].
#[must_use]
pub struct IssuersBuilder {
    issuers: Vec<IssuerConfig>,
    refresh: RefreshConfig,
    client: Option<Arc<dyn HttpClient>>,
    cache: Option<CacheConfig>,
}

impl fmt::Debug for IssuersBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuersBuilder")
            .field("issuers", &self.issuers)
            .field("refresh", &self.refresh)
            .field("custom_client", &self.client.is_some())
            .finish()
    }
}

impl IssuersBuilder {
    /// Adds an issuer.
    pub fn issuer(mut self, issuer: IssuerConfig) -> Self {
        self.issuers.push(issuer);
        self
    }

    /// Default timings of every issuer.
    pub fn refresh(mut self, refresh: RefreshConfig) -> Self {
        self.refresh = refresh;
        self
    }

    /// Capacity of the verified-token cache (on by default; see [`crate::cache`]).
    pub fn cache(mut self, config: CacheConfig) -> Self {
        self.cache = Some(config);
        self
    }

    /// Verifies every token in full (no verified-token cache).
    pub fn without_cache(mut self) -> Self {
        self.cache = None;
        self
    }

    /// Uses your HTTP client instead of [`HyperClient`].
    pub fn http_client(mut self, client: impl HttpClient) -> Self {
        self.client = Some(Arc::new(client));
        self
    }

    /// Starts the refresh tasks and returns at once; requests get 503 until each issuer
    /// has its first key set. Must be called within a tokio runtime.
    ///
    /// # Errors
    /// Configuration errors (no issuer, duplicate issuer, a `Validation` not naming
    /// exactly one issuer, a bad URL), no runtime, or no default HTTP client.
    pub fn build_lazy(self) -> Result<Issuers, BuildError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| BuildError::NoRuntime)?;
        if self.issuers.is_empty() {
            return Err(BuildError::NoIssuers);
        }
        let mut entries: HashMap<Box<str>, Arc<Entry>> = HashMap::new();
        let mut order = Vec::new();
        for cfg in self.issuers {
            let name: Box<str> = {
                let mut names = cfg.validation.issuers();
                let (Some(name), None) = (names.next(), names.next()) else {
                    return Err(BuildError::IssuerValidation {
                        issuer: cfg.issuer_name(),
                    });
                };
                name.into()
            };
            if let Some(e) = cfg.error {
                return Err(e);
            }
            let Some(source) = cfg.source else {
                return Err(BuildError::NoKeySource {
                    issuer: name.into(),
                });
            };
            if matches!(source, Source::Discovery(_))
                && let Err(source) = config::config_url(&name)
            {
                return Err(BuildError::DiscoveryIssuerUrl {
                    issuer: name.into(),
                    source,
                });
            }
            if entries.contains_key(&name) {
                return Err(BuildError::DuplicateIssuer {
                    issuer: name.into(),
                });
            }
            let refresh = cfg.refresh.unwrap_or_else(|| self.refresh.clone());
            let entry = Arc::new(Entry::new(name.clone(), cfg.validation, source, refresh));
            order.push(entry.clone());
            entries.insert(name, entry);
        }
        let client = match self.client {
            Some(c) => c,
            None => {
                Arc::new(HyperClient::new().map_err(|source| BuildError::HttpClient { source })?)
            }
        };
        let (stop, stop_rx) = watch::channel(());
        for entry in &order {
            runtime.spawn(store::run(entry.clone(), client.clone(), stop_rx.clone()));
        }
        let single = if order.len() == 1 {
            order.first().cloned()
        } else {
            None
        };
        Ok(Issuers {
            inner: Arc::new(Inner {
                entries,
                order,
                single,
                cache: self.cache.map(TokenCache::new),
                _stop: stop,
            }),
        })
    }

    /// Starts the refresh tasks and waits until every issuer has its first key set, at
    /// most [`RefreshConfig::startup_timeout`] (each issuer's own).
    ///
    /// # Errors
    /// As [`Self::build_lazy`], plus [`BuildError::Startup`] naming the issuer and the
    /// URL when an issuer got no key set in time, or at once on a permanent error
    /// (discovery metadata naming another issuer). The refresh tasks are stopped then.
    pub async fn build(self) -> Result<Issuers, BuildError> {
        let issuers = self.build_lazy()?;
        for entry in &issuers.inner.order {
            let mut attempts = entry.attempts();
            let wait = async {
                loop {
                    if entry.keys.load().is_some() {
                        return Ok(());
                    }
                    if let Some(e) = entry.last_error().filter(FetchError::is_permanent) {
                        return Err(e);
                    }
                    if attempts.changed().await.is_err() {
                        return Err(entry.last_error().unwrap_or_else(|| {
                            FetchError::new(entry.url_for_errors(), FetchErrorKind::Redirect)
                        }));
                    }
                }
            };
            let result = tokio::time::timeout(entry.cfg.startup_timeout, wait)
                .await
                .unwrap_or_else(|_| {
                    Err(entry.last_error().unwrap_or_else(|| {
                        FetchError::new(
                            entry.url_for_errors(),
                            FetchErrorKind::Timeout(entry.cfg.startup_timeout),
                        )
                    }))
                });
            if let Err(error) = result {
                return Err(BuildError::Startup {
                    issuer: entry.issuer.to_string(),
                    error,
                });
            }
        }
        Ok(issuers)
    }
}

struct Inner {
    entries: HashMap<Box<str>, Arc<Entry>>,
    order: Vec<Arc<Entry>>,
    /// Set when there is exactly one issuer: no `iss` peek needed.
    single: Option<Arc<Entry>>,
    /// Verified tokens (entries name the issuer by its index in `order`).
    cache: Option<TokenCache>,
    /// Dropped with the last handle: every refresh task sees it and ends.
    _stop: watch::Sender<()>,
}

/// The remote-keys authenticator: a registry of issuers, each with its own policy and a
/// background-refreshed key set. Cheap to clone (one `Arc`); the refresh tasks end when
/// the last clone is dropped. Implements [`Authenticate`].
#[derive(Clone)]
pub struct Issuers {
    inner: Arc<Inner>,
}

impl fmt::Debug for Issuers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issuers")
            .field(
                "issuers",
                &self
                    .inner
                    .order
                    .iter()
                    .map(|e| &*e.issuer)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Issuers {
    /// Starts a builder.
    pub fn builder() -> IssuersBuilder {
        IssuersBuilder {
            issuers: Vec::new(),
            refresh: RefreshConfig::default(),
            client: None,
            cache: Some(CacheConfig::default()),
        }
    }

    /// The configured issuers, in configuration order.
    pub fn issuers(&self) -> impl Iterator<Item = &str> {
        self.inner.order.iter().map(|e| &*e.issuer)
    }

    /// A snapshot of every issuer's refresh state.
    #[must_use]
    pub fn stats(&self) -> Vec<IssuerStats> {
        self.inner.order.iter().map(|e| e.stats()).collect()
    }

    /// A snapshot of one issuer's refresh state.
    #[must_use]
    pub fn stats_for(&self, issuer: &str) -> Option<IssuerStats> {
        self.inner.entries.get(issuer).map(|e| e.stats())
    }

    /// The current key set of `issuer` (`None` when unlisted or without keys).
    #[must_use]
    pub fn keys(&self, issuer: &str) -> Option<Arc<crate::KeySet>> {
        self.inner.entries.get(issuer)?.keys.load_full()
    }

    /// The entry whose policy verifies `token`, by its unverified `iss` (several
    /// issuers). With `peeked` (the payload decoded and parsed once, see
    /// [`crate::validation::peek`]), the verification goes on from it.
    fn select(
        &self,
        token: &str,
        peeked: Option<&crate::validation::Peeked<'_>>,
    ) -> Result<&Arc<Entry>, AuthError> {
        if let Some(single) = &self.inner.single {
            // its Validation refuses any other `iss` before keys are looked at
            return Ok(single);
        }
        let iss = match peeked {
            Some(p) => p.iss().map(Cow::Borrowed),
            // the registered claims do not parse: read only `iss` (as before), so the
            // chosen issuer names the precise error
            None => peek_issuer(token).map(Cow::Owned),
        };
        match iss {
            Some(iss) => self
                .inner
                .entries
                .get(&*iss)
                .ok_or(AuthError::Claims(ClaimsError::IssuerNotAllowed)),
            // no readable iss: let the first policy name the precise format error
            None => self
                .inner
                .order
                .first()
                .ok_or(AuthError::Claims(ClaimsError::IssuerNotAllowed)),
        }
    }
}

/// One verification against the current key set; `Err(None)` = unknown kid / no keys.
fn verify_now<X: DeserializeOwned + 'static>(
    entry: &Entry,
    token: &str,
    now: i64,
    peeked: Option<crate::validation::Peeked<'_>>,
) -> Result<Result<Verified<X>, AuthError>, bool> {
    let keys = entry.keys.load();
    match entry
        .validation
        .verify_detailed_pre::<X>(token, now, |_| keys.as_deref(), peeked)
    {
        Err(AuthError::Key(KeyError::UnknownKid)) => Err(keys.is_some()),
        r => Ok(r),
    }
}

fn no_key_error(entry: &Entry, had_keys: bool) -> AuthError {
    if had_keys {
        AuthError::Key(KeyError::UnknownKid)
    } else {
        AuthError::Unavailable(UnavailableError::NoKeys {
            retry_after: entry.retry_after(),
        })
    }
}

async fn wait_and_retry<X: DeserializeOwned + 'static>(
    entry: Arc<Entry>,
    token: String,
    ticket: u64,
    mut served: watch::Receiver<u64>,
) -> Result<Arc<Claims<X>>, AuthError> {
    let _ = tokio::time::timeout(
        entry.cfg.unknown_kid_wait,
        served.wait_for(|s| *s >= ticket),
    )
    .await;
    match verify_now::<X>(&entry, &token, now_secs(), None) {
        Ok(r) => r.map(|v| v.claims),
        Err(had_keys) => Err(no_key_error(&entry, had_keys)),
    }
}

/// The future of [`Issuers::authenticate`]: ready at once unless the token's `kid` is
/// unknown and a key refresh is in flight (then a boxed wait, on that cold path only).
#[must_use = "futures do nothing unless polled"]
pub struct AuthFuture<X> {
    state: State<X>,
}

type Waiting<X> = Pin<Box<dyn Future<Output = Result<Arc<Claims<X>>, AuthError>> + Send>>;

enum State<X> {
    Ready(Option<Result<Arc<Claims<X>>, AuthError>>),
    Waiting(Waiting<X>),
}

impl<X> fmt::Debug for AuthFuture<X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.state {
            State::Ready(_) => "AuthFuture::Ready",
            State::Waiting(_) => "AuthFuture::Waiting",
        })
    }
}

impl<X> AuthFuture<X> {
    fn ready(r: Result<Arc<Claims<X>>, AuthError>) -> Self {
        AuthFuture {
            state: State::Ready(Some(r)),
        }
    }
}

impl<X> Future for AuthFuture<X> {
    type Output = Result<Arc<Claims<X>>, AuthError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // both variants are Unpin (an Option and a Pin<Box>)
        match &mut self.get_mut().state {
            State::Ready(r) => Poll::Ready(
                r.take()
                    .unwrap_or(Err(AuthError::Key(KeyError::UnknownKid))),
            ),
            State::Waiting(fut) => fut.as_mut().poll(cx),
        }
    }
}

impl<X> Authenticate<X> for Issuers
where
    X: DeserializeOwned + Send + Sync + 'static,
{
    type Future = AuthFuture<X>;

    fn authenticate(&self, token: &str) -> Self::Future {
        let now = now_secs();
        let inner = &*self.inner;
        // 1. the verified-token cache, before any parsing
        let cache = inner
            .cache
            .as_ref()
            .filter(|_| token.len() <= MAX_CACHED_TOKEN);
        if let Some(hit) = cache.and_then(|c| {
            c.get::<X>(token, now, |i, kid, fp| {
                inner.order.get(i).is_some_and(|e| {
                    e.keys
                        .load()
                        .as_deref()
                        .is_some_and(|ks| ks.contains_key(kid, fp))
                })
            })
        }) {
            return AuthFuture::ready(Ok(hit));
        }
        // several issuers: the payload is decoded and its claims parsed once, for the
        // selection and the verification
        let payload = if inner.single.is_none() {
            crate::validation::peek_payload(token)
        } else {
            None
        };
        let peeked = payload.as_deref().and_then(crate::validation::peek);
        let entry = match self.select(token, peeked.as_ref()) {
            Ok(e) => e,
            Err(e) => return AuthFuture::ready(Err(e)),
        };
        match verify_now::<X>(entry, token, now, peeked) {
            Ok(Ok(v)) => {
                if let Some(c) = cache
                    && let Some(i) = inner.order.iter().position(|e| Arc::ptr_eq(e, entry))
                {
                    c.insert(token, &v.claims, i, &v.key);
                }
                AuthFuture::ready(Ok(v.claims))
            }
            Ok(Err(e)) => AuthFuture::ready(Err(e)),
            Err(had_keys) => match entry.ask_refresh() {
                None => AuthFuture::ready(Err(no_key_error(entry, had_keys))),
                Some((ticket, served)) => AuthFuture {
                    state: State::Waiting(Box::pin(wait_and_retry::<X>(
                        entry.clone(),
                        token.to_owned(),
                        ticket,
                        served,
                    ))),
                },
            },
        }
    }
}
