//! DPoP proofs (RFC 9449): verification, key binding, replay store, server nonces.
//!
//! A DPoP-bound access token carries `cnf.jkt`, the RFC 7638 thumbprint of the
//! client's key; every request then carries a fresh proof (a JWS signed with that key,
//! the public key in its `jwk` header) naming the method (`htm`), the URL (`htu`), a
//! time (`iat`), a unique `jti` and the hash of the access token (`ath`).
//!
//! [`DpopVerifier`] runs the checks of RFC 9449 §4.3, each with its own
//! [`DpopError`]: compact JWS, duplicate JSON members refused, `typ` `dpop+jwt`, `alg`
//! from an allow-list of asymmetric algorithms (ES256, ES384, EdDSA, RS256, PS256 by
//! default; never `none` nor HMAC), a public `jwk` (private members refused) that
//! verifies the signature, `htm`, `htu` (normalised: see [`normalize_htu`]), `iat`
//! within a window (60 s back, 5 s ahead by default), `jti`, `ath`, and, when nonces
//! are on ([`NonceIssuer`]), a fresh server nonce. [`check_binding`] compares the
//! proof's thumbprint with the token's `cnf.jkt`; [`check_bearer`] refuses a bound
//! token sent as `Bearer`. [`DpopVerifier::remember`] records (jkt, jti) in the
//! [`ReplayStore`] (bounded in memory by default, [`MemoryReplayStore`]); a full store
//! refuses (503), it never lets a proof through unchecked.
//!
//! # Example
//!
//! ```
//! use tollgate_core::dpop::{DpopVerifier, ProofRequest, check_binding};
//! use tollgate_core::error::DpopError;
//! use tollgate_testkit::{DpopProof, TestKey, now};
//!
//! let client = TestKey::p256("client");
//! let verifier = DpopVerifier::builder().build()?;
//! let token = "eyJ.example.token";
//! let proof = DpopProof::new(&client, "GET", "https://api.example/orders")
//!     .access_token(token)
//!     .sign();
//! let request = ProofRequest::new("GET", "https://API.example:443/orders?page=2")
//!     .access_token(token);
//!
//! // accepted: same method, same URL once normalised, right token hash
//! let verified = verifier.verify(&proof, &request, now())?;
//! let cnf = serde_json::json!({ "jkt": verified.jkt() });
//! check_binding(Some(&cnf), &verified)?;
//!
//! // rejected: the same proof for another URL
//! let other = ProofRequest::new("GET", "https://api.example/admin").access_token(token);
//! assert_eq!(verifier.verify(&proof, &other, now()).unwrap_err(), DpopError::UrlMismatch);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod nonce;
mod replay;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

pub use nonce::NonceIssuer;
pub use replay::{MemoryReplayStore, ReplayFuture, ReplayKey, ReplayStore, ReplayStoreConfig};

use crate::alg::{Algorithm, AlgorithmSet, KeyFamily};
use crate::claims::DateField;
use crate::error::{BuildError, DpopError, RequestError};
use crate::json::{NotUnique, StrField, check_unique_members};
use crate::keys::Key;

/// Default cap on a proof's length, in bytes (an RSA 8192 `jwk` fits well within).
pub const DEFAULT_MAX_PROOF_LEN: usize = 8 * 1024;
/// Default acceptance window into the past: a proof's `iat` at most this old.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(60);
/// Default acceptance window into the future: a proof's `iat` at most this far ahead.
pub const DEFAULT_MAX_FUTURE: Duration = Duration::from_secs(5);

