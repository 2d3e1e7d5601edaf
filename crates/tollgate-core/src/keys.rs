//! Verification keys: JWK parsing, key sets, and key selection.
//!
//! A [`KeySet`] is immutable once built; rotation replaces the whole set (see the
//! `remote` key sources). Parsing a JWKS is tolerant: usable keys are kept and each
//! unusable one is skipped with a `tracing` warning naming its `kid` and the reason
//! (unknown `kty`/`crv`, private material, RSA modulus under 2048 bits, broken
//! parameters, symmetric keys); keys for encryption (`use: enc`, `key_ops` without
//! `verify`, as Keycloak's `RSA-OAEP` key) are skipped with a debug line only.
//! Keys without `alg` (Entra ID) are usable with the allowed algorithms of their
//! family; members tollgate does not use (`x5c`, `x5t`, `x5t#S256`, Entra's
//! `issuer`) are ignored, never trusted.
//!
//! # Example
//!
//! ```
//! use tollgate_core::keys::KeySet;
//!
//! let jwks = r#"{"keys":[
//!   {"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
//!   {"kty":"RSA","kid":"tiny","n":"AQAB","e":"AQAB"}
//! ]}"#;
//! let parsed = KeySet::parse_jwks(jwks.as_bytes()).unwrap();
//! // accepted: the Ed25519 key
//! assert_eq!(parsed.keys.len(), 1);
//! assert!(parsed.keys.contains_kid("k1"));
//! // rejected: the RSA key is far under 2048 bits
//! assert_eq!(parsed.skipped.len(), 1);
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P384_SHA384_FIXED, ED25519, ParsedPublicKey,
    RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_2048_8192_SHA384, RSA_PKCS1_2048_8192_SHA512,
    RSA_PSS_2048_8192_SHA256, RSA_PSS_2048_8192_SHA384, RSA_PSS_2048_8192_SHA512, RsaParameters,
    RsaPublicKeyComponents,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use serde::Deserialize;

use crate::alg::{Algorithm, KeyFamily};
use crate::error::KeyError;
use crate::json::StrField;

/// Smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits.
pub const MAX_RSA_BITS: usize = 8192;
/// Longest `kid` looked up; longer values cannot be one of ours.
pub const MAX_KID_LEN: usize = 256;
/// At most this many keys are tried for a token without `kid`.
pub const MAX_KIDLESS_CANDIDATES: usize = 4;

/// One verification key.
pub struct Key {
    kid: Option<Arc<str>>,
    alg: Option<Algorithm>,
    family: KeyFamily,
    decoding: DecodingKey,
    /// The aws-lc public key, parsed once when the key is built, per algorithm it may
    /// verify (RSA: each of RS/PS 256/384/512 unless `alg` pins one; EC and Ed25519:
    /// one). Empty for HMAC keys, which jsonwebtoken verifies.
    parsed: Box<[(Algorithm, ParsedPublicKey)]>,
    /// RSA modulus length in bytes (= signature length); 0 when unknown.
    rsa_len: usize,
    /// SHA-256 over the family and public key material: the key's identity.
    fingerprint: [u8; 32],
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("family", &self.family)
            .finish_non_exhaustive()
    }
}

/// Why a key could not be built or was skipped from a JWKS.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyRejection {
    /// `kty` (or `crv`) is not supported.
    UnsupportedType,
    /// `use` is not `sig`, or `key_ops` lacks `verify`.
    NotForSignatures,
    /// The JWK holds private key material (`d`, `p`, `q`, ...).
    PrivateMaterial,
    /// RSA modulus under [`MIN_RSA_BITS`] or over [`MAX_RSA_BITS`].
    RsaSize {
        /// Modulus bits.
        bits: usize,
    },
    /// A required member is missing or not valid base64url / not the right length.
    BrokenParameters(&'static str),
    /// The EC point is not on the curve.
    InvalidPoint,
    /// `alg` is unknown or does not fit the key type.
    AlgorithmMismatch,
    /// Symmetric (`oct`) keys are not taken from a JWKS; configure a secret instead.
    Symmetric,
    /// An HMAC secret shorter than 32 bytes.
    ShortSecret,
    /// Not a PEM public key of a supported type.
    Pem,
    /// An RSA modulus with the ROCA structure (CVE-2017-15361, Infineon RSALib): its
    /// private key can be recovered from the public key.
    RocaVulnerable,
}

