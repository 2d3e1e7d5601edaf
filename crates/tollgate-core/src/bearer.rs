//! Bearer token extraction from `Authorization` headers (RFC 6750 §2.1).
//!
//! Exactly one `Authorization` header; scheme `Bearer`, case-insensitive; then one or
//! more spaces and a token68 (`1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`).
//! Tokens in the query string or form body are never read.
//!
//! # Example
//!
//! ```
//! use http::{HeaderMap, HeaderValue, header::AUTHORIZATION};
//! use tollgate_core::bearer::extract_bearer;
//! use tollgate_core::error::RequestError;
//!
//! let mut headers = HeaderMap::new();
//! // rejected: no header at all is "missing" (answered with a bare challenge)
//! assert_eq!(extract_bearer(&headers), Err(RequestError::Missing));
//! // accepted: scheme is case-insensitive
//! headers.insert(AUTHORIZATION, HeaderValue::from_static("bearer abc.def.ghi"));
//! assert_eq!(extract_bearer(&headers), Ok("abc.def.ghi"));
//! // rejected: two Authorization headers are a malformed request
//! headers.append(AUTHORIZATION, HeaderValue::from_static("Bearer x"));
//! assert_eq!(extract_bearer(&headers), Err(RequestError::MultipleAuthorization));
//! ```

use http::HeaderMap;
use http::header::AUTHORIZATION;

use crate::error::RequestError;

const fn is_token68_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
}

/// [`is_token68_char`] as a table: one load per byte.
static TOKEN68: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        #[allow(clippy::cast_possible_truncation)] // i < 256
        let b = i as u8;
        t[i] = is_token68_char(b);
        i += 1;
    }
    t
};

/// Length of the token68 body at the start of `t` (before any `=` padding). Scans 16
/// bytes per step without a branch per byte: a JWT access token is ~500–1000 bytes,
/// and a byte-at-a-time scan showed as 3% of a cold request's server CPU.
fn token68_len(t: &[u8]) -> usize {
    let mut n = 0;
    for chunk in t.chunks_exact(16) {
        if !chunk
            .iter()
            .fold(true, |ok, &b| ok & TOKEN68[usize::from(b)])
        {
            break;
        }
        n += 16;
    }
    n + t[n..]
        .iter()
        .take_while(|&&b| TOKEN68[usize::from(b)])
        .count()
}

/// Extracts the bearer token from the request headers.
///
/// - no `Authorization` header, or another scheme (`Basic ...`): [`RequestError::Missing`];
/// - two or more `Authorization` headers: [`RequestError::MultipleAuthorization`];
/// - `Bearer` with an empty or non-token68 value: [`RequestError::Malformed`].
///
/// The length cap is applied by the verifier, before any decoding.
pub fn extract_bearer(headers: &HeaderMap) -> Result<&str, RequestError> {
    let mut values = headers.get_all(AUTHORIZATION).into_iter();
    let Some(value) = values.next() else {
        return Err(RequestError::Missing);
    };
    if values.next().is_some() {
        return Err(RequestError::MultipleAuthorization);
    }
    parse_authorization(value.as_bytes())
}

