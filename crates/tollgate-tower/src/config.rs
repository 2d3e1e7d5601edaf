//! [`GateConfig`]: the gate's settings as plain data — from a TOML file, from
//! `TOLLGATE_*` environment variables, or embedded in your own configuration (the types
//! implement `serde::Deserialize`) — turned into a [`TollgateBuilder`].
//!
//! # The file (`TOLLGATE_CONFIG=/path/to/tollgate.toml`)
//!
//! ```toml
//! realm = "orders"                      # challenge realm (optional)
//! resource = "https://orders.example.com"   # RFC 9728 resource identifier (optional)
//!
//! [[issuer]]                            # one or more
//! issuer = "https://idp.example.com/realms/acme"   # exact `iss`
//! audiences = ["orders-api"]            # any-of (required; may be [] with `resource`: then the resource)
//! preset = "keycloak"                   # rfc9068 (default) | jwt | keycloak | entra | auth0 | okta | cognito
//! jwks_uri = "https://idp.example.com/realms/acme/protocol/openid-connect/certs"   # absent: discovery
//! algorithms = ["RS256"]                # absent: every asymmetric algorithm
//! leeway_secs = 30
//! permissions = [{ claim = "groups", prefix = "group:" }]   # more permission sources
//!
//! [introspection]                       # opaque tokens (RFC 7662), optional
//! endpoint = "https://idp.example.com/introspect"   # absent: from discovery
//! client_id = "orders-api"
//! client_secret_file = "/run/secrets/orders-api"    # or client_secret_env = "ORDERS_SECRET"
//! cache_secs = 30
//! routing = "non-jwt"                   # non-jwt (default) | all
//! max_in_flight = 16                    # calls at once; a new token beyond → 503
//! max_per_sec = 100                     # new calls per second (0: no rate limit)
//!
//! [cache]
//! max_entries = 100000                  # verified-token cache; 0 turns it off
//!
//! [dpop]                                # DPoP (RFC 9449), optional
//! mode = "allowed"                      # off (default) | allowed | required
//! nonce = "required"                    # off (default) | required
//! nonce_secret_env = "ORDERS_DPOP_NONCE_SECRET"   # or nonce_secret_file; >= 32 bytes; absent: random per process
//! [redis]                               # state shared by replicas (feature `redis`), optional
//! url = "redis://127.0.0.1:6379/0"      # DPoP replay store + introspection cache + fleet max_per_sec
//! prefix = "orders:"                    # key prefix (default "tollgate:")
//! timeout_ms = 50                       # per operation; slower → DPoP 503, introspection asks the AS
//! fallback = "refuse"                   # refuse (default: DPoP 503 while Redis is away) | local-only
//! ```
//!
//! With DPoP on, the top-level `public_url = "https://orders.example.com"` is the
//! external base URL a proof's `htu` must name (followed by the request path).
//!
//! Unknown fields and bad values are refused with a message naming the field (and the
//! line). Secrets never sit in the file: `client_secret_env` names an environment
//! variable, `client_secret_file` a file (trailing newline ignored); neither is ever
//! printed, not in errors and not in `Debug`.
//!
//! # The environment (without `TOLLGATE_CONFIG`)
//!
//! | variable | meaning |
//! |---|---|
//! | `TOLLGATE_ISSUER` | the exact `iss` (required) |
//! | `TOLLGATE_AUDIENCE` | accepted audiences, comma-separated (required unless `TOLLGATE_RESOURCE` is set) |
//! | `TOLLGATE_RESOURCE` | the RFC 9728 resource identifier (e.g. `https://orders.example.com`): metadata document, `resource_metadata` in challenges, and the default audience (see [`crate::metadata`]) |
//! | `TOLLGATE_PRESET` | `rfc9068` (default), `jwt`, `keycloak`, `entra`, `auth0`, `okta`, `cognito` |
//! | `TOLLGATE_JWKS_URI` | JWKS URL; unset → the issuer's discovery metadata |
//! | `TOLLGATE_ALGORITHMS` | algorithm allow-list, comma-separated (default: all asymmetric) |
//! | `TOLLGATE_INTROSPECTION_URI` | RFC 7662 endpoint: opaque tokens are introspected |
//! | `TOLLGATE_CLIENT_ID`, `TOLLGATE_CLIENT_SECRET` (or `TOLLGATE_CLIENT_SECRET_FILE`) | the resource server's credentials for introspection (`client_secret_basic`; both or neither) |
//! | `TOLLGATE_INTROSPECTION_CACHE_SECS` | cache TTL of active answers (default 30) |
//! | `TOLLGATE_INTROSPECTION_MAX_IN_FLIGHT` | most introspection calls at once (default 16); a new token beyond → 503 without a call |
//! | `TOLLGATE_INTROSPECTION_MAX_PER_SEC` | most new introspection calls per second (default 100; 0: no rate limit); beyond → 503 without a call |
//! | `TOLLGATE_DPOP` | DPoP (RFC 9449): `off` (default, Bearer only), `allowed` (Bearer and DPoP; a DPoP-bound token needs its proof), `required` (DPoP only) |
//! | `TOLLGATE_DPOP_NONCE` | `off` (default) or `required`: proofs carry a server nonce (401 `use_dpop_nonce` + `DPoP-Nonce` otherwise); needs `TOLLGATE_DPOP` on |
//! | `TOLLGATE_DPOP_NONCE_SECRET` | the nonce HMAC secret: the raw value's bytes, at least 32 (e.g. `openssl rand -hex 32`); replicas sharing it accept each other's nonces; unset → random per process |
//! | `TOLLGATE_PUBLIC_URL` | the external base URL a DPoP proof's `htu` names (e.g. `https://orders.example.com`); unset → the application's default (the examples: `http://<BIND>`) |
//! | `TOLLGATE_REDIS_URL` | `redis://host:port/db`: the DPoP replay store, the introspection cache and the introspection `max_per_sec` count shared by replicas on Redis (feature `redis`) |
//! | `TOLLGATE_REDIS_PREFIX` | key prefix on Redis (default `tollgate:`): one per service sharing a Redis |
//! | `TOLLGATE_REDIS_TIMEOUT_MS` | timeout of one Redis operation (default 50): slower → DPoP 503, introspection asks the authorization server within this replica's own budget |
//!
//! ```
//! use tollgate_tower::GateConfig;
//!
//! let env = |k: &str| match k {
//!     "TOLLGATE_ISSUER" => Some("https://idp.example".to_owned()),
//!     "TOLLGATE_AUDIENCE" => Some("orders, billing".to_owned()),
//!     "TOLLGATE_PRESET" => Some("keycloak".to_owned()),
//!     _ => None,
//! };
//! let config = GateConfig::from_lookup(env).unwrap();
//! assert_eq!(config.issuers[0].audiences, ["orders", "billing"]);
//! let _builder = config.builder::<()>(); // .build().await
//!
//! // refused: the variable is named
//! let err = GateConfig::from_lookup(|_| None).unwrap_err();
//! assert_eq!(err.to_string(), "TOLLGATE_ISSUER is required");
//!
//! // the same settings from TOML
//! let config = GateConfig::from_toml(r#"
//!     [[issuer]]
//!     issuer = "https://idp.example"
//!     audiences = ["orders"]
//!     preset = "keycloak"
//! "#).unwrap();
//! assert_eq!(config.issuers[0].preset.name(), "keycloak");
//! // refused: an unknown field, named
//! let err = GateConfig::from_toml("[[issuer]]\nissuer = \"x\"\naudience = [\"y\"]\n").unwrap_err();
//! assert!(err.to_string().contains("audience"), "{err}");
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tollgate_core::alg::Algorithm;
use tollgate_core::cache::CacheConfig;
use tollgate_core::introspect::{Introspector, IntrospectorBuilder, Routing};
use tollgate_core::oauth::ClientAuth;
use tollgate_core::preset::{PermissionSource, Preset};
use tollgate_core::remote::IssuerConfig;
use tollgate_core::validation::Validation;