impl fmt::Display for KeyRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyRejection::UnsupportedType => f.write_str("unsupported kty or crv"),
            KeyRejection::NotForSignatures => f.write_str("key is not for signature verification"),
            KeyRejection::PrivateMaterial => f.write_str("JWK contains private key material"),
            KeyRejection::RsaSize { bits } => write!(
                f,
                "RSA modulus of {bits} bits outside {MIN_RSA_BITS}..={MAX_RSA_BITS}"
            ),
            KeyRejection::BrokenParameters(m) => write!(f, "missing or invalid member {m}"),
            KeyRejection::InvalidPoint => f.write_str("EC point is not on the curve"),
            KeyRejection::AlgorithmMismatch => f.write_str("alg is unknown or does not fit kty"),
            KeyRejection::Symmetric => f.write_str("symmetric keys are not accepted from a JWKS"),
            KeyRejection::ShortSecret => f.write_str("HMAC secret shorter than 32 bytes"),
            KeyRejection::Pem => f.write_str("not a supported PEM public key"),
            KeyRejection::RocaVulnerable => {
                f.write_str("RSA modulus has the ROCA structure (CVE-2017-15361)")
            }
        }
    }
}

impl std::error::Error for KeyRejection {}

/// The JWKS document itself could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwksError {
    /// Not JSON, or no `keys` array.
    NotAJwks,
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("document is not a JWKS (a JSON object with a \"keys\" array)")
    }
}

impl std::error::Error for JwksError {}

/// A key that was left out of a parsed JWKS, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SkippedKey {
    /// Its `kid`, when it had a string one.
    pub kid: Option<String>,
    /// Why it was skipped.
    pub reason: KeyRejection,
}

/// The outcome of parsing a JWKS: the usable keys and what was skipped.
#[derive(Debug)]
#[non_exhaustive]
pub struct ParsedJwks {
    /// The usable keys.
    pub keys: KeySet,
    /// The keys left out.
    pub skipped: Vec<SkippedKey>,
}

fn b64(s: &str, member: &'static str) -> Result<Vec<u8>, KeyRejection> {
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| KeyRejection::BrokenParameters(member))
}

fn fingerprint(family: KeyFamily, parts: &[&[u8]]) -> [u8; 32] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(&[family as u8]);
    for p in parts {
        ctx.update(&(p.len() as u64).to_be_bytes());
        ctx.update(p);
    }
    let d = ctx.finish();
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

fn strip_leading_zeros(b: &[u8]) -> &[u8] {
    let i = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[i..]
}

impl Key {
    /// The key's `kid`.
    #[must_use]
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    pub(crate) fn kid_arc(&self) -> Option<Arc<str>> {
        self.kid.clone()
    }

    /// The key's `alg`, when it was pinned to one.
    #[must_use]
    pub fn alg(&self) -> Option<Algorithm> {
        self.alg
    }

    /// The key family.
    #[must_use]
    pub fn family(&self) -> KeyFamily {
        self.family
    }

    /// SHA-256 over the public key material: equal fingerprints mean the same key.
    #[must_use]
    pub fn fingerprint(&self) -> &[u8; 32] {
        &self.fingerprint
    }

    /// True when this key may verify a token with `alg`.
    #[must_use]
    pub fn is_compatible(&self, alg: Algorithm) -> bool {
        if self.family != alg.family() || self.alg.is_some_and(|a| a != alg) {
            return false;
        }
        // RFC 7518 §3.2: an HMAC key at least as long as the hash output.
        match (alg, &self.decoding.kind()) {
            (Algorithm::HS384, jsonwebtoken::DecodingKeyKind::SecretOrDer(s)) => s.len() >= 48,
            (Algorithm::HS512, jsonwebtoken::DecodingKeyKind::SecretOrDer(s)) => s.len() >= 64,
            _ => true,
        }
    }

