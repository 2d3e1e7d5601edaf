//! State shared by replicas, on Redis (feature `redis`): the DPoP replay store, the
//! introspection cache and the introspection budget's per-second count.
//!
//! Verification is stateless; three things are not. A DPoP proof replayed against
//! another replica must still be refused, an opaque token should be introspected
//! once for the fleet rather than once per replica, and the introspection budget
//! (`max_per_sec`) should hold for the fleet. [`RedisStore`] is one connection
//! (a `redis` crate `ConnectionManager`, which
//! reconnects by itself when Redis comes back) handing out all three:
//!
//! - [`RedisReplayStore`]: the in-memory [`MemoryReplayStore`] first (a proof this
//!   replica has seen is refused without asking Redis), then an atomic
//!   `SET <prefix>dpop:<key> 1 NX PX <window ms>`: of all replicas, exactly one sees
//!   `OK` for a given (key thumbprint, `jti`). Keys are base64url of the SHA-256 of
//!   the thumbprint and of the `jti` ([`ReplayKey::to_bytes`]), never the values.
//! - [`RedisAnswers`], an [`introspect::SharedCache`](crate::introspect::SharedCache):
//!   `<prefix>introspect:<base64url(SHA-256(token))>` (never the token) holding the
//!   authorization server's answer, which every replica verifies again on reading.
//! - [`RedisBudget`], an [`introspect::SharedBudget`](crate::introspect::SharedBudget):
//!   a fixed one-second window counter of new introspection calls,
//!   `<prefix>budget:<base64url(SHA-256(endpoint))[..16]>:<unix second>`, incremented
//!   atomically (a Lua script: `INCR`, then `EXPIRE 2` on the first increment). A call
//!   is made when the window's count is at most `max_per_sec`, so the fleet makes at
//!   most `max_per_sec × (⌈T⌉ + 1)` calls over *T* seconds (a burst may straddle a
//!   window boundary). The window is the replica's own clock: keep the replicas'
//!   clocks synchronised (NTP); a skew lets each skewed replica count in another
//!   window. The local token bucket and the in-flight cap stay in front, per replica.
//!
//! **Failure behaviour.** Every Redis operation has a timeout (default 50 ms). A
//! replay check that Redis does not answer in time (down, slow, unreachable) is
//! refused with [`DpopError::ReplayStoreUnavailable`] (503 + `Retry-After`): the
//! check is never skipped silently. [`ReplayFallback::LocalOnly`] opts into checking
//! against this replica's memory alone while Redis is away (logged at warn: a proof
//! can then be replayed once per replica). The introspection cache falls back to the
//! local cache and the authorization server, with no error for the client, and the
//! budget to this replica's own (logged at warn once when the fleet count is lost,
//! at info when it is back; at debug per request). When Redis returns, the connection
//! manager reconnects: no restart needed.
//!
//! ```no_run
//! use tollgate_core::dpop::DpopVerifier;
//! use tollgate_core::redis::{RedisReplayStore, RedisStore};
//!
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! // within a tokio runtime
//! let redis = RedisStore::builder("redis://127.0.0.1:6379/0").prefix("orders:").build()?;
//! let verifier = DpopVerifier::builder()
//!     .replay_store(RedisReplayStore::new(redis.clone()))
//!     .build()?;
//! # let _ = verifier; Ok(()) }
//! ```

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use base64::Engine as _;

use crate::dpop::{MemoryReplayStore, ReplayFuture, ReplayKey, ReplayStore};
use crate::error::DpopError;
use crate::introspect::{SharedBudget, SharedCache, SharedFuture};

/// The default key prefix.
pub const DEFAULT_PREFIX: &str = "tollgate:";
/// The default timeout of one Redis operation.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(50);

/// Why a [`RedisStore`] could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisSetupError {
    /// The URL is not a Redis URL this build can use (`redis://host:port/db`).
    #[error("not a usable Redis URL (redis://host:port/db): {reason}")]
    Url {
        /// What is wrong (never the password).
        reason: String,
    },
    /// Not called within a tokio runtime.
    #[error("the Redis store must be built within a tokio runtime")]
    NoRuntime,
    /// The timeout is zero.
    #[error("the Redis timeout must be more than zero")]
    ZeroTimeout,
}

