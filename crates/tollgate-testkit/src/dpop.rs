//! DPoP proofs (RFC 9449) for tests: a builder with full control over header and
//! claims, signed by a [`TestKey`].

use serde_json::{Map, Value};
use tollgate_core::alg::Algorithm;

use crate::key::TestKey;
use crate::{b64url, now};

/// Builds a DPoP proof JWS signed by a [`TestKey`].
///
/// Defaults: header `{"typ": "dpop+jwt", "alg": <key's>, "jwk": <key's public JWK>}`;
/// claims `jti` (random), `htm`, `htu`, `iat` = now.
///
/// ```
/// use tollgate_testkit::{DpopProof, TestKey};
///
/// let key = TestKey::p256("client");
/// let proof = DpopProof::new(&key, "POST", "https://api.example/orders")
///     .access_token("the.access.token")
///     .sign();
/// assert_eq!(proof.split('.').count(), 3);
/// // the thumbprint a token bound to this key carries in cnf.jkt
/// assert_eq!(key.jkt().len(), 43);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct DpopProof {
    key: TestKey,
    alg: Algorithm,
    header: Map<String, Value>,
    claims: Map<String, Value>,
    raw_header: Option<String>,
    raw_claims: Option<String>,
}

fn jti() -> String {
    let mut b = [0u8; 16];
    // randomness failure only makes jti less unique; tests that care set their own
    let _ = aws_lc_rs::rand::fill(&mut b);
    b64url(b)
}

impl DpopProof {
    /// A proof for `htm` `htu`, signed by `key` with its default algorithm.
    pub fn new(key: &TestKey, htm: &str, htu: &str) -> Self {
        let alg = key.default_alg();
        let mut header = Map::new();
        header.insert("typ".into(), "dpop+jwt".into());
        header.insert("alg".into(), alg.as_str().into());
        header.insert("jwk".into(), key.dpop_jwk());
        let mut claims = Map::new();
        claims.insert("jti".into(), jti().into());
        claims.insert("htm".into(), htm.into());
        claims.insert("htu".into(), htu.into());
        claims.insert("iat".into(), now().into());
        DpopProof {
            key: key.clone(),
            alg,
            header,
            claims,
            raw_header: None,
            raw_claims: None,
        }
    }

    /// `ath` = base64url(SHA-256(`token`)).
    pub fn access_token(self, token: &str) -> Self {
        self.claim("ath", tollgate_core::dpop::access_token_hash(token))
    }

    /// `nonce`.
    pub fn nonce(self, nonce: &str) -> Self {
        self.claim("nonce", nonce)
    }

    /// `jti`.
    pub fn jti(self, jti: &str) -> Self {
        self.claim("jti", jti)
    }

    /// `iat` = now + `secs` (negative for the past).
    pub fn issued_in(self, secs: i64) -> Self {
        self.claim("iat", now() + secs)
    }

    /// Signs with `alg` (the header's `alg` follows).
    pub fn alg(mut self, alg: Algorithm) -> Self {
        self.alg = alg;
        self.header.insert("alg".into(), alg.as_str().into());
        self
    }

    /// Signs with another key than the one in the `jwk` header.
    pub fn signed_by(mut self, key: &TestKey) -> Self {
        self.key = key.clone();
        self
    }

    /// Sets a header parameter (any JSON value).
    pub fn header(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.header.insert(name.into(), value.into());
        self
    }

    /// Removes a header parameter.
    pub fn without_header(mut self, name: &str) -> Self {
        self.header.remove(name);
        self
    }

    /// Sets a member of the `jwk` header (e.g. a private `d`).
    pub fn jwk_member(mut self, name: &str, value: impl Into<Value>) -> Self {
        if let Some(Value::Object(jwk)) = self.header.get_mut("jwk") {
            jwk.insert(name.into(), value.into());
        }
        self
    }

    /// Sets a claim (any JSON value).
    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }

    /// Removes a claim.
    pub fn without(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// Uses this exact header JSON text (e.g. with duplicate members).
    pub fn raw_header(mut self, json: &str) -> Self {
        self.raw_header = Some(json.into());
        self
    }

    /// Uses this exact claims JSON text.
    pub fn raw_claims(mut self, json: &str) -> Self {
        self.raw_claims = Some(json.into());
        self
    }

    /// Signs and returns the compact proof.
    #[must_use]
    pub fn sign(&self) -> String {
        let header = self
            .raw_header
            .clone()
            .unwrap_or_else(|| Value::Object(self.header.clone()).to_string());
        let claims = self
            .raw_claims
            .clone()
            .unwrap_or_else(|| Value::Object(self.claims.clone()).to_string());
        let input = format!("{}.{}", b64url(header), b64url(claims));
        let sig = self.key.sign(self.alg, input.as_bytes());
        format!("{input}.{}", b64url(sig))
    }
}

impl TestKey {
    /// The public JWK as a DPoP proof carries it (no `kid`, `use` or `alg`).
    #[must_use]
    pub fn dpop_jwk(&self) -> Value {
        let mut jwk = self.jwk();
        if let Value::Object(o) = &mut jwk {
            o.remove("kid");
            o.remove("use");
            o.remove("alg");
        }
        jwk
    }

    /// The RFC 7638 thumbprint of the public key: the `cnf.jkt` of tokens bound to it.
    #[must_use]
    pub fn jkt(&self) -> String {
        tollgate_core::dpop::jwk_thumbprint(&self.jwk()).unwrap_or_default()
    }
}

impl crate::TokenBuilder {
    /// Binds the token to `key` for DPoP: `cnf` = `{"jkt": <thumbprint>}`.
    pub fn dpop_bound(self, key: &TestKey) -> Self {
        self.claim("cnf", serde_json::json!({ "jkt": key.jkt() }))
    }
}