    /// Checks `signature` (raw bytes) over `message` with this key for `alg`: the
    /// pre-parsed aws-lc key when there is one (asymmetric keys), else aws-lc's HMAC
    /// (constant-time comparison). The caller has checked [`Self::is_compatible`].
    pub(crate) fn verify_sig(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        if let Some((_, parsed)) = self.parsed.iter().find(|(a, _)| *a == alg) {
            return parsed.verify_sig(message, signature).is_ok();
        }
        let hmac = match alg {
            Algorithm::HS256 => aws_lc_rs::hmac::HMAC_SHA256,
            Algorithm::HS384 => aws_lc_rs::hmac::HMAC_SHA384,
            Algorithm::HS512 => aws_lc_rs::hmac::HMAC_SHA512,
            // an asymmetric key has its parsed forms: none for this alg
            _ => return false,
        };
        match self.decoding.kind() {
            jsonwebtoken::DecodingKeyKind::SecretOrDer(secret)
                if self.family == KeyFamily::Hmac =>
            {
                aws_lc_rs::hmac::verify(
                    &aws_lc_rs::hmac::Key::new(hmac, secret),
                    message,
                    signature,
                )
                .is_ok()
            }
            _ => false,
        }
    }

    pub(crate) fn rsa_len(&self) -> usize {
        self.rsa_len
    }

    /// An HMAC secret (at least 32 bytes), usable with HS256 (and HS384/HS512 when
    /// long enough for them).
    pub fn hmac(kid: Option<&str>, secret: &[u8]) -> Result<Self, KeyRejection> {
        if secret.len() < 32 {
            return Err(KeyRejection::ShortSecret);
        }
        Ok(Key {
            kid: kid.map(Arc::from),
            alg: None,
            family: KeyFamily::Hmac,
            decoding: DecodingKey::from_secret(secret),
            parsed: Box::new([]),
            rsa_len: 0,
            fingerprint: fingerprint(KeyFamily::Hmac, &[secret]),
        })
    }

