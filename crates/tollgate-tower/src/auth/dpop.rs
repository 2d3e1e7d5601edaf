//! DPoP (RFC 9449) in the authentication layer: opt-in, off by default.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{SystemTime, UNIX_EPOCH};

use http::header::WWW_AUTHENTICATE;
use http::{HeaderValue, Request, Response};
use tollgate_core::dpop::{
    DpopVerifier, PublicUrl, ReplayFuture, VerifiedProof, check_bearer, check_binding,
};
use tollgate_core::error::DpopError;
use tollgate_core::{AuthError, Claims};

/// Which schemes the authentication layer accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DpopMode {
    /// `Bearer` only, exactly as without any DPoP configuration (the default).
    #[default]
    Off,
    /// `Bearer` and `DPoP`: a DPoP-bound token (`cnf.jkt`) must come with a valid
    /// proof; a bound token sent as `Bearer` is refused (401 `invalid_token`).
    Allowed,
    /// `DPoP` only: a `Bearer` request is answered like a request without a token.
    Required,
}

/// The DPoP settings of a gate or an [`AuthLayer`](super::AuthLayer): the mode, the
/// proof verifier (algorithms, window, replay store, nonces) and the public base URL
/// the expected `htu` is built from.
///
/// Without a public URL the expected `htu` is the request's absolute URI when it has
/// one (HTTP/2), else `http://` + its `Host` header + its path: set
/// [`Self::public_url`] for a service behind a proxy or served over TLS.
///
/// ```
/// use tollgate_core::dpop::{DpopVerifier, PublicUrl};
/// use tollgate_tower::auth::{Dpop, DpopMode};
///
/// let dpop = Dpop::new(DpopMode::Allowed, DpopVerifier::builder().build()?)
///     .public_url(PublicUrl::parse("https://api.example").unwrap());
/// assert_eq!(dpop.mode(), DpopMode::Allowed);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Dpop {
    mode: DpopMode,
    verifier: DpopVerifier,
    public_url: Option<PublicUrl>,
    /// `algs` and the RFC 9728 `resource_metadata` of the `DPoP` challenges.
    challenge: DpopChallenge,
}

/// The `DPoP` challenge parameters of a gate (RFC 9449 §7.1), in the request
/// extensions of every request the [`AuthLayer`](super::AuthLayer) admitted with the
/// `DPoP` scheme (beside its claims): its presence says the request used DPoP.
///
/// A scope check ([`ScopeLayer`](crate::ScopeLayer), over HTTP and gRPC) that refuses
/// such a request answers with [`Self::challenge`] (`DPoP error="insufficient_scope",
/// ..., scope="..", algs=".."`) instead of the `Bearer` one.
///
/// ```
/// use tollgate_core::AuthError;
/// use tollgate_core::dpop::DpopVerifier;
/// use tollgate_tower::auth::{Dpop, DpopMode};
///
/// let dpop = Dpop::new(DpopMode::Allowed, DpopVerifier::builder().build()?);
/// let refused = AuthError::InsufficientScope { required: "orders:write".into() };
/// assert_eq!(
///     dpop.challenge().challenge(Some(&refused)),
///     "DPoP error=\"insufficient_scope\", error_description=\"The access token lacks the required scope\", \
///      scope=\"orders:write\", algs=\"RS256 PS256 ES256 ES384 EdDSA\""
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct DpopChallenge {
    algs: Arc<str>,
    resource_metadata: Option<Arc<str>>,
}

impl DpopChallenge {
    /// The `WWW-Authenticate` value: `DPoP`, then `error` and `error_description`
    /// when `error` has an OAuth error code, `scope` for
    /// [`AuthError::InsufficientScope`], `algs`, and `resource_metadata` when set.
    #[must_use]
    pub fn challenge(&self, error: Option<&AuthError>) -> String {
        let mut ch = String::from("DPoP ");
        if let Some(e) = error
            && let Some(code) = e.wire().error
        {
            ch.push_str("error=");
            crate::reject::quote(&mut ch, code.as_str());
            ch.push_str(", error_description=");
            crate::reject::quote(&mut ch, e.wire().description);
            if let AuthError::InsufficientScope { required } = e
                && !required.is_empty()
            {
                ch.push_str(", scope=");
                crate::reject::quote(&mut ch, required);
            }
            ch.push_str(", ");
        }
        ch.push_str("algs=");
        crate::reject::quote(&mut ch, &self.algs);
        if let Some(url) = &self.resource_metadata {
            ch.push_str(", resource_metadata=");
            crate::reject::quote(&mut ch, url);
        }
        ch
    }

    /// The algorithms the `algs` parameter names, space-separated.
    #[must_use]
    pub fn algs(&self) -> &str {
        &self.algs
    }
}

impl Dpop {
    /// DPoP in `mode` with `verifier`.
    pub fn new(mode: DpopMode, verifier: DpopVerifier) -> Self {
        let algs = verifier
            .algorithms()
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        Dpop {
            mode,
            verifier,
            public_url: None,
            challenge: DpopChallenge {
                algs: algs.into(),
                resource_metadata: None,
            },
        }
    }

    /// Adds the RFC 9728 `resource_metadata` parameter (the URL of this resource's
    /// protected-resource metadata) to the `DPoP` challenges, as
    /// [`BearerRejector::resource_metadata`](crate::BearerRejector::resource_metadata)
    /// does to the `Bearer` ones. A [`Tollgate`](crate::Tollgate) with a
    /// [resource](crate::TollgateBuilder::resource) sets it on the layers it hands out.
    pub fn resource_metadata(mut self, url: impl Into<String>) -> Self {
        self.challenge.resource_metadata = Some(url.into().into());
        self
    }

