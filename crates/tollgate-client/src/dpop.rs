//! The client side of DPoP (RFC 9449): a [`DpopKey`] that signs a fresh proof for
//! every request, and remembers the server nonces it was given.
//!
//! - **Key**: ES256 (P-256) via aws-lc-rs, generated in memory ([`DpopKey::generate`])
//!   or loaded from PKCS#8 ([`DpopKey::from_pkcs8_der`], [`DpopKey::from_pkcs8_pem`]).
//!   The private key never leaves the value; `Debug` shows only the thumbprint.
//! - **Proofs** ([`DpopKey::proof`]): header `typ: dpop+jwt`, `alg: ES256`, `jwk` (the
//!   public key); claims `jti` (128 random bits), `iat` (now), `htm`, `htu` (normalised:
//!   scheme and host lowercased, default port dropped, no query or fragment), `ath`
//!   (hash of the access token, on resource requests) and `nonce` (when the server
//!   gave one).
//! - **Nonces**: the latest `DPoP-Nonce` seen from each origin (scheme, host, port) is
//!   kept with the key (at most 256 origins) and put into the next proof for that
//!   origin. Clones of a key share that memory.
//!
//! Token sources given a key ([`ClientCredentialsBuilder::dpop`](crate::ClientCredentialsBuilder::dpop),
//! [`RefreshTokenSourceBuilder::dpop`](crate::RefreshTokenSourceBuilder::dpop),
//! [`TokenExchangeBuilder::dpop`](crate::TokenExchangeBuilder::dpop)) send a proof with
//! each token request, retry once on `use_dpop_nonce`, and accept only a `token_type`
//! of `DPoP`: a server that answers `Bearer` ignored the proof, and a silently unbound
//! token is refused ([`TokenError::InvalidResponse`](crate::TokenError::InvalidResponse))
//! rather than used with less protection than configured. The outgoing layer is
//! [`AddDpopLayer`](crate::AddDpopLayer).
//!
//! # Example
//!
//! ```
//! use tollgate_client::DpopKey;
//! use tollgate_core::dpop::{DpopVerifier, ProofRequest};
//!
//! let key = DpopKey::generate().unwrap();
//! let proof = key.proof("GET", "https://API.example:443/orders?page=2", Some("the.access.token"), None).unwrap();
//!
//! // accepted by tollgate's verifier, bound to the key's thumbprint
//! let verifier = DpopVerifier::builder().build().unwrap();
//! let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
//! let req = ProofRequest::new("GET", "https://api.example/orders").access_token("the.access.token");
//! assert_eq!(verifier.verify(&proof, &req, now).unwrap().jkt(), key.jkt());
//!
//! // rejected: the same proof for another access token
//! let other = ProofRequest::new("GET", "https://api.example/orders").access_token("another.token");
//! assert!(verifier.verify(&proof, &other, now).is_err());
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::{HeaderMap, Uri};
use tollgate_core::dpop::{access_token_hash, jwk_thumbprint, normalize_htu};

/// At most this many origins' nonces are remembered per key (the oldest is dropped).
const MAX_ORIGINS: usize = 256;
/// A `DPoP-Nonce` longer than this is ignored.
const MAX_NONCE_LEN: usize = 512;

/// Why a [`DpopKey`] could not be made or used. Never shows key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DpopKeyError {
    /// The bytes are not a PKCS#8 P-256 private key (PEM: not a `PRIVATE KEY` block).
    #[error("the DPoP key is not a PKCS#8 P-256 (ES256) private key")]
    InvalidKey,
    /// The system random generator failed.
    #[error("no randomness for the DPoP key or proof")]
    Randomness,
    /// `htu` is not an absolute `http`/`https` URL without user information.
    #[error("the DPoP htu is not an absolute http(s) URL")]
    InvalidUrl,
    /// `htm` is not an HTTP method token.
    #[error("the DPoP htm is not an HTTP method")]
    InvalidMethod,
    /// Signing failed.
    #[error("signing the DPoP proof failed")]
    Signing,
}

/// An ES256 DPoP key with its nonce memory. Cloning is cheap and shares both.
#[derive(Clone)]
pub struct DpopKey {
    inner: Arc<Inner>,
}

struct Inner {
    pair: EcdsaKeyPair,
    /// base64url of the protected header (it never changes).
    header: String,
    jkt: String,
    nonces: Mutex<Nonces>,
}

#[derive(Default)]
struct Nonces {
    by_origin: HashMap<String, (u64, String)>,
    counter: u64,
}

impl fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopKey")
            .field("alg", &"ES256")
            .field("jkt", &self.inner.jkt)
            .finish_non_exhaustive()
    }
}

