//! `tonic-inventory`: the inventory gRPC service, configured by environment variables
//! (`TOLLGATE_ISSUER`, `TOLLGATE_AUDIENCE`, `TOLLGATE_JWKS_URI`, `TOLLGATE_ALGORITHMS`,
//! `BIND`, default `127.0.0.1:50051`).

use std::process::ExitCode;

use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic_inventory::{Config, Guard, routes};

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Config::from_lookup(|k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tonic-inventory: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let gate = match config.tollgate().build().await {
        Ok(g) => g,
        Err(e) => {
            eprintln!("tonic-inventory: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    let routes = match routes(&gate, Guard::Layer).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tonic-inventory: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    let addr = match tokio::net::lookup_host(&config.bind)
        .await
        .ok()
        .and_then(|mut a| a.next())
    {
        Some(a) => a,
        None => {
            eprintln!("tonic-inventory: cannot resolve BIND {}", config.bind);
            return ExitCode::from(2);
        }
    };
    let incoming = match TcpIncoming::bind(addr) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("tonic-inventory: cannot bind {addr}: {e}");
            return ExitCode::from(1);
        }
    };
    match incoming.local_addr() {
        Ok(addr) => println!("listening on {addr}"),
        Err(e) => {
            eprintln!("tonic-inventory: {e}");
            return ExitCode::from(1);
        }
    }
    if let Err(e) = Server::builder()
        .add_routes(routes)
        .serve_with_incoming(incoming)
        .await
    {
        eprintln!("tonic-inventory: server error: {e}");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
