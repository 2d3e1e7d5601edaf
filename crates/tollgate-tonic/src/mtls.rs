//! Certificate-bound access tokens (RFC 8705) over gRPC.
//!
//! A token whose `cnf` carries `x5t#S256` needs the client certificate of that
//! SHA-256 thumbprint; the layer and the interceptor refuse it otherwise
//! (`UNAUTHENTICATED`). Where the certificate comes from is the gate's
//! [`Mtls`] setting:
//!
//! - served by tonic with TLS (feature `tls` of this crate, tonic's `tls-aws-lc`, a
//!   `ServerTlsConfig` with `client_ca_root`): the certificate tonic records for the
//!   connection (`TlsConnectInfo`, what `request.peer_certs()` reads) is used as is;
//! - any other server: a [`ClientCertificate`] request extension the server inserts;
//! - behind a proxy that terminates TLS, only when configured: its forwarded header
//!   (see [`tollgate_tower::mtls`]).
//!
//! Without the `tls` feature and without an extension, a certificate-bound token is
//! refused: the check fails closed.

#[doc(inline)]
pub use tollgate_tower::mtls::{CertificateSource, ClientCertificate, ForwardedHeader, Mtls};

/// The end-entity certificate tonic's TLS server recorded for the request's
/// connection (`TlsConnectInfo<TcpConnectInfo>` in the extensions), if any.
#[cfg(feature = "tls")]
#[must_use]
pub fn tonic_peer_certificate(extensions: &http::Extensions) -> Option<ClientCertificate> {
    use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
    let certs = extensions
        .get::<TlsConnectInfo<TcpConnectInfo>>()?
        .peer_certs()?;
    certs
        .first()
        .map(|der| ClientCertificate::from_der(der.as_ref()))
}

/// `mtls` with tonic's own record of the peer certificate as a source (feature `tls`).
pub(crate) fn for_tonic(mtls: Mtls) -> Mtls {
    #[cfg(feature = "tls")]
    let mtls = mtls.peer_reader(tonic_peer_certificate);
    mtls
}
