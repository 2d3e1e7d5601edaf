//! The verified-token cache: a client reuses its access token for minutes, so almost
//! every request presents a token this server has already verified.
//!
//! - **Key**: the full token bytes. `quick_cache` hashes them (foldhash, randomly seeded)
//!   to find the slot and then compares the bytes exactly: a hash alone is never
//!   trusted.
//! - **Value**: the shared `Arc<Claims<X>>`, the token's `exp`, which issuer verified it
//!   and the identity (`kid` + SHA-256 fingerprint of the public key material) of the
//!   key that verified it.
//! - **A hit counts only** while `exp` is in the future (exact: no leeway extension) and
//!   while that key is still in the issuer's *current* key set with the same material:
//!   a rotated-out key, or a `kid` re-used for new key material, invalidates its tokens
//!   at once. Scope policies still run per request (they are not part of the entry).
//! - **Only successes are cached.** A failure is never stored, so an invalid token
//!   cannot become valid by repetition, and an attacker who holds no valid token cannot
//!   insert anything: a flood of forged tokens costs a verification each but cannot
//!   evict good entries. A flood of *distinct valid* tokens is bounded by the capacity;
//!   quick_cache's policy (CLOCK-PRO-like, with a probationary queue for new entries)
//!   keeps entries that are hit again, so one-hit tokens age out first.
//! - **Bounded** by entry count and by an estimate of memory (token length × 2 + 512
//!   bytes per entry): whichever bound is hit first.
//! - **Admitted on the second sighting** (default): the first verification of a token
//!   only marks its hash in a small fixed-size "doorkeeper" table (64 Ki slots, one
//!   atomic store); the second one inserts it. A client that reuses its token is served
//!   from the cache from its third request on, while a stream of one-time tokens (the
//!   cold path, or a flood) costs no insertion and evicts nothing. Measured reason: an
//!   insertion cost 2.4–4 µs per miss under 200k distinct tokens (BENCHMARKS.md).
//!   `CacheConfig::admit_on_first_sight()` restores immediate insertion.
//!
//! The read path takes a shard's read lock inside quick_cache for a few nanoseconds;
//! there is no global lock and nothing is awaited.
//!
//! # Example
//!
//! ```
//! use tollgate_core::cache::CacheConfig;
//! use tollgate_core::authenticate::{Authenticate, StaticKeys};
//! use tollgate_core::{KeySet, Validation};
//! use tollgate_testkit::{TestKey, DEFAULT_ISSUER, DEFAULT_AUDIENCE};
//! # fn now<F: std::future::Future>(f: F) -> F::Output {
//! #     let mut f = std::pin::pin!(f);
//! #     match f.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
//! #         std::task::Poll::Ready(v) => v, _ => unreachable!() } }
//!
//! let key = TestKey::p256("k1");
//! let v = Validation::builder().issuer(DEFAULT_ISSUER).audience(DEFAULT_AUDIENCE).build().unwrap();
//! let auth = StaticKeys::new(v, KeySet::from_keys([key.public_key()]))
//!     .with_cache(CacheConfig::default().max_entries(10_000));
//! let token = key.token().sign();
//! // accepted three times: verified, verified and admitted, then served from the cache
//! let _ = now(Authenticate::<()>::authenticate(&auth, &token)).unwrap();
//! let a = now(Authenticate::<()>::authenticate(&auth, &token)).unwrap();
//! let b = now(Authenticate::<()>::authenticate(&auth, &token)).unwrap();
//! assert!(std::sync::Arc::ptr_eq(&a, &b));
//! // rejected: failures are never cached as successes
//! assert!(now(Authenticate::<()>::authenticate(&auth, &key.token().expired())).is_err());
//! ```

use std::any::Any;
use std::fmt;
use std::hash::BuildHasher as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Claims;
use crate::keys::Key;

/// Capacity of the verified-token cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheConfig {
    /// Most entries kept (default 100,000).
    pub max_entries: usize,
    /// Most memory used, estimated (default 128 MiB).
    pub max_bytes: usize,
    /// Insert a token the first time it verifies, instead of the second (default false).
    pub admit_first_sight: bool,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_entries: 100_000,
            max_bytes: 128 * 1024 * 1024,
            admit_first_sight: false,
        }
    }
}

impl CacheConfig {
    /// Sets the entry bound.
    #[must_use]
    pub fn max_entries(mut self, n: usize) -> Self {
        self.max_entries = n;
        self
    }

    /// Sets the memory bound (estimated bytes).
    #[must_use]
    pub fn max_bytes(mut self, n: usize) -> Self {
        self.max_bytes = n;
        self
    }

    /// Caches a token from its first successful verification (no doorkeeper).
    #[must_use]
    pub fn admit_on_first_sight(mut self) -> Self {
        self.admit_first_sight = true;
        self
    }
}

