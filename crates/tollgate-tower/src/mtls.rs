//! Certificate-bound access tokens (RFC 8705): where the authentication layer finds
//! the client certificate.
//!
//! A token whose `cnf` carries `x5t#S256` is accepted only when the request presents
//! the client certificate with that SHA-256 thumbprint; without one, or with another,
//! the answer is 401 `invalid_token` (reason `mtls_binding`). Tokens without
//! `x5t#S256` are unaffected. The check always runs: there is nothing to switch on,
//! only the certificate's source to choose ([`Mtls`]).
//!
//! **From the TLS connection (the default, [`CertificateSource::Connection`]).** The
//! server that terminates TLS inserts a [`ClientCertificate`] into each request's
//! extensions. With axum served over rustls (`tokio_rustls::TlsAcceptor`, a server
//! config with a client-certificate verifier), take the connection's
//! `peer_certificates()` after the handshake, build
//! `ClientCertificate::from_der(certs[0].as_ref())` once per connection, and add it to
//! every request of that connection, e.g. with `tower::ServiceExt::map_request`
//! around the router before handing it to hyper (the README has the whole server).
//! `tollgate-tonic` reads the certificate tonic's TLS server records
//! (`TlsConnectInfo`) by itself.
//!
//! **From a trusted proxy ([`CertificateSource::TrustedProxy`]), only when configured.**
//! When a proxy terminates TLS, it can forward the client certificate in a header:
//! Envoy's `x-forwarded-client-cert` (`Hash=` hex SHA-256 of the DER, or `Cert=`
//! URL-encoded PEM; set `forward_client_cert_details: SANITIZE_SET` so the proxy
//! replaces what a client sent) or RFC 9440 `Client-Cert` (`:base64-DER:`). A client
//! can forge these headers, so they are never read by default, and must only be
//! trusted when the service cannot be reached except through that proxy. In this
//! mode the header is the only source (the connection's own certificate, the
//! proxy's, is not the client's). A header that cannot be read refuses a bound
//! token (401), it never panics nor falls back.
//!
//! # Example
//!
//! ```
//! use http::{Request, Response, StatusCode, header};
//! use tollgate_core::{KeySet, Validation, authenticate::StaticKeys};
//! use tollgate_testkit::{TestKey, DEFAULT_ISSUER, DEFAULT_AUDIENCE};
//! use tollgate_tower::AuthLayer;
//! use tollgate_tower::mtls::ClientCertificate;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let key = TestKey::p256("k1");
//! let validation = Validation::builder().issuer(DEFAULT_ISSUER).audience(DEFAULT_AUDIENCE).build().unwrap();
//! let svc = ServiceBuilder::new()
//!     .layer(AuthLayer::<(), _>::new(StaticKeys::new(validation, KeySet::from_keys([key.public_key()]))))
//!     .service(service_fn(|_req: Request<String>| async {
//!         Ok::<_, std::convert::Infallible>(Response::new(String::new()))
//!     }));
//!
//! // the DER of the certificate the client presented on its TLS connection
//! let der = b"client certificate DER";
//! let cert = ClientCertificate::from_der(der);
//! let token = key.token().claim("cnf", serde_json::json!({ "x5t#S256": cert.thumbprint().to_base64url() })).sign();
//! let request = |cert: Option<ClientCertificate>| {
//!     let mut req = Request::get("/").header(header::AUTHORIZATION, format!("Bearer {token}")).body(String::new()).unwrap();
//!     if let Some(c) = cert {
//!         req.extensions_mut().insert(c); // what the TLS server does per connection
//!     }
//!     req
//! };
//!
//! // accepted: the certificate the token is bound to
//! assert_eq!(svc.clone().oneshot(request(Some(cert))).await.unwrap().status(), StatusCode::OK);
//! // rejected: no certificate, or another one
//! let res = svc.clone().oneshot(request(None)).await.unwrap();
//! assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
//! assert!(res.headers()[header::WWW_AUTHENTICATE].to_str().unwrap().contains(r#"error="invalid_token""#));
//! let other = ClientCertificate::from_der(b"another certificate");
//! assert_eq!(svc.oneshot(request(Some(other))).await.unwrap().status(), StatusCode::UNAUTHORIZED);
//! # });
//! ```

use std::fmt;

use http::Request;
use tollgate_core::error::MtlsError;
use tollgate_core::mtls::{
    CertificateThumbprint, check_certificate, is_certificate_bound, thumbprint_from_client_cert,
    thumbprint_from_xfcc,
};
use tollgate_core::{AuthError, Claims};