use crate::auth::{Dpop, DpopMode};
use crate::gate::{BuildError, Tollgate, TollgateBuilder};
use tollgate_core::dpop::{DpopVerifier, NonceIssuer, PublicUrl};

/// The gate's settings as plain data (see the [module docs](self)).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct GateConfig {
    /// The challenge realm (default `api`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
    /// The RFC 9728 protected resource identifier (see [`crate::metadata`]); the
    /// audience of issuers that list none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The service's external base URL (`public_url`, `TOLLGATE_PUBLIC_URL`), e.g.
    /// `https://orders.example.com`: a DPoP proof's `htu` must be it followed by the
    /// request path. `None`: the application's default (the examples use
    /// `http://<bound address>`), else the request's own URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// The trusted issuers (`[[issuer]]`), at least one. The token's `iss` picks one.
    #[serde(rename = "issuer")]
    pub issuers: Vec<IssuerSettings>,
    /// RFC 7662 introspection of opaque tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection: Option<IntrospectionConfig>,
    /// The verified-token cache.
    #[serde(default)]
    pub cache: CacheSettings,
    /// DPoP (RFC 9449, `[dpop]`): off by default.
    #[serde(default, skip_serializing_if = "DpopSettings::is_default")]
    pub dpop: DpopSettings,
    /// State shared by replicas on Redis (`[redis]`, feature `redis`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis: Option<RedisSettings>,
}

/// The `[redis]` section: the DPoP replay store, the introspection cache and the
/// introspection budget's per-second count shared by replicas (see
/// `tollgate_core::redis`; needs the `redis` feature).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RedisSettings {
    /// `redis://[:password@]host:port/db`. Written back (serialized) with the password
    /// masked, as in `Debug`.
    #[serde(serialize_with = "serialize_masked_url")]
    pub url: String,
    /// Key prefix (default `tollgate:`): services sharing one Redis use different ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Timeout of one operation in milliseconds (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// What DPoP does when Redis cannot answer in time.
    #[serde(default)]
    pub fallback: RedisFallback,
}

impl RedisSettings {
    /// Settings for the Redis at `url`, defaults otherwise.
    #[must_use]
    pub fn new(url: impl Into<String>) -> Self {
        RedisSettings {
            url: url.into(),
            prefix: None,
            timeout_ms: None,
            fallback: RedisFallback::default(),
        }
    }
}

/// A Redis URL without its user information (it may carry a password).
fn masked_url(url: &str) -> String {
    match url.rsplit_once('@') {
        Some((_, host)) => format!("redis://***@{host}"),
        None => url.to_owned(),
    }
}

fn serialize_masked_url<S: serde::Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&masked_url(url))
}

impl fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = masked_url(&self.url);
        f.debug_struct("RedisSettings")
            .field("url", &url)
            .field("prefix", &self.prefix)
            .field("timeout_ms", &self.timeout_ms)
            .field("fallback", &self.fallback)
            .finish()
    }
}

/// What DPoP does when Redis cannot answer in time (`fallback` of `[redis]`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum RedisFallback {
    /// 503 + `Retry-After` (the replay check is never skipped).
    #[default]
    Refuse,
    /// Check against this replica's memory only, logged at warn.
    LocalOnly,
}

/// Checks a Redis URL (names `field` in the error).
fn check_redis_url(field: &str, url: &str) -> Result<(), BuildError> {
    #[cfg(feature = "redis")]
    let checked = tollgate_core::redis::check_url(url).map_err(|e| e.to_string());
    #[cfg(not(feature = "redis"))]
    let checked = if url.trim().starts_with("redis://") {
        Ok(())
    } else {
        Err("the scheme must be redis://".to_owned())
    };
    checked.map_err(|problem| {
        BuildError::field(field, format!("is not a usable Redis URL ({problem})"))
    })
}

/// One trusted issuer of a [`GateConfig`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct IssuerSettings {
    /// The exact `iss`.
    pub issuer: String,
    /// Accepted audiences (any-of).
    pub audiences: Vec<String>,
    /// The identity-provider preset.
    #[serde(default)]
    pub preset: Preset,
    /// The JWKS URL; `None` → discovery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// The algorithm allow-list; `None` → all asymmetric algorithms.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_algorithms",
        serialize_with = "ser_algorithms"
    )]
    pub algorithms: Option<Vec<Algorithm>>,
    /// Clock-skew leeway in seconds (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leeway_secs: Option<u64>,
    /// More claims whose values become permissions, besides the preset's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<PermissionSource>,
}

/// Where the introspection client secret comes from (never the file itself).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct IntrospectionConfig {
    /// The introspection endpoint; `None` → the first issuer's discovery metadata.
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "uri")]
    pub endpoint: Option<String>,
    /// The resource server's client id (`client_secret_basic`), if it authenticates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The environment variable holding the client secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_env: Option<String>,
    /// The file holding the client secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_file: Option<PathBuf>,
    /// The secret itself, resolved from the environment or a file when loading; never
    /// read from or written to the configuration document.
    #[serde(skip)]
    pub client_secret: Option<Secret>,
    /// Cache TTL of active answers, in seconds (default 30).
    #[serde(default = "default_cache_secs")]
    pub cache_secs: u64,
    /// Which tokens are introspected.
    #[serde(default, with = "routing")]
    pub routing: Routing,
    /// Most introspection calls at once (`None`: the default, 16); see
    /// [`IntrospectorBuilder::max_in_flight`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<usize>,
    /// Most new introspection calls per second (`None`: the default, 100; 0: no rate
    /// limit); see [`IntrospectorBuilder::max_per_sec`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_sec: Option<u32>,
}

/// A secret value: compared, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret (handle with care).
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// The verified-token cache of a [`GateConfig`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CacheSettings {
    /// Most entries kept; 0 turns the cache off.
    #[serde(default = "default_cache_entries")]
    pub max_entries: usize,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            max_entries: default_cache_entries(),
        }
    }
}

fn default_cache_entries() -> usize {
    CacheConfig::default().max_entries
}

fn default_cache_secs() -> u64 {
    tollgate_core::introspect::DEFAULT_CACHE_TTL.as_secs()
}

impl fmt::Debug for IntrospectionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionConfig")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("client_secret_env", &self.client_secret_env)
            .field("client_secret_file", &self.client_secret_file)
            .field("client_secret", &self.client_secret)
            .field("cache_secs", &self.cache_secs)
            .field("routing", &self.routing)
            .field("max_in_flight", &self.max_in_flight)
            .field("max_per_sec", &self.max_per_sec)
            .finish()
    }
}

