//! Issued tokens (JWT and opaque) remembered for introspection and revocation.

use std::collections::HashMap;

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
}

/// Every token issued and not yet long expired, by its full text.
#[derive(Debug, Default)]
pub(crate) struct TokenStore {
    by_token: HashMap<String, Record>,
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

/// 32 random bytes, base64url, with a recognisable prefix.
pub(crate) fn random_token(prefix: &str, bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    // without randomness a dev IdP cannot issue anything meaningful
    #[allow(clippy::expect_used)]
    aws_lc_rs::rand::fill(&mut b).expect("system randomness");
    format!("{prefix}{}", b64url(b))
}
