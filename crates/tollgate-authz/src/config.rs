//! [`AuthzConfig`]: the gate's configuration file (`TOLLGATE_CONFIG`, see
//! [`tollgate_tower::config`]) plus `[[route]]` rules and an optional `[authz]` table.
//!
//! ```toml
//! [[issuer]]
//! issuer = "https://idp.example.com/realms/acme"
//! audiences = ["orders"]
//!
//! [authz]                               # optional
//! convention = "auto"                   # auto (default) | forwarded | original
//! forward_token = true                  # false: ask the gateway to drop Authorization
//! [authz.headers]                       # names of the identity headers; "" turns one off
//! subject = "X-Auth-Subject"
//! client_id = "X-Auth-Client-Id"
//! scopes = "X-Auth-Scopes"
//! issuer = "X-Auth-Issuer"
//!
//! [authz.phantom]                       # optional: opaque tokens → a JWT for the upstream
//! token_endpoint = "https://idp.example.com/token"   # RFC 8693 token exchange
//! client_id = "gateway"                 # this checkpoint's client
//! client_secret_env = "GATEWAY_SECRET"  # or client_secret_file = "/run/secrets/gateway"
//! audience = "orders"                   # the upstream's audience
//! scope = "orders:read"                 # optional: narrow the scopes
//!
//! [[route]]
//! prefix = "/orders"                    # longest prefix wins (segment-wise)
//! methods = ["GET"]                     # optional: every method
//! scopes = { all = ["orders:read"] }    # or { any = [..] }; { all = [] }: any valid token
//!
//! [[route]]
//! prefix = "/health"
//! public = true                         # no token needed
//! # anything not matched: denied (403), never allowed by default
//! ```
//!
//! One parse of the file: the gate's tables use `tollgate_tower`'s own setting types,
//! so unknown fields anywhere are refused naming the field and line; the gate part is
//! then checked by [`GateConfig::from_toml`].
//!
//! ```
//! use tollgate_authz::AuthzConfig;
//!
//! let base = "[[issuer]]\nissuer = \"https://idp.example\"\naudiences = [\"orders\"]\njwks_uri = \"https://idp.example/jwks\"\n";
//! // accepted
//! let c = AuthzConfig::from_toml(&format!("{base}[[route]]\nprefix = \"/health\"\npublic = true\n")).unwrap();
//! assert_eq!(c.routes.rules().len(), 1);
//! // refused: an unknown field is named
//! let e = AuthzConfig::from_toml(&format!("{base}[[route]]\nprefix = \"/a\"\nscope = {{ all = [] }}\n")).unwrap_err();
//! assert!(e.to_string().contains("unknown field `scope`"), "{e}");
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};
use tollgate_core::scope::{Scope, ScopePolicy};
use tollgate_tower::config::{
    CacheSettings, IntrospectionConfig, IssuerSettings, Secret, read_toml, resolve_secret,
};
use tollgate_tower::{BuildError, GateConfig, Tollgate};

use tollgate_client::{ClientAuth, TokenEndpoint, TokenExchange};

use crate::check::Checkpoint;
use crate::forward::{Convention, ForwardAuth};
use crate::identity::IdentityHeaders;
use crate::routes::{Access, Route, Routes, parse_method};

/// The checkpoint's configuration; see the [module docs](self).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AuthzConfig {
    /// The gate's settings (issuers, introspection, cache, realm).
    pub gate: GateConfig,
    /// The route rules.
    pub routes: Routes,
    /// The identity header names.
    pub identity: IdentityHeaders,
    /// Which headers carry the original request.
    pub convention: Convention,
    /// Whether the upstream keeps the client's `Authorization` header.
    pub forward_token: bool,
    /// Phantom tokens (`[authz.phantom]`).
    pub phantom: Option<PhantomSettings>,
}

/// `[authz.phantom]`: opaque tokens are exchanged (RFC 8693) for a JWT addressed to the
/// upstream; see [`Checkpoint::phantom`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PhantomSettings {
    /// The token endpoint.
    pub token_endpoint: String,
    /// This checkpoint's client id (`client_secret_basic`).
    pub client_id: String,
    /// Its secret (from `client_secret_env` or `client_secret_file`; never printed).
    pub client_secret: Secret,
    /// The upstream's audience.
    pub audience: String,
    /// The scopes to ask for (space-separated), if narrower than the subject token's.
    pub scope: Option<String>,
}

