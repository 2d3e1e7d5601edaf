//! tollgate-cached with a Prometheus recorder installed (issue 17): every decision and
//! cache hit is recorded, as in a service that serves `/metrics`.
use tollgate_core::alg::Algorithm;

#[tokio::main]
async fn main() {
    let cfg = bench_axum08::Config::from_env(true);
    // installed before the gate serves: its handles register with this recorder
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).expect("recorder");
    let gate = tollgate_axum::Tollgate::<()>::builder()
        .issuer(&cfg.issuer)
        .audience(&cfg.audience)
        .algorithms([Algorithm::RS256, Algorithm::ES256])
        .jwks_uri(&cfg.jwks_url)
        .build()
        .await
        .expect("tollgate build");
    let app = bench_axum08::hello_router()
        .layer(gate.layer())
        // the scrape, outside the gate (for a manual check that recording happens)
        .route(
            "/metrics",
            axum::routing::get(move || std::future::ready(handle.render())),
        );
    bench_axum08::serve(cfg.port, app).await;
}
