//! The grant dispatch point and the token issuer.
//!
//! A grant turns an authenticated client and the request parameters into a [`Grant`]
//! (subject, scopes, audiences, extra claims); [`issue`] turns a grant into an access
//! token of the client's format. Adding a grant type means adding one arm to
//! [`dispatch`] and one function here:
//!
//! - `refresh_token` (RFC 6749 §6): client credentials issue no refresh tokens, so the
//!   token response and [`TokenStore`](super::tokens::TokenStore) would grow a refresh
//!   token record (client, scopes, audiences) that this grant looks up.
//! - `urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693): validate
//!   `subject_token` (one of ours: [`State::introspect`](super::server::State) or the
//!   JWKS), take its `sub`, narrow scopes and audiences as here, and put the actor in
//!   [`Grant::extra_claims`] as `act`; the response adds `issued_token_type`.

use serde_json::{Map, Value, json};

use super::config::{Client, TokenFormat, valid_scope_token};
use super::error::OAuthError;
use super::server::State;
use super::tokens::{Record, random_token};
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
}

/// The grant dispatch point: one arm per supported `grant_type`.
pub(crate) fn dispatch(client: &Client, params: &Params) -> Result<Grant, OAuthError> {
    match params.one("grant_type")? {
        None => Err(OAuthError::invalid_request(
            "Parameter grant_type is missing",
        )),
        Some("client_credentials") => client_credentials(client, params),
        // "refresh_token" and RFC 8693 token exchange plug in here (see module docs).
        Some(_) => Err(OAuthError::unsupported_grant_type()),
    }
}

/// RFC 6749 §4.4: the client acts on its own behalf (`sub` = `client_id`).
pub(crate) fn client_credentials(client: &Client, params: &Params) -> Result<Grant, OAuthError> {
    Ok(Grant {
        subject: client.id.clone(),
        scopes: scopes(client, params.one("scope")?)?,
        audiences: audiences(client, params)?,
        extra_claims: Map::new(),
    })
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
    /// Always `Bearer`.
    pub token_type: String,
    /// Lifetime in seconds.
    pub expires_in: u64,
    /// Granted scopes, space-delimited.
    pub scope: String,
    /// The token's audiences.
    pub audiences: Vec<String>,
}

impl IssuedToken {
    /// The JSON token response body.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
            "scope": self.scope,
        })
    }
}

fn aud_value(aud: &[String]) -> Value {
    match aud {
        [one] => Value::from(one.as_str()),
        many => Value::from(many.to_vec()),
    }
}

/// Makes an access token of the client's format and remembers it for introspection.
pub(crate) fn issue(state: &State, client: &Client, grant: Grant) -> IssuedToken {
    let iat = now();
    let ttl = state.config.token_ttl.as_secs();
    let exp = iat.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX));
    let jti = random_token("", 16);
    let scope = grant.scopes.join(" ");
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
        },
        iat,
    );
    IssuedToken {
        access_token,
        token_type: "Bearer".into(),
        expires_in: ttl,
        scope,
        audiences: grant.audiences,
    }
}
