//! Authorization server metadata: OpenID Connect Discovery
//! (`{issuer}/.well-known/openid-configuration`) and RFC 8414
//! (`{origin}/.well-known/oauth-authorization-server{issuer path}`, the well-known
//! segment inserted between host and path). The metadata's `issuer` must equal the
//! configured issuer byte for byte. Used for the `jwks_uri` of remote keys, the
//! `introspection_endpoint` of introspection and the `token_endpoint` of
//! tollgate-client.

use std::time::Duration;

use http::header::ACCEPT;
use http::{HeaderMap, HeaderValue, StatusCode, Uri};
use serde::Deserialize;

use super::client::{HttpClient, get_same_origin};
use super::url::parse_url;
use crate::remote::{Discovery, FetchError, FetchErrorKind};

/// Which endpoint of the metadata to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetadataField {
    /// `jwks_uri`.
    JwksUri,
    /// `token_endpoint` (RFC 8414 §2).
    TokenEndpoint,
    /// `introspection_endpoint` (RFC 8414 §2).
    IntrospectionEndpoint,
    /// The token endpoint for a client authenticating with mTLS (RFC 8705 §5):
    /// `mtls_endpoint_aliases.token_endpoint` when the metadata has it, else
    /// `token_endpoint`.
    MtlsTokenEndpoint,
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
    token_endpoint: Option<String>,
    #[serde(default)]
    introspection_endpoint: Option<String>,
    /// RFC 8705 §5; kept as JSON so an odd value cannot spoil the other fields.
    #[serde(default)]
    mtls_endpoint_aliases: Option<serde_json::Value>,
}

async fn discover_one(
    client: &dyn HttpClient,
    issuer: &str,
    url: &Uri,
    field: MetadataField,
    timeout: Duration,
    max_body: usize,
) -> Result<Uri, FetchError> {
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    let response = get_same_origin(client, url, headers, timeout, max_body).await?;
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
        MetadataField::TokenEndpoint => meta.token_endpoint,
        MetadataField::IntrospectionEndpoint => meta.introspection_endpoint,
        MetadataField::MtlsTokenEndpoint => match meta.mtls_endpoint_aliases {
            None => meta.token_endpoint,
            Some(aliases) => match aliases.get("token_endpoint") {
                None => meta.token_endpoint,
                Some(serde_json::Value::String(s)) => Some(s.clone()),
                Some(_) => None,
            },
        },
    }
    .ok_or_else(|| FetchError::new(url, FetchErrorKind::InvalidMetadata))?;
    parse_url(&value).map_err(|_| FetchError::new(url, FetchErrorKind::InsecureUrl))
}

/// Reads `issuer`'s metadata (`form`: OpenID Connect, RFC 8414, or [`Discovery::Auto`]:
/// OpenID Connect first, RFC 8414 when that fails for a reason other than a permanent
/// one) and returns the endpoint named by `field`, checked with
/// [`check_url`](super::check_url). Each document fetch has `timeout` (body included)
/// and a body cap of `max_body` bytes; same-origin redirects are followed (at most 3).
///
/// ```
/// use tollgate_core::oauth::{DEFAULT_TIMEOUT, HyperClient, MetadataField, discover_endpoint};
/// use tollgate_core::remote::Discovery;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let idp = tollgate_testkit::DevIdp::builder().start().await?;
/// let http = HyperClient::new()?;
/// // accepted: the metadata names this issuer
/// let token = discover_endpoint(&http, idp.issuer(), Discovery::Auto,
///     MetadataField::TokenEndpoint, DEFAULT_TIMEOUT, 64 * 1024).await?;
/// assert_eq!(token.to_string(), idp.token_endpoint());
/// // rejected: another spelling of the issuer is another issuer
/// let other = format!("{}/", idp.issuer());
/// assert!(discover_endpoint(&http, &other, Discovery::Auto,
///     MetadataField::TokenEndpoint, DEFAULT_TIMEOUT, 64 * 1024).await.is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`FetchError`] naming the document's URL: not reachable, not 200, not metadata,
/// another issuer, no such endpoint, or an endpoint failing the URL policy.
pub async fn discover_endpoint(
    client: &dyn HttpClient,
    issuer: &str,
    form: Discovery,
    field: MetadataField,
    timeout: Duration,
    max_body: usize,
) -> Result<Uri, FetchError> {
    let issuer_uri =
        parse_url(issuer).map_err(|_| FetchError::new(issuer, FetchErrorKind::InsecureUrl))?;
    let url_for = |oidc| well_known(&issuer_uri, oidc).map_err(|k| FetchError::new(issuer, k));
    let one = |url| discover_one(client, issuer, url, field, timeout, max_body);
    match form {
        Discovery::OpenIdConnect => one(&url_for(true)?).await,
        Discovery::OAuthServer => one(&url_for(false)?).await,
        _ => match one(&url_for(true)?).await {
            Ok(u) => Ok(u),
            Err(e) if e.is_permanent() => Err(e),
            Err(first) => {
                tracing::debug!(target: "tollgate::remote", error = %first,
                    "OpenID discovery failed; trying RFC 8414");
                one(&url_for(false)?).await
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
