//! Rejection responses: the [`Rejector`] trait and the RFC 6750 [`BearerRejector`].

use http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use std::sync::Arc;

use http::{HeaderValue, Response, StatusCode};
use tollgate_core::AuthError;

use crate::metadata::Policies;

/// Builds the response for a refused request.
///
/// Implementations must never include token contents or claim values.
pub trait Rejector<B>: Send + Sync + 'static {
    /// The response for `error` (whose [`AuthError::wire`] gives status and codes).
    fn reject(&self, error: &AuthError) -> Response<B>;

    /// The response for `error` on a request to `method` `path` (the layers call this
    /// one; a rejector may use the route, e.g. to name its scope in a 401 challenge).
    /// Defaults to [`Self::reject`].
    fn reject_request(&self, error: &AuthError, method: &http::Method, path: &str) -> Response<B> {
        let _ = (method, path);
        self.reject(error)
    }
}

/// The RFC 6750 rejector: status from the error table, a `WWW-Authenticate: Bearer`
/// challenge, `Retry-After` on 503, and an optional RFC 9457 problem body.
///
/// ```
/// use tollgate_core::error::{AuthError, ClaimsError, RequestError};
/// use tollgate_tower::{BearerRejector, Rejector};
///
/// let r = BearerRejector::new("api").resource_metadata("https://api.example/.well-known/oauth-protected-resource");
/// let res: http::Response<String> = r.reject(&AuthError::from(ClaimsError::AudienceMismatch));
/// assert_eq!(res.status(), 401);
/// assert_eq!(
///     res.headers()["www-authenticate"],
///     "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"The access token is invalid\", \
///      resource_metadata=\"https://api.example/.well-known/oauth-protected-resource\""
/// );
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct BearerRejector {
    realm: String,
    resource_metadata: Option<String>,
    problem_json: bool,
    /// Route policies known to the gate: a 401 names the route's scope.
    routes: Option<Arc<Policies>>,
}

impl Default for BearerRejector {
    fn default() -> Self {
        BearerRejector::new("api")
    }
}

/// RFC 7230 quoted-string: escape `"` and `\`, drop control characters.
pub(crate) fn quote(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
}

fn param(out: &mut String, name: &str, value: &str) {
    if !out.ends_with("Bearer ") {
        out.push_str(", ");
    }
    out.push_str(name);
    out.push('=');
    quote(out, value);
}

impl BearerRejector {
    /// A rejector with the `realm` parameter (shown to clients).
    pub fn new(realm: impl Into<String>) -> Self {
        BearerRejector {
            realm: realm.into(),
            resource_metadata: None,
            problem_json: false,
            routes: None,
        }
    }

    /// Names the route's scope in 401 challenges for the routes `routes` knows.
    pub(crate) fn with_routes(mut self, routes: Arc<Policies>) -> Self {
        self.routes = Some(routes);
        self
    }

    /// The RFC 9728 metadata URL, if set.
    #[must_use]
    pub fn resource_metadata_url(&self) -> Option<&str> {
        self.resource_metadata.as_deref()
    }

    /// Adds the RFC 9728 `resource_metadata` parameter (the URL of this resource's
    /// protected-resource metadata) to every challenge.
    pub fn resource_metadata(mut self, url: impl Into<String>) -> Self {
        self.resource_metadata = Some(url.into());
        self
    }

    /// Sends an RFC 9457 `application/problem+json` body with each refusal (off by
    /// default: the body is empty).
    pub fn problem_json(mut self, on: bool) -> Self {
        self.problem_json = on;
        self
    }

    /// The `WWW-Authenticate` value for `error`, or `None` when no challenge is sent
    /// (503 and 500).
    #[must_use]
    pub fn challenge(&self, error: &AuthError) -> Option<String> {
        self.challenge_with(error, None)
    }

