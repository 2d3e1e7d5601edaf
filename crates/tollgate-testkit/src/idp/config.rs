//! Clients and settings of the dev identity provider, from code or a TOML file.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use tollgate_core::alg::Algorithm;

/// What kind of access token a client receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum TokenFormat {
    /// RFC 9068 JWT access tokens (`typ: at+jwt`), verifiable with the JWKS.
    #[default]
    Jwt,
    /// Random reference tokens, meaningful only through introspection (RFC 7662).
    Opaque,
}

/// A registered client: credentials and what it may ask for.
///
/// ```
/// use tollgate_testkit::idp::Client;
/// let c = Client::new("svc", "svc-secret")
///     .scopes(["orders:read", "orders:write"])
///     .audiences(["orders"])
///     .default_scopes(["orders:read"]);
/// assert_eq!(c.id, "svc");
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Client {
    /// `client_id`.
    pub id: String,
    /// `client_secret` (for `client_secret_basic` and `client_secret_post`).
    pub secret: String,
    /// Scopes the client may be granted.
    pub scopes: Vec<String>,
    /// Audiences (`resource` / `audience` values) the client may ask tokens for.
    pub audiences: Vec<String>,
    /// Granted when the request names no scope (`None`: all of [`Self::scopes`]).
    pub default_scopes: Option<Vec<String>>,
    /// Used when the request names no audience (`None`: all of [`Self::audiences`]).
    pub default_audiences: Option<Vec<String>>,
    /// JWT (default) or opaque reference tokens.
    pub format: TokenFormat,
    /// Audiences this client may obtain by token exchange (RFC 8693) for a subject
    /// token it presents; empty (the default): the client may not exchange at all
    /// (`unauthorized_client`).
    pub exchange_audiences: Vec<String>,
    /// A public key (PEM `PUBLIC KEY`) with which the client may authenticate by
    /// `private_key_jwt` (RFC 7523) instead of its secret.
    pub jwt_public_key_pem: Option<String>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .field("scopes", &self.scopes)
            .field("audiences", &self.audiences)
            .field("default_scopes", &self.default_scopes)
            .field("default_audiences", &self.default_audiences)
            .field("format", &self.format)
            .field("exchange_audiences", &self.exchange_audiences)
            .field("jwt_public_key_pem", &self.jwt_public_key_pem.is_some())
            .finish()
    }
}

fn strings<S: Into<String>>(items: impl IntoIterator<Item = S>) -> Vec<String> {
    items.into_iter().map(Into::into).collect()
}

impl Client {
    /// A client with no scopes and no audiences yet.
    #[must_use]
    pub fn new(id: impl Into<String>, secret: impl Into<String>) -> Self {
        Client {
            id: id.into(),
            secret: secret.into(),
            scopes: Vec::new(),
            audiences: Vec::new(),
            default_scopes: None,
            default_audiences: None,
            format: TokenFormat::Jwt,
            exchange_audiences: Vec::new(),
            jwt_public_key_pem: None,
        }
    }

    /// Lets the client exchange subject tokens (RFC 8693) for tokens addressed to
    /// these audiences (the token-exchange policy).
    #[must_use]
    pub fn may_exchange_for<S: Into<String>>(
        mut self,
        audiences: impl IntoIterator<Item = S>,
    ) -> Self {
        self.exchange_audiences = strings(audiences);
        self
    }

    /// Lets the client authenticate with `private_key_jwt` (RFC 7523): assertions
    /// signed by the private half of this PEM `PUBLIC KEY` (RSA, EC P-256/P-384 or
    /// Ed25519).
    #[must_use]
    pub fn jwt_public_key_pem(mut self, pem: impl Into<String>) -> Self {
        self.jwt_public_key_pem = Some(pem.into());
        self
    }