    /// An RSA public key from its big-endian modulus and exponent.
    pub fn rsa(
        kid: Option<&str>,
        alg: Option<Algorithm>,
        n: &[u8],
        e: &[u8],
    ) -> Result<Self, KeyRejection> {
        let n = strip_leading_zeros(n);
        let e = strip_leading_zeros(e);
        let bits = n.len() * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize);
        let bits = if n.is_empty() { 0 } else { bits };
        if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
            return Err(KeyRejection::RsaSize { bits });
        }
        // e must be odd, at least 3, at most 2^33 - 1 (what aws-lc accepts)
        if e.is_empty() || e.len() > 5 || e.last().is_none_or(|b| b & 1 == 0) || e == [1] {
            return Err(KeyRejection::BrokenParameters("e"));
        }
        if n.last().is_some_and(|b| b & 1 == 0) {
            return Err(KeyRejection::BrokenParameters("n"));
        }
        if has_roca_fingerprint(n) {
            return Err(KeyRejection::RocaVulnerable);
        }
        check_alg(alg, KeyFamily::Rsa)?;
        let components = RsaPublicKeyComponents { n, e };
        let parsed = RSA_PARAMS
            .iter()
            .filter(|(a, _)| alg.is_none_or(|pinned| pinned == *a))
            .map(|(a, params)| {
                components
                    .to_parsed_public_key(params)
                    .map(|p| (*a, p))
                    .map_err(|_| KeyRejection::BrokenParameters("n"))
            })
            .collect::<Result<Box<[_]>, _>>()?;
        Ok(Key {
            kid: kid.map(Arc::from),
            alg,
            family: KeyFamily::Rsa,
            decoding: DecodingKey::from_rsa_raw_components(n, e),
            parsed,
            rsa_len: n.len(),
            fingerprint: fingerprint(KeyFamily::Rsa, &[n, e]),
        })
    }

    /// An EC public key (P-256 or P-384) from its affine coordinates.
    pub fn ec(
        kid: Option<&str>,
        alg: Option<Algorithm>,
        family: KeyFamily,
        x: &[u8],
        y: &[u8],
    ) -> Result<Self, KeyRejection> {
        let (len, verify_alg, jws_alg) = match family {
            KeyFamily::P256 => (32, &ECDSA_P256_SHA256_FIXED, Algorithm::ES256),
            KeyFamily::P384 => (48, &ECDSA_P384_SHA384_FIXED, Algorithm::ES384),
            _ => return Err(KeyRejection::UnsupportedType),
        };
        if x.len() != len {
            return Err(KeyRejection::BrokenParameters("x"));
        }
        if y.len() != len {
            return Err(KeyRejection::BrokenParameters("y"));
        }
        let mut point = Vec::with_capacity(1 + 2 * len);
        point.push(4);
        point.extend_from_slice(x);
        point.extend_from_slice(y);
        let parsed =
            ParsedPublicKey::new(verify_alg, &point).map_err(|_| KeyRejection::InvalidPoint)?;
        check_alg(alg, family)?;
        Ok(Key {
            kid: kid.map(Arc::from),
            alg,
            family,
            fingerprint: fingerprint(family, &[&point]),
            decoding: DecodingKey::from_ec_der(&point),
            parsed: Box::new([(jws_alg, parsed)]),
            rsa_len: 0,
        })
    }

    /// An Ed25519 public key from its 32 bytes.
    pub fn ed25519(
        kid: Option<&str>,
        alg: Option<Algorithm>,
        x: &[u8],
    ) -> Result<Self, KeyRejection> {
        if x.len() != 32 {
            return Err(KeyRejection::BrokenParameters("x"));
        }
        let parsed = ParsedPublicKey::new(&ED25519, x).map_err(|_| KeyRejection::InvalidPoint)?;
        check_alg(alg, KeyFamily::Ed25519)?;
        Ok(Key {
            kid: kid.map(Arc::from),
            alg,
            family: KeyFamily::Ed25519,
            decoding: DecodingKey::from_ed_der(x),
            parsed: Box::new([(Algorithm::EdDSA, parsed)]),
            rsa_len: 0,
            fingerprint: fingerprint(KeyFamily::Ed25519, &[x]),
        })
    }

    /// A public key from PEM (`PUBLIC KEY` SPKI for RSA, EC P-256/P-384 or Ed25519, or
    /// `RSA PUBLIC KEY`).
    pub fn from_pem(
        kid: Option<&str>,
        alg: Option<Algorithm>,
        pem: &[u8],
    ) -> Result<Self, KeyRejection> {
        // Try each family; jsonwebtoken checks the SPKI algorithm identifier.
        if let Ok(k) = DecodingKey::from_rsa_pem(pem)
            && let jsonwebtoken::DecodingKeyKind::SecretOrDer(der) = k.kind()
        {
            let (n, e) = rsa_components_from_pkcs1(der).ok_or(KeyRejection::Pem)?;
            return Key::rsa(kid, alg, &n, &e);
        }
        if let Ok(k) = DecodingKey::from_ec_pem(pem)
            && let jsonwebtoken::DecodingKeyKind::SecretOrDer(point) = k.kind()
        {
            let family = match point.len() {
                65 => KeyFamily::P256,
                97 => KeyFamily::P384,
                _ => return Err(KeyRejection::UnsupportedType),
            };
            let half = (point.len() - 1) / 2;
            return Key::ec(kid, alg, family, &point[1..=half], &point[1 + half..]);
        }
        if let Ok(k) = DecodingKey::from_ed_pem(pem)
            && let jsonwebtoken::DecodingKeyKind::SecretOrDer(x) = k.kind()
        {
            return Key::ed25519(kid, alg, x);
        }
        Err(KeyRejection::Pem)
    }

    /// A key from one JWK (a JSON object). Symmetric `oct` keys are refused.
    pub fn from_jwk(jwk: &serde_json::Value) -> Result<Self, KeyRejection> {
        let dto = JwkDto::deserialize(jwk).map_err(|_| KeyRejection::BrokenParameters("jwk"))?;
        dto.into_key()
    }
}

