//! The [`TokenSource`] trait and its grant implementations: [`ClientCredentials`]
//! (the service's own identity) and [`RefreshTokenSource`] (a user's refresh token,
//! rotated). Token exchange, which needs a subject token per call, is
//! [`TokenExchange`](crate::TokenExchange).
//!
//! Configuration and live source are separate types: a builder
//! ([`ClientCredentials::builder`], [`RefreshTokenSource::builder`]) is plain, cheap
//! configuration without a cache; `build()` checks it (scopes are RFC 6749 scope-tokens)
//! and returns the live source, which owns its token cache. Clones of a live source
//! share that cache (they are the same source); a different target needs another
//! `build()`, and so gets its own cache: a token fetched for one target can never be
//! served for another.
//!
//! # Example
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use tollgate_client::{ClientAuth, ClientCredentials, ConfigError, TokenEndpoint, TokenSource};
//!
//! let idp = tollgate_testkit::DevIdp::builder().start().await.unwrap();
//! let endpoint = TokenEndpoint::discover(idp.issuer()).await.unwrap()
//!     .client_auth(ClientAuth::client_secret_basic("demo-full", "demo-full-secret"));
//!
//! // accepted: a token for audience inventory with inventory:read, then the cached one
//! let inventory = ClientCredentials::builder(endpoint.clone())
//!     .audience("inventory")
//!     .scope("inventory:read");
//! let cc = inventory.clone().build().unwrap();
//! let t1 = cc.token().await.unwrap();
//! assert_eq!(cc.token().await.unwrap(), t1);
//!
//! // another target from the same configuration is another source, with its own token
//! let orders = inventory.audience("orders").build().unwrap();
//! assert_ne!(orders.token().await.unwrap(), t1);
//!
//! // rejected when configured: "a b" is two scopes, not one scope-token
//! let err = ClientCredentials::builder(endpoint).scope("orders:read orders:write").build().unwrap_err();
//! assert!(matches!(err, ConfigError::InvalidScope { .. }));
//! assert_eq!(err.to_string(), r#"scope "orders:read orders:write" is not a valid scope-token"#);
//! # });
//! ```

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use tollgate_core::oauth::{BoxFuture, FormParams};
use tollgate_core::scope::Scope;

use crate::cache::{RenewalPolicy, Renewing};
use crate::dpop::DpopKey;
use crate::endpoint::TokenEndpoint;
use crate::error::{ConfigError, OAuthErrorCode, TokenError};
use crate::token::{AccessToken, RefreshToken};

/// Something that hands out a valid access token for one fixed target (the audience
/// and scopes it was built with).
///
/// Implementations cache and renew; [`TokenSource::invalidate`] tells them a token was
/// refused downstream (401 `invalid_token`) so the next call fetches a new one.
pub trait TokenSource: Send + Sync + 'static {
    /// A valid access token.
    fn token(&self) -> BoxFuture<'_, Result<AccessToken, TokenError>>;

    /// Forget `token` if it is the cached one.
    fn invalidate(&self, token: &AccessToken);

    /// The DPoP key the tokens are bound to, when they are requested DPoP-bound
    /// (default: none, Bearer tokens).
    fn dpop_key(&self) -> Option<&DpopKey> {
        None
    }
}

impl<T: TokenSource + ?Sized> TokenSource for Arc<T> {
    fn token(&self) -> BoxFuture<'_, Result<AccessToken, TokenError>> {
        (**self).token()
    }
    fn invalidate(&self, token: &AccessToken) {
        (**self).invalidate(token);
    }
    fn dpop_key(&self) -> Option<&DpopKey> {
        (**self).dpop_key()
    }
}

/// The RFC 8707 / RFC 8693 target of a built source: `resource`, `audience` and
/// `scope`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Target {
    /// `resource` values (RFC 8707 URIs or names).
    pub resources: Vec<String>,
    /// `audience` values (logical names).
    pub audiences: Vec<String>,
    /// Requested scopes (none: the authorization server's default).
    pub scopes: Vec<Scope>,
}

impl Target {
    pub(crate) fn params(&self, form: &mut FormParams) {
        for r in &self.resources {
            form.append("resource", r.as_str());
        }
        for a in &self.audiences {
            form.append("audience", a.as_str());
        }
        if !self.scopes.is_empty() {
            form.append("scope", join(&self.scopes));
        }
    }
}

