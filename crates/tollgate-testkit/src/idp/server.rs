//! Shared state and the HTTP endpoints.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use base64::Engine as _;
use serde_json::{Value, json};
use tollgate_core::alg::Algorithm;
use tollgate_core::dpop::{DpopVerifier, ProofRequest};
use tollgate_core::error::DpopError;

use super::config::{Client, IdpConfig};
use super::error::OAuthError;
use super::grants::{self, Params};
use super::http::{Request, Response, form_decode, parse_form};
use super::keys::{self, KeyRing};
use super::tokens::{Record, RefreshRecord, RefreshRefusal, TokenStore};
use crate::{TestKey, now};

/// Paths of the endpoints (relative to the issuer).
pub(crate) const TOKEN_PATH: &str = "/token";
pub(crate) const JWKS_PATH: &str = "/jwks";
pub(crate) const INTROSPECT_PATH: &str = "/introspect";
pub(crate) const REVOKE_PATH: &str = "/revoke";
pub(crate) const ROTATE_PATH: &str = "/admin/rotate";
pub(crate) const ADMIN_REVOKE_PATH: &str = "/admin/revoke";
pub(crate) const OIDC_PATH: &str = "/.well-known/openid-configuration";
pub(crate) const OAUTH_PATH: &str = "/.well-known/oauth-authorization-server";

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Everything the endpoints share.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) issuer: String,
    pub(crate) config: IdpConfig,
    keys: Mutex<KeyRing>,
    tokens: Mutex<TokenStore>,
    /// `jti`s of `private_key_jwt` assertions seen (each is accepted once).
    assertion_jtis: Mutex<HashSet<String>>,
    /// DPoP proofs at the token endpoint (with nonces when configured).
    pub(crate) dpop: DpopVerifier,
}

impl State {
    pub(crate) fn new(issuer: String, config: IdpConfig, dpop: DpopVerifier) -> Self {
        let ring = KeyRing::new(config.algorithm, config.rotation_grace);
        State {
            dpop,
            issuer,
            config,
            keys: Mutex::new(ring),
            tokens: Mutex::new(TokenStore::default()),
            assertion_jtis: Mutex::new(HashSet::new()),
        }
    }

    pub(crate) fn client(&self, id: &str) -> Option<&Client> {
        self.config.clients.iter().find(|c| c.id == id)
    }

    pub(crate) fn signing_key(&self) -> (TestKey, Algorithm) {
        let ring = lock(&self.keys);
        (ring.signing_key().clone(), ring.alg())
    }

    /// Rotates now (the new next key is generated outside the lock); returns the new
    /// signing kid.
    pub(crate) fn rotate(&self) -> String {
        let (alg, generation) = {
            let ring = lock(&self.keys);
            (ring.alg(), ring.next_generation())
        };
        let fresh = keys::generate(alg, generation);
        lock(&self.keys).rotate(fresh, Instant::now())
    }

    pub(crate) fn published_kids(&self) -> Vec<String> {
        lock(&self.keys)
            .published(Instant::now())
            .iter()
            .map(|k| k.kid().to_owned())
            .collect()
    }

    pub(crate) fn jwks(&self) -> (Value, String) {
        lock(&self.keys).jwks(Instant::now())
    }

    pub(crate) fn remember(&self, token: String, record: Record, now: i64) {
        lock(&self.tokens).insert(token, record, now);
    }

    pub(crate) fn introspect(&self, token: &str) -> Option<Record> {
        lock(&self.tokens).active(token, now()).cloned()
    }

    pub(crate) fn revoke(&self, token: &str, client: Option<&str>) -> bool {
        let mut store = lock(&self.tokens);
        store.revoke(token, client) || store.revoke_refresh(token, client)
    }

    pub(crate) fn remember_refresh(&self, token: String, record: RefreshRecord, now: i64) {
        lock(&self.tokens).insert_refresh(token, record, now);
    }

