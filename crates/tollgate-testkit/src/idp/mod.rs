//! A development identity provider: a small OAuth 2.0 authorization server on loopback
//! for tests, examples and trying tollgate out (feature `idp`, on by default; also the
//! `tollgate-dev-idp` binary).
//!
//! **NOT FOR PRODUCTION.** It binds loopback addresses only, speaks plain HTTP, keeps
//! its keys and tokens in memory, compares secrets from a plain configuration file and
//! exposes unauthenticated admin calls. Use a real authorization server for anything
//! that matters.
//!
//! # Endpoints (relative to the issuer `http://127.0.0.1:PORT`)
//!
//! | endpoint | what |
//! |---|---|
//! | `GET /.well-known/openid-configuration` | discovery metadata (`issuer` exactly the issuer) |
//! | `GET /.well-known/oauth-authorization-server` | the same (RFC 8414) |
//! | `GET /jwks` | the public keys, `Cache-Control: public, max-age=N`, `ETag`, 304 on `If-None-Match` |
//! | `POST /token` | `grant_type=client_credentials`, `refresh_token` (rotating) or `urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693); client auth `client_secret_basic`, `client_secret_post` or `private_key_jwt` (RFC 7523); optional `scope`, `resource` (RFC 8707) / `audience` (repeatable); optional `DPoP` proof (below) |
//! | `POST /introspect` | RFC 7662, client authentication required |
//! | `POST /revoke` | RFC 7009, client authentication required (a client revokes its own tokens) |
//! | `POST /admin/rotate` | rotate the signing key now → `{"kid", "published"}` (no authentication) |
//! | `POST /admin/revoke` | `token=...`: revoke any token (no authentication) |
//!
//! # Tokens
//!
//! RFC 9068 JWT access tokens: header `typ: at+jwt`, `alg` (RS256 by default), `kid`;
//! claims `iss`, `sub` (= `client_id` for client credentials), `aud` (the requested
//! `resource`/`audience` values, each allowed for the client, else the client's default
//! audiences), `client_id`, `scope` (requested scopes, each allowed for the client, else
//! the client's default scopes), `iat`, `exp`, `jti`. A client configured with
//! `token_format = "opaque"` gets random reference tokens instead, which only
//! introspection understands. Revoking a JWT makes introspection answer
//! `active: false`; resource servers verifying the JWT locally still accept it until
//! it expires.
//!
//! # DPoP-bound tokens (RFC 9449)
//!
//! A token request carrying a `DPoP` proof header gets a token bound to the proof's
//! key: `cnf: {"jkt": <RFC 7638 thumbprint>}` in the JWT (and in introspection) and
//! `token_type: "DPoP"` in the answer. The proof is checked by tollgate-core's
//! [`DpopVerifier`](tollgate_core::dpop::DpopVerifier) (`htm` POST, `htu` the token
//! endpoint URL, no `ath`, 60 s window, each `jti` once) before anything else; a bad
//! one is 400 `invalid_dpop_proof`. With [`DevIdpBuilder::dpop_nonce`] (TOML
//! `dpop_nonce = true`) a proof must carry a fresh server nonce: without one the answer
//! is 400 `use_dpop_nonce` with a `DPoP-Nonce` header, and DPoP answers carry a fresh
//! `DPoP-Nonce` too. The metadata lists `dpop_signing_alg_values_supported`. Requests
//! without a proof are answered exactly as before (Bearer). Refresh tokens are not
//! bound (confidential clients only here).
//!
//! Errors are RFC 6749 §5.2 JSON with `Cache-Control: no-store`: `invalid_client`
//! (401, `WWW-Authenticate: Basic`), `invalid_request`, `invalid_grant`,
//! `unauthorized_client`, `invalid_scope`, `invalid_target` (RFC 8707) and
//! `unsupported_grant_type` (400).
//!
//! # Refresh tokens and token exchange
//!
//! [`DevIdp::user_token`] stands in for a user signing in (there is no
//! authorization-code flow): it issues an access token with `sub` = the user and a
//! refresh token. `grant_type=refresh_token` rotates: each refresh token works once;
//! a used one presented again is `invalid_grant` and revokes the whole family.
//!
//! Token exchange (RFC 8693) takes an active `subject_token` issued here, an optional
//! `actor_token` of the requesting client, and an `audience`/`resource` the client may
//! exchange for ([`Client::may_exchange_for`]: the exchange policy); scopes can only
//! shrink to a subset of the subject token's; the issued token keeps the subject's
//! `sub`, never outlives the subject token, and nests the actor into `act` (multi-hop:
//! `{"sub": "orders", "act": {"sub": "gateway"}}`). See the
//! [`grants` module source](self) for every rule.
//!
//! # Keys and rotation
//!
//! The JWKS holds the signing key, the *next* key (published one rotation ahead, so a
//! resource server refreshing on its schedule knows a key before it signs anything),
//! and retired keys until their grace period
//! ([`IdpConfig::rotation_grace`], 10 min by default) ends. Rotation happens on a timer
//! ([`DevIdpBuilder::rotation`]) and on demand ([`DevIdp::rotate_now`],
//! `POST /admin/rotate`).
//!
//! # Default clients
//!
//! | client_id | client_secret | scopes | audiences | tokens |
//! |---|---|---|---|---|
//! | `demo-full` | `demo-full-secret` | `orders:read orders:write inventory:read inventory:write` | `orders`, `inventory` | JWT |
//! | `demo-reader` | `demo-reader-secret` | `orders:read` | `orders` | JWT |
//! | `demo-opaque` | `demo-opaque-secret` | `orders:read inventory:read` | `orders`, `inventory` | opaque |
//!
//! A request without `scope` gets all of the client's scopes; without
//! `resource`/`audience`, all of its audiences. A TOML file can replace them: see
//! [`IdpConfig::from_toml`].
//!
//! # Example
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use tollgate_testkit::idp::DevIdp;
//!
//! let idp = DevIdp::builder().start().await.unwrap();
//! assert!(idp.issuer().starts_with("http://127.0.0.1:"));
//!
//! // accepted: a scope the client may have
//! let t = idp
//!     .client_credentials_token("demo-reader", &["orders:read"], Some("orders"))
//!     .await
//!     .unwrap();
//! assert_eq!(t.scope, "orders:read");
//!
//! // refused: a scope the client may not have
//! let e = idp
//!     .client_credentials_token("demo-reader", &["orders:write"], None)
//!     .await
//!     .unwrap_err();
//! assert_eq!((e.error, e.status), ("invalid_scope", 400));
//! idp.shutdown();
//! # });
//! ```

