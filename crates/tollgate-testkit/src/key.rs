use std::fmt;
use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair};
use base64::Engine as _;
use serde_json::{Value, json};
use tollgate_core::Key;
use tollgate_core::alg::Algorithm;

use crate::b64url;
use crate::token::TokenBuilder;

enum Material {
    Rsa(RsaKeyPair),
    P256(EcdsaKeyPair),
    P384(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Hmac(Vec<u8>),
}

/// A signing key pair (or HMAC secret) for tests, with its `kid`.
///
/// Cheap to clone (shared).
#[derive(Clone)]
pub struct TestKey {
    kid: Arc<str>,
    material: Arc<Material>,
}

impl fmt::Debug for TestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestKey")
            .field("kid", &self.kid)
            .field("alg", &self.default_alg())
            .finish_non_exhaustive()
    }
}

#[allow(clippy::expect_used)]
impl TestKey {
    fn new(kid: &str, material: Material) -> Self {
        TestKey {
            kid: kid.into(),
            material: Arc::new(material),
        }
    }

    /// A fresh RSA 2048 key (RS256 by default).
    #[must_use]
    pub fn rsa(kid: &str) -> Self {
        let kp =
            RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("RSA key generation");
        Self::new(kid, Material::Rsa(kp))
    }

    /// A fresh P-256 key (ES256).
    #[must_use]
    pub fn p256(kid: &str) -> Self {
        let kp = EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_FIXED_SIGNING)
            .expect("P-256 key generation");
        Self::new(kid, Material::P256(kp))
    }

    /// A fresh P-384 key (ES384).
    #[must_use]
    pub fn p384(kid: &str) -> Self {
        let kp = EcdsaKeyPair::generate(&sig::ECDSA_P384_SHA384_FIXED_SIGNING)
            .expect("P-384 key generation");
        Self::new(kid, Material::P384(kp))
    }

    /// A fresh Ed25519 key (EdDSA).
    #[must_use]
    pub fn ed25519(kid: &str) -> Self {
        let kp = Ed25519KeyPair::generate().expect("Ed25519 key generation");
        Self::new(kid, Material::Ed(kp))
    }

    /// An HMAC secret (HS256 by default; 64 bytes allow HS384/HS512 too).
    #[must_use]
    pub fn hmac(kid: &str, secret: &[u8]) -> Self {
        Self::new(kid, Material::Hmac(secret.to_vec()))
    }

    /// A fresh random 64-byte HMAC secret.
    #[must_use]
    pub fn hmac_random(kid: &str) -> Self {
        let mut s = vec![0u8; 64];
        aws_lc_rs::rand::fill(&mut s).expect("randomness");
        Self::hmac(kid, &s)
    }

    /// The `kid`.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The same key material under another `kid`.
    #[must_use]
    pub fn with_kid(&self, kid: &str) -> Self {
        TestKey {
            kid: kid.into(),
            material: self.material.clone(),
        }
    }

    /// The algorithm tokens are signed with by default.
    #[must_use]
    pub fn default_alg(&self) -> Algorithm {
        match &*self.material {
            Material::Rsa(_) => Algorithm::RS256,
            Material::P256(_) => Algorithm::ES256,
            Material::P384(_) => Algorithm::ES384,
            Material::Ed(_) => Algorithm::EdDSA,
            Material::Hmac(_) => Algorithm::HS256,
        }
    }

    /// The public JWK (no private members). HMAC keys give an `oct` JWK with `k`.
    #[must_use]
    pub fn jwk(&self) -> Value {
        match &*self.material {
            Material::Rsa(kp) => {
                let pk = kp.public_key();
                json!({"kty": "RSA", "kid": &*self.kid, "use": "sig",
                       "n": b64url(pk.modulus().big_endian_without_leading_zero()),
                       "e": b64url(pk.exponent().big_endian_without_leading_zero())})
            }
            Material::P256(kp) | Material::P384(kp) => {
                let point = kp.public_key().as_ref();
                let half = (point.len() - 1) / 2;
                let crv = if half == 32 { "P-256" } else { "P-384" };
                json!({"kty": "EC", "kid": &*self.kid, "use": "sig", "crv": crv,
                       "alg": self.default_alg().as_str(),
                       "x": b64url(&point[1..=half]), "y": b64url(&point[1 + half..])})
            }
            Material::Ed(kp) => json!({"kty": "OKP", "kid": &*self.kid, "use": "sig",
                "crv": "Ed25519", "alg": "EdDSA", "x": b64url(kp.public_key().as_ref())}),
            Material::Hmac(s) => json!({"kty": "oct", "kid": &*self.kid, "k": b64url(s)}),
        }
    }

    /// A JWKS document holding the public JWKs of `keys`.
    #[must_use]
    pub fn jwks<'a>(keys: impl IntoIterator<Item = &'a TestKey>) -> Value {
        json!({"keys": keys.into_iter().map(TestKey::jwk).collect::<Vec<_>>()})
    }

    /// The verification key as tollgate-core uses it.
    #[must_use]
    pub fn public_key(&self) -> Key {
        match &*self.material {
            Material::Hmac(s) => Key::hmac(Some(&self.kid), s).expect("HMAC secret length"),
            _ => Key::from_jwk(&self.jwk()).expect("own JWK is valid"),
        }
    }

    /// The public key as SPKI DER (empty for HMAC).
    #[must_use]
    pub fn public_der(&self) -> Vec<u8> {
        match &*self.material {
            Material::Rsa(kp) => kp.public_key().as_der().map(|d| d.as_ref().to_vec()),
            Material::P256(kp) | Material::P384(kp) => {
                kp.public_key().as_der().map(|d| d.as_ref().to_vec())
            }
            Material::Ed(kp) => kp.public_key().as_der().map(|d| d.as_ref().to_vec()),
            Material::Hmac(_) => Ok(Vec::new()),
        }
        .expect("DER encoding")
    }

    /// The public key as PEM `PUBLIC KEY` (empty for HMAC).
    #[must_use]
    pub fn public_pem(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(self.public_der());
        let mut out = String::from("-----BEGIN PUBLIC KEY-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
            out.push('\n');
        }
        out.push_str("-----END PUBLIC KEY-----\n");
        out
    }

    /// Signs `message` with `alg`; panics when `alg` does not fit the key type.
    #[must_use]
    pub fn sign(&self, alg: Algorithm, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match (&*self.material, alg) {
            (Material::Rsa(kp), _) => {
                let enc: &'static dyn sig::RsaEncoding = match alg {
                    Algorithm::RS256 => &sig::RSA_PKCS1_SHA256,
                    Algorithm::RS384 => &sig::RSA_PKCS1_SHA384,
                    Algorithm::RS512 => &sig::RSA_PKCS1_SHA512,
                    Algorithm::PS256 => &sig::RSA_PSS_SHA256,
                    Algorithm::PS384 => &sig::RSA_PSS_SHA384,
                    Algorithm::PS512 => &sig::RSA_PSS_SHA512,
                    other => panic!("{other} does not fit an RSA key"),
                };
                let mut out = vec![0; kp.public_modulus_len()];
                kp.sign(enc, &rng, message, &mut out).expect("RSA sign");
                out
            }
            (Material::P256(kp), Algorithm::ES256) | (Material::P384(kp), Algorithm::ES384) => kp
                .sign(&rng, message)
                .expect("ECDSA sign")
                .as_ref()
                .to_vec(),
            (Material::Ed(kp), Algorithm::EdDSA) => kp.sign(message).as_ref().to_vec(),
            (Material::Hmac(s), _) => hmac(alg, s, message),
            (_, other) => panic!("{other} does not fit this key"),
        }
    }

    /// A token builder with sensible defaults signed by this key: see [`TokenBuilder`].
    pub fn token(&self) -> TokenBuilder {
        TokenBuilder::new(self.clone())
    }
}

/// HMAC over `message` with any secret (also used to forge key-confusion tokens).
#[must_use]
pub(crate) fn hmac(alg: Algorithm, secret: &[u8], message: &[u8]) -> Vec<u8> {
    let a = match alg {
        Algorithm::HS256 => aws_lc_rs::hmac::HMAC_SHA256,
        Algorithm::HS384 => aws_lc_rs::hmac::HMAC_SHA384,
        Algorithm::HS512 => aws_lc_rs::hmac::HMAC_SHA512,
        other => panic!("{other} is not an HMAC algorithm"),
    };
    let k = aws_lc_rs::hmac::Key::new(a, secret);
    aws_lc_rs::hmac::sign(&k, message).as_ref().to_vec()
}
