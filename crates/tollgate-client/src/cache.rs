//! The renewing token cache behind [`ClientCredentials`](crate::ClientCredentials) and
//! [`RefreshTokenSource`](crate::RefreshTokenSource).
//!
//! - A token is used until shortly before it expires; at ~80% of its lifetime (minus
//!   a random jitter of up to 5% so a fleet does not renew in step) the first caller
//!   starts a renewal **in the background** and keeps getting the current token.
//! - One fetch at a time (single-flight): callers that need a token while one is being
//!   fetched wait for that fetch instead of sending their own.
//! - After a failure, no new request is sent before a backoff delay (1 s doubling to
//!   60 s, with jitter); callers get [`TokenError::Backoff`] carrying the last failure.
//!   A still-valid token keeps being served meanwhile.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use tollgate_client::cache::RenewalPolicy;
//!
//! // accepted: renew at 75–80 % of the lifetime
//! let p = RenewalPolicy::default().renew_at(0.8).jitter(0.05);
//! assert_eq!(p.backoff_for(1), Duration::from_secs(1));
//! // rejected: a fraction outside (0, 1] is clamped into range
//! let p = RenewalPolicy::default().renew_at(7.0);
//! assert!(p.renew_fraction() <= 1.0);
//! ```

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;
use tollgate_core::oauth::BoxFuture;

use crate::endpoint::TokenResponse;
use crate::error::{Chain, TokenError};
use crate::token::AccessToken;

/// When to renew and how to back off.
#[derive(Debug, Clone, Copy, PartialEq)]
#[must_use]
pub struct RenewalPolicy {
    renew_at: f64,
    jitter: f64,
    min_backoff: Duration,
    max_backoff: Duration,
    default_lifetime: Duration,
    expiry_margin: Duration,
}

impl Default for RenewalPolicy {
    fn default() -> Self {
        RenewalPolicy {
            renew_at: 0.8,
            jitter: 0.05,
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            default_lifetime: Duration::from_secs(60),
            expiry_margin: Duration::from_secs(5),
        }
    }
}

impl RenewalPolicy {
    /// Renew after this fraction of the lifetime (default 0.8; clamped to 0.1–1.0).
    pub fn renew_at(mut self, fraction: f64) -> Self {
        self.renew_at = if fraction.is_finite() {
            fraction.clamp(0.1, 1.0)
        } else {
            0.8
        };
        self
    }

    /// Up to this fraction of the lifetime earlier, at random (default 0.05; 0–0.5).
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = if fraction.is_finite() {
            fraction.clamp(0.0, 0.5)
        } else {
            0.05
        };
        self
    }

    /// First and longest backoff delay after failures (default 1 s and 60 s).
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.min_backoff = min;
        self.max_backoff = max.max(min);
        self
    }

    /// Lifetime assumed when the answer has no `expires_in` (default 60 s).
    pub fn default_lifetime(mut self, lifetime: Duration) -> Self {
        self.default_lifetime = lifetime;
        self
    }

    /// A token is not handed out when it expires within this margin (default 5 s, at
    /// most a tenth of the token's lifetime), so it does not expire in flight.
    pub fn expiry_margin(mut self, margin: Duration) -> Self {
        self.expiry_margin = margin;
        self
    }

    /// The renewal fraction.
    #[must_use]
    pub fn renew_fraction(&self) -> f64 {
        self.renew_at
    }

    /// The delay after the `failures`-th consecutive failure (before jitter).
    #[must_use]
    pub fn backoff_for(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(16);
        self.min_backoff
            .saturating_mul(1u32 << exp)
            .min(self.max_backoff)
    }
}

/// A random factor in `[0, 1)`.
pub(crate) fn random_unit() -> f64 {
    let mut b = [0u8; 4];
    if aws_lc_rs::rand::fill(&mut b).is_err() {
        return 0.5;
    }
    f64::from(u32::from_le_bytes(b)) / (f64::from(u32::MAX) + 1.0)
}

#[derive(Clone)]
pub(crate) struct Cached {
    pub(crate) token: AccessToken,
    /// Handed out until this instant.
    pub(crate) usable_until: Instant,
    /// Renewal starts at this instant.
    pub(crate) renew_from: Instant,
}

