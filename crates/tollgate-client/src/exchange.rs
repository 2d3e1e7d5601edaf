//! Token exchange (RFC 8693): trade the caller's token (the *subject token*) for one
//! addressed to the next hop, with fewer scopes, optionally naming this service as the
//! actor (`actor_token`, so the new token carries `act`).
//!
//! A [`TokenExchangeBuilder`] is configuration; `build()` returns the live
//! [`TokenExchange`] for one target, which caches results per subject token until
//! shortly before they expire; concurrent exchanges of the same subject are sent once.
//!
//! # Example
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use tollgate_client::{ClientAuth, SubjectToken, TokenEndpoint, TokenExchange};
//! use tollgate_testkit::idp::Client;
//!
//! let idp = tollgate_testkit::DevIdp::builder()
//!     .client(Client::new("gateway", "gateway-secret").scopes(["orders:read"]).audiences(["gateway"])
//!         .may_exchange_for(["orders"]))
//!     .start()
//!     .await
//!     .unwrap();
//! let user = idp.user_token("gateway", "alice", &[], None).await.unwrap();
//! let subject = SubjectToken::new(user.access_token);
//! let endpoint = TokenEndpoint::discover(idp.issuer()).await.unwrap()
//!     .client_auth(ClientAuth::client_secret_basic("gateway", "gateway-secret"));
//!
//! // accepted: audience orders, allowed by the IdP's exchange policy
//! let to_orders = TokenExchange::builder(endpoint.clone()).audience("orders").scope("orders:read").build().unwrap();
//! let t = to_orders.exchange(&subject).await.unwrap();
//! assert_eq!(to_orders.exchange(&subject).await.unwrap(), t); // cached
//!
//! // rejected: an audience the gateway may not exchange for → invalid_target
//! let to_billing = TokenExchange::builder(endpoint).audience("billing").build().unwrap();
//! let e = to_billing.exchange(&subject).await.unwrap_err();
//! assert_eq!(e.oauth_code().map(|c| c.as_str()), Some("invalid_target"));
//! # });
//! ```

use std::fmt;
use std::sync::Arc;

use tokio::time::Instant;
use tollgate_core::oauth::{BoxFuture, FormParams};

use crate::cache::{Cached, RenewalPolicy};
use crate::endpoint::TokenEndpoint;
use crate::error::{ConfigError, TokenError};
use crate::source::{Target, TargetConfig, TokenSource};
use crate::token::{AccessToken, SubjectToken};

/// `urn:ietf:params:oauth:grant-type:token-exchange`.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// `urn:ietf:params:oauth:token-type:access_token`.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// Configuration of a [`TokenExchange`]: plain data, no cache. Start with
/// [`TokenExchange::builder`].
#[derive(Clone)]
#[must_use]
pub struct TokenExchangeBuilder {
    endpoint: TokenEndpoint,
    target: TargetConfig,
    actor: Option<Arc<dyn TokenSource>>,
    policy: RenewalPolicy,
    capacity: usize,
}

impl fmt::Debug for TokenExchangeBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenExchangeBuilder")
            .field("endpoint", &self.endpoint)
            .field("target", &self.target)
            .field("actor", &self.actor.is_some())
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl TokenExchangeBuilder {
    crate::source::target_setters!(target);

    /// Asks for DPoP-bound tokens with `key` (see
    /// [`TokenEndpoint::dpop`](crate::TokenEndpoint::dpop)); use them with
    /// [`AddDpopLayer`](crate::AddDpopLayer). The subject and actor tokens are sent as
    /// they are.
    pub fn dpop(mut self, key: crate::DpopKey) -> Self {
        self.endpoint = self.endpoint.dpop(key);
        self
    }

    /// Sends this service's own token (e.g. [`ClientCredentials`](crate::ClientCredentials))
    /// as `actor_token`, so the new token names this service in `act`.
    pub fn actor(mut self, actor: impl TokenSource) -> Self {
        self.actor = Some(Arc::new(actor));
        self
    }

    /// Settings for the expiry margin and default lifetime of cached results.
    pub fn renewal(mut self, policy: RenewalPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Caches at most `n` exchanged tokens (default 10 000).
    pub fn cache_capacity(mut self, n: usize) -> Self {
        self.capacity = n.max(1);
        self
    }

    /// The live exchange, with its own (empty) cache.
    ///
    /// # Errors
    /// [`ConfigError::InvalidScope`] naming a scope that is not a scope-token.
    pub fn build(self) -> Result<TokenExchange, ConfigError> {
        Ok(TokenExchange {
            target: Arc::new(self.target.build()?),
            endpoint: self.endpoint,
            actor: self.actor,
            policy: self.policy,
            cache: Arc::new(quick_cache::sync::Cache::new(self.capacity)),
        })
    }
}

/// Exchanges subject tokens for tokens addressed to one target. Clones share the
/// cache; build another exchange for another target.
#[derive(Clone)]
pub struct TokenExchange {
    endpoint: TokenEndpoint,
    target: Arc<Target>,
    actor: Option<Arc<dyn TokenSource>>,
    policy: RenewalPolicy,
    cache: Arc<quick_cache::sync::Cache<SubjectToken, Cached>>,
}

impl fmt::Debug for TokenExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenExchange")
            .field("endpoint", &self.endpoint)
            .field("target", &self.target)
            .field("actor", &self.actor.is_some())
            .field("cached", &self.cache.len())
            .finish()
    }
}

