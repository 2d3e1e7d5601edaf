//! Verified token claims: the registered claims plus the application's own.
//!
//! [`Claims<X>`] holds the RFC 7519 / RFC 9068 / RFC 8693 registered claims and the
//! application's own claims `X` (any `serde::Deserialize` type; `()` ignores them).
//! Handlers receive it as `Arc<Claims<X>>` after the token was verified.
//!
//! # Example
//!
//! ```
//! use serde::Deserialize;
//! use tollgate_core::claims::{Claims, NumericDate};
//!
//! #[derive(Debug, Deserialize)]
//! struct Tenant {
//!     tenant: String,
//! }
//!
//! let json = br#"{"iss":"https://idp.example","aud":["api","other"],"exp":1900000000,
//!                 "scope":"orders:read","tenant":"acme"}"#;
//! // accepted: registered and custom claims both parse
//! let c = Claims::<Tenant>::from_json(json).unwrap();
//! assert_eq!(c.extra.tenant, "acme");
//! assert!(c.aud.contains("api"));
//! assert!(c.scopes.contains("orders:read"));
//! assert_eq!(c.exp, Some(NumericDate::from_secs(1_900_000_000).unwrap()));
//! // rejected: a NumericDate given as a string
//! assert!(Claims::<()>::from_json(br#"{"exp":"1900000000"}"#).is_err());
//! ```

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::ClaimsError;
use crate::json::StrField;
use crate::scope::ScopeSet;

/// Largest accepted NumericDate: 9999-12-31T23:59:59Z.
pub const MAX_NUMERIC_DATE: i64 = 253_402_300_799;

/// Seconds since the Unix epoch, within `0..=MAX_NUMERIC_DATE`.
///
/// Deserializes from a JSON number only: strings, negatives, non-finite values and
/// values past year 9999 are refused rather than wrapped. Fractions are truncated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct NumericDate(i64);

impl NumericDate {
    /// A date from whole seconds; `None` when out of range.
    #[must_use]
    pub const fn from_secs(secs: i64) -> Option<Self> {
        if secs >= 0 && secs <= MAX_NUMERIC_DATE {
            Some(NumericDate(secs))
        } else {
            None
        }
    }

    /// A date from a JSON float; `None` for NaN, infinities, negatives or out of range.
    #[must_use]
    pub fn from_f64(v: f64) -> Option<Self> {
        if v.is_finite() && v >= 0.0 && v <= MAX_NUMERIC_DATE as f64 {
            // in range, so the cast cannot saturate
            #[allow(clippy::cast_possible_truncation)]
            Self::from_secs(v.trunc() as i64)
        } else {
            None
        }
    }

    /// Seconds since the epoch.
    #[must_use]
    pub const fn as_secs(self) -> i64 {
        self.0
    }
}

/// Deserialization outcome of a NumericDate member; lets the caller name the claim.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DateField {
    Ok(NumericDate),
    Invalid,
}