impl Cached {
    pub(crate) fn new(policy: &RenewalPolicy, r: &TokenResponse, now: Instant) -> Self {
        let lifetime = r
            .expires_in
            .map_or(policy.default_lifetime, Duration::from_secs);
        let margin = policy.expiry_margin.min(lifetime / 10);
        let fraction = (policy.renew_at - policy.jitter * random_unit()).max(0.05);
        Cached {
            token: r.access_token.clone(),
            usable_until: now + lifetime.saturating_sub(margin),
            renew_from: now + lifetime.mul_f64(fraction),
        }
    }
}

#[derive(Default)]
struct Failures {
    count: u32,
    retry_at: Option<Instant>,
    last: Option<TokenError>,
}

/// What fetches one token: the grant's request.
pub(crate) type Fetch =
    Box<dyn Fn() -> BoxFuture<'static, Result<TokenResponse, TokenError>> + Send + Sync>;

pub(crate) struct Renewing {
    fetch: Fetch,
    policy: RenewalPolicy,
    current: Mutex<Option<Cached>>,
    failures: Mutex<Failures>,
    flight: Arc<tokio::sync::Mutex<()>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Renewing {
    pub(crate) fn new(policy: RenewalPolicy, fetch: Fetch) -> Arc<Self> {
        Arc::new(Renewing {
            fetch,
            policy,
            current: Mutex::new(None),
            failures: Mutex::new(Failures::default()),
            flight: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    fn usable(&self, now: Instant) -> Option<Cached> {
        lock(&self.current)
            .as_ref()
            .filter(|c| now < c.usable_until)
            .cloned()
    }

    fn backoff(&self, now: Instant) -> Option<TokenError> {
        let f = lock(&self.failures);
        match (f.retry_at, &f.last) {
            (Some(at), Some(last)) if at > now => Some(TokenError::Backoff {
                retry_in: at - now,
                last: Box::new(last.clone()),
            }),
            _ => None,
        }
    }

    /// A valid token: the cached one (starting a background renewal when due), or a
    /// fresh one fetched once for all concurrent callers.
    pub(crate) async fn get(self: &Arc<Self>) -> Result<AccessToken, TokenError> {
        let now = Instant::now();
        if let Some(c) = self.usable(now) {
            if now >= c.renew_from {
                self.renew_in_background(now);
            }
            return Ok(c.token);
        }
        let _flight = self.flight.lock().await;
        let now = Instant::now();
        if let Some(c) = self.usable(now) {
            return Ok(c.token);
        }
        if let Some(e) = self.backoff(now) {
            return Err(e);
        }
        self.fetch_and_store().await
    }

    fn renew_in_background(self: &Arc<Self>, now: Instant) {
        if self.backoff(now).is_some() {
            return;
        }
        let Ok(guard) = self.flight.clone().try_lock_owned() else {
            return; // a fetch is in flight already
        };
        let this = self.clone();
        tokio::spawn(async move {
            let _guard = guard;
            let due = this
                .usable(Instant::now())
                .is_none_or(|c| Instant::now() >= c.renew_from);
            if due {
                // failures are recorded for backoff; callers keep the current token
                let _ = this.fetch_and_store().await;
            }
        });
    }

    /// Runs one fetch (the caller holds the flight lock) and records the outcome.
    async fn fetch_and_store(&self) -> Result<AccessToken, TokenError> {
        match (self.fetch)().await {
            Ok(r) => {
                let cached = Cached::new(&self.policy, &r, Instant::now());
                let token = cached.token.clone();
                *lock(&self.current) = Some(cached);
                *lock(&self.failures) = Failures::default();
                Ok(token)
            }
            Err(e) => {
                let mut f = lock(&self.failures);
                f.count = f.count.saturating_add(1);
                let delay = self.policy.backoff_for(f.count);
                // jitter: 75–100 % of the delay
                f.retry_at = Some(Instant::now() + delay.mul_f64(0.75 + 0.25 * random_unit()));
                f.last = Some(e.clone());
                tracing::warn!(error = %Chain(&e), failures = f.count, "token request failed; backing off");
                Err(e)
            }
        }
    }

    /// Forgets `token` if it is the cached one (a resource server refused it).
    pub(crate) fn invalidate(&self, token: &AccessToken) {
        let mut cur = lock(&self.current);
        if cur.as_ref().is_some_and(|c| &c.token == token) {
            *cur = None;
        }
    }
}
