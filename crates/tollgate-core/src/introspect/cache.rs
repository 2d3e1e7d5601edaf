//! The introspection cache and the single-flight map.
//!
//! Two bounded caches keyed by the full token (bytes compared, not a hash): one for
//! active answers (kept until the earlier of the configured TTL and the answer's
//! `exp`), one for refusals (kept briefly), so a flood of unknown tokens can evict only
//! other refusals, never the active tokens of real clients.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use crate::Claims;
use crate::cache::CacheConfig;
use crate::error::AuthError;

/// An answer as shared between the flight and its waiters (type-erased claims).
pub(crate) type Shared = Result<Arc<dyn Any + Send + Sync>, AuthError>;

/// One cached answer.
struct Entry {
    value: Shared,
    /// Monotonic end of the entry's life (TTL and `exp`, whichever comes first).
    until: Instant,
    /// The answer's `exp`, checked exactly against the wall clock too.
    exp: Option<i64>,
}

use crate::cache::Weigh;

type Store = quick_cache::sync::Cache<Box<str>, Arc<Entry>, Weigh>;

fn store(cfg: CacheConfig) -> Store {
    let entries = cfg.max_entries.max(1);
    let capacity = cfg.max_bytes.max(1) as u64;
    let floor = capacity.div_ceil(entries as u64).max(1);
    quick_cache::sync::Cache::with_weighter(
        entries,
        capacity,
        Weigh {
            per_entry_floor: floor,
        },
    )
}

/// Time left until `exp` by the wall clock (zero when past).
pub(crate) fn until_exp(exp: i64) -> Duration {
    let exp = UNIX_EPOCH + Duration::from_secs(u64::try_from(exp).unwrap_or(0));
    exp.duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO)
}

/// An in-flight introspection call that later requests for the same token join.
struct Flight {
    id: u64,
    rx: watch::Receiver<Option<Shared>>,
}

pub(crate) struct AnswerCache {
    positive: Option<Store>,
    negative: Option<Store>,
    ttl: Duration,
    negative_ttl: Duration,
    flights: Mutex<HashMap<Box<str>, Flight>>,
    next_flight: std::sync::atomic::AtomicU64,
}

impl fmt::Debug for AnswerCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnswerCache")
            .field("ttl", &self.ttl)
            .field("negative_ttl", &self.negative_ttl)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

/// What [`AnswerCache::join_or_start`] decided (`P`: the admission's permit, `S`: its
/// refusal).
pub(crate) enum Joined<X, P, S> {
    /// The answer is cached.
    Cached(Result<Arc<Claims<X>>, AuthError>),
    /// Another request is asking: wait for its answer.
    Wait(watch::Receiver<Option<Shared>>),
    /// This request asks: perform the call, then [`AnswerCache::finish`].
    Start {
        id: u64,
        tx: watch::Sender<Option<Shared>>,
        rx: watch::Receiver<Option<Shared>>,
        permit: P,
    },
    /// A call would be needed and admission refused it: no flight was opened.
    Refused(S),
}