impl<'de> Deserialize<'de> for DateField {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = DateField;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a NumericDate")
            }
            fn visit_u64<E>(self, v: u64) -> Result<DateField, E> {
                Ok(i64::try_from(v)
                    .ok()
                    .and_then(NumericDate::from_secs)
                    .map_or(DateField::Invalid, DateField::Ok))
            }
            fn visit_i64<E>(self, v: i64) -> Result<DateField, E> {
                Ok(NumericDate::from_secs(v).map_or(DateField::Invalid, DateField::Ok))
            }
            fn visit_f64<E>(self, v: f64) -> Result<DateField, E> {
                Ok(NumericDate::from_f64(v).map_or(DateField::Invalid, DateField::Ok))
            }
            fn visit_str<E>(self, _: &str) -> Result<DateField, E> {
                Ok(DateField::Invalid)
            }
            fn visit_bool<E>(self, _: bool) -> Result<DateField, E> {
                Ok(DateField::Invalid)
            }
            fn visit_unit<E>(self) -> Result<DateField, E> {
                Ok(DateField::Invalid)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<DateField, A::Error> {
                while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(DateField::Invalid)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<DateField, A::Error> {
                while a
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(DateField::Invalid)
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for NumericDate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match DateField::deserialize(d)? {
            DateField::Ok(n) => Ok(n),
            DateField::Invalid => Err(serde::de::Error::custom(
                "NumericDate must be a non-negative number no later than year 9999",
            )),
        }
    }
}

/// The `aud` claim: one string or an array of strings (empty when absent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Audience(Vec<String>);

impl Audience {
    /// The audience values.
    #[must_use]
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// True when `aud` names `value` exactly.
    #[must_use]
    pub fn contains(&self, value: &str) -> bool {
        self.0.iter().any(|a| a == value)
    }

    /// True when there is no audience.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<String>> for Audience {
    fn from(v: Vec<String>) -> Self {
        Audience(v)
    }
}

impl Serialize for Audience {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => s.serialize_str(one),
            many => many.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Audience {
    /// One string or an array of strings (no buffering: serde's untagged enums copy
    /// the value first).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Audience;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E>(self, v: &str) -> Result<Audience, E> {
                Ok(Audience(vec![v.to_owned()]))
            }
            fn visit_string<E>(self, v: String) -> Result<Audience, E> {
                Ok(Audience(vec![v]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Audience, A::Error> {
                let mut v = Vec::with_capacity(a.size_hint().unwrap_or(0).min(16));
                while let Some(s) = a.next_element::<String>()? {
                    v.push(s);
                }
                Ok(Audience(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// Verified claims of an access token.
///
/// Registered claims are typed fields; the application's own claims are in `extra`.
/// `scope` (space-delimited) and `scp` (array) are merged into [`Claims::scopes`].
#[derive(Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Claims<X = ()> {
    /// `iss`: the issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// `sub`: the subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// `aud`: audiences.
    #[serde(skip_serializing_if = "Audience::is_empty")]
    pub aud: Audience,
    /// `exp`: expiry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<NumericDate>,
    /// `nbf`: not before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<NumericDate>,
    /// `iat`: issued at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<NumericDate>,
    /// `jti`: token identifier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// `client_id` (RFC 9068 / RFC 8693).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// `azp`: authorized party.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azp: Option<String>,
    /// Granted scopes, from `scope` and/or `scp`.
    #[serde(rename = "scope", skip_serializing_if = "ScopeSet::is_empty")]
    pub scopes: ScopeSet,
    /// `cnf`: confirmation (RFC 7800), kept as JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cnf: Option<serde_json::Value>,
    /// `auth_time`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<NumericDate>,
    /// `acr`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// `amr`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    /// `act`: the current actor of a delegated token (RFC 8693 §4.1), kept as JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub act: Option<serde_json::Value>,
    /// `may_act` (RFC 8693 §4.4), kept as JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub may_act: Option<serde_json::Value>,
    /// `username` of an RFC 7662 introspection answer (never read from a JWT).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `token_type` of an RFC 7662 introspection answer, e.g. `Bearer` (never read
    /// from a JWT).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// The calling client, normalised per preset (see [`Claims::client`]).
    #[serde(skip)]
    pub(crate) client: Option<String>,
    /// The application's own claims.
    #[serde(flatten)]
    pub extra: X,
}

/// Hand-written so that claim values never reach logs by accident: only names of the
/// identity (iss, sub, client_id) and the scopes are shown.
impl<X> fmt::Debug for Claims<X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claims")
            .field("iss", &self.iss)
            .field("sub", &self.sub)
            .field("client_id", &self.client_id)
            .field("client", &self.client)
            .field("scopes", &self.scopes)
            .field("exp", &self.exp)
            .finish_non_exhaustive()
    }
}

/// The registered claims, borrowed from the payload where possible.
///
/// Deserialized in one pass that also refuses a repeated member name at any depth (the
/// error [`crate::json::is_duplicate`] recognises): no separate uniqueness pass. Only a
/// JSON object is a claim set; `null` counts as absent for every member.
#[derive(Default)]
pub(crate) struct RegisteredDto<'a> {
    pub(crate) iss: Option<Cow<'a, str>>,
    pub(crate) sub: Option<Cow<'a, str>>,
    pub(crate) aud: Option<Audience>,
    pub(crate) exp: Option<DateField>,
    pub(crate) nbf: Option<DateField>,
    pub(crate) iat: Option<DateField>,
    pub(crate) jti: Option<String>,
    pub(crate) client_id: Option<String>,
    pub(crate) azp: Option<String>,
    pub(crate) scope: Option<StrField<'a>>,
    pub(crate) scp: Option<serde_json::Value>,
    pub(crate) cnf: Option<serde_json::Value>,
    pub(crate) auth_time: Option<DateField>,
    pub(crate) acr: Option<String>,
    pub(crate) amr: Option<Vec<String>>,
    pub(crate) act: Option<serde_json::Value>,
    pub(crate) may_act: Option<serde_json::Value>,
}

impl<'de> Deserialize<'de> for RegisteredDto<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use crate::json::{BorrowedStr, Name, Seen, UniqueSkip, UniqueValue, duplicate};
        use serde::de::MapAccess;

        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RegisteredDto<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                fn value<'de, A: MapAccess<'de>>(
                    a: &mut A,
                ) -> Result<Option<serde_json::Value>, A::Error> {
                    Ok(Some(a.next_value_seed(UniqueValue)?).filter(|v| !v.is_null()))
                }
                let mut dto = RegisteredDto::default();
                // one bit per registered claim seen; other names in `others`
                let mut known = 0u32;
                let mut others = Seen::new();
                while let Some(Name(k)) = a.next_key()? {
                    let bit = match &*k {
                        "iss" => 0,
                        "sub" => 1,
                        "aud" => 2,
                        "exp" => 3,
                        "nbf" => 4,
                        "iat" => 5,
                        "jti" => 6,
                        "client_id" => 7,
                        "azp" => 8,
                        "scope" => 9,
                        "scp" => 10,
                        "cnf" => 11,
                        "auth_time" => 12,
                        "acr" => 13,
                        "amr" => 14,
                        "act" => 15,
                        "may_act" => 16,
                        _ => {
                            others.insert(k)?;
                            a.next_value_seed(UniqueSkip)?;
                            continue;
                        }
                    };
                    if known & (1 << bit) != 0 {
                        return Err(duplicate());
                    }
                    known |= 1 << bit;
                    match bit {
                        0 => dto.iss = a.next_value::<Option<BorrowedStr<'de>>>()?.map(|s| s.0),
                        1 => dto.sub = a.next_value::<Option<BorrowedStr<'de>>>()?.map(|s| s.0),
                        2 => dto.aud = a.next_value()?,
                        3 => dto.exp = a.next_value()?,
                        4 => dto.nbf = a.next_value()?,
                        5 => dto.iat = a.next_value()?,
                        6 => dto.jti = a.next_value()?,
                        7 => dto.client_id = a.next_value()?,
                        8 => dto.azp = a.next_value()?,
                        9 => dto.scope = a.next_value()?,
                        10 => dto.scp = value(&mut a)?,
                        11 => dto.cnf = value(&mut a)?,
                        12 => dto.auth_time = a.next_value()?,
                        13 => dto.acr = a.next_value()?,
                        14 => dto.amr = a.next_value()?,
                        15 => dto.act = value(&mut a)?,
                        _ => dto.may_act = value(&mut a)?,
                    }
                }
                Ok(dto)
            }
        }
        d.deserialize_map(V)
    }
}

