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
//! - [`BearerLayer`]: a tower layer setting `Authorization: Bearer` by a
//!   [`Propagation`] mode — exchange, own identity, or (risky) forward unchanged.
//! - Typed errors ([`TokenError`], [`OAuthErrorCode`]); no token or secret in any
//!   `Display` or `Debug` output.
//!
//! Token endpoint requests go through tollgate-core's
//! [`HttpClient`](tollgate_core::remote::HttpClient) (hyper + rustls by default).
//!
//! # Example
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use tollgate_client::{ClientAuth, ClientCredentials, TokenEndpoint, TokenSource, OAuthErrorCode};
//!
//! let idp = tollgate_testkit::DevIdp::builder().start().await.unwrap();
//! let endpoint = TokenEndpoint::new(&idp.token_endpoint()).unwrap();
//!
//! // accepted
//! let orders = ClientCredentials::new(endpoint.clone().client_auth(ClientAuth::client_secret_post("demo-reader", "demo-reader-secret")))
//!     .audience("orders");
//! assert!(orders.token().await.is_ok());
//!
//! // rejected: this client may not ask for audience inventory
//! let inventory = ClientCredentials::new(endpoint.client_auth(ClientAuth::client_secret_post("demo-reader", "demo-reader-secret")))
//!     .audience("inventory");
//! assert_eq!(inventory.token().await.unwrap_err().oauth_code(), Some(&OAuthErrorCode::InvalidTarget));
//! # });
//! ```

pub mod cache;
pub mod endpoint;
pub mod error;
pub mod exchange;
pub mod layer;
pub mod source;
pub mod token;

#[doc(inline)]
pub use endpoint::{ClientAuth, TokenEndpoint};
#[doc(inline)]
pub use error::{OAuthErrorCode, TokenError};
#[doc(inline)]
pub use exchange::TokenExchange;
#[doc(inline)]
pub use layer::{Bearer, BearerLayer, Propagation};
#[doc(inline)]
pub use source::{ClientCredentials, RefreshTokenSource, TokenSource};
#[doc(inline)]
pub use token::{AccessToken, RefreshToken, SubjectToken};