impl DpopKey {
    /// A new random P-256 key, in memory only.
    ///
    /// # Errors
    /// [`DpopKeyError::Randomness`] when the system cannot supply randomness.
    pub fn generate() -> Result<Self, DpopKeyError> {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .map_err(|_| DpopKeyError::Randomness)?;
        Self::from_pair(pair)
    }

    /// A key from PKCS#8 DER (`PRIVATE KEY`, P-256).
    ///
    /// # Errors
    /// [`DpopKeyError::InvalidKey`] for anything else.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, DpopKeyError> {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
            .map_err(|_| DpopKeyError::InvalidKey)?;
        Self::from_pair(pair)
    }

    /// A key from a PEM `-----BEGIN PRIVATE KEY-----` block (PKCS#8, P-256).
    ///
    /// # Errors
    /// [`DpopKeyError::InvalidKey`] for anything else.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, DpopKeyError> {
        let body = pem
            .split("-----BEGIN PRIVATE KEY-----")
            .nth(1)
            .and_then(|rest| rest.split("-----END PRIVATE KEY-----").next())
            .ok_or(DpopKeyError::InvalidKey)?;
        let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let der = STANDARD.decode(b64).map_err(|_| DpopKeyError::InvalidKey)?;
        Self::from_pkcs8_der(&der)
    }

    /// The key as PKCS#8 DER, to store it (keep it secret).
    ///
    /// # Errors
    /// [`DpopKeyError::InvalidKey`] when aws-lc cannot serialise it.
    pub fn to_pkcs8_der(&self) -> Result<Vec<u8>, DpopKeyError> {
        self.inner
            .pair
            .to_pkcs8v1()
            .map(|d| d.as_ref().to_vec())
            .map_err(|_| DpopKeyError::InvalidKey)
    }

    fn from_pair(pair: EcdsaKeyPair) -> Result<Self, DpopKeyError> {
        // uncompressed point: 0x04 || x (32) || y (32)
        let point = pair.public_key().as_ref();
        let (Some(x), Some(y)) = (point.get(1..33), point.get(33..65)) else {
            return Err(DpopKeyError::InvalidKey);
        };
        let jwk = serde_json::json!({
            "kty": "EC",
            "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(x),
            "y": URL_SAFE_NO_PAD.encode(y),
        });
        let jkt = jwk_thumbprint(&jwk).ok_or(DpopKeyError::InvalidKey)?;
        let header = serde_json::json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk});
        Ok(DpopKey {
            inner: Arc::new(Inner {
                pair,
                header: URL_SAFE_NO_PAD.encode(header.to_string()),
                jkt,
                nonces: Mutex::new(Nonces::default()),
            }),
        })
    }

    /// The RFC 7638 SHA-256 thumbprint of the public key (base64url): the `cnf.jkt`
    /// of tokens bound to this key.
    #[must_use]
    pub fn jkt(&self) -> &str {
        &self.inner.jkt
    }

    /// A fresh proof for `htm` `htu` (normalised; query and fragment dropped), with
    /// `ath` when `access_token` is given and `nonce` when given.
    ///
    /// # Errors
    /// [`DpopKeyError::InvalidUrl`], [`DpopKeyError::InvalidMethod`], or a randomness or
    /// signing failure.
    pub fn proof(
        &self,
        htm: &str,
        htu: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> Result<String, DpopKeyError> {
        if htm.is_empty()
            || !htm
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        {
            return Err(DpopKeyError::InvalidMethod);
        }
        let htu = normalize_htu(htu).ok_or(DpopKeyError::InvalidUrl)?;
        let mut jti = [0u8; 16];
        aws_lc_rs::rand::fill(&mut jti).map_err(|_| DpopKeyError::Randomness)?;
        let iat = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut claims = serde_json::Map::new();
        claims.insert("jti".into(), URL_SAFE_NO_PAD.encode(jti).into());
        claims.insert("htm".into(), htm.into());
        claims.insert("htu".into(), htu.into());
        claims.insert("iat".into(), iat.into());
        if let Some(t) = access_token {
            claims.insert("ath".into(), access_token_hash(t).into());
        }
        if let Some(n) = nonce {
            claims.insert("nonce".into(), n.into());
        }
        let payload = URL_SAFE_NO_PAD.encode(serde_json::Value::Object(claims).to_string());
        let input = format!("{}.{payload}", self.inner.header);
        let sig = self
            .inner
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .map_err(|_| DpopKeyError::Signing)?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref())))
    }

    /// The latest nonce remembered for the origin of `url`, if any.
    #[must_use]
    pub fn nonce_for(&self, url: &Uri) -> Option<String> {
        let origin = origin(url)?;
        self.lock().by_origin.get(&origin).map(|(_, n)| n.clone())
    }

    /// Remembers the `DPoP-Nonce` of a response from `url` (ignored when absent,
    /// repeated, not visible ASCII or over 512 bytes). Returns whether one was stored.
    pub fn remember_nonce(&self, url: &Uri, headers: &HeaderMap) -> bool {
        let mut values = headers.get_all("dpop-nonce").iter();
        let (Some(v), None) = (values.next(), values.next()) else {
            return false;
        };
        let Some(nonce) = v
            .to_str()
            .ok()
            .filter(|n| !n.is_empty() && n.len() <= MAX_NONCE_LEN && !n.contains([' ', '"', '\\']))
        else {
            return false;
        };
        let Some(origin) = origin(url) else {
            return false;
        };
        let mut n = self.lock();
        n.counter += 1;
        let stamp = n.counter;
        if n.by_origin.len() >= MAX_ORIGINS && !n.by_origin.contains_key(&origin) {
            let oldest = n
                .by_origin
                .iter()
                .min_by_key(|(_, (s, _))| *s)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                n.by_origin.remove(&k);
            }
        }
        n.by_origin.insert(origin, (stamp, nonce.to_owned()));
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Nonces> {
        self.inner
            .nonces
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// `scheme://host[:port]`, normalised like `htu`.
fn origin(url: &Uri) -> Option<String> {
    let scheme = url.scheme_str()?;
    let authority = url.authority()?;
    let n = normalize_htu(&format!("{scheme}://{authority}/"))?;
    Some(n.trim_end_matches('/').to_owned())
}

/// True for an OAuth error answer asking for a DPoP nonce: `error="use_dpop_nonce"`
/// in a `WWW-Authenticate` challenge (resource servers, 401) or in the JSON body
/// (authorization servers, 400).
pub(crate) fn asks_for_nonce(headers: &HeaderMap, body: Option<&[u8]>) -> bool {
    let in_challenge = headers
        .get_all(http::header::WWW_AUTHENTICATE)
        .iter()
        .any(|v| v.to_str().is_ok_and(|s| s.contains("use_dpop_nonce")));
    let in_body = body
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
        .is_some_and(|j| j["error"] == "use_dpop_nonce");
    in_challenge || in_body
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn pkcs8_round_trip_and_refusals() {
        let key = DpopKey::generate().unwrap();
        let der = key.to_pkcs8_der().unwrap();
        let again = DpopKey::from_pkcs8_der(&der).unwrap();
        assert_eq!(again.jkt(), key.jkt());
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(&der)
        );
        assert_eq!(DpopKey::from_pkcs8_pem(&pem).unwrap().jkt(), key.jkt());
        assert_eq!(
            DpopKey::from_pkcs8_der(b"nope").unwrap_err(),
            DpopKeyError::InvalidKey
        );
        assert_eq!(
            DpopKey::from_pkcs8_pem("-----BEGIN PUBLIC KEY-----").unwrap_err(),
            DpopKeyError::InvalidKey
        );
        assert!(!format!("{key:?}").contains(&STANDARD.encode(&der)[..20]));
    }

    #[test]
    fn proof_claims_and_nonce_memory() {
        let key = DpopKey::generate().unwrap();
        let p = key
            .proof("POST", "HTTPS://Api.Example:443/t?x=1#f", None, Some("n1"))
            .unwrap();
        let claims: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(p.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["htu"], "https://api.example/t");
        assert_eq!(claims["htm"], "POST");
        assert_eq!(claims["nonce"], "n1");
        assert!(claims.get("ath").is_none());
        assert_eq!(claims["jti"].as_str().unwrap().len(), 22);
        assert_eq!(
            key.proof("GET", "/relative", None, None).unwrap_err(),
            DpopKeyError::InvalidUrl
        );
        assert_eq!(
            key.proof("GE T", "https://a.example/", None, None)
                .unwrap_err(),
            DpopKeyError::InvalidMethod
        );

        let url: Uri = "https://API.example:443/orders?x".parse().unwrap();
        let mut h = HeaderMap::new();
        assert!(!key.remember_nonce(&url, &h));
        h.insert("dpop-nonce", "abc".parse().unwrap());
        assert!(key.remember_nonce(&url, &h));
        let same_origin: Uri = "https://api.example/other".parse().unwrap();
        assert_eq!(key.nonce_for(&same_origin).as_deref(), Some("abc"));
        let other: Uri = "https://api.example:8443/".parse().unwrap();
        assert_eq!(key.nonce_for(&other), None);
        // clones share the memory
        assert_eq!(key.clone().nonce_for(&url).as_deref(), Some("abc"));
    }
}
