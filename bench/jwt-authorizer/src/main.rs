//! jwt-authorizer 0.15 (axum 0.7): JWKS URL, iss + aud + exp checked. Algorithms: the
//! `alg` of the selected JWK (RS256 for the RSA key, ES256 for the P-256 key).
//! `Validation::algs(vec![RS256, ES256])` cannot be used: jsonwebtoken 9 refuses a
//! validation whose algorithms span key families ("InvalidAlgorithm" → 401 for every
//! token), so the key's own `alg` is the equivalent allow-list here.
use axum::Router;
use axum::routing::get;
use jwt_authorizer::{Authorizer, IntoLayer, JwtAuthorizer, Validation};

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("environment variable {name} is required"))
}

#[tokio::main]
async fn main() {
    let port: u16 = var("PORT").parse().expect("PORT");
    let validation = Validation::new()
        .iss(&[var("ISSUER")])
        .aud(&[var("AUDIENCE")]);
    let auth: Authorizer = JwtAuthorizer::from_jwks_url(&var("JWKS_URL"))
        .validation(validation)
        .build()
        .await
        .expect("jwt-authorizer build");
    let app = Router::new()
        .route("/hello", get(|| async { "hello" }))
        .layer(auth.into_layer());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    println!(
        "listening on {}",
        listener.local_addr().expect("local addr")
    );
    axum::serve(listener, app).await.expect("server");
}
