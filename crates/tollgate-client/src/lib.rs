//! # tollgate-client
//!
//! The outgoing side of tollgate: how a service gets tokens for the services it calls,
//! and puts them on its requests.
//!
//! - [`TokenSource`]: a valid access token for one target, cached and renewed ahead of
//!   expiry ([`cache`]). Implementations: [`ClientCredentials`] (the service's own
//!   identity; `client_secret_basic`, `client_secret_post`, `private_key_jwt`) and
//!   [`RefreshTokenSource`] (rotating refresh tokens).
//! - [`TokenExchange`] (RFC 8693): the caller's token traded for one addressed to the
//!   next hop, with fewer scopes and this service named as actor, so a token leaked
//!   downstream cannot be replayed upstream.
//! - Configuration is separate from live state: `ClientCredentials::builder(..)`,
//!   `RefreshTokenSource::builder(..)` and `TokenExchange::builder(..)` are plain
//!   configuration; their `build()` checks it (scopes are core
//!   [`Scope`](tollgate_core::scope::Scope)s) and returns the live source that owns its
//!   cache, so a token for one target is never served for another.
//! - [`AddAuthorizationLayer`]: a tower layer setting `Authorization: Bearer` by a
//!   [`Propagation`] mode — exchange, own identity, or (risky) forward unchanged.
//! - DPoP (RFC 9449, [`dpop`]): a [`DpopKey`] given to a source (`dpop(key)`) gets
//!   DPoP-bound tokens; [`AddDpopLayer`] sends them with a fresh proof per request and
//!   answers nonce challenges once.
//! - Typed errors ([`TokenError`] at run time with [`OAuthErrorCode`], [`ConfigError`]
//!   when configuring), with `source()` chains; no token or secret in any `Display` or
//!   `Debug` output.
//!
//! Token endpoint requests go through tollgate-core's OAuth stack
//! ([`tollgate_core::oauth`]: client authentication, discovery, URL policy, timeout,
//! [`HttpClient`] with hyper + rustls by default), the same as the resource server's
//! key fetching and introspection. The pieces a client configures are re-exported here.
//!
//! # Example
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use tollgate_client::{ClientAuth, ClientCredentials, TokenEndpoint, TokenSource, OAuthErrorCode};
//!
//! let idp = tollgate_testkit::DevIdp::builder().start().await.unwrap();
//! let endpoint = TokenEndpoint::new(&idp.token_endpoint()).unwrap()
//!     .client_auth(ClientAuth::client_secret_post("demo-reader", "demo-reader-secret"));
//!
//! // accepted
//! let orders = ClientCredentials::builder(endpoint.clone()).audience("orders").build().unwrap();
//! assert!(orders.token().await.is_ok());
//!
//! // rejected: this client may not ask for audience inventory
//! let inventory = ClientCredentials::builder(endpoint).audience("inventory").build().unwrap();
//! assert_eq!(inventory.token().await.unwrap_err().oauth_code(), Some(&OAuthErrorCode::InvalidTarget));
//! # });
//! ```

pub mod cache;
pub mod dpop;
pub mod dpop_layer;
pub mod endpoint;
pub mod error;
pub mod exchange;
pub mod layer;
pub mod source;
pub mod token;

pub use dpop::{DpopKey, DpopKeyError};
pub use dpop_layer::{AddDpop, AddDpopLayer};
pub use endpoint::{TokenEndpoint, TokenResponse, TokenType};
pub use error::{ConfigError, OAuthErrorCode, TokenError};
pub use exchange::{TokenExchange, TokenExchangeBuilder};
pub use layer::{AddAuthorization, AddAuthorizationLayer, Propagation};
pub use source::{
    ClientCredentials, ClientCredentialsBuilder, RefreshTokenSource, RefreshTokenSourceBuilder,
    TokenSource,
};
pub use token::{AccessToken, RefreshToken, SubjectToken};
pub use tollgate_core::oauth::{
    ClientAuth, FormParams, HttpClient, HyperClient, JwtSigner, PemSigner,
};