/// The ROCA fingerprint (Nemec et al., CCS 2017): RSALib moduli are `k * M + 65537^a mod
/// M` for a primorial `M`, so `n mod p` lies in the subgroup generated by 65537 for
/// every small prime `p` of `M`. A random modulus passes all 38 tests with probability
/// far below 2^-100.
fn has_roca_fingerprint(n: &[u8]) -> bool {
    const PRIMES: [u32; 38] = [
        3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89,
        97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
    ];
    PRIMES.iter().all(|&p| {
        let r = n
            .iter()
            .fold(0u32, |acc, &b| (acc * 256 + u32::from(b)) % p);
        let g = 65537 % p;
        // walk the subgroup generated by g (p < 256, so at most p - 1 steps)
        let mut x = 1u32;
        loop {
            if x == r {
                return true;
            }
            x = x * g % p;
            if x == 1 {
                return false;
            }
        }
    })
}

/// The aws-lc parameters of each RSA algorithm (the same jsonwebtoken uses: modulus of
/// 2048 to 8192 bits, PSS with the salt length of the hash).
const RSA_PARAMS: [(Algorithm, &RsaParameters); 6] = [
    (Algorithm::RS256, &RSA_PKCS1_2048_8192_SHA256),
    (Algorithm::RS384, &RSA_PKCS1_2048_8192_SHA384),
    (Algorithm::RS512, &RSA_PKCS1_2048_8192_SHA512),
    (Algorithm::PS256, &RSA_PSS_2048_8192_SHA256),
    (Algorithm::PS384, &RSA_PSS_2048_8192_SHA384),
    (Algorithm::PS512, &RSA_PSS_2048_8192_SHA512),
];

fn check_alg(alg: Option<Algorithm>, family: KeyFamily) -> Result<(), KeyRejection> {
    match alg {
        Some(a) if a.family() != family => Err(KeyRejection::AlgorithmMismatch),
        _ => Ok(()),
    }
}

/// Reads `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
fn rsa_components_from_pkcs1(der: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    fn read_tlv(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
        let (&t, rest) = input.split_first()?;
        if t != tag {
            return None;
        }
        let (&l0, rest) = rest.split_first()?;
        let (len, rest) = if l0 < 0x80 {
            (usize::from(l0), rest)
        } else {
            let n = usize::from(l0 & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |a, &b| (a << 8) | usize::from(b));
            (len, &rest[n..])
        };
        if rest.len() < len {
            return None;
        }
        Some((&rest[..len], &rest[len..]))
    }
    let (seq, _) = read_tlv(der, 0x30)?;
    let (n, rest) = read_tlv(seq, 0x02)?;
    let (e, _) = read_tlv(rest, 0x02)?;
    Some((n.to_vec(), e.to_vec()))
}

#[derive(Deserialize)]
struct JwkDto<'a> {
    #[serde(borrow, default)]
    kty: Option<StrField<'a>>,
    #[serde(borrow, default)]
    kid: Option<StrField<'a>>,
    #[serde(borrow, default)]
    alg: Option<StrField<'a>>,
    #[serde(borrow, default, rename = "use")]
    use_: Option<StrField<'a>>,
    #[serde(default)]
    key_ops: Option<serde_json::Value>,
    #[serde(borrow, default)]
    crv: Option<StrField<'a>>,
    #[serde(borrow, default)]
    n: Option<StrField<'a>>,
    #[serde(borrow, default)]
    e: Option<StrField<'a>>,
    #[serde(borrow, default)]
    x: Option<StrField<'a>>,
    #[serde(borrow, default)]
    y: Option<StrField<'a>>,
    #[serde(default)]
    d: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    p: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    q: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    k: Option<serde::de::IgnoredAny>,
}

fn str_member<'a>(
    f: &'a Option<StrField<'_>>,
    name: &'static str,
) -> Result<&'a str, KeyRejection> {
    match f {
        Some(StrField::Str(s)) => Ok(s),
        _ => Err(KeyRejection::BrokenParameters(name)),
    }
}

