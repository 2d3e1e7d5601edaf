//! The grant dispatch point and the token issuer.
//!
//! A grant turns an authenticated client and the request parameters into a [`Grant`]
//! (subject, scopes, audiences, extra claims); [`issue`] turns a grant into an access
//! token of the client's format. Adding a grant type means adding one arm to
//! [`dispatch`] and one function here. Supported:
//!
//! - `client_credentials` (RFC 6749 §4.4): `sub` = `client_id`, no refresh token.
//! - `refresh_token` (RFC 6749 §6) with rotation: each refresh token works once and is
//!   answered with a new one; presenting a used one again revokes its whole family
//!   (RFC 9700 §4.14.2). Refresh tokens come from
//!   [`DevIdp::user_token`](super::DevIdp::user_token) (a stand-in for an
//!   authorization-code sign-in, which this IdP does not implement). `scope` may
//!   narrow, never widen.
//! - `urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693): `subject_token` (an
//!   active access token issued here, `subject_token_type` access_token or jwt),
//!   optional `actor_token` (an active access token of the requesting client itself),
//!   `audience`/`resource` (at least one, each within the client's
//!   [`exchange_audiences`](super::Client::exchange_audiences), else `invalid_target`;
//!   a client with none is `unauthorized_client`), `scope` ⊆ the subject token's scopes
//!   (else `invalid_scope`; none: the subject's scopes), `requested_token_type` absent
//!   or access_token. The issued token keeps the subject's `sub`, has the client as
//!   `client_id`, never outlives the subject token, and carries
//!   `act: {"sub": <actor>, "act": <the subject token's act>}` when an actor token is
//!   given (without one, the subject token's `act` is carried over unchanged).

use serde_json::{Map, Value, json};

use super::config::{Client, TokenFormat, valid_scope_token};
use super::error::OAuthError;
use super::server::State;
use super::tokens::{Record, RefreshRecord, RefreshRefusal, random_token};
use crate::{b64url, now};

/// Request parameters (form body), with RFC 6749 §3.2's "at most once" rule.
#[derive(Debug, Default)]
pub(crate) struct Params(pub(crate) Vec<(String, String)>);

impl Params {
    /// The single value of `name`; twice is `invalid_request`.
    pub(crate) fn one(&self, name: &str) -> Result<Option<&str>, OAuthError> {
        let mut values = self.0.iter().filter(|(k, _)| k == name);
        let first = values.next().map(|(_, v)| v.as_str());
        if values.next().is_some() {
            return Err(OAuthError::invalid_request(format!(
                "Parameter {name} is repeated"
            )));
        }
        Ok(first)
    }

    /// Every value of a parameter that may repeat (`resource`, `audience`).
    pub(crate) fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What a grant decided; [`issue`] makes a token of it.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    /// `sub` (the client id for client credentials).
    pub(crate) subject: String,
    /// Granted scopes (each allowed for the client).
    pub(crate) scopes: Vec<String>,
    /// `aud` values (each allowed for the client).
    pub(crate) audiences: Vec<String>,
    /// More claims for JWTs (e.g. `act` for token exchange).
    pub(crate) extra_claims: Map<String, Value>,
    /// The token may not outlive this (token exchange: the subject token's `exp`).
    pub(crate) not_after: Option<i64>,
    /// Issue a refresh token along: `Some(family)` (a new family when empty).
    pub(crate) refresh_family: Option<String>,
    /// Answer with `issued_token_type` (token exchange).
    pub(crate) exchanged: bool,
    /// Bind the token to this DPoP key thumbprint (`cnf.jkt`, `token_type: DPoP`).
    pub(crate) jkt: Option<String>,
}

impl Grant {
    fn new(subject: String, scopes: Vec<String>, audiences: Vec<String>) -> Self {
        Grant {
            subject,
            scopes,
            audiences,
            extra_claims: Map::new(),
            not_after: None,
            refresh_family: None,
            exchanged: false,
            jkt: None,
        }
    }
}

/// The grant type URN of RFC 8693.
pub(crate) const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// RFC 8693 §3 token type identifiers accepted for subject and actor tokens.
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";