    pub(crate) fn use_refresh(
        &self,
        token: &str,
        client_id: &str,
    ) -> Result<RefreshRecord, RefreshRefusal> {
        lock(&self.tokens).use_refresh(token, client_id, now())
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    fn metadata(&self) -> Value {
        let mut scopes: Vec<&str> = self
            .config
            .clients
            .iter()
            .flat_map(|c| c.scopes.iter().map(String::as_str))
            .collect();
        scopes.sort_unstable();
        scopes.dedup();
        let auth = [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
        ];
        json!({
            "issuer": self.issuer,
            "token_endpoint": self.url(TOKEN_PATH),
            "jwks_uri": self.url(JWKS_PATH),
            "introspection_endpoint": self.url(INTROSPECT_PATH),
            "revocation_endpoint": self.url(REVOKE_PATH),
            "grant_types_supported":
                ["client_credentials", "refresh_token", grants::TOKEN_EXCHANGE],
            "token_endpoint_auth_signing_alg_values_supported":
                ["RS256", "PS256", "ES256", "ES384", "EdDSA"],
            "response_types_supported": [],
            "token_endpoint_auth_methods_supported": auth,
            "introspection_endpoint_auth_methods_supported": auth,
            "revocation_endpoint_auth_methods_supported": auth,
            "scopes_supported": scopes,
            "dpop_signing_alg_values_supported": self
                .dpop
                .algorithms()
                .iter()
                .map(|a| a.as_str())
                .collect::<Vec<_>>(),
            "service_documentation":
                "tollgate-dev-idp: a development identity provider. NOT FOR PRODUCTION.",
        })
    }
}

/// Routes one request.
pub(crate) fn handle(state: &State, req: &Request) -> Response {
    let (get, post) = (
        req.method == "GET" || req.method == "HEAD",
        req.method == "POST",
    );
    let response = match req.path.as_str() {
        OIDC_PATH | OAUTH_PATH if get => Response::json(200, &state.metadata()),
        JWKS_PATH if get => jwks(state, req),
        TOKEN_PATH if post => form_endpoint(req, |p| token(state, req, p)),
        INTROSPECT_PATH if post => form_endpoint(req, |p| introspect(state, req, p)),
        REVOKE_PATH if post => form_endpoint(req, |p| revoke(state, req, p)),
        ROTATE_PATH if post => {
            let kid = state.rotate();
            Response::json(
                200,
                &json!({"kid": kid, "published": state.published_kids()}),
            )
        }
        ADMIN_REVOKE_PATH if post => form_endpoint(req, |p| {
            let token = p
                .one("token")?
                .ok_or_else(|| OAuthError::invalid_request("Parameter token is missing"))?;
            Ok(Response::json(
                200,
                &json!({"revoked": state.revoke(token, None)}),
            ))
        }),
        OIDC_PATH | OAUTH_PATH | JWKS_PATH => Response::empty(405).header("Allow", "GET"),
        TOKEN_PATH | INTROSPECT_PATH | REVOKE_PATH | ROTATE_PATH | ADMIN_REVOKE_PATH => {
            Response::empty(405).header("Allow", "POST")
        }
        _ => Response::empty(404),
    };
    if req.method == "HEAD" {
        Response {
            body: Vec::new(),
            ..response
        }
    } else {
        response
    }
}

/// A POST endpoint taking `application/x-www-form-urlencoded` parameters.
fn form_endpoint(
    req: &Request,
    f: impl FnOnce(&Params) -> Result<Response, OAuthError>,
) -> Response {
    let form = req
        .header("content-type")
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|ct| {
            ct.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form {
        return OAuthError::invalid_request("The body must be application/x-www-form-urlencoded")
            .response();
    }
    let Some(params) = parse_form(&req.body) else {
        return OAuthError::invalid_request("The form body is malformed").response();
    };
    f(&Params(params)).unwrap_or_else(|e| e.response())
}

/// `client_assertion_type` of RFC 7523 §2.2.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Client authentication: `client_secret_basic`, `client_secret_post` or
/// `private_key_jwt` (RFC 7523), exactly one.
pub(crate) fn authenticate<'s>(
    state: &'s State,
    req: &Request,
    params: &Params,
) -> Result<&'s Client, OAuthError> {
    if req.header_counts.get("authorization").copied().unwrap_or(0) > 1 {
        return Err(OAuthError::invalid_request(
            "More than one Authorization header",
        ));
    }
    if let Some(assertion) = params.one("client_assertion")? {
        if req.header("authorization").is_some() || params.one("client_secret")?.is_some() {
            return Err(OAuthError::invalid_request(
                "More than one client authentication method",
            ));
        }
        if params.one("client_assertion_type")? != Some(JWT_BEARER) {
            return Err(OAuthError::invalid_request(
                "Unsupported client_assertion_type",
            ));
        }
        return private_key_jwt(state, assertion, params.one("client_id")?);
    }
    let body_id = params.one("client_id")?;
    let body_secret = params.one("client_secret")?;
    let (id, secret) = match req.header("authorization") {
        Some(h) => {
            if body_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "More than one client authentication method",
                ));
            }
            let (id, secret) = basic_credentials(h).ok_or_else(OAuthError::invalid_client)?;
            if body_id.is_some_and(|b| b != id) {
                return Err(OAuthError::invalid_request(
                    "client_id differs from the authenticated client",
                ));
            }
            (id, secret)
        }
        None => match (body_id, body_secret) {
            (Some(id), Some(secret)) => (id.to_owned(), secret.to_owned()),
            _ => return Err(OAuthError::invalid_client()),
        },
    };
    let client = state.client(&id).ok_or_else(OAuthError::invalid_client)?;
    aws_lc_rs::constant_time::verify_slices_are_equal(client.secret.as_bytes(), secret.as_bytes())
        .map_err(|_| OAuthError::invalid_client())?;
    Ok(client)
}

