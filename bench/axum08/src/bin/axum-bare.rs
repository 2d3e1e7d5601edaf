//! Bare axum 0.8: the reference (no authentication).
#[tokio::main]
async fn main() {
    let cfg = bench_axum08::Config::from_env(false);
    bench_axum08::serve(cfg.port, bench_axum08::hello_router()).await;
}
