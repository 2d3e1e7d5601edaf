//! `tonic-inventory`: the inventory gRPC service, configured like axum-orders (a TOML
//! file named by `TOLLGATE_CONFIG`, or the `TOLLGATE_*` variables; see
//! `tollgate_tower::config`; DPoP with `TOLLGATE_DPOP`, `TOLLGATE_DPOP_NONCE`,
//! `TOLLGATE_DPOP_NONCE_SECRET`, `TOLLGATE_PUBLIC_URL`, default `http://<BIND>`), plus
//! `BIND` (default `127.0.0.1:50051`).
//! Operations (`tollgate_testkit::ops`): `RUST_LOG` (default `info`),
//! `TOLLGATE_LOG_FORMAT=json`, `TOLLGATE_ADMIN_BIND` (serves `/metrics`; off when unset).
//! Exit status 2: bad configuration (the message names the field); 1: cannot start.

use std::process::ExitCode;

use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic_inventory::{Config, Guard, routes};

/// Hands the connection's peer address to tollgate's audit events.
#[allow(clippy::unnecessary_wraps)] // the interceptor signature
fn peer_addr(mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
    if let Some(addr) = req.remote_addr() {
        req.extensions_mut().insert(tollgate_tonic::PeerAddr(addr));
    }
    Ok(req)
}

#[tokio::main]
async fn main() -> ExitCode {
    if let Err(e) = tollgate_testkit::ops::init_logging() {
        eprintln!("tonic-inventory: configuration error: {e}");
        return ExitCode::from(2);
    }
    let mut config = match Config::from_lookup(|k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tonic-inventory: configuration error: {}", e.report());
            return ExitCode::from(2);
        }
    };
    // the recorder first: the gate registers its counters with the recorder it finds
    let admin = match tollgate_testkit::ops::admin_from_env(|k| std::env::var(k).ok(), &config.bind)
        .await
    {
        Ok(admin) => admin.map(|(addr, _)| addr),
        Err(e) => {
            eprintln!("tonic-inventory: configuration error: {e}");
            return ExitCode::from(2);
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
    // bound first: the address is the default public URL of DPoP proofs
    match incoming.local_addr() {
        Ok(addr) => config.listening_on(addr),
        Err(e) => {
            eprintln!("tonic-inventory: {e}");
            return ExitCode::from(1);
        }
    }
    let gate = match config.tollgate().build().await {
        Ok(g) => g,
        Err(e) if e.is_configuration() => {
            eprintln!("tonic-inventory: configuration error: {}", e.report());
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("tonic-inventory: cannot start: {}", e.report());
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
    match incoming.local_addr() {
        Ok(addr) => {
            println!("listening on {addr}");
            if let Some(admin) = admin {
                println!("admin listening on http://{admin}/metrics");
            }
        }
        Err(e) => {
            eprintln!("tonic-inventory: {e}");
            return ExitCode::from(1);
        }
    }
    if let Err(e) = Server::builder()
        // the peer address for tollgate's audit events (`remote_addr`)
        .layer(tonic::service::InterceptorLayer::new(peer_addr))
        .add_routes(routes)
        .serve_with_incoming(incoming)
        .await
    {
        eprintln!("tonic-inventory: server error: {e}");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
