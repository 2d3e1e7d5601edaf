//! Metrics, through the [`metrics`](https://docs.rs/metrics) facade (feature `metrics`,
//! on by default). tollgate records; the application installs the recorder and exporter
//! it likes (Prometheus, OpenTelemetry, ...). Without a recorder every call is a no-op.
//!
//! Labels are low-cardinality only: `outcome` and `reason` (the bounded
//! [`Outcome`] and [`Reason`]), `result`, and the configured `issuer`. Never `sub`, a
//! client id or anything else taken from a token.
//!
//! | metric | type | labels | meaning |
//! |---|---|---|---|
//! | `tollgate_requests_total` | counter | `outcome`, `reason` | one per decision: `allowed`/`ok`, `refused`/`expired`, `unavailable`/`keys_unavailable`, ... |
//! | `tollgate_jwks_fetches_total` | counter | `issuer`, `result` = `ok`, `not_modified`, `error` | JWKS (and discovery) fetches of the refresh task |
//! | `tollgate_jwks_last_refresh_timestamp_seconds` | gauge | `issuer` | Unix time of the last successful fetch or 304 |
//! | `tollgate_jwks_keys` | gauge | `issuer` | keys held (0 while the issuer has none) |
//! | `tollgate_unknown_kid_refreshes_total` | counter | `issuer` | refreshes started by a token with an unknown `kid` |
//! | `tollgate_unknown_kid_refreshes_suppressed_total` | counter | `issuer` | such requests refused by the cooldown |
//! | `tollgate_token_cache_hits_total` | counter | | verified-token cache hits |
//! | `tollgate_token_cache_misses_total` | counter | | lookups that had to verify |
//! | `tollgate_token_cache_entries` | gauge | | entries after the last insertion |
//! | `tollgate_introspection_calls_total` | counter | `result` = `active`, `inactive`, `invalid` (active but refused by the policy), `error` (unreachable, timeout, bad answer) | calls to the introspection endpoint |
//! | `tollgate_introspection_duration_seconds` | histogram | | their latency |
//! | `tollgate_introspection_cache_hits_total` | counter | | answers served from the introspection cache |
//! | `tollgate_introspection_shed_total` | counter | `reason` = `in_flight`, `rate`, `fleet_rate` | new tokens answered 503 without a call: the introspection budget (`max_in_flight` calls at once, `max_per_sec` new calls per second) was spent; `fleet_rate`: this replica's budget allowed the call but the fleet's shared per-second count (`SharedBudget`, e.g. Redis) was already at `max_per_sec` |
//!
//! Cost on the request path: the handles of the unlabelled and per-decision series are
//! registered once, on first use, with the recorder installed at that moment (so
//! install it before serving); a decision is then one `OnceLock` load, an index and a
//! counter increment: no allocation, no label built per request.
//!
//! # Example
//!
//! ```
//! use tollgate_core::error::{AuthError, ClaimsError};
//! use tollgate_core::metrics;
//!
//! // accepted, and a refusal: counted under `allowed/ok` and `refused/expired`
//! metrics::record_allowed();
//! let refused = AuthError::from(ClaimsError::Expired { exp: 1, now: 2 });
//! metrics::record_refusal(refused.reason());
//! assert_eq!(metrics::REQUESTS_TOTAL, "tollgate_requests_total");
//! ```

// key refresh and introspection live behind `remote`: their recorders idle without it
#![cfg_attr(not(feature = "remote"), allow(dead_code))]

pub use crate::error::{Outcome, Reason};