impl<'a> RegisteredDto<'a> {
    /// Parses a claim set in one pass, refusing repeated member names at any depth:
    /// [`FormatError::DuplicateMember`](crate::error::FormatError) or
    /// [`FormatError::ClaimsJson`](crate::error::FormatError) exactly as a separate
    /// uniqueness check followed by the parse would answer.
    pub(crate) fn parse(json: &'a [u8]) -> Result<Self, crate::error::FormatError> {
        use crate::error::FormatError;
        let mut d = serde_json::Deserializer::from_slice(json);
        let dup = || {
            matches!(
                crate::json::check_unique_members(json),
                Err(crate::json::NotUnique::Duplicate)
            )
        };
        match RegisteredDto::deserialize(&mut d).and_then(|dto| d.end().map(|()| dto)) {
            // a member of the wrong type read as "invalid" (scope, the dates) skipped its
            // value without looking for repeated names inside: look now, so that the
            // answer is the same as when uniqueness was checked first
            Ok(dto) if dto.has_invalid() && dup() => {
                Err(FormatError::DuplicateMember { in_header: false })
            }
            Ok(dto) => Ok(dto),
            Err(e) if crate::json::is_duplicate(&e) => {
                Err(FormatError::DuplicateMember { in_header: false })
            }
            // a type error may come before a repeated name later in the document: the
            // repeated name is the answer then, as when it was checked first
            Err(_) if dup() => Err(FormatError::DuplicateMember { in_header: false }),
            Err(_) => Err(FormatError::ClaimsJson),
        }
    }

    fn has_invalid(&self) -> bool {
        matches!(self.scope, Some(StrField::Invalid))
            || [self.exp, self.nbf, self.iat, self.auth_time]
                .iter()
                .any(|d| matches!(d, Some(DateField::Invalid)))
    }
}

fn date(field: Option<DateField>, name: &'static str) -> Result<Option<NumericDate>, ClaimsError> {
    match field {
        None => Ok(None),
        Some(DateField::Ok(d)) => Ok(Some(d)),
        Some(DateField::Invalid) => Err(ClaimsError::InvalidNumericDate(name)),
    }
}

