//! The [`Authenticate`] trait: what the tower layers call for every request.
//!
//! An authenticator turns a bearer token into verified claims. It returns a future so
//! that a source may wait (e.g. a bounded wait for a key refresh on an unknown `kid`),
//! but the common path resolves at once: [`StaticKeys`] answers with
//! [`std::future::Ready`], no allocation, no lock.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use tollgate_core::authenticate::{Authenticate, StaticKeys};
//! use tollgate_core::{Claims, Key, KeySet, Validation};
//!
//! let validation = Validation::builder().issuer("https://idp.example").audience("api").build().unwrap();
//! let auth = StaticKeys::new(validation, KeySet::new());
//! // rejected: no key can verify this (or any) token
//! let out: Result<Arc<Claims>, _> = futures_lite_block_on(Authenticate::<()>::authenticate(&auth, "a.b.c"));
//! assert_eq!(out.unwrap_err().wire().status, 401);
//! # fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     let mut f = std::pin::pin!(f);
//! #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
//! #     match f.as_mut().poll(&mut cx) { std::task::Poll::Ready(v) => v, _ => unreachable!() }
//! # }
//! ```

use std::future::Future;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::cache::{CacheConfig, TokenCache};
use crate::validation::now_secs;
use crate::{AuthError, Claims, KeySet, Validation};

/// Verifies a bearer token and returns its claims.
pub trait Authenticate<X>: Send + Sync + 'static {
    /// The future of one verification. It should be ready on its first poll on the hot
    /// path (known key): the layers poll it once inline and only keep it when pending.
    /// `Unpin` so it can be polled before it is stored; box the rare waiting state.
    type Future: Future<Output = Result<Arc<Claims<X>>, AuthError>> + Send + Unpin + 'static;

    /// Verifies `token` (already extracted from the request).
    fn authenticate(&self, token: &str) -> Self::Future;
}

impl<X, A: Authenticate<X>> Authenticate<X> for Arc<A> {
    type Future = A::Future;
    fn authenticate(&self, token: &str) -> Self::Future {
        (**self).authenticate(token)
    }
}

/// An authenticator over a fixed [`KeySet`] (static JWKS, PEM or HMAC secret), with the
/// verified-token cache on by default (see [`crate::cache`]).
#[derive(Debug, Clone)]
pub struct StaticKeys {
    validation: Validation,
    keys: KeySet,
    cache: Option<Arc<TokenCache>>,
}

impl StaticKeys {
    /// Verifies with `validation` against `keys`; caches verified tokens with the
    /// default [`CacheConfig`].
    #[must_use]
    pub fn new(validation: Validation, keys: KeySet) -> Self {
        StaticKeys {
            validation,
            keys,
            cache: Some(Arc::new(TokenCache::new(CacheConfig::default()))),
        }
    }

    /// Uses a verified-token cache of this capacity.
    #[must_use]
    pub fn with_cache(mut self, config: CacheConfig) -> Self {
        self.cache = Some(Arc::new(TokenCache::new(config)));
        self
    }

    /// Verifies every token in full (no verified-token cache).
    #[must_use]
    pub fn without_cache(mut self) -> Self {
        self.cache = None;
        self
    }

    /// Entries in the verified-token cache (0 without one).
    #[must_use]
    pub fn cached_tokens(&self) -> usize {
        self.cache.as_ref().map_or(0, |c| c.len())
    }

    /// The validation policy.
    #[must_use]
    pub fn validation(&self) -> &Validation {
        &self.validation
    }

    /// The keys.
    #[must_use]
    pub fn keys(&self) -> &KeySet {
        &self.keys
    }
}

impl StaticKeys {
    /// Verifies `token` as of `now`, through the cache.
    pub fn verify_cached<X>(&self, token: &str, now: i64) -> Result<Arc<Claims<X>>, AuthError>
    where
        X: DeserializeOwned + Send + Sync + 'static,
    {
        let cache = self
            .cache
            .as_deref()
            .filter(|_| token.len() <= self.validation.max_token_len());
        if let Some(hit) =
            cache.and_then(|c| c.get::<X>(token, now, |_, kid, fp| self.keys.contains_key(kid, fp)))
        {
            return Ok(hit);
        }
        let v = self
            .validation
            .verify_detailed::<X>(token, now, |_| Some(&self.keys))?;
        if let Some(c) = cache {
            c.insert(token, &v.claims, 0, &v.key);
        }
        Ok(v.claims)
    }
}

