//! tollgate-tonic's GrpcAuthLayer (remote JWKS, verified-token cache on by default) in
//! front of the same hello service; the method requires an authenticated caller.
use bench_grpc::{HelloService, SAY, addr, pb::hello_server::HelloServer, var};
use tollgate_core::Validation;
use tollgate_core::alg::Algorithm;
use tollgate_core::remote::{IssuerConfig, Issuers};
use tollgate_core::scope::ScopePolicy;
use tollgate_tonic::{GrpcAuthLayer, MethodScopes};

#[tokio::main]
async fn main() {
    let validation = Validation::builder()
        .issuer(var("ISSUER"))
        .audience(var("AUDIENCE"))
        .algorithms([Algorithm::RS256, Algorithm::ES256])
        .build()
        .expect("validation");
    let issuers = Issuers::builder()
        .issuer(IssuerConfig::new(validation).jwks_uri(var("JWKS_URL")))
        .build()
        .await
        .expect("issuers build");
    let gate = GrpcAuthLayer::new(
        issuers,
        MethodScopes::new().method(SAY, ScopePolicy::authenticated()),
    );
    let addr = addr();
    println!("listening on {addr}");
    tonic::transport::Server::builder()
        .add_service(gate.named(HelloServer::new(HelloService)))
        .serve(addr)
        .await
        .expect("server");
}
