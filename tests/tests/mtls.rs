//! Certificate-bound access tokens (RFC 8705) end to end: a real axum server over
//! rustls asking for client certificates on 127.0.0.1, certificates made at test time
//! (rcgen), tokens whose `cnf` carries `x5t#S256`; and the trusted-proxy mode, where
//! the certificate arrives in Envoy's `x-forwarded-client-cert` or RFC 9440
//! `Client-Cert`. Run with `--nocapture` to see the observed answers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tollgate_axum::mtls::{CertificateSource, ClientCertificate, ForwardedHeader, Mtls};
use tollgate_axum::{KeySet, Tollgate};
use tollgate_core::mtls::CertificateThumbprint;
use tollgate_testkit::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, TestKey};
use tower::ServiceExt;

/// A test CA, the server's certificate, and two client certificates it issued.
struct Pki {
    ca: CertificateDer<'static>,
    server: (CertificateDer<'static>, KeyPair),
    alice: (CertificateDer<'static>, KeyPair),
    mallory: (CertificateDer<'static>, KeyPair),
}

impl Pki {
    fn new() -> Self {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "tollgate test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf = |names: Vec<String>, cn: &str| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(names).unwrap();
            params.distinguished_name.push(DnType::CommonName, cn);
            let cert = params.signed_by(&key, &issuer).unwrap();
            (cert.der().clone(), key)
        };
        Pki {
            ca: ca.der().clone(),
            server: leaf(vec!["localhost".into()], "localhost"),
            alice: leaf(Vec::new(), "alice"),
            mallory: leaf(Vec::new(), "mallory"),
        }
    }

    fn roots(&self) -> Arc<rustls::RootCertStore> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.clone()).unwrap();
        Arc::new(roots)
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn private_key(key: &KeyPair) -> PrivateKeyDer<'static> {
    PrivatePkcs8KeyDer::from(key.serialize_der()).into()
}

fn thumbprint(der: &CertificateDer<'_>) -> CertificateThumbprint {
    CertificateThumbprint::from_der(der.as_ref())
}

fn hex(t: &CertificateThumbprint) -> String {
    t.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// `x-forwarded-client-cert`'s `Cert=` form: the URL-encoded PEM.
fn url_encoded_pem(der: &CertificateDer<'_>) -> String {
    let b64 = STANDARD.encode(der.as_ref());
    let lines: Vec<String> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    );
    pem.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

struct Fixture {
    idp: TestKey,
    pki: Pki,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            idp: TestKey::p256("idp"),
            pki: Pki::new(),
        }
    }

    /// A token whose `cnf` binds it to the certificate `der`.
    fn bound_to(&self, der: &CertificateDer<'_>) -> String {
        self.idp
            .token()
            .claim(
                "cnf",
                serde_json::json!({ "x5t#S256": thumbprint(der).to_base64url() }),
            )
            .sign()
    }

    fn unbound(&self) -> String {
        self.idp.token().sign()
    }

    async fn router(&self, mtls: Mtls) -> Router {
        let gate = Tollgate::<()>::builder()
            .issuer(DEFAULT_ISSUER)
            .audience(DEFAULT_AUDIENCE)
            .keys(KeySet::from_keys([self.idp.public_key()]))
            .mtls(mtls)
            .build()
            .await
            .unwrap();
        Router::new()
            .route("/orders", get(|| async { "orders" }))
            .layer(gate.layer())
    }