/// RFC 7523 §3: `iss` = `sub` = a client with a registered public key, `aud` the token
/// endpoint (or the issuer), `exp` required, `jti` accepted once; verified by
/// tollgate-core's strict verifier.
fn private_key_jwt<'s>(
    state: &'s State,
    assertion: &str,
    client_id: Option<&str>,
) -> Result<&'s Client, OAuthError> {
    // the unverified iss names the key to verify with
    let payload = assertion
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|p| serde_json::from_slice::<Value>(&p).ok())
        .ok_or_else(OAuthError::invalid_client)?;
    let iss = payload["iss"]
        .as_str()
        .ok_or_else(OAuthError::invalid_client)?;
    if client_id.is_some_and(|c| c != iss) {
        return Err(OAuthError::invalid_client());
    }
    let client = state.client(iss).ok_or_else(OAuthError::invalid_client)?;
    let pem = client
        .jwt_public_key_pem
        .as_deref()
        .ok_or_else(OAuthError::invalid_client)?;
    // the registered key answers to whatever kid the assertion names
    let kid = assertion
        .split('.')
        .next()
        .and_then(|h| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(h)
                .ok()
        })
        .and_then(|h| serde_json::from_slice::<Value>(&h).ok())
        .and_then(|h| h["kid"].as_str().map(str::to_owned));
    let key = tollgate_core::Key::from_pem(kid.as_deref(), None, pem.as_bytes())
        .map_err(|_| OAuthError::invalid_client())?;
    let validation = tollgate_core::Validation::builder()
        .issuer(&client.id)
        .audience(state.url(TOKEN_PATH))
        .audience(&state.issuer)
        .algorithms([
            Algorithm::RS256,
            Algorithm::PS256,
            Algorithm::ES256,
            Algorithm::ES384,
            Algorithm::EdDSA,
        ])
        .profile(tollgate_core::TokenProfile::Permissive)
        .build()
        .map_err(|_| OAuthError::invalid_client())?;
    let claims = validation
        .verify::<()>(assertion, &tollgate_core::KeySet::from_keys([key]))
        .map_err(|_| OAuthError::invalid_client())?;
    if claims.sub.as_deref() != Some(client.id.as_str()) {
        return Err(OAuthError::invalid_client());
    }
    let jti = claims.jti.clone().ok_or_else(OAuthError::invalid_client)?;
    if !lock(&state.assertion_jtis).insert(jti) {
        return Err(OAuthError::invalid_client());
    }
    Ok(client)
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, value) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (id, secret) = raw.split_once(':')?;
    Some((form_decode(id)?, form_decode(secret)?))
}