    /// [`Self::challenge`], naming `route_scope` (the scope of the route's policy) in a
    /// 401 challenge.
    fn challenge_with(&self, error: &AuthError, route_scope: Option<&str>) -> Option<String> {
        let wire = error.wire();
        if wire.status != 401 && wire.status != 400 && wire.status != 403 {
            return None;
        }
        let mut out = String::from("Bearer ");
        param(&mut out, "realm", &self.realm);
        if let Some(code) = wire.error {
            param(&mut out, "error", code.as_str());
            param(&mut out, "error_description", wire.description);
        }
        if let AuthError::InsufficientScope { required } = error
            && !required.is_empty()
        {
            param(&mut out, "scope", required);
        } else if wire.status == 401
            && let Some(scope) = route_scope
        {
            param(&mut out, "scope", scope);
        }
        if let Some(url) = &self.resource_metadata {
            param(&mut out, "resource_metadata", url);
        }
        Some(out)
    }
}

impl<B> Rejector<B> for BearerRejector
where
    B: From<String>,
{
    fn reject(&self, error: &AuthError) -> Response<B> {
        self.respond(error, None)
    }

    fn reject_request(&self, error: &AuthError, method: &http::Method, path: &str) -> Response<B> {
        let scope = match &self.routes {
            Some(routes) if error.wire().status == 401 => routes.route_scope(method, path),
            _ => None,
        };
        self.respond(error, scope.as_deref())
    }
}

impl BearerRejector {
    fn respond<B: From<String>>(
        &self,
        error: &AuthError,
        route_scope: Option<&str>,
    ) -> Response<B> {
        let wire = error.wire();
        let status = StatusCode::from_u16(wire.status).unwrap_or(StatusCode::UNAUTHORIZED);
        let body = if self.problem_json {
            let title = status.canonical_reason().unwrap_or("Error");
            serde_json_problem(title, wire.status, wire.description)
        } else {
            String::new()
        };
        let mut res = Response::new(B::from(body));
        *res.status_mut() = status;
        let headers = res.headers_mut();
        if let Some(ch) = self.challenge_with(error, route_scope)
            && let Ok(v) = HeaderValue::from_str(&ch)
        {
            headers.insert(WWW_AUTHENTICATE, v);
        }
        if let Some(secs) = wire.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.problem_json {
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/problem+json"),
            );
        }
        res
    }
}

fn serde_json_problem(title: &str, status: u16, detail: &str) -> String {
    #[derive(serde::Serialize)]
    struct Problem<'a> {
        #[serde(rename = "type")]
        kind: &'a str,
        title: &'a str,
        status: u16,
        detail: &'a str,
    }
    let p = Problem {
        kind: "about:blank",
        title,
        status,
        detail,
    };
    // Serializing four plain fields cannot fail; fall back to an empty body anyway.
    serde_json::to_string(&p).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_core::error::{RequestError, UnavailableError};

    #[test]
    fn quoting_and_params() {
        let r = BearerRejector::new("a \"b\" \\c\n");
        let ch = r.challenge(&RequestError::Missing.into()).unwrap();
        assert_eq!(ch, r#"Bearer realm="a \"b\" \\c""#);
        let ch = r
            .challenge(&AuthError::InsufficientScope {
                required: "x y".into(),
            })
            .unwrap();
        assert!(ch.ends_with(r#"error="insufficient_scope", error_description="The access token lacks the required scope", scope="x y""#), "{ch}");
        let unavailable = AuthError::Unavailable(UnavailableError::NoKeys {
            retry_after: std::time::Duration::from_secs(7),
        });
        assert!(r.challenge(&unavailable).is_none());
        let res: Response<String> = r.reject(&unavailable);
        assert_eq!(res.status(), 503);
        assert_eq!(res.headers()[RETRY_AFTER], "7");
    }

    #[test]
    fn problem_body() {
        let r = BearerRejector::new("api").problem_json(true);
        let res: Response<String> = r.reject(&RequestError::MultipleAuthorization.into());
        assert_eq!(res.status(), 400);
        assert_eq!(res.headers()[CONTENT_TYPE], "application/problem+json");
        let v: serde_json::Value = serde_json::from_str(res.body()).unwrap();
        assert_eq!(v["status"], 400);
        assert_eq!(v["detail"], "More than one Authorization header");
    }
}
