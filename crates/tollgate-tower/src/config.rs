//! [`GateConfig`]: the gate's settings as plain data, read from the environment, turned
//! into a [`TollgateBuilder`].
//!
//! | variable | meaning |
//! |---|---|
//! | `TOLLGATE_ISSUER` | the exact `iss` (required) |
//! | `TOLLGATE_AUDIENCE` | accepted audiences, comma-separated (required) |
//! | `TOLLGATE_JWKS_URI` | JWKS URL; unset → the issuer's discovery metadata |
//! | `TOLLGATE_ALGORITHMS` | algorithm allow-list, comma-separated (default: all asymmetric) |
//! | `TOLLGATE_INTROSPECTION_URI` | RFC 7662 endpoint: opaque tokens are introspected |
//! | `TOLLGATE_CLIENT_ID`, `TOLLGATE_CLIENT_SECRET` | the resource server's credentials for introspection (`client_secret_basic`; both or neither) |
//! | `TOLLGATE_INTROSPECTION_CACHE_SECS` | cache TTL of active answers (default 30) |
//!
//! A missing or bad value is refused with an error naming the variable; secrets are
//! never part of an error or of `Debug`.
//!
//! ```
//! use tollgate_tower::GateConfig;
//!
//! let env = |k: &str| match k {
//!     "TOLLGATE_ISSUER" => Some("https://idp.example".to_owned()),
//!     "TOLLGATE_AUDIENCE" => Some("orders, billing".to_owned()),
//!     _ => None,
//! };
//! let config = GateConfig::from_lookup(env).unwrap();
//! assert_eq!(config.audiences, ["orders", "billing"]);
//! let _builder = config.builder::<()>(); // .realm(..).build().await
//!
//! // refused: the variable is named
//! let err = GateConfig::from_lookup(|_| None).unwrap_err();
//! assert_eq!(err.to_string(), "TOLLGATE_ISSUER is required");
//! ```

use std::fmt;
use std::time::Duration;

use tollgate_core::alg::Algorithm;
use tollgate_core::introspect::{Introspector, IntrospectorBuilder};
use tollgate_core::oauth::ClientAuth;

use crate::gate::{BuildError, Tollgate, TollgateBuilder};

/// The gate's settings as plain data (see the [module docs](self)).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GateConfig {
    /// The exact `iss`.
    pub issuer: String,
    /// Accepted audiences (any-of).
    pub audiences: Vec<String>,
    /// The JWKS URL; `None` → discovery.
    pub jwks_uri: Option<String>,
    /// The algorithm allow-list; `None` → all asymmetric algorithms.
    pub algorithms: Option<Vec<Algorithm>>,
    /// RFC 7662 introspection of opaque tokens.
    pub introspection: Option<IntrospectionConfig>,
}

/// Introspection settings of a [`GateConfig`].
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IntrospectionConfig {
    /// The introspection endpoint.
    pub uri: String,
    /// `(client_id, client_secret)` for `client_secret_basic`, if any.
    pub client: Option<(String, String)>,
    /// Cache TTL of active answers, in seconds.
    pub cache_secs: u64,
}

impl fmt::Debug for GateConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GateConfig")
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("jwks_uri", &self.jwks_uri)
            .field("algorithms", &self.algorithms)
            .field("introspection", &self.introspection)
            .finish()
    }
}

impl fmt::Debug for IntrospectionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionConfig")
            .field("uri", &self.uri)
            .field("client_id", &self.client.as_ref().map(|(id, _)| id))
            .field("cache_secs", &self.cache_secs)
            .finish_non_exhaustive()
    }
}

impl GateConfig {
    /// Reads the `TOLLGATE_*` variables of the process environment.
    ///
    /// # Errors
    ///
    /// [`BuildError::Field`] naming the missing or bad variable.
    pub fn from_env() -> Result<Self, BuildError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the variables through `get` (tests pass a map).
    ///
    /// # Errors
    ///
    /// [`BuildError::Field`] naming the missing or bad variable.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, BuildError> {
        let optional = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let required = |k: &str| optional(k).ok_or_else(|| BuildError::field(k, "is required"));
        let issuer = required("TOLLGATE_ISSUER")?;
        let audiences = list(&required("TOLLGATE_AUDIENCE")?);
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
                let client = match (
                    optional("TOLLGATE_CLIENT_ID"),
                    optional("TOLLGATE_CLIENT_SECRET"),
                ) {
                    (Some(id), Some(secret)) => Some((id, secret)),
                    (None, None) => None,
                    _ => {
                        return Err(BuildError::field(
                            "TOLLGATE_CLIENT_ID and TOLLGATE_CLIENT_SECRET",
                            "go together",
                        ));
                    }
                };
                let cache_secs = match optional("TOLLGATE_INTROSPECTION_CACHE_SECS") {
                    None => tollgate_core::introspect::DEFAULT_CACHE_TTL.as_secs(),
                    Some(v) => v.trim().parse().map_err(|_| {
                        BuildError::field(
                            "TOLLGATE_INTROSPECTION_CACHE_SECS",
                            format!("is not a number of seconds: {:?}", v.trim()),
                        )
                    })?,
                };
                Some(IntrospectionConfig {
                    uri,
                    client,
                    cache_secs,
                })
            }
        };
        Ok(GateConfig {
            issuer,
            audiences,
            jwks_uri: optional("TOLLGATE_JWKS_URI"),
            algorithms,
            introspection,
        })
    }

    /// The introspector these settings describe, if introspection is configured.
    #[must_use]
    pub fn introspector(&self) -> Option<IntrospectorBuilder> {
        let i = self.introspection.as_ref()?;
        let auth = match &i.client {
            Some((id, secret)) => ClientAuth::client_secret_basic(id, secret),
            None => ClientAuth::None,
        };
        Some(
            Introspector::builder()
                .endpoint(&i.uri)
                .client_auth(auth)
                .cache_ttl(Duration::from_secs(i.cache_secs)),
        )
    }

    /// A gate builder with these settings (add `.realm(..)` and the like, then build).
    pub fn builder<X>(&self) -> TollgateBuilder<X>
    where
        X: serde::de::DeserializeOwned + Send + Sync + 'static,
    {
        let mut b = Tollgate::<X>::builder().issuer(&self.issuer);
        for a in &self.audiences {
            b = b.audience(a);
        }
        if let Some(algs) = &self.algorithms {
            b = b.algorithms(algs.iter().copied());
        }
        b = match &self.jwks_uri {
            Some(u) => b.jwks_uri(u),
            None => b.discover(),
        };
        match self.introspector() {
            Some(i) => b.introspection(i),
            None => b,
        }
    }
}

fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}