/// The client certificate of the request's TLS connection, by its SHA-256
/// thumbprint: a request extension the TLS server inserts (see the
/// [module docs](self)). Cheap to copy; compute it once per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientCertificate(CertificateThumbprint);

impl ClientCertificate {
    /// The certificate of the given DER encoding (the end-entity certificate: the
    /// first of rustls' `peer_certificates()`).
    #[must_use]
    pub fn from_der(der: &[u8]) -> Self {
        ClientCertificate(CertificateThumbprint::from_der(der))
    }

    /// A certificate known by its thumbprint.
    #[must_use]
    pub const fn from_thumbprint(thumbprint: CertificateThumbprint) -> Self {
        ClientCertificate(thumbprint)
    }

    /// The SHA-256 thumbprint (`x5t#S256` of tokens bound to this certificate).
    #[must_use]
    pub const fn thumbprint(&self) -> &CertificateThumbprint {
        &self.0
    }
}

/// A header through which a trusted proxy forwards the client certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForwardedHeader {
    /// Envoy's `x-forwarded-client-cert` (`Hash=` or `Cert=`; one element only).
    EnvoyXfcc,
    /// RFC 9440 `Client-Cert` (a structured-field byte sequence of the DER).
    ClientCert,
}

impl ForwardedHeader {
    /// The header name (lowercase).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            ForwardedHeader::EnvoyXfcc => "x-forwarded-client-cert",
            ForwardedHeader::ClientCert => "client-cert",
        }
    }
}

/// Where the client certificate of a request comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CertificateSource {
    /// The request's own TLS connection: a [`ClientCertificate`] extension (or the
    /// front end's reader, see [`Mtls::peer_reader`]). The default.
    #[default]
    Connection,
    /// A header set by a proxy that terminated TLS. Only for services that cannot be
    /// reached except through that proxy: a client could forge the header otherwise.
    TrustedProxy(ForwardedHeader),
}

/// Reads a front end's own record of the peer certificate from request extensions.
pub type PeerReader = fn(&http::Extensions) -> Option<ClientCertificate>;

/// The mTLS settings of a gate or an [`AuthLayer`](crate::AuthLayer): the
/// certificate source. The binding check itself is always on.
///
/// ```
/// use tollgate_tower::mtls::{CertificateSource, ForwardedHeader, Mtls};
///
/// // behind Envoy, which terminates TLS and sets x-forwarded-client-cert
/// let mtls = Mtls::new(CertificateSource::TrustedProxy(ForwardedHeader::EnvoyXfcc));
/// assert_eq!(Mtls::default().source(), CertificateSource::Connection);
/// # let _ = mtls;
/// ```
#[derive(Clone, Copy, Default)]
#[must_use]
pub struct Mtls {
    source: CertificateSource,
    peer: Option<PeerReader>,
}

impl fmt::Debug for Mtls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mtls")
            .field("source", &self.source)
            .field("peer_reader", &self.peer.is_some())
            .finish()
    }
}

impl Mtls {
    /// Certificates from `source`.
    pub const fn new(source: CertificateSource) -> Self {
        Mtls { source, peer: None }
    }

    /// With [`CertificateSource::Connection`], also asks `reader` when the request has
    /// no [`ClientCertificate`] extension: for front ends whose TLS server records the
    /// peer certificate in a type of its own (`tollgate-tonic` sets this for tonic's
    /// `TlsConnectInfo`).
    pub const fn peer_reader(mut self, reader: PeerReader) -> Self {
        self.peer = Some(reader);
        self
    }

    /// The certificate source.
    #[must_use]
    pub const fn source(&self) -> CertificateSource {
        self.source
    }

    /// The client certificate `req` presents, per the source: `Ok(None)` when it
    /// presents none.
    ///
    /// # Errors
    ///
    /// [`MtlsError::MalformedForwardedCertificate`] when the trusted proxy's header is
    /// repeated or cannot be read.
    pub fn presented<B>(&self, req: &Request<B>) -> Result<Option<ClientCertificate>, MtlsError> {
        self.presented_in(req.headers(), req.extensions())
    }