/// The default DPoP algorithm allow-list: ES256, ES384, EdDSA, RS256, PS256.
#[must_use]
pub const fn default_algorithms() -> AlgorithmSet {
    AlgorithmSet::empty()
        .with(Algorithm::ES256)
        .with(Algorithm::ES384)
        .with(Algorithm::EdDSA)
        .with(Algorithm::RS256)
        .with(Algorithm::PS256)
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Builder of a [`DpopVerifier`] (from [`DpopVerifier::builder`]).
#[derive(Debug, Clone)]
#[must_use]
pub struct DpopVerifierBuilder {
    algorithms: AlgorithmSet,
    max_age: Duration,
    max_future: Duration,
    max_proof_len: usize,
    replay: Option<Arc<dyn ReplayStore>>,
    nonces: Option<NonceIssuer>,
}

impl Default for DpopVerifierBuilder {
    fn default() -> Self {
        DpopVerifierBuilder {
            algorithms: default_algorithms(),
            max_age: DEFAULT_MAX_AGE,
            max_future: DEFAULT_MAX_FUTURE,
            max_proof_len: DEFAULT_MAX_PROOF_LEN,
            replay: None,
            nonces: None,
        }
    }
}

impl DpopVerifierBuilder {
    /// Replaces the algorithm allow-list. HMAC algorithms are never accepted for
    /// proofs: listing only those fails the build.
    pub fn algorithms(mut self, algs: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algs.into_iter().collect();
        self
    }

    /// How old a proof's `iat` may be (default 60 s). Replay entries live this long.
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = age;
        self
    }

    /// How far in the future a proof's `iat` may be (default 5 s).
    pub fn max_future(mut self, ahead: Duration) -> Self {
        self.max_future = ahead;
        self
    }

    /// Cap on the proof length in bytes (default 8 KiB), checked before decoding.
    pub fn max_proof_len(mut self, len: usize) -> Self {
        self.max_proof_len = len;
        self
    }

    /// The replay store (default: a [`MemoryReplayStore`] with its default bounds).
    pub fn replay_store(mut self, store: impl ReplayStore) -> Self {
        self.replay = Some(Arc::new(store));
        self
    }

    /// Requires proofs to carry a fresh server nonce issued by `nonces` (off by
    /// default).
    pub fn nonces(mut self, nonces: NonceIssuer) -> Self {
        self.nonces = Some(nonces);
        self
    }

    /// Checks the configuration.
    ///
    /// # Errors
    ///
    /// [`BuildError::DpopAlgorithms`] when no asymmetric algorithm is allowed.
    pub fn build(self) -> Result<DpopVerifier, BuildError> {
        let algorithms: AlgorithmSet = self
            .algorithms
            .iter()
            .filter(|a| a.family() != KeyFamily::Hmac)
            .collect();
        if algorithms.is_empty() || algorithms != self.algorithms {
            return Err(BuildError::DpopAlgorithms);
        }
        Ok(DpopVerifier {
            inner: Arc::new(Inner {
                algorithms,
                max_age: secs(self.max_age),
                max_future: secs(self.max_future),
                max_proof_len: self.max_proof_len,
                replay: self
                    .replay
                    .unwrap_or_else(|| Arc::new(MemoryReplayStore::default())),
                nonces: self.nonces,
            }),
        })
    }
}

/// Verifies DPoP proofs; see the [module docs](self). Cloning is cheap (clones share
/// the replay store).
#[derive(Clone)]
pub struct DpopVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    algorithms: AlgorithmSet,
    max_age: i64,
    max_future: i64,
    max_proof_len: usize,
    replay: Arc<dyn ReplayStore>,
    nonces: Option<NonceIssuer>,
}

impl fmt::Debug for DpopVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopVerifier")
            .field("algorithms", &self.inner.algorithms)
            .field("max_age", &self.inner.max_age)
            .field("max_future", &self.inner.max_future)
            .field("max_proof_len", &self.inner.max_proof_len)
            .field("replay", &self.inner.replay)
            .field("nonces", &self.inner.nonces.is_some())
            .finish()
    }
}

/// What a proof must match: the request's method and URL and, when a token is
/// presented, the token (for `ath`).
#[derive(Debug, Clone, Copy)]
#[must_use]
pub struct ProofRequest<'a> {
    method: &'a str,
    url: &'a str,
    access_token: Option<&'a str>,
}