mod config;
mod error;
mod grants;
mod http;
mod keys;
mod server;
mod tokens;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tollgate_core::alg::Algorithm;

use crate::TokenBuilder;

pub use config::{Client, ConfigError, IdpConfig, TokenFormat, default_clients};
pub use error::OAuthError;
pub use grants::IssuedToken;
pub use http::form_encode;

use grants::Params;
use server::State;

/// Why the dev IdP could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdpError {
    /// The bind address is not a loopback address (this server is for development).
    #[error(
        "refusing to bind {0}: the dev IdP binds loopback addresses only \
         (it is not for production)"
    )]
    NotLoopback(SocketAddr),
    /// Binding the listener failed.
    #[error("cannot bind {0}")]
    Bind(SocketAddr, #[source] std::io::Error),
    /// The configuration is unusable (its text is the [`ConfigError`]'s).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The DPoP proof verifier (or its nonce issuer) could not be set up.
    #[error("cannot set up DPoP proof checking")]
    Dpop(#[source] tollgate_core::error::BuildError),
}

/// Configures and starts a [`DevIdp`].
#[derive(Debug, Clone)]
#[must_use]
pub struct DevIdpBuilder {
    config: IdpConfig,
    bind: SocketAddr,
}

impl DevIdpBuilder {
    /// Replaces the whole configuration (clients and settings), e.g. from
    /// [`IdpConfig::from_toml`].
    pub fn config(mut self, config: IdpConfig) -> Self {
        self.config = config;
        self
    }

    /// Replaces the clients (the built-in ones are dropped).
    pub fn clients(mut self, clients: impl IntoIterator<Item = Client>) -> Self {
        self.config.clients = clients.into_iter().collect();
        self
    }

    /// Adds one client to those configured.
    pub fn client(mut self, client: Client) -> Self {
        self.config.clients.push(client);
        self
    }

    /// Access token lifetime (default 5 min).
    pub fn token_ttl(mut self, ttl: Duration) -> Self {
        self.config.token_ttl = ttl;
        self
    }

    /// Rotates the signing key every `interval` (default: only on demand).
    pub fn rotation(mut self, interval: Duration) -> Self {
        self.config.rotation_interval = Some(interval);
        self
    }

    /// How long a retired key stays published (default 10 min).
    pub fn rotation_grace(mut self, grace: Duration) -> Self {
        self.config.rotation_grace = grace;
        self
    }

    /// `Cache-Control: max-age` of the JWKS (default 60 s).
    pub fn jwks_max_age(mut self, max_age: Duration) -> Self {
        self.config.jwks_max_age = max_age;
        self
    }

    /// Signing algorithm: RS256 (default), PS256, ES256, ES384 or EdDSA.
    pub fn algorithm(mut self, alg: Algorithm) -> Self {
        self.config.algorithm = alg;
        self
    }

    /// Require a server nonce in DPoP proofs at the token endpoint (default off; see
    /// [`IdpConfig::dpop_nonce`]).
    pub fn dpop_nonce(mut self, on: bool) -> Self {
        self.config.dpop_nonce = on;
        self
    }

    /// The address to listen on (default `127.0.0.1:0`, a free port); loopback only.
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }

    /// Checks the configuration, binds, and starts serving (and the rotation timer).
    /// Must be called within a tokio runtime.
    ///
    /// # Errors
    ///
    /// See [`IdpError`].
    pub async fn start(self) -> Result<DevIdp, IdpError> {
        self.config.check().map_err(IdpError::Config)?;
        if !self.bind.ip().is_loopback() {
            return Err(IdpError::NotLoopback(self.bind));
        }
        let listener = tokio::net::TcpListener::bind(self.bind)
            .await
            .map_err(|e| IdpError::Bind(self.bind, e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| IdpError::Bind(self.bind, e))?;
        let rotation = self.config.rotation_interval;
        let mut dpop = tollgate_core::dpop::DpopVerifier::builder();
        if self.config.dpop_nonce {
            dpop = dpop.nonces(tollgate_core::dpop::NonceIssuer::random().map_err(IdpError::Dpop)?);
        }
        let dpop = dpop.build().map_err(IdpError::Dpop)?;
        let state = Arc::new(State::new(format!("http://{addr}"), self.config, dpop));
        let (stop, stop_rx) = watch::channel(false);
        let handler = {
            let state = state.clone();
            Arc::new(move |req: http::Request| server::handle(&state, &req))
        };
        let mut tasks = vec![tokio::spawn(http::serve(listener, handler, stop_rx))];
        if let Some(every) = rotation {
            let state = state.clone();
            tasks.push(tokio::spawn(async move {
                let start = tokio::time::Instant::now() + every;
                let mut timer =
                    tokio::time::interval_at(start, every.max(Duration::from_millis(10)));
                loop {
                    timer.tick().await;
                    state.rotate();
                }
            }));
        }
        Ok(DevIdp {
            state,
            addr,
            stop,
            tasks: Mutex::new(tasks),
        })
    }
}

/// A running dev identity provider. Dropping it (or [`DevIdp::shutdown`]) stops it.
///
/// See the [module documentation](self) for endpoints, tokens and default clients.
#[derive(Debug)]
pub struct DevIdp {
    state: Arc<State>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl DevIdp {
    /// A builder with the built-in clients and default settings.
    pub fn builder() -> DevIdpBuilder {
        DevIdpBuilder {
            config: IdpConfig::default(),
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }

    /// The address listened on.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The issuer, `http://127.0.0.1:PORT` (no trailing slash): the exact `iss` of its
    /// tokens and the `issuer` of its metadata.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.state.issuer
    }

    /// `{issuer}/token`.
    #[must_use]
    pub fn token_endpoint(&self) -> String {
        self.state.url(server::TOKEN_PATH)
    }

    /// `{issuer}/jwks`.
    #[must_use]
    pub fn jwks_uri(&self) -> String {
        self.state.url(server::JWKS_PATH)
    }

    /// `{issuer}/introspect`.
    #[must_use]
    pub fn introspection_endpoint(&self) -> String {
        self.state.url(server::INTROSPECT_PATH)
    }

    /// `{issuer}/revoke`.
    #[must_use]
    pub fn revocation_endpoint(&self) -> String {
        self.state.url(server::REVOKE_PATH)
    }

    /// `{issuer}/.well-known/openid-configuration`.
    #[must_use]
    pub fn discovery_url(&self) -> String {
        self.state.url(server::OIDC_PATH)
    }

    /// The configuration in force (clients included).
    #[must_use]
    pub fn config(&self) -> &IdpConfig {
        &self.state.config
    }

    /// Rotates the signing key now: the pre-published next key starts signing, the
    /// old signing key stays published for the grace period, a new next key is
    /// published. Returns the new signing key's `kid`.
    pub fn rotate_now(&self) -> String {
        self.state.rotate()
    }

    /// The `kid` of the key signing tokens now.
    #[must_use]
    pub fn signing_kid(&self) -> String {
        self.state.signing_key().0.kid().to_owned()
    }

    /// The `kid`s in the JWKS now (signing, next, retired ones within their grace).
    #[must_use]
    pub fn published_kids(&self) -> Vec<String> {
        self.state.published_kids()
    }

    /// Revokes any token issued here (introspection then answers `active: false`).
    /// Returns whether it was an active token of this IdP.
    pub fn revoke(&self, token: &str) -> bool {
        self.state.revoke(token, None)
    }

    /// Issues a token to `client_id` as the token endpoint would for a
    /// `client_credentials` request with these `scopes` (none: the client's default)
    /// and `audience` (none: the client's default audiences), without HTTP.
    ///
    /// # Errors
    ///
    /// `invalid_client` for an unknown client, else the token endpoint's errors
    /// (`invalid_scope`, `invalid_target`).
    pub async fn client_credentials_token(
        &self,
        client_id: &str,
        scopes: &[&str],
        audience: Option<&str>,
    ) -> Result<IssuedToken, OAuthError> {
        let client = self
            .state
            .client(client_id)
            .ok_or_else(OAuthError::invalid_client)?;
        let mut params = vec![("grant_type".to_owned(), "client_credentials".to_owned())];
        if !scopes.is_empty() {
            params.push(("scope".into(), scopes.join(" ")));
        }
        if let Some(a) = audience {
            params.push(("resource".into(), a.into()));
        }
        let grant = grants::dispatch(&self.state, client, &Params(params))?;
        Ok(grants::issue(&self.state, client, grant))
    }

    /// Issues a token to `client_id` on behalf of the end user `user` (`sub` = `user`,
    /// `client_id` = the client), with a refresh token, as an authorization-code
    /// sign-in would (this IdP has no such flow). `scopes` and `audience` follow the
    /// client's limits like [`DevIdp::client_credentials_token`].
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let idp = tollgate_testkit::DevIdp::builder().start().await.unwrap();
    /// // accepted: a scope the client may have
    /// let t = idp.user_token("demo-reader", "alice", &["orders:read"], None).await.unwrap();
    /// assert!(t.refresh_token.is_some());
    /// // refused: an unknown client
    /// assert_eq!(idp.user_token("nobody", "alice", &[], None).await.unwrap_err().error, "invalid_client");
    /// # });
    /// ```
    ///
    /// # Errors
    ///
    /// `invalid_client` for an unknown client, `invalid_scope`, `invalid_target`.
    pub async fn user_token(
        &self,
        client_id: &str,
        user: &str,
        scopes: &[&str],
        audience: Option<&str>,
    ) -> Result<IssuedToken, OAuthError> {
        let mut grant = {
            let client = self
                .state
                .client(client_id)
                .ok_or_else(OAuthError::invalid_client)?;
            let mut params = vec![("grant_type".to_owned(), "client_credentials".to_owned())];
            if !scopes.is_empty() {
                params.push(("scope".into(), scopes.join(" ")));
            }
            if let Some(a) = audience {
                params.push(("resource".into(), a.into()));
            }
            grants::client_credentials(client, &Params(params))?
        };
        grant.subject = user.to_owned();
        grant.refresh_family = Some(String::new());
        let client = self
            .state
            .client(client_id)
            .ok_or_else(OAuthError::invalid_client)?;
        Ok(grants::issue(&self.state, client, grant))
    }

    /// A [`TokenBuilder`] signed by the current signing key and preset like a
    /// `client_credentials` token of `client_id` (`iss`, `sub`, `client_id`, the
    /// client's default `aud` and `scope`, `typ: at+jwt`, the IdP's `alg` and `kid`),
    /// to craft tokens the token endpoint would never issue for negative tests:
    /// `.expired()`, `.wrong_audience()`, other claims. Such tokens are not recorded
    /// (introspection answers `active: false`).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let idp = tollgate_testkit::DevIdp::builder().start().await.unwrap();
    /// let expired = idp.token_builder("demo-reader").expired();
    /// # assert_eq!(expired.split('.').count(), 3);
    /// # });
    /// ```
    pub fn token_builder(&self, client_id: &str) -> TokenBuilder {
        let (key, alg) = self.state.signing_key();
        let mut b = key
            .token()
            .alg(alg)
            .issuer(self.issuer())
            .subject(client_id)
            .client_id(client_id);
        if let Some(c) = self.state.client(client_id) {
            let aud: Vec<&str> = c
                .audiences_by_default()
                .iter()
                .map(String::as_str)
                .collect();
            b = match aud.as_slice() {
                [one] => b.audience(one),
                many => b.audiences(many),
            };
            let scope = c.granted_by_default().join(" ");
            b = if scope.is_empty() {
                b.without("scope")
            } else {
                b.scope(&scope)
            };
        }
        b
    }

    /// Stops serving and the rotation timer (also done on drop).
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
        for t in self
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            t.abort();
        }
    }
}

impl Drop for DevIdp {
    fn drop(&mut self) {
        self.shutdown();
    }
}