impl TokenExchange {
    /// Configures exchanges at `endpoint` (with this service's client authentication).
    pub fn builder(endpoint: TokenEndpoint) -> TokenExchangeBuilder {
        TokenExchangeBuilder {
            endpoint,
            target: TargetConfig::default(),
            actor: None,
            policy: RenewalPolicy::default(),
            capacity: 10_000,
        }
    }

    /// The target of this exchange.
    #[must_use]
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// A token for this target on behalf of `subject` (cached until it expires).
    ///
    /// # Errors
    /// [`TokenError`]: e.g. `invalid_grant` (subject or actor token not active),
    /// `invalid_target` (audience not allowed for this client), `invalid_scope`
    /// (more scopes than the subject token has), `unauthorized_client`.
    pub async fn exchange(&self, subject: &SubjectToken) -> Result<AccessToken, TokenError> {
        let key = subject.clone();
        let now = Instant::now();
        if let Some(c) = self.cache.get(&key).filter(|c| now < c.usable_until) {
            return Ok(c.token);
        }
        let guard = match self.cache.get_value_or_guard_async(&key).await {
            Ok(c) if Instant::now() < c.usable_until => return Ok(c.token),
            Ok(_) => {
                self.cache.remove(&key);
                match self.cache.get_value_or_guard_async(&key).await {
                    Ok(c) => return Ok(c.token),
                    Err(g) => g,
                }
            }
            Err(g) => g,
        };
        let response = self.request(subject).await?;
        let cached = Cached::new(&self.policy, &response, Instant::now());
        let token = cached.token.clone();
        let _ = guard.insert(cached);
        Ok(token)
    }

    async fn request(
        &self,
        subject: &SubjectToken,
    ) -> Result<crate::endpoint::TokenResponse, TokenError> {
        let mut form = FormParams::from_iter([
            ("grant_type", GRANT_TYPE),
            ("subject_token", subject.secret()),
            ("subject_token_type", ACCESS_TOKEN_TYPE),
            ("requested_token_type", ACCESS_TOKEN_TYPE),
        ]);
        let actor = match &self.actor {
            Some(a) => Some(a.token().await?),
            None => None,
        };
        if let Some(a) = &actor {
            form.append("actor_token", a.secret());
            form.append("actor_token_type", ACCESS_TOKEN_TYPE);
        }
        self.target.params(&mut form);
        let result = self.endpoint.request(form).await;
        // an actor token the server no longer accepts: fetch a new one next time
        if let (Err(e), Some(a), Some(src)) = (&result, &actor, &self.actor)
            && e.oauth_code() == Some(&crate::error::OAuthErrorCode::InvalidGrant)
        {
            src.invalidate(a);
        }
        result
    }

    /// Forgets the cached exchange of `subject` if it is `token` (refused downstream).
    pub fn invalidate(&self, subject: &SubjectToken, token: &AccessToken) {
        self.cache.remove_if(subject, |c| &c.token == token);
    }

    /// The DPoP key the exchanged tokens are bound to, if any.
    #[must_use]
    pub fn dpop_key(&self) -> Option<&crate::DpopKey> {
        self.endpoint.dpop_key()
    }

    /// A [`TokenSource`] view for one subject (e.g. to use outside the layer).
    #[must_use]
    pub fn for_subject(&self, subject: SubjectToken) -> ExchangeFor {
        ExchangeFor {
            exchange: self.clone(),
            subject,
        }
    }
}

/// [`TokenExchange`] bound to one subject token, as a [`TokenSource`].
#[derive(Debug, Clone)]
pub struct ExchangeFor {
    exchange: TokenExchange,
    subject: SubjectToken,
}

impl TokenSource for ExchangeFor {
    fn token(&self) -> BoxFuture<'_, Result<AccessToken, TokenError>> {
        Box::pin(self.exchange.exchange(&self.subject))
    }

    fn invalidate(&self, token: &AccessToken) {
        self.exchange.invalidate(&self.subject, token);
    }

    fn dpop_key(&self) -> Option<&crate::DpopKey> {
        self.exchange.dpop_key()
    }
}
