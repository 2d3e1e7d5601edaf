//! The validation policy and the verifier.
//!
//! A [`Validation`] is built once (secure by default) and used for every request:
//!
//! - algorithms pinned by configuration ([`AlgorithmSet`], asymmetric by default; HMAC
//!   only when listed explicitly and a secret is in the key set); `none` is refused in
//!   every casing;
//! - `iss` required and byte-for-byte equal to a configured issuer; `aud` required and
//!   naming at least one configured audience; `exp` required; `nbf`/`iat` checked when
//!   present; leeway 30 s by default; optional maximum token age;
//! - an identity-provider [preset](crate::preset): RFC 9068 (`typ` `at+jwt`, plus
//!   `sub`, `client_id`, `iat`, `jti`) by default, or the rules of generic JWTs,
//!   Keycloak, Entra ID, Auth0, Okta or Cognito access tokens (`typ`, token kind,
//!   audience rule, permissions, client); [`TokenProfile`] is the older spelling of
//!   the two generic presets;
//! - `crit` and `b64` refused (no JWS extension is understood); JWE (five segments)
//!   and nested (`cty: JWT`) tokens refused; tokens over 8 KiB refused before decoding;
//! - `jku`, `x5u`, `jwk`, `x5c` header parameters are never fetched nor used as keys:
//!   keys come only from the [`KeySet`] the caller passes;
//! - duplicate JSON member names refused in header and claims.
//!
//! Anything that weakens these defaults lives in [`crate::dangerous`].
//!
//! # Example
//!
//! ```
//! use tollgate_core::{Validation, KeySet, Key, alg::Algorithm};
//! use tollgate_core::error::{AuthError, ClaimsError};
//!
//! let validation = Validation::builder()
//!     .issuer("https://idp.example")
//!     .audience("orders")
//!     .algorithms([Algorithm::HS256])
//!     .profile(tollgate_core::TokenProfile::Permissive)
//!     .build()
//!     .unwrap();
//! let keys = KeySet::from_keys([Key::hmac(Some("k1"), &[42u8; 32]).unwrap()]);
//!
//! // A token minted by another library (jsonwebtoken here; any JWS library works).
//! let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
//! header.kid = Some("k1".into());
//! let token = jsonwebtoken::encode(
//!     &header,
//!     &serde_json::json!({"iss": "https://idp.example", "aud": "orders",
//!                         "exp": 4_102_444_800u64, "scope": "orders:read"}),
//!     &jsonwebtoken::EncodingKey::from_secret(&[42u8; 32]),
//! ).unwrap();
//! let token = token.as_str();
//! // accepted
//! let claims = validation.verify::<()>(token, &keys).unwrap();
//! assert!(claims.scopes.contains("orders:read"));
//!
//! // rejected: the same token checked after its expiry (year 2100)
//! let err = validation.verify_at::<()>(token, &keys, 4_102_444_800 + 31).unwrap_err();
//! assert!(matches!(err, AuthError::Claims(ClaimsError::Expired { .. })));
//! assert_eq!(err.wire().status, 401);
//! ```

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::actor::ActorPolicy;
use crate::alg::{Algorithm, AlgorithmSet, KeyFamily};
use crate::claims::{Claims, RegisteredDto};
use crate::error::{
    AuthError, BuildError, ClaimsError, FormatError, HeaderError, KeyError, SignatureError,
};
use crate::json::{NotUnique, StrField, check_unique_members};

use crate::keys::{Key, KeySet};
use crate::preset::Preset;

/// Default cap on the token length, in bytes.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;
/// Default clock-skew leeway.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// Which JWT profile tokens must follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TokenProfile {
    /// RFC 9068 JWT access tokens: `typ` is `at+jwt` or `application/at+jwt`
    /// (case-insensitive), and `iss`, `exp`, `aud`, `sub`, `client_id`, `iat`, `jti`
    /// are present. The default.
    #[default]
    AccessToken,
    /// For identity providers that issue plain JWTs as access tokens: `typ` absent,
    /// `JWT`, or an RFC 9068 value; no extra required claims. Other `typ` values
    /// (e.g. `dpop+jwt`, `logout+jwt`) are still refused.
    Permissive,
}

/// A validation policy: built once with [`Validation::builder`], used per request.
#[derive(Debug, Clone)]
pub struct Validation {
    issuers: Box<[Box<str>]>,
    audiences: Box<[Box<str>]>,
    algorithms: AlgorithmSet,
    leeway: i64,
    max_age: Option<i64>,
    max_token_len: usize,
    // boxed: keeps `Validation` (and the authenticator enum holding it) small
    actor: Option<Box<ActorPolicy>>,
    preset: crate::preset::Preset,
    permissions: Vec<crate::preset::PermissionSource>,
    pub(crate) skip_issuer: bool,
    pub(crate) skip_audience: bool,
    pub(crate) skip_exp: bool,
}

/// Builder for [`Validation`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ValidationBuilder {
    inner: Validation,
}

