//! One authenticator for JWTs and opaque tokens: [`JwtOrIntrospect`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;

use super::{IntrospectFuture, Introspector};
use crate::authenticate::Authenticate;
use crate::{AuthError, Claims};

/// Which tokens [`JwtOrIntrospect`] sends to introspection.
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

/// An authenticator that verifies JWTs locally with `J` ([`Issuers`] or
/// [`StaticKeys`]) and introspects the other tokens (or all of them, per [`Routing`]).
/// Handlers and scope policies see the same [`Claims`] either way.
///
/// [`Issuers`]: crate::remote::Issuers
/// [`StaticKeys`]: crate::authenticate::StaticKeys
#[derive(Debug, Clone)]
pub struct JwtOrIntrospect<J> {
    jwt: J,
    introspector: Introspector,
    routing: Routing,
}

impl<J> JwtOrIntrospect<J> {
    /// JWTs to `jwt`, other tokens to `introspector` ([`Routing::NonJwt`]).
    #[must_use]
    pub fn new(jwt: J, introspector: Introspector) -> Self {
        JwtOrIntrospect {
            jwt,
            introspector,
            routing: Routing::default(),
        }
    }

    /// Which tokens are introspected.
    #[must_use]
    pub fn routing(mut self, routing: Routing) -> Self {
        self.routing = routing;
        self
    }

    /// The JWT authenticator.
    #[must_use]
    pub fn jwt(&self) -> &J {
        &self.jwt
    }

    /// The introspector.
    #[must_use]
    pub fn introspector(&self) -> &Introspector {
        &self.introspector
    }
}

/// The future of [`JwtOrIntrospect::authenticate`](Authenticate::authenticate).
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct RoutedFuture<F, X> {
    inner: Either<F, IntrospectFuture<X>>,
}

#[derive(Debug)]
enum Either<F, I> {
    Jwt(F),
    Introspect(I),
}

impl<F, X> Future for RoutedFuture<F, X>
where
    F: Future<Output = Result<Arc<Claims<X>>, AuthError>> + Unpin,
{
    type Output = Result<Arc<Claims<X>>, AuthError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().inner {
            Either::Jwt(f) => Pin::new(f).poll(cx),
            Either::Introspect(f) => Pin::new(f).poll(cx),
        }
    }
}

impl<X, J> Authenticate<X> for JwtOrIntrospect<J>
where
    X: DeserializeOwned + Send + Sync + 'static,
    J: Authenticate<X>,
{
    type Future = RoutedFuture<J::Future, X>;

    fn authenticate(&self, token: &str) -> Self::Future {
        let introspect = match self.routing {
            Routing::All => true,
            Routing::NonJwt => !looks_like_jwt(token),
        };
        RoutedFuture {
            inner: if introspect {
                Either::Introspect(Authenticate::<X>::authenticate(&self.introspector, token))
            } else {
                Either::Jwt(self.jwt.authenticate(token))
            },
        }
    }
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