impl JwkDto<'_> {
    fn kid(&self) -> Option<String> {
        match &self.kid {
            Some(StrField::Str(s)) => Some(s.clone().into_owned()),
            _ => None,
        }
    }

    fn into_key(self) -> Result<Key, KeyRejection> {
        let kty = str_member(&self.kty, "kty")?;
        if matches!(self.kid, Some(StrField::Invalid)) {
            return Err(KeyRejection::BrokenParameters("kid"));
        }
        let kid = match &self.kid {
            Some(StrField::Str(s)) => Some(s.as_ref()),
            _ => None,
        };
        if kty == "oct" || self.k.is_some() {
            return Err(KeyRejection::Symmetric);
        }
        if self.d.is_some() || self.p.is_some() || self.q.is_some() {
            return Err(KeyRejection::PrivateMaterial);
        }
        match &self.use_ {
            None => {}
            Some(StrField::Str(u)) if u == "sig" => {}
            Some(_) => return Err(KeyRejection::NotForSignatures),
        }
        if let Some(ops) = &self.key_ops {
            let ok = ops
                .as_array()
                .is_some_and(|a| a.iter().any(|o| o.as_str() == Some("verify")));
            if !ok {
                return Err(KeyRejection::NotForSignatures);
            }
        }
        let alg = match &self.alg {
            None => None,
            Some(StrField::Str(a)) => Some(
                a.parse::<Algorithm>()
                    .map_err(|_| KeyRejection::AlgorithmMismatch)?,
            ),
            Some(StrField::Invalid) => return Err(KeyRejection::AlgorithmMismatch),
        };
        match kty {
            "RSA" => {
                let n = b64(str_member(&self.n, "n")?, "n")?;
                let e = b64(str_member(&self.e, "e")?, "e")?;
                Key::rsa(kid, alg, &n, &e)
            }
            "EC" => {
                let family = match str_member(&self.crv, "crv")? {
                    "P-256" => KeyFamily::P256,
                    "P-384" => KeyFamily::P384,
                    _ => return Err(KeyRejection::UnsupportedType),
                };
                let x = b64(str_member(&self.x, "x")?, "x")?;
                let y = b64(str_member(&self.y, "y")?, "y")?;
                Key::ec(kid, alg, family, &x, &y)
            }
            "OKP" => {
                if str_member(&self.crv, "crv")? != "Ed25519" {
                    return Err(KeyRejection::UnsupportedType);
                }
                let x = b64(str_member(&self.x, "x")?, "x")?;
                Key::ed25519(kid, alg, &x)
            }
            _ => Err(KeyRejection::UnsupportedType),
        }
    }
}

/// An immutable set of verification keys with O(1) lookup by `kid`.
#[derive(Default, Clone)]
pub struct KeySet {
    by_kid: HashMap<Arc<str>, Vec<Arc<Key>>>,
    all: Vec<Arc<Key>>,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.all.iter()).finish()
    }
}

impl KeySet {
    /// An empty set.
    #[must_use]
    pub fn new() -> Self {
        KeySet::default()
    }

    /// Builds a set from keys.
    #[must_use]
    pub fn from_keys(keys: impl IntoIterator<Item = Key>) -> Self {
        let mut set = KeySet::new();
        for k in keys {
            set.insert(k);
        }
        set
    }

    /// Adds a key.
    pub fn insert(&mut self, key: Key) {
        let key = Arc::new(key);
        if let Some(kid) = &key.kid {
            self.by_kid
                .entry(kid.clone())
                .or_default()
                .push(key.clone());
        }
        self.all.push(key);
    }