impl<'a> ProofRequest<'a> {
    /// A request to `method` `url` (the absolute URL the client called; it is
    /// normalised with [`normalize_htu`] before comparison).
    pub fn new(method: &'a str, url: &'a str) -> Self {
        ProofRequest {
            method,
            url,
            access_token: None,
        }
    }

    /// The access token presented with the proof: `ath` becomes required and must be
    /// its hash.
    pub fn access_token(mut self, token: &'a str) -> Self {
        self.access_token = Some(token);
        self
    }
}

/// A proof that passed [`DpopVerifier::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedProof {
    jkt: String,
    jti: String,
    iat: i64,
}

impl VerifiedProof {
    /// The RFC 7638 SHA-256 thumbprint of the proof's key, base64url.
    #[must_use]
    pub fn jkt(&self) -> &str {
        &self.jkt
    }

    /// The proof's `jti`.
    #[must_use]
    pub fn jti(&self) -> &str {
        &self.jti
    }

    /// The proof's `iat`.
    #[must_use]
    pub fn iat(&self) -> i64 {
        self.iat
    }

    /// The key under which the replay store remembers this proof.
    #[must_use]
    pub fn replay_key(&self) -> ReplayKey {
        ReplayKey::new(&self.jkt, &self.jti)
    }
}

#[derive(Deserialize)]
struct HeaderDto<'a> {
    #[serde(borrow, default)]
    alg: Option<StrField<'a>>,
    #[serde(borrow, default)]
    typ: Option<StrField<'a>>,
    #[serde(default)]
    jwk: Option<serde_json::Value>,
    #[serde(default)]
    crit: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    b64: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct ClaimsDto<'a> {
    #[serde(borrow, default)]
    jti: Option<StrField<'a>>,
    #[serde(borrow, default)]
    htm: Option<StrField<'a>>,
    #[serde(borrow, default)]
    htu: Option<StrField<'a>>,
    #[serde(default)]
    iat: Option<DateField>,
    #[serde(borrow, default)]
    ath: Option<StrField<'a>>,
    #[serde(borrow, default)]
    nonce: Option<StrField<'a>>,
}

fn string<'a>(f: &'a Option<StrField<'_>>, name: &'static str) -> Result<&'a str, DpopError> {
    match f {
        Some(StrField::Str(s)) => Ok(s),
        Some(StrField::Invalid) => Err(DpopError::InvalidClaim(name)),
        None => Err(DpopError::MissingClaim(name)),
    }
}

fn unique(json: &[u8], in_header: bool) -> Result<(), DpopError> {
    // an object, not an array (serde would read a struct from a sequence)
    if json.trim_ascii_start().first() != Some(&b'{') {
        return Err(DpopError::Malformed);
    }
    check_unique_members(json).map_err(|e| match e {
        NotUnique::Duplicate => DpopError::DuplicateMember { in_header },
        NotUnique::Invalid => DpopError::Malformed,
    })
}

/// Private JWK members (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// base64url(SHA-256(access token)): the `ath` of RFC 9449 §4.2.
#[must_use]
pub fn access_token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        token.as_bytes(),
    ))
}

/// The RFC 7638 JWK thumbprint (SHA-256, base64url) of a public JWK: the required
/// members in lexicographic order (`EC`: crv, kty, x, y; `RSA`: e, kty, n; `OKP`:
/// crv, kty, x), as given. `None` when a required member is absent or not a string,
/// or the key type is not one of these.
#[must_use]
pub fn jwk_thumbprint(jwk: &serde_json::Value) -> Option<String> {
    let members: &[&str] = match jwk.get("kty")?.as_str()? {
        "EC" => &["crv", "kty", "x", "y"],
        "RSA" => &["e", "kty", "n"],
        "OKP" => &["crv", "kty", "x"],
        _ => return None,
    };
    let mut out = String::from("{");
    for (i, m) in members.iter().enumerate() {
        let v = jwk.get(*m)?.as_str()?;
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        out.push_str(m);
        out.push_str("\":");
        // serializing a &str cannot fail
        out.push_str(&serde_json::to_string(v).ok()?);
    }
    out.push('}');
    Some(URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        out.as_bytes(),
    )))
}

