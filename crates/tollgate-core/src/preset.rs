//! Identity-provider presets and permission mapping.
//!
//! A [`Preset`] is a documented bundle of rules for the access tokens of one kind of
//! identity provider: accepted header `typ` values, a token-kind check that tells
//! access tokens from the provider's ID and refresh tokens (which share issuer and
//! keys), the audience rule, the claims whose values become the token's scopes
//! ("permissions"), and the claim naming the calling client. Presets never weaken the
//! signature, issuer, expiry or algorithm checks.
//!
//! | preset | header `typ` | token-kind check | audience | permissions | client |
//! |---|---|---|---|---|---|
//! | `rfc9068` (default) | `at+jwt` | RFC 9068 claims present (`sub`, `client_id`, `iat`, `jti`) | `aud` | `scope`, `scp` | `client_id` |
//! | `jwt` | absent / `JWT` / RFC 9068 | — | `aud` | `scope`, `scp` | `client_id`, else `azp` |
//! | `keycloak` | `JWT` or `at+jwt` | payload `typ` = `Bearer` | `aud` | `scope`; `realm_access.roles`; `resource_access.<audience>.roles` | `azp`, else `client_id` |
//! | `entra` | `JWT` | `ver` = `2.0` | `aud` | `scp` (string), `roles` | `azp`, else `appid` |
//! | `auth0` | `JWT` or `at+jwt` | — | `aud` | `scope`, `permissions` | `azp`, else `client_id` |
//! | `okta` | absent or `JWT` | — | `aud` | `scp`, `scope` | `cid` |
//! | `cognito` | absent | `token_use` = `access` | no `aud`; `client_id` = a configured audience | `scope`, `cognito:groups` | `client_id` |
//!
//! Header `typ` values compare case-insensitively (`at+jwt` also as
//! `application/at+jwt`); the token-kind values compare exactly. A claim not listed
//! for a preset is not read as a permission (Keycloak's `scp`, Entra's `scope`).
//!
//! # Rules in detail
//!
//! - **Presets and [`TokenProfile`](crate::TokenProfile).** The preset is the one
//!   source of the `typ` rule and the required claims. `TokenProfile::AccessToken` is
//!   `rfc9068` (today's default, unchanged) and `TokenProfile::Permissive` is `jwt`;
//!   [`ValidationBuilder::profile`](crate::validation::ValidationBuilder::profile) sets
//!   that preset, so the later of `profile` and `preset` wins.
//! - **Audience.** Every preset but `cognito` requires an `aud` naming a configured
//!   audience (for `keycloak` that takes an audience mapper; for `entra` configure the
//!   application id GUID, the App ID URI, or both). Cognito access tokens carry no
//!   `aud`: their `client_id` must equal a configured audience (the app client id). A
//!   token *with* `aud` is refused under `cognito`
//!   ([`ClaimsError::UnexpectedAudience`](crate::error::ClaimsError)): only Cognito ID
//!   tokens carry one.
//! - **Permissions.** `scope` and `scp` are read as today: an invalid scope-token there
//!   refuses the token. The other sources (the preset's and every
//!   [`PermissionSource`]) are more forgiving, since roles and groups are not scopes: a
//!   value that is not an RFC 6749 scope-token once prefixed (`Orders Admin`, a number)
//!   is skipped; how many were skipped is logged at debug, the values never are. The
//!   mapped values join [`Claims::scopes`](crate::Claims), so the scope policies
//!   (`all`/`any`, per route, per gRPC method) work on them unchanged. Keycloak's realm
//!   roles include the realm's defaults (`offline_access`, `uma_authorization`,
//!   `default-roles-<realm>`); its client roles count only for the configured
//!   audiences: roles held on any other client never count.
//! - **Token kind.** Only `rfc9068`, `keycloak`, `entra` and `cognito` tell access
//!   tokens from ID tokens. `jwt`, `auth0` and `okta` rely on the audience: their ID
//!   tokens name the *client* as `aud`, never the API. With a provider that can put
//!   your API into ID tokens (Keycloak's audience mapper), use its preset, not `jwt`.
//! - **Client.** [`Claims::client`](crate::Claims::client) gives the calling client
//!   per the table; it is filled once at verification and cached with the claims.
//! - **Cost.** `rfc9068` and `jwt` without extra sources verify exactly as before.
//!   The other presets, and any [`PermissionSource`], parse the payload once more as
//!   JSON on the cold path; a verified-token cache hit does no work at all.
//! - **Diagnostics.** A refusal by the preset's rules (header `typ`, claims) logs at
//!   debug, target `tollgate::preset`, the preset, the failed check and, when the claim
//!   names look like another provider's, a hint: `typ JWT refused by preset rfc9068;
//!   tokens from Keycloak need preset keycloak`. Only claim names and fixed words are
//!   logged; the client's answer is the usual fixed 401 `invalid_token` text.
//!
//! # Example
//!
//! ```
//! use tollgate_core::{KeySet, Validation, preset::Preset};
//! use tollgate_core::error::{AuthError, ClaimsError};
//! use tollgate_testkit::TestKey;
//! use serde_json::json;
//!
//! let key = TestKey::rsa("kc-1");
//! let keys = KeySet::from_jwks(&serde_json::to_vec(&TestKey::jwks([&key])).unwrap()).unwrap();
//! let iss = "https://sso.example/realms/shop";
//! let validation = Validation::builder()
//!     .issuer(iss)
//!     .audience("orders-api")
//!     .preset(Preset::Keycloak)
//!     .build()
//!     .unwrap();
//!
//! // accepted: a Keycloak access token (header typ JWT, payload typ Bearer)
//! let access = key.token().header("typ", "JWT").issuer(iss)
//!     .audiences(&["orders-api", "account"])
//!     .without("client_id")
//!     .claim("typ", "Bearer").claim("azp", "orders-client").claim("scope", "email profile")
//!     .claim("realm_access", json!({"roles": ["offline_access"]}))
//!     .claim("resource_access", json!({
//!         "orders-api": {"roles": ["orders:read"]},
//!         "account": {"roles": ["view-profile"]},
//!     }))
//!     .sign();
//! let claims = validation.verify::<()>(&access, &keys).unwrap();
//! assert!(claims.scopes.contains("orders:read"));
//! assert!(!claims.scopes.contains("view-profile")); // a role on another client
//! assert_eq!(claims.client(), Some("orders-client"));
//!
//! // refused: the ID token of the same realm, same key, our client in `aud`
//! let id_token = key.token().header("typ", "JWT").issuer(iss)
//!     .audiences(&["orders-cli", "orders-api"])
//!     .claim("typ", "ID").claim("azp", "orders-cli")
//!     .sign();
//! let err = validation.verify::<()>(&id_token, &keys).unwrap_err();
//! assert!(matches!(err, AuthError::Claims(ClaimsError::NotAnAccessToken { .. })));
//! assert_eq!(err.wire().status, 401);
//! ```

