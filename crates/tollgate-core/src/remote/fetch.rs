//! One JWKS fetch: status and body checks, caching headers. The transport, URL policy,
//! same-origin redirects, timeout and discovery are [`crate::oauth`]'s.

use std::time::{Duration, SystemTime};

use http::header::{
    ACCEPT, AGE, CACHE_CONTROL, DATE, ETAG, EXPIRES, IF_MODIFIED_SINCE, IF_NONE_MATCH,
    LAST_MODIFIED,
};
use http::{HeaderMap, HeaderValue, StatusCode, Uri};

use crate::keys::KeySet;
use crate::oauth::HttpClient;
pub(crate) use crate::oauth::MetadataField;
use crate::remote::config::{Discovery, FetchError, FetchErrorKind, RefreshConfig};

/// `ETag` / `Last-Modified` of the set we hold, for a conditional GET.
#[derive(Debug, Clone, Default)]
pub(crate) struct Validators {
    pub(crate) etag: Option<HeaderValue>,
    pub(crate) last_modified: Option<HeaderValue>,
}

/// The result of a successful JWKS fetch.
pub(crate) enum JwksOutcome {
    /// 200 with a usable JWKS.
    Updated {
        keys: KeySet,
        skipped: usize,
        validators: Validators,
        ttl: Option<Duration>,
    },
    /// 304: the set we hold is still current.
    NotModified { ttl: Option<Duration> },
}

/// Fetches the JWKS at `url`, conditionally when `validators` has values.
pub(crate) async fn fetch_jwks(
    client: &dyn HttpClient,
    url: &Uri,
    validators: &Validators,
    cfg: &RefreshConfig,
) -> Result<JwksOutcome, FetchError> {
    let mut headers = HeaderMap::new();
    headers.insert(
        ACCEPT,
        HeaderValue::from_static("application/jwk-set+json, application/json"),
    );
    if let Some(etag) = &validators.etag {
        headers.insert(IF_NONE_MATCH, etag.clone());
    }
    if let Some(lm) = &validators.last_modified {
        headers.insert(IF_MODIFIED_SINCE, lm.clone());
    }
    let conditional = validators.etag.is_some() || validators.last_modified.is_some();
    let response =
        crate::oauth::get_same_origin(client, url, headers, cfg.fetch_timeout, cfg.max_body)
            .await?;
    let ttl = ttl_from(&response.headers, SystemTime::now());
    match response.status {
        StatusCode::OK => {}
        StatusCode::NOT_MODIFIED if conditional => return Ok(JwksOutcome::NotModified { ttl }),
        s => return Err(FetchError::new(url, FetchErrorKind::Status(s.as_u16()))),
    }
    let parsed = KeySet::parse_jwks(&response.body)
        .map_err(|_| FetchError::new(url, FetchErrorKind::NotAJwks))?;
    if parsed.keys.is_empty() {
        return Err(FetchError::new(url, FetchErrorKind::NoUsableKeys));
    }
    Ok(JwksOutcome::Updated {
        keys: parsed.keys,
        skipped: parsed.skipped.len(),
        validators: Validators {
            etag: response.headers.get(ETAG).cloned(),
            last_modified: response.headers.get(LAST_MODIFIED).cloned(),
        },
        ttl,
    })
}

/// Reads the issuer's metadata and returns its `jwks_uri`.
pub(crate) async fn discover(
    client: &dyn HttpClient,
    issuer: &str,
    form: Discovery,
    cfg: &RefreshConfig,
) -> Result<Uri, FetchError> {
    discover_endpoint(client, issuer, form, cfg, MetadataField::JwksUri).await
}

/// Reads the issuer's metadata and returns the endpoint named by `field`, with the
/// timeout and body cap of `cfg`.
pub(crate) async fn discover_endpoint(
    client: &dyn HttpClient,
    issuer: &str,
    form: Discovery,
    cfg: &RefreshConfig,
    field: MetadataField,
) -> Result<Uri, FetchError> {
    crate::oauth::discover_endpoint(client, issuer, form, field, cfg.fetch_timeout, cfg.max_body)
        .await
}

/// Freshness lifetime from `Cache-Control: max-age` (less `Age`) or `Expires` - `Date`;
/// zero for `no-store`/`no-cache`; `None` when the server says nothing.
pub(crate) fn ttl_from(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let mut max_age = None;
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',') {
            let directive = directive.trim();
            let (name, arg) = directive
                .split_once('=')
                .map_or((directive, None), |(n, a)| (n.trim(), Some(a.trim())));
            if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
                return Some(Duration::ZERO);
            }
            if name.eq_ignore_ascii_case("max-age") {
                max_age = arg
                    .map(|a| a.trim_matches('"'))
                    .and_then(|a| a.parse::<u64>().ok());
            }
        }
    }
    if let Some(max_age) = max_age {
        let age = headers
            .get(AGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        return Some(Duration::from_secs(max_age.saturating_sub(age)));
    }
    let date = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
    };
    let expires = headers.get(EXPIRES)?;
    // An invalid Expires (e.g. "0") means already expired (RFC 9111 §5.3).
    let Some(expires) = expires
        .to_str()
        .ok()
        .and_then(|v| httpdate::parse_http_date(v).ok())
    else {
        return Some(Duration::ZERO);
    };
    let base = date(DATE).unwrap_or(now);
    Some(expires.duration_since(base).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(http::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(n.clone(), HeaderValue::from_str(v).expect("test header"));
        }
        h
    }

    #[test]
    fn cache_headers() {
        let now = SystemTime::now();
        assert_eq!(ttl_from(&HeaderMap::new(), now), None);
        let h = headers(&[(CACHE_CONTROL, "public, max-age=120")]);
        assert_eq!(ttl_from(&h, now), Some(Duration::from_secs(120)));
        let h = headers(&[(CACHE_CONTROL, "max-age=\"90\""), (AGE, "30")]);
        assert_eq!(ttl_from(&h, now), Some(Duration::from_secs(60)));
        let h = headers(&[(CACHE_CONTROL, "no-cache")]);
        assert_eq!(ttl_from(&h, now), Some(Duration::ZERO));
        let h = headers(&[
            (DATE, "Sun, 06 Nov 1994 08:49:37 GMT"),
            (EXPIRES, "Sun, 06 Nov 1994 09:49:37 GMT"),
        ]);
        assert_eq!(ttl_from(&h, now), Some(Duration::from_secs(3600)));
        let h = headers(&[(EXPIRES, "0")]);
        assert_eq!(ttl_from(&h, now), Some(Duration::ZERO));
    }
}
