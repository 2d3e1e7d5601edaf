//! One issuer's key store and its refresh task.
//!
//! The request path reads `keys` (one `ArcSwapOption::load`) and nothing else. Every
//! other field is touched by the refresh task, by requests with an unknown `kid` (cold
//! path, a short `Mutex`), or by `stats()`.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwapOption;
use http::Uri;
use tokio::sync::{Notify, watch};

use crate::keys::KeySet;
use crate::oauth::HttpClient;
use crate::remote::config::{Discovery, FetchError, RefreshConfig};
use crate::remote::fetch::{self, JwksOutcome, Validators};
use crate::validation::Validation;

const TARGET: &str = "tollgate::remote";

/// Where an issuer's keys come from.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    Jwks(Uri),
    Discovery(Discovery),
}

/// A snapshot of one issuer's refresh state, from [`Issuers::stats`](super::Issuers::stats).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IssuerStats {
    /// The issuer.
    pub issuer: String,
    /// The JWKS URL in use (after discovery), if known yet.
    pub jwks_uri: Option<String>,
    /// JWKS requests sent (including conditional ones).
    pub fetches: u64,
    /// Answers 304 Not Modified.
    pub not_modified: u64,
    /// Failed JWKS or discovery fetches.
    pub failures: u64,
    /// Refreshes started because a token named an unknown `kid`.
    pub unknown_kid_refreshes: u64,
    /// Unknown-`kid` refresh requests refused by the cooldown.
    pub cooldown_suppressed: u64,
    /// When keys were last fetched or confirmed (304).
    pub last_success: Option<SystemTime>,
    /// The last failure, if the latest attempt failed.
    pub last_error: Option<FetchError>,
    /// The `kid`s of the current set (empty when there is no set).
    pub kids: Vec<String>,
    /// False while the issuer has no key set (never fetched, or dropped as stale).
    pub has_keys: bool,
}

#[derive(Default)]
struct Demand {
    /// Last ticket handed out.
    ticket: u64,
    /// Ticket of the on-demand refresh not yet served.
    pending: Option<u64>,
    /// When the last on-demand refresh was started (the cooldown window).
    last: Option<Instant>,
}

#[derive(Default)]
struct Info {
    jwks_uri: Option<String>,
    last_success: Option<SystemTime>,
    last_error: Option<FetchError>,
}

#[derive(Default)]
struct Counters {
    fetches: AtomicU64,
    not_modified: AtomicU64,
    failures: AtomicU64,
    unknown_kid_refreshes: AtomicU64,
    suppressed: AtomicU64,
}

/// One issuer: policy, keys, and what its refresh task and waiters share.
pub(crate) struct Entry {
    pub(crate) issuer: Box<str>,
    pub(crate) validation: Validation,
    pub(crate) keys: ArcSwapOption<KeySet>,
    pub(crate) cfg: RefreshConfig,
    source: Source,
    demand: Mutex<Demand>,
    wake: Notify,
    /// Highest demand ticket whose refresh has completed.
    served: watch::Sender<u64>,
    /// Completed fetch attempts (for `build()` to wait on).
    attempts: watch::Sender<u64>,
    retry_after_secs: AtomicU64,
    counters: Counters,
    metrics: crate::metrics::IssuerMetrics,
    info: Mutex<Info>,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("issuer", &self.issuer)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A random factor in `[lo, 1.0]`.
fn jitter(d: Duration, lo: f64) -> Duration {
    let mut b = [0u8; 4];
    let r = if aws_lc_rs::rand::fill(&mut b).is_ok() {
        f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX)
    } else {
        1.0
    };
    d.mul_f64(lo + (1.0 - lo) * r)
}

impl Entry {
    pub(crate) fn new(
        issuer: Box<str>,
        validation: Validation,
        source: Source,
        cfg: RefreshConfig,
    ) -> Self {
        let info = Info {
            jwks_uri: match &source {
                Source::Jwks(u) => Some(u.to_string()),
                Source::Discovery(_) => None,
            },
            ..Info::default()
        };
        Entry {
            metrics: crate::metrics::IssuerMetrics::new(&issuer),
            issuer,
            validation,
            keys: ArcSwapOption::empty(),
            retry_after_secs: AtomicU64::new(cfg.retry_min.as_secs().max(1)),
            cfg,
            source,
            demand: Mutex::new(Demand::default()),
            wake: Notify::new(),
            served: watch::channel(0).0,
            attempts: watch::channel(0).0,
            counters: Counters::default(),
            info: Mutex::new(info),
        }
    }

    /// Suggested `Retry-After` while the issuer has no keys.
    pub(crate) fn retry_after(&self) -> Duration {
        Duration::from_secs(self.retry_after_secs.load(Relaxed).max(1))
    }