/// One verified token.
pub(crate) struct Entry {
    claims: Arc<dyn Any + Send + Sync>,
    exp: i64,
    issuer: usize,
    kid: Option<Arc<str>>,
    fingerprint: [u8; 32],
}

/// Weighs a cache entry by its key (the token, stored twice: key and index) plus a fixed
/// overhead, never below a floor. Shared by the verified-token and introspection caches.
#[derive(Clone)]
pub(crate) struct Weigh {
    pub(crate) per_entry_floor: u64,
}

impl<V> quick_cache::Weighter<Box<str>, Arc<V>> for Weigh {
    fn weight(&self, key: &Box<str>, _: &Arc<V>) -> u64 {
        let bytes = (key.len() as u64).saturating_mul(2).saturating_add(512);
        bytes.max(self.per_entry_floor)
    }
}

const DOORKEEPER_SLOTS: usize = 1 << 16;

/// Remembers (a hash of) tokens seen once, so that only a token's second successful
/// verification inserts it. Collisions only make admission earlier or later.
struct Doorkeeper {
    hasher: foldhash::fast::RandomState,
    slots: Box<[AtomicU64]>,
}

impl Doorkeeper {
    fn new() -> Self {
        Doorkeeper {
            hasher: foldhash::fast::RandomState::default(),
            slots: (0..DOORKEEPER_SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// True when `token` was seen before (and forgets it); else remembers it.
    ///
    /// Hashes the length and the last 64 bytes only: they end in the signature, which
    /// differs between any two tokens that verified (a collision would only make one
    /// admission earlier or later), and a full ~650-byte hash was 0.5% of a cold
    /// request's server CPU.
    fn second_sighting(&self, token: &str) -> bool {
        let tail = &token.as_bytes()[token.len().saturating_sub(64)..];
        let h = self.hasher.hash_one((token.len(), tail)) | 1; // 0 marks an empty slot
        let slot = &self.slots[(h as usize) & (DOORKEEPER_SLOTS - 1)];
        if slot.load(Ordering::Relaxed) == h {
            slot.store(0, Ordering::Relaxed);
            true
        } else {
            slot.store(h, Ordering::Relaxed);
            false
        }
    }
}

/// The cache itself (shared by clones of an authenticator).
pub(crate) struct TokenCache {
    inner: quick_cache::sync::Cache<Box<str>, Arc<Entry>, Weigh>,
    doorkeeper: Option<Doorkeeper>,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("len", &self.inner.len())
            .field("weight", &self.inner.weight())
            .finish()
    }
}

impl TokenCache {
    pub(crate) fn new(cfg: CacheConfig) -> Self {
        let entries = cfg.max_entries.max(1);
        let capacity = cfg.max_bytes.max(1) as u64;
        // every entry weighs at least capacity / max_entries, so the count bound holds too
        let floor = capacity.div_ceil(entries as u64).max(1);
        TokenCache {
            inner: quick_cache::sync::Cache::with_weighter(
                entries,
                capacity,
                Weigh {
                    per_entry_floor: floor,
                },
            ),
            doorkeeper: (!cfg.admit_first_sight).then(Doorkeeper::new),
        }
    }

    /// A still-valid hit. `key_current(issuer, kid, fingerprint)` says whether the key
    /// that verified the token is still in that issuer's current key set.
    pub(crate) fn get<X: Send + Sync + 'static>(
        &self,
        token: &str,
        now: i64,
        key_current: impl FnOnce(usize, Option<&str>, &[u8; 32]) -> bool,
    ) -> Option<Arc<Claims<X>>> {
        let Some(e) = self.inner.get(token) else {
            crate::metrics::token_cache_lookup(false);
            return None;
        };
        if now >= e.exp || !key_current(e.issuer, e.kid.as_deref(), &e.fingerprint) {
            self.inner.remove(token);
            crate::metrics::token_cache_lookup(false);
            return None;
        }
        let hit = e.claims.clone().downcast::<Claims<X>>().ok();
        crate::metrics::token_cache_lookup(hit.is_some());
        hit
    }

    /// Remembers a successful verification (tokens without `exp` are not cached).
    pub(crate) fn insert<X: Send + Sync + 'static>(
        &self,
        token: &str,
        claims: &Arc<Claims<X>>,
        issuer: usize,
        key: &Key,
    ) {
        let Some(exp) = claims.exp else { return };
        if let Some(d) = &self.doorkeeper
            && !d.second_sighting(token)
        {
            return;
        }
        let entry = Entry {
            claims: claims.clone(),
            exp: exp.as_secs(),
            issuer,
            kid: key.kid_arc(),
            fingerprint: *key.fingerprint(),
        };
        self.inner.insert(token.into(), Arc::new(entry));
        crate::metrics::token_cache_entries(self.inner.len());
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.inner.len()
    }
}