/// The grant dispatch point: one arm per supported `grant_type`.
pub(crate) fn dispatch(
    state: &State,
    client: &Client,
    params: &Params,
) -> Result<Grant, OAuthError> {
    match params.one("grant_type")? {
        None => Err(OAuthError::invalid_request(
            "Parameter grant_type is missing",
        )),
        Some("client_credentials") => client_credentials(client, params),
        Some("refresh_token") => refresh_token(state, client, params),
        Some(TOKEN_EXCHANGE) => token_exchange(state, client, params),
        Some(_) => Err(OAuthError::unsupported_grant_type()),
    }
}

/// RFC 6749 §6 with rotation: the presented refresh token is used up; the answer
/// carries a new one of the same family.
pub(crate) fn refresh_token(
    state: &State,
    client: &Client,
    params: &Params,
) -> Result<Grant, OAuthError> {
    let token = params
        .one("refresh_token")?
        .ok_or_else(|| OAuthError::invalid_request("Parameter refresh_token is missing"))?;
    let record = state.use_refresh(token, &client.id).map_err(|r| {
        OAuthError::invalid_grant(match r {
            RefreshRefusal::Unknown | RefreshRefusal::OtherClient => "The refresh token is invalid",
            RefreshRefusal::Expired => "The refresh token expired",
            RefreshRefusal::Reused => {
                "The refresh token was already used; its whole grant is revoked"
            }
            RefreshRefusal::FamilyRevoked => "The refresh token was revoked",
        })
    })?;
    let scopes = narrow_scopes(&record.scopes, params.one("scope")?)?;
    let mut grant = Grant::new(record.sub, scopes, record.aud);
    grant.refresh_family = Some(record.family);
    Ok(grant)
}

/// Requested scopes must all be in `allowed`; none requested keeps `allowed`.
fn narrow_scopes(allowed: &[String], requested: Option<&str>) -> Result<Vec<String>, OAuthError> {
    let mut out: Vec<String> = Vec::new();
    for s in requested.unwrap_or("").split(' ').filter(|s| !s.is_empty()) {
        if !valid_scope_token(s) {
            return Err(OAuthError::invalid_scope("A requested scope is malformed"));
        }
        if !allowed.iter().any(|a| a == s) {
            return Err(OAuthError::invalid_scope(format!(
                "Scope {s} exceeds the scopes of the original grant"
            )));
        }
        if !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    }
    Ok(if out.is_empty() {
        allowed.to_vec()
    } else {
        out
    })
}

/// An active access token issued here, given as `name` with its `name_type`.
fn presented_token(
    state: &State,
    params: &Params,
    name: &str,
) -> Result<Option<Record>, OAuthError> {
    let type_name = format!("{name}_type");
    let Some(token) = params.one(name)? else {
        if params.one(&type_name)?.is_some() {
            return Err(OAuthError::invalid_request(format!(
                "Parameter {type_name} without {name}"
            )));
        }
        return Ok(None);
    };
    match params.one(&type_name)? {
        Some(ACCESS_TOKEN_TYPE | JWT_TOKEN_TYPE) => {}
        Some(_) => {
            return Err(OAuthError::invalid_request(format!(
                "Unsupported {type_name}"
            )));
        }
        None => {
            return Err(OAuthError::invalid_request(format!(
                "Parameter {type_name} is missing"
            )));
        }
    }
    state
        .introspect(token)
        .map(Some)
        .ok_or_else(|| OAuthError::invalid_grant(format!("The {name} is not active")))
}

