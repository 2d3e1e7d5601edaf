//! The [`TokenSource`] trait and its grant implementations: [`ClientCredentials`]
//! (the service's own identity) and [`RefreshTokenSource`] (a user's refresh token,
//! rotated). Token exchange, which needs a subject token per call, is
//! [`TokenExchange`](crate::TokenExchange).
//!
//! # Example
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use tollgate_client::{ClientAuth, ClientCredentials, TokenEndpoint, TokenSource};
//!
//! let idp = tollgate_testkit::DevIdp::builder().start().await.unwrap();
//! let endpoint = TokenEndpoint::discover(idp.issuer()).await.unwrap();
//!
//! // accepted: a token for audience inventory with inventory:read, then the cached one
//! let cc = ClientCredentials::new(
//!     endpoint.clone().client_auth(ClientAuth::client_secret_basic("demo-full", "demo-full-secret")),
//! )
//! .audience("inventory")
//! .scope("inventory:read");
//! let t1 = cc.token().await.unwrap();
//! assert_eq!(cc.token().await.unwrap(), t1);
//!
//! // rejected: a scope the client may not have → invalid_scope
//! let bad = ClientCredentials::new(
//!     endpoint.client_auth(ClientAuth::client_secret_basic("demo-reader", "demo-reader-secret")),
//! )
//! .scope("orders:write");
//! assert_eq!(bad.token().await.unwrap_err().oauth_code().map(|c| c.as_str()), Some("invalid_scope"));
//! # });
//! ```

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use crate::cache::{BoxFuture, RenewalPolicy, Renewing};
use crate::endpoint::TokenEndpoint;
use crate::error::{OAuthErrorCode, TokenError};
use crate::token::{AccessToken, RefreshToken};

/// Something that hands out a valid access token for one fixed target (the audience
/// and scopes it was configured with).
///
/// Implementations cache and renew; [`TokenSource::invalidate`] tells them a token was
/// refused downstream (401 `invalid_token`) so the next call fetches a new one.
pub trait TokenSource: Send + Sync + 'static {
    /// A valid access token.
    fn token(&self) -> BoxFuture<'_, Result<AccessToken, TokenError>>;

    /// Forget `token` if it is the cached one.
    fn invalidate(&self, token: &AccessToken);
}

impl<T: TokenSource + ?Sized> TokenSource for Arc<T> {
    fn token(&self) -> BoxFuture<'_, Result<AccessToken, TokenError>> {
        (**self).token()
    }
    fn invalidate(&self, token: &AccessToken) {
        (**self).invalidate(token);
    }
}

/// The RFC 8707 / RFC 8693 target of a request: `resource`, `audience` and `scope`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Target {
    /// `resource` values (RFC 8707 URIs or names).
    pub resources: Vec<String>,
    /// `audience` values (logical names).
    pub audiences: Vec<String>,
    /// Requested scopes (none: the authorization server's default).
    pub scopes: Vec<String>,
}

impl Target {
    pub(crate) fn params(&self, out: &mut Vec<(&'static str, String)>) {
        for r in &self.resources {
            out.push(("resource", r.clone()));
        }
        for a in &self.audiences {
            out.push(("audience", a.clone()));
        }
        if !self.scopes.is_empty() {
            out.push(("scope", self.scopes.join(" ")));
        }
    }
}

/// The client credentials grant (RFC 6749 §4.4): the service's own token, cached and
/// renewed ahead of expiry (see [`crate::cache`]).
#[derive(Clone)]
pub struct ClientCredentials {
    endpoint: TokenEndpoint,
    target: Target,
    policy: RenewalPolicy,
    inner: Arc<Mutex<Option<Arc<Renewing>>>>,
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
    /// Tokens from `endpoint` (with its client authentication).
    #[must_use]
    pub fn new(endpoint: TokenEndpoint) -> Self {
        ClientCredentials {
            endpoint,
            target: Target::default(),
            policy: RenewalPolicy::default(),
            inner: Arc::new(Mutex::new(None)),
        }
    }

    /// Adds a requested scope.
    #[must_use]
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.target.scopes.push(scope.into());
        self
    }

    /// Adds an `audience` parameter.
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.target.audiences.push(audience.into());
        self
    }

    /// Adds a `resource` parameter (RFC 8707).
    #[must_use]
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.target.resources.push(resource.into());
        self
    }

    /// Renewal and backoff settings.
    #[must_use]
    pub fn renewal(mut self, policy: RenewalPolicy) -> Self {
        self.policy = policy;
        self
    }

    fn renewing(&self) -> Arc<Renewing> {
        let mut slot = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        slot.get_or_insert_with(|| {
            let endpoint = self.endpoint.clone();
            let target = self.target.clone();
            Renewing::new(
                self.policy,
                Box::new(move || {
                    let endpoint = endpoint.clone();
                    let mut params = vec![("grant_type", "client_credentials".to_owned())];
                    target.params(&mut params);
                    Box::pin(async move { endpoint.request(params).await })
                }),
            )
        })
        .clone()
    }
}

impl TokenSource for ClientCredentials {
    fn token(&self) -> BoxFuture<'_, Result<AccessToken, TokenError>> {
        let r = self.renewing();
        Box::pin(async move { r.get().await })
    }

    fn invalidate(&self, token: &AccessToken) {
        self.renewing().invalidate(token);
    }
}

/// The refresh token grant (RFC 6749 §6) with rotation: each answer's new refresh
/// token replaces the old one (fetches are single-flight, so a rotating refresh token
/// is never sent twice). Once the authorization server answers `invalid_grant`, the
/// source stops asking and returns [`TokenError::RefreshTokenRejected`]: a new sign-in
/// is needed.
#[derive(Clone)]
pub struct RefreshTokenSource {
    refresh: Arc<Mutex<RefreshState>>,
    renewing: Arc<Renewing>,
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
    /// Refreshes with `refresh_token` at `endpoint`; `scopes` may narrow (empty: the
    /// original grant's).
    #[must_use]
    pub fn new(endpoint: TokenEndpoint, refresh_token: RefreshToken, scopes: &[&str]) -> Self {
        Self::with_policy(endpoint, refresh_token, scopes, RenewalPolicy::default())
    }

    /// [`RefreshTokenSource::new`] with renewal settings.
    #[must_use]
    pub fn with_policy(
        endpoint: TokenEndpoint,
        refresh_token: RefreshToken,
        scopes: &[&str],
        policy: RenewalPolicy,
    ) -> Self {
        let refresh = Arc::new(Mutex::new(RefreshState::Live(refresh_token)));
        let scope = scopes.join(" ");
        let state = refresh.clone();
        let renewing = Renewing::new(
            policy,
            Box::new(move || {
                let endpoint = endpoint.clone();
                let state = state.clone();
                let scope = scope.clone();
                Box::pin(async move {
                    let current = match &*state.lock().unwrap_or_else(PoisonError::into_inner) {
                        RefreshState::Live(t) => t.clone(),
                        RefreshState::Rejected => return Err(TokenError::RefreshTokenRejected),
                    };
                    let mut params = vec![
                        ("grant_type", "refresh_token".to_owned()),
                        ("refresh_token", current.secret().to_owned()),
                    ];
                    if !scope.is_empty() {
                        params.push(("scope", scope));
                    }
                    let result = endpoint.request(params).await;
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
        RefreshTokenSource { refresh, renewing }
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
}