impl<X> Authenticate<X> for StaticKeys
where
    X: DeserializeOwned + Send + Sync + 'static,
{
    type Future = std::future::Ready<Result<Arc<Claims<X>>, AuthError>>;

    fn authenticate(&self, token: &str) -> Self::Future {
        std::future::ready(self.verify_cached(token, now_secs()))
    }
}

/// The one authenticator every front-end uses, whatever the token sources: local JWT
/// verification over fixed keys ([`StaticKeys`]) or remote keys
/// ([`Issuers`](crate::remote::Issuers)), optionally with RFC 7662 introspection for
/// opaque tokens ([`Introspector`](crate::introspect::Introspector), routed by
/// [`Routing`](crate::introspect::Routing)).
///
/// Enabling introspection does not change the type, so code that holds an
/// `Authenticator` (or a gate built on it) need not be generic. Cloning is cheap
/// (reference counts); clones share keys and caches.
///
/// ```
/// use tollgate_core::authenticate::{Authenticate, Authenticator, StaticKeys};
/// use tollgate_core::{Claims, KeySet, Validation};
///
/// let validation = Validation::builder().issuer("https://idp.example").audience("api").build().unwrap();
/// let auth = Authenticator::from(StaticKeys::new(validation, KeySet::new()));
/// let fut = Authenticate::<()>::authenticate(&auth, "a.b.c");
/// # let out = { let mut f = std::pin::pin!(fut);
/// #     match std::future::Future::poll(f.as_mut(), &mut std::task::Context::from_waker(std::task::Waker::noop())) {
/// #         std::task::Poll::Ready(v) => v, _ => unreachable!() } };
/// // rejected: no key can verify this token
/// assert_eq!(out.unwrap_err().wire().status, 401);
/// ```
#[derive(Clone, Debug)]
pub struct Authenticator {
    jwt: Jwt,
    #[cfg(feature = "remote")]
    introspection: Option<(crate::introspect::Introspector, crate::introspect::Routing)>,
}

// One per gate, held behind the layers' `Arc`: its size costs nothing, while boxing the
// static variant would add a pointer chase to the warm path.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
enum Jwt {
    /// No local verification (introspection only).
    #[cfg(feature = "remote")]
    None,
    Static(StaticKeys),
    #[cfg(feature = "remote")]
    Remote(crate::remote::Issuers),
}

impl From<StaticKeys> for Authenticator {
    fn from(keys: StaticKeys) -> Self {
        Authenticator {
            jwt: Jwt::Static(keys),
            #[cfg(feature = "remote")]
            introspection: None,
        }
    }
}

#[cfg(feature = "remote")]
impl From<crate::remote::Issuers> for Authenticator {
    fn from(issuers: crate::remote::Issuers) -> Self {
        Authenticator {
            jwt: Jwt::Remote(issuers),
            introspection: None,
        }
    }
}

#[cfg(feature = "remote")]
impl From<crate::introspect::Introspector> for Authenticator {
    /// Introspects every token; nothing is verified locally.
    fn from(introspector: crate::introspect::Introspector) -> Self {
        Authenticator {
            jwt: Jwt::None,
            introspection: Some((introspector, crate::introspect::Routing::All)),
        }
    }
}

impl Authenticator {
    /// Also introspects the tokens `routing` selects (JWTs stay with the local
    /// verifier under [`Routing::NonJwt`](crate::introspect::Routing::NonJwt)).
    #[cfg(feature = "remote")]
    #[must_use]
    pub fn with_introspection(
        mut self,
        introspector: crate::introspect::Introspector,
        routing: crate::introspect::Routing,
    ) -> Self {
        self.introspection = Some((introspector, routing));
        self
    }

