//! Bearer extraction: `parse_authorization` on arbitrary bytes, and `extract_bearer` on a
//! header map holding them (once and twice).
#![no_main]

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use tollgate_core::bearer::{extract_bearer, parse_authorization};
use tollgate_core::error::RequestError;

fuzz_target!(|data: &[u8]| {
    let parsed = parse_authorization(data);
    if let Ok(token) = parsed {
        // the token is a non-empty token68 suffix of the input, after "bearer" + spaces
        assert!(!token.is_empty());
        assert!(data.ends_with(token.as_bytes()));
        assert!(data[..6].eq_ignore_ascii_case(b"bearer"));
        assert!(data[6..data.len() - token.len()].iter().all(|&b| b == b' '));
        let body = token.trim_end_matches('=');
        assert!(!body.is_empty());
        assert!(
            body.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
        );
    }
    if let Ok(value) = HeaderValue::from_bytes(data) {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, value.clone());
        assert_eq!(extract_bearer(&headers), parsed);
        headers.append(AUTHORIZATION, value);
        assert_eq!(
            extract_bearer(&headers),
            Err(RequestError::MultipleAuthorization)
        );
    }
});