impl Default for ValidationBuilder {
    fn default() -> Self {
        ValidationBuilder {
            inner: Validation {
                issuers: Box::new([]),
                audiences: Box::new([]),
                algorithms: AlgorithmSet::default(),
                leeway: 30,
                max_age: None,
                max_token_len: DEFAULT_MAX_TOKEN_LEN,
                actor: None,
                preset: crate::preset::Preset::Rfc9068,
                permissions: Vec::new(),
                skip_issuer: false,
                skip_audience: false,
                skip_exp: false,
            },
        }
    }
}

fn push(list: &mut Box<[Box<str>]>, v: &str) {
    let mut l = std::mem::take(list).into_vec();
    if !l.iter().any(|x| &**x == v) {
        l.push(v.into());
    }
    *list = l.into_boxed_slice();
}

impl ValidationBuilder {
    /// Adds an accepted issuer (compared byte for byte with `iss`).
    pub fn issuer(mut self, iss: impl AsRef<str>) -> Self {
        push(&mut self.inner.issuers, iss.as_ref());
        self
    }

    /// Adds an accepted audience (a token is accepted when its `aud` names any of them).
    pub fn audience(mut self, aud: impl AsRef<str>) -> Self {
        push(&mut self.inner.audiences, aud.as_ref());
        self
    }

    /// Replaces the algorithm allow-list. HMAC algorithms must be listed here to be
    /// accepted (and need an HMAC key in the key set).
    pub fn algorithms(mut self, algs: impl IntoIterator<Item = Algorithm>) -> Self {
        self.inner.algorithms = algs.into_iter().collect();
        self
    }

    /// Clock-skew leeway for `exp`, `nbf` and `iat` (default 30 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.inner.leeway = i64::try_from(leeway.as_secs()).unwrap_or(i64::MAX);
        self
    }

    /// Refuse tokens whose `iat` is older than this (and tokens without `iat`).
    pub fn max_age(mut self, age: Duration) -> Self {
        self.inner.max_age = Some(i64::try_from(age.as_secs()).unwrap_or(i64::MAX));
        self
    }

    /// The token profile, the older spelling of the two generic presets:
    /// [`TokenProfile::AccessToken`] sets [`Preset::Rfc9068`](crate::preset::Preset)
    /// (the default) and [`TokenProfile::Permissive`] sets
    /// [`Preset::Jwt`](crate::preset::Preset). The preset is the one source of the
    /// `typ` rule and the required claims, so the later of `profile` and
    /// [`preset`](Self::preset) wins.
    pub fn profile(mut self, profile: TokenProfile) -> Self {
        self.inner.preset = match profile {
            TokenProfile::AccessToken => crate::preset::Preset::Rfc9068,
            TokenProfile::Permissive => crate::preset::Preset::Jwt,
        };
        self
    }

    /// Cap on the token length in bytes (default 8 KiB), checked before decoding.
    pub fn max_token_len(mut self, len: usize) -> Self {
        self.inner.max_token_len = len;
        self
    }

    /// Checks every token's delegation chain (`act`) against `policy` (see
    /// [`crate::actor`]); a token that fails is refused with
    /// [`ClaimsError::ActorNotAllowed`] (401 `invalid_token`). Default: no actor
    /// constraint.
    pub fn actor_policy(mut self, policy: ActorPolicy) -> Self {
        self.inner.actor = Some(Box::new(policy));
        self
    }

    /// The identity-provider preset (default [`Preset::Rfc9068`](crate::preset::Preset)):
    /// accepted `typ` values, token-kind check, audience rule, permission sources and
    /// client claim of that provider's access tokens (see [`crate::preset`]). It
    /// replaces any earlier [`profile`](Self::profile): `Rfc9068` is
    /// [`TokenProfile::AccessToken`], `Jwt` is [`TokenProfile::Permissive`]; the other
    /// presets bring their own `typ` rule. Signature, issuer, expiry and algorithm
    /// checks are the same under every preset.
    ///
    /// ```
    /// use tollgate_core::{Validation, preset::Preset};
    ///
    /// let v = Validation::builder()
    ///     .issuer("https://sso.example/realms/shop")
    ///     .audience("orders-api")
    ///     .preset(Preset::Keycloak)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(v.preset(), Preset::Keycloak);
    /// ```
    pub fn preset(mut self, preset: crate::preset::Preset) -> Self {
        self.inner.preset = preset;
        self
    }

    /// One more claim whose values become permissions (scopes), besides the preset's
    /// (see [`PermissionSource`](crate::preset::PermissionSource)); may be called
    /// several times. Values that are not RFC 6749 scope-tokens once prefixed are
    /// skipped (their number, never their text, is logged at debug).
    ///
    /// ```
    /// use tollgate_core::{Validation, preset::PermissionSource};
    ///
    /// let v = Validation::builder()
    ///     .issuer("https://idp.example")
    ///     .audience("api")
    ///     .permission_source(PermissionSource::claim("groups").prefix("group:"))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(v.permission_sources().len(), 1);
    /// ```
    pub fn permission_source(mut self, source: crate::preset::PermissionSource) -> Self {
        self.inner.permissions.push(source);
        self
    }

    pub(crate) fn inner_mut(&mut self) -> &mut Validation {
        &mut self.inner
    }

    /// Checks the configuration.
    pub fn build(self) -> Result<Validation, BuildError> {
        let v = self.inner;
        if v.issuers.is_empty() && !v.skip_issuer {
            return Err(BuildError::NoIssuer);
        }
        if v.audiences.is_empty() && !v.skip_audience {
            return Err(BuildError::NoAudience);
        }
        if v.algorithms.is_empty() {
            return Err(BuildError::NoAlgorithms);
        }
        if v.issuers
            .iter()
            .chain(v.audiences.iter())
            .any(|s| s.is_empty())
        {
            return Err(BuildError::EmptyValue);
        }
        if let Some(bad) = v.permissions.iter().find(|p| !p.is_usable()) {
            return Err(BuildError::PermissionSource {
                claim: bad.claim.clone(),
            });
        }
        Ok(v)
    }
}

