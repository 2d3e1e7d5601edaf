//! `axum-orders`: the orders service, configured by a TOML file named by
//! `TOLLGATE_CONFIG`, or by environment variables (`TOLLGATE_ISSUER`,
//! `TOLLGATE_AUDIENCE`, `TOLLGATE_PRESET`, `TOLLGATE_JWKS_URI`, `TOLLGATE_ALGORITHMS`;
//! for opaque tokens `TOLLGATE_INTROSPECTION_URI`, `TOLLGATE_CLIENT_ID`,
//! `TOLLGATE_CLIENT_SECRET` or `TOLLGATE_CLIENT_SECRET_FILE`,
//! `TOLLGATE_INTROSPECTION_CACHE_SECS`, `TOLLGATE_INTROSPECTION_MAX_IN_FLIGHT`,
//! `TOLLGATE_INTROSPECTION_MAX_PER_SEC`; for DPoP `TOLLGATE_DPOP`, `TOLLGATE_DPOP_NONCE`,
//! `TOLLGATE_DPOP_NONCE_SECRET`, `TOLLGATE_PUBLIC_URL` (default `http://<BIND>`); for many
//! replicas `TOLLGATE_REDIS_URL`, `TOLLGATE_REDIS_PREFIX`, `TOLLGATE_REDIS_TIMEOUT_MS`: the
//! DPoP replay store and the introspection cache on Redis), plus `BIND`. See
//! `tollgate_tower::config`.
//! Operations (`tollgate_testkit::ops`): `RUST_LOG` (default `info`),
//! `TOLLGATE_LOG_FORMAT=json`, `TOLLGATE_ADMIN_BIND` (serves `/metrics`; off when unset).
//! Exit status 2: bad configuration (the message names the field); 1: cannot start.

use std::process::ExitCode;

use axum_orders::{Config, router};

#[tokio::main]
async fn main() -> ExitCode {
    if let Err(e) = tollgate_testkit::ops::init_logging() {
        eprintln!("axum-orders: configuration error: {e}");
        return ExitCode::from(2);
    }
    let mut config = match Config::from_lookup(|k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("axum-orders: configuration error: {}", e.report());
            return ExitCode::from(2);
        }
    };
    // the recorder first: the gate registers its counters with the recorder it finds
    let admin = match tollgate_testkit::ops::admin_from_env(|k| std::env::var(k).ok(), &config.bind)
        .await
    {
        Ok(admin) => admin.map(|(addr, _)| addr),
        Err(e) => {
            eprintln!("axum-orders: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    // bound first: the address is the default public URL of DPoP proofs
    let listener = match tokio::net::TcpListener::bind(&config.bind).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("axum-orders: cannot bind {}: {e}", config.bind);
            return ExitCode::from(1);
        }
    };
    match listener.local_addr() {
        Ok(addr) => config.listening_on(addr),
        Err(e) => {
            eprintln!("axum-orders: {e}");
            return ExitCode::from(1);
        }
    }
    let app = match config.tollgate().build().await {
        Ok(gate) => router(&gate),
        Err(e) if e.is_configuration() => {
            eprintln!("axum-orders: configuration error: {}", e.report());
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("axum-orders: cannot start: {}", e.report());
            return ExitCode::from(1);
        }
    };
    match listener.local_addr() {
        Ok(addr) => {
            println!("listening on http://{addr}");
            if let Some(admin) = admin {
                println!("admin listening on http://{admin}/metrics");
            }
        }
        Err(e) => {
            eprintln!("axum-orders: {e}");
            return ExitCode::from(1);
        }
    }
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("axum-orders: server error: {e}");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