impl DpopVerifier {
    /// Starts a builder with the defaults.
    pub fn builder() -> DpopVerifierBuilder {
        DpopVerifierBuilder::default()
    }

    /// The algorithm allow-list (for the `algs` challenge parameter).
    #[must_use]
    pub fn algorithms(&self) -> AlgorithmSet {
        self.inner.algorithms
    }

    /// The nonce issuer, when nonces are required.
    #[must_use]
    pub fn nonces(&self) -> Option<&NonceIssuer> {
        self.inner.nonces.as_ref()
    }

    /// The replay store.
    #[must_use]
    pub fn replay_store(&self) -> &Arc<dyn ReplayStore> {
        &self.inner.replay
    }

    /// The stateless checks of RFC 9449 §4.3 on one proof, as of `now` (seconds since
    /// the epoch). The replay check is separate: [`Self::remember`], once the token
    /// is verified and bound.
    ///
    /// # Errors
    ///
    /// The [`DpopError`] of the first check that failed.
    pub fn verify(
        &self,
        proof: &str,
        request: &ProofRequest<'_>,
        now: i64,
    ) -> Result<VerifiedProof, DpopError> {
        let c = &*self.inner;
        if proof.len() > c.max_proof_len {
            return Err(DpopError::TooLong {
                len: proof.len(),
                max: c.max_proof_len,
            });
        }
        let mut it = proof.splitn(4, '.');
        let (Some(h), Some(p), Some(s), None) = (it.next(), it.next(), it.next(), it.next()) else {
            return Err(DpopError::Malformed);
        };
        if s.is_empty() {
            return Err(DpopError::Malformed);
        }
        let decode = |seg: &str| {
            URL_SAFE_NO_PAD
                .decode(seg)
                .map_err(|_| DpopError::Malformed)
        };
        let header_json = decode(h)?;
        unique(&header_json, true)?;
        let header: HeaderDto<'_> =
            serde_json::from_slice(&header_json).map_err(|_| DpopError::Malformed)?;
        match &header.typ {
            Some(StrField::Str(t))
                if t.eq_ignore_ascii_case("dpop+jwt")
                    || t.eq_ignore_ascii_case("application/dpop+jwt") => {}
            _ => return Err(DpopError::WrongType),
        }
        let alg = match &header.alg {
            Some(StrField::Str(a)) => a
                .parse::<Algorithm>()
                .map_err(|_| DpopError::AlgorithmNotAllowed)?,
            _ => return Err(DpopError::AlgorithmNotAllowed),
        };
        if !c.algorithms.contains(alg) || alg.family() == KeyFamily::Hmac {
            return Err(DpopError::AlgorithmNotAllowed);
        }
        if header.crit.is_some() || header.b64.is_some() {
            return Err(DpopError::UnsupportedCritical);
        }
        let jwk = match &header.jwk {
            Some(j @ serde_json::Value::Object(o)) => {
                if PRIVATE_MEMBERS.iter().any(|m| o.contains_key(*m)) {
                    return Err(DpopError::PrivateKey);
                }
                j
            }
            _ => return Err(DpopError::MissingJwk),
        };
        let key = Key::from_jwk(jwk).map_err(|_| DpopError::InvalidJwk)?;
        if !key.is_compatible(alg) {
            return Err(DpopError::InvalidJwk);
        }
        let jkt = jwk_thumbprint(jwk).ok_or(DpopError::InvalidJwk)?;

        // signature before any claim: nothing unauthenticated steers the answer
        let signature = decode(s)?;
        let length_ok = match alg.fixed_signature_len() {
            Some(len) => signature.len() == len,
            None => key.rsa_len() == 0 || key.rsa_len() == signature.len(),
        };
        if !length_ok {
            return Err(DpopError::BadSignature);
        }
        let signing_input = &proof[..h.len() + 1 + p.len()];
        // the proof key's pre-parsed aws-lc form, on the bytes decoded once
        if !key.verify_sig(alg, signing_input.as_bytes(), &signature) {
            return Err(DpopError::BadSignature);
        }

        let payload = decode(p)?;
        unique(&payload, false)?;
        let claims: ClaimsDto<'_> =
            serde_json::from_slice(&payload).map_err(|_| DpopError::Malformed)?;
        let jti = string(&claims.jti, "jti")?;
        if jti.is_empty() {
            return Err(DpopError::InvalidClaim("jti"));
        }
        let htm = string(&claims.htm, "htm")?;
        if htm != request.method {
            return Err(DpopError::MethodMismatch);
        }
        let htu = string(&claims.htu, "htu")?;
        let htu = normalize_htu(htu).ok_or(DpopError::InvalidClaim("htu"))?;
        if normalize_htu(request.url).as_deref() != Some(htu.as_str()) {
            return Err(DpopError::UrlMismatch);
        }
        let iat = match claims.iat {
            None => return Err(DpopError::MissingClaim("iat")),
            Some(DateField::Invalid) => return Err(DpopError::InvalidClaim("iat")),
            Some(DateField::Ok(d)) => d.as_secs(),
        };
        if now.saturating_sub(iat) > c.max_age {
            return Err(DpopError::IssuedTooLongAgo { iat, now });
        }
        if iat.saturating_sub(now) > c.max_future {
            return Err(DpopError::IssuedInFuture { iat, now });
        }
        if let Some(token) = request.access_token {
            let ath = string(&claims.ath, "ath")?;
            if ath != access_token_hash(token) {
                return Err(DpopError::AccessTokenHashMismatch);
            }
        }
        if let Some(nonces) = &c.nonces {
            match &claims.nonce {
                None => return Err(DpopError::NonceRequired),
                Some(StrField::Str(n)) if nonces.check(n, now) => {}
                Some(_) => return Err(DpopError::NonceInvalid),
            }
        }
        Ok(VerifiedProof {
            jkt,
            jti: jti.to_owned(),
            iat,
        })
    }