/// The JOSE header members the verifier reads. Deserialized in one pass that also
/// refuses a repeated member name at any depth; `null` counts as absent.
#[derive(Default)]
struct HeaderDto<'a> {
    alg: Option<StrField<'a>>,
    kid: Option<StrField<'a>>,
    typ: Option<StrField<'a>>,
    cty: Option<StrField<'a>>,
    /// `crit` present (not `null`)
    crit: bool,
    /// `b64` present (not `null`)
    b64: bool,
}

impl<'de> Deserialize<'de> for HeaderDto<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use crate::json::{Name, Seen, UniqueSkip, duplicate};
        use serde::de::MapAccess;

        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = HeaderDto<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                let mut h = HeaderDto::default();
                let mut known = 0u8;
                let mut others = Seen::new();
                while let Some(Name(k)) = a.next_key()? {
                    let bit = match &*k {
                        "alg" => 0,
                        "kid" => 1,
                        "typ" => 2,
                        "cty" => 3,
                        "crit" => 4,
                        "b64" => 5,
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
                        0 => h.alg = a.next_value()?,
                        1 => h.kid = a.next_value()?,
                        2 => h.typ = a.next_value()?,
                        3 => h.cty = a.next_value()?,
                        4 => h.crit = !a.next_value_seed(UniqueSkip)?,
                        _ => h.b64 = !a.next_value_seed(UniqueSkip)?,
                    }
                }
                Ok(h)
            }
        }
        d.deserialize_map(V)
    }
}

impl<'a> HeaderDto<'a> {
    /// One pass: [`FormatError::DuplicateMember`] or [`FormatError::HeaderJson`]
    /// exactly as a separate uniqueness check followed by the parse would answer.
    fn parse(json: &'a [u8]) -> Result<Self, FormatError> {
        let dup = || matches!(check_unique_members(json), Err(NotUnique::Duplicate));
        let mut d = serde_json::Deserializer::from_slice(json);
        match HeaderDto::deserialize(&mut d).and_then(|h| d.end().map(|()| h)) {
            // a member of the wrong type skipped its value without looking inside
            Ok(h)
                if [&h.alg, &h.kid, &h.typ, &h.cty]
                    .iter()
                    .any(|f| matches!(f, Some(StrField::Invalid)))
                    && dup() =>
            {
                Err(FormatError::DuplicateMember { in_header: true })
            }
            Ok(h) => Ok(h),
            Err(e) if crate::json::is_duplicate(&e) || dup() => {
                Err(FormatError::DuplicateMember { in_header: true })
            }
            Err(_) => Err(FormatError::HeaderJson),
        }
    }
}

/// The parts of a compact JWS after format checks.
struct Parts<'t> {
    signing_input: &'t str,
    header: &'t str,
    payload: &'t str,
    signature: &'t str,
}

fn split(token: &str) -> Result<Parts<'_>, FormatError> {
    let mut it = token.splitn(4, '.');
    let (Some(header), Some(payload), Some(signature), None) =
        (it.next(), it.next(), it.next(), it.next())
    else {
        return Err(if token.bytes().filter(|&b| b == b'.').count() == 4 {
            FormatError::Jwe
        } else {
            FormatError::Segments
        });
    };
    Ok(Parts {
        signing_input: &token[..header.len() + 1 + payload.len()],
        header,
        payload,
        signature,
    })
}

fn b64(segment: &str, index: u8) -> Result<Vec<u8>, FormatError> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| FormatError::Base64 { segment: index })
}

/// Decodes a segment into `stack` when it fits (no allocation: header, signature and
/// a typical payload), else into `heap`. Same alphabet and padding rules as [`b64`].
fn b64_into<'b>(
    segment: &str,
    index: u8,
    stack: &'b mut [u8],
    heap: &'b mut Vec<u8>,
) -> Result<&'b [u8], FormatError> {
    let err = FormatError::Base64 { segment: index };
    if base64::decoded_len_estimate(segment.len()) <= stack.len() {
        let n = URL_SAFE_NO_PAD
            .decode_slice(segment, stack)
            .map_err(|_| err)?;
        Ok(&stack[..n])
    } else {
        *heap = URL_SAFE_NO_PAD.decode(segment).map_err(|_| err)?;
        Ok(heap)
    }
}