/// RFC 8693 token exchange (see the module docs for the policy).
pub(crate) fn token_exchange(
    state: &State,
    client: &Client,
    params: &Params,
) -> Result<Grant, OAuthError> {
    if client.exchange_audiences.is_empty() {
        return Err(OAuthError::unauthorized_client(
            "This client may not use token exchange",
        ));
    }
    let subject = presented_token(state, params, "subject_token")?
        .ok_or_else(|| OAuthError::invalid_request("Parameter subject_token is missing"))?;
    let actor = presented_token(state, params, "actor_token")?;
    match params.one("requested_token_type")? {
        None | Some(ACCESS_TOKEN_TYPE) => {}
        Some(_) => {
            return Err(OAuthError::invalid_request(
                "Only access tokens can be requested",
            ));
        }
    }
    let mut audiences: Vec<String> = Vec::new();
    for a in params.all("resource").chain(params.all("audience")) {
        if !client.exchange_audiences.iter().any(|x| x == a) {
            return Err(OAuthError::invalid_target(
                "This client may not exchange tokens for the requested audience",
            ));
        }
        if !audiences.iter().any(|x| x == a) {
            audiences.push(a.to_owned());
        }
    }
    if audiences.is_empty() {
        return Err(OAuthError::invalid_target(
            "Token exchange needs an audience or resource",
        ));
    }
    let scopes = narrow_scopes(&subject.scopes, params.one("scope")?)?;
    let mut grant = Grant::new(subject.sub, scopes, audiences);
    let act = match actor {
        Some(actor) => {
            if actor.client_id != client.id {
                return Err(OAuthError::invalid_request(
                    "The actor token must belong to the requesting client",
                ));
            }
            let mut act = Map::new();
            act.insert("sub".into(), actor.sub.into());
            if let Some(prior) = subject.act {
                act.insert("act".into(), prior);
            }
            Some(Value::Object(act))
        }
        None => subject.act,
    };
    if let Some(act) = act {
        grant.extra_claims.insert("act".into(), act);
    }
    grant.not_after = Some(subject.exp);
    grant.exchanged = true;
    Ok(grant)
}

/// RFC 6749 §4.4: the client acts on its own behalf (`sub` = `client_id`).
pub(crate) fn client_credentials(client: &Client, params: &Params) -> Result<Grant, OAuthError> {
    Ok(Grant::new(
        client.id.clone(),
        scopes(client, params.one("scope")?)?,
        audiences(client, params)?,
    ))
}

/// Requested scopes must all be allowed; none requested grants the client's default.
pub(crate) fn scopes(client: &Client, requested: Option<&str>) -> Result<Vec<String>, OAuthError> {
    let requested: Vec<&str> = requested
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    if requested.is_empty() {
        return Ok(client.granted_by_default().to_vec());
    }
    let mut granted: Vec<String> = Vec::with_capacity(requested.len());
    for s in requested {
        if !valid_scope_token(s) {
            return Err(OAuthError::invalid_scope("A requested scope is malformed"));
        }
        if !client.scopes.iter().any(|a| a == s) {
            return Err(OAuthError::invalid_scope(format!(
                "Scope {s} is not allowed for this client"
            )));
        }
        if !granted.iter().any(|g| g == s) {
            granted.push(s.to_owned());
        }
    }
    Ok(granted)
}

/// `resource` (RFC 8707) and `audience` values must all be allowed; none requested uses
/// the client's default audiences.
pub(crate) fn audiences(client: &Client, params: &Params) -> Result<Vec<String>, OAuthError> {
    let mut requested: Vec<String> = Vec::new();
    for a in params.all("resource").chain(params.all("audience")) {
        if a.is_empty() {
            return Err(OAuthError::invalid_target(
                "An empty resource was requested",
            ));
        }
        if !client.audiences.iter().any(|x| x == a) {
            return Err(OAuthError::invalid_target(
                "The requested resource is not allowed for this client",
            ));
        }
        if !requested.iter().any(|r| r == a) {
            requested.push(a.to_owned());
        }
    }
    if requested.is_empty() {
        requested = client.audiences_by_default().to_vec();
    }
    Ok(requested)
}

/// A token response (RFC 6749 §5.1), also returned by
/// [`DevIdp::client_credentials_token`](super::DevIdp::client_credentials_token).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IssuedToken {
    /// The access token (a JWT, or an opaque reference token).
    pub access_token: String,
    /// `Bearer`, or `DPoP` when the token request carried a valid DPoP proof (the
    /// token then has `cnf.jkt`).
    pub token_type: String,
    /// Lifetime in seconds.
    pub expires_in: u64,
    /// Granted scopes, space-delimited.
    pub scope: String,
    /// The token's audiences.
    pub audiences: Vec<String>,
    /// A refresh token (from [`DevIdp::user_token`](super::DevIdp::user_token) and
    /// the `refresh_token` grant; never for client credentials).
    pub refresh_token: Option<String>,
    /// `issued_token_type` of a token exchange answer (RFC 8693 §2.2.1).
    pub issued_token_type: Option<String>,
}

