use serde_json::{Map, Value, json};
use tollgate_core::alg::Algorithm;

use crate::key::{TestKey, hmac};
use crate::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, b64url, now};

/// Builds a signed compact JWS with full control over header and claims.
///
/// Defaults: RFC 9068 shape — header `{"alg": <key's>, "kid": <key's>, "typ": "at+jwt"}`;
/// claims `iss` = [`DEFAULT_ISSUER`], `aud` = [`DEFAULT_AUDIENCE`], `sub` = `user-1`,
/// `client_id` = `test-client`, `iat` = now, `exp` = now + 300, a unique `jti`.
///
/// ```
/// let key = tollgate_testkit::TestKey::ed25519("k");
/// let token = key.token().subject("bob").scope("a b").claim("tenant", "acme").sign();
/// assert_eq!(token.split('.').count(), 3);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct TokenBuilder {
    key: TestKey,
    alg: Algorithm,
    header: Map<String, Value>,
    claims: Map<String, Value>,
    raw_header: Option<String>,
    raw_claims: Option<String>,
}

fn jti() -> String {
    let mut b = [0u8; 12];
    // randomness failure only makes jti less unique; tests do not depend on it
    let _ = aws_lc_rs::rand::fill(&mut b);
    b64url(b)
}

impl TokenBuilder {
    pub(crate) fn new(key: TestKey) -> Self {
        let alg = key.default_alg();
        let now = now();
        let mut header = Map::new();
        header.insert("alg".into(), alg.as_str().into());
        header.insert("kid".into(), key.kid().into());
        header.insert("typ".into(), "at+jwt".into());
        let claims = json!({
            "iss": DEFAULT_ISSUER, "aud": DEFAULT_AUDIENCE, "sub": "user-1",
            "client_id": "test-client", "iat": now, "exp": now + 300, "jti": jti(),
        });
        let Value::Object(claims) = claims else {
            unreachable!("json! object literal")
        };
        TokenBuilder {
            key,
            alg,
            header,
            claims,
            raw_header: None,
            raw_claims: None,
        }
    }

    /// Sign with `alg` (the header's `alg` follows unless set with [`Self::header`] later).
    pub fn alg(mut self, alg: Algorithm) -> Self {
        self.alg = alg;
        self.header.insert("alg".into(), alg.as_str().into());
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

    /// `iss`.
    pub fn issuer(self, iss: &str) -> Self {
        self.claim("iss", iss)
    }

    /// `aud` as one string.
    pub fn audience(self, aud: &str) -> Self {
        self.claim("aud", aud)
    }

    /// `aud` as an array.
    pub fn audiences(self, aud: &[&str]) -> Self {
        self.claim("aud", aud.to_vec())
    }

    /// `sub`.
    pub fn subject(self, sub: &str) -> Self {
        self.claim("sub", sub)
    }

    /// `client_id`.
    pub fn client_id(self, id: &str) -> Self {
        self.claim("client_id", id)
    }

    /// `scope` (space-delimited).
    pub fn scope(self, scope: &str) -> Self {
        self.claim("scope", scope)
    }

    /// `exp` = now + `secs` (negative for the past).
    pub fn expires_in(self, secs: i64) -> Self {
        self.claim("exp", now() + secs)
    }

    /// `nbf` = now + `secs`.
    pub fn not_before_in(self, secs: i64) -> Self {
        self.claim("nbf", now() + secs)
    }

    /// `iat` = now + `secs`.
    pub fn issued_in(self, secs: i64) -> Self {
        self.claim("iat", now() + secs)
    }

    /// The signing input (`b64(header).b64(claims)`).
    #[must_use]
    pub fn signing_input(&self) -> String {
        let header = self
            .raw_header
            .clone()
            .unwrap_or_else(|| Value::Object(self.header.clone()).to_string());
        let claims = self
            .raw_claims
            .clone()
            .unwrap_or_else(|| Value::Object(self.claims.clone()).to_string());
        format!("{}.{}", b64url(header), b64url(claims))
    }

    /// Signs and returns the compact token.
    #[must_use]
    pub fn sign(&self) -> String {
        let input = self.signing_input();
        let sig = self.key.sign(self.alg, input.as_bytes());
        format!("{input}.{}", b64url(sig))
    }

    /// Signs with HMAC over an arbitrary secret (key-confusion attacks: e.g. the
    /// victim's public key PEM used as an HS256 secret).
    #[must_use]
    pub fn sign_hmac_with(&self, alg: Algorithm, secret: &[u8]) -> String {
        let input = self.signing_input();
        format!("{input}.{}", b64url(hmac(alg, secret, input.as_bytes())))
    }

    /// The token without a signature (`header.claims.`).
    #[must_use]
    pub fn unsigned(&self) -> String {
        format!("{}.", self.signing_input())
    }

    /// Broken: expired an hour ago.
    #[must_use]
    pub fn expired(&self) -> String {
        self.clone().expires_in(-3600).issued_in(-7200).sign()
    }

    /// Broken: for another audience.
    #[must_use]
    pub fn wrong_audience(&self) -> String {
        self.clone().audience("someone-else").sign()
    }

    /// Broken: a valid token with one signature byte flipped.
    #[must_use]
    pub fn bad_signature(&self) -> String {
        let input = self.signing_input();
        let mut sig = self.key.sign(self.alg, input.as_bytes());
        let mid = sig.len() / 2;
        if let Some(b) = sig.get_mut(mid) {
            *b ^= 0x01;
        }
        format!("{input}.{}", b64url(sig))
    }
}
