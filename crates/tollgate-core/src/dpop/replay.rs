//! The DPoP replay store: atomic check-and-insert of (jkt, jti), entries expiring with
//! the proof's acceptance window.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use crate::error::DpopError;

/// What the replay store remembers of a proof: SHA-256 of its key thumbprint and of its
/// `jti` (fixed size, whatever the client sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReplayKey {
    jkt: [u8; 32],
    jti: [u8; 32],
}

fn sha256(b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b).as_ref());
    out
}

impl ReplayKey {
    /// The key of a proof with thumbprint `jkt` and identifier `jti`.
    #[must_use]
    pub fn new(jkt: &str, jti: &str) -> Self {
        ReplayKey {
            jkt: sha256(jkt.as_bytes()),
            jti: sha256(jti.as_bytes()),
        }
    }

    /// The hashed key thumbprint (the per-key cap counts by it).
    #[must_use]
    pub fn jkt_hash(&self) -> &[u8; 32] {
        &self.jkt
    }

    /// The 64 bytes identifying the entry (hashed jkt, then hashed jti), e.g. for a
    /// shared store's key.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(&self.jkt);
        out[32..].copy_from_slice(&self.jti);
        out
    }
}

/// A replay store: remembers each (jkt, jti) until `expires_at`.
///
/// `check_and_insert` must be atomic: of two concurrent calls with the same key, at
/// most one succeeds. When the store cannot decide (full, unreachable), it answers
/// [`DpopError::ReplayStoreFull`] or [`DpopError::ReplayStoreUnavailable`]: a proof is
/// never accepted unchecked.
pub trait ReplayStore: Send + Sync + fmt::Debug + 'static {
    /// Inserts `key` to live until `expires_at` (seconds since the epoch) unless a live
    /// entry exists: `Ok(())` for a fresh proof, [`DpopError::Replayed`] for a seen
    /// one. `now` is the current time in the same unit.
    fn check_and_insert(&self, key: ReplayKey, expires_at: i64, now: i64) -> ReplayFuture;
}

/// The answer of a [`ReplayStore`]: ready at once for in-memory stores (no
/// allocation), boxed for stores that do I/O.
#[must_use = "futures do nothing unless polled"]
pub struct ReplayFuture {
    state: FutState,
}

enum FutState {
    Ready(Option<Result<(), DpopError>>),
    Boxed(Pin<Box<dyn Future<Output = Result<(), DpopError>> + Send + 'static>>),
}

impl ReplayFuture {
    /// An answer known at once.
    pub fn ready(result: Result<(), DpopError>) -> Self {
        ReplayFuture {
            state: FutState::Ready(Some(result)),
        }
    }

    /// An answer that needs I/O.
    pub fn boxed(fut: impl Future<Output = Result<(), DpopError>> + Send + 'static) -> Self {
        ReplayFuture {
            state: FutState::Boxed(Box::pin(fut)),
        }
    }

    /// The answer when it is already known (an in-memory store), without polling.
    pub fn now_or_never(self) -> Option<Result<(), DpopError>> {
        match self.state {
            FutState::Ready(r) => r,
            FutState::Boxed(_) => None,
        }
    }
}

impl fmt::Debug for ReplayFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.state {
            FutState::Ready(_) => "ReplayFuture::Ready",
            FutState::Boxed(_) => "ReplayFuture::Boxed",
        })
    }
}

impl Future for ReplayFuture {
    type Output = Result<(), DpopError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().state {
            // polled after completion: refuse rather than accept
            FutState::Ready(r) => Poll::Ready(r.take().unwrap_or(Err(DpopError::Replayed))),
            FutState::Boxed(f) => f.as_mut().poll(cx),
        }
    }
}

/// Bounds of a [`MemoryReplayStore`]. The store has 16 shards chosen by key
/// thumbprint, each holding at most `max_entries / 16` (rounded up): one client fills
/// at most its shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplayStoreConfig {
    /// Live entries at most (default 100 000); a full store refuses with 503.
    pub max_entries: usize,
    /// Live entries of one key thumbprint at most (default 10 000), so one client
    /// cannot fill the store for everyone.
    pub max_per_key: usize,
}

impl Default for ReplayStoreConfig {
    fn default() -> Self {
        ReplayStoreConfig {
            max_entries: 100_000,
            max_per_key: 10_000,
        }
    }
}