impl RegisteredDto<'_> {
    /// Parses and type-checks the registered claims into their final form; `scope`
    /// and `scp` count (and are type-checked) only when `use_scope` / `use_scp`. The
    /// client is left unset: the callers set it per preset.
    pub(crate) fn into_claims<X>(
        self,
        extra: X,
        (use_scope, use_scp): (bool, bool),
    ) -> Result<Claims<X>, ClaimsError> {
        let mut scopes = ScopeSet::new();
        match self.scope.filter(|_| use_scope) {
            None => {}
            Some(StrField::Str(s)) => scopes
                .extend_delimited(&s)
                .map_err(|_| ClaimsError::InvalidScope)?,
            Some(StrField::Invalid) => return Err(ClaimsError::InvalidType("scope")),
        }
        if let Some(scp) = self.scp.filter(|_| use_scp) {
            let more: ScopeSet =
                serde_json::from_value(scp).map_err(|_| ClaimsError::InvalidScope)?;
            for s in more.iter() {
                scopes.insert(s.clone());
            }
        }
        Ok(Claims {
            client: None,
            iss: self.iss.map(Cow::into_owned),
            sub: self.sub.map(Cow::into_owned),
            aud: self.aud.unwrap_or_default(),
            exp: date(self.exp, "exp")?,
            nbf: date(self.nbf, "nbf")?,
            iat: date(self.iat, "iat")?,
            jti: self.jti,
            client_id: self.client_id,
            azp: self.azp,
            scopes,
            cnf: self.cnf,
            auth_time: date(self.auth_time, "auth_time")?,
            acr: self.acr,
            amr: self.amr,
            act: self.act,
            may_act: self.may_act,
            username: None,
            token_type: None,
            extra,
        })
    }
}

/// Parses the application's own claims `X` from the payload. `()` means "none" and
/// accepts any claim set (serde's `()` would only accept `null`).
pub(crate) fn parse_extra<X: serde::de::DeserializeOwned + 'static>(
    payload: &[u8],
) -> Result<X, ClaimsError> {
    let src: &[u8] = if std::any::TypeId::of::<X>() == std::any::TypeId::of::<()>() {
        b"null"
    } else {
        payload
    };
    serde_json::from_slice(src).map_err(|_| ClaimsError::Custom)
}

impl<X: serde::de::DeserializeOwned + 'static> Claims<X> {
    /// Parses a JSON claim set WITHOUT verifying anything: no signature, no time, no
    /// audience. For tests and tooling; the verifier calls this only after its checks.
    ///
    /// Duplicate member names are refused.
    pub fn from_json(json: &[u8]) -> Result<Self, crate::error::AuthError> {
        let dto = RegisteredDto::parse(json)?;
        let extra: X = parse_extra(json)?;
        let mut claims = dto.into_claims(extra, (true, true))?;
        claims.client = crate::preset::client_of(crate::preset::Preset::Jwt, &claims, None);
        Ok(claims)
    }
}

impl<X> Claims<X> {
    /// The calling client, normalised by the preset the token was verified with
    /// (see [`crate::preset`]): `client_id` (rfc9068, cognito), `client_id` else `azp`
    /// (jwt, and claims read with [`Claims::from_json`] or from introspection), `azp`
    /// else `client_id` (keycloak, auth0), `azp` else `appid` (entra), `cid` (okta).
    ///
    /// The value is set once at verification and kept with the claims, so a cached
    /// token answers without any work. `None` when the token names no client.
    #[must_use]
    pub fn client(&self) -> Option<&str> {
        self.client.as_deref()
    }