    /// axum over rustls on 127.0.0.1:0, asking for (not requiring) a client
    /// certificate from the test CA; each connection's certificate becomes a
    /// [`ClientCertificate`] extension of its requests. Returns the port.
    async fn serve_tls(&self, app: Router) -> u16 {
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            self.pki.roots(),
            provider(),
        )
        .allow_unauthenticated()
        .build()
        .unwrap();
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                vec![self.pki.server.0.clone()],
                private_key(&self.pki.server.1),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, app) = (acceptor.clone(), app.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let cert = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|certs| certs.first())
                        .map(|der| ClientCertificate::from_der(der.as_ref()));
                    let app = app.map_request(move |mut req: Request<hyper::body::Incoming>| {
                        if let Some(cert) = cert {
                            req.extensions_mut().insert(cert);
                        }
                        req
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(
                            TokioIo::new(tls),
                            hyper_util::service::TowerToHyperService::new(app),
                        )
                        .await;
                });
            }
        });
        port
    }
}

/// One answer, as seen by the client.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    challenge: String,
}

/// One GET over a fresh TLS connection, presenting `cert` (or none).
async fn call_tls(
    pki: &Pki,
    port: u16,
    cert: Option<&(CertificateDer<'static>, KeyPair)>,
    token: &str,
    extra: &[(&str, &str)],
) -> Answer {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(pki.roots());
    let config = match cert {
        Some((der, key)) => builder
            .with_client_auth_cert(vec![der.clone()], private_key(key))
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(Method::GET)
        .uri("/orders")
        .header("host", "localhost")
        .header("authorization", format!("Bearer {token}"));
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let res = sender
        .send_request(req.body(Empty::<Bytes>::new()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let _ = res.into_body().collect().await;
    Answer { status, challenge }
}

fn assert_invalid_token(a: &Answer, description: &str) {
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{a:?}");
    assert!(a.challenge.starts_with("Bearer "), "{a:?}");
    assert!(a.challenge.contains(r#"error="invalid_token""#), "{a:?}");
    assert!(
        a.challenge
            .contains(&format!(r#"error_description="{description}""#)),
        "{a:?}"
    );
}

const MISSING: &str = "The access token is bound to a client certificate that was not presented";
const MISMATCH: &str = "The client certificate does not match the access token";
const MALFORMED: &str = "The forwarded client certificate cannot be read";

#[tokio::test]
async fn tls_connection_certificate() {
    let f = Fixture::new();
    let port = f.serve_tls(f.router(Mtls::default()).await).await;
    let pki = &f.pki;
    let bound = f.bound_to(&pki.alice.0);

    // the certificate the token is bound to
    let a = call_tls(pki, port, Some(&pki.alice), &bound, &[]).await;
    println!("bound token, right certificate: {a:?}");
    assert_eq!(a.status, StatusCode::OK, "{a:?}");

    // another certificate of the same CA (the TLS handshake succeeds)
    let a = call_tls(pki, port, Some(&pki.mallory), &bound, &[]).await;
    println!("bound token, other certificate: {a:?}");
    assert_invalid_token(&a, MISMATCH);

    // no certificate at all
    let a = call_tls(pki, port, None, &bound, &[]).await;
    println!("bound token, no certificate: {a:?}");
    assert_invalid_token(&a, MISSING);

    // unbound tokens: with or without a certificate
    let unbound = f.unbound();
    for cert in [Some(&pki.alice), None] {
        let a = call_tls(pki, port, cert, &unbound, &[]).await;
        println!("unbound token, certificate {}: {a:?}", cert.is_some());
        assert_eq!(a.status, StatusCode::OK, "{a:?}");
    }

    // a token with an unreadable binding is refused even with a certificate
    let broken = f
        .idp
        .token()
        .claim(
            "cnf",
            serde_json::json!({ "x5t#S256": hex(&thumbprint(&pki.alice.0)) }),
        )
        .sign();
    let a = call_tls(pki, port, Some(&pki.alice), &broken, &[]).await;
    println!("binding in hex instead of base64url: {a:?}");
    assert_invalid_token(&a, "The access token has an invalid certificate binding");
}

/// Without the trusted-proxy option, forged forwarding headers are never read: the
/// bound token is refused when the connection has no certificate, and a header naming
/// another certificate changes nothing when it has the right one.
#[tokio::test]
async fn forwarded_headers_ignored_by_default() {
    let f = Fixture::new();
    let port = f.serve_tls(f.router(Mtls::default()).await).await;
    let pki = &f.pki;
    let bound = f.bound_to(&pki.alice.0);
    let alice = thumbprint(&pki.alice.0);
    let xfcc = format!("Hash={}", hex(&alice));
    let client_cert = format!(":{}:", STANDARD.encode(pki.alice.0.as_ref()));
    for (name, value) in [
        ("x-forwarded-client-cert", xfcc.as_str()),
        ("client-cert", client_cert.as_str()),
    ] {
        let a = call_tls(pki, port, None, &bound, &[(name, value)]).await;
        println!("forged {name}, no certificate: {a:?}");
        assert_invalid_token(&a, MISSING);
        let a = call_tls(pki, port, Some(&pki.mallory), &bound, &[(name, value)]).await;
        assert_invalid_token(&a, MISMATCH);
    }
    // garbage in the headers does not matter either
    let a = call_tls(
        pki,
        port,
        Some(&pki.alice),
        &bound,
        &[("x-forwarded-client-cert", "Hash=zz")],
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
}

async fn via_proxy(base: &str, token: &str, headers: &[(&str, &str)]) -> Answer {
    let auth = format!("Bearer {token}");
    let mut all = vec![("authorization", auth.as_str())];
    all.extend_from_slice(headers);
    let r = tollgate_tests::send(Method::GET, &format!("{base}/orders"), &all, "").await;
    Answer {
        status: r.status,
        challenge: r.header("www-authenticate").to_owned(),
    }
}

/// Behind Envoy (TLS terminated there, `x-forwarded-client-cert` set with
/// `SANITIZE_SET`): the plain-HTTP service reads the header because it is configured to.
#[tokio::test]
async fn trusted_proxy_xfcc() {
    let f = Fixture::new();
    let mtls = Mtls::new(CertificateSource::TrustedProxy(ForwardedHeader::EnvoyXfcc));
    let base = tollgate_tests::serve(f.router(mtls).await).await;
    let pki = &f.pki;
    let bound = f.bound_to(&pki.alice.0);
    let (alice, mallory) = (thumbprint(&pki.alice.0), thumbprint(&pki.mallory.0));
    let h = "x-forwarded-client-cert";

    let ok = [
        format!(
            "By=spiffe://cluster.local/ns/orders;Hash={};Subject=\"CN=alice\";URI=",
            hex(&alice)
        ),
        format!("Cert=\"{}\"", url_encoded_pem(&pki.alice.0)),
        format!(
            "Hash={};Cert=\"{}\"",
            hex(&alice).to_ascii_uppercase(),
            url_encoded_pem(&pki.alice.0)
        ),
    ];
    for v in &ok {
        let a = via_proxy(&base, &bound, &[(h, v)]).await;
        println!("XFCC {}...: {a:?}", &v[..v.len().min(40)]);
        assert_eq!(a.status, StatusCode::OK, "{v}: {a:?}");
    }

    let other = format!("Hash={}", hex(&mallory));
    let a = via_proxy(&base, &bound, &[(h, &other)]).await;
    println!("XFCC with another certificate: {a:?}");
    assert_invalid_token(&a, MISMATCH);
    let other_cert = format!("Cert=\"{}\"", url_encoded_pem(&pki.mallory.0));
    assert_invalid_token(
        &via_proxy(&base, &bound, &[(h, &other_cert)]).await,
        MISMATCH,
    );

    // no header, or an element without a certificate
    assert_invalid_token(&via_proxy(&base, &bound, &[]).await, MISSING);
    assert_invalid_token(
        &via_proxy(&base, &bound, &[(h, "By=spiffe://cluster.local/ns/orders")]).await,
        MISSING,
    );

    // malformed: 401, never a panic nor a pass
    let appended = format!("{},Hash={}", ok[0], hex(&mallory));
    let disagree = format!(
        "Hash={};Cert=\"{}\"",
        hex(&mallory),
        url_encoded_pem(&pki.alice.0)
    );
    for v in [
        "Hash=zz",
        "Hash",
        "Cert=\"%ZZ\"",
        "Cert=\"not a pem\"",
        "Subject=\"unterminated",
        appended.as_str(),
        disagree.as_str(),
    ] {
        let a = via_proxy(&base, &bound, &[(h, v)]).await;
        println!("XFCC malformed {v:.40}: {a:?}");
        assert_invalid_token(&a, MALFORMED);
    }
    // the header twice
    let one = format!("Hash={}", hex(&alice));
    assert_invalid_token(
        &via_proxy(&base, &bound, &[(h, &one), (h, &one)]).await,
        MALFORMED,
    );

    // the RFC 9440 header is not the configured one: not read
    let cc = format!(":{}:", STANDARD.encode(pki.alice.0.as_ref()));
    assert_invalid_token(
        &via_proxy(&base, &bound, &[("client-cert", &cc)]).await,
        MISSING,
    );

    // unbound tokens pass whatever the header holds (it is not even parsed)
    for headers in [vec![], vec![(h, "Hash=zz")], vec![(h, one.as_str())]] {
        let a = via_proxy(&base, &f.unbound(), &headers).await;
        assert_eq!(a.status, StatusCode::OK, "{headers:?}: {a:?}");
    }
}

/// RFC 9440 `Client-Cert` from a trusted proxy.
#[tokio::test]
async fn trusted_proxy_client_cert() {
    let f = Fixture::new();
    let mtls = Mtls::new(CertificateSource::TrustedProxy(ForwardedHeader::ClientCert));
    let base = tollgate_tests::serve(f.router(mtls).await).await;
    let pki = &f.pki;
    let bound = f.bound_to(&pki.alice.0);
    let h = "client-cert";
    let alice = format!(":{}:", STANDARD.encode(pki.alice.0.as_ref()));
    let mallory = format!(":{}:", STANDARD.encode(pki.mallory.0.as_ref()));

    let a = via_proxy(&base, &bound, &[(h, &alice)]).await;
    println!("Client-Cert, right certificate: {a:?}");
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    let a = via_proxy(&base, &bound, &[(h, &mallory)]).await;
    println!("Client-Cert, other certificate: {a:?}");
    assert_invalid_token(&a, MISMATCH);
    assert_invalid_token(&via_proxy(&base, &bound, &[]).await, MISSING);

    let unwrapped = STANDARD.encode(pki.alice.0.as_ref());
    for v in ["::", ":not base64!:", unwrapped.as_str()] {
        let a = via_proxy(&base, &bound, &[(h, v)]).await;
        println!("Client-Cert malformed {v:.40}: {a:?}");
        assert_invalid_token(&a, MALFORMED);
    }
    assert_invalid_token(
        &via_proxy(&base, &bound, &[(h, &alice), (h, &alice)]).await,
        MALFORMED,
    );
    // Envoy's header is not the configured one
    let xfcc = format!("Hash={}", hex(&thumbprint(&pki.alice.0)));
    assert_invalid_token(
        &via_proxy(&base, &bound, &[("x-forwarded-client-cert", &xfcc)]).await,
        MISSING,
    );
    assert_eq!(
        via_proxy(&base, &f.unbound(), &[]).await.status,
        StatusCode::OK
    );
}

/// In trusted-proxy mode the connection's own certificate (the proxy's) is not the
/// client's: a bound token needs the header even over mTLS.
#[tokio::test]
async fn trusted_proxy_ignores_the_connection() {
    let f = Fixture::new();
    let mtls = Mtls::new(CertificateSource::TrustedProxy(ForwardedHeader::EnvoyXfcc));
    let port = f.serve_tls(f.router(mtls).await).await;
    let pki = &f.pki;
    let bound = f.bound_to(&pki.alice.0);
    let a = call_tls(pki, port, Some(&pki.alice), &bound, &[]).await;
    assert_invalid_token(&a, MISSING);
    let xfcc = format!("Hash={}", hex(&thumbprint(&pki.alice.0)));
    let a = call_tls(
        pki,
        port,
        Some(&pki.mallory),
        &bound,
        &[("x-forwarded-client-cert", &xfcc)],
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let lines: Vec<String> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn identity(cert: &(CertificateDer<'static>, KeyPair)) -> tonic::transport::Identity {
    tonic::transport::Identity::from_pem(
        pem("CERTIFICATE", cert.0.as_ref()),
        pem("PRIVATE KEY", &cert.1.serialize_der()),
    )
}

/// gRPC over tonic's own TLS server (client certificates optional): the gate's layer
/// reads the certificate tonic records for the connection.
#[tokio::test]
async fn grpc_over_tonic_tls() {
    use tollgate_tonic::{GrpcGate, MethodScopes, ScopePolicy};
    use tonic::transport::{Certificate, Channel, ClientTlsConfig, Server, ServerTlsConfig};
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    let f = Fixture::new();
    let pki = &f.pki;
    let gate = Tollgate::<()>::builder()
        .issuer(DEFAULT_ISSUER)
        .audience(DEFAULT_AUDIENCE)
        .keys(KeySet::from_keys([f.idp.public_key()]))
        .build()
        .await
        .unwrap();
    let methods =
        MethodScopes::new().method("/grpc.health.v1.Health/Check", ScopePolicy::authenticated());
    let (_reporter, health) = tonic_health::server::health_reporter();
    let ca = Certificate::from_pem(pem("CERTIFICATE", pki.ca.as_ref()));
    let tls = ServerTlsConfig::new()
        .identity(identity(&pki.server))
        .client_ca_root(ca.clone())
        .client_auth_optional(true);
    let incoming =
        tonic::transport::server::TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = incoming.local_addr().unwrap();
    tokio::spawn(
        Server::builder()
            .tls_config(tls)
            .unwrap()
            .layer(gate.grpc_layer(methods))
            .add_service(health)
            .serve_with_incoming(incoming),
    );

    let check = |cert: Option<&(CertificateDer<'static>, KeyPair)>, token: String| {
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(ca.clone())
            .domain_name("localhost");
        if let Some(c) = cert {
            tls = tls.identity(identity(c));
        }
        async move {
            let channel = Channel::from_shared(format!("https://localhost:{}", addr.port()))
                .unwrap()
                .tls_config(tls)
                .unwrap()
                .connect()
                .await
                .unwrap();
            let mut req = tonic::Request::new(HealthCheckRequest::default());
            req.metadata_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
            HealthClient::new(channel).check(req).await.map(|_| ())
        }
    };

    let bound = f.bound_to(&pki.alice.0);
    let r = check(Some(&pki.alice), bound.clone()).await;
    println!("gRPC bound token, right certificate: {r:?}");
    assert!(r.is_ok(), "{r:?}");
    for (cert, message) in [(Some(&pki.mallory), MISMATCH), (None, MISSING)] {
        let status = check(cert, bound.clone()).await.unwrap_err();
        println!(
            "gRPC bound token, certificate {:?}: {:?} {}",
            cert.map(|_| "mallory"),
            status.code(),
            status.message()
        );
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
        assert_eq!(status.message(), message);
    }
    assert!(check(None, f.unbound()).await.is_ok());
    assert!(check(Some(&pki.mallory), f.unbound()).await.is_ok());
}

/// The synchronous interceptor applies the same rule to the certificate it finds.
#[tokio::test]
async fn grpc_interceptor() {
    use tollgate_tonic::{GrpcGate, ScopePolicy};
    use tonic::service::Interceptor;

    let f = Fixture::new();
    let gate = Tollgate::<()>::builder()
        .issuer(DEFAULT_ISSUER)
        .audience(DEFAULT_AUDIENCE)
        .keys(KeySet::from_keys([f.idp.public_key()]))
        .build()
        .await
        .unwrap();
    let mut interceptor = gate
        .grpc_interceptor(ScopePolicy::authenticated())
        .expect("no DPoP on this gate");
    let alice = ClientCertificate::from_der(f.pki.alice.0.as_ref());
    let request = |token: &str, cert: Option<ClientCertificate>| {
        let mut req = tonic::Request::new(());
        req.metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        if let Some(c) = cert {
            req.extensions_mut().insert(c);
        }
        req
    };
    let bound = f.bound_to(&f.pki.alice.0);
    assert!(interceptor.call(request(&bound, Some(alice))).is_ok());
    let s = interceptor.call(request(&bound, None)).unwrap_err();
    assert_eq!(
        (s.code(), s.message()),
        (tonic::Code::Unauthenticated, MISSING)
    );
    let mallory = ClientCertificate::from_der(f.pki.mallory.0.as_ref());
    let s = interceptor
        .call(request(&bound, Some(mallory)))
        .unwrap_err();
    assert_eq!(
        (s.code(), s.message()),
        (tonic::Code::Unauthenticated, MISMATCH)
    );
    assert!(interceptor.call(request(&f.unbound(), None)).is_ok());
    // the interceptor has no DPoP: a DPoP-bound token is not accepted as a bearer token
    let dpop_key = tollgate_testkit::TestKey::p256("dpop-client");
    let dpop_bound = f.idp.token().dpop_bound(&dpop_key).sign();
    let s = interceptor.call(request(&dpop_bound, None)).unwrap_err();
    assert_eq!(
        (s.code(), s.message()),
        (
            tonic::Code::Unauthenticated,
            "The access token is bound to a key and needs a DPoP proof"
        )
    );
}

/// RFC 8705 end to end on the client side: tollgate-client asks a real TLS token
/// endpoint for a token with `tls_client_auth` (the certificate presented by
/// `HyperClient`), the endpoint binds the token to that certificate, and the resource
/// server accepts it from that certificate only.
#[tokio::test]
async fn client_obtains_and_uses_a_certificate_bound_token() {
    use axum::extract::Extension;
    use axum::routing::post;
    use tollgate_client::{ClientAuth, ClientCredentials, TokenEndpoint, TokenSource};
    use tollgate_core::oauth::{HttpClient, HttpRequest, HyperClient, mtls_client_config};

    let f = Arc::new(Fixture::new());
    // the authorization server's token endpoint: tls_client_auth, tokens bound to the
    // presented certificate
    let idp = f.clone();
    let token = move |cert: Option<Extension<ClientCertificate>>, body: String| {
        let idp = idp.clone();
        async move {
            let json = [(http::header::CONTENT_TYPE, "application/json")];
            let form_ok = body.contains("grant_type=client_credentials")
                && body.contains("client_id=orders-client");
            match cert {
                Some(Extension(cert)) if form_ok => {
                    let access = idp
                        .idp
                        .token()
                        .subject("orders-client")
                        .claim(
                            "cnf",
                            serde_json::json!({ "x5t#S256": cert.thumbprint().to_base64url() }),
                        )
                        .sign();
                    let answer = serde_json::json!({
                        "access_token": access, "token_type": "Bearer", "expires_in": 300
                    });
                    (StatusCode::OK, json, answer.to_string())
                }
                _ => (
                    StatusCode::UNAUTHORIZED,
                    json,
                    r#"{"error":"invalid_client"}"#.to_owned(),
                ),
            }
        }
    };
    // RFC 8414 metadata with RFC 8705 §5 aliases: the plain token endpoint is a decoy
    let metadata = |headers: http::HeaderMap| async move {
        let host = headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let base = format!("https://{host}");
        let doc = serde_json::json!({
            "issuer": base,
            "token_endpoint": format!("{base}/plain-token"),
            "mtls_endpoint_aliases": { "token_endpoint": format!("{base}/token") },
        });
        (
            [(http::header::CONTENT_TYPE, "application/json")],
            doc.to_string(),
        )
    };
    let app = f
        .router(Mtls::default())
        .await
        .route("/token", post(token))
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route(
            // an issuer without aliases: the conventional endpoint is used
            "/.well-known/oauth-authorization-server/plain",
            get(|headers: http::HeaderMap| async move {
                let host = headers[http::header::HOST].to_str().unwrap().to_owned();
                let doc = serde_json::json!({
                    "issuer": format!("https://{host}/plain"),
                    "token_endpoint": format!("https://{host}/token"),
                });
                (
                    [(http::header::CONTENT_TYPE, "application/json")],
                    doc.to_string(),
                )
            }),
        );
    let port = f.serve_tls(app).await;
    let pki = &f.pki;
    let endpoint = format!("https://localhost:{port}/token");
    let with_cert = |cert: Option<&(CertificateDer<'static>, KeyPair)>| match cert {
        Some((der, key)) => HyperClient::with_tls_config(
            mtls_client_config((*pki.roots()).clone(), vec![der.clone()], private_key(key))
                .unwrap(),
        ),
        None => HyperClient::with_tls_config(
            rustls::ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(pki.roots())
                .with_no_client_auth(),
        ),
    };

    let http = with_cert(Some(&pki.alice));
    // discovery picks the mTLS alias (RFC 8705 §5)
    let discovered =
        TokenEndpoint::discover_mtls(&format!("https://localhost:{port}"), Arc::new(http.clone()))
            .await
            .unwrap();
    println!("mtls_endpoint_aliases.token_endpoint: {}", discovered.uri());
    assert_eq!(discovered.uri().to_string(), endpoint);
    let plain = TokenEndpoint::discover_mtls(
        &format!("https://localhost:{port}/plain"),
        Arc::new(http.clone()),
    )
    .await
    .unwrap();
    assert_eq!(plain.uri().to_string(), endpoint);
    let source = ClientCredentials::builder(
        discovered.client_auth(ClientAuth::tls_client_auth("orders-client")),
    )
    .build()
    .unwrap();
    let access = source.token().await.unwrap();
    let access = access.secret().to_owned();
    println!(
        "tls_client_auth token request: token of {} bytes",
        access.len()
    );

    // the same HTTP client (alice's certificate) calls the resource server: 200
    let mut headers = http::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {access}").parse().unwrap());
    headers.insert("host", "localhost".parse().unwrap());
    let uri: http::Uri = format!("https://localhost:{port}/orders").parse().unwrap();
    let res = http
        .send(HttpRequest::get(uri.clone(), headers.clone(), 1024))
        .await
        .unwrap();
    println!(
        "call with the bound token over alice's mTLS: {}",
        res.status
    );
    assert_eq!(res.status, StatusCode::OK);
    // another certificate, or none: 401
    for cert in [Some(&pki.mallory), None] {
        let res = with_cert(cert)
            .send(HttpRequest::get(uri.clone(), headers.clone(), 1024))
            .await
            .unwrap();
        println!(
            "call with the bound token, certificate {}: {}",
            cert.is_some(),
            res.status
        );
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    }

    // without a certificate the token endpoint refuses the client
    let no_cert = ClientCredentials::builder(
        TokenEndpoint::new(&endpoint)
            .unwrap()
            .http_client(with_cert(None))
            .client_auth(ClientAuth::tls_client_auth("orders-client")),
    )
    .build()
    .unwrap();
    let e = no_cert.token().await.unwrap_err();
    println!("tls_client_auth without a certificate: {e}");
    assert!(e.to_string().contains("invalid_client"), "{e}");
}