    /// Parses a JWKS tolerantly; see the module docs.
    pub fn parse_jwks(json: &[u8]) -> Result<ParsedJwks, JwksError> {
        #[derive(Deserialize)]
        struct Doc {
            keys: Vec<serde_json::Value>,
        }
        let doc: Doc = serde_json::from_slice(json).map_err(|_| JwksError::NotAJwks)?;
        let mut keys = KeySet::new();
        let mut skipped = Vec::new();
        for jwk in &doc.keys {
            let Ok(dto) = JwkDto::deserialize(jwk) else {
                tracing::warn!(
                    reason = "not a JSON object of string members",
                    "skipping JWK"
                );
                skipped.push(SkippedKey {
                    kid: None,
                    reason: KeyRejection::BrokenParameters("jwk"),
                });
                continue;
            };
            let kid = dto.kid();
            match dto.into_key() {
                Ok(k) => keys.insert(k),
                // an encryption key beside the signing keys is normal (Keycloak
                // publishes an RSA-OAEP `enc` key): not worth a warning per refresh
                Err(reason @ KeyRejection::NotForSignatures) => {
                    tracing::debug!(kid = kid.as_deref().unwrap_or("<none>"), %reason, "skipping JWK");
                    skipped.push(SkippedKey { kid, reason });
                }
                Err(reason) => {
                    tracing::warn!(kid = kid.as_deref().unwrap_or("<none>"), %reason, "skipping JWK");
                    skipped.push(SkippedKey { kid, reason });
                }
            }
        }
        Ok(ParsedJwks { keys, skipped })
    }

    /// Parses a JWKS and keeps only the usable keys.
    pub fn from_jwks(json: &[u8]) -> Result<Self, JwksError> {
        Ok(Self::parse_jwks(json)?.keys)
    }

    /// Number of keys.
    #[must_use]
    pub fn len(&self) -> usize {
        self.all.len()
    }

    /// True when the set has no key.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// True when a key has this `kid`.
    #[must_use]
    pub fn contains_kid(&self, kid: &str) -> bool {
        self.by_kid.contains_key(kid)
    }