    /// [`Self::presented`] over a request's headers and extensions (for callers that
    /// hold no `http::Request`, such as a gRPC interceptor).
    ///
    /// # Errors
    ///
    /// As [`Self::presented`].
    pub fn presented_in(
        &self,
        headers: &http::HeaderMap,
        extensions: &http::Extensions,
    ) -> Result<Option<ClientCertificate>, MtlsError> {
        match self.source {
            CertificateSource::Connection => Ok(extensions
                .get::<ClientCertificate>()
                .copied()
                .or_else(|| self.peer.and_then(|read| read(extensions)))),
            CertificateSource::TrustedProxy(header) => {
                const BAD: MtlsError = MtlsError::MalformedForwardedCertificate;
                let mut values = headers.get_all(header.name()).iter();
                let Some(value) = values.next() else {
                    return Ok(None);
                };
                if values.next().is_some() {
                    return Err(BAD);
                }
                let value = value.to_str().map_err(|_| BAD)?;
                let thumbprint = match header {
                    ForwardedHeader::EnvoyXfcc => thumbprint_from_xfcc(value)?,
                    ForwardedHeader::ClientCert => Some(thumbprint_from_client_cert(value)?),
                };
                Ok(thumbprint.map(ClientCertificate))
            }
        }
    }

    /// The RFC 8705 binding rule for `req` once its token is verified: a token with
    /// `cnf["x5t#S256"]` needs the presented certificate of that thumbprint; other
    /// tokens pass without looking for a certificate.
    ///
    /// # Errors
    ///
    /// [`AuthError::Mtls`]: 401 `invalid_token`.
    pub fn admit<X, B>(&self, claims: &Claims<X>, req: &Request<B>) -> Result<(), AuthError> {
        self.admit_in(claims, req.headers(), req.extensions())
    }

    /// [`Self::admit`] over a request's headers and extensions.
    ///
    /// # Errors
    ///
    /// As [`Self::admit`].
    pub fn admit_in<X>(
        &self,
        claims: &Claims<X>,
        headers: &http::HeaderMap,
        extensions: &http::Extensions,
    ) -> Result<(), AuthError> {
        let cnf = claims.cnf.as_ref();
        if !is_certificate_bound(cnf) {
            return Ok(());
        }
        let presented = self.presented_in(headers, extensions)?;
        Ok(check_certificate(
            cnf,
            presented.as_ref().map(ClientCertificate::thumbprint),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(cnf: Option<serde_json::Value>) -> Claims<()> {
        let json = match cnf {
            Some(cnf) => serde_json::json!({ "cnf": cnf }),
            None => serde_json::json!({}),
        };
        Claims::from_json(&serde_json::to_vec(&json).unwrap()).unwrap()
    }

    #[test]
    fn sources() {
        let cert = ClientCertificate::from_der(b"c");
        let bound = claims(Some(
            serde_json::json!({ "x5t#S256": cert.thumbprint().to_base64url() }),
        ));
        let hex: String = cert
            .thumbprint()
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let req = |name: &str, value: &str| Request::get("/").header(name, value).body(()).unwrap();
        let xfcc = req("x-forwarded-client-cert", &format!("Hash={hex}"));
        let refused = |r: Result<(), AuthError>| r.unwrap_err().reason().as_str();

        // default: the header is ignored, the extension counts
        let conn = Mtls::default();
        assert_eq!(refused(conn.admit(&bound, &xfcc)), "mtls_binding");
        let mut with_ext = Request::get("/").body(()).unwrap();
        with_ext.extensions_mut().insert(cert);
        assert_eq!(conn.admit(&bound, &with_ext), Ok(()));
        // a reader is asked when the extension is absent
        let reader = conn.peer_reader(|_| Some(ClientCertificate::from_der(b"c")));
        assert_eq!(
            reader.admit(&bound, &Request::get("/").body(()).unwrap()),
            Ok(())
        );

        // trusted proxy: the header counts, the extension does not
        let proxy = Mtls::new(CertificateSource::TrustedProxy(ForwardedHeader::EnvoyXfcc));
        assert_eq!(proxy.admit(&bound, &xfcc), Ok(()));
        assert!(proxy.admit(&bound, &with_ext).is_err());
        let mut twice = xfcc;
        twice.headers_mut().append(
            "x-forwarded-client-cert",
            format!("Hash={hex}").parse().unwrap(),
        );
        assert_eq!(
            proxy.admit(&bound, &twice),
            Err(MtlsError::MalformedForwardedCertificate.into())
        );
        // unbound tokens never read the header
        assert_eq!(
            proxy.admit(&claims(None), &req("x-forwarded-client-cert", "Hash=zz")),
            Ok(())
        );
    }
}