pub(crate) fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A token's payload decoded and its registered claims parsed (not verified, not
/// trusted) before the issuer is known: the multi-issuer selection reads `iss` from
/// it, and the chosen issuer's [`Validation`] goes on from it.
pub(crate) struct Peeked<'p> {
    payload: &'p [u8],
    dto: RegisteredDto<'p>,
}

impl Peeked<'_> {
    /// The unverified `iss`.
    pub(crate) fn iss(&self) -> Option<&str> {
        self.dto.iss.as_deref()
    }
}

/// The payload segment of a compact JWS, decoded once (`None`: not two segments and
/// more, over 16 KiB of base64, or not base64url). Pair with [`peek`].
pub(crate) fn peek_payload(token: &str) -> Option<Vec<u8>> {
    let mut parts = token.splitn(3, '.');
    let (_, payload) = (parts.next()?, parts.next()?);
    if payload.len() > 16 * 1024 {
        return None;
    }
    URL_SAFE_NO_PAD.decode(payload).ok()
}

/// The registered claims of a decoded payload ([`peek_payload`]); `None` when they do
/// not parse.
pub(crate) fn peek(payload: &[u8]) -> Option<Peeked<'_>> {
    // the full one-pass parse (uniqueness included): the verification goes on from it
    let dto = RegisteredDto::parse(payload).ok()?;
    Some(Peeked { payload, dto })
}

/// What [`Validation::verify_detailed`] returns: the claims and the key that verified them.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Verified<X> {
    /// The verified claims.
    pub claims: Arc<Claims<X>>,
    /// The key that verified the signature.
    pub key: Arc<Key>,
}

/// Length cap (before any decoding) and the three-segment shape.
fn split_capped(token: &str, max: usize) -> Result<Parts<'_>, FormatError> {
    if token.len() > max {
        return Err(FormatError::TooLong {
            len: token.len(),
            max,
        });
    }
    split(token)
}

/// The strict header checks: duplicate members, `alg` (never `none`, must be allowed),
/// `crit`/`b64`, nested `cty`, `typ` per preset (skipped when `preset` is `None`), and a
/// string `kid`. Returns the algorithm and the kid.
fn parse_header(
    header_json: &[u8],
    algorithms: AlgorithmSet,
    preset: Option<Preset>,
) -> Result<(Algorithm, Option<Cow<'_, str>>), AuthError> {
    let header = HeaderDto::parse(header_json)?;
    let alg = match &header.alg {
        Some(StrField::Str(a)) if a.eq_ignore_ascii_case("none") => {
            return Err(HeaderError::AlgNone.into());
        }
        Some(StrField::Str(a)) => a
            .parse::<Algorithm>()
            .map_err(|_| HeaderError::UnsupportedAlgorithm)?,
        _ => return Err(FormatError::HeaderJson.into()),
    };
    if !algorithms.contains(alg) {
        return Err(HeaderError::AlgorithmNotAllowed(alg).into());
    }
    if header.crit || header.b64 {
        return Err(HeaderError::UnsupportedCritical.into());
    }
    match &header.cty {
        None => {}
        Some(StrField::Str(c)) if !c.eq_ignore_ascii_case("jwt") => {}
        Some(_) => return Err(FormatError::Nested.into()),
    }
    if let Some(preset) = preset {
        let typ_ok = match &header.typ {
            None => preset.typ_allowed(None),
            Some(StrField::Str(t)) => preset.typ_allowed(Some(t)),
            Some(StrField::Invalid) => false,
        };
        if !typ_ok {
            return Err(HeaderError::WrongType.into());
        }
    }
    let kid = match header.kid {
        None => None,
        Some(StrField::Str(k)) => Some(k),
        Some(StrField::Invalid) => return Err(KeyError::InvalidKid.into()),
    };
    Ok((alg, kid))
}

/// Selects the candidate keys and verifies the signature; returns the key that verified.
fn verify_signature(
    parts: &Parts<'_>,
    alg: Algorithm,
    kid: Option<&str>,
    keys: &KeySet,
) -> Result<Arc<Key>, AuthError> {
    if parts.signature.is_empty() {
        return Err(FormatError::MissingSignature.into());
    }
    // up to RSA-4096 on the stack
    let (mut stack, mut heap) = ([0u8; 516], Vec::new());
    let signature = b64_into(parts.signature, 2, &mut stack, &mut heap)?;
    if let Some(len) = alg.fixed_signature_len()
        && signature.len() != len
    {
        return Err(SignatureError::WrongLength {
            len: signature.len(),
        }
        .into());
    }
    for key in keys.candidates(kid, alg)? {
        if alg.family() == KeyFamily::Rsa && key.rsa_len() != 0 && key.rsa_len() != signature.len()
        {
            continue;
        }
        // the pre-parsed aws-lc key (HMAC: jsonwebtoken), on the bytes decoded once
        if key.verify_sig(alg, parts.signing_input.as_bytes(), signature) {
            return Ok(key.clone());
        }
    }
    Err(SignatureError::Invalid.into())
}