/// Decisions: `tollgate_requests_total{outcome, reason}`.
pub const REQUESTS_TOTAL: &str = "tollgate_requests_total";
/// `tollgate_jwks_fetches_total{issuer, result}`.
pub const JWKS_FETCHES_TOTAL: &str = "tollgate_jwks_fetches_total";
/// `tollgate_jwks_last_refresh_timestamp_seconds{issuer}`.
pub const JWKS_LAST_REFRESH: &str = "tollgate_jwks_last_refresh_timestamp_seconds";
/// `tollgate_jwks_keys{issuer}`.
pub const JWKS_KEYS: &str = "tollgate_jwks_keys";
/// `tollgate_unknown_kid_refreshes_total{issuer}`.
pub const UNKNOWN_KID_REFRESHES_TOTAL: &str = "tollgate_unknown_kid_refreshes_total";
/// `tollgate_unknown_kid_refreshes_suppressed_total{issuer}`.
pub const UNKNOWN_KID_SUPPRESSED_TOTAL: &str = "tollgate_unknown_kid_refreshes_suppressed_total";
/// `tollgate_token_cache_hits_total`.
pub const TOKEN_CACHE_HITS_TOTAL: &str = "tollgate_token_cache_hits_total";
/// `tollgate_token_cache_misses_total`.
pub const TOKEN_CACHE_MISSES_TOTAL: &str = "tollgate_token_cache_misses_total";
/// `tollgate_token_cache_entries`.
pub const TOKEN_CACHE_ENTRIES: &str = "tollgate_token_cache_entries";
/// `tollgate_introspection_calls_total{result}`.
pub const INTROSPECTION_CALLS_TOTAL: &str = "tollgate_introspection_calls_total";
/// `tollgate_introspection_duration_seconds`.
pub const INTROSPECTION_DURATION: &str = "tollgate_introspection_duration_seconds";
/// `tollgate_introspection_cache_hits_total`.
pub const INTROSPECTION_CACHE_HITS_TOTAL: &str = "tollgate_introspection_cache_hits_total";

/// `tollgate_introspection_shed_total{reason}`.
pub const INTROSPECTION_SHED_TOTAL: &str = "tollgate_introspection_shed_total";

/// The `reason` label of allowed decisions.
pub const ALLOWED_REASON: &str = "ok";
/// The `reason` label of requests let through without a token ([optional
/// mode](https://docs.rs/tollgate-tower)).
pub const ANONYMOUS_REASON: &str = "anonymous";

/// Counts one allowed decision (`outcome="allowed", reason="ok"`).
pub fn record_allowed() {
    imp::allowed(false);
}

/// Counts one request let through without a token (`outcome="allowed",
/// reason="anonymous"`).
pub fn record_anonymous() {
    imp::allowed(true);
}

/// Counts one refused, unavailable or failed decision under its reason (the outcome is
/// [`Reason::outcome`]).
pub fn record_refusal(reason: Reason) {
    imp::refusal(reason);
}

/// Result of a JWKS (or discovery) fetch, for `tollgate_jwks_fetches_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FetchResult {
    Ok,
    NotModified,
    Error,
}

#[cfg(feature = "metrics")]
mod imp {
    use std::sync::OnceLock;

    use metrics::{Counter, Gauge, Histogram};

    use super::{FetchResult, Reason};

    struct Decisions {
        allowed: Counter,
        anonymous: Counter,
        refused: [Counter; Reason::COUNT],
    }

