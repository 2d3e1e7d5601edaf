//! The one URL policy for every endpoint tollgate calls (JWKS, discovery, introspection,
//! token): an absolute `https` URL, or `http` to a loopback host; never user info.

use http::Uri;

/// A URL refused by [`check_url`]. The URL itself is not repeated: it may carry user
/// info (`user:password@`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("URL must be absolute https without user info (http only for loopback hosts)")]
#[non_exhaustive]
pub struct InsecureUrl;

fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Checks `uri`: absolute `https`, or `http` to `localhost` / a loopback address; no
/// `user@` part.
///
/// ```
/// use tollgate_core::oauth::check_url;
/// // accepted
/// assert!(check_url(&"https://idp.example/token".parse().unwrap()).is_ok());
/// assert!(check_url(&"http://127.0.0.1:8080/token".parse().unwrap()).is_ok());
/// // rejected: plain http elsewhere, user info
/// assert!(check_url(&"http://idp.example/token".parse().unwrap()).is_err());
/// assert!(check_url(&"https://user@idp.example/token".parse().unwrap()).is_err());
/// ```
///
/// # Errors
/// [`InsecureUrl`] when the URL breaks the policy.
pub fn check_url(uri: &Uri) -> Result<(), InsecureUrl> {
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err(InsecureUrl);
    };
    if authority.as_str().contains('@') {
        return Err(InsecureUrl);
    }
    match scheme {
        "https" => Ok(()),
        "http" if is_loopback(authority.host()) => Ok(()),
        _ => Err(InsecureUrl),
    }
}

/// Parses `s` and applies [`check_url`].
///
/// # Errors
/// [`InsecureUrl`] when `s` is not a URL or breaks the policy.
pub fn parse_url(s: &str) -> Result<Uri, InsecureUrl> {
    let uri: Uri = s.parse().map_err(|_| InsecureUrl)?;
    check_url(&uri)?;
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_policy() {
        assert!(parse_url("https://idp.example/jwks").is_ok());
        assert!(parse_url("http://127.0.0.1:8080/jwks").is_ok());
        assert!(parse_url("http://[::1]:8080/jwks").is_ok());
        assert!(parse_url("http://localhost/jwks").is_ok());
        assert!(parse_url("http://idp.example/jwks").is_err());
        assert!(parse_url("https://user@idp.example/jwks").is_err());
        assert!(parse_url("http://user:pw@127.0.0.1/jwks").is_err());
        assert!(parse_url("/jwks").is_err());
        assert!(parse_url("ftp://idp.example/jwks").is_err());
    }
}