impl ReplayStoreConfig {
    /// A configuration with these bounds.
    #[must_use]
    pub fn new(max_entries: usize, max_per_key: usize) -> Self {
        ReplayStoreConfig {
            max_entries,
            max_per_key,
        }
    }
}

const SHARDS: usize = 16;

#[derive(Default)]
struct Shard {
    live: HashMap<ReplayKey, i64>,
    per_key: HashMap<[u8; 32], usize>,
    /// Insertion order with expiry: expired entries are dropped from the front.
    order: VecDeque<(i64, ReplayKey)>,
}

impl Shard {
    fn forget(&mut self, key: &ReplayKey) {
        if self.live.remove(key).is_some()
            && let Some(n) = self.per_key.get_mut(&key.jkt)
        {
            *n -= 1;
            if *n == 0 {
                self.per_key.remove(&key.jkt);
            }
        }
    }

    fn purge_front(&mut self, now: i64) {
        while let Some(&(exp, key)) = self.order.front() {
            if exp > now {
                break;
            }
            self.order.pop_front();
            if self.live.get(&key) == Some(&exp) {
                self.forget(&key);
            }
        }
    }

    fn purge_all(&mut self, now: i64) {
        let expired: Vec<ReplayKey> = self
            .live
            .iter()
            .filter(|(_, exp)| **exp <= now)
            .map(|(k, _)| *k)
            .collect();
        for k in &expired {
            self.forget(k);
        }
        let live = &self.live;
        self.order
            .retain(|(exp, k)| *exp > now && live.get(k) == Some(exp));
    }
}

/// The in-memory [`ReplayStore`]: bounded in entries and per key thumbprint, sharded
/// by key thumbprint (16 locks). One process only: replicas behind a load balancer need
/// a shared store.
///
/// ```
/// use tollgate_core::dpop::{MemoryReplayStore, ReplayKey, ReplayStore};
/// use tollgate_core::error::DpopError;
///
/// let store = MemoryReplayStore::default();
/// let key = ReplayKey::new("thumbprint", "jti-1");
/// // accepted once, refused while the entry lives, accepted again after it expired
/// assert_eq!(store.check_and_insert(key, 160, 100).now_or_never(), Some(Ok(())));
/// assert_eq!(store.check_and_insert(key, 170, 110).now_or_never(), Some(Err(DpopError::Replayed)));
/// assert_eq!(store.check_and_insert(key, 260, 200).now_or_never(), Some(Ok(())));
/// ```
pub struct MemoryReplayStore {
    config: ReplayStoreConfig,
    shard_cap: usize,
    shards: Box<[Mutex<Shard>]>,
}

impl Default for MemoryReplayStore {
    fn default() -> Self {
        MemoryReplayStore::new(ReplayStoreConfig::default())
    }
}

impl fmt::Debug for MemoryReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryReplayStore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl MemoryReplayStore {
    /// A store with these bounds.
    #[must_use]
    pub fn new(config: ReplayStoreConfig) -> Self {
        MemoryReplayStore {
            config,
            shard_cap: config.max_entries.div_ceil(SHARDS),
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
        }
    }

    /// Entries held (live or expired but not yet dropped).
    #[must_use]
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |s| s.live.len()))
            .sum()
    }

    /// True when no entry is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn insert(&self, key: ReplayKey, expires_at: i64, now: i64) -> Result<(), DpopError> {
        let shard = &self.shards[usize::from(key.jkt[0]) % SHARDS];
        // a poisoned lock means a panic mid-update: refuse rather than guess
        let mut s = shard
            .lock()
            .map_err(|_| DpopError::ReplayStoreUnavailable)?;
        s.purge_front(now);
        let existing = s.live.get(&key).copied();
        match existing {
            Some(exp) if exp > now => return Err(DpopError::Replayed),
            Some(_) => {
                // expired but not yet dropped: reuse its slot
                s.live.insert(key, expires_at);
                s.order.push_back((expires_at, key));
                return Ok(());
            }
            None => {}
        }
        if s.live.len() >= self.shard_cap {
            s.purge_all(now);
            if s.live.len() >= self.shard_cap {
                return Err(DpopError::ReplayStoreFull);
            }
        }
        let count = s.per_key.get(&key.jkt).copied().unwrap_or(0);
        if count >= self.config.max_per_key {
            s.purge_all(now);
            if s.per_key.get(&key.jkt).copied().unwrap_or(0) >= self.config.max_per_key {
                return Err(DpopError::ReplayStoreFull);
            }
        }
        s.live.insert(key, expires_at);
        *s.per_key.entry(key.jkt).or_insert(0) += 1;
        s.order.push_back((expires_at, key));
        Ok(())
    }
}

