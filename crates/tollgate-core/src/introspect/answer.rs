//! Reading an RFC 7662 introspection answer into [`Claims`], failing closed.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::Claims;
use crate::claims::{RegisteredDto, parse_extra};
use crate::error::{AuthError, ClaimsError};
use crate::json::{StrField, check_unique_members};
use crate::validation::{Presence, Validation};

/// `active` and the RFC 7662 members that [`RegisteredDto`] does not read.
#[derive(Deserialize)]
struct Dto7662<'a> {
    #[serde(default)]
    active: Option<serde_json::Value>,
    #[serde(borrow, default)]
    username: Option<StrField<'a>>,
    #[serde(borrow, default)]
    token_type: Option<StrField<'a>>,
}

fn string(field: Option<StrField<'_>>, name: &'static str) -> Result<Option<String>, AuthError> {
    match field {
        None => Ok(None),
        Some(StrField::Str(s)) => Ok(Some(s.into_owned())),
        Some(StrField::Invalid) => Err(ClaimsError::InvalidType(name).into()),
    }
}

/// Why an answer was read as "not active" (for logs only).
fn inactive(why: &'static str) -> AuthError {
    tracing::debug!(target: "tollgate::introspect", why, "token not active");
    AuthError::Inactive
}

/// Reads the body of a 200 answer as of `now`.
///
/// - `active` must be the JSON boolean `true`: `false`, a string, a number, a missing
///   member, a body that is not one JSON object (HTML, empty), or a repeated member
///   name all read as [`AuthError::Inactive`];
/// - `exp`, `nbf`, `iat`, `iss`, `aud` are checked with the JWT rules when present;
/// - `token_type`, when present, must be `Bearer` (case-insensitive) unless
///   `any_token_type`: a refresh token or a DPoP-bound token is not a bearer token.
pub(crate) fn read<X: DeserializeOwned + 'static>(
    body: &[u8],
    validation: &Validation,
    now: i64,
    any_token_type: bool,
) -> Result<Claims<X>, AuthError> {
    if check_unique_members(body).is_err() {
        return Err(inactive("not one JSON value, or a repeated member name"));
    }
    let Ok(head) = serde_json::from_slice::<Dto7662<'_>>(body) else {
        return Err(inactive("not a JSON object"));
    };
    if head.active != Some(serde_json::Value::Bool(true)) {
        return Err(inactive("active is not the JSON boolean true"));
    }
    let token_type = string(head.token_type, "token_type")?;
    if !any_token_type
        && token_type
            .as_deref()
            .is_some_and(|t| !t.eq_ignore_ascii_case("bearer"))
    {
        return Err(inactive("token_type is not Bearer"));
    }
    let username = string(head.username, "username")?;
    let dto: RegisteredDto<'_> =
        serde_json::from_slice(body).map_err(|_| crate::error::FormatError::ClaimsJson)?;
    if let Some(iss) = dto.iss.as_deref()
        && !validation.issuer_allowed(iss)
    {
        return Err(ClaimsError::IssuerNotAllowed.into());
    }
    let extra: X = parse_extra(body)?;
    let mut claims = dto.into_claims(extra, validation.preset().scope_claims())?;
    validation.check_registered(&claims, now, Presence::WhenPresent)?;
    validation.map_claims(&mut claims, body)?;
    claims.username = username;
    claims.token_type = token_type;
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::FormatError;

    const NOW: i64 = 1_800_000_000;

    fn v() -> Validation {
        Validation::builder()
            .issuer("https://as.example")
            .audience("orders")
            .build()
            .expect("valid")
    }

    fn read_(body: &str) -> Result<Claims<()>, AuthError> {
        read::<()>(body.as_bytes(), &v(), NOW, false)
    }

    #[test]
    fn presets_map_introspection_answers() {
        let kc = Validation::builder()
            .issuer("https://as.example")
            .audience("orders")
            .preset(crate::preset::Preset::Keycloak)
            .build()
            .expect("valid");
        let body = r#"{"active":true,"token_type":"Bearer","typ":"Bearer","azp":"web",
            "client_id":"web","exp":1800000060,"iss":"https://as.example","aud":["orders"],
            "scope":"email","realm_access":{"roles":["offline_access"]},
            "resource_access":{"orders":{"roles":["orders:read"]},"x":{"roles":["orders:write"]}}}"#;
        let c = read::<()>(body.as_bytes(), &kc, NOW, false).expect("active");
        assert_eq!(c.scopes.to_string(), "email offline_access orders:read");
        assert_eq!(c.client(), Some("web"));
        // the plain default: client_id, no mapping
        let c = read_(r#"{"active":true,"client_id":"web","azp":"other"}"#).expect("active");
        assert_eq!(c.client(), Some("web"));
    }

    #[test]
    fn active_true_maps_claims() {
        let c = read_(
            r#"{"active":true,"scope":"orders:read orders:write","client_id":"web",
                "sub":"alice","username":"Alice","token_type":"Bearer",
                "exp":1800000060,"iss":"https://as.example","aud":["orders","x"]}"#,
        )
        .expect("active");
        assert_eq!(c.scopes.to_string(), "orders:read orders:write");
        assert_eq!(c.client_id.as_deref(), Some("web"));
        assert_eq!(c.sub.as_deref(), Some("alice"));
        assert_eq!(c.username.as_deref(), Some("Alice"));
        assert_eq!(c.token_type.as_deref(), Some("Bearer"));
        // a bare {"active":true} is accepted: every other member is optional
        assert!(read_(r#"{"active":true}"#).is_ok());
    }

    #[test]
    fn fails_closed() {
        for body in [
            r#"{"active":false}"#,
            r#"{"active":"true"}"#,
            r#"{"active":1}"#,
            r#"{"active":null}"#,
            r#"{}"#,
            r#"{"scope":"orders:read"}"#,
            r#"[{"active":true}]"#,
            r#"true"#,
            "<html><body>Service Unavailable</body></html>",
            "",
            r#"{"active":true,"active":false}"#,
            r#"{"active":false,"active":true}"#,
            r#"{"active":true,"token_type":"refresh_token"}"#,
            r#"{"active":true,"token_type":"DPoP"}"#,
        ] {
            assert_eq!(read_(body).err(), Some(AuthError::Inactive), "{body}");
        }
    }

    #[test]
    fn jwt_rules_when_present() {
        let e = |b: &str| read_(b).err();
        assert!(matches!(
            e(r#"{"active":true,"exp":1799999900}"#),
            Some(AuthError::Claims(ClaimsError::Expired { .. }))
        ));
        // within the 30 s leeway, as for JWTs
        assert_eq!(e(r#"{"active":true,"exp":1799999980}"#), None);
        assert!(matches!(
            e(r#"{"active":true,"nbf":1800000100}"#),
            Some(AuthError::Claims(ClaimsError::NotYetValid { .. }))
        ));
        assert_eq!(
            e(r#"{"active":true,"iss":"https://evil.example"}"#),
            Some(ClaimsError::IssuerNotAllowed.into())
        );
        assert_eq!(
            e(r#"{"active":true,"aud":"inventory"}"#),
            Some(ClaimsError::AudienceMismatch.into())
        );
        assert_eq!(
            e(r#"{"active":true,"exp":"1900000000"}"#),
            Some(ClaimsError::InvalidNumericDate("exp").into())
        );
        assert_eq!(
            e(r#"{"active":true,"username":5}"#),
            Some(ClaimsError::InvalidType("username").into())
        );
        assert_eq!(
            e(r#"{"active":true,"aud":5}"#),
            Some(FormatError::ClaimsJson.into())
        );
        assert!(read::<()>(br#"{"active":true,"token_type":"DPoP"}"#, &v(), NOW, true).is_ok());
    }
}
