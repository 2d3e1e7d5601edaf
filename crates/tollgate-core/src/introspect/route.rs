//! Which tokens go to introspection: [`Routing`] and [`looks_like_jwt`].
//!
//! The one authenticator that combines local JWT verification with introspection is
//! [`Authenticator`](crate::authenticate::Authenticator).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Which tokens an [`Authenticator`](crate::authenticate::Authenticator) with
/// introspection sends to the authorization server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Routing {
    /// Tokens that do not look like a JWT (see [`looks_like_jwt`]) are introspected;
    /// JWTs are verified locally. The default: one service accepts both kinds.
    #[default]
    NonJwt,
    /// Every token is introspected, JWTs included (revocation is then visible for
    /// JWTs too, at the price of one call per new token).
    All,
}

/// Header segments longer than this are not considered (a JWT header is small).
const MAX_HEADER_SEGMENT: usize = 4 * 1024;

fn is_b64url(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// True when `token` has the shape of a compact JWS: three base64url segments whose
/// first decodes to a JSON object. Nothing is verified; this only routes the token.
///
/// ```
/// use tollgate_core::introspect::looks_like_jwt;
/// // {"alg":"RS256"} . {} . sig
/// assert!(looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.e30.c2ln"));
/// assert!(!looks_like_jwt("dev_at_Qk9PTQ"));
/// assert!(!looks_like_jwt("a.b.c"));
/// ```
#[must_use]
pub fn looks_like_jwt(token: &str) -> bool {
    let mut it = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (it.next(), it.next(), it.next(), it.next())
    else {
        return false;
    };
    if header.is_empty()
        || header.len() > MAX_HEADER_SEGMENT
        || !is_b64url(header)
        || !is_b64url(payload)
        || !is_b64url(signature)
    {
        return false;
    }
    URL_SAFE_NO_PAD.decode(header).is_ok_and(|json| {
        serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&json).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_shape() {
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256","typ":"at+jwt"}"#);
        assert!(looks_like_jwt(&format!("{h}.e30.")));
        assert!(looks_like_jwt(&format!("{h}.e30.AAAA")));
        // not JSON object headers
        let arr = URL_SAFE_NO_PAD.encode(b"[1]");
        assert!(!looks_like_jwt(&format!("{arr}.e30.AAAA")));
        assert!(!looks_like_jwt("e30.e30")); // two segments
        assert!(!looks_like_jwt(&format!("{h}.e30.AA.BB.CC"))); // JWE shape
        assert!(!looks_like_jwt(&format!("{h}.e+30.AAAA")));
        assert!(!looks_like_jwt(".e30.AAAA"));
        assert!(!looks_like_jwt("2YotnFZFEjr1zCsicMWpAA"));
        assert!(!looks_like_jwt(""));
    }
}