use std::fmt;
use std::str::FromStr;

use crate::scope::{Scope, ScopeSet};

/// An identity-provider preset (see the [module docs](self)).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Preset {
    /// RFC 9068 JWT access tokens (the default, strict).
    #[default]
    Rfc9068,
    /// Generic JWT access tokens (`typ` absent, `JWT` or RFC 9068).
    Jwt,
    /// Keycloak.
    Keycloak,
    /// Microsoft Entra ID, v2 access tokens.
    Entra,
    /// Auth0.
    Auth0,
    /// Okta (custom authorization servers).
    Okta,
    /// Amazon Cognito user pools.
    Cognito,
}

impl Preset {
    /// Every preset, in the order of the table.
    pub const ALL: [Preset; 7] = [
        Preset::Rfc9068,
        Preset::Jwt,
        Preset::Keycloak,
        Preset::Entra,
        Preset::Auth0,
        Preset::Okta,
        Preset::Cognito,
    ];

    /// The preset's name as written in configuration (`keycloak`, ...).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Preset::Rfc9068 => "rfc9068",
            Preset::Jwt => "jwt",
            Preset::Keycloak => "keycloak",
            Preset::Entra => "entra",
            Preset::Auth0 => "auth0",
            Preset::Okta => "okta",
            Preset::Cognito => "cognito",
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A preset name that is not one of [`Preset::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown preset {0:?} (expected one of rfc9068, jwt, keycloak, entra, auth0, okta, cognito)"
)]
pub struct UnknownPreset(pub String);

impl FromStr for Preset {
    type Err = UnknownPreset;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Preset::ALL
            .into_iter()
            .find(|p| p.name() == s.trim())
            .ok_or_else(|| UnknownPreset(s.to_owned()))
    }
}

/// One claim whose values become permissions (scopes) of the token.
///
/// `claim` is a dotted path into the payload (`realm_access.roles`); a segment
/// `{audience}` stands for each configured audience (`resource_access.{audience}.roles`:
/// roles held on any other client never count). The value may be an array of strings
/// or a space-delimited string; each value, with the optional `prefix` in front, must be
/// a valid RFC 6749 scope-token to count (others are skipped; their number, never
/// their text, is logged at debug). A path that is itself a top-level member name is
/// taken whole, so namespaced claims with dots work (`https://example.com/roles`);
/// an audience put in for `{audience}` is one segment, dots included.
///
/// ```
/// use tollgate_core::preset::PermissionSource;
///
/// let groups = PermissionSource::claim("groups").prefix("group:");
/// assert_eq!(groups.path(), "groups");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PermissionSource {
    /// The dotted claim path.
    pub claim: String,
    /// Put in front of every value (`group:`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

impl PermissionSource {
    /// Values of the claim at this dotted path.
    #[must_use]
    pub fn claim(path: impl Into<String>) -> Self {
        PermissionSource {
            claim: path.into(),
            prefix: None,
        }
    }

    /// Puts `prefix` in front of every value.
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// The dotted claim path.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.claim
    }

    /// False when it can never yield a permission: an empty path or path segment
    /// (checked when the path is not one member name either way, so `a..b` is
    /// refused), or a prefix with bytes no scope-token holds. Checked by
    /// [`ValidationBuilder::build`](crate::validation::ValidationBuilder::build).
    pub(crate) fn is_usable(&self) -> bool {
        !self.claim.is_empty()
            && self.claim.split('.').all(|s| !s.is_empty())
            && self
                .prefix
                .as_deref()
                .is_none_or(|p| p.is_empty() || Scope::new(p.to_owned()).is_ok())
    }
}

/// The `typ` header values of the table (a non-string `typ` is never accepted).
fn header_typ_allowed(preset: Preset, typ: Option<&str>) -> bool {
    let at_jwt =
        |t: &str| t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt");
    let jwt = |t: &str| t.eq_ignore_ascii_case("jwt");
    match (preset, typ) {
        (Preset::Rfc9068, Some(t)) => at_jwt(t),
        (Preset::Jwt, None) => true,
        (Preset::Jwt | Preset::Keycloak | Preset::Auth0, Some(t)) => jwt(t) || at_jwt(t),
        (Preset::Entra, Some(t)) => jwt(t),
        (Preset::Okta, None) => true,
        (Preset::Okta, Some(t)) => jwt(t),
        (Preset::Cognito, None) => true,
        _ => false,
    }
}

impl Preset {
    /// True when the header `typ` (`None` = absent) is accepted by this preset.
    pub(crate) fn typ_allowed(self, typ: Option<&str>) -> bool {
        header_typ_allowed(self, typ)
    }