    /// The fixed key set, when the JWTs are verified with one.
    #[must_use]
    pub fn static_keys(&self) -> Option<&StaticKeys> {
        match &self.jwt {
            Jwt::Static(k) => Some(k),
            #[cfg(feature = "remote")]
            _ => None,
        }
    }

    /// The remote issuers (key sets, refresh statistics), when JWTs are verified with them.
    #[cfg(feature = "remote")]
    #[must_use]
    pub fn issuers(&self) -> Option<&crate::remote::Issuers> {
        match &self.jwt {
            Jwt::Remote(i) => Some(i),
            _ => None,
        }
    }

    /// The introspector, when opaque tokens are introspected.
    #[cfg(feature = "remote")]
    #[must_use]
    pub fn introspector(&self) -> Option<&crate::introspect::Introspector> {
        self.introspection.as_ref().map(|(i, _)| i)
    }

    /// Which tokens are introspected, when introspection is on.
    #[cfg(feature = "remote")]
    #[must_use]
    pub fn routing(&self) -> Option<crate::introspect::Routing> {
        self.introspection.as_ref().map(|(_, r)| *r)
    }
}

/// The future of [`Authenticator`]'s [`Authenticate::authenticate`]: ready at once on
/// the hot path; it only holds a wait when a key refresh or an introspection call is
/// under way.
#[must_use = "futures do nothing unless polled"]
pub struct AuthenticateFuture<X> {
    state: FutState<X>,
}

impl<X> std::fmt::Debug for AuthenticateFuture<X> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.state {
            FutState::Ready(_) => "AuthenticateFuture::Ready",
            #[cfg(feature = "remote")]
            FutState::Remote(_) => "AuthenticateFuture::Remote",
            #[cfg(feature = "remote")]
            FutState::Introspect(_) => "AuthenticateFuture::Introspect",
        })
    }
}

enum FutState<X> {
    Ready(Option<Result<Arc<Claims<X>>, AuthError>>),
    #[cfg(feature = "remote")]
    Remote(crate::remote::AuthFuture<X>),
    #[cfg(feature = "remote")]
    Introspect(crate::introspect::IntrospectFuture<X>),
}

impl<X> Future for AuthenticateFuture<X> {
    type Output = Result<Arc<Claims<X>>, AuthError>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        #[cfg(not(feature = "remote"))]
        let _ = cx;
        // every variant is Unpin
        match &mut self.get_mut().state {
            FutState::Ready(r) => {
                std::task::Poll::Ready(r.take().unwrap_or(Err(AuthError::Misconfigured)))
            }
            #[cfg(feature = "remote")]
            FutState::Remote(f) => std::pin::Pin::new(f).poll(cx),
            #[cfg(feature = "remote")]
            FutState::Introspect(f) => std::pin::Pin::new(f).poll(cx),
        }
    }
}

impl<X> Authenticate<X> for Authenticator
where
    X: DeserializeOwned + Send + Sync + 'static,
{
    type Future = AuthenticateFuture<X>;

    fn authenticate(&self, token: &str) -> Self::Future {
        #[cfg(feature = "remote")]
        if let Some((introspector, routing)) = &self.introspection {
            let introspect = match routing {
                crate::introspect::Routing::All => true,
                crate::introspect::Routing::NonJwt => {
                    matches!(self.jwt, Jwt::None) || !crate::introspect::looks_like_jwt(token)
                }
            };
            if introspect {
                return AuthenticateFuture {
                    state: FutState::Introspect(introspector.authenticate(token)),
                };
            }
        }
        let state = match &self.jwt {
            Jwt::Static(k) => FutState::Ready(Some(k.verify_cached(token, now_secs()))),
            #[cfg(feature = "remote")]
            Jwt::Remote(i) => FutState::Remote(i.authenticate(token)),
            #[cfg(feature = "remote")]
            Jwt::None => FutState::Ready(Some(Err(AuthError::Misconfigured))),
        };
        AuthenticateFuture { state }
    }
}