/// Builder of a [`RedisStore`] (from [`RedisStore::builder`]).
#[derive(Clone)]
#[must_use]
pub struct RedisStoreBuilder {
    url: String,
    prefix: String,
    timeout: Duration,
}

impl fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // the URL may hold a password: not printed
        f.debug_struct("RedisStoreBuilder")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisStoreBuilder {
    /// The prefix of every key (default [`DEFAULT_PREFIX`]): services sharing one
    /// Redis use different prefixes and never see each other's entries.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The timeout of one Redis operation (default 50 ms), connecting included.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Checks the URL and sets up the connection manager; connects lazily (Redis need
    /// not be up at start, and may come and go). Must be called within a tokio
    /// runtime.
    ///
    /// # Errors
    /// [`RedisSetupError`].
    pub fn build(self) -> Result<RedisStore, RedisSetupError> {
        tokio::runtime::Handle::try_current().map_err(|_| RedisSetupError::NoRuntime)?;
        if self.timeout.is_zero() {
            return Err(RedisSetupError::ZeroTimeout);
        }
        let client = parse_url(&self.url)?;
        // reconnect attempts are short and few: the operations have their own timeout,
        // and a failed attempt is retried on the next operation
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(Duration::from_millis(500))
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(None);
        let conn = ConnectionManager::new_lazy_with_config(client, config).map_err(|e| {
            RedisSetupError::Url {
                reason: e.to_string(),
            }
        })?;
        // connect now in the background, so the first request does not pay for it
        let mut warm = conn.clone();
        tokio::spawn(async move {
            let _ = ::redis::cmd("PING").query_async::<()>(&mut warm).await;
        });
        Ok(RedisStore {
            inner: Arc::new(Inner {
                conn,
                prefix: self.prefix,
                timeout: self.timeout,
            }),
        })
    }
}

/// Parses and checks a Redis URL without connecting.
fn parse_url(url: &str) -> Result<::redis::Client, RedisSetupError> {
    let url = url.trim();
    if !(url.starts_with("redis://") || url.starts_with("redis+unix://")) {
        return Err(RedisSetupError::Url {
            reason: "the scheme must be redis:// (or redis+unix://)".to_owned(),
        });
    }
    ::redis::Client::open(url).map_err(|e| RedisSetupError::Url {
        // the redis crate's message names the problem, not the URL's parts
        reason: e.to_string(),
    })
}

/// Checks a Redis URL without connecting (for configuration checks at start-up).
///
/// # Errors
/// [`RedisSetupError::Url`].
pub fn check_url(url: &str) -> Result<(), RedisSetupError> {
    parse_url(url).map(|_| ())
}

struct Inner {
    conn: ConnectionManager,
    prefix: String,
    timeout: Duration,
}