/// Verifies only the JWS layer (format, header rules except `typ`, key selection and
/// signature) and returns the payload bytes, which need not be a JWT claim set.
pub(crate) fn verify_jws(
    token: &str,
    keys: &KeySet,
    algorithms: AlgorithmSet,
) -> Result<Vec<u8>, AuthError> {
    let parts = split_capped(token, DEFAULT_MAX_TOKEN_LEN * 8)?;
    let header_json = b64(parts.header, 0)?;
    let (alg, kid) = parse_header(&header_json, algorithms, None)?;
    let payload = b64(parts.payload, 1)?;
    verify_signature(&parts, alg, kid.as_deref(), keys)?;
    Ok(payload)
}

impl Validation {
    /// Starts a builder with the secure defaults.
    pub fn builder() -> ValidationBuilder {
        ValidationBuilder::default()
    }

    /// The configured issuers.
    pub fn issuers(&self) -> impl Iterator<Item = &str> {
        self.issuers.iter().map(|s| &**s)
    }

    /// The identity-provider preset.
    #[must_use]
    pub fn preset(&self) -> crate::preset::Preset {
        self.preset
    }

    /// The extra permission sources.
    #[must_use]
    pub fn permission_sources(&self) -> &[crate::preset::PermissionSource] {
        &self.permissions
    }

    /// The configured audiences.
    pub fn audiences(&self) -> impl Iterator<Item = &str> {
        self.audiences.iter().map(|s| &**s)
    }

    /// The algorithm allow-list.
    #[must_use]
    pub fn algorithms(&self) -> AlgorithmSet {
        self.algorithms
    }

    /// The token length cap.
    #[must_use]
    pub fn max_token_len(&self) -> usize {
        self.max_token_len
    }

    /// The actor policy, when one is set.
    #[must_use]
    pub fn actor_policy(&self) -> Option<&ActorPolicy> {
        self.actor.as_deref()
    }