    fn decisions() -> &'static Decisions {
        static D: OnceLock<Decisions> = OnceLock::new();
        D.get_or_init(|| Decisions {
            allowed: metrics::counter!(super::REQUESTS_TOTAL, "outcome" => "allowed", "reason" => super::ALLOWED_REASON),
            anonymous: metrics::counter!(super::REQUESTS_TOTAL, "outcome" => "allowed", "reason" => super::ANONYMOUS_REASON),
            refused: Reason::ALL.map(|r| {
                metrics::counter!(super::REQUESTS_TOTAL, "outcome" => r.outcome().as_str(), "reason" => r.as_str())
            }),
        })
    }

    pub(super) fn allowed(anonymous: bool) {
        let d = decisions();
        if anonymous {
            d.anonymous.increment(1);
        } else {
            d.allowed.increment(1);
        }
    }

    pub(super) fn refusal(reason: Reason) {
        decisions().refused[reason as usize].increment(1);
    }

    struct Caches {
        hits: Counter,
        misses: Counter,
        entries: Gauge,
        introspection_hits: Counter,
        introspection_duration: Histogram,
        introspection: [Counter; 4],
        shed: [Counter; 3],
    }

    fn caches() -> &'static Caches {
        static C: OnceLock<Caches> = OnceLock::new();
        C.get_or_init(|| Caches {
            hits: metrics::counter!(super::TOKEN_CACHE_HITS_TOTAL),
            misses: metrics::counter!(super::TOKEN_CACHE_MISSES_TOTAL),
            entries: metrics::gauge!(super::TOKEN_CACHE_ENTRIES),
            introspection_hits: metrics::counter!(super::INTROSPECTION_CACHE_HITS_TOTAL),
            introspection_duration: metrics::histogram!(super::INTROSPECTION_DURATION),
            introspection: ["active", "inactive", "invalid", "error"]
                .map(|r| metrics::counter!(super::INTROSPECTION_CALLS_TOTAL, "result" => r)),
            shed: ["in_flight", "rate", "fleet_rate"]
                .map(|r| metrics::counter!(super::INTROSPECTION_SHED_TOTAL, "reason" => r)),
        })
    }

    pub(crate) fn token_cache_lookup(hit: bool) {
        let c = caches();
        if hit {
            c.hits.increment(1);
        } else {
            c.misses.increment(1);
        }
    }

    #[allow(clippy::cast_precision_loss)]
    pub(crate) fn token_cache_entries(n: usize) {
        caches().entries.set(n as f64);
    }

    pub(crate) fn introspection_cache_hit() {
        caches().introspection_hits.increment(1);
    }

    /// `result`: 0 active, 1 inactive, 2 invalid, 3 error.
    pub(crate) fn introspection_call(result: usize, seconds: f64) {
        let c = caches();
        c.introspection[result.min(3)].increment(1);
        c.introspection_duration.record(seconds);
    }

    /// `reason`: 0 `in_flight`, 1 `rate`, 2 `fleet_rate`.
    pub(crate) fn introspection_shed(reason: usize) {
        caches().shed[reason.min(2)].increment(1);
    }

    /// Per-issuer handles, registered when the issuer's entry is made.
    pub(crate) struct IssuerMetrics {
        refreshes: Counter,
        suppressed: Counter,
        fetches: [Counter; 3],
        last_refresh: Gauge,
        keys: Gauge,
    }

    impl IssuerMetrics {
        pub(crate) fn new(issuer: &str) -> Self {
            let label = || ("issuer", issuer.to_owned());
            IssuerMetrics {
                refreshes: metrics::counter!(super::UNKNOWN_KID_REFRESHES_TOTAL, &[label()]),
                suppressed: metrics::counter!(super::UNKNOWN_KID_SUPPRESSED_TOTAL, &[label()]),
                fetches: ["ok", "not_modified", "error"].map(|r| {
                    metrics::counter!(
                        super::JWKS_FETCHES_TOTAL,
                        &[label(), ("result", r.to_owned())]
                    )
                }),
                last_refresh: metrics::gauge!(super::JWKS_LAST_REFRESH, &[label()]),
                keys: metrics::gauge!(super::JWKS_KEYS, &[label()]),
            }
        }
        pub(crate) fn unknown_kid_refresh(&self, suppressed: bool) {
            if suppressed {
                self.suppressed.increment(1);
            } else {
                self.refreshes.increment(1);
            }
        }
        pub(crate) fn fetch(&self, result: FetchResult) {
            let i = match result {
                FetchResult::Ok => 0,
                FetchResult::NotModified => 1,
                FetchResult::Error => 2,
            };
            self.fetches[i].increment(1);
            if result != FetchResult::Error {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64());
                self.last_refresh.set(now);
            }
        }
        #[allow(clippy::cast_precision_loss)]
        pub(crate) fn keys(&self, n: usize) {
            self.keys.set(n as f64);
        }
    }
}

#[cfg(not(feature = "metrics"))]
mod imp {
    use super::{FetchResult, Reason};

    pub(super) fn allowed(_: bool) {}
    pub(super) fn refusal(_: Reason) {}
    pub(crate) fn token_cache_lookup(_: bool) {}
    pub(crate) fn token_cache_entries(_: usize) {}
    pub(crate) fn introspection_cache_hit() {}
    pub(crate) fn introspection_call(_: usize, _: f64) {}
    pub(crate) fn introspection_shed(_: usize) {}

    pub(crate) struct IssuerMetrics;
    impl IssuerMetrics {
        pub(crate) fn new(_: &str) -> Self {
            IssuerMetrics
        }
        pub(crate) fn unknown_kid_refresh(&self, _: bool) {}
        pub(crate) fn fetch(&self, _: FetchResult) {}
        pub(crate) fn keys(&self, _: usize) {}
    }
}

#[cfg_attr(not(feature = "remote"), allow(unused_imports))]
pub(crate) use imp::{
    IssuerMetrics, introspection_cache_hit, introspection_call, introspection_shed,
    token_cache_entries, token_cache_lookup,
};