/// One Redis (URL, key prefix, timeout) shared by the replay store and the
/// introspection cache; see the [module docs](self). Cheap to clone.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.inner.prefix)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl RedisStore {
    /// A builder for the Redis at `url` (`redis://[:password@]host:port/db`).
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder {
            url: url.into(),
            prefix: DEFAULT_PREFIX.to_owned(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The key prefix.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The timeout of one operation.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// The Redis key of a replay entry.
    #[must_use]
    pub fn replay_key(&self, key: &ReplayKey) -> String {
        format!("{}dpop:{}", self.inner.prefix, b64(&key.to_bytes()))
    }

    /// The Redis key of an introspection answer (`token_hash`: SHA-256 of the token).
    #[must_use]
    pub fn answer_key(&self, token_hash: &[u8; 32]) -> String {
        format!("{}introspect:{}", self.inner.prefix, b64(token_hash))
    }

    /// The Redis key of the fleet's count of new introspection calls to the
    /// authorization server identified by `scope` (SHA-256 of its endpoint) during the
    /// unix second `second`: `<prefix>budget:<16 characters of base64url(scope)>:<second>`.
    #[must_use]
    pub fn budget_key(&self, scope: &[u8; 32], second: u64) -> String {
        format!(
            "{}budget:{}:{second}",
            self.inner.prefix,
            b64(&scope[..BUDGET_SCOPE_BYTES])
        )
    }

    /// Adds one to the counter at `key` (atomically setting its 2 s expiry on the
    /// first increment) within the timeout: the new count.
    async fn incr_window(&self, key: String) -> Result<u64, String> {
        let mut conn = self.inner.conn.clone();
        let cmd = ::redis::cmd("EVAL")
            .arg(BUDGET_SCRIPT)
            .arg(1)
            .arg(key)
            .arg(BUDGET_WINDOW_TTL_SECS)
            .to_owned();
        match tokio::time::timeout(self.inner.timeout, cmd.query_async::<u64>(&mut conn)).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err(format!(
                "no answer within {} ms",
                self.inner.timeout.as_millis()
            )),
        }
    }

    /// `SET key 1 NX PX ms` within the timeout: `Ok(true)` when set (first sighting),
    /// `Ok(false)` when the key exists, `Err` when Redis did not answer in time.
    async fn set_nx(&self, key: String, ms: u64) -> Result<bool, String> {
        let mut conn = self.inner.conn.clone();
        let cmd = ::redis::cmd("SET")
            .arg(key)
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(ms.max(1))
            .to_owned();
        match tokio::time::timeout(
            self.inner.timeout,
            cmd.query_async::<Option<String>>(&mut conn),
        )
        .await
        {
            Ok(Ok(set)) => Ok(set.is_some()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "no answer within {} ms",
                self.inner.timeout.as_millis()
            )),
        }
    }

    async fn get(&self, key: String) -> Result<Option<Vec<u8>>, String> {
        let mut conn = self.inner.conn.clone();
        let cmd = ::redis::cmd("GET").arg(key).to_owned();
        match tokio::time::timeout(
            self.inner.timeout,
            cmd.query_async::<Option<Vec<u8>>>(&mut conn),
        )
        .await
        {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err(format!(
                "no answer within {} ms",
                self.inner.timeout.as_millis()
            )),
        }
    }

    async fn set_px(&self, key: String, value: Vec<u8>, ms: u64) -> Result<(), String> {
        let mut conn = self.inner.conn.clone();
        let cmd = ::redis::cmd("SET")
            .arg(key)
            .arg(value)
            .arg("PX")
            .arg(ms.max(1))
            .to_owned();
        match tokio::time::timeout(self.inner.timeout, cmd.query_async::<()>(&mut conn)).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err(format!(
                "no answer within {} ms",
                self.inner.timeout.as_millis()
            )),
        }
    }

    /// The introspection cache on this Redis.
    #[must_use]
    pub fn answers(&self) -> RedisAnswers {
        RedisAnswers {
            store: self.clone(),
        }
    }

    /// The fleet's count of new introspection calls per second on this Redis (for
    /// [`IntrospectorBuilder::shared_budget`](crate::introspect::IntrospectorBuilder::shared_budget)).
    #[must_use]
    pub fn budget(&self) -> RedisBudget {
        RedisBudget {
            store: self.clone(),
            lost: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// Bytes of the endpoint's SHA-256 in a budget key (16 base64url characters).
const BUDGET_SCOPE_BYTES: usize = 12;
/// Life of a budget window's counter: its own second and the next (then gone).
const BUDGET_WINDOW_TTL_SECS: u64 = 2;
/// `INCR`, and the expiry on the first increment, in one atomic step.
const BUDGET_SCRIPT: &str = "local n = redis.call('INCR', KEYS[1]) \
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end \
return n";

/// The introspection budget's per-second count shared by replicas (from
/// [`RedisStore::budget`]): see the [module docs](self). A Redis that does not answer
/// within the timeout leaves each replica to its own budget (logged at warn once,
/// then at info when the count is back), never blocks a request beyond the timeout.
#[derive(Debug, Clone)]
pub struct RedisBudget {
    store: RedisStore,
    /// Whether the last count failed (to log the change, not every request).
    lost: Arc<AtomicBool>,
}

/// The current unix second by this replica's clock.
fn unix_second() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl SharedBudget for RedisBudget {
    fn count(&self, scope: &[u8; 32]) -> SharedFuture<Option<u64>> {
        let store = self.store.clone();
        let lost = self.lost.clone();
        let key = store.budget_key(scope, unix_second());
        Box::pin(async move {
            match store.incr_window(key).await {
                Ok(n) => {
                    if lost.swap(false, Ordering::Relaxed) {
                        tracing::info!(target: "tollgate::redis",
                            "Redis introspection budget back; counting for the fleet again");
                    }
                    Some(n)
                }
                Err(why) => {
                    if lost.swap(true, Ordering::Relaxed) {
                        tracing::debug!(target: "tollgate::redis", error = %why,
                            "Redis introspection budget unavailable; this replica's budget only");
                    } else {
                        tracing::warn!(target: "tollgate::redis", error = %why,
                            "Redis introspection budget unavailable; each replica keeps to its own budget until it is back");
                    }
                    None
                }
            }
        })
    }
}

/// What a [`RedisReplayStore`] does when Redis cannot answer in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ReplayFallback {
    /// Refuse the proof with 503 + `Retry-After` (the default: the check is never
    /// skipped).
    #[default]
    Refuse,
    /// Check against this replica's memory alone, logged at warn: while Redis is
    /// away a proof can be replayed once against each other replica.
    LocalOnly,
}

/// The DPoP [`ReplayStore`] shared by replicas: this replica's memory first, then an
/// atomic `SET NX PX` on Redis; see the [module docs](self).
#[derive(Debug)]
pub struct RedisReplayStore {
    local: MemoryReplayStore,
    redis: RedisStore,
    fallback: ReplayFallback,
}

impl RedisReplayStore {
    /// A store on `redis` with a default [`MemoryReplayStore`] in front and
    /// [`ReplayFallback::Refuse`].
    #[must_use]
    pub fn new(redis: RedisStore) -> Self {
        RedisReplayStore {
            local: MemoryReplayStore::default(),
            redis,
            fallback: ReplayFallback::Refuse,
        }
    }

    /// Another in-memory store in front (its bounds).
    #[must_use]
    pub fn local(mut self, local: MemoryReplayStore) -> Self {
        self.local = local;
        self
    }

    /// What to do when Redis cannot answer (default [`ReplayFallback::Refuse`]).
    #[must_use]
    pub fn fallback(mut self, fallback: ReplayFallback) -> Self {
        self.fallback = fallback;
        self
    }
}

impl ReplayStore for RedisReplayStore {
    fn check_and_insert(&self, key: ReplayKey, expires_at: i64, now: i64) -> ReplayFuture {
        let local_ok = match self
            .local
            .check_and_insert(key, expires_at, now)
            .now_or_never()
        {
            // seen here (or outside its window): refused without asking Redis
            Some(Err(DpopError::Replayed)) => return ReplayFuture::ready(Err(DpopError::Replayed)),
            Some(Ok(())) => true,
            // memory full: Redis alone decides
            _ => false,
        };
        let ms = u64::try_from(expires_at.saturating_sub(now))
            .unwrap_or(0)
            .saturating_mul(1000);
        let redis = self.redis.clone();
        let rkey = redis.replay_key(&key);
        let fallback = self.fallback;
        ReplayFuture::boxed(async move {
            match redis.set_nx(rkey, ms).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(DpopError::Replayed),
                Err(why) if fallback == ReplayFallback::LocalOnly && local_ok => {
                    tracing::warn!(target: "tollgate::redis", error = %why,
                        "Redis replay store unavailable; DPoP proof checked against this replica only");
                    Ok(())
                }
                Err(why) => {
                    tracing::warn!(target: "tollgate::redis", error = %why,
                        "Redis replay store unavailable; answering 503");
                    Err(DpopError::ReplayStoreUnavailable)
                }
            }
        })
    }
}