    /// Verifies `token` against `keys` at the current time.
    pub fn verify<X: DeserializeOwned + 'static>(
        &self,
        token: &str,
        keys: &KeySet,
    ) -> Result<Arc<Claims<X>>, AuthError> {
        self.verify_at(token, keys, now_secs())
    }

    /// Verifies `token` against `keys` as of `now` (seconds since the epoch).
    pub fn verify_at<X: DeserializeOwned + 'static>(
        &self,
        token: &str,
        keys: &KeySet,
        now: i64,
    ) -> Result<Arc<Claims<X>>, AuthError> {
        self.verify_detailed(token, now, |_| Some(keys))
            .map(|v| v.claims)
    }

    /// The full verification, choosing the key set from the (not yet verified) `iss`
    /// after the issuer check: `keys_for(iss)` returns `None` when that issuer has no
    /// key set (answered as an unknown key).
    pub fn verify_detailed<'k, X: DeserializeOwned + 'static>(
        &self,
        token: &str,
        now: i64,
        keys_for: impl FnOnce(Option<&str>) -> Option<&'k KeySet>,
    ) -> Result<Verified<X>, AuthError> {
        self.verify_detailed_pre(token, now, keys_for, None)
    }

    /// As [`Self::verify_detailed`], with the payload already decoded and its
    /// registered claims already parsed by [`peek_payload`] (the multi-issuer
    /// selection read `iss` from them): no second decode or parse.
    pub(crate) fn verify_detailed_pre<'k, X: DeserializeOwned + 'static>(
        &self,
        token: &str,
        now: i64,
        keys_for: impl FnOnce(Option<&str>) -> Option<&'k KeySet>,
        pre: Option<Peeked<'_>>,
    ) -> Result<Verified<X>, AuthError> {
        let r = self.verify_inner(token, now, keys_for, pre);
        if let Err(e) = &r
            && matches!(
                e,
                AuthError::Header(HeaderError::WrongType) | AuthError::Claims(_)
            )
            && tracing::enabled!(target: "tollgate::preset", tracing::Level::DEBUG)
        {
            self.log_refusal(token, e);
        }
        r
    }

    /// The debug line of a refusal that a preset decides (header `typ`, claims): the
    /// preset, the failed check, and a hint when the (unverified) claim names look
    /// like another preset's tokens. Only claim names and fixed words are logged.
    #[cold]
    fn log_refusal(&self, token: &str, e: &AuthError) {
        let mut it = token.splitn(3, '.');
        let header = it.next().and_then(|h| URL_SAFE_NO_PAD.decode(h).ok());
        let payload = it.next().and_then(|p| URL_SAFE_NO_PAD.decode(p).ok());
        let typ = header
            .and_then(|h| serde_json::from_slice::<serde_json::Value>(&h).ok())
            .map(|h| match h.get("typ") {
                None => "absent",
                Some(serde_json::Value::String(t)) if t.eq_ignore_ascii_case("jwt") => "JWT",
                Some(serde_json::Value::String(t)) if t.eq_ignore_ascii_case("at+jwt") => "at+jwt",
                Some(_) => "another value",
            });
        let looks_like = payload
            .and_then(|p| serde_json::from_slice::<serde_json::Value>(&p).ok())
            .and_then(|p| Preset::guess(&p))
            .filter(|p| *p != self.preset);
        let hint = looks_like.map(|p| {
            let what = match e {
                AuthError::Header(_) => {
                    format!(
                        "typ {} refused by preset {}",
                        typ.unwrap_or("absent"),
                        self.preset
                    )
                }
                _ => format!("{e} (preset {})", self.preset),
            };
            format!("{what}; tokens from {} need preset {p}", p.provider())
        });
        tracing::debug!(
            target: "tollgate::preset",
            preset = %self.preset,
            check = %e,
            typ = typ.unwrap_or("unreadable"),
            hint = hint.as_deref(),
            "token refused by the preset's rules"
        );
    }

    fn verify_inner<'k, X: DeserializeOwned + 'static>(
        &self,
        token: &str,
        now: i64,
        keys_for: impl FnOnce(Option<&str>) -> Option<&'k KeySet>,
        pre: Option<Peeked<'_>>,
    ) -> Result<Verified<X>, AuthError> {
        let parts = split_capped(token, self.max_token_len)?;
        let (mut header_stack, mut header_heap) = ([0u8; 256], Vec::new());
        let header_json = b64_into(parts.header, 0, &mut header_stack, &mut header_heap)?;
        let (alg, kid) = parse_header(header_json, self.algorithms, Some(self.preset))?;

        // claims: parsed (not trusted) to read iss before any key work; decoded and
        // parsed once (by the multi-issuer selection when it peeked)
        // (the peeked claims were parsed with the same one-pass uniqueness check)
        let (mut payload_stack, mut payload_heap) = ([0u8; 1024], Vec::new());
        let (payload, dto): (&[u8], RegisteredDto<'_>) = match pre {
            Some(Peeked { payload, dto }) => (payload, dto),
            None => {
                let decoded = b64_into(parts.payload, 1, &mut payload_stack, &mut payload_heap)?;
                (decoded, RegisteredDto::parse(decoded)?)
            }
        };
        let iss = dto.iss.as_deref();
        match iss {
            Some(i) if self.issuers.iter().any(|c| **c == *i) => {}
            Some(_) if self.skip_issuer => {}
            None if self.skip_issuer => {}
            Some(_) => return Err(ClaimsError::IssuerNotAllowed.into()),
            None => return Err(ClaimsError::Missing("iss").into()),
        }

        let keys = keys_for(iss).ok_or(KeyError::UnknownKid)?;
        let key = verify_signature(&parts, alg, kid.as_deref(), keys)?;

        let claims = self.check_claims::<X>(dto, payload, now)?;
        Ok(Verified {
            claims: Arc::new(claims),
            key,
        })
    }

    fn check_claims<X: DeserializeOwned + 'static>(
        &self,
        dto: RegisteredDto<'_>,
        payload: &[u8],
        now: i64,
    ) -> Result<Claims<X>, AuthError> {
        let extra: X = crate::claims::parse_extra(payload)?;
        let mut claims = dto.into_claims(extra, self.preset.scope_claims())?;
        if self.preset.needs_json() || !self.permissions.is_empty() {
            let json: serde_json::Value =
                serde_json::from_slice(payload).map_err(|_| FormatError::ClaimsJson)?;
            self.check_kind(&json)?;
            self.check_registered(&claims, now, Presence::Jwt)?;
            self.map_json(&mut claims, &json);
        } else {
            self.check_registered(&claims, now, Presence::Jwt)?;
            claims.client = crate::preset::client_of(self.preset, &claims, None);
        }
        Ok(claims)
    }

    /// The preset's token-kind check (Keycloak `typ`, Entra `ver`, Cognito `token_use`).
    fn check_kind(&self, json: &serde_json::Value) -> Result<(), ClaimsError> {
        match self.preset.kind_claim() {
            Some((claim, want)) if json.get(claim).and_then(|v| v.as_str()) != Some(want) => {
                Err(ClaimsError::NotAnAccessToken {
                    preset: self.preset,
                    claim,
                })
            }
            _ => Ok(()),
        }
    }

    /// Permissions from the preset's and the configured sources, and the client.
    fn map_json<X>(&self, claims: &mut Claims<X>, json: &serde_json::Value) {
        let mut skipped = 0;
        for path in self.preset.sources() {
            skipped +=
                crate::preset::collect_path(json, path, None, self.audiences(), &mut claims.scopes);
        }
        for source in &self.permissions {
            skipped += source.collect_into(json, self.audiences(), &mut claims.scopes);
        }
        if skipped > 0 {
            tracing::debug!(
                target: "tollgate::preset",
                preset = %self.preset,
                skipped,
                "permission values that are not RFC 6749 scope-tokens were skipped"
            );
        }
        claims.client = crate::preset::client_of(self.preset, claims, Some(json));
    }

    /// Permission mapping and client identity for claims read from an RFC 7662
    /// introspection answer (the token-kind checks do not apply: those answers have
    /// their own `token_type` check).
    #[cfg_attr(not(feature = "remote"), allow(dead_code))]
    pub(crate) fn map_claims<X>(
        &self,
        claims: &mut Claims<X>,
        body: &[u8],
    ) -> Result<(), AuthError> {
        if self.preset.needs_json() || !self.permissions.is_empty() {
            let json: serde_json::Value =
                serde_json::from_slice(body).map_err(|_| FormatError::ClaimsJson)?;
            self.map_json(claims, &json);
        } else {
            claims.client = crate::preset::client_of(self.preset, claims, None);
        }
        Ok(())
    }

    /// True when `iss` is one of the configured issuers (or issuer checks are off).
    #[cfg_attr(not(feature = "remote"), allow(dead_code))]
    pub(crate) fn issuer_allowed(&self, iss: &str) -> bool {
        self.skip_issuer || self.issuers.iter().any(|c| **c == *iss)
    }

    /// The time, audience and profile rules shared by JWTs and introspection answers.
    /// With [`Presence::Jwt`] `exp` and `aud` are required (unless opted out with
    /// `dangerous`) and the token profile's required claims apply; with
    /// [`Presence::WhenPresent`] each of `exp`, `nbf`, `iat`, `aud` is checked only when
    /// the answer carries it, and the profile does not apply (RFC 7662 answers are not
    /// JWTs). `iss` is checked by the callers (before key selection for JWTs).
    pub(crate) fn check_registered<X>(
        &self,
        claims: &Claims<X>,
        now: i64,
        presence: Presence,
    ) -> Result<(), AuthError> {
        let jwt = presence == Presence::Jwt;
        let leeway = self.leeway;
        match claims.exp {
            // RFC 7519 §4.1.4: valid only while now is BEFORE exp (plus leeway)
            Some(exp) if now >= exp.as_secs().saturating_add(leeway) => {
                return Err(ClaimsError::Expired {
                    exp: exp.as_secs(),
                    now,
                }
                .into());
            }
            Some(_) => {}
            None if self.skip_exp || !jwt => {}
            None => return Err(ClaimsError::Missing("exp").into()),
        }
        if let Some(nbf) = claims.nbf
            && nbf.as_secs() > now.saturating_add(leeway)
        {
            return Err(ClaimsError::NotYetValid {
                nbf: nbf.as_secs(),
                now,
            }
            .into());
        }
        if let Some(iat) = claims.iat
            && iat.as_secs() > now.saturating_add(leeway)
        {
            return Err(ClaimsError::IssuedInFuture {
                iat: iat.as_secs(),
                now,
            }
            .into());
        }
        if let Some(max_age) = self.max_age {
            let iat = claims.iat.ok_or(ClaimsError::Missing("iat"))?;
            let age = now.saturating_sub(iat.as_secs());
            if age > max_age.saturating_add(leeway) {
                return Err(ClaimsError::TooOld { age }.into());
            }
        }
        if self.preset == Preset::Cognito {
            // Cognito access tokens carry no `aud`; the app client is the audience.
            // A token WITH `aud` is refused: only Cognito ID tokens carry one.
            if !self.skip_audience {
                if !claims.aud.is_empty() {
                    return Err(ClaimsError::UnexpectedAudience {
                        preset: self.preset,
                    }
                    .into());
                }
                match claims.client_id.as_deref() {
                    Some(c) if self.audiences.iter().any(|a| **a == *c) => {}
                    Some(_) => return Err(ClaimsError::ClientNotAllowed.into()),
                    None if jwt => return Err(ClaimsError::Missing("client_id").into()),
                    None => {}
                }
            }
        } else if !self.skip_audience {
            if claims.aud.is_empty() {
                if jwt {
                    return Err(ClaimsError::Missing("aud").into());
                }
            } else if !self.audiences.iter().any(|a| claims.aud.contains(a)) {
                return Err(ClaimsError::AudienceMismatch.into());
            }
        }
        if jwt && self.preset == Preset::Rfc9068 {
            if claims.sub.is_none() {
                return Err(ClaimsError::Missing("sub").into());
            }
            if claims.client_id.is_none() {
                return Err(ClaimsError::Missing("client_id").into());
            }
            if claims.iat.is_none() {
                return Err(ClaimsError::Missing("iat").into());
            }
            if claims.jti.is_none() {
                return Err(ClaimsError::Missing("jti").into());
            }
        }
        if let Some(policy) = &self.actor {
            policy.check(claims)?;
        }
        Ok(())
    }
}

