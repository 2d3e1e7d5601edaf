//! The one OAuth HTTP stack (feature `remote`) behind every call tollgate makes to an
//! authorization server: key sets and discovery ([`remote`](crate::remote)),
//! introspection ([`introspect`](crate::introspect)) and tollgate-client's token
//! requests.
//!
//! - **Transport**: the [`HttpClient`] trait (`GET` for keys and metadata, form `POST`
//!   for introspection and token requests; bring your own for a proxy, a custom CA or
//!   mTLS) and the default [`HyperClient`] (hyper-util + rustls on aws-lc-rs).
//! - **URL policy** ([`check_url`]): absolute `https`, `http` only to a loopback host,
//!   never `user@`; for every endpoint, configured or discovered.
//! - **Timeout**: [`DEFAULT_TIMEOUT`] (5 s, body included) for one exchange, the
//!   default of every caller (key fetch, discovery, introspection, token request).
//! - **Discovery** ([`discover_endpoint`]): OpenID Connect and RFC 8414 with path
//!   insertion; the metadata's `issuer` must equal the configured issuer exactly.
//! - **Client authentication** ([`ClientAuth`]): `client_secret_basic`,
//!   `client_secret_post`, `private_key_jwt` ([`JwtSigner`], [`PemSigner`]), a
//!   separate access token, a public client, or your own [`ClientAuthHook`]. Secrets
//!   never appear in `Debug` or in an error.
//! - **Form requests**: [`FormParams`] and [`form_post`], one way to build an
//!   authenticated form `POST`.
//!
//! # Example
//!
//! ```
//! use tollgate_core::oauth::{ClientAuth, FormParams, check_url, form_post};
//!
//! let endpoint: http::Uri = "https://idp.example/token".parse()?;
//! // accepted: an https endpoint; the secret goes into a sensitive Basic header
//! check_url(&endpoint)?;
//! let form: FormParams = [("grant_type", "client_credentials")].into_iter().collect();
//! let auth = ClientAuth::client_secret_basic("orders-api", "s3cret");
//! let request = form_post(&endpoint, &auth, form, 64 * 1024)?;
//! assert!(request.headers["authorization"].is_sensitive());
//! assert_eq!(&request.body[..], b"grant_type=client_credentials");
//!
//! // rejected: user info in the URL
//! assert!(check_url(&"https://user@idp.example/token".parse()?).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod assertion;
mod auth;
mod client;
mod discovery;
mod form;
mod url;

use std::time::Duration;

pub use self::assertion::{JwtSigner, PemSigner, SignerError};
pub use self::auth::{ClientAuth, ClientAuthError, ClientAuthHook};
pub use self::client::{
    BoxFuture, HttpClient, HttpError, HttpRequest, HttpResponse, HyperClient, mtls_client_config,
};
pub use self::discovery::{MetadataField, discover_endpoint};
pub use self::form::{FormParams, form_post};
pub use self::url::{InsecureUrl, check_url, parse_url};

pub(crate) use self::client::get_same_origin;

/// The timeout of one exchange with an authorization server, body included, unless
/// configured otherwise: 5 s (key fetch, discovery, introspection, token request).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The error an extension returns ([`ClientAuthHook`], [`JwtSigner`]).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