    /// Whether the typed `scope` and `scp` claims count as permissions.
    pub(crate) const fn scope_claims(self) -> (bool, bool) {
        match self {
            Preset::Rfc9068 | Preset::Jwt | Preset::Okta => (true, true),
            Preset::Keycloak | Preset::Auth0 | Preset::Cognito => (true, false),
            Preset::Entra => (false, true),
        }
    }

    /// The preset's own permission sources beyond `scope`/`scp`.
    pub(crate) const fn sources(self) -> &'static [&'static str] {
        match self {
            Preset::Rfc9068 | Preset::Jwt | Preset::Okta => &[],
            Preset::Keycloak => &["realm_access.roles", "resource_access.{audience}.roles"],
            Preset::Entra => &["roles"],
            Preset::Auth0 => &["permissions"],
            Preset::Cognito => &["cognito:groups"],
        }
    }

    /// True when verification needs the payload as JSON beyond the typed claims.
    pub(crate) const fn needs_json(self) -> bool {
        !matches!(self, Preset::Rfc9068 | Preset::Jwt)
    }

    /// The token-kind check: the claim that must hold the given value.
    pub(crate) const fn kind_claim(self) -> Option<(&'static str, &'static str)> {
        match self {
            Preset::Keycloak => Some(("typ", "Bearer")),
            Preset::Entra => Some(("ver", "2.0")),
            Preset::Cognito => Some(("token_use", "access")),
            _ => None,
        }
    }