/// Parses one `Authorization` header value (also used for gRPC metadata).
pub fn parse_authorization(value: &[u8]) -> Result<&str, RequestError> {
    const SCHEME: &[u8] = b"bearer";
    if value.len() < SCHEME.len() || !value[..SCHEME.len()].eq_ignore_ascii_case(SCHEME) {
        return Err(RequestError::Missing);
    }
    let rest = &value[SCHEME.len()..];
    if rest.is_empty() {
        // "Bearer" alone: the scheme with no credentials
        return Err(RequestError::Malformed);
    }
    if rest[0] != b' ' {
        // e.g. "BearerX ..." is another scheme
        return Err(RequestError::Missing);
    }
    // only SP separates scheme and token (RFC 6750 §2.1: "Bearer" 1*SP b64token), not
    // other whitespace: a tab, form feed or CR after the space is a broken header
    let spaces = rest.iter().take_while(|&&b| b == b' ').count();
    let token = &rest[spaces..];
    let body_len = token68_len(token);
    if body_len == 0 || token[body_len..].iter().any(|&b| b != b'=') {
        return Err(RequestError::Malformed);
    }
    // token68 is ASCII, so this cannot fail; map defensively anyway
    std::str::from_utf8(token).map_err(|_| RequestError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use proptest::prelude::*;

    fn one(v: &[u8]) -> Result<&str, RequestError> {
        parse_authorization(v)
    }

    #[test]
    fn cases() {
        assert_eq!(one(b"Bearer a.b.c"), Ok("a.b.c"));
        assert_eq!(one(b"BEARER a.b.c"), Ok("a.b.c"));
        assert_eq!(one(b"Bearer   a"), Ok("a"));
        assert_eq!(one(b"Bearer abc=="), Ok("abc=="));
        assert_eq!(one(b"Basic dXNlcjpwYXNz"), Err(RequestError::Missing));
        assert_eq!(one(b"Bearerabc"), Err(RequestError::Missing));
        assert_eq!(one(b"Bearer"), Err(RequestError::Malformed));
        assert_eq!(one(b"Bearer "), Err(RequestError::Malformed));
        assert_eq!(one(b"Bearer a b"), Err(RequestError::Malformed));
        assert_eq!(one(b"Bearer a=b"), Err(RequestError::Malformed));
        assert_eq!(one(b"Bearer a,b"), Err(RequestError::Malformed));
        assert_eq!(one(b"Bearer \xffa"), Err(RequestError::Malformed));
        assert_eq!(one(b"Bearer a\t"), Err(RequestError::Malformed));
        // found by fuzz/bearer: only spaces separate scheme and token
        assert_eq!(one(b"Bearer \x0c b"), Err(RequestError::Malformed));
        assert_eq!(one(b"Bearer \tabc"), Err(RequestError::Malformed));
        assert_eq!(one(b"Bearer \r\nabc"), Err(RequestError::Malformed));
    }

    #[test]
    fn long_tokens_checked_at_every_position() {
        // the scan goes 16 bytes at a time: a bad byte anywhere, including inside a
        // chunk and in the tail, is refused
        let good = "aZ09-._~+/".repeat(10);
        assert_eq!(
            parse_authorization(format!("Bearer {good}").as_bytes()),
            Ok(&*good)
        );
        for i in 0..good.len() {
            for bad in [b' ', b',', b'=', b'\xff', b'"'] {
                let mut t = good.clone().into_bytes();
                t[i] = bad;
                let mut v = b"Bearer ".to_vec();
                v.extend(&t);
                // "=" is allowed only as trailing padding, a space only before the token
                let allowed =
                    (bad == b'=' && t[i..].iter().all(|&b| b == b'=')) || (bad == b' ' && i == 0);
                assert_eq!(
                    parse_authorization(&v).is_ok(),
                    allowed,
                    "byte {bad} at {i}"
                );
            }
        }
    }

    #[test]
    fn header_map() {
        let mut h = HeaderMap::new();
        h.append(AUTHORIZATION, HeaderValue::from_static("Bearer a"));
        assert_eq!(extract_bearer(&h), Ok("a"));
        h.append(AUTHORIZATION, HeaderValue::from_static("Bearer a"));
        assert_eq!(extract_bearer(&h), Err(RequestError::MultipleAuthorization));
    }

    proptest! {
        #[test]
        fn never_panics(v in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse_authorization(&v);
        }

        #[test]
        fn valid_tokens_round_trip(
            scheme in "[bB][eE][aA][rR][eE][rR]",
            spaces in 1usize..4,
            token in "[A-Za-z0-9._~+/-]{1,40}={0,2}",
        ) {
            let value = format!("{scheme}{}{token}", " ".repeat(spaces));
            prop_assert_eq!(parse_authorization(value.as_bytes()), Ok(token.as_str()));
            let mut h = HeaderMap::new();
            h.insert(AUTHORIZATION, HeaderValue::from_str(&value).unwrap());
            prop_assert_eq!(extract_bearer(&h), Ok(token.as_str()));
        }
    }
}
