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