    /// The claim names tried, in order, for the calling client.
    pub(crate) const fn client_claims(self) -> &'static [&'static str] {
        match self {
            Preset::Rfc9068 | Preset::Cognito => &["client_id"],
            Preset::Jwt => &["client_id", "azp"],
            Preset::Keycloak | Preset::Auth0 => &["azp", "client_id"],
            Preset::Entra => &["azp", "appid"],
            Preset::Okta => &["cid"],
        }
    }

    /// Which preset a claim set looks like, from claim *names* and token-kind markers
    /// only (for the diagnostic hint of a refusal; the payload is not verified).
    pub(crate) fn guess(payload: &serde_json::Value) -> Option<Preset> {
        let o = payload.as_object()?;
        let has = |k: &str| o.contains_key(k);
        let kc_typ = o
            .get("typ")
            .and_then(|t| t.as_str())
            .is_some_and(|t| matches!(t, "Bearer" | "ID" | "Refresh"));
        if has("realm_access") || kc_typ {
            Some(Preset::Keycloak)
        } else if has("ver") && has("tid") {
            Some(Preset::Entra)
        } else if has("token_use") {
            Some(Preset::Cognito)
        } else if has("cid") {
            Some(Preset::Okta)
        } else if has("permissions") && has("azp") {
            Some(Preset::Auth0)
        } else {
            None
        }
    }

    /// The provider's name for hints ("Keycloak").
    pub(crate) const fn provider(self) -> &'static str {
        match self {
            Preset::Rfc9068 => "an RFC 9068 authorization server",
            Preset::Jwt => "a generic JWT issuer",
            Preset::Keycloak => "Keycloak",
            Preset::Entra => "Microsoft Entra ID",
            Preset::Auth0 => "Auth0",
            Preset::Okta => "Okta",
            Preset::Cognito => "Amazon Cognito",
        }
    }
}

/// Looks a claim up: the whole path as one member first (Auth0's namespaced claims
/// such as `https://example.com/roles` hold dots), else segment by segment;
/// `audience` replaces a `{audience}` segment (taken whole, dots included).
fn lookup<'v>(
    payload: &'v serde_json::Value,
    path: &str,
    audience: Option<&str>,
) -> Option<&'v serde_json::Value> {
    if audience.is_none()
        && let Some(v) = payload.get(path)
    {
        return Some(v);
    }
    let mut cur = payload;
    for seg in path.split('.') {
        let key = match (seg, audience) {
            ("{audience}", Some(a)) => a,
            _ => seg,
        };
        cur = cur.as_object()?.get(key)?;
    }
    Some(cur)
}

/// Adds the values found at `path` (an array of strings or a space-delimited string)
/// to `out`, each behind `prefix`. Returns how many values were skipped because they
/// are not RFC 6749 scope-tokens once prefixed (or are not strings).
fn collect(
    payload: &serde_json::Value,
    path: &str,
    audience: Option<&str>,
    prefix: Option<&str>,
    out: &mut ScopeSet,
) -> usize {
    let mut skipped = 0;
    let mut add = |v: &str, skipped: &mut usize| {
        if v.is_empty() {
            return;
        }
        let s = match prefix {
            Some(p) => format!("{p}{v}"),
            None => v.to_owned(),
        };
        match Scope::new(s) {
            Ok(scope) => {
                out.insert(scope);
            }
            Err(_) => *skipped += 1,
        }
    };
    match lookup(payload, path, audience) {
        Some(serde_json::Value::String(s)) => {
            for v in s.split(' ') {
                add(v, &mut skipped);
            }
        }
        Some(serde_json::Value::Array(a)) => {
            for v in a {
                match v.as_str() {
                    Some(s) => add(s, &mut skipped),
                    None => skipped += 1,
                }
            }
        }
        Some(serde_json::Value::Null) | None => {}
        Some(_) => skipped += 1,
    }
    skipped
}