impl IssuedToken {
    /// The JSON token response body.
    pub(crate) fn to_json(&self) -> Value {
        let mut v = json!({
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
            "scope": self.scope,
        });
        if let Some(r) = &self.refresh_token {
            v["refresh_token"] = r.as_str().into();
        }
        if let Some(t) = &self.issued_token_type {
            v["issued_token_type"] = t.as_str().into();
        }
        v
    }
}

fn aud_value(aud: &[String]) -> Value {
    match aud {
        [one] => Value::from(one.as_str()),
        many => Value::from(many.to_vec()),
    }
}

/// Lifetime of refresh tokens (one day).
const REFRESH_TOKEN_TTL_SECS: i64 = 86_400;

/// Makes an access token of the client's format and remembers it for introspection.
pub(crate) fn issue(state: &State, client: &Client, grant: Grant) -> IssuedToken {
    let iat = now();
    let mut ttl = state.config.token_ttl.as_secs();
    let mut exp = iat.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX));
    if let Some(limit) = grant.not_after
        && limit < exp
    {
        exp = limit;
        ttl = u64::try_from(limit - iat).unwrap_or(0);
    }
    let jti = random_token("", 16);
    let scope = grant.scopes.join(" ");
    let act = grant.extra_claims.get("act").cloned();
    let access_token = match client.format {
        TokenFormat::Opaque => random_token("dev_at_", 32),
        TokenFormat::Jwt => {
            let (key, alg) = state.signing_key();
            let header = json!({"alg": alg.as_str(), "kid": key.kid(), "typ": "at+jwt"});
            let mut claims = Map::new();
            claims.insert("iss".into(), state.issuer.as_str().into());
            claims.insert("sub".into(), grant.subject.as_str().into());
            claims.insert("aud".into(), aud_value(&grant.audiences));
            claims.insert("client_id".into(), client.id.as_str().into());
            if !scope.is_empty() {
                claims.insert("scope".into(), scope.as_str().into());
            }
            claims.insert("iat".into(), iat.into());
            claims.insert("exp".into(), exp.into());
            claims.insert("jti".into(), jti.as_str().into());
            if let Some(jkt) = &grant.jkt {
                claims.insert("cnf".into(), json!({ "jkt": jkt }));
            }
            for (k, v) in grant.extra_claims {
                claims.entry(k).or_insert(v);
            }
            let input = format!(
                "{}.{}",
                b64url(header.to_string()),
                b64url(Value::Object(claims).to_string())
            );
            let sig = key.sign(alg, input.as_bytes());
            format!("{input}.{}", b64url(sig))
        }
    };
    let refresh_token = grant.refresh_family.map(|family| {
        let token = random_token("dev_rt_", 32);
        state.remember_refresh(
            token.clone(),
            RefreshRecord {
                client_id: client.id.clone(),
                sub: grant.subject.clone(),
                scopes: grant.scopes.clone(),
                aud: grant.audiences.clone(),
                family: if family.is_empty() {
                    random_token("", 12)
                } else {
                    family
                },
                used: false,
                exp: iat.saturating_add(REFRESH_TOKEN_TTL_SECS),
            },
            iat,
        );
        token
    });
    state.remember(
        access_token.clone(),
        Record {
            client_id: client.id.clone(),
            sub: grant.subject,
            scopes: grant.scopes,
            aud: grant.audiences.clone(),
            iat,
            exp,
            jti,
            revoked: false,
            act,
            jkt: grant.jkt.clone(),
        },
        iat,
    );
    IssuedToken {
        access_token,
        token_type: if grant.jkt.is_some() {
            "DPoP"
        } else {
            "Bearer"
        }
        .into(),
        expires_in: ttl,
        scope,
        audiences: grant.audiences,
        refresh_token,
        issued_token_type: grant.exchanged.then(|| ACCESS_TOKEN_TYPE.to_owned()),
    }
}