    /// An unknown `kid` (or no keys): join the pending refresh, or start one unless the
    /// cooldown forbids it. Returns the ticket to wait for and a receiver to wait on.
    pub(crate) fn ask_refresh(&self) -> Option<(u64, watch::Receiver<u64>)> {
        let mut d = lock(&self.demand);
        let served = *self.served.borrow();
        if let Some(p) = d.pending {
            if p > served {
                return Some((p, self.served.subscribe()));
            }
            d.pending = None;
        }
        let now = Instant::now();
        if d.last
            .is_some_and(|l| now.duration_since(l) < self.cfg.cooldown)
        {
            let n = self.counters.suppressed.fetch_add(1, Relaxed) + 1;
            self.metrics.unknown_kid_refresh(true);
            // one line per power of two: a forged-kid flood must not flood the logs
            if n.is_power_of_two() {
                tracing::debug!(target: TARGET, issuer = &*self.issuer, suppressed = n,
                    "unknown kid: refresh suppressed by cooldown");
            }
            return None;
        }
        d.last = Some(now);
        d.ticket += 1;
        d.pending = Some(d.ticket);
        self.counters.unknown_kid_refreshes.fetch_add(1, Relaxed);
        self.metrics.unknown_kid_refresh(false);
        tracing::info!(target: TARGET, issuer = &*self.issuer, "unknown kid: refreshing keys");
        self.wake.notify_one();
        Some((d.ticket, self.served.subscribe()))
    }

    fn demand_ticket(&self) -> u64 {
        lock(&self.demand).ticket
    }

    fn demand_unserved(&self) -> bool {
        lock(&self.demand)
            .pending
            .is_some_and(|p| p > *self.served.borrow())
    }

    /// A receiver of completed attempts, for `build()`.
    pub(crate) fn attempts(&self) -> watch::Receiver<u64> {
        self.attempts.subscribe()
    }

    pub(crate) fn last_error(&self) -> Option<FetchError> {
        lock(&self.info).last_error.clone()
    }

    pub(crate) fn url_for_errors(&self) -> String {
        lock(&self.info)
            .jwks_uri
            .clone()
            .unwrap_or_else(|| self.issuer.to_string())
    }

    pub(crate) fn stats(&self) -> IssuerStats {
        let keys = self.keys.load();
        let info = lock(&self.info);
        IssuerStats {
            issuer: self.issuer.to_string(),
            jwks_uri: info.jwks_uri.clone(),
            fetches: self.counters.fetches.load(Relaxed),
            not_modified: self.counters.not_modified.load(Relaxed),
            failures: self.counters.failures.load(Relaxed),
            unknown_kid_refreshes: self.counters.unknown_kid_refreshes.load(Relaxed),
            cooldown_suppressed: self.counters.suppressed.load(Relaxed),
            last_success: info.last_success,
            last_error: info.last_error.clone(),
            kids: keys
                .as_deref()
                .map(|k| k.kids().map(str::to_owned).collect())
                .unwrap_or_default(),
            has_keys: keys.is_some(),
        }
    }
}

/// What the refresh task keeps between fetches.
struct TaskState {
    jwks_uri: Option<Uri>,
    next_discovery: Instant,
    validators: Validators,
    last_success: Option<Instant>,
    failures: u32,
    generation: u64,
    applied: u64,
}

/// The refresh loop of one issuer. Ends when `stop`'s sender is dropped (the last
/// [`Issuers`](super::Issuers) handle went away); the fetch in progress is dropped too.
pub(crate) async fn run(
    entry: Arc<Entry>,
    client: Arc<dyn HttpClient>,
    mut stop: watch::Receiver<()>,
) {
    let mut st = TaskState {
        jwks_uri: match &entry.source {
            Source::Jwks(u) => Some(u.clone()),
            Source::Discovery(_) => None,
        },
        next_discovery: Instant::now(),
        validators: Validators::default(),
        last_success: None,
        failures: 0,
        generation: 0,
        applied: 0,
    };
    tracing::debug!(target: TARGET, issuer = &*entry.issuer, "refresh task started");
    'outer: loop {
        let target = entry.demand_ticket();
        let result = tokio::select! {
            biased;
            _ = stop.changed() => break 'outer,
            r = refresh_once(&entry, &*client, &mut st) => r,
        };
        entry.served.send_if_modified(|s| {
            let newer = target > *s;
            if newer {
                *s = target;
            }
            newer
        });
        let delay = match result {
            Ok(ttl) => {
                st.failures = 0;
                let c = &entry.cfg;
                let ttl = ttl
                    .unwrap_or(c.default_interval)
                    .clamp(c.min_interval, c.max_interval.max(c.min_interval));
                jitter(ttl, 0.9)
            }
            Err(_) => {
                st.failures = st.failures.saturating_add(1);
                let c = &entry.cfg;
                let exp = c
                    .retry_min
                    .saturating_mul(1u32 << st.failures.saturating_sub(1).min(20));
                jitter(exp.min(c.retry_max.max(c.retry_min)), 0.5)
            }
        };
        entry
            .retry_after_secs
            .store(delay.as_secs().max(1), Relaxed);
        entry.attempts.send_modify(|a| *a += 1);
        let deadline = tokio::time::Instant::now() + delay;
        loop {
            tokio::select! {
                biased;
                _ = stop.changed() => break 'outer,
                () = tokio::time::sleep_until(deadline) => break,
                () = entry.wake.notified() => {
                    if entry.demand_unserved() {
                        break;
                    }
                }
            }
        }
    }
    tracing::debug!(target: TARGET, issuer = &*entry.issuer, "refresh task stopped");
}