    /// The keys, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Key>> {
        self.all.iter()
    }

    /// The `kid`s of the set.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.all.iter().filter_map(|k| k.kid())
    }

    /// True when this exact key (same `kid` and fingerprint) is in the set.
    #[must_use]
    pub fn contains_key(&self, kid: Option<&str>, fingerprint: &[u8; 32]) -> bool {
        match kid {
            Some(kid) => self
                .by_kid
                .get(kid)
                .is_some_and(|v| v.iter().any(|k| &k.fingerprint == fingerprint)),
            None => self.all.iter().any(|k| &k.fingerprint == fingerprint),
        }
    }

    /// The keys that may verify a token with this `kid` and `alg` (at most
    /// [`MAX_KIDLESS_CANDIDATES`] without a `kid`).
    pub fn candidates(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<impl Iterator<Item = &Arc<Key>>, KeyError> {
        let (list, limit) = match kid {
            Some(kid) => {
                if kid.len() > MAX_KID_LEN {
                    return Err(KeyError::InvalidKid);
                }
                let list = self.by_kid.get(kid).ok_or(KeyError::UnknownKid)?;
                (list.as_slice(), usize::MAX)
            }
            None => (self.all.as_slice(), MAX_KIDLESS_CANDIDATES),
        };
        if !list.iter().any(|k| k.is_compatible(alg)) {
            return Err(KeyError::NoCompatibleKey);
        }
        Ok(list
            .iter()
            .filter(move |k| k.is_compatible(alg))
            .take(limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    fn skip_reason(jwk: &str) -> Option<KeyRejection> {
        let doc = format!(r#"{{"keys":[{jwk}]}}"#);
        let p = KeySet::parse_jwks(doc.as_bytes()).unwrap();
        p.skipped.first().map(|s| s.reason.clone())
    }

    #[test]
    fn tolerant_jwks() {
        assert_eq!(
            skip_reason(
                r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#
            ),
            None
        );
        assert_eq!(
            skip_reason(&format!(r#"{{"kty":"OKP","crv":"Ed448","x":"{ED_X}"}}"#)),
            Some(KeyRejection::UnsupportedType)
        );
        assert_eq!(
            skip_reason(&format!(
                r#"{{"kty":"OKP","crv":"Ed25519","use":"enc","x":"{ED_X}"}}"#
            )),
            Some(KeyRejection::NotForSignatures)
        );
        assert_eq!(
            skip_reason(&format!(
                r#"{{"kty":"OKP","crv":"Ed25519","d":"AA","x":"{ED_X}"}}"#
            )),
            Some(KeyRejection::PrivateMaterial)
        );
        assert_eq!(
            skip_reason(&format!(
                r#"{{"kty":"OKP","crv":"Ed25519","alg":"RS256","x":"{ED_X}"}}"#
            )),
            Some(KeyRejection::AlgorithmMismatch)
        );
        assert_eq!(
            skip_reason(r#"{"kty":"oct","k":"AAAA"}"#),
            Some(KeyRejection::Symmetric)
        );
        assert_eq!(
            skip_reason(r#"{"kty":"RSA","n":"AQAB","e":"AQAB"}"#),
            Some(KeyRejection::RsaSize { bits: 17 })
        );
        assert_eq!(
            skip_reason(r#"{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}"#),
            Some(KeyRejection::BrokenParameters("x"))
        );
        // a point not on the curve: x = y = 1
        let one = URL_SAFE_NO_PAD.encode({
            let mut v = [0u8; 32];
            v[31] = 1;
            v
        });
        assert_eq!(
            skip_reason(&format!(
                r#"{{"kty":"EC","crv":"P-256","x":"{one}","y":"{one}"}}"#
            )),
            Some(KeyRejection::InvalidPoint)
        );
        assert_eq!(
            skip_reason(r#"{"kty":"XYZ"}"#),
            Some(KeyRejection::UnsupportedType)
        );
        assert_eq!(
            skip_reason(r#"{"kty":5}"#),
            Some(KeyRejection::BrokenParameters("kty"))
        );
        assert_eq!(
            skip_reason(r#"7"#),
            Some(KeyRejection::BrokenParameters("jwk"))
        );
        assert!(KeySet::parse_jwks(b"{}").is_err());
        assert!(KeySet::parse_jwks(b"<html>").is_err());
    }

    #[test]
    fn selection() {
        let k = Key::ed25519(Some("a"), None, &URL_SAFE_NO_PAD.decode(ED_X).unwrap()).unwrap();
        let h = Key::hmac(Some("h"), &[7u8; 32]).unwrap();
        let set = KeySet::from_keys([k, h]);
        assert_eq!(
            set.candidates(Some("a"), Algorithm::EdDSA).unwrap().count(),
            1
        );
        assert_eq!(
            set.candidates(Some("a"), Algorithm::RS256).err(),
            Some(KeyError::NoCompatibleKey)
        );
        assert_eq!(
            set.candidates(Some("zz"), Algorithm::EdDSA).err(),
            Some(KeyError::UnknownKid)
        );
        assert_eq!(set.candidates(None, Algorithm::EdDSA).unwrap().count(), 1);
        assert_eq!(
            set.candidates(Some("h"), Algorithm::HS256).unwrap().count(),
            1
        );
        // a 32-byte secret is too short for HS512
        assert_eq!(
            set.candidates(Some("h"), Algorithm::HS512).err(),
            Some(KeyError::NoCompatibleKey)
        );
        assert_eq!(
            set.candidates(Some(&"k".repeat(300)), Algorithm::EdDSA)
                .err(),
            Some(KeyError::InvalidKid)
        );
        assert!(Key::hmac(None, b"short").is_err());
    }

    #[test]
    fn roca_fingerprint() {
        // an ordinary key fails the fingerprint
        let mut n = vec![0xC5u8; 256];
        n[255] = 0x6B;
        assert!(!has_roca_fingerprint(&n));
        // 1 (= 65537^0) is in every subgroup
        assert!(has_roca_fingerprint(&[1]));
    }

    #[test]
    fn pkcs1_reader() {
        assert!(rsa_components_from_pkcs1(&[0x30, 0x03, 0x02, 0x01]).is_none());
        let (n, e) =
            rsa_components_from_pkcs1(&[0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x03]).unwrap();
        assert_eq!((n, e), (vec![5], vec![3]));
    }
}