    /// Sets the allowed scopes.
    #[must_use]
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes = strings(scopes);
        self
    }

    /// Sets the allowed audiences.
    #[must_use]
    pub fn audiences<S: Into<String>>(mut self, audiences: impl IntoIterator<Item = S>) -> Self {
        self.audiences = strings(audiences);
        self
    }

    /// Sets the scopes granted when none is requested.
    #[must_use]
    pub fn default_scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.default_scopes = Some(strings(scopes));
        self
    }

    /// Sets the audiences used when none is requested.
    #[must_use]
    pub fn default_audiences<S: Into<String>>(
        mut self,
        audiences: impl IntoIterator<Item = S>,
    ) -> Self {
        self.default_audiences = Some(strings(audiences));
        self
    }

    /// Issues opaque reference tokens instead of JWTs.
    #[must_use]
    pub fn opaque(mut self) -> Self {
        self.format = TokenFormat::Opaque;
        self
    }

    /// The scopes granted when the request names none.
    pub(crate) fn granted_by_default(&self) -> &[String] {
        self.default_scopes.as_deref().unwrap_or(&self.scopes)
    }

    /// The audiences used when the request names none.
    pub(crate) fn audiences_by_default(&self) -> &[String] {
        self.default_audiences.as_deref().unwrap_or(&self.audiences)
    }

    fn check(&self) -> Result<(), ConfigError> {
        let client = || self.id.clone();
        if self.id.is_empty() || self.id.contains(':') {
            return Err(ConfigError::ClientId { client: client() });
        }
        if self.secret.is_empty() {
            return Err(ConfigError::EmptySecret { client: client() });
        }
        if self.audiences.is_empty() {
            return Err(ConfigError::NoAudience { client: client() });
        }
        if let Some(s) = self.scopes.iter().find(|s| !valid_scope_token(s)) {
            return Err(ConfigError::InvalidScope {
                client: client(),
                scope: s.clone(),
            });
        }
        if let Some(d) = &self.default_scopes
            && let Some(s) = d.iter().find(|s| !self.scopes.contains(s))
        {
            return Err(ConfigError::DefaultScope {
                client: client(),
                scope: s.clone(),
            });
        }
        if let Some(d) = &self.default_audiences {
            if d.is_empty() {
                return Err(ConfigError::EmptyDefaultAudiences { client: client() });
            }
            if let Some(a) = d.iter().find(|a| !self.audiences.contains(a)) {
                return Err(ConfigError::DefaultAudience {
                    client: client(),
                    audience: a.clone(),
                });
            }
        }
        if self.exchange_audiences.iter().any(String::is_empty) {
            return Err(ConfigError::EmptyExchangeAudience { client: client() });
        }
        if let Some(pem) = &self.jwt_public_key_pem
            && let Err(source) = tollgate_core::Key::from_pem(None, None, pem.as_bytes())
        {
            return Err(ConfigError::JwtPublicKeyPem {
                client: client(),
                source,
            });
        }
        Ok(())
    }
}