    /// The same verifier with another replay store (e.g. one shared by replicas);
    /// the other settings are kept.
    #[must_use]
    pub fn with_replay_store(&self, store: Arc<dyn ReplayStore>) -> DpopVerifier {
        let i = &self.inner;
        DpopVerifier {
            inner: Arc::new(Inner {
                algorithms: i.algorithms,
                max_age: i.max_age,
                max_future: i.max_future,
                max_proof_len: i.max_proof_len,
                replay: store,
                nonces: i.nonces.clone(),
            }),
        }
    }

    /// Records the proof in the replay store: [`DpopError::Replayed`] when its key and
    /// `jti` were seen within the window, [`DpopError::ReplayStoreFull`] /
    /// [`DpopError::ReplayStoreUnavailable`] (503) when the store cannot answer. The
    /// entry lives until the proof would be too old anyway (`iat` + max age).
    pub fn remember(&self, proof: &VerifiedProof, now: i64) -> ReplayFuture {
        let expires_at = proof
            .iat
            .saturating_add(self.inner.max_age)
            .saturating_add(1);
        self.inner
            .replay
            .check_and_insert(proof.replay_key(), expires_at, now)
    }
}

/// The `jkt` of a token's `cnf` claim: `Ok(None)` when there is no `cnf.jkt`,
/// [`DpopError::KeyMismatch`] when `cnf.jkt` is not a string.
pub fn token_jkt(cnf: Option<&serde_json::Value>) -> Result<Option<&str>, DpopError> {
    match cnf.and_then(|c| c.get("jkt")) {
        None => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(DpopError::KeyMismatch),
    }
}

