//! Issued tokens (JWT and opaque) remembered for introspection and revocation, and
//! refresh tokens with rotation.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::b64url;

/// What the IdP knows about one token it issued.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) client_id: String,
    pub(crate) sub: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) aud: Vec<String>,
    pub(crate) iat: i64,
    pub(crate) exp: i64,
    pub(crate) jti: String,
    pub(crate) revoked: bool,
    /// The `act` claim (token exchange with an actor), for chained exchanges.
    pub(crate) act: Option<Value>,
    /// `cnf.jkt` of a DPoP-bound token (RFC 9449).
    pub(crate) jkt: Option<String>,
}

/// What the IdP knows about one refresh token.
#[derive(Debug, Clone)]
pub(crate) struct RefreshRecord {
    pub(crate) client_id: String,
    pub(crate) sub: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) aud: Vec<String>,
    /// Every refresh token rotated from the same grant shares the family id.
    pub(crate) family: String,
    pub(crate) used: bool,
    pub(crate) exp: i64,
}

/// Why a refresh token was refused (all are `invalid_grant` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefreshRefusal {
    Unknown,
    OtherClient,
    Expired,
    /// A rotated-away token came back: the whole family is revoked (RFC 9700 §4.14.2).
    Reused,
    FamilyRevoked,
}

/// Every token issued and not yet long expired, by its full text.
#[derive(Debug, Default)]
pub(crate) struct TokenStore {
    by_token: HashMap<String, Record>,
    refresh: HashMap<String, RefreshRecord>,
    revoked_families: HashSet<String>,
}

/// Entries are dropped this long after they expire (introspection of an expired token
/// answers `active: false` either way).
const KEEP_EXPIRED_SECS: i64 = 3600;

impl TokenStore {
    pub(crate) fn insert(&mut self, token: String, record: Record, now: i64) {
        if self.by_token.len() >= 4096 {
            self.by_token.retain(|_, r| r.exp + KEEP_EXPIRED_SECS > now);
        }
        self.by_token.insert(token, record);
    }

    /// The record of a token that is active now (issued here, not expired, not revoked).
    pub(crate) fn active(&self, token: &str, now: i64) -> Option<&Record> {
        self.by_token
            .get(token)
            .filter(|r| !r.revoked && r.exp > now)
    }

    /// Revokes `token` if it was issued here (and, with `client`, to that client).
    /// Returns whether a token was revoked by this call.
    pub(crate) fn revoke(&mut self, token: &str, client: Option<&str>) -> bool {
        match self.by_token.get_mut(token) {
            Some(r) if !r.revoked && client.is_none_or(|c| c == r.client_id) => {
                r.revoked = true;
                true
            }
            _ => false,
        }
    }
}

impl TokenStore {
    pub(crate) fn insert_refresh(&mut self, token: String, record: RefreshRecord, now: i64) {
        if self.refresh.len() >= 4096 {
            self.refresh
                .retain(|_, r| !r.used && r.exp + KEEP_EXPIRED_SECS > now);
        }
        self.refresh.insert(token, record);
    }

    /// Uses a refresh token once: marks it used and returns its record. Reuse of a
    /// used token revokes its family.
    pub(crate) fn use_refresh(
        &mut self,
        token: &str,
        client_id: &str,
        now: i64,
    ) -> Result<RefreshRecord, RefreshRefusal> {
        let r = self.refresh.get_mut(token).ok_or(RefreshRefusal::Unknown)?;
        if r.client_id != client_id {
            return Err(RefreshRefusal::OtherClient);
        }
        if self.revoked_families.contains(&r.family) {
            return Err(RefreshRefusal::FamilyRevoked);
        }
        if r.used {
            let family = r.family.clone();
            self.revoked_families.insert(family);
            return Err(RefreshRefusal::Reused);
        }
        if r.exp <= now {
            return Err(RefreshRefusal::Expired);
        }
        r.used = true;
        Ok(r.clone())
    }

    /// Revokes a refresh token's family (RFC 7009 on a refresh token).
    pub(crate) fn revoke_refresh(&mut self, token: &str, client: Option<&str>) -> bool {
        match self.refresh.get(token) {
            Some(r) if client.is_none_or(|c| c == r.client_id) => {
                self.revoked_families.insert(r.family.clone())
            }
            _ => false,
        }
    }
}

/// 32 random bytes, base64url, with a recognisable prefix.
pub(crate) fn random_token(prefix: &str, bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    // without randomness a dev IdP cannot issue anything meaningful
    #[allow(clippy::expect_used)]
    aws_lc_rs::rand::fill(&mut b).expect("system randomness");
    format!("{prefix}{}", b64url(b))
}
