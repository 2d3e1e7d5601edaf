//! tollgate-axum with the verified-token cache off: every request verifies in full.
use tollgate_core::Validation;
use tollgate_core::alg::Algorithm;
use tollgate_core::remote::{IssuerConfig, Issuers};

#[tokio::main]
async fn main() {
    let cfg = bench_axum08::Config::from_env(true);
    let validation = Validation::builder()
        .issuer(&cfg.issuer)
        .audience(&cfg.audience)
        .algorithms([Algorithm::RS256, Algorithm::ES256])
        .build()
        .expect("validation");
    let issuers = Issuers::builder()
        .without_cache()
        .issuer(IssuerConfig::new(validation).jwks_uri(&cfg.jwks_url))
        .build()
        .await
        .expect("issuers build");
    let gate = tollgate_axum::Tollgate::<()>::new(issuers);
    let app = bench_axum08::hello_router().layer(gate.layer());
    bench_axum08::serve(cfg.port, app).await;
}