/// The binding rule for a token presented with the `DPoP` scheme: it must carry
/// `cnf.jkt` ([`DpopError::UnboundToken`] otherwise), equal to the proof's key
/// thumbprint ([`DpopError::KeyMismatch`] otherwise).
///
/// # Errors
///
/// As above.
pub fn check_binding(
    cnf: Option<&serde_json::Value>,
    proof: &VerifiedProof,
) -> Result<(), DpopError> {
    match token_jkt(cnf)? {
        None => Err(DpopError::UnboundToken),
        Some(jkt) if jkt == proof.jkt => Ok(()),
        Some(_) => Err(DpopError::KeyMismatch),
    }
}

/// The binding rule for a token presented with the `Bearer` scheme: a token bound to
/// a DPoP key (`cnf.jkt`) is refused ([`DpopError::BoundTokenAsBearer`]).
///
/// # Errors
///
/// As above.
pub fn check_bearer(cnf: Option<&serde_json::Value>) -> Result<(), DpopError> {
    match cnf.and_then(|c| c.get("jkt")) {
        None => Ok(()),
        Some(_) => Err(DpopError::BoundTokenAsBearer),
    }
}

/// Normalises an `htu` or request URL for comparison (RFC 9449 §4.3 step 9, RFC 3986
/// §6.2.2–6.2.3): scheme and host lowercased, the default port (80 for `http`, 443
/// for `https`) dropped, an empty path made `/`, percent-encodings uppercased and
/// unreserved characters decoded, query and fragment removed. `None` for anything
/// that is not an absolute `http`/`https` URL without user information. Dot segments
/// are not resolved: a proof naming `/a/../b` for `/b` is refused.
///
/// ```
/// use tollgate_core::dpop::normalize_htu;
/// assert_eq!(normalize_htu("HTTPS://Api.Example:443/a%7eb?x=1#f").as_deref(), Some("https://api.example/a~b"));
/// assert_eq!(normalize_htu("http://api.example:8080").as_deref(), Some("http://api.example:8080/"));
/// assert_eq!(normalize_htu("ftp://api.example/"), None);
/// ```
#[must_use]
pub fn normalize_htu(url: &str) -> Option<String> {
    let url = url.split('#').next().unwrap_or_default();
    let url = url.split('?').next().unwrap_or_default();
    let uri: http::Uri = url.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let authority = uri.authority()?;
    if authority.as_str().contains('@') {
        return None;
    }
    let host = authority.host().to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(url.len());
    out.push_str(&scheme);
    out.push_str("://");
    out.push_str(&host);
    match authority.port_u16() {
        Some(p) if p != default_port => {
            out.push(':');
            out.push_str(&p.to_string());
        }
        _ => {}
    }
    let path = uri.path();
    if path.is_empty() {
        out.push('/');
    } else {
        normalize_percent(path, &mut out)?;
    }
    Some(out)
}

fn normalize_percent(path: &str, out: &mut String) -> Option<()> {
    let b = path.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = path.get(i + 1..i + 3)?;
            let v = u8::from_str_radix(hex, 16).ok()?;
            if v.is_ascii_alphanumeric() || matches!(v, b'-' | b'.' | b'_' | b'~') {
                out.push(char::from(v));
            } else {
                out.push('%');
                out.push_str(&hex.to_ascii_uppercase());
            }
            i += 3;
        } else {
            out.push(char::from(b[i]));
            i += 1;
        }
    }
    Some(())
}

/// The public base URL of a service behind a proxy (scheme, host, port and an
/// optional path prefix), from which the expected `htu` of each request is built.
///
/// ```
/// use tollgate_core::dpop::PublicUrl;
/// let base = PublicUrl::parse("https://API.example/orders-svc/").unwrap();
/// assert_eq!(base.htu("/orders"), "https://api.example/orders-svc/orders");
/// assert!(PublicUrl::parse("https://api.example/?q=1").is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    /// Normalised, without a trailing `/`.
    base: Box<str>,
}

