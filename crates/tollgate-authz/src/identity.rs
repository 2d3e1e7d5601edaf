//! Identity headers: what the checkpoint tells the upstream about a verified token
//! (`X-Auth-Subject`, `X-Auth-Client-Id`, `X-Auth-Scopes`, `X-Auth-Issuer` unless
//! renamed), and the header hygiene around them: identity headers that arrive from a
//! client are never trusted, so every name is stripped before the verified values are
//! set.
//!
//! # Example
//!
//! ```
//! use tollgate_authz::IdentityHeaders;
//!
//! let names = IdentityHeaders::default().subject(Some("x-user")).unwrap().issuer(None).unwrap();
//! assert_eq!(names.names().map(|n| n.as_str()).collect::<Vec<_>>(), ["x-user", "x-auth-client-id", "x-auth-scopes"]);
//! // refused: not a header name
//! assert!(IdentityHeaders::default().subject(Some("x user")).is_err());
//! ```

use http::{HeaderName, HeaderValue};
use tollgate_core::Claims;

/// The names of the identity headers (each can be turned off with `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct IdentityHeaders {
    subject: Option<HeaderName>,
    client_id: Option<HeaderName>,
    scopes: Option<HeaderName>,
    issuer: Option<HeaderName>,
}

impl Default for IdentityHeaders {
    fn default() -> Self {
        IdentityHeaders {
            subject: Some(HeaderName::from_static("x-auth-subject")),
            client_id: Some(HeaderName::from_static("x-auth-client-id")),
            scopes: Some(HeaderName::from_static("x-auth-scopes")),
            issuer: Some(HeaderName::from_static("x-auth-issuer")),
        }
    }
}

/// A header name that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name:?} is not a usable header name")]
pub struct HeaderNameError {
    /// The refused name.
    pub name: String,
}

fn name(n: Option<&str>) -> Result<Option<HeaderName>, HeaderNameError> {
    let Some(n) = n.filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    let h = HeaderName::from_bytes(n.as_bytes()).map_err(|_| HeaderNameError { name: n.into() })?;
    // never let an identity header overwrite what the request is made of
    if matches!(
        h.as_str(),
        "authorization" | "host" | "content-length" | "transfer-encoding" | "connection" | "cookie"
    ) {
        return Err(HeaderNameError { name: n.into() });
    }
    Ok(Some(h))
}

impl IdentityHeaders {
    /// The header carrying `sub` (`None` or `""`: not sent).
    ///
    /// # Errors
    ///
    /// Not a header name, or one of the request's own (`authorization`, `host`, ...).
    pub fn subject(mut self, n: Option<&str>) -> Result<Self, HeaderNameError> {
        self.subject = name(n)?;
        Ok(self)
    }

    /// The header carrying the calling client (`client_id`, else `azp`).
    ///
    /// # Errors
    ///
    /// As [`Self::subject`].
    pub fn client_id(mut self, n: Option<&str>) -> Result<Self, HeaderNameError> {
        self.client_id = name(n)?;
        Ok(self)
    }

    /// The header carrying the granted scopes, space-separated.
    ///
    /// # Errors
    ///
    /// As [`Self::subject`].
    pub fn scopes(mut self, n: Option<&str>) -> Result<Self, HeaderNameError> {
        self.scopes = name(n)?;
        Ok(self)
    }

    /// The header carrying `iss`.
    ///
    /// # Errors
    ///
    /// As [`Self::subject`].
    pub fn issuer(mut self, n: Option<&str>) -> Result<Self, HeaderNameError> {
        self.issuer = name(n)?;
        Ok(self)
    }

    /// Every configured name (to strip from incoming requests).
    pub fn names(&self) -> impl Iterator<Item = &HeaderName> {
        [&self.subject, &self.client_id, &self.scopes, &self.issuer]
            .into_iter()
            .flatten()
    }

    /// The headers for `claims`. A claim that is absent, or that cannot travel in a
    /// header faithfully (control characters), is left out (and logged): the upstream
    /// then sees no header of that name, never a client's.
    pub fn values<X>(&self, claims: &Claims<X>) -> Vec<(HeaderName, HeaderValue)> {
        let mut out = Vec::with_capacity(4);
        let client = claims.client_id.as_deref().or(claims.azp.as_deref());
        let scopes = (!claims.scopes.is_empty()).then(|| {
            let mut s = String::new();
            for (i, sc) in claims.scopes.iter().enumerate() {
                if i > 0 {
                    s.push(' ');
                }
                s.push_str(sc.as_str());
            }
            s
        });
        let pairs = [
            (&self.subject, claims.sub.as_deref()),
            (&self.client_id, client),
            (&self.scopes, scopes.as_deref()),
            (&self.issuer, claims.iss.as_deref()),
        ];
        for (name, value) in pairs {
            let (Some(name), Some(value)) = (name, value) else {
                continue;
            };
            match HeaderValue::from_str(value) {
                Ok(v) if !value.is_empty() => out.push((name.clone(), v)),
                Ok(_) => {}
                Err(_) => tracing::warn!(
                    header = %name,
                    "a claim holds characters a header cannot carry: header left out"
                ),
            }
        }
        out
    }
}