fn de_algorithms<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Algorithm>>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    names
        .iter()
        .map(|n| {
            n.parse::<Algorithm>()
                .map_err(|_| serde::de::Error::custom(format!("unknown algorithm {n:?}")))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

#[allow(clippy::ref_option)] // serde's serialize_with signature
fn ser_algorithms<S: Serializer>(algs: &Option<Vec<Algorithm>>, s: S) -> Result<S::Ok, S::Error> {
    let names: Vec<String> = algs
        .iter()
        .flatten()
        .map(|a| a.as_str().to_owned())
        .collect();
    names.serialize(s)
}

mod routing {
    use serde::{Deserialize, Deserializer, Serializer};
    use tollgate_core::introspect::Routing;

    #[allow(clippy::trivially_copy_pass_by_ref)] // serde's serialize_with signature
    pub(super) fn serialize<S: Serializer>(r: &Routing, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match r {
            Routing::All => "all",
            _ => "non-jwt",
        })
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Routing, D::Error> {
        match String::deserialize(d)?.as_str() {
            "non-jwt" => Ok(Routing::NonJwt),
            "all" => Ok(Routing::All),
            other => Err(serde::de::Error::custom(format!(
                "unknown routing {other:?} (expected \"non-jwt\" or \"all\")"
            ))),
        }
    }
}

impl GateConfig {
    /// Reads `TOLLGATE_CONFIG` (a TOML file) when set, else the `TOLLGATE_*` variables
    /// of the process environment.
    ///
    /// # Errors
    ///
    /// [`BuildError`] naming the file, field or variable.
    pub fn from_env() -> Result<Self, BuildError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// As [`Self::from_env`], through `get` (tests pass a map). `TOLLGATE_CONFIG` wins
    /// over the other variables.
    ///
    /// # Errors
    ///
    /// [`BuildError`] naming the file, field or variable.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, BuildError> {
        let optional = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        if let Some(path) = optional("TOLLGATE_CONFIG") {
            return Self::from_file_with(Path::new(path.trim()), &get);
        }
        let required = |k: &str| optional(k).ok_or_else(|| BuildError::field(k, "is required"));
        let issuer = required("TOLLGATE_ISSUER")?;
        let resource = optional("TOLLGATE_RESOURCE").map(|r| r.trim().to_owned());
        let audiences = match (optional("TOLLGATE_AUDIENCE"), &resource) {
            (Some(a), _) => list(&a),
            // RFC 8707: the resource identifier is the audience
            (None, Some(_)) => Vec::new(),
            (None, None) => return Err(BuildError::field("TOLLGATE_AUDIENCE", "is required")),
        };
        let preset = match optional("TOLLGATE_PRESET") {
            None => Preset::default(),
            Some(p) => p
                .parse::<Preset>()
                .map_err(|e| BuildError::field("TOLLGATE_PRESET", format!("names an {e}")))?,
        };
        let algorithms = match optional("TOLLGATE_ALGORITHMS") {
            None => None,
            Some(l) => Some(
                list(&l)
                    .iter()
                    .map(|a| {
                        a.parse::<Algorithm>().map_err(|_| {
                            BuildError::field(
                                "TOLLGATE_ALGORITHMS",
                                format!("names an unknown algorithm {a:?}"),
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        let introspection = match optional("TOLLGATE_INTROSPECTION_URI") {
            None => None,
            Some(uri) => {
                let secret = match (
                    optional("TOLLGATE_CLIENT_SECRET"),
                    optional("TOLLGATE_CLIENT_SECRET_FILE"),
                ) {
                    (Some(_), Some(_)) => {
                        return Err(BuildError::field(
                            "TOLLGATE_CLIENT_SECRET and TOLLGATE_CLIENT_SECRET_FILE",
                            "are exclusive",
                        ));
                    }
                    (Some(s), None) => Some(Secret(s)),
                    (None, Some(f)) => Some(read_secret_file(
                        "TOLLGATE_CLIENT_SECRET_FILE",
                        Path::new(f.trim()),
                    )?),
                    (None, None) => None,
                };
                let client_id = optional("TOLLGATE_CLIENT_ID");
                if client_id.is_some() != secret.is_some() {
                    return Err(BuildError::field(
                        "TOLLGATE_CLIENT_ID and TOLLGATE_CLIENT_SECRET",
                        "go together",
                    ));
                }
                let cache_secs = match optional("TOLLGATE_INTROSPECTION_CACHE_SECS") {
                    None => default_cache_secs(),
                    Some(v) => v.trim().parse().map_err(|_| {
                        BuildError::field(
                            "TOLLGATE_INTROSPECTION_CACHE_SECS",
                            format!("is not a number of seconds: {:?}", v.trim()),
                        )
                    })?,
                };
                let max_in_flight = match optional("TOLLGATE_INTROSPECTION_MAX_IN_FLIGHT") {
                    None => None,
                    Some(v) => match v.trim().parse::<usize>() {
                        Ok(n) if n > 0 => Some(n),
                        _ => {
                            return Err(BuildError::field(
                                "TOLLGATE_INTROSPECTION_MAX_IN_FLIGHT",
                                format!("is not a positive number of calls: {:?}", v.trim()),
                            ));
                        }
                    },
                };
                let max_per_sec = match optional("TOLLGATE_INTROSPECTION_MAX_PER_SEC") {
                    None => None,
                    Some(v) => Some(v.trim().parse::<u32>().map_err(|_| {
                        BuildError::field(
                            "TOLLGATE_INTROSPECTION_MAX_PER_SEC",
                            format!("is not a number of calls per second: {:?}", v.trim()),
                        )
                    })?),
                };
                Some(IntrospectionConfig {
                    endpoint: Some(uri),
                    client_id,
                    client_secret_env: None,
                    client_secret_file: None,
                    client_secret: secret,
                    cache_secs,
                    routing: Routing::default(),
                    max_in_flight,
                    max_per_sec,
                })
            }
        };
        let (public_url, dpop) = dpop_from_env(&optional)?;
        let redis = match optional("TOLLGATE_REDIS_URL") {
            None => None,
            Some(url) => {
                check_redis_url("TOLLGATE_REDIS_URL", &url)?;
                let mut r = RedisSettings::new(url.trim());
                r.prefix = optional("TOLLGATE_REDIS_PREFIX");
                r.timeout_ms = match optional("TOLLGATE_REDIS_TIMEOUT_MS") {
                    None => None,
                    Some(v) => match v.trim().parse::<u64>() {
                        Ok(n) if n > 0 => Some(n),
                        _ => {
                            return Err(BuildError::field(
                                "TOLLGATE_REDIS_TIMEOUT_MS",
                                "must be a number of milliseconds above 0",
                            ));
                        }
                    },
                };
                Some(r)
            }
        };
        Ok(GateConfig {
            realm: None,
            resource,
            public_url,
            dpop,
            issuers: vec![IssuerSettings {
                issuer,
                audiences,
                preset,
                jwks_uri: optional("TOLLGATE_JWKS_URI"),
                algorithms,
                leeway_secs: None,
                permissions: Vec::new(),
            }],
            introspection,
            cache: CacheSettings::default(),
            redis,
        })
    }

    /// Reads a TOML configuration file, resolving secret references from the process
    /// environment.
    ///
    /// # Errors
    ///
    /// [`BuildError::File`] (unreadable, unknown field, bad value: the message names
    /// the field and line) or [`BuildError::Field`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, BuildError> {
        Self::from_file_with(path.as_ref(), &|k: &str| std::env::var(k).ok())
    }

    fn from_file_with(
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, BuildError> {
        let mut config: GateConfig = read_toml(path)?;
        config.resolve_secrets(env)?;
        config.check()?;
        Ok(config)
    }

    /// Parses TOML text (no secret resolution: use [`Self::from_file`] for files whose
    /// secrets come from the environment or files).
    ///
    /// # Errors
    ///
    /// [`BuildError::Field`] naming the unknown field or bad value.
    pub fn from_toml(text: &str) -> Result<Self, BuildError> {
        let config = Self::parse_toml(text)
            .map_err(|problem| BuildError::field("configuration", problem))?;
        config.check()?;
        Ok(config)
    }

    fn parse_toml(text: &str) -> Result<Self, String> {
        toml::from_str::<GateConfig>(text).map_err(|e| e.to_string().trim_end().to_owned())
    }

    /// Structural checks that serde cannot express (names the field).
    fn check(&self) -> Result<(), BuildError> {
        if self.issuers.is_empty() {
            return Err(BuildError::field(
                "issuer",
                "needs at least one [[issuer]] table",
            ));
        }
        for (i, iss) in self.issuers.iter().enumerate() {
            if iss.audiences.is_empty() && self.resource.is_none() {
                return Err(BuildError::field(
                    format!("issuer[{i}].audiences"),
                    "needs at least one audience",
                ));
            }
        }
        if let Some(r) = &self.redis {
            check_redis_url("redis.url", &r.url)?;
            if r.timeout_ms == Some(0) {
                return Err(BuildError::field("redis.timeout_ms", "must be more than 0"));
            }
        }
        if let Some(intro) = &self.introspection
            && intro.client_id.is_some()
                != (intro.client_secret.is_some()
                    || intro.client_secret_env.is_some()
                    || intro.client_secret_file.is_some())
        {
            return Err(BuildError::field(
                "introspection.client_id",
                "and a client secret (client_secret_env or client_secret_file) go together",
            ));
        }
        self.check_dpop()
    }

    /// Resolves `introspection.client_secret_env` / `client_secret_file` into
    /// `introspection.client_secret`, and `dpop.nonce_secret_env` / `nonce_secret_file`
    /// into `dpop.nonce_secret`, through `env` (what [`Self::from_file`] does; for
    /// configurations embedded in your own file).
    ///
    /// # Errors
    ///
    /// [`BuildError::Field`] naming the field (both set, the variable unset, the file
    /// unreadable or empty); never the secret.
    pub fn resolve_secrets(
        &mut self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), BuildError> {
        if let Some(intro) = &mut self.introspection {
            intro.client_secret = resolve_secret(
                "introspection",
                intro.client_secret_env.as_deref(),
                intro.client_secret_file.as_deref(),
                env,
            )?;
        }
        self.dpop.resolve_secret(env)
    }

    /// The introspector these settings describe, if introspection is configured.
    #[must_use]
    pub fn introspector(&self) -> Option<IntrospectorBuilder> {
        let i = self.introspection.as_ref()?;
        let auth = match (&i.client_id, &i.client_secret) {
            (Some(id), Some(secret)) => ClientAuth::client_secret_basic(id, secret.expose()),
            _ => ClientAuth::None,
        };
        let mut b = Introspector::builder()
            .client_auth(auth)
            .cache_ttl(Duration::from_secs(i.cache_secs));
        if let Some(n) = i.max_in_flight {
            b = b.max_in_flight(n);
        }
        if let Some(n) = i.max_per_sec {
            b = b.max_per_sec(n);
        }
        Some(match &i.endpoint {
            Some(e) => b.endpoint(e),
            None => b.discover(),
        })
    }

    /// A gate builder with these settings (add more settings, then build).
    pub fn builder<X>(&self) -> TollgateBuilder<X>
    where
        X: serde::de::DeserializeOwned + Send + Sync + 'static,
    {
        let mut b = Tollgate::<X>::builder();
        if let Some(first) = self.issuers.first() {
            b = b.issuer(&first.issuer).preset(first.preset);
            for a in &first.audiences {
                b = b.audience(a);
            }
            if let Some(algs) = &first.algorithms {
                b = b.algorithms(algs.iter().copied());
            }
            if let Some(l) = first.leeway_secs {
                b = b.leeway(Duration::from_secs(l));
            }
            for p in &first.permissions {
                b = b.permission_source(p.clone());
            }
            b = match &first.jwks_uri {
                Some(u) => b.jwks_uri(u),
                None => b.discover(),
            };
        }
        for more in self.issuers.iter().skip(1) {
            b = match more.issuer_config(self.resource.as_deref()) {
                Ok(c) => b.also_issuer(c),
                // kept, typed, and returned by build()
                Err(e) => b.fail(e),
            };
        }
        if let Some(realm) = &self.realm {
            b = b.realm(realm);
        }
        if let Some(resource) = &self.resource {
            b = b.resource(resource);
        }
        if self.cache.max_entries == 0 {
            b = b.without_cache();
        } else if self.cache.max_entries != default_cache_entries() {
            b = b.cache(CacheConfig::default().max_entries(self.cache.max_entries));
        }
        b = match self.dpop() {
            Ok(Some(d)) => b.dpop(d),
            Ok(None) => b,
            // kept, typed, and returned by build()
            Err(e) => b.fail(e),
        };
        let b = match (self.introspector(), &self.introspection) {
            (Some(i), Some(c)) => b.introspection(i).routing(c.routing),
            _ => b,
        };
        self.with_redis(b)
    }

    /// The `[redis]` settings applied to `b` (the store is set up here: within a
    /// tokio runtime).
    fn with_redis<X>(&self, b: TollgateBuilder<X>) -> TollgateBuilder<X>
    where
        X: serde::de::DeserializeOwned + Send + Sync + 'static,
    {
        let Some(r) = &self.redis else { return b };
        #[cfg(feature = "redis")]
        {
            use tollgate_core::redis::{RedisStore, ReplayFallback};
            let mut store = RedisStore::builder(r.url.trim());
            if let Some(p) = &r.prefix {
                store = store.prefix(p);
            }
            if let Some(ms) = r.timeout_ms {
                store = store.timeout(Duration::from_millis(ms));
            }
            let fallback = match r.fallback {
                RedisFallback::Refuse => ReplayFallback::Refuse,
                RedisFallback::LocalOnly => ReplayFallback::LocalOnly,
            };
            match store.build() {
                Ok(store) => b.redis(store, fallback),
                Err(e) => b.fail(BuildError::field("redis.url", e.to_string())),
            }
        }
        #[cfg(not(feature = "redis"))]
        {
            let _ = r;
            b.fail(BuildError::field(
                "redis",
                "needs the `redis` feature of tollgate (tollgate-axum / tollgate-tonic / tollgate-tower)",
            ))
        }
    }
}

impl IssuerSettings {
    /// This issuer as a core [`IssuerConfig`] (`resource`: the audience when the
    /// issuer lists none).
    fn issuer_config(&self, resource: Option<&str>) -> Result<IssuerConfig, BuildError> {
        let mut v = Validation::builder()
            .issuer(&self.issuer)
            .preset(self.preset);
        for a in &self.audiences {
            v = v.audience(a);
        }
        if self.audiences.is_empty()
            && let Some(r) = resource
        {
            v = v.audience(r);
        }
        if let Some(algs) = &self.algorithms {
            v = v.algorithms(algs.iter().copied());
        }
        if let Some(l) = self.leeway_secs {
            v = v.leeway(Duration::from_secs(l));
        }
        for p in &self.permissions {
            v = v.permission_source(p.clone());
        }
        let cfg = IssuerConfig::new(v.build()?);
        Ok(match &self.jwks_uri {
            Some(u) => cfg.jwks_uri(u),
            None => cfg.discover(),
        })
    }
}

// ---- DPoP (RFC 9449): `public_url`, `[dpop]`, `TOLLGATE_DPOP*`, `TOLLGATE_PUBLIC_URL` ----

/// Whether DPoP proofs must carry a server nonce (`dpop.nonce`, `TOLLGATE_DPOP_NONCE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum DpopNonceMode {
    /// No nonces (the default).
    #[default]
    Off,
    /// Every proof carries a fresh server nonce (RFC 9449 §9): a proof without one,
    /// or with a stale one, is answered 401 `use_dpop_nonce` with a `DPoP-Nonce`.
    Required,
}

/// The DPoP settings of a [`GateConfig`] (`[dpop]` in the file, `TOLLGATE_DPOP*` in
/// the environment). The replay store is the bounded in-memory default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DpopSettings {
    /// `off` (the default: Bearer only), `allowed` (Bearer and DPoP; a DPoP-bound token
    /// needs its proof) or `required` (DPoP only).
    #[serde(default, with = "dpop_mode")]
    pub mode: DpopMode,
    /// Server nonces.
    #[serde(default)]
    pub nonce: DpopNonceMode,
    /// The environment variable holding the nonce secret (at least 32 bytes: the raw
    /// value's bytes). Replicas sharing it accept each other's nonces; without a secret
    /// each process draws a random one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce_secret_env: Option<String>,
    /// The file holding the nonce secret (trailing newline ignored; at least 32 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce_secret_file: Option<PathBuf>,
    /// The secret itself, resolved from the environment or a file when loading; never
    /// read from or written to the configuration document, never printed.
    #[serde(skip)]
    pub nonce_secret: Option<Secret>,
}

/// The shortest accepted nonce secret, in bytes.
const MIN_NONCE_SECRET: usize = 32;

impl DpopSettings {
    fn is_default(&self) -> bool {
        *self == DpopSettings::default()
    }

    fn resolve_secret(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), BuildError> {
        let secret = match (&self.nonce_secret_env, &self.nonce_secret_file) {
            (Some(_), Some(_)) => {
                return Err(BuildError::field(
                    "dpop.nonce_secret_env and dpop.nonce_secret_file",
                    "are exclusive",
                ));
            }
            (Some(var), None) => Some(env(var).filter(|v| !v.is_empty()).map(Secret).ok_or_else(
                || {
                    BuildError::field(
                        "dpop.nonce_secret_env",
                        format!("names {var}, which is not set"),
                    )
                },
            )?),
            (None, Some(path)) => Some(read_secret_file("dpop.nonce_secret_file", path)?),
            (None, None) => None,
        };
        if let Some(s) = &secret
            && s.expose().len() < MIN_NONCE_SECRET
        {
            let field = if self.nonce_secret_env.is_some() {
                "dpop.nonce_secret_env"
            } else {
                "dpop.nonce_secret_file"
            };
            return Err(BuildError::field(
                field,
                format!("names a secret shorter than {MIN_NONCE_SECRET} bytes"),
            ));
        }
        if secret.is_some() {
            self.nonce_secret = secret;
        }
        Ok(())
    }
}

mod dpop_mode {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::auth::DpopMode;

    #[allow(clippy::trivially_copy_pass_by_ref)] // serde's serialize_with signature
    pub(super) fn serialize<S: Serializer>(m: &DpopMode, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(super::dpop_mode_name(*m))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DpopMode, D::Error> {
        let v = String::deserialize(d)?;
        super::parse_dpop_mode(&v).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown DPoP mode {v:?} (expected \"off\", \"allowed\" or \"required\")"
            ))
        })
    }
}

fn dpop_mode_name(m: DpopMode) -> &'static str {
    match m {
        DpopMode::Allowed => "allowed",
        DpopMode::Required => "required",
        _ => "off",
    }
}

fn parse_dpop_mode(v: &str) -> Option<DpopMode> {
    match v.trim().to_ascii_lowercase().as_str() {
        "off" => Some(DpopMode::Off),
        "allowed" => Some(DpopMode::Allowed),
        "required" => Some(DpopMode::Required),
        _ => None,
    }
}

/// `TOLLGATE_PUBLIC_URL` and the `TOLLGATE_DPOP*` variables.
fn dpop_from_env(
    optional: &dyn Fn(&str) -> Option<String>,
) -> Result<(Option<String>, DpopSettings), BuildError> {
    let public_url = optional("TOLLGATE_PUBLIC_URL").map(|u| u.trim().to_owned());
    if let Some(u) = &public_url
        && PublicUrl::parse(u).is_none()
    {
        return Err(BuildError::field(
            "TOLLGATE_PUBLIC_URL",
            format!("is not an absolute http(s) URL without query, fragment or user info: {u:?}"),
        ));
    }
    let mode = match optional("TOLLGATE_DPOP") {
        None => DpopMode::Off,
        Some(v) => parse_dpop_mode(&v).ok_or_else(|| {
            BuildError::field(
                "TOLLGATE_DPOP",
                format!("is not one of off, allowed, required: {:?}", v.trim()),
            )
        })?,
    };
    let nonce = match optional("TOLLGATE_DPOP_NONCE").map(|v| v.trim().to_ascii_lowercase()) {
        None => DpopNonceMode::Off,
        Some(v) if v == "off" => DpopNonceMode::Off,
        Some(v) if v == "required" => DpopNonceMode::Required,
        Some(v) => {
            return Err(BuildError::field(
                "TOLLGATE_DPOP_NONCE",
                format!("is not one of off, required: {v:?}"),
            ));
        }
    };
    if nonce == DpopNonceMode::Required && mode == DpopMode::Off {
        return Err(BuildError::field(
            "TOLLGATE_DPOP_NONCE",
            "is required but TOLLGATE_DPOP is off (set it to allowed or required)",
        ));
    }
    // the raw value's bytes; never trimmed, never printed
    let nonce_secret = optional("TOLLGATE_DPOP_NONCE_SECRET").map(Secret);
    if let Some(s) = &nonce_secret
        && s.expose().len() < MIN_NONCE_SECRET
    {
        return Err(BuildError::field(
            "TOLLGATE_DPOP_NONCE_SECRET",
            format!("is shorter than {MIN_NONCE_SECRET} bytes"),
        ));
    }
    Ok((
        public_url,
        DpopSettings {
            mode,
            nonce,
            nonce_secret_env: None,
            nonce_secret_file: None,
            nonce_secret,
        },
    ))
}

impl GateConfig {
    /// The file's DPoP checks (names the field).
    fn check_dpop(&self) -> Result<(), BuildError> {
        if let Some(u) = &self.public_url
            && PublicUrl::parse(u).is_none()
        {
            return Err(BuildError::field(
                "public_url",
                format!(
                    "is not an absolute http(s) URL without query, fragment or user info: {u:?}"
                ),
            ));
        }
        if self.dpop.nonce == DpopNonceMode::Required && self.dpop.mode == DpopMode::Off {
            return Err(BuildError::field(
                "dpop.nonce",
                "is required but dpop.mode is off (set it to allowed or required)",
            ));
        }
        Ok(())
    }

    /// The DPoP settings as the layers' [`Dpop`] (the bounded in-memory replay store,
    /// nonces under `dpop.nonce_secret` or a random secret, `htu` from
    /// [`Self::public_url`]); `None` when DPoP is off.
    ///
    /// # Errors
    ///
    /// [`BuildError::Field`] naming `public_url` or the nonce secret.
    pub fn dpop(&self) -> Result<Option<Dpop>, BuildError> {
        if self.dpop.mode == DpopMode::Off {
            return Ok(None);
        }
        let mut verifier = DpopVerifier::builder();
        if self.dpop.nonce == DpopNonceMode::Required {
            let nonces = match &self.dpop.nonce_secret {
                Some(s) => NonceIssuer::new(s.expose().as_bytes()).map_err(|_| {
                    BuildError::field(
                        "dpop nonce secret",
                        format!("is shorter than {MIN_NONCE_SECRET} bytes"),
                    )
                })?,
                None => NonceIssuer::random()?,
            };
            verifier = verifier.nonces(nonces);
        }
        let dpop = Dpop::new(self.dpop.mode, verifier.build()?);
        Ok(Some(match &self.public_url {
            Some(u) => dpop.public_url(PublicUrl::parse(u).ok_or_else(|| {
                BuildError::field(
                    "public_url",
                    "is not an absolute http(s) URL without query, fragment or user info",
                )
            })?),
            None => {
                tracing::warn!(
                    "DPoP is on without a public URL (public_url / TOLLGATE_PUBLIC_URL): \
                     proofs are checked against each request's own URL (its Host header)"
                );
                dpop
            }
        }))
    }
}

/// Reads the TOML file at `path` into `T` (this crate's [`GateConfig`], or a
/// configuration that embeds its parts).
///
/// # Errors
///
/// [`BuildError::File`] naming the file: unreadable, or the parser's message (which
/// names the field and line of an unknown field or bad value).
pub fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, BuildError> {
    let text = std::fs::read_to_string(path).map_err(|e| BuildError::File {
        path: path.to_owned(),
        problem: format!("cannot be read: {e}"),
    })?;
    toml::from_str::<T>(&text).map_err(|e| BuildError::File {
        path: path.to_owned(),
        problem: e.to_string().trim_end().to_owned(),
    })
}

/// A secret named by `<table>.client_secret_env` (an environment variable, read through
/// `env`) or `<table>.client_secret_file` (a file; trailing newline ignored): exclusive,
/// never printed. `None` when neither is set.
///
/// # Errors
///
/// [`BuildError::Field`] naming the field (both set, the variable unset or empty, the
/// file unreadable or empty).
pub fn resolve_secret(
    table: &str,
    var: Option<&str>,
    file: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Secret>, BuildError> {
    match (var, file) {
        (Some(_), Some(_)) => Err(BuildError::field(
            format!("{table}.client_secret_env and {table}.client_secret_file"),
            "are exclusive",
        )),
        (Some(var), None) => Ok(Some(Secret(
            env(var).filter(|v| !v.is_empty()).ok_or_else(|| {
                BuildError::field(
                    format!("{table}.client_secret_env"),
                    format!("names {var}, which is not set"),
                )
            })?,
        ))),
        (None, Some(path)) => {
            read_secret_file(&format!("{table}.client_secret_file"), path).map(Some)
        }
        (None, None) => Ok(None),
    }
}

fn read_secret_file(field: &str, path: &Path) -> Result<Secret, BuildError> {
    let s = std::fs::read_to_string(path)
        .map_err(|e| BuildError::field(field, format!("cannot read {}: {e}", path.display())))?;
    let s = s.trim_end_matches(['\r', '\n']);
    if s.is_empty() {
        return Err(BuildError::field(
            field,
            format!("{} is empty", path.display()),
        ));
    }
    Ok(Secret(s.to_owned()))
}

fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `TOLLGATE_RESOURCE` (or `resource`) makes the audience optional: the resource
    /// identifier is then the audience.
    #[test]
    fn resource_defaults_the_audience() {
        let env = |k: &str| match k {
            "TOLLGATE_ISSUER" => Some("https://idp.example".to_owned()),
            "TOLLGATE_RESOURCE" => Some("https://orders.example.com".to_owned()),
            _ => None,
        };
        let c = GateConfig::from_lookup(env).unwrap();
        assert_eq!(c.resource.as_deref(), Some("https://orders.example.com"));
        assert!(c.issuers[0].audiences.is_empty());
        let c = GateConfig::from_toml(
            "resource = \"https://orders.example.com\"\n[[issuer]]\nissuer = \"https://i\"\naudiences = []\n",
        )
        .unwrap();
        assert_eq!(c.resource.as_deref(), Some("https://orders.example.com"));
        // without a resource, no audience is still refused
        let e = GateConfig::from_lookup(|k| {
            (k == "TOLLGATE_ISSUER").then(|| "https://idp.example".to_owned())
        })
        .unwrap_err();
        assert_eq!(e.to_string(), "TOLLGATE_AUDIENCE is required");
    }

    /// Every documented field, as in the module docs.
    const FULL: &str = r#"
realm = "orders"

[[issuer]]
issuer = "https://idp.example.com/realms/acme"
audiences = ["orders-api", "billing"]
preset = "keycloak"
jwks_uri = "https://idp.example.com/realms/acme/protocol/openid-connect/certs"
algorithms = ["RS256", "ES256"]
leeway_secs = 10
permissions = [{ claim = "groups", prefix = "group:" }, { claim = "team.roles" }]

[[issuer]]
issuer = "https://login.example.net/tenant/v2.0"
audiences = ["api://orders"]
preset = "entra"

[introspection]
endpoint = "https://idp.example.com/introspect"
client_id = "orders-api"
client_secret_env = "ORDERS_SECRET"
cache_secs = 12
routing = "all"
max_in_flight = 8
max_per_sec = 50

[cache]
max_entries = 5000
"#;

    #[test]
    fn every_documented_field_round_trips() {
        let c = GateConfig::parse_toml(FULL).unwrap();
        assert_eq!(c.realm.as_deref(), Some("orders"));
        assert_eq!(c.issuers.len(), 2);
        let a = &c.issuers[0];
        assert_eq!(a.issuer, "https://idp.example.com/realms/acme");
        assert_eq!(a.audiences, ["orders-api", "billing"]);
        assert_eq!(a.preset, Preset::Keycloak);
        assert_eq!(
            a.jwks_uri.as_deref(),
            Some("https://idp.example.com/realms/acme/protocol/openid-connect/certs")
        );
        assert_eq!(a.algorithms, Some(vec![Algorithm::RS256, Algorithm::ES256]));
        assert_eq!(a.leeway_secs, Some(10));
        assert_eq!(
            a.permissions,
            [
                PermissionSource::claim("groups").prefix("group:"),
                PermissionSource::claim("team.roles")
            ]
        );
        assert_eq!(c.issuers[1].preset, Preset::Entra);
        assert_eq!(c.issuers[1].jwks_uri, None);
        let i = c.introspection.as_ref().unwrap();
        assert_eq!(
            i.endpoint.as_deref(),
            Some("https://idp.example.com/introspect")
        );
        assert_eq!(i.client_id.as_deref(), Some("orders-api"));
        assert_eq!(i.client_secret_env.as_deref(), Some("ORDERS_SECRET"));
        assert_eq!(i.cache_secs, 12);
        assert_eq!(i.routing, Routing::All);
        assert_eq!((i.max_in_flight, i.max_per_sec), (Some(8), Some(50)));
        assert_eq!(c.cache.max_entries, 5000);
        // and back: serialized, parsed again, the same
        let text = toml::to_string(&c).unwrap();
        assert_eq!(GateConfig::parse_toml(&text).unwrap(), c);
    }

    #[test]
    fn defaults() {
        let c = GateConfig::from_toml("[[issuer]]\nissuer = \"https://i\"\naudiences = [\"a\"]\n")
            .unwrap();
        assert_eq!(c.issuers[0].preset, Preset::Rfc9068);
        assert_eq!(c.issuers[0].jwks_uri, None);
        assert_eq!(c.cache, CacheSettings::default());
        assert_eq!(c.introspection, None);
    }

    fn refused(text: &str) -> String {
        GateConfig::from_toml(text).unwrap_err().to_string()
    }

    #[test]
    fn unknown_fields_and_bad_values_are_named() {
        let base = "[[issuer]]\nissuer = \"https://i\"\naudiences = [\"a\"]\n";
        let e = refused(&format!("{base}audience = [\"b\"]\n"));
        assert!(e.contains("unknown field `audience`"), "{e}");
        let e = refused(&format!("{base}preset = \"okta2\"\n"));
        assert!(e.contains("preset") && e.contains("okta2"), "{e}");
        let e = refused(&format!("{base}algorithms = [\"RS256\", \"none\"]\n"));
        assert!(e.contains("algorithms") && e.contains("\"none\""), "{e}");
        let e = refused(&format!("{base}leeway_secs = -3\n"));
        assert!(e.contains("leeway_secs"), "{e}");
        let e = refused(&format!("{base}[introspection]\nrouting = \"some\"\n"));
        assert!(e.contains("routing") && e.contains("\"some\""), "{e}");
        let e = refused(&format!("{base}[introspection]\nclient_secret = \"x\"\n"));
        assert!(e.contains("unknown field `client_secret`"), "{e}");
        let e = refused(&format!("{base}[cache]\nmax_entries = \"many\"\n"));
        assert!(e.contains("max_entries"), "{e}");
        let e = refused(&format!("{base}bind = \"x\"\n"));
        assert!(e.contains("unknown field `bind`"), "{e}");
        let e = refused("realm = \"x\"\n");
        assert!(e.contains("issuer"), "{e}");
        let e = refused("[[issuer]]\nissuer = \"https://i\"\naudiences = []\n");
        assert_eq!(e, "issuer[0].audiences needs at least one audience");
        let e = refused(&format!("{base}[introspection]\nclient_id = \"rs\"\n"));
        assert!(e.starts_with("introspection.client_id"), "{e}");
    }

    #[test]
    fn secrets_come_from_env_or_file_and_never_print() {
        let dir = std::env::temp_dir().join(format!("tollgate-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret_file = dir.join("secret");
        std::fs::write(&secret_file, "s3cr3t-from-file\n").unwrap();
        let file = dir.join("tollgate.toml");
        std::fs::write(
            &file,
            format!(
                "[[issuer]]\nissuer = \"https://i\"\naudiences = [\"a\"]\n[introspection]\nendpoint = \"https://i/introspect\"\nclient_id = \"rs\"\nclient_secret_file = {:?}\n",
                secret_file.display().to_string()
            ),
        )
        .unwrap();
        let env = |k: &str| (k == "TOLLGATE_CONFIG").then(|| file.display().to_string());
        let c = GateConfig::from_lookup(env).unwrap();
        let secret = c
            .introspection
            .as_ref()
            .unwrap()
            .client_secret
            .as_ref()
            .unwrap();
        assert_eq!(secret.expose(), "s3cr3t-from-file");
        assert!(!format!("{c:?}").contains("s3cr3t"));

        // from an environment variable named in the file
        std::fs::write(
            &file,
            "[[issuer]]\nissuer = \"https://i\"\naudiences = [\"a\"]\n[introspection]\nclient_id = \"rs\"\nclient_secret_env = \"RS_SECRET\"\n",
        )
        .unwrap();
        let env = |k: &str| match k {
            "TOLLGATE_CONFIG" => Some(file.display().to_string()),
            "RS_SECRET" => Some("s3cr3t-from-env".to_owned()),
            _ => None,
        };
        let c = GateConfig::from_lookup(env).unwrap();
        let i = c.introspection.as_ref().unwrap();
        assert_eq!(
            i.client_secret.as_ref().unwrap().expose(),
            "s3cr3t-from-env"
        );
        assert_eq!(i.endpoint, None, "discovery");
        // named but unset: refused, naming the field and variable, never a value
        let env = |k: &str| (k == "TOLLGATE_CONFIG").then(|| file.display().to_string());
        let e = GateConfig::from_lookup(env).unwrap_err().to_string();
        assert_eq!(
            e,
            "introspection.client_secret_env names RS_SECRET, which is not set"
        );
        // an unreadable file is named
        let env =
            |k: &str| (k == "TOLLGATE_CONFIG").then(|| "/nonexistent/tollgate.toml".to_owned());
        let e = GateConfig::from_lookup(env).unwrap_err().to_string();
        assert!(
            e.starts_with("configuration file /nonexistent/tollgate.toml: cannot be read"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn env_introspection_budget() {
        let with = |in_flight: &'static str, per_sec: &'static str| {
            move |k: &str| match k {
                "TOLLGATE_ISSUER" => Some("https://i".to_owned()),
                "TOLLGATE_AUDIENCE" => Some("a".to_owned()),
                "TOLLGATE_INTROSPECTION_URI" => Some("https://i/introspect".to_owned()),
                "TOLLGATE_INTROSPECTION_MAX_IN_FLIGHT" => Some(in_flight.to_owned()),
                "TOLLGATE_INTROSPECTION_MAX_PER_SEC" => Some(per_sec.to_owned()),
                _ => None,
            }
        };
        let c = GateConfig::from_lookup(with(" 4 ", "0")).unwrap();
        let i = c.introspection.as_ref().unwrap();
        assert_eq!((i.max_in_flight, i.max_per_sec), (Some(4), Some(0)));
        let c = GateConfig::from_lookup(with("", "")).unwrap();
        let i = c.introspection.as_ref().unwrap();
        assert_eq!((i.max_in_flight, i.max_per_sec), (None, None));
        let e = GateConfig::from_lookup(with("0", "5"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("TOLLGATE_INTROSPECTION_MAX_IN_FLIGHT is not a positive number"),
            "{e}"
        );
        let e = GateConfig::from_lookup(with("3", "-1"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("TOLLGATE_INTROSPECTION_MAX_PER_SEC is not a number"),
            "{e}"
        );
    }

    #[test]
    fn env_preset_and_secret_file() {
        let env = |k: &str| match k {
            "TOLLGATE_ISSUER" => Some("https://i".to_owned()),
            "TOLLGATE_AUDIENCE" => Some("a".to_owned()),
            "TOLLGATE_PRESET" => Some("cognito".to_owned()),
            _ => None,
        };
        let c = GateConfig::from_lookup(env).unwrap();
        assert_eq!(c.issuers[0].preset, Preset::Cognito);
        let env = |k: &str| match k {
            "TOLLGATE_ISSUER" => Some("https://i".to_owned()),
            "TOLLGATE_AUDIENCE" => Some("a".to_owned()),
            "TOLLGATE_PRESET" => Some("okta2".to_owned()),
            _ => None,
        };
        let e = GateConfig::from_lookup(env).unwrap_err().to_string();
        assert!(
            e.starts_with("TOLLGATE_PRESET names an unknown preset \"okta2\""),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_bad_later_issuer_fails_the_build_naming_it() {
        let c = GateConfig::from_toml(
            "[[issuer]]\nissuer = \"https://a\"\naudiences = [\"a\"]\njwks_uri = \"https://a/jwks\"\n[[issuer]]\nissuer = \"https://b\"\naudiences = [\"\"]\n",
        )
        .unwrap();
        let e = c.builder::<()>().build_lazy().unwrap_err();
        assert!(e.is_configuration());
        assert_eq!(e.to_string(), "an issuer or audience is the empty string");
    }

    // ---- DPoP settings ----

    fn dpop_env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k: &str| match k {
            "TOLLGATE_ISSUER" => Some("https://i".to_owned()),
            "TOLLGATE_AUDIENCE" => Some("a".to_owned()),
            _ => pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned()),
        }
    }

    #[test]
    fn dpop_from_the_environment() {
        // default: off, nothing to build
        let c = GateConfig::from_lookup(dpop_env(&[])).unwrap();
        assert_eq!(c.dpop, DpopSettings::default());
        assert_eq!(c.public_url, None);
        assert!(c.dpop().unwrap().is_none());

        let c = GateConfig::from_lookup(dpop_env(&[
            ("TOLLGATE_DPOP", " Required "),
            ("TOLLGATE_DPOP_NONCE", "required"),
            (
                "TOLLGATE_DPOP_NONCE_SECRET",
                "0123456789abcdef0123456789abcdef",
            ),
            ("TOLLGATE_PUBLIC_URL", "https://Orders.example.com/"),
        ]))
        .unwrap();
        assert_eq!(c.dpop.mode, DpopMode::Required);
        assert_eq!(c.dpop.nonce, DpopNonceMode::Required);
        assert_eq!(c.public_url.as_deref(), Some("https://Orders.example.com/"));
        assert!(!format!("{c:?}").contains("0123456789abcdef"));
        let d = c.dpop().unwrap().unwrap();
        assert_eq!(d.mode(), DpopMode::Required);
        // the configured secret mints the nonces: another issuer under it accepts them
        let n = d.verifier().nonces().unwrap().mint(1_000);
        assert!(
            NonceIssuer::new(b"0123456789abcdef0123456789abcdef")
                .unwrap()
                .check(&n, 1_000)
        );
        // without a secret: random per process, nonces still on
        let c = GateConfig::from_lookup(dpop_env(&[
            ("TOLLGATE_DPOP", "allowed"),
            ("TOLLGATE_DPOP_NONCE", "required"),
        ]))
        .unwrap();
        assert!(c.dpop().unwrap().unwrap().verifier().nonces().is_some());
        let c = GateConfig::from_lookup(dpop_env(&[("TOLLGATE_DPOP", "allowed")])).unwrap();
        assert!(c.dpop().unwrap().unwrap().verifier().nonces().is_none());

        // bad values stop start-up naming the variable (and never print a secret)
        for (pairs, expected) in [
            (
                &[("TOLLGATE_DPOP", "bogus")][..],
                "TOLLGATE_DPOP is not one of off, allowed, required: \"bogus\"",
            ),
            (
                &[
                    ("TOLLGATE_DPOP", "allowed"),
                    ("TOLLGATE_DPOP_NONCE", "sometimes"),
                ][..],
                "TOLLGATE_DPOP_NONCE is not one of off, required: \"sometimes\"",
            ),
            (
                &[("TOLLGATE_DPOP_NONCE", "required")][..],
                "TOLLGATE_DPOP_NONCE is required but TOLLGATE_DPOP is off (set it to allowed or required)",
            ),
            (
                &[
                    ("TOLLGATE_DPOP", "allowed"),
                    ("TOLLGATE_DPOP_NONCE", "required"),
                    ("TOLLGATE_DPOP_NONCE_SECRET", "short-s3cr3t"),
                ][..],
                "TOLLGATE_DPOP_NONCE_SECRET is shorter than 32 bytes",
            ),
            (
                &[
                    ("TOLLGATE_DPOP", "allowed"),
                    ("TOLLGATE_PUBLIC_URL", "https://orders.example.com/?x=1"),
                ][..],
                "TOLLGATE_PUBLIC_URL is not an absolute http(s) URL without query, fragment or user info: \"https://orders.example.com/?x=1\"",
            ),
            (
                &[("TOLLGATE_PUBLIC_URL", "orders.example.com")][..],
                "TOLLGATE_PUBLIC_URL is not an absolute http(s) URL without query, fragment or user info: \"orders.example.com\"",
            ),
        ] {
            let e = GateConfig::from_lookup(dpop_env(pairs))
                .unwrap_err()
                .to_string();
            assert_eq!(e, expected);
            assert!(!e.contains("s3cr3t"), "{e}");
        }
    }

    #[test]
    fn dpop_from_the_file() {
        let base = "public_url = \"https://orders.example.com\"\n[[issuer]]\nissuer = \"https://i\"\naudiences = [\"a\"]\n";
        let c = GateConfig::from_toml(&format!(
            "{base}[dpop]\nmode = \"allowed\"\nnonce = \"required\"\n"
        ))
        .unwrap();
        assert_eq!(c.dpop.mode, DpopMode::Allowed);
        assert_eq!(c.dpop.nonce, DpopNonceMode::Required);
        assert_eq!(c.public_url.as_deref(), Some("https://orders.example.com"));
        // round trip
        let text = toml::to_string(&c).unwrap();
        assert_eq!(GateConfig::parse_toml(&text).unwrap(), c);
        // without [dpop]: off, and nothing written back
        let c = GateConfig::from_toml(base).unwrap();
        assert_eq!(c.dpop.mode, DpopMode::Off);
        assert!(!toml::to_string(&c).unwrap().contains("dpop"));

        let e = refused(&format!("{base}[dpop]\nmode = \"bogus\"\n"));
        assert!(
            e.contains("mode") && e.contains("unknown DPoP mode \"bogus\""),
            "{e}"
        );
        let e = refused(&format!(
            "{base}[dpop]\nmode = \"allowed\"\nnonce = \"maybe\"\n"
        ));
        assert!(e.contains("nonce") && e.contains("maybe"), "{e}");
        let e = refused(&format!("{base}[dpop]\nnonce_secret = \"x\"\n"));
        assert!(e.contains("unknown field `nonce_secret`"), "{e}");
        let e = refused(&format!("{base}[dpop]\nnonce = \"required\"\n"));
        assert_eq!(
            e,
            "dpop.nonce is required but dpop.mode is off (set it to allowed or required)"
        );
        let e = refused(
            "public_url = \"ftp://x\"\n[[issuer]]\nissuer = \"https://i\"\naudiences = [\"a\"]\n",
        );
        assert!(
            e.starts_with("public_url is not an absolute http(s) URL"),
            "{e}"
        );

        // the secret from a file or a variable named in the file, never printed
        let dir = std::env::temp_dir().join(format!("tollgate-dpop-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("nonce");
        std::fs::write(&secret, "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t\n").unwrap();
        let file = dir.join("tollgate.toml");
        std::fs::write(&file, format!("{base}[dpop]\nmode = \"required\"\nnonce = \"required\"\nnonce_secret_file = {:?}\n", secret.display().to_string())).unwrap();
        let env = |k: &str| (k == "TOLLGATE_CONFIG").then(|| file.display().to_string());
        let c = GateConfig::from_lookup(env).unwrap();
        assert_eq!(
            c.dpop.nonce_secret.as_ref().unwrap().expose(),
            "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t"
        );
        assert!(!format!("{c:?}").contains("s3cr3t"));
        assert!(c.dpop().unwrap().unwrap().verifier().nonces().is_some());
        std::fs::write(&secret, "s3cr3t\n").unwrap();
        let e = GateConfig::from_lookup(env).unwrap_err().to_string();
        assert_eq!(
            e,
            "dpop.nonce_secret_file names a secret shorter than 32 bytes"
        );
        std::fs::write(&file, format!("{base}[dpop]\nmode = \"required\"\nnonce = \"required\"\nnonce_secret_env = \"NONCE_SECRET_UNSET\"\n")).unwrap();
        let e = GateConfig::from_lookup(env).unwrap_err().to_string();
        assert_eq!(
            e,
            "dpop.nonce_secret_env names NONCE_SECRET_UNSET, which is not set"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn redis_section_and_variables() {
        let c = GateConfig::from_toml(
            "[[issuer]]\nissuer = \"https://idp.example\"\naudiences = [\"orders\"]\n\n\
             [redis]\nurl = \"redis://:hunter2@127.0.0.1:6379/1\"\nprefix = \"orders:\"\n\
             timeout_ms = 80\nfallback = \"local-only\"\n",
        )
        .unwrap();
        let r = c.redis.as_ref().unwrap();
        assert_eq!(r.prefix.as_deref(), Some("orders:"));
        assert_eq!(r.timeout_ms, Some(80));
        assert_eq!(r.fallback, RedisFallback::LocalOnly);
        // the password is never printed, nor written back
        assert!(!format!("{c:?}").contains("hunter2"));
        let written = toml::to_string(&c).unwrap();
        assert!(!written.contains("hunter2"), "{written}");
        assert!(
            written.contains("redis://***@127.0.0.1:6379/1"),
            "{written}"
        );
        let e = GateConfig::from_toml(
            "[[issuer]]\nissuer = \"https://idp.example\"\naudiences = [\"orders\"]\n\n\
             [redis]\nurl = \"redis://127.0.0.1:6379/0\"\ntimeout_ms = 0\n",
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "redis.timeout_ms must be more than 0");

        let env = |k: &str| match k {
            "TOLLGATE_ISSUER" => Some("https://idp.example".to_owned()),
            "TOLLGATE_AUDIENCE" => Some("orders".to_owned()),
            "TOLLGATE_REDIS_URL" => Some("redis://127.0.0.1:6379/0".to_owned()),
            "TOLLGATE_REDIS_PREFIX" => Some("billing:".to_owned()),
            _ => None,
        };
        let c = GateConfig::from_lookup(env).unwrap();
        let r = c.redis.unwrap();
        assert_eq!(
            (r.url.as_str(), r.prefix.as_deref(), r.fallback),
            (
                "redis://127.0.0.1:6379/0",
                Some("billing:"),
                RedisFallback::Refuse
            )
        );
        let bad = |k: &str| match k {
            "TOLLGATE_REDIS_URL" => Some("localhost:6379".to_owned()),
            k => env(k),
        };
        let e = GateConfig::from_lookup(bad).unwrap_err().to_string();
        assert!(
            e.starts_with("TOLLGATE_REDIS_URL is not a usable Redis URL"),
            "{e}"
        );
    }
}