impl PermissionSource {
    /// Adds this source's permissions found in `payload` to `out`; one path per
    /// configured audience when the path holds `{audience}`. Returns the number of
    /// values skipped.
    pub(crate) fn collect_into<'a>(
        &self,
        payload: &serde_json::Value,
        audiences: impl Iterator<Item = &'a str>,
        out: &mut ScopeSet,
    ) -> usize {
        collect_path(payload, &self.claim, self.prefix.as_deref(), audiences, out)
    }
}

/// [`collect`] over one path template.
pub(crate) fn collect_path<'a>(
    payload: &serde_json::Value,
    path: &str,
    prefix: Option<&str>,
    audiences: impl Iterator<Item = &'a str>,
    out: &mut ScopeSet,
) -> usize {
    if path.split('.').any(|s| s == "{audience}") {
        audiences
            .map(|a| collect(payload, path, Some(a), prefix, out))
            .sum()
    } else {
        collect(payload, path, None, prefix, out)
    }
}

/// The calling client per the preset's client claims.
pub(crate) fn client_of<X>(
    preset: Preset,
    claims: &crate::Claims<X>,
    payload: Option<&serde_json::Value>,
) -> Option<String> {
    preset.client_claims().iter().find_map(|name| match *name {
        "client_id" => claims.client_id.clone(),
        "azp" => claims.azp.clone(),
        other => payload?.get(other)?.as_str().map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Preset::ALL {
            assert_eq!(p.name().parse::<Preset>(), Ok(p));
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{}\"", p.name()));
            assert_eq!(serde_json::from_str::<Preset>(&json).unwrap(), p);
        }
        let e = "okta2".parse::<Preset>().unwrap_err();
        assert!(e.to_string().contains("\"okta2\""));
    }

    fn mapped(
        json: serde_json::Value,
        source: &PermissionSource,
        auds: &[&str],
    ) -> (String, usize) {
        let mut out = ScopeSet::new();
        let skipped = source.collect_into(&json, auds.iter().copied(), &mut out);
        (out.to_string(), skipped)
    }

    #[test]
    fn mapping_paths_values_and_prefix() {
        use serde_json::json;
        let src = PermissionSource::claim;
        // array, space-delimited string, nested path
        assert_eq!(
            mapped(json!({"g": ["a", "b"]}), &src("g"), &[]),
            ("a b".into(), 0)
        );
        assert_eq!(
            mapped(json!({"g": "a b"}), &src("g"), &[]),
            ("a b".into(), 0)
        );
        assert_eq!(
            mapped(json!({"x": {"y": {"z": ["r"]}}}), &src("x.y.z"), &[]),
            ("r".into(), 0)
        );
        // prefix
        assert_eq!(
            mapped(
                json!({"groups": ["admins"]}),
                &src("groups").prefix("group:"),
                &[]
            ),
            ("group:admins".into(), 0)
        );
        // namespaced claim whose name holds dots, taken whole
        assert_eq!(
            mapped(
                json!({"https://example.com/roles": ["r1"]}),
                &src("https://example.com/roles"),
                &[]
            ),
            ("r1".into(), 0)
        );
        // invalid values skipped (space inside a role, quote, number, object), counted
        assert_eq!(
            mapped(
                json!({"g": ["Orders Admin", "ok", "q\"", 5, {}]}),
                &src("g"),
                &[]
            ),
            ("ok".into(), 4)
        );
        // a prefix that makes every value invalid
        assert_eq!(
            mapped(json!({"g": ["a"]}), &src("g").prefix("bad prefix:"), &[]),
            (String::new(), 1)
        );
        // absent, null and wrong types
        assert_eq!(mapped(json!({}), &src("g"), &[]), (String::new(), 0));
        assert_eq!(
            mapped(json!({"g": null}), &src("g"), &[]),
            (String::new(), 0)
        );
        assert_eq!(
            mapped(json!({"g": true}), &src("g"), &[]),
            (String::new(), 1)
        );
        assert_eq!(
            mapped(json!({"g": "x"}), &src("g.h"), &[]),
            (String::new(), 0)
        );
    }

    #[test]
    fn audience_placeholder_counts_configured_audiences_only() {
        use serde_json::json;
        let ra = json!({"resource_access": {
            "orders-api": {"roles": ["orders:read"]},
            "other-client": {"roles": ["orders:write"]},
            "orders.v2": {"roles": ["v2:read"]},
        }});
        let src = PermissionSource::claim("resource_access.{audience}.roles");
        assert_eq!(
            mapped(ra.clone(), &src, &["orders-api"]),
            ("orders:read".into(), 0)
        );
        // an audience with a dot is one segment
        assert_eq!(
            mapped(ra.clone(), &src, &["orders-api", "orders.v2"]),
            ("orders:read v2:read".into(), 0)
        );
        assert_eq!(mapped(ra, &src, &["nobody"]), (String::new(), 0));
    }

    #[test]
    fn unusable_sources_are_refused_at_build() {
        let build = |s: PermissionSource| {
            crate::Validation::builder()
                .issuer("i")
                .audience("a")
                .permission_source(s)
                .build()
                .map(|_| ())
        };
        assert!(build(PermissionSource::claim("groups").prefix("group:")).is_ok());
        assert!(build(PermissionSource::claim("https://example.com/roles")).is_ok());
        for bad in [
            PermissionSource::claim(""),
            PermissionSource::claim("a..b"),
            PermissionSource::claim("groups").prefix("my group:"),
        ] {
            let e = build(bad).unwrap_err();
            assert!(
                matches!(e, crate::error::BuildError::PermissionSource { .. }),
                "{e}"
            );
        }
    }

    #[test]
    fn typ_rules_per_preset() {
        use Preset as P;
        let cases: [(P, [bool; 5]); 7] = [
            // absent, JWT, jwt, at+jwt, application/at+jwt
            (P::Rfc9068, [false, false, false, true, true]),
            (P::Jwt, [true, true, true, true, true]),
            (P::Keycloak, [false, true, true, true, true]),
            (P::Entra, [false, true, true, false, false]),
            (P::Auth0, [false, true, true, true, true]),
            (P::Okta, [true, true, true, false, false]),
            (P::Cognito, [true, false, false, false, false]),
        ];
        for (p, want) in cases {
            let got = [
                None,
                Some("JWT"),
                Some("jwt"),
                Some("at+jwt"),
                Some("application/at+jwt"),
            ]
            .map(|t| p.typ_allowed(t));
            assert_eq!(got, want, "{p}");
            assert!(!p.typ_allowed(Some("dpop+jwt")), "{p}");
            assert!(!p.typ_allowed(Some("logout+jwt")), "{p}");
        }
    }

    #[test]
    fn guesses_by_claim_shape() {
        use serde_json::json;
        let g = |v| Preset::guess(&v);
        assert_eq!(g(json!({"typ": "Bearer"})), Some(Preset::Keycloak));
        assert_eq!(g(json!({"realm_access": {}})), Some(Preset::Keycloak));
        assert_eq!(g(json!({"ver": "2.0", "tid": "t"})), Some(Preset::Entra));
        assert_eq!(g(json!({"token_use": "access"})), Some(Preset::Cognito));
        assert_eq!(g(json!({"cid": "c"})), Some(Preset::Okta));
        assert_eq!(
            g(json!({"permissions": [], "azp": "a"})),
            Some(Preset::Auth0)
        );
        assert_eq!(g(json!({"scope": "a", "client_id": "c"})), None);
        assert_eq!(g(json!([1])), None);
    }
}