impl PublicUrl {
    /// Parses an absolute `http`/`https` URL without query, fragment or user info.
    #[must_use]
    pub fn parse(url: &str) -> Option<Self> {
        if url.contains(['?', '#']) {
            return None;
        }
        let n = normalize_htu(url)?;
        Some(PublicUrl {
            base: n.trim_end_matches('/').into(),
        })
    }

    /// The expected `htu` of a request whose path (as received) is `path`.
    #[must_use]
    pub fn htu(&self, path: &str) -> String {
        let mut out = String::with_capacity(self.base.len() + path.len() + 1);
        out.push_str(&self.base);
        if !path.starts_with('/') {
            out.push('/');
        }
        out.push_str(path);
        out
    }
}

impl fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base)
    }
}

/// The credentials of a request whose gate accepts DPoP: the scheme and the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presented<'a> {
    /// `Authorization: Bearer <token>`.
    Bearer(&'a str),
    /// `Authorization: DPoP <token>`.
    Dpop(&'a str),
}

fn is_token68_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
}

/// Reads the one `Authorization` header of a request under either scheme
/// (case-insensitive), with the rules of [`crate::bearer::extract_bearer`]: none or
/// another scheme is [`RequestError::Missing`], two headers
/// [`RequestError::MultipleAuthorization`], a broken value [`RequestError::Malformed`].
///
/// ```
/// use http::{HeaderMap, HeaderValue, header::AUTHORIZATION};
/// use tollgate_core::dpop::{Presented, extract_authorization};
///
/// let mut h = HeaderMap::new();
/// h.insert(AUTHORIZATION, HeaderValue::from_static("dpop a.b.c"));
/// assert_eq!(extract_authorization(&h), Ok(Presented::Dpop("a.b.c")));
/// h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer a.b.c"));
/// assert_eq!(extract_authorization(&h), Ok(Presented::Bearer("a.b.c")));
/// ```
pub fn extract_authorization(headers: &http::HeaderMap) -> Result<Presented<'_>, RequestError> {
    let mut values = headers.get_all(http::header::AUTHORIZATION).into_iter();
    let Some(value) = values.next() else {
        return Err(RequestError::Missing);
    };
    if values.next().is_some() {
        return Err(RequestError::MultipleAuthorization);
    }
    let value = value.as_bytes();
    if value.len() >= 4 && value[..4].eq_ignore_ascii_case(b"dpop") {
        let rest = &value[4..];
        if rest.is_empty() {
            return Err(RequestError::Malformed);
        }
        if rest[0] != b' ' {
            return Err(RequestError::Missing);
        }
        let spaces = rest.iter().take_while(|&&b| b == b' ').count();
        let token = &rest[spaces..];
        let body = token.iter().take_while(|&&b| is_token68_char(b)).count();
        if body == 0 || token[body..].iter().any(|&b| b != b'=') {
            return Err(RequestError::Malformed);
        }
        return std::str::from_utf8(token)
            .map(Presented::Dpop)
            .map_err(|_| RequestError::Malformed);
    }
    crate::bearer::parse_authorization(value).map(Presented::Bearer)
}

/// The one `DPoP` proof header of a request: [`DpopError::MissingProof`] when absent,
/// [`DpopError::MultipleProofs`] when repeated, [`DpopError::Malformed`] when not
/// visible ASCII.
pub fn extract_proof(headers: &http::HeaderMap) -> Result<&str, DpopError> {
    let mut values = headers.get_all("dpop").into_iter();
    let Some(value) = values.next() else {
        return Err(DpopError::MissingProof);
    };
    if values.next().is_some() {
        return Err(DpopError::MultipleProofs);
    }
    value.to_str().map_err(|_| DpopError::Malformed)
}

#[cfg(test)]
mod tests;