/// RFC 6749 §3.3: `1*( %x21 / %x23-5B / %x5D-7E )`.
pub(crate) fn valid_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// Everything the dev identity provider is configured with.
///
/// [`Default`] is the built-in set matching the examples (see the
/// [module documentation](crate::idp#default-clients)); [`IdpConfig::from_toml`] reads a
/// file in this shape (every key optional except a client's `id`, `secret` and
/// `audiences`; durations in seconds; `rotation_interval_secs = 0` turns the timer off):
///
/// ```
/// let config = tollgate_testkit::idp::IdpConfig::from_toml(r#"
///     token_ttl_secs = 300          # access token lifetime
///     rotation_interval_secs = 3600 # rotate the signing key every hour (0: never)
///     rotation_grace_secs = 900     # keep a retired key published this long
///     jwks_max_age_secs = 60        # Cache-Control: max-age of the JWKS
///     algorithm = "ES256"           # RS256 (default), PS256, ES256, ES384 or EdDSA
///     dpop_nonce = false            # true: DPoP proofs at /token need a server nonce
///
///     [[clients]]
///     id = "billing"
///     secret = "billing-secret"
///     scopes = ["invoices:read", "invoices:write"]
///     audiences = ["invoices"]
///     default_scopes = ["invoices:read"]  # when a request names none (default: all)
///
///     [[clients]]
///     id = "legacy"
///     secret = "legacy-secret"
///     scopes = ["invoices:read"]
///     audiences = ["invoices"]
///     token_format = "opaque"           # reference tokens for introspection
///
///     [[clients]]
///     id = "gateway"
///     secret = "gateway-secret"
///     scopes = ["gateway:call"]
///     audiences = ["gateway"]
///     exchange_audiences = ["invoices"]    # RFC 8693: may exchange tokens for these
///     ## jwt_public_key_pem = "<PEM public key>"  # would allow private_key_jwt
/// "#)?;
/// assert_eq!(config.clients.len(), 3);
/// # Ok::<(), tollgate_testkit::idp::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IdpConfig {
    /// Registered clients.
    pub clients: Vec<Client>,
    /// Access token lifetime (default 5 min).
    pub token_ttl: Duration,
    /// Rotate the signing key on this timer (default: never; rotate on demand).
    pub rotation_interval: Option<Duration>,
    /// How long a retired signing key stays in the JWKS (default 10 min). Keep it at
    /// least the token lifetime plus the resource servers' refresh interval, or tokens
    /// it signed are refused before they expire.
    pub rotation_grace: Duration,
    /// `Cache-Control: max-age` of the JWKS (default 60 s).
    pub jwks_max_age: Duration,
    /// Signing algorithm (default RS256).
    pub algorithm: Algorithm,
    /// Require a server nonce in DPoP proofs at the token endpoint (RFC 9449 §8):
    /// a proof without a fresh one is answered 400 `use_dpop_nonce` with a
    /// `DPoP-Nonce` header (default false). Requests without a proof are unaffected.
    pub dpop_nonce: bool,
}

impl Default for IdpConfig {
    fn default() -> Self {
        IdpConfig {
            clients: default_clients(),
            token_ttl: Duration::from_secs(300),
            rotation_interval: None,
            rotation_grace: Duration::from_secs(600),
            jwks_max_age: Duration::from_secs(60),
            algorithm: Algorithm::RS256,
            dpop_nonce: false,
        }
    }
}

/// The built-in clients (see the [module documentation](crate::idp#default-clients)).
#[must_use]
pub fn default_clients() -> Vec<Client> {
    vec![
        Client::new("demo-full", "demo-full-secret")
            .scopes([
                "orders:read",
                "orders:write",
                "inventory:read",
                "inventory:write",
            ])
            .audiences(["orders", "inventory"]),
        Client::new("demo-reader", "demo-reader-secret")
            .scopes(["orders:read"])
            .audiences(["orders"]),
        Client::new("demo-opaque", "demo-opaque-secret")
            .scopes(["orders:read", "inventory:read"])
            .audiences(["orders", "inventory"])
            .opaque(),
    ]
}

