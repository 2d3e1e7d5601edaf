//! tollgate-axum with its defaults: remote JWKS, verified-token cache on.
use tollgate_core::alg::Algorithm;

#[tokio::main]
async fn main() {
    let cfg = bench_axum08::Config::from_env(true);
    let gate = tollgate_axum::Tollgate::<()>::builder()
        .issuer(&cfg.issuer)
        .audience(&cfg.audience)
        .algorithms([Algorithm::RS256, Algorithm::ES256])
        .jwks_uri(&cfg.jwks_url)
        .build()
        .await
        .expect("tollgate build");
    let app = bench_axum08::hello_router().layer(gate.layer());
    bench_axum08::serve(cfg.port, app).await;
}