    /// The chain of actors (RFC 8693 `act`, outermost = current actor first), as their
    /// `sub` (or `client_id`) values. Empty when the token is not delegated.
    #[must_use]
    pub fn actor_chain(&self) -> Vec<&str> {
        let mut out = Vec::new();
        let mut cur = self.act.as_ref();
        // bounded: a hostile token cannot make this loop long (JSON depth is capped)
        while let Some(serde_json::Value::Object(o)) = cur {
            if let Some(id) = o
                .get("sub")
                .or_else(|| o.get("client_id"))
                .and_then(|v| v.as_str())
            {
                out.push(id);
            }
            cur = o.get("act");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_date_bounds() {
        assert!(NumericDate::from_secs(-1).is_none());
        assert!(NumericDate::from_secs(MAX_NUMERIC_DATE + 1).is_none());
        assert!(NumericDate::from_f64(f64::NAN).is_none());
        assert!(NumericDate::from_f64(f64::INFINITY).is_none());
        assert!(NumericDate::from_f64(-0.5).is_none());
        assert_eq!(
            NumericDate::from_f64(1.9).map(NumericDate::as_secs),
            Some(1)
        );
        for bad in [
            r#""1""#,
            "-1",
            "18446744073709551616",
            "18446744073709551615",
            "1e300",
            "true",
            "null",
            "[1]",
            "{}",
        ] {
            assert!(serde_json::from_str::<NumericDate>(bad).is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<NumericDate>("1e309").is_err());
        assert_eq!(
            serde_json::from_str::<NumericDate>("1700000000.5").ok(),
            NumericDate::from_secs(1_700_000_000)
        );
    }

    #[test]
    fn claim_types() {
        let c = Claims::<()>::from_json(br#"{"scope":"a b","scp":["c"],"aud":"x"}"#).unwrap();
        assert_eq!(c.scopes.to_string(), "a b c");
        assert_eq!(c.aud.as_slice(), ["x".to_owned()]);
        assert_eq!(
            Claims::<()>::from_json(br#"{"scope":["a"]}"#).err(),
            Some(ClaimsError::InvalidType("scope").into())
        );
        assert_eq!(
            Claims::<()>::from_json(br#"{"scope":"a  b"}"#).err(),
            Some(ClaimsError::InvalidScope.into())
        );
        assert_eq!(
            Claims::<()>::from_json(br#"{"nbf":-5}"#).err(),
            Some(ClaimsError::InvalidNumericDate("nbf").into())
        );
        assert_eq!(
            Claims::<()>::from_json(br#"{"aud":5}"#).err(),
            Some(crate::error::FormatError::ClaimsJson.into())
        );
        assert_eq!(
            Claims::<()>::from_json(br#"{"scope":"a","scope":"b"}"#).err(),
            Some(crate::error::FormatError::DuplicateMember { in_header: false }.into())
        );
    }

    #[test]
    fn one_pass_parse_answers_like_the_separate_uniqueness_check() {
        use crate::error::FormatError::{ClaimsJson, DuplicateMember};
        let dup = DuplicateMember { in_header: false };
        for (json, want) in [
            (r#"{"iss":"a","iss":"b"}"#, Err(dup)),
            (r#"{"x":1,"x":2}"#, Err(dup)),
            (
                r#"{"x":1,"y":2,"z":3,"a":4,"b":5,"c":6,"d":7,"e":8,"f":9,"x":0}"#,
                Err(dup),
            ),
            (r#"{"cnf":{"jkt":"a","jkt":"b"}}"#, Err(dup)),
            (
                r#"{"act":{"sub":"a","act":{"sub":"b","sub":"c"}}}"#,
                Err(dup),
            ),
            (r#"{"x":[{"y":1,"y":2}]}"#, Err(dup)),
            // a type error first, the repeated name later: the repeated name is the answer
            (r#"{"aud":5,"x":1,"x":2}"#, Err(dup)),
            // inside members whose wrong type is read as "invalid"
            (r#"{"exp":{"a":1,"a":2}}"#, Err(dup)),
            (r#"{"scope":{"a":1,"a":2}}"#, Err(dup)),
            // the same name twice, and in an escaped spelling
            (r#"{"sub":"a","sub":"b"}"#, Err(dup)),
            (r#"{"sub":"a","s\u0075b":"b"}"#, Err(dup)),
            (r#"{"x":1,"\u0078":2}"#, Err(dup)),
            (r#"{"aud":5}"#, Err(ClaimsJson)),
            (r#"{"iss":"a"} x"#, Err(ClaimsJson)),
            // a claim set is an object (serde's derive also read structs from arrays)
            (r#"["https://idp.example"]"#, Err(ClaimsJson)),
            (
                r#"{"iss":null,"sub":"u","x":{"a":1,"b":[1,{"a":2}]}}"#,
                Ok(()),
            ),
        ] {
            assert_eq!(
                RegisteredDto::parse(json.as_bytes()).map(|_| ()),
                want,
                "{json}"
            );
        }
        let dto = RegisteredDto::parse(br#"{"iss":"i","sub":"s\u0041","jti":null}"#).unwrap();
        assert!(matches!(dto.iss, Some(Cow::Borrowed("i"))));
        assert_eq!(dto.sub.as_deref(), Some("sA"));
        assert!(dto.jti.is_none());
    }

    #[test]
    fn actor_chain_nested() {
        let c = Claims::<()>::from_json(
            br#"{"sub":"u","act":{"sub":"orders","act":{"sub":"gateway"}}}"#,
        )
        .unwrap();
        assert_eq!(c.actor_chain(), ["orders", "gateway"]);
    }
}