impl AnswerCache {
    pub(crate) fn new(
        positive: CacheConfig,
        ttl: Duration,
        negative_entries: usize,
        negative_ttl: Duration,
    ) -> Self {
        AnswerCache {
            positive: (!ttl.is_zero()).then(|| store(positive)),
            negative: (!negative_ttl.is_zero() && negative_entries > 0).then(|| {
                store(
                    CacheConfig::default()
                        .max_entries(negative_entries)
                        .max_bytes(negative_entries.saturating_mul(1024)),
                )
            }),
            ttl,
            negative_ttl,
            flights: Mutex::new(HashMap::new()),
            next_flight: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The TTL of active answers (zero: not cached).
    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The TTL of refusals (zero: not cached).
    pub(crate) fn negative_ttl(&self) -> Duration {
        self.negative_ttl
    }

    /// A cached answer that is still valid.
    pub(crate) fn get<X: Send + Sync + 'static>(
        &self,
        token: &str,
    ) -> Option<Result<Arc<Claims<X>>, AuthError>> {
        let now = Instant::now();
        for store in [&self.positive, &self.negative].into_iter().flatten() {
            let Some(e) = store.get(token) else { continue };
            let past_exp = e
                .exp
                .is_some_and(|exp| crate::validation::now_secs() >= exp);
            if now >= e.until || past_exp {
                store.remove(token);
                continue;
            }
            return match &e.value {
                Ok(any) => any.clone().downcast::<Claims<X>>().ok().map(Ok),
                Err(err) => Some(Err(err.clone())),
            };
        }
        None
    }

    /// Remembers an answer: active ones until min(TTL, `exp`), refusals for the
    /// negative TTL; an unavailable endpoint is never remembered.
    pub(crate) fn put(&self, token: &str, value: &Shared, exp: Option<i64>) {
        let (store, life) = match value {
            Ok(_) => {
                let life = exp.map_or(self.ttl, |e| self.ttl.min(until_exp(e)));
                (&self.positive, life)
            }
            Err(AuthError::Unavailable(_) | AuthError::Misconfigured) => return,
            Err(_) => (&self.negative, self.negative_ttl),
        };
        let Some(store) = store else { return };
        if life.is_zero() {
            return;
        }
        let entry = Entry {
            value: value.clone(),
            until: Instant::now() + life,
            exp,
        };
        store.insert(token.into(), Arc::new(entry));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Flight>> {
        self.flights.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Under the flight lock: the cache once more (a flight may have just finished),
    /// then an open flight for this token, else a new one if `admit` grants it (so the
    /// flights are bounded by what admission grants).
    pub(crate) fn join_or_start<X: Send + Sync + 'static, P, S>(
        &self,
        token: &str,
        admit: impl FnOnce() -> Result<P, S>,
    ) -> Joined<X, P, S> {
        let mut flights = self.lock();
        if let Some(hit) = self.get::<X>(token) {
            return Joined::Cached(hit);
        }
        if let Some(f) = flights.get(token)
            // a flight whose task is gone (panicked) cannot answer: replace it
            && f.rx.has_changed().is_ok()
        {
            return Joined::Wait(f.rx.clone());
        }
        let permit = match admit() {
            Ok(p) => p,
            Err(refused) => return Joined::Refused(refused),
        };
        let id = self
            .next_flight
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tx, rx) = watch::channel(None);
        flights.insert(token.into(), Flight { id, rx: rx.clone() });
        Joined::Start { id, tx, rx, permit }
    }

    /// Ends flight `id` for `token` (after its answer was cached and sent).
    pub(crate) fn finish(&self, token: &str, id: u64) {
        let mut flights = self.lock();
        if flights.get(token).is_some_and(|f| f.id == id) {
            flights.remove(token);
        }
    }

    /// Introspection calls in flight now.
    pub(crate) fn flights(&self) -> usize {
        self.lock().len()
    }

    /// Cached answers (active and refused).
    pub(crate) fn len(&self) -> usize {
        [&self.positive, &self.negative]
            .into_iter()
            .flatten()
            .map(quick_cache::sync::Cache::len)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: Option<i64>) -> Shared {
        let mut c = Claims::<()>::from_json(b"{}").expect("claims");
        c.exp = exp.and_then(crate::claims::NumericDate::from_secs);
        Ok(Arc::new(c))
    }

    #[test]
    fn lifetimes() {
        let c = AnswerCache::new(
            CacheConfig::default(),
            Duration::from_secs(60),
            100,
            Duration::from_secs(5),
        );
        let now = crate::validation::now_secs();
        c.put("a", &claims(Some(now + 100)), Some(now + 100));
        assert!(matches!(c.get::<()>("a"), Some(Ok(_))));
        // exp already reached: never cached
        c.put("b", &claims(Some(now)), Some(now));
        assert!(c.get::<()>("b").is_none());
        c.put("c", &Err(AuthError::Inactive), None);
        assert_eq!(
            c.get::<()>("c").and_then(Result::err),
            Some(AuthError::Inactive)
        );
        let unavailable = AuthError::Unavailable(crate::error::UnavailableError::Introspection {
            retry_after: Duration::from_secs(1),
        });
        c.put("d", &Err(unavailable), None);
        assert!(c.get::<()>("d").is_none());
        // another claims type is a miss, not a wrong answer
        assert!(c.get::<String>("a").is_none());
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn negative_cache_off() {
        let c = AnswerCache::new(
            CacheConfig::default(),
            Duration::from_secs(60),
            100,
            Duration::ZERO,
        );
        c.put("c", &Err(AuthError::Inactive), None);
        assert!(c.get::<()>("c").is_none());
    }

    #[allow(clippy::unnecessary_wraps)]
    fn ok() -> Result<(), ()> {
        Ok(())
    }

    fn no() -> Result<(), ()> {
        Err(())
    }

    #[test]
    fn single_flight_bookkeeping() {
        let c = AnswerCache::new(
            CacheConfig::default(),
            Duration::from_secs(60),
            100,
            Duration::from_secs(5),
        );
        let Joined::<(), (), ()>::Start { id, tx, .. } = c.join_or_start::<(), _, _>("t", ok)
        else {
            panic!("first request starts the flight")
        };
        assert!(matches!(
            c.join_or_start::<(), _, _>("t", no),
            Joined::Wait(_)
        ));
        c.put("t", &claims(None), None);
        let _ = tx.send(Some(claims(None)));
        c.finish("t", id);
        assert_eq!(c.flights(), 0);
        assert!(matches!(
            c.join_or_start::<(), _, _>("t", no),
            Joined::Cached(Ok(_))
        ));
        // a flight whose sender is gone is replaced
        let Joined::<(), (), ()>::Start { tx, .. } = c.join_or_start::<(), _, _>("u", ok) else {
            panic!("starts")
        };
        drop(tx);
        assert!(matches!(
            c.join_or_start::<(), _, _>("u", ok),
            Joined::Start { .. }
        ));
        // admission refused: no flight opened
        assert!(matches!(
            c.join_or_start::<(), _, _>("v", no),
            Joined::Refused(())
        ));
        assert_eq!(c.flights(), 1);
    }
}