impl ReplayStore for MemoryReplayStore {
    fn check_and_insert(&self, key: ReplayKey, expires_at: i64, now: i64) -> ReplayFuture {
        if expires_at <= now {
            // nothing to remember: such a proof is already outside its window
            return ReplayFuture::ready(Err(DpopError::Replayed));
        }
        ReplayFuture::ready(self.insert(key, expires_at, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn ins(
        s: &MemoryReplayStore,
        jkt: &str,
        jti: &str,
        exp: i64,
        now: i64,
    ) -> Result<(), DpopError> {
        s.check_and_insert(ReplayKey::new(jkt, jti), exp, now)
            .now_or_never()
            .unwrap()
    }

    #[test]
    fn replay_expiry_and_bounds() {
        let s = MemoryReplayStore::new(ReplayStoreConfig::new(1600, 3));
        assert_eq!(ins(&s, "a", "1", 100, 0), Ok(()));
        assert_eq!(ins(&s, "a", "1", 100, 50), Err(DpopError::Replayed));
        // same jti under another key is another proof
        assert_eq!(ins(&s, "b", "1", 100, 50), Ok(()));
        // per-key cap: a has 1, add 2 more, the 4th is refused (503), b unaffected
        assert_eq!(ins(&s, "a", "2", 100, 50), Ok(()));
        assert_eq!(ins(&s, "a", "3", 100, 50), Ok(()));
        assert_eq!(ins(&s, "a", "4", 100, 50), Err(DpopError::ReplayStoreFull));
        assert_eq!(ins(&s, "b", "2", 100, 50), Ok(()));
        // after expiry the slots free up and the old jti is accepted again
        assert_eq!(ins(&s, "a", "4", 200, 100), Ok(()));
        assert_eq!(ins(&s, "a", "1", 200, 100), Ok(()));
        // an already expired entry is never inserted
        assert_eq!(ins(&s, "c", "1", 10, 10), Err(DpopError::Replayed));
    }

    #[test]
    fn full_store_refuses_never_evicts() {
        // 16 shards of 1: keys landing in the same shard fill it
        let s = MemoryReplayStore::new(ReplayStoreConfig::new(16, 100));
        let mut refused = 0;
        for i in 0..64 {
            match ins(&s, &format!("k{i}"), "j", 100, 0) {
                Ok(()) => {}
                Err(DpopError::ReplayStoreFull) => refused += 1,
                Err(e) => panic!("{e:?}"),
            }
        }
        assert!(refused > 0);
        assert!(s.len() <= 16);
        // everything inserted is still remembered (nothing was evicted)
        for i in 0..64 {
            let r = ins(&s, &format!("k{i}"), "j", 100, 1);
            assert!(
                matches!(r, Err(DpopError::Replayed | DpopError::ReplayStoreFull)),
                "{r:?}"
            );
        }
        // once expired, room again
        assert_eq!(ins(&s, "k0", "j", 300, 200), Ok(()));
    }

    #[test]
    fn concurrent_same_key_accepted_once() {
        let s = Arc::new(MemoryReplayStore::default());
        for round in 0..50 {
            let ok = Arc::new(AtomicUsize::new(0));
            let threads: Vec<_> = (0..8)
                .map(|_| {
                    let s = s.clone();
                    let ok = ok.clone();
                    std::thread::spawn(move || {
                        if ins(&s, "client", &format!("jti-{round}"), 100, 0).is_ok() {
                            ok.fetch_add(1, Ordering::SeqCst);
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            assert_eq!(ok.load(Ordering::SeqCst), 1, "round {round}");
        }
    }

    #[test]
    fn concurrent_distinct_keys_all_accepted() {
        let s = Arc::new(MemoryReplayStore::default());
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let s = s.clone();
                std::thread::spawn(move || {
                    (0..500)
                        .filter(|i| ins(&s, &format!("c{t}"), &format!("{i}"), 100, 0).is_ok())
                        .count()
                })
            })
            .collect();
        let total: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(total, 4000);
        assert_eq!(s.len(), 4000);
    }
}