/// The introspection cache on Redis (from [`RedisStore::answers`]); a failure is a
/// miss (logged at debug), never an error for the client.
#[derive(Debug, Clone)]
pub struct RedisAnswers {
    store: RedisStore,
}

impl SharedCache for RedisAnswers {
    fn get(&self, token_hash: &[u8; 32]) -> SharedFuture<Option<Vec<u8>>> {
        let store = self.store.clone();
        let key = store.answer_key(token_hash);
        Box::pin(async move {
            match store.get(key).await {
                Ok(v) => v,
                Err(why) => {
                    tracing::debug!(target: "tollgate::redis", error = %why,
                        "Redis introspection cache unavailable; asking the authorization server");
                    None
                }
            }
        })
    }

    fn put(&self, token_hash: &[u8; 32], answer: Vec<u8>, ttl: Duration) -> SharedFuture<()> {
        let store = self.store.clone();
        let key = store.answer_key(token_hash);
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        Box::pin(async move {
            if let Err(why) = store.set_px(key, answer, ms).await {
                tracing::debug!(target: "tollgate::redis", error = %why,
                    "Redis introspection cache unavailable; answer kept locally only");
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_checked_without_connecting() {
        assert!(check_url("redis://127.0.0.1:6379/0").is_ok());
        assert!(check_url("redis://:secret@127.0.0.1:6379/2").is_ok());
        for bad in ["", "http://127.0.0.1:6379", "127.0.0.1:6379", "redis://"] {
            assert!(
                matches!(check_url(bad), Err(RedisSetupError::Url { .. })),
                "{bad}"
            );
        }
        let e = check_url("https://user:hunter2@redis.example").unwrap_err();
        assert!(!e.to_string().contains("hunter2"));
    }

    #[tokio::test]
    async fn keys_carry_the_prefix_and_no_raw_values() {
        let s = RedisStore::builder("redis://127.0.0.1:9/0")
            .prefix("orders:")
            .build()
            .expect("lazy");
        let k = s.replay_key(&ReplayKey::new("thumb", "jti-secret"));
        assert!(k.starts_with("orders:dpop:"));
        assert!(!k.contains("jti-secret") && !k.contains("thumb"));
        assert_eq!(k.len(), "orders:dpop:".len() + 86);
        assert!(s.answer_key(&[7; 32]).starts_with("orders:introspect:"));
        // one counter per endpoint and unix second, the endpoint hashed and shortened
        let k = s.budget_key(&[0xfb; 32], 1_700_000_000);
        assert_eq!(k, "orders:budget:-_v7-_v7-_v7-_v7:1700000000");
        assert_ne!(k, s.budget_key(&[0xfb; 32], 1_700_000_001));
        assert_ne!(k, s.budget_key(&[0xfa; 32], 1_700_000_000));
    }

    #[tokio::test]
    async fn unreachable_redis_leaves_the_budget_local() {
        // nothing listens on port 9: no count, so the introspector keeps to its own
        let s = RedisStore::builder("redis://127.0.0.1:9/0")
            .build()
            .expect("lazy");
        let budget = s.budget();
        let started = std::time::Instant::now();
        assert_eq!(budget.count(&[1; 32]).await, None);
        assert_eq!(budget.count(&[1; 32]).await, None);
        assert!(budget.lost.load(Ordering::Relaxed));
        // bounded by the timeout (50 ms each), with room for a busy machine
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn needs_a_runtime() {
        assert!(matches!(
            RedisStore::builder("redis://127.0.0.1:6379/0").build(),
            Err(RedisSetupError::NoRuntime)
        ));
    }

    #[tokio::test]
    async fn unreachable_redis_refuses_within_the_timeout() {
        // nothing listens on port 9: connection refused
        let s = RedisStore::builder("redis://127.0.0.1:9/0")
            .build()
            .expect("lazy");
        let store = RedisReplayStore::new(s.clone());
        let key = ReplayKey::new("a", "1");
        assert_eq!(
            store.check_and_insert(key, 100, 40).await,
            Err(DpopError::ReplayStoreUnavailable)
        );
        // the same proof again: refused by memory alone, no Redis needed
        assert_eq!(
            store.check_and_insert(key, 100, 41).now_or_never(),
            Some(Err(DpopError::Replayed))
        );
        // local-only fallback: accepted once, refused after
        let store = RedisReplayStore::new(s).fallback(ReplayFallback::LocalOnly);
        let key = ReplayKey::new("b", "1");
        assert_eq!(store.check_and_insert(key, 100, 40).await, Ok(()));
        assert_eq!(
            store.check_and_insert(key, 100, 41).now_or_never(),
            Some(Err(DpopError::Replayed))
        );
    }
}
