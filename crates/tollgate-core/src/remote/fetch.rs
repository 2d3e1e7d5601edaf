//! One JWKS fetch and one discovery fetch: URL policy, same-origin redirects, timeout,
//! status and body checks, caching headers.

use std::time::{Duration, SystemTime};

use http::header::{
    ACCEPT, AGE, CACHE_CONTROL, DATE, ETAG, EXPIRES, IF_MODIFIED_SINCE, IF_NONE_MATCH,
    LAST_MODIFIED, LOCATION,
};
use http::{HeaderMap, HeaderValue, StatusCode, Uri};
use serde::Deserialize;

use crate::keys::KeySet;
use crate::remote::client::{HttpClient, HttpRequest, HttpResponse};
use crate::remote::config::{Discovery, FetchError, FetchErrorKind, RefreshConfig};

const MAX_REDIRECTS: usize = 3;

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

fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Absolute `https` URL, or `http` to a loopback host; no userinfo.
pub(crate) fn check_url(uri: &Uri) -> Result<(), FetchErrorKind> {
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err(FetchErrorKind::InsecureUrl);
    };
    if authority.as_str().contains('@') {
        return Err(FetchErrorKind::InsecureUrl);
    }
    match scheme {
        "https" => Ok(()),
        "http" if is_loopback(authority.host()) => Ok(()),
        _ => Err(FetchErrorKind::InsecureUrl),
    }
}

pub(crate) fn parse_url(s: &str) -> Result<Uri, FetchErrorKind> {
    let uri: Uri = s.parse().map_err(|_| FetchErrorKind::InsecureUrl)?;
    check_url(&uri)?;
    Ok(uri)
}

fn same_origin(a: &Uri, b: &Uri) -> bool {
    a.scheme() == b.scheme()
        && a.authority().map(|x| x.as_str().to_ascii_lowercase())
            == b.authority().map(|x| x.as_str().to_ascii_lowercase())
}

/// GET with timeout, following at most [`MAX_REDIRECTS`] same-origin redirects.
async fn get(
    client: &dyn HttpClient,
    url: &Uri,
    headers: HeaderMap,
    cfg: &RefreshConfig,
) -> Result<HttpResponse, FetchError> {
    let fail = |kind| FetchError::new(url, kind);
    let exchange = async {
        let mut current = url.clone();
        for _ in 0..=MAX_REDIRECTS {
            let response = client
                .get(HttpRequest::new(
                    current.clone(),
                    headers.clone(),
                    cfg.max_body,
                ))
                .await
                .map_err(|e| fail(FetchErrorKind::Http(e)))?;
            if !response.status.is_redirection() || response.status == StatusCode::NOT_MODIFIED {
                return Ok(response);
            }
            let location = response
                .headers
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| fail(FetchErrorKind::Redirect))?;
            let next = if location.starts_with('/') && !location.starts_with("//") {
                let mut parts = current.clone().into_parts();
                parts.path_and_query = Some(
                    location
                        .parse()
                        .map_err(|_| fail(FetchErrorKind::Redirect))?,
                );
                Uri::from_parts(parts).map_err(|_| fail(FetchErrorKind::Redirect))?
            } else {
                location
                    .parse::<Uri>()
                    .map_err(|_| fail(FetchErrorKind::Redirect))?
            };
            if !same_origin(&current, &next) {
                return Err(fail(FetchErrorKind::Redirect));
            }
            current = next;
        }
        Err(fail(FetchErrorKind::Redirect))
    };
    tokio::time::timeout(cfg.fetch_timeout, exchange)
        .await
        .map_err(|_| fail(FetchErrorKind::Timeout(cfg.fetch_timeout)))?
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
    let response = get(client, url, headers, cfg).await?;
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

/// The discovery URL of `issuer` for one form.
pub(crate) fn well_known(issuer: &Uri, oidc: bool) -> Result<Uri, FetchErrorKind> {
    let path = issuer.path().trim_end_matches('/');
    let (Some(scheme), Some(authority)) = (issuer.scheme_str(), issuer.authority()) else {
        return Err(FetchErrorKind::InsecureUrl);
    };
    let url = if oidc {
        format!("{scheme}://{authority}{path}/.well-known/openid-configuration")
    } else {
        // RFC 8414 §3.1: the well-known segment goes between the host and the path.
        format!("{scheme}://{authority}/.well-known/oauth-authorization-server{path}")
    };
    url.parse().map_err(|_| FetchErrorKind::InsecureUrl)
}