/// A configuration that cannot be used: which setting or client, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The TOML text does not parse, or names an unknown key (the parser's message,
    /// which names the key and the line).
    #[error(transparent)]
    Toml(#[from] toml::de::Error),
    /// `algorithm` names no JWS algorithm.
    #[error("algorithm: unknown {name:?}")]
    UnknownAlgorithm {
        /// The configured name.
        name: String,
        /// The parser's refusal.
        #[source]
        source: tollgate_core::alg::UnknownAlgorithm,
    },
    /// `algorithm` is a JWS algorithm the dev IdP does not sign with.
    #[error("algorithm {algorithm} is not supported (RS256, PS256, ES256, ES384, EdDSA)")]
    UnsupportedAlgorithm {
        /// The configured algorithm.
        algorithm: Algorithm,
    },
    /// `token_ttl` is shorter than one second.
    #[error("token_ttl must be at least 1 s")]
    TokenTtl,
    /// The client list is empty.
    #[error("no clients configured")]
    NoClients,
    /// Two clients have the same id.
    #[error("client {client:?} is listed twice")]
    DuplicateClient {
        /// The client id.
        client: String,
    },
    /// A client id is empty or contains `:`.
    #[error("client {client:?}: client id must be non-empty (and may not contain ':')")]
    ClientId {
        /// The client id.
        client: String,
    },
    /// A client secret is empty.
    #[error("client {client:?}: secret must not be empty")]
    EmptySecret {
        /// The client id.
        client: String,
    },
    /// A client has no audience.
    #[error("client {client:?}: at least one audience is required (RFC 9068 tokens carry aud)")]
    NoAudience {
        /// The client id.
        client: String,
    },
    /// A client's scope is not an RFC 6749 scope token.
    #[error("client {client:?}: scope {scope:?} is not an RFC 6749 scope token")]
    InvalidScope {
        /// The client id.
        client: String,
        /// The scope.
        scope: String,
    },
    /// A client's default scope is not among its scopes.
    #[error("client {client:?}: default scope {scope:?} is not among its scopes")]
    DefaultScope {
        /// The client id.
        client: String,
        /// The default scope.
        scope: String,
    },
    /// A client's `default_audiences` is an empty list.
    #[error("client {client:?}: default_audiences must not be empty")]
    EmptyDefaultAudiences {
        /// The client id.
        client: String,
    },
    /// A client's default audience is not among its audiences.
    #[error("client {client:?}: default audience {audience:?} is not among its audiences")]
    DefaultAudience {
        /// The client id.
        client: String,
        /// The default audience.
        audience: String,
    },
    /// A client's exchange audience is the empty string.
    #[error("client {client:?}: an exchange audience is empty")]
    EmptyExchangeAudience {
        /// The client id.
        client: String,
    },
    /// A client's `jwt_public_key_pem` is not a usable PEM public key.
    #[error("client {client:?}: jwt_public_key_pem is not a usable PEM public key")]
    JwtPublicKeyPem {
        /// The client id.
        client: String,
        /// Why the key was refused.
        #[source]
        source: tollgate_core::keys::KeyRejection,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDto {
    token_ttl_secs: Option<u64>,
    rotation_interval_secs: Option<u64>,
    rotation_grace_secs: Option<u64>,
    jwks_max_age_secs: Option<u64>,
    algorithm: Option<String>,
    dpop_nonce: Option<bool>,
    #[serde(default)]
    clients: Vec<ClientDto>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientDto {
    id: String,
    secret: String,
    #[serde(default)]
    scopes: Vec<String>,
    audiences: Vec<String>,
    default_scopes: Option<Vec<String>>,
    default_audiences: Option<Vec<String>>,
    #[serde(default)]
    token_format: TokenFormat,
    #[serde(default)]
    exchange_audiences: Vec<String>,
    jwt_public_key_pem: Option<String>,
}

impl IdpConfig {
    /// Reads a TOML configuration; unset settings keep their defaults. A file with a
    /// `[[clients]]` list replaces the built-in clients; one without keeps them.
    ///
    /// # Errors
    ///
    /// TOML syntax, unknown keys, or an unusable client (see [`IdpConfig::check`]).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let dto: FileDto = toml::from_str(text)?;
        let mut config = IdpConfig::default();
        if let Some(s) = dto.token_ttl_secs {
            config.token_ttl = Duration::from_secs(s);
        }
        if let Some(s) = dto.rotation_interval_secs {
            config.rotation_interval = (s > 0).then(|| Duration::from_secs(s));
        }
        if let Some(s) = dto.rotation_grace_secs {
            config.rotation_grace = Duration::from_secs(s);
        }
        if let Some(s) = dto.jwks_max_age_secs {
            config.jwks_max_age = Duration::from_secs(s);
        }
        if let Some(n) = dto.dpop_nonce {
            config.dpop_nonce = n;
        }
        if let Some(a) = dto.algorithm {
            config.algorithm = a
                .parse()
                .map_err(|source| ConfigError::UnknownAlgorithm { name: a, source })?;
        }
        if !dto.clients.is_empty() {
            config.clients = dto
                .clients
                .into_iter()
                .map(|c| Client {
                    id: c.id,
                    secret: c.secret,
                    scopes: c.scopes,
                    audiences: c.audiences,
                    default_scopes: c.default_scopes,
                    default_audiences: c.default_audiences,
                    format: c.token_format,
                    exchange_audiences: c.exchange_audiences,
                    jwt_public_key_pem: c.jwt_public_key_pem,
                })
                .collect();
        }
        config.check()?;
        Ok(config)
    }

    /// Checks the configuration: at least one client, unique ids, valid scope tokens,
    /// defaults within the allowed sets, a usable signing algorithm, a token lifetime
    /// of at least one second.
    ///
    /// # Errors
    ///
    /// The first problem found.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.clients.is_empty() {
            return Err(ConfigError::NoClients);
        }
        for (i, c) in self.clients.iter().enumerate() {
            c.check()?;
            if self.clients[..i].iter().any(|o| o.id == c.id) {
                return Err(ConfigError::DuplicateClient {
                    client: c.id.clone(),
                });
            }
        }
        if !matches!(
            self.algorithm,
            Algorithm::RS256
                | Algorithm::PS256
                | Algorithm::ES256
                | Algorithm::ES384
                | Algorithm::EdDSA
        ) {
            return Err(ConfigError::UnsupportedAlgorithm {
                algorithm: self.algorithm,
            });
        }
        if self.token_ttl < Duration::from_secs(1) {
            return Err(ConfigError::TokenTtl);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        IdpConfig::default().check().unwrap();
    }

    #[test]
    fn file_errors_are_reported() {
        let e = IdpConfig::from_toml("tokn_ttl_secs = 3").unwrap_err();
        assert!(e.to_string().contains("tokn_ttl_secs"), "{e}");
        let e = IdpConfig::from_toml(
            "[[clients]]\nid='a'\nsecret='s'\nscopes=['x']\naudiences=['y']\ndefault_scopes=['z']",
        )
        .unwrap_err();
        assert!(e.to_string().contains("default scope"), "{e}");
        let e = IdpConfig::from_toml("[[clients]]\nid='a'\nsecret='s'\naudiences=[]").unwrap_err();
        assert!(e.to_string().contains("audience"), "{e}");
        let e = IdpConfig::from_toml("algorithm = 'HS256'").unwrap_err();
        assert!(e.to_string().contains("HS256"), "{e}");
        let e = IdpConfig::from_toml(
            "[[clients]]\nid='a'\nsecret='s'\naudiences=['y']\n[[clients]]\nid='a'\nsecret='t'\naudiences=['y']",
        )
        .unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
    }

    /// Each error names the setting or client; a refusal by a parser is its source.
    #[test]
    fn errors_name_the_setting_and_chain_the_cause() {
        use std::error::Error as _;

        let e = IdpConfig::from_toml("algorithm = 'XX9'").unwrap_err();
        assert_eq!(e.to_string(), "algorithm: unknown \"XX9\"");
        assert!(
            e.source()
                .and_then(|s| s.downcast_ref::<tollgate_core::alg::UnknownAlgorithm>())
                .is_some()
        );

        let config = IdpConfig {
            clients: vec![
                Client::new("svc", "s")
                    .audiences(["api"])
                    .jwt_public_key_pem("not a key"),
            ],
            ..IdpConfig::default()
        };
        let e = config.check().unwrap_err();
        assert_eq!(
            e.to_string(),
            "client \"svc\": jwt_public_key_pem is not a usable PEM public key"
        );
        assert_eq!(
            e.source()
                .and_then(|s| s.downcast_ref::<tollgate_core::keys::KeyRejection>()),
            Some(&tollgate_core::keys::KeyRejection::Pem)
        );

        // the TOML parser's own message (it names the key), no second copy in source()
        let e = IdpConfig::from_toml("tokn_ttl_secs = 3").unwrap_err();
        assert!(matches!(e, ConfigError::Toml(_)));
        assert!(e.to_string().contains("tokn_ttl_secs"), "{e}");

        // IdpError: a configuration error reads as itself; a bind error chains the io error
        let e = crate::idp::IdpError::from(ConfigError::NoClients);
        assert_eq!(e.to_string(), "no clients configured");
        let addr = "127.0.0.1:1".parse().unwrap();
        let e = crate::idp::IdpError::Bind(addr, std::io::Error::other("in use"));
        assert_eq!(e.to_string(), "cannot bind 127.0.0.1:1");
        assert_eq!(e.source().unwrap().to_string(), "in use");
    }
}