/// Which claims [`Validation::check_registered`] requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Presence {
    /// The JWT rules: `exp` and `aud` required, the token profile applies.
    Jwt,
    /// RFC 7662 answers: each claim checked with the JWT rules when present.
    #[cfg_attr(not(feature = "remote"), allow(dead_code))]
    WhenPresent,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_counts_segments() {
        assert!(split("a.b.c").is_ok());
        assert_eq!(split("a.b.c.d.e").err(), Some(FormatError::Jwe));
        assert_eq!(split("a.b").err(), Some(FormatError::Segments));
        assert_eq!(split("a.b.c.d").err(), Some(FormatError::Segments));
        assert_eq!(split("{\"payload\":1}").err(), Some(FormatError::Segments));
    }

    #[test]
    fn header_one_pass_parse() {
        let dup = FormatError::DuplicateMember { in_header: true };
        for (json, want) in [
            (r#"{"alg":"RS256","alg":"RS256"}"#, Err(dup)),
            (r#"{"alg":"RS256","x":{"a":1,"a":2}}"#, Err(dup)),
            (r#"{"alg":"RS256","crit":[{"a":1,"a":2}]}"#, Err(dup)),
            (r#"{"alg":5,"x":1,"x":1}"#, Err(dup)),
            (r#"{"kid":{"a":1,"a":2}}"#, Err(dup)),
            (r#"{"alg":"RS256"} 1"#, Err(FormatError::HeaderJson)),
            (r#"["RS256"]"#, Err(FormatError::HeaderJson)),
        ] {
            assert_eq!(
                HeaderDto::parse(json.as_bytes()).map(|_| ()),
                want,
                "{json}"
            );
        }
        let h = HeaderDto::parse(br#"{"alg":"RS256","crit":null,"b64":false,"x5t":"a"}"#).unwrap();
        assert!(!h.crit && h.b64);
        assert!(matches!(h.alg, Some(StrField::Str(Cow::Borrowed("RS256")))));
    }

    #[test]
    fn segments_decode_on_the_stack_or_the_heap_alike() {
        let (mut stack, mut heap) = ([0u8; 4], Vec::new());
        assert_eq!(b64_into("YWJj", 1, &mut stack, &mut heap), Ok(&b"abc"[..]));
        let (mut stack, mut heap) = ([0u8; 4], Vec::new());
        assert_eq!(
            b64_into("YWJjZGVm", 1, &mut stack, &mut heap),
            Ok(&b"abcdef"[..])
        );
        for bad in ["YWJj=", "YW+j", "Y"] {
            let (mut stack, mut heap) = ([0u8; 64], Vec::new());
            assert_eq!(
                b64_into(bad, 2, &mut stack, &mut heap),
                Err(FormatError::Base64 { segment: 2 }),
                "{bad}"
            );
            assert_eq!(
                b64(bad, 2),
                Err(FormatError::Base64 { segment: 2 }),
                "{bad}"
            );
        }
    }

    #[test]
    fn profile_and_preset_one_rule_last_wins() {
        use tollgate_testkit::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, TestKey};
        let key = TestKey::p256("k1");
        let keys = KeySet::from_jwks(&serde_json::to_vec(&TestKey::jwks([&key])).unwrap()).unwrap();
        let b = || {
            Validation::builder()
                .issuer(DEFAULT_ISSUER)
                .audience(DEFAULT_AUDIENCE)
        };
        let jwt = key
            .token()
            .header("typ", "JWT")
            .without("client_id")
            .claim("azp", "spa")
            .sign();
        let strict = key.token().sign();

        // the default (rfc9068): client_id is the client; typ JWT refused
        let v = b().build().unwrap();
        assert_eq!(v.preset(), Preset::Rfc9068);
        let c = v.verify::<()>(&strict, &keys).unwrap();
        assert_eq!(c.client(), Some("test-client"));
        assert_eq!(
            v.verify::<()>(&jwt, &keys).unwrap_err(),
            AuthError::Header(HeaderError::WrongType)
        );
        // Permissive = preset jwt: client_id, else azp
        let v = b().profile(TokenProfile::Permissive).build().unwrap();
        assert_eq!(v.preset(), Preset::Jwt);
        assert_eq!(v.verify::<()>(&jwt, &keys).unwrap().client(), Some("spa"));
        // the later call wins
        let v = b()
            .preset(Preset::Keycloak)
            .profile(TokenProfile::AccessToken)
            .build()
            .unwrap();
        assert_eq!(v.preset(), Preset::Rfc9068);
        let v = b()
            .profile(TokenProfile::Permissive)
            .preset(Preset::Okta)
            .build()
            .unwrap();
        assert_eq!(v.preset(), Preset::Okta);
    }

    #[test]
    fn builder_refuses_open_configs() {
        assert_eq!(
            Validation::builder().build().err(),
            Some(BuildError::NoIssuer)
        );
        assert_eq!(
            Validation::builder().issuer("i").build().err(),
            Some(BuildError::NoAudience)
        );
        assert_eq!(
            Validation::builder()
                .issuer("i")
                .audience("a")
                .algorithms([])
                .build()
                .err(),
            Some(BuildError::NoAlgorithms)
        );
        assert_eq!(
            Validation::builder().issuer("").audience("a").build().err(),
            Some(BuildError::EmptyValue)
        );
    }
}