#[derive(Deserialize)]
struct Metadata {
    issuer: String,
    #[serde(default)]
    jwks_uri: Option<String>,
    #[serde(default)]
    introspection_endpoint: Option<String>,
}

/// Which endpoint of the metadata discovery reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MetadataField {
    /// `jwks_uri`.
    JwksUri,
    /// `introspection_endpoint` (RFC 8414 §2).
    IntrospectionEndpoint,
}

async fn discover_one(
    client: &dyn HttpClient,
    issuer: &str,
    url: &Uri,
    cfg: &RefreshConfig,
    field: MetadataField,
) -> Result<Uri, FetchError> {
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    let response = get(client, url, headers, cfg).await?;
    if response.status != StatusCode::OK {
        return Err(FetchError::new(
            url,
            FetchErrorKind::Status(response.status.as_u16()),
        ));
    }
    let meta: Metadata = serde_json::from_slice(&response.body)
        .map_err(|_| FetchError::new(url, FetchErrorKind::InvalidMetadata))?;
    if meta.issuer != issuer {
        let found: String = meta.issuer.chars().take(200).collect();
        return Err(FetchError::new(
            url,
            FetchErrorKind::IssuerMismatch { found },
        ));
    }
    let value = match field {
        MetadataField::JwksUri => meta.jwks_uri,
        MetadataField::IntrospectionEndpoint => meta.introspection_endpoint,
    }
    .ok_or_else(|| FetchError::new(url, FetchErrorKind::InvalidMetadata))?;
    parse_url(&value).map_err(|k| FetchError::new(url, k))
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

/// Reads the issuer's metadata and returns the endpoint named by `field`.
pub(crate) async fn discover_endpoint(
    client: &dyn HttpClient,
    issuer: &str,
    form: Discovery,
    cfg: &RefreshConfig,
    field: MetadataField,
) -> Result<Uri, FetchError> {
    let issuer_uri = parse_url(issuer).map_err(|k| FetchError::new(issuer, k))?;
    let url_for = |oidc| well_known(&issuer_uri, oidc).map_err(|k| FetchError::new(issuer, k));
    match form {
        Discovery::OpenIdConnect => discover_one(client, issuer, &url_for(true)?, cfg, field).await,
        Discovery::OAuthServer => discover_one(client, issuer, &url_for(false)?, cfg, field).await,
        _ => match discover_one(client, issuer, &url_for(true)?, cfg, field).await {
            Ok(u) => Ok(u),
            Err(e) if e.is_permanent() => Err(e),
            Err(first) => {
                tracing::debug!(target: "tollgate::remote", error = %first,
                    "OpenID discovery failed; trying RFC 8414");
                discover_one(client, issuer, &url_for(false)?, cfg, field).await
            }
        },
    }
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

    #[test]
    fn well_known_forms() {
        let plain: Uri = "https://idp.example".parse().expect("uri");
        let path: Uri = "https://idp.example/tenant/a/".parse().expect("uri");
        let s = |u: Result<Uri, _>| u.expect("uri").to_string();
        assert_eq!(
            s(well_known(&plain, true)),
            "https://idp.example/.well-known/openid-configuration"
        );
        assert_eq!(
            s(well_known(&plain, false)),
            "https://idp.example/.well-known/oauth-authorization-server"
        );
        assert_eq!(
            s(well_known(&path, true)),
            "https://idp.example/tenant/a/.well-known/openid-configuration"
        );
        assert_eq!(
            s(well_known(&path, false)),
            "https://idp.example/.well-known/oauth-authorization-server/tenant/a"
        );
    }

    #[test]
    fn url_policy() {
        assert!(parse_url("https://idp.example/jwks").is_ok());
        assert!(parse_url("http://127.0.0.1:8080/jwks").is_ok());
        assert!(parse_url("http://[::1]:8080/jwks").is_ok());
        assert!(parse_url("http://localhost/jwks").is_ok());
        assert!(parse_url("http://idp.example/jwks").is_err());
        assert!(parse_url("https://user@idp.example/jwks").is_err());
        assert!(parse_url("/jwks").is_err());
        assert!(parse_url("ftp://idp.example/jwks").is_err());
    }
}
