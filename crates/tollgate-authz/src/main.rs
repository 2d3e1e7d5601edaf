//! `tollgate-authz`: the checkpoint of a gateway. Configured by the TOML file named by
//! `TOLLGATE_CONFIG` (the gate's `[[issuer]]`, `[introspection]`, `[cache]`, `realm`,
//! plus `[[route]]` rules and `[authz]`; see `tollgate_authz::config`) and `BIND`
//! (default `127.0.0.1:8181`). Serves, on one port, `/authz` (forward auth, any method,
//! HTTP/1.1 and h2c) and the Envoy ext_authz gRPC `Check`.
//!
//! Starts without waiting for the identity provider (unless introspection is
//! configured, whose set-up may read discovery): until the first key set arrives,
//! protected routes answer 503 with `Retry-After`.
//!
//! The first line on stdout is `listening on http://ADDR`. Exit status 2: bad
//! configuration (the message names the field); 1: cannot start.

use std::process::ExitCode;

use tollgate_authz::{AuthzConfig, ExtAuthz, ForwardAuth};

/// Unknown gRPC methods: `UNIMPLEMENTED`; anything else: 404.
async fn not_found(req: axum::extract::Request) -> axum::response::Response {
    let grpc = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    if grpc {
        tonic::Status::unimplemented("").into_http()
    } else {
        let mut res = axum::response::Response::default();
        *res.status_mut() = http::StatusCode::NOT_FOUND;
        res
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let config = match AuthzConfig::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tollgate-authz: configuration error: {}", e.report());
            return ExitCode::from(2);
        }
    };
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:8181".to_owned());
    let builder = config.gate.builder::<()>();
    let built = if config.gate.introspection.is_some() {
        builder.build().await
    } else {
        builder.build_lazy()
    };
    let gate = match built {
        Ok(g) => g,
        Err(e) if e.is_configuration() => {
            eprintln!("tollgate-authz: configuration error: {}", e.report());
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("tollgate-authz: cannot start: {}", e.report());
            return ExitCode::from(1);
        }
    };
    // one checkpoint (one phantom-token cache) for both endpoints
    let checkpoint = match config.checkpoint(&gate) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tollgate-authz: configuration error: {}", e.report());
            return ExitCode::from(2);
        }
    };
    let forward =
        ForwardAuth::<axum::body::Body>::new(checkpoint.clone()).convention(config.convention);
    let grpc = tonic::service::Routes::new(ExtAuthz::new(checkpoint).into_server());
    let app = grpc
        .into_axum_router()
        .route_service("/authz", forward)
        .fallback(not_found);
    let listener = match tokio::net::TcpListener::bind(&bind).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("tollgate-authz: cannot bind {bind}: {e}");
            return ExitCode::from(1);
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!("listening on http://{addr}"),
        Err(e) => {
            eprintln!("tollgate-authz: {e}");
            return ExitCode::from(1);
        }
    }
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("tollgate-authz: server error: {e}");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
