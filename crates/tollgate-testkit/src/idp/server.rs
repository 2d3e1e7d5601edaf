//! Shared state and the HTTP endpoints.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use base64::Engine as _;
use serde_json::{Value, json};
use tollgate_core::alg::Algorithm;

use super::config::{Client, IdpConfig};
use super::error::OAuthError;
use super::grants::{self, Params};
use super::http::{Request, Response, form_decode, parse_form};
use super::keys::{self, KeyRing};
use super::tokens::{Record, TokenStore};
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
}

impl State {
    pub(crate) fn new(issuer: String, config: IdpConfig) -> Self {
        let ring = KeyRing::new(config.algorithm, config.rotation_grace);
        State {
            issuer,
            config,
            keys: Mutex::new(ring),
            tokens: Mutex::new(TokenStore::default()),
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
        lock(&self.tokens).revoke(token, client)
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
        let auth = ["client_secret_basic", "client_secret_post"];
        json!({
            "issuer": self.issuer,
            "token_endpoint": self.url(TOKEN_PATH),
            "jwks_uri": self.url(JWKS_PATH),
            "introspection_endpoint": self.url(INTROSPECT_PATH),
            "revocation_endpoint": self.url(REVOKE_PATH),
            "grant_types_supported": ["client_credentials"],
            "response_types_supported": [],
            "token_endpoint_auth_methods_supported": auth,
            "introspection_endpoint_auth_methods_supported": auth,
            "revocation_endpoint_auth_methods_supported": auth,
            "scopes_supported": scopes,
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

/// Client authentication: `client_secret_basic` or `client_secret_post`, exactly one.
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
    let client = authenticate(state, req, params)?;
    let grant = grants::dispatch(client, params)?;
    let issued = grants::issue(state, client, grant);
    Ok(Response::json(200, &issued.to_json()).no_store())
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
            "token_type": "Bearer",
            "jti": r.jti,
        }),
    };
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
