//! tower-oauth2-resource-server 0.12.5 (axum 0.8): JWKS URL, iss + aud + exp checked,
//! RS256/ES256 allowed. (`ClaimsValidationSpec::recommended` would also *require* an
//! `nbf` claim, which RFC 9068 access tokens need not carry and the other contenders do
//! not demand; the spec below checks what the others check.) Built twice: `bench-toors-awslc` (jsonwebtoken's
//! aws-lc-rs backend) and `bench-toors-rustcrypto` (the crate's default features).
use axum::Router;
use axum::routing::get;
use jsonwebtoken::Algorithm;
use tower_oauth2_resource_server::server::OAuth2ResourceServer;
use tower_oauth2_resource_server::tenant::TenantConfiguration;
use tower_oauth2_resource_server::validation::ClaimsValidationSpec;

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("environment variable {name} is required"))
}

#[tokio::main]
async fn main() {
    let port: u16 = var("PORT").parse().expect("PORT");
    let issuer = var("ISSUER");
    let audiences = vec![var("AUDIENCE")];
    let tenant = TenantConfiguration::builder(issuer.clone())
        .jwks_url(var("JWKS_URL"))
        .audiences(&audiences)
        .claims_validation(
            ClaimsValidationSpec::new()
                .iss(&issuer)
                .exp(true)
                .aud(&audiences),
        )
        .allowed_algorithms(&[Algorithm::RS256, Algorithm::ES256])
        .build()
        .await
        .expect("tenant build");
    let server = <OAuth2ResourceServer>::builder()
        .add_tenant(tenant)
        .build()
        .await
        .expect("resource server build");
    let app = Router::new()
        .route("/hello", get(|| async { "hello" }))
        .layer(server.into_layer());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    println!(
        "listening on {}",
        listener.local_addr().expect("local addr")
    );
    axum::serve(listener, app).await.expect("server");
}