fn join(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(Scope::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Scopes as configured: checked by `build()`.
pub(crate) fn parse_scopes(raw: &[String]) -> Result<Vec<Scope>, ConfigError> {
    raw.iter()
        .map(|s| Scope::new(s.clone()).map_err(|e| ConfigError::scope(s, e)))
        .collect()
}

/// A target as configured (scopes not yet checked).
#[derive(Debug, Clone, Default)]
pub(crate) struct TargetConfig {
    pub(crate) resources: Vec<String>,
    pub(crate) audiences: Vec<String>,
    pub(crate) scopes: Vec<String>,
}

impl TargetConfig {
    pub(crate) fn build(&self) -> Result<Target, ConfigError> {
        Ok(Target {
            resources: self.resources.clone(),
            audiences: self.audiences.clone(),
            scopes: parse_scopes(&self.scopes)?,
        })
    }
}

/// The scope setters of a builder with a `target: TargetConfig` field (`scopes`), and
/// the audience and resource setters too (`target`).
macro_rules! target_setters {
    (scopes) => {
        /// Adds a requested scope: one RFC 6749 scope-token, checked by `build()`
        /// (`"a b"` is refused: that is two scopes).
        pub fn scope(mut self, scope: impl AsRef<str>) -> Self {
            self.target.scopes.push(scope.as_ref().to_owned());
            self
        }

        /// Adds requested scopes (each checked by `build()`).
        pub fn scopes<I>(mut self, scopes: I) -> Self
        where
            I: IntoIterator,
            I::Item: AsRef<str>,
        {
            let scopes = scopes.into_iter().map(|s| s.as_ref().to_owned());
            self.target.scopes.extend(scopes);
            self
        }
    };
    (target) => {
        $crate::source::target_setters!(scopes);

        /// Adds an `audience` parameter (RFC 8693) of the tokens asked for.
        pub fn audience(mut self, audience: impl Into<String>) -> Self {
            self.target.audiences.push(audience.into());
            self
        }

        /// Adds a `resource` parameter (RFC 8707) of the tokens asked for.
        pub fn resource(mut self, resource: impl Into<String>) -> Self {
            self.target.resources.push(resource.into());
            self
        }
    };
}
pub(crate) use target_setters;

/// Configuration of a [`ClientCredentials`] source: plain data, no cache. Start with
/// [`ClientCredentials::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ClientCredentialsBuilder {
    endpoint: TokenEndpoint,
    target: TargetConfig,
    policy: RenewalPolicy,
}

impl ClientCredentialsBuilder {
    target_setters!(target);

    /// Asks for DPoP-bound tokens with `key` (see [`TokenEndpoint::dpop`]); use them
    /// with [`AddDpopLayer`](crate::AddDpopLayer).
    pub fn dpop(mut self, key: DpopKey) -> Self {
        self.endpoint = self.endpoint.dpop(key);
        self
    }

    /// Renewal and backoff settings.
    pub fn renewal(mut self, policy: RenewalPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The live source, with its own (empty) token cache.
    ///
    /// # Errors
    /// [`ConfigError::InvalidScope`] naming a scope that is not a scope-token.
    pub fn build(self) -> Result<ClientCredentials, ConfigError> {
        let target = Arc::new(self.target.build()?);
        let endpoint = self.endpoint.clone();
        let fetch_target = target.clone();
        let renewing = Renewing::new(
            self.policy,
            Box::new(move || {
                let endpoint = endpoint.clone();
                let mut form = FormParams::from_iter([("grant_type", "client_credentials")]);
                fetch_target.params(&mut form);
                Box::pin(async move { endpoint.request(form).await })
            }),
        );
        Ok(ClientCredentials {
            endpoint: self.endpoint,
            target,
            renewing,
        })
    }
}

/// The client credentials grant (RFC 6749 §4.4): the service's own token for one
/// target, cached and renewed ahead of expiry (see [`crate::cache`]). Clones share the
/// cache; build another source for another target.
#[derive(Clone)]
pub struct ClientCredentials {
    endpoint: TokenEndpoint,
    target: Arc<Target>,
    renewing: Arc<Renewing>,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("endpoint", &self.endpoint)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl ClientCredentials {
    /// Configures tokens from `endpoint` (with its client authentication).
    pub fn builder(endpoint: TokenEndpoint) -> ClientCredentialsBuilder {
        ClientCredentialsBuilder {
            endpoint,
            target: TargetConfig::default(),
            policy: RenewalPolicy::default(),
        }
    }

    /// The target this source asks tokens for.
    #[must_use]
    pub fn target(&self) -> &Target {
        &self.target
    }
}

impl TokenSource for ClientCredentials {
    fn token(&self) -> BoxFuture<'_, Result<AccessToken, TokenError>> {
        Box::pin(self.renewing.get())
    }

    fn invalidate(&self, token: &AccessToken) {
        self.renewing.invalidate(token);
    }

    fn dpop_key(&self) -> Option<&DpopKey> {
        self.endpoint.dpop_key()
    }
}

/// Configuration of a [`RefreshTokenSource`]: start with
/// [`RefreshTokenSource::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct RefreshTokenSourceBuilder {
    endpoint: TokenEndpoint,
    refresh_token: RefreshToken,
    /// Only the scopes are used: they narrow the refreshed tokens' (none: the original
    /// grant's).
    target: TargetConfig,
    policy: RenewalPolicy,
}

impl RefreshTokenSourceBuilder {
    target_setters!(scopes);

    /// Asks for DPoP-bound tokens with `key` (see [`TokenEndpoint::dpop`]). The
    /// refresh token itself is sent as it is; servers that bound it to a DPoP key at
    /// issuance need this same key.
    pub fn dpop(mut self, key: DpopKey) -> Self {
        self.endpoint = self.endpoint.dpop(key);
        self
    }

    /// Renewal and backoff settings.
    pub fn renewal(mut self, policy: RenewalPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The live source: it owns the refresh token from now on (rotated with each
    /// answer) and its access token cache.
    ///
    /// # Errors
    /// [`ConfigError::InvalidScope`] naming a scope that is not a scope-token.
    pub fn build(self) -> Result<RefreshTokenSource, ConfigError> {
        let scopes = parse_scopes(&self.target.scopes)?;
        let refresh = Arc::new(Mutex::new(RefreshState::Live(self.refresh_token)));
        let scope = join(&scopes);
        let state = refresh.clone();
        let dpop = self.endpoint.dpop_key().cloned();
        let endpoint = self.endpoint;
        let renewing = Renewing::new(
            self.policy,
            Box::new(move || {
                let endpoint = endpoint.clone();
                let state = state.clone();
                let scope = scope.clone();
                Box::pin(async move {
                    let current = match &*state.lock().unwrap_or_else(PoisonError::into_inner) {
                        RefreshState::Live(t) => t.clone(),
                        RefreshState::Rejected => return Err(TokenError::RefreshTokenRejected),
                    };
                    let mut form = FormParams::from_iter([
                        ("grant_type", "refresh_token"),
                        ("refresh_token", current.secret()),
                    ]);
                    if !scope.is_empty() {
                        form.append("scope", scope);
                    }
                    let result = endpoint.request(form).await;
                    let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
                    match &result {
                        Ok(r) => {
                            if let Some(next) = &r.refresh_token {
                                *s = RefreshState::Live(next.clone());
                            }
                        }
                        Err(e) if e.oauth_code() == Some(&OAuthErrorCode::InvalidGrant) => {
                            *s = RefreshState::Rejected;
                        }
                        Err(_) => {}
                    }
                    result
                })
            }),
        );
        Ok(RefreshTokenSource {
            refresh,
            renewing,
            dpop,
        })
    }
}

/// The refresh token grant (RFC 6749 §6) with rotation: each answer's new refresh
/// token replaces the old one (fetches are single-flight, so a rotating refresh token
/// is never sent twice). Once the authorization server answers `invalid_grant`, the
/// source stops asking and returns [`TokenError::RefreshTokenRejected`]: a new sign-in
/// is needed. Clones share the refresh token and the cache.
#[derive(Clone)]
pub struct RefreshTokenSource {
    refresh: Arc<Mutex<RefreshState>>,
    renewing: Arc<Renewing>,
    dpop: Option<DpopKey>,
}

enum RefreshState {
    Live(RefreshToken),
    Rejected,
}

impl fmt::Debug for RefreshTokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshTokenSource").finish_non_exhaustive()
    }
}

impl RefreshTokenSource {
    /// Configures refreshing with `refresh_token` at `endpoint`.
    pub fn builder(
        endpoint: TokenEndpoint,
        refresh_token: RefreshToken,
    ) -> RefreshTokenSourceBuilder {
        RefreshTokenSourceBuilder {
            endpoint,
            refresh_token,
            target: TargetConfig::default(),
            policy: RenewalPolicy::default(),
        }
    }

    /// The refresh token to keep (store it if the process may restart: the one it was
    /// created with is used up after the first rotation). `None` once rejected.
    #[must_use]
    pub fn current_refresh_token(&self) -> Option<RefreshToken> {
        match &*self.refresh.lock().unwrap_or_else(PoisonError::into_inner) {
            RefreshState::Live(t) => Some(t.clone()),
            RefreshState::Rejected => None,
        }
    }
}

impl TokenSource for RefreshTokenSource {
    fn token(&self) -> BoxFuture<'_, Result<AccessToken, TokenError>> {
        Box::pin(async move {
            if self.current_refresh_token().is_none() {
                return Err(TokenError::RefreshTokenRejected);
            }
            self.renewing.get().await
        })
    }

    fn invalidate(&self, token: &AccessToken) {
        self.renewing.invalidate(token);
    }

    fn dpop_key(&self) -> Option<&DpopKey> {
        self.dpop.as_ref()
    }
}