    /// The RFC 9728 metadata URL of the `DPoP` challenges, if set.
    #[must_use]
    pub fn resource_metadata_url(&self) -> Option<&str> {
        self.challenge.resource_metadata.as_deref()
    }

    /// The `DPoP` challenge parameters (the [`DpopChallenge`] the layer puts in the
    /// extensions of a request admitted with the `DPoP` scheme).
    pub fn challenge(&self) -> &DpopChallenge {
        &self.challenge
    }

    /// The external base URL of the service (scheme, host, port, path prefix).
    pub fn public_url(mut self, url: PublicUrl) -> Self {
        self.public_url = Some(url);
        self
    }

    /// The same settings with another replay store (e.g. one shared by replicas,
    /// `tollgate_core::redis::RedisReplayStore`).
    pub fn replay_store(mut self, store: impl tollgate_core::dpop::ReplayStore) -> Self {
        self.verifier = self.verifier.with_replay_store(std::sync::Arc::new(store));
        self
    }

    /// The mode.
    #[must_use]
    pub fn mode(&self) -> DpopMode {
        self.mode
    }

    /// The proof verifier.
    #[must_use]
    pub fn verifier(&self) -> &DpopVerifier {
        &self.verifier
    }

    /// The expected `htu` of `req`.
    pub(crate) fn expected_url<B>(&self, req: &Request<B>) -> Option<String> {
        let path = req.uri().path();
        if let Some(base) = &self.public_url {
            return Some(base.htu(path));
        }
        if let (Some(scheme), Some(authority)) = (req.uri().scheme_str(), req.uri().authority()) {
            return Some(format!("{scheme}://{authority}{path}"));
        }
        let host = req.headers().get(http::header::HOST)?.to_str().ok()?;
        Some(format!("http://{host}{path}"))
    }

    /// The binding rule once the token is verified; records the proof in the replay
    /// store. The store's answer is polled once inline: an in-memory store answers at
    /// once ([`Admission::Done`], no allocation); a store doing I/O (Redis) hands back
    /// its future for the layer's waiting state ([`Admission::Wait`]).
    pub(crate) fn admit<X>(
        &self,
        claims: &Claims<X>,
        binding: &Binding,
    ) -> Result<Admission, AuthError> {
        match binding {
            Binding::Off => Ok(Admission::Done),
            Binding::Bearer => {
                check_bearer(claims.cnf.as_ref())?;
                Ok(Admission::Done)
            }
            Binding::Dpop(proof) => {
                check_binding(claims.cnf.as_ref(), proof)?;
                let mut fut = self.verifier.remember(proof, now());
                match Pin::new(&mut fut).poll(&mut Context::from_waker(Waker::noop())) {
                    Poll::Ready(r) => {
                        r?;
                        Ok(Admission::Done)
                    }
                    Poll::Pending => Ok(Admission::Wait(fut)),
                }
            }
        }
    }

    /// Rewrites the challenges of a refusal (RFC 9449 §7.1): the `DPoP` scheme (with
    /// `error` and `algs`) for refusals of a DPoP request or of a proof; the `Bearer`
    /// challenge plus `DPoP algs=".."` otherwise when both schemes are allowed; only
    /// `DPoP algs=".."` when DPoP is required. A `DPoP-Nonce` for nonce refusals. With
    /// [`Self::resource_metadata`], the `DPoP` challenge ends with `resource_metadata`.
    pub(crate) fn decorate<B>(&self, res: &mut Response<B>, e: &AuthError, used_dpop: bool) {
        let wire = e.wire();
        if self.mode == DpopMode::Off || !matches!(wire.status, 400 | 401) {
            return;
        }
        let dpop_error = used_dpop || matches!(e, AuthError::Dpop(d) if d.dpop_challenge());
        let ch = self.challenge.challenge(dpop_error.then_some(e));
        let headers = res.headers_mut();
        if dpop_error || self.mode == DpopMode::Required {
            headers.remove(WWW_AUTHENTICATE);
        }
        if let Ok(v) = HeaderValue::from_str(&ch) {
            headers.append(WWW_AUTHENTICATE, v);
        }
        if matches!(
            e,
            AuthError::Dpop(DpopError::NonceRequired | DpopError::NonceInvalid)
        ) && let Some(nonces) = self.verifier.nonces()
            && let Ok(v) = HeaderValue::from_str(&nonces.mint(now()))
        {
            headers.insert("dpop-nonce", v);
        }
    }
}

impl Dpop {
    /// A fresh `DPoP-Nonce` header value when nonces are on (sent proactively with
    /// every accepted DPoP request, RFC 9449 §8.2).
    pub(crate) fn fresh_nonce(&self) -> Option<HeaderValue> {
        let nonces = self.verifier.nonces()?;
        HeaderValue::from_str(&nonces.mint(now())).ok()
    }
}

/// What [`Dpop::admit`] decided for a token whose binding holds.
#[derive(Debug)]
pub(crate) enum Admission {
    /// Admitted (the replay store answered at once, or there was nothing to record).
    Done,
    /// The replay store's answer is on its way (a store doing I/O).
    Wait(ReplayFuture),
}

/// What the token's binding must be checked against once it is verified.
#[derive(Debug, Clone)]
pub(crate) enum Binding {
    /// DPoP is off: nothing (today's behaviour).
    Off,
    /// Sent as Bearer under a DPoP gate: the token must not be bound.
    Bearer,
    /// Sent as DPoP with this verified proof.
    Dpop(Box<VerifiedProof>),
}

impl Binding {
    pub(crate) fn used_dpop(&self) -> bool {
        matches!(self, Binding::Dpop(_))
    }
}

pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
