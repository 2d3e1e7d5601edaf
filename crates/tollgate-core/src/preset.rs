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
//! | `rfc9068` (default) | `at+jwt` | RFC 9068 claims present | `aud` | `scope`, `scp` | `client_id` |
//! | `jwt` | absent / `JWT` / RFC 9068 | — | `aud` | `scope`, `scp` | `client_id`, else `azp` |
//! | `keycloak` | `JWT` or `at+jwt` | payload `typ` = `Bearer` | `aud` | `scope`; `realm_access.roles`; `resource_access.<audience>.roles` | `azp` (`client_id`) |
//! | `entra` | `JWT` | `ver` = `2.0` | `aud` | `scp` (string), `roles` | `azp` (`appid`) |
//! | `auth0` | `JWT` or `at+jwt` | — | `aud` | `scope`, `permissions` | `azp` |
//! | `okta` | absent or `JWT` | — | `aud` | `scp`, `scope` | `cid` |
//! | `cognito` | absent | `token_use` = `access` | `client_id` = the audience | `scope`, `cognito:groups` | `client_id` |
//!
//! For other providers, [`PermissionSource`] maps any claim (dotted path; an array or
//! a space-delimited string) to permissions, optionally with a prefix.

use std::fmt;
use std::str::FromStr;

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
/// a valid RFC 6749 scope-token to count (others are skipped and logged at debug).
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
}
