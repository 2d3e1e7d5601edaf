//! Audit events and decision metrics: one structured `tracing` event per refused or
//! unavailable decision, and one count per decision.
//!
//! Every refusal of [`AuthLayer`](crate::AuthLayer), of the scope check
//! ([`ScopeLayer`](crate::ScopeLayer), per route or per gRPC method) and of
//! `tollgate-tonic`'s interceptor emits one event with target [`TARGET`]
//! (`tollgate::audit`): level `DEBUG` for a refusal (the caller's fault: 400, 401, 403),
//! `WARN` when the server could not decide (503) or is misconfigured (500). Its fields:
//!
//! | field | always | value |
//! |---|---|---|
//! | `outcome` | yes | `refused`, `unavailable` or `error` ([`Outcome`]) |
//! | `reason` | yes | the bounded [`Reason`](tollgate_core::error::Reason) label, e.g. `expired`, `wrong_audience`, `insufficient_scope` |
//! | `status` | yes | the HTTP status answered (gRPC answers map from it) |
//! | `path` | yes | the request path: the route, or the gRPC method (`/pkg.Service/Method`) |
//! | `method` | yes | the HTTP method (`POST` for gRPC) |
//! | `detail` | yes | the error's diagnostic text (which claim, which time; never a token value) |
//! | `issuer` | when known | the verified `iss` (scope refusals: the token was valid) |
//! | `client_id` | when known | the verified client (`client_id`/`azp`/...) |
//! | `remote_addr` | when known | the peer address, from a [`PeerAddr`] request extension |
//!
//! The token, `sub` and `jti` are never logged. A refused token's claims are not
//! trusted, so `issuer` and `client_id` appear only once the token was verified.
//!
//! With `tracing-subscriber`'s JSON formatter (`.json().flatten_event(true)`), a scope
//! refusal looks like (the `span` is the authenticated request's, which names the
//! issuer and client, never the subject):
//!
//! ```json
//! {"timestamp":"2026-11-30T21:34:30.102559Z","level":"DEBUG","message":"request refused","outcome":"refused","reason":"insufficient_scope","status":403,"path":"/orders","method":"POST","detail":"scope policy not met (requires orders:write)","issuer":"http://127.0.0.1:34891","client_id":"demo-reader","remote_addr":"127.0.0.1:55064","target":"tollgate::audit","span":{"client_id":"demo-reader","iss":"http://127.0.0.1:34891","outcome":"authenticated","name":"tollgate"},"spans":[{"client_id":"demo-reader","iss":"http://127.0.0.1:34891","outcome":"authenticated","name":"tollgate"}]}
//! ```
//!
//! Each decision is also counted in `tollgate_requests_total{outcome, reason}` (see
//! [`tollgate_core::metrics`]): refusals where they happen, an allowed request once the
//! inner service answered without a scope refusal, so each request counts exactly once.
//!
//! # Example
//!
//! ```
//! use tollgate_core::error::{AuthError, ClaimsError};
//! use tollgate_tower::audit::{self, PeerAddr};
//!
//! // the application says who is calling (e.g. from axum's ConnectInfo)
//! let mut ext = http::Extensions::new();
//! ext.insert(PeerAddr("192.0.2.7:4711".parse().unwrap()));
//! assert_eq!(audit::peer_addr(&ext).unwrap().to_string(), "192.0.2.7:4711");
//!
//! // accepted requests are only counted; a refusal is counted and logged
//! audit::record_allowed();
//! let refused = AuthError::from(ClaimsError::Expired { exp: 1, now: 2 });
//! audit::refusal::<()>(&refused, &http::Method::GET, "/orders", audit::peer_addr(&ext), None);
//! ```

use std::net::SocketAddr;

use http::Method;
use tollgate_core::error::Outcome;
use tollgate_core::{AuthError, Claims};

/// The `tracing` target of audit events.
pub const TARGET: &str = "tollgate::audit";

/// The peer's address, as a request extension: insert it before the tollgate layers
/// (from axum's `ConnectInfo<SocketAddr>`, or in a tonic interceptor from
/// `Request::remote_addr()`: see the examples) and audit events carry `remote_addr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// The [`PeerAddr`] in `extensions`, if the application inserted one.
#[must_use]
pub fn peer_addr(extensions: &http::Extensions) -> Option<SocketAddr> {
    extensions.get::<PeerAddr>().map(|p| p.0)
}

/// Marks a response whose decision was already counted (a scope refusal), so that the
/// authentication layer does not count it again as allowed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Counted;

/// Counts one allowed decision.
pub fn record_allowed() {
    tollgate_core::metrics::record_allowed();
}

/// Counts a refused, unavailable or failed decision and emits its audit event.
/// `claims` are the verified claims when the refusal came after verification (scope).
pub fn refusal<X>(
    error: &AuthError,
    method: &Method,
    path: &str,
    remote_addr: Option<SocketAddr>,
    claims: Option<&Claims<X>>,
) {
    let reason = error.reason();
    tollgate_core::metrics::record_refusal(reason);
    let status = error.wire().status;
    let issuer = claims.and_then(|c| c.iss.as_deref());
    let client_id = claims.and_then(|c| c.client());
    let outcome = reason.outcome();
    if outcome == Outcome::Refused {
        tracing::debug!(
            target: TARGET,
            outcome = outcome.as_str(),
            reason = reason.as_str(),
            status,
            path,
            method = method.as_str(),
            detail = %error,
            issuer,
            client_id,
            remote_addr = remote_addr.map(tracing::field::display),
            "request refused"
        );
    } else {
        tracing::warn!(
            target: TARGET,
            outcome = outcome.as_str(),
            reason = reason.as_str(),
            status,
            path,
            method = method.as_str(),
            detail = %error,
            issuer,
            client_id,
            remote_addr = remote_addr.map(tracing::field::display),
            "request not decided"
        );
    }
}
