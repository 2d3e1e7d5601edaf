//! Shared bits of the axum 0.8 contenders: configuration from the environment and the
//! server loop. Every contender serves `GET /hello` → `hello` on `127.0.0.1:$PORT`.

use axum::Router;
use axum::routing::get;

/// What `bench-idp` wrote to its `env` file (run.sh exports it).
#[derive(Debug)]
pub struct Config {
    /// Port on 127.0.0.1.
    pub port: u16,
    /// JWKS URL (loopback).
    pub jwks_url: String,
    /// Expected `iss`.
    pub issuer: String,
    /// Expected `aud`.
    pub audience: String,
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("environment variable {name} is required"))
}

impl Config {
    /// Reads `PORT`, `JWKS_URL`, `ISSUER`, `AUDIENCE` (only `PORT` for the bare server).
    pub fn from_env(needs_keys: bool) -> Config {
        let port = var("PORT").parse().expect("PORT is a port number");
        if !needs_keys {
            return Config {
                port,
                jwks_url: String::new(),
                issuer: String::new(),
                audience: String::new(),
            };
        }
        Config {
            port,
            jwks_url: var("JWKS_URL"),
            issuer: var("ISSUER"),
            audience: var("AUDIENCE"),
        }
    }
}

/// The route every contender serves.
pub fn hello_router() -> Router {
    Router::new().route("/hello", get(|| async { "hello" }))
}

/// Serves `app` on 127.0.0.1:`port` (prints one `listening` line first).
pub async fn serve(port: u16, app: Router) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    println!(
        "listening on {}",
        listener.local_addr().expect("local addr")
    );
    axum::serve(listener, app).await.expect("server");
}