impl PhantomSettings {
    /// The live exchange (its own cache).
    ///
    /// # Errors
    ///
    /// A bad token endpoint URL or exchange setting, naming `authz.phantom`.
    pub fn exchange(&self) -> Result<TokenExchange, BuildError> {
        let named =
            |e: tollgate_client::ConfigError| BuildError::field("authz.phantom", e.to_string());
        let endpoint = TokenEndpoint::new(&self.token_endpoint)
            .map_err(named)?
            .client_auth(ClientAuth::client_secret_basic(
                &self.client_id,
                self.client_secret.expose(),
            ));
        let mut b = TokenExchange::builder(endpoint).audience(&self.audience);
        if let Some(s) = &self.scope {
            b = b.scope(s);
        }
        b.build().map_err(named)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDto {
    #[serde(default)]
    realm: Option<String>,
    #[serde(default, rename = "issuer")]
    issuers: Vec<IssuerSettings>,
    #[serde(default)]
    introspection: Option<IntrospectionConfig>,
    #[serde(default)]
    cache: Option<CacheSettings>,
    #[serde(default, rename = "route")]
    routes: Vec<RouteDto>,
    #[serde(default)]
    authz: AuthzDto,
}

#[derive(Serialize)]
struct GateParts<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    realm: &'a Option<String>,
    issuer: &'a [IssuerSettings],
    #[serde(skip_serializing_if = "Option::is_none")]
    introspection: &'a Option<IntrospectionConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache: &'a Option<CacheSettings>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteDto {
    prefix: String,
    #[serde(default)]
    methods: Option<Vec<String>>,
    #[serde(default)]
    public: bool,
    #[serde(default)]
    scopes: Option<ScopesDto>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScopesDto {
    #[serde(default)]
    all: Option<Vec<String>>,
    #[serde(default)]
    any: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthzDto {
    #[serde(default)]
    convention: ConventionDto,
    #[serde(default = "yes")]
    forward_token: bool,
    #[serde(default)]
    headers: HeadersDto,
    #[serde(default)]
    phantom: Option<PhantomDto>,
}

impl Default for AuthzDto {
    fn default() -> Self {
        AuthzDto {
            convention: ConventionDto::Auto,
            forward_token: true,
            headers: HeadersDto::default(),
            phantom: None,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PhantomDto {
    token_endpoint: String,
    client_id: String,
    #[serde(default)]
    client_secret_env: Option<String>,
    #[serde(default)]
    client_secret_file: Option<std::path::PathBuf>,
    audience: String,
    #[serde(default)]
    scope: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum ConventionDto {
    #[default]
    Auto,
    Forwarded,
    Original,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct HeadersDto {
    subject: Option<String>,
    client_id: Option<String>,
    scopes: Option<String>,
    issuer: Option<String>,
}

impl AuthzConfig {
    /// Reads the file named by `TOLLGATE_CONFIG` (required: the routes live there),
    /// resolving secret references from the process environment.
    ///
    /// # Errors
    ///
    /// [`BuildError`] naming the variable, file, field or rule.
    pub fn from_env() -> Result<Self, BuildError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// As [`Self::from_env`], through `get`.
    ///
    /// # Errors
    ///
    /// [`BuildError`] naming the variable, file, field or rule.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, BuildError> {
        let path = get("TOLLGATE_CONFIG")
            .filter(|p| !p.trim().is_empty())
            .ok_or_else(|| {
                BuildError::field(
                    "TOLLGATE_CONFIG",
                    "is required (the file holds the [[route]] rules)",
                )
            })?;
        Self::from_file_with(Path::new(path.trim()), &get)
    }

    /// Reads a TOML file, resolving secret references from the process environment.
    ///
    /// # Errors
    ///
    /// [`BuildError`] naming the file, field or rule.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, BuildError> {
        Self::from_file_with(path.as_ref(), &|k: &str| std::env::var(k).ok())
    }

    fn from_file_with(
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, BuildError> {
        let dto: FileDto = read_toml(path)?;
        let mut config = Self::from_dto(dto, env)?;
        config.gate.resolve_secrets(env)?;
        Ok(config)
    }

    /// Parses TOML text (secret references are resolved from the process environment
    /// only for `[authz.phantom]`; use [`Self::from_file`] for the rest).
    ///
    /// # Errors
    ///
    /// [`BuildError`] naming the field or rule.
    pub fn from_toml(text: &str) -> Result<Self, BuildError> {
        let dto = toml::from_str::<FileDto>(text)
            .map_err(|e| BuildError::field("configuration", e.to_string().trim_end().to_owned()))?;
        Self::from_dto(dto, &|k: &str| std::env::var(k).ok())
    }

    fn from_dto(dto: FileDto, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, BuildError> {
        let parts = GateParts {
            realm: &dto.realm,
            issuer: &dto.issuers,
            introspection: &dto.introspection,
            cache: &dto.cache,
        };
        let text = toml::to_string(&parts)
            .map_err(|e| BuildError::field("configuration", e.to_string()))?;
        let gate = GateConfig::from_toml(&text)?;

        let mut rules = Vec::with_capacity(dto.routes.len());
        for (i, r) in dto.routes.into_iter().enumerate() {
            rules.push(route(i, r)?);
        }
        let routes = Routes::new(rules).map_err(|e| route_error(&e))?;

        let h = &dto.authz.headers;
        let named = |field: &str, e: crate::identity::HeaderNameError| {
            BuildError::field(format!("authz.headers.{field}"), e.to_string())
        };
        let mut identity = IdentityHeaders::default();
        if let Some(n) = &h.subject {
            identity = identity.subject(Some(n)).map_err(|e| named("subject", e))?;
        }
        if let Some(n) = &h.client_id {
            identity = identity
                .client_id(Some(n))
                .map_err(|e| named("client_id", e))?;
        }
        if let Some(n) = &h.scopes {
            identity = identity.scopes(Some(n)).map_err(|e| named("scopes", e))?;
        }
        if let Some(n) = &h.issuer {
            identity = identity.issuer(Some(n)).map_err(|e| named("issuer", e))?;
        }
        let names: Vec<_> = identity.names().collect();
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                return Err(BuildError::field(
                    "authz.headers",
                    format!("names {n} twice"),
                ));
            }
        }
        Ok(AuthzConfig {
            gate,
            routes,
            identity,
            convention: match dto.authz.convention {
                ConventionDto::Auto => Convention::Auto,
                ConventionDto::Forwarded => Convention::Forwarded,
                ConventionDto::Original => Convention::Original,
            },
            forward_token: dto.authz.forward_token,
            phantom: match dto.authz.phantom {
                None => None,
                Some(p) => Some(PhantomSettings {
                    client_secret: resolve_secret(
                        "authz.phantom",
                        p.client_secret_env.as_deref(),
                        p.client_secret_file.as_deref(),
                        env,
                    )?
                    .ok_or_else(|| {
                        BuildError::field(
                            "authz.phantom",
                            "needs client_secret_env or client_secret_file",
                        )
                    })?,
                    token_endpoint: p.token_endpoint,
                    client_id: p.client_id,
                    audience: p.audience,
                    scope: p.scope,
                }),
            },
        })
    }

    /// The checkpoint these settings describe, over `gate` (built from [`Self::gate`]).
    ///
    /// # Errors
    ///
    /// A bad `[authz.phantom]` setting.
    pub fn checkpoint<X>(&self, gate: &Tollgate<X>) -> Result<Checkpoint, BuildError> {
        let c = Checkpoint::from_parts(
            gate.authenticator().clone(),
            gate.bearer_rejector().clone(),
            self.routes.clone(),
        )
        .identity_headers(self.identity.clone())
        .forward_token(self.forward_token);
        Ok(match &self.phantom {
            Some(p) => c.phantom(p.exchange()?),
            None => c,
        })
    }

    /// The forward-auth HTTP service these settings describe.
    ///
    /// # Errors
    ///
    /// A bad `[authz.phantom]` setting.
    pub fn forward_auth<B, X>(&self, gate: &Tollgate<X>) -> Result<ForwardAuth<B>, BuildError> {
        Ok(ForwardAuth::new(self.checkpoint(gate)?).convention(self.convention))
    }
}

/// A [`RouteError`](crate::routes::RouteError) as a field error: its text starts with the
/// rule's field (`route[1].prefix must ...`).
fn route_error(e: &crate::routes::RouteError) -> BuildError {
    let text = e.to_string();
    match text.split_once(' ') {
        Some((field, problem)) => BuildError::field(field, problem),
        None => BuildError::field("route", text),
    }
}

fn scopes(field: &str, list: &[String]) -> Result<Vec<Scope>, BuildError> {
    list.iter()
        .enumerate()
        .map(|(j, s)| {
            Scope::new(s.clone()).map_err(|e| {
                BuildError::field(format!("{field}[{j}]"), format!("is not a scope: {e}"))
            })
        })
        .collect()
}

fn route(i: usize, r: RouteDto) -> Result<Route, BuildError> {
    let field = |f: &str| format!("route[{i}].{f}");
    let access = match (r.public, r.scopes) {
        (true, Some(_)) => {
            return Err(BuildError::field(
                field("public"),
                "and scopes are exclusive",
            ));
        }
        (true, None) => Access::Public,
        (false, None) => {
            return Err(BuildError::field(
                format!("route[{i}]"),
                "needs scopes = { all = [..] } or { any = [..] }, or public = true",
            ));
        }
        (false, Some(s)) => {
            let all = s
                .all
                .as_deref()
                .map(|l| scopes(&field("scopes.all"), l))
                .transpose()?;
            let any = s
                .any
                .as_deref()
                .map(|l| scopes(&field("scopes.any"), l))
                .transpose()?;
            Access::Scopes(match (all, any) {
                (None, None) => {
                    return Err(BuildError::field(
                        field("scopes"),
                        "needs all = [..] or any = [..]",
                    ));
                }
                (Some(all), None) => ScopePolicy::all_of(all),
                (all, Some(any)) => {
                    if any.is_empty() {
                        return Err(BuildError::field(
                            field("scopes.any"),
                            "is empty (it could never be met)",
                        ));
                    }
                    let all = all.unwrap_or_default();
                    ScopePolicy::any_of_all_of(
                        any.into_iter()
                            .map(|one| all.iter().cloned().chain([one]).collect::<Vec<_>>()),
                    )
                }
            })
        }
    };
    let methods = match r.methods {
        None => None,
        Some(ms) => Some(
            ms.iter()
                .enumerate()
                .map(|(j, m)| {
                    parse_method(m)
                        .map_err(|e| BuildError::field(format!("route[{i}].methods[{j}]"), e))
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    Ok(Route::new(r.prefix, access).with_methods(methods))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::Matched;

    const BASE: &str =
        "[[issuer]]\nissuer = \"https://i\"\naudiences = [\"a\"]\njwks_uri = \"https://i/jwks\"\n";

    fn refused(extra: &str) -> String {
        AuthzConfig::from_toml(&format!("{BASE}{extra}"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn full_file() {
        let c = AuthzConfig::from_toml(&format!(
            r#"realm = "orders"
{BASE}
[cache]
max_entries = 10

[authz]
convention = "original"
forward_token = false
[authz.headers]
subject = "X-User"
issuer = ""

[[route]]
prefix = "/orders"
methods = ["GET", "HEAD"]
scopes = {{ all = ["orders:read"] }}

[[route]]
prefix = "/orders"
methods = ["POST"]
scopes = {{ all = ["orders:write"], any = ["admin", "clerk"] }}

[[route]]
prefix = "/me"
scopes = {{ all = [] }}

[[route]]
prefix = "/health"
public = true
"#
        ))
        .unwrap();
        assert_eq!(c.gate.realm.as_deref(), Some("orders"));
        assert_eq!(c.gate.cache.max_entries, 10);
        assert_eq!(c.convention, Convention::Original);
        assert!(!c.forward_token);
        let names: Vec<_> = c.identity.names().map(|n| n.as_str()).collect();
        assert_eq!(names, ["x-user", "x-auth-client-id", "x-auth-scopes"]);
        assert!(matches!(
            c.routes.find("HEAD", "/orders"),
            Matched::Protected(_)
        ));
        let Matched::Protected(p) = c.routes.find("POST", "/orders/1") else {
            panic!()
        };
        let ok = |s: &str| p.is_satisfied_by(&s.parse().unwrap());
        assert!(ok("orders:write admin"));
        assert!(ok("orders:write clerk"));
        assert!(!ok("orders:write"));
        assert!(!ok("admin clerk"));
        let Matched::Protected(p) = c.routes.find("GET", "/me") else {
            panic!()
        };
        assert!(p.is_satisfied_by(&tollgate_core::scope::ScopeSet::default()));
        assert!(matches!(c.routes.find("GET", "/health"), Matched::Public));
        assert!(matches!(c.routes.find("GET", "/other"), Matched::None));
    }

    #[test]
    fn refusals_name_the_field() {
        let e = refused("[[route]]\nprefix = \"/a\"\nscope = { all = [] }\n");
        assert!(
            e.contains("unknown field `scope`") && e.contains("line"),
            "{e}"
        );
        let e = refused("bind = \"x\"\n");
        assert!(e.contains("unknown field `bind`"), "{e}");
        let e = refused("[authz]\nconvention = \"nginx\"\n");
        assert!(e.contains("convention") || e.contains("nginx"), "{e}");
        let e = refused("[authz.headers]\nsubject = \"x user\"\n");
        assert!(e.starts_with("authz.headers.subject"), "{e}");
        let e = refused("[authz.headers]\nsubject = \"Authorization\"\n");
        assert!(e.starts_with("authz.headers.subject"), "{e}");
        let e = refused("[authz.headers]\nsubject = \"x-a\"\nissuer = \"X-A\"\n");
        assert!(e.starts_with("authz.headers names x-a twice"), "{e}");
        let e = refused("[[route]]\nprefix = \"/a\"\n");
        assert!(e.starts_with("route[0] needs scopes"), "{e}");
        let e = refused("[[route]]\nprefix = \"/a\"\npublic = true\nscopes = { all = [] }\n");
        assert_eq!(e, "route[0].public and scopes are exclusive");
        let e = refused("[[route]]\nprefix = \"/a\"\nscopes = { all = [\"a b\"] }\n");
        assert!(
            e.starts_with("route[0].scopes.all[0] is not a scope"),
            "{e}"
        );
        let e = refused("[[route]]\nprefix = \"/a\"\nscopes = { any = [] }\n");
        assert!(e.starts_with("route[0].scopes.any is empty"), "{e}");
        let e = refused("[[route]]\nprefix = \"/a\"\nmethods = [\"get\"]\npublic = true\n");
        assert!(e.starts_with("route[0].methods[0]"), "{e}");
        let e = refused("[[route]]\nprefix = \"a\"\npublic = true\n");
        assert_eq!(e, "route[0].prefix must start with \"/\"");
        let e = refused(
            "[[route]]\nprefix = \"/a\"\npublic = true\n[[route]]\nprefix = \"/a\"\npublic = true\n",
        );
        assert!(e.starts_with("route[1] repeats route[0]"), "{e}");
        // the gate's own checks still run
        let e = AuthzConfig::from_toml("[[route]]\nprefix = \"/a\"\npublic = true\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("issuer"), "{e}");
        let e = refused("[[issuer]]\nissuer = \"https://j\"\naudience = [\"x\"]\n");
        assert!(e.contains("unknown field `audience`"), "{e}");
    }

    #[test]
    fn file_and_secrets() {
        let dir =
            std::env::temp_dir().join(format!("tollgate-authz-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("authz.toml");
        std::fs::write(
            &file,
            format!("{BASE}[introspection]\nendpoint = \"https://i/introspect\"\nclient_id = \"rs\"\nclient_secret_env = \"RS_SECRET\"\n[[route]]\nprefix = \"/\"\npublic = true\n"),
        )
        .unwrap();
        let env = |k: &str| match k {
            "TOLLGATE_CONFIG" => Some(file.display().to_string()),
            "RS_SECRET" => Some("s3cr3t".to_owned()),
            _ => None,
        };
        let c = AuthzConfig::from_lookup(env).unwrap();
        let secret = c
            .gate
            .introspection
            .as_ref()
            .unwrap()
            .client_secret
            .as_ref()
            .unwrap();
        assert_eq!(secret.expose(), "s3cr3t");
        assert!(!format!("{c:?}").contains("s3cr3t"));
        let env = |k: &str| (k == "TOLLGATE_CONFIG").then(|| file.display().to_string());
        let e = AuthzConfig::from_lookup(env).unwrap_err().to_string();
        assert_eq!(
            e,
            "introspection.client_secret_env names RS_SECRET, which is not set"
        );
        std::fs::write(
            &file,
            format!("{BASE}[[route]]\nprefix = \"/\"\npublic = 1\n"),
        )
        .unwrap();
        let env = |k: &str| (k == "TOLLGATE_CONFIG").then(|| file.display().to_string());
        let e = AuthzConfig::from_lookup(env).unwrap_err().to_string();
        assert!(
            e.starts_with("configuration file ") && e.contains("public") && e.contains("line 7"),
            "{e}"
        );
        let e = AuthzConfig::from_lookup(|_| None).unwrap_err().to_string();
        assert!(e.starts_with("TOLLGATE_CONFIG is required"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
