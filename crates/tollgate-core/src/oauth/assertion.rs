//! `private_key_jwt` client assertions (RFC 7523 §2.2, OIDC Core §9): the [`JwtSigner`]
//! trait (bring your HSM or KMS) and [`PemSigner`] over a PEM private key.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::Uri;

use super::BoxError;
use crate::alg::Algorithm;

/// Signs `private_key_jwt` client assertions (RFC 7523). [`PemSigner`] covers PEM
/// private keys; implement this for keys in an HSM or KMS.
pub trait JwtSigner: fmt::Debug + Send + Sync + 'static {
    /// The JWS algorithm (`alg` header).
    fn algorithm(&self) -> Algorithm;
    /// The `kid` header, if the authorization server needs one.
    fn kid(&self) -> Option<&str>;
    /// The raw signature over `signing_input` (JWS encoding: r‖s for ECDSA).
    ///
    /// # Errors
    /// When the key cannot sign right now (never put key material in the error).
    fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, BoxError>;
}

/// Why a [`PemSigner`] could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignerError {
    /// `private_key_jwt` needs an asymmetric algorithm (RS*, PS*, ES256, ES384, EdDSA).
    #[error("private_key_jwt needs an asymmetric algorithm, not {0}")]
    NotAsymmetric(Algorithm),
    /// The PEM is not a private key of the algorithm's family.
    #[error("the PEM private key does not fit {alg}")]
    KeyMismatch {
        /// The algorithm asked for.
        alg: Algorithm,
        /// What jsonwebtoken found wrong (no key material).
        #[source]
        source: jsonwebtoken::errors::Error,
    },
}

/// A [`JwtSigner`] over a PEM private key (RSA, EC or Ed25519) via jsonwebtoken.
pub struct PemSigner {
    key: jsonwebtoken::EncodingKey,
    alg: Algorithm,
    jwt_alg: jsonwebtoken::Algorithm,
    kid: Option<String>,
}

/// The key is never shown.
impl fmt::Debug for PemSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PemSigner")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl PemSigner {
    /// A signer for `alg` (RS256/PS256/…: RSA PEM; ES256/ES384: EC PEM; EdDSA:
    /// Ed25519 PEM).
    ///
    /// # Errors
    /// [`SignerError`] when the PEM does not fit `alg` or HMAC is asked for.
    pub fn new(alg: Algorithm, pem: &[u8], kid: Option<&str>) -> Result<Self, SignerError> {
        use jsonwebtoken::EncodingKey as K;
        let key = match alg.as_str() {
            "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" => K::from_rsa_pem(pem),
            "ES256" | "ES384" => K::from_ec_pem(pem),
            "EdDSA" => K::from_ed_pem(pem),
            _ => return Err(SignerError::NotAsymmetric(alg)),
        }
        .map_err(|source| SignerError::KeyMismatch { alg, source })?;
        let jwt_alg = alg
            .as_str()
            .parse()
            .map_err(|_| SignerError::NotAsymmetric(alg))?;
        Ok(PemSigner {
            key,
            alg,
            jwt_alg,
            kid: kid.map(str::to_owned),
        })
    }
}

impl JwtSigner for PemSigner {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
    fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }
    fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, BoxError> {
        let sig = jsonwebtoken::crypto::sign(signing_input, &self.key, self.jwt_alg)?;
        Ok(URL_SAFE_NO_PAD.decode(sig)?)
    }
}

/// 16 random bytes, base64url: a `jti`.
pub(crate) fn random_id() -> String {
    let mut b = [0u8; 16];
    // the jti only needs to be unique: without randomness, fall back to the clock
    if aws_lc_rs::rand::fill(&mut b).is_err() {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        b = n.to_le_bytes();
    }
    URL_SAFE_NO_PAD.encode(b)
}

/// A fresh client assertion: `iss` = `sub` = `client_id`, `aud` = `endpoint`, random
/// `jti`, 60 s lifetime.
pub(crate) fn assertion(
    client_id: &str,
    endpoint: &Uri,
    signer: &dyn JwtSigner,
) -> Result<String, BoxError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut header = serde_json::json!({"alg": signer.algorithm().as_str(), "typ": "JWT"});
    if let Some(kid) = signer.kid() {
        header["kid"] = kid.into();
    }
    let claims = serde_json::json!({
        "iss": client_id, "sub": client_id, "aud": endpoint.to_string(),
        "jti": random_id(), "iat": now, "exp": now + 60,
    });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = signer.sign(input.as_bytes())?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
}