/// Discovery when due, then one JWKS fetch. Returns the server's freshness lifetime.
async fn refresh_once(
    entry: &Entry,
    client: &dyn HttpClient,
    st: &mut TaskState,
) -> Result<Option<Duration>, FetchError> {
    let result = fetch_and_apply(entry, client, st).await;
    let mut info = lock(&entry.info);
    match &result {
        Ok(_) => {
            info.last_success = Some(SystemTime::now());
            info.last_error = None;
        }
        Err(e) => {
            entry.counters.failures.fetch_add(1, Relaxed);
            entry.metrics.fetch(crate::metrics::FetchResult::Error);
            let stale_for = st.last_success.map(|t| t.elapsed());
            tracing::warn!(target: TARGET, issuer = &*entry.issuer, error = %e,
                has_keys = entry.keys.load().is_some(),
                stale_secs = stale_for.map(|d| d.as_secs()),
                "key refresh failed; keeping the last good key set");
            if stale_for.is_some_and(|d| d > entry.cfg.max_staleness) && entry.keys.load().is_some()
            {
                tracing::error!(target: TARGET, issuer = &*entry.issuer,
                    max_staleness_secs = entry.cfg.max_staleness.as_secs(),
                    "key set older than the maximum staleness: dropped, requests get 503");
                entry.keys.store(None);
                entry.metrics.keys(0);
                st.validators = Validators::default();
            }
            info.last_error = Some(e.clone());
        }
    }
    result
}

async fn fetch_and_apply(
    entry: &Entry,
    client: &dyn HttpClient,
    st: &mut TaskState,
) -> Result<Option<Duration>, FetchError> {
    if let Source::Discovery(form) = entry.source
        && (st.jwks_uri.is_none() || Instant::now() >= st.next_discovery)
    {
        match fetch::discover(client, &entry.issuer, form, &entry.cfg).await {
            Ok(uri) => {
                if st.jwks_uri.as_ref() != Some(&uri) {
                    tracing::info!(target: TARGET, issuer = &*entry.issuer,
                        jwks_uri = %uri, "discovered jwks_uri");
                    st.validators = Validators::default();
                    lock(&entry.info).jwks_uri = Some(uri.to_string());
                }
                st.jwks_uri = Some(uri);
                st.next_discovery = Instant::now() + entry.cfg.rediscovery_interval;
            }
            Err(e) if st.jwks_uri.is_none() || e.is_permanent() => return Err(e),
            Err(e) => {
                tracing::warn!(target: TARGET, issuer = &*entry.issuer, error = %e,
                    "re-discovery failed; keeping the known jwks_uri");
                st.next_discovery = Instant::now() + entry.cfg.retry_max;
            }
        }
    }
    let Some(uri) = st.jwks_uri.clone() else {
        return Ok(None);
    };
    st.generation += 1;
    let generation = st.generation;
    entry.counters.fetches.fetch_add(1, Relaxed);
    match fetch::fetch_jwks(client, &uri, &st.validators, &entry.cfg).await? {
        JwksOutcome::NotModified { ttl } => {
            entry.counters.not_modified.fetch_add(1, Relaxed);
            entry
                .metrics
                .fetch(crate::metrics::FetchResult::NotModified);
            st.last_success = Some(Instant::now());
            tracing::debug!(target: TARGET, issuer = &*entry.issuer, url = %uri,
                "JWKS not modified (304)");
            Ok(ttl)
        }
        JwksOutcome::Updated {
            keys,
            skipped,
            validators,
            ttl,
        } => {
            // Fetches of one issuer run one after another in this task, so this always
            // holds; it keeps an older response from ever replacing a newer set.
            if generation <= st.applied {
                return Ok(ttl);
            }
            st.applied = generation;
            let old = entry.keys.load_full();
            let (added, removed) = {
                let old_kids: BTreeSet<&str> = old
                    .as_deref()
                    .map(|k| k.kids().collect())
                    .unwrap_or_default();
                let new_kids: BTreeSet<&str> = keys.kids().collect();
                let diff = |a: &BTreeSet<&str>, b: &BTreeSet<&str>| -> Vec<String> {
                    a.difference(b).map(|s| (*s).to_owned()).collect()
                };
                (diff(&new_kids, &old_kids), diff(&old_kids, &new_kids))
            };
            if !added.is_empty() || !removed.is_empty() || old.is_none() {
                tracing::info!(target: TARGET, issuer = &*entry.issuer, url = %uri,
                    ?added, ?removed, keys = keys.len(), skipped, "JWKS updated");
            } else {
                tracing::debug!(target: TARGET, issuer = &*entry.issuer, url = %uri,
                    keys = keys.len(), "JWKS fetched, same kids");
            }
            entry.metrics.keys(keys.len());
            entry.keys.store(Some(Arc::new(keys)));
            entry.metrics.fetch(crate::metrics::FetchResult::Ok);
            st.validators = validators;
            st.last_success = Some(Instant::now());
            Ok(ttl)
        }
    }
}