fn token(state: &State, req: &Request, params: &Params) -> Result<Response, OAuthError> {
    // before anything is used up (a refresh token, an assertion jti)
    let jkt = dpop_proof(state, req)?;
    let client = authenticate(state, req, params)?;
    let mut grant = grants::dispatch(state, client, params)?;
    grant.jkt = jkt;
    let bound = grant.jkt.is_some();
    let issued = grants::issue(state, client, grant);
    let r = Response::json(200, &issued.to_json()).no_store();
    // a fresh nonce along with a DPoP answer (RFC 9449 §8.2)
    Ok(match state.dpop.nonces() {
        Some(n) if bound => r.header("DPoP-Nonce", n.mint(now())),
        _ => r,
    })
}

/// The token request's DPoP proof (RFC 9449 §5): none → `None` (a Bearer token);
/// one that passes tollgate-core's verifier (`htm` POST, `htu` the token endpoint, no
/// `ath`, a fresh nonce when configured, not replayed) → its key's thumbprint; else
/// 400 `invalid_dpop_proof` or `use_dpop_nonce`.
fn dpop_proof(state: &State, req: &Request) -> Result<Option<String>, OAuthError> {
    match req.header_counts.get("dpop").copied().unwrap_or(0) {
        0 => return Ok(None),
        1 => {}
        _ => {
            return Err(OAuthError::invalid_dpop_proof(
                "Exactly one DPoP proof is required",
            ));
        }
    }
    let proof = req.header("dpop").unwrap_or_default();
    let now = now();
    let url = state.url(TOKEN_PATH);
    let verified = state
        .dpop
        .verify(proof, &ProofRequest::new("POST", &url), now)
        .map_err(|e| match e {
            DpopError::NonceRequired | DpopError::NonceInvalid => {
                OAuthError::use_dpop_nonce(state.dpop.nonces().map(|n| n.mint(now)))
            }
            e => OAuthError::invalid_dpop_proof(e.to_string()),
        })?;
    match state.dpop.remember(&verified, now).now_or_never() {
        Some(Ok(())) => Ok(Some(verified.jkt().to_owned())),
        Some(Err(e)) => Err(OAuthError::invalid_dpop_proof(e.to_string())),
        None => Err(OAuthError::invalid_dpop_proof(
            "The DPoP proof cannot be checked right now",
        )),
    }
}

fn introspect(state: &State, req: &Request, params: &Params) -> Result<Response, OAuthError> {
    authenticate(state, req, params)?;
    let token = params
        .one("token")?
        .ok_or_else(|| OAuthError::invalid_request("Parameter token is missing"))?;
    let body = match state.introspect(token) {
        None => json!({"active": false}),
        Some(r) => json!({
            "active": true,
            "scope": r.scopes.join(" "),
            "client_id": r.client_id,
            "sub": r.sub,
            "exp": r.exp,
            "iat": r.iat,
            "iss": state.issuer,
            "aud": match r.aud.as_slice() {
                [one] => Value::from(one.as_str()),
                many => Value::from(many.to_vec()),
            },
            "token_type": if r.jkt.is_some() { "DPoP" } else { "Bearer" },
            "jti": r.jti,
        }),
    };
    let mut body = body;
    if let Some(r) = state.introspect(token) {
        if let Some(act) = r.act {
            body["act"] = act;
        }
        if let Some(jkt) = r.jkt {
            body["cnf"] = json!({ "jkt": jkt });
        }
    }
    Ok(Response::json(200, &body).no_store())
}

/// RFC 7009: a client revokes its own tokens; unknown tokens (or another client's)
/// are not an error.
fn revoke(state: &State, req: &Request, params: &Params) -> Result<Response, OAuthError> {
    let client = authenticate(state, req, params)?;
    let token = params
        .one("token")?
        .ok_or_else(|| OAuthError::invalid_request("Parameter token is missing"))?;
    state.revoke(token, Some(&client.id));
    Ok(Response::empty(200).no_store())
}

fn jwks(state: &State, req: &Request) -> Response {
    let (doc, etag) = state.jwks();
    let cache = format!("public, max-age={}", state.config.jwks_max_age.as_secs());
    let matched = req.header("if-none-match").is_some_and(|v| {
        v.split(',').any(|t| {
            let t = t.trim();
            t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag
        })
    });
    let r = if matched {
        Response::empty(304)
    } else {
        Response::json(200, &doc)
    };
    r.header("Cache-Control", cache).header("ETag", etag)
}
