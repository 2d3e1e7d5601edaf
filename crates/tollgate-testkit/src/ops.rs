//! Operating the example binaries: logging set-up and the admin `/metrics` listener
//! (feature `ops`, on with `idp`).
//!
//! Every binary of the workspace (the examples and `tollgate-dev-idp`) calls
//! [`init_logging`] first, and the services call [`admin_from_env`]: one helper, no copy
//! per binary. A service of your own does the same in a few lines with
//! `tracing-subscriber` and the `metrics` exporter you prefer; tollgate itself only
//! emits `tracing` events and records through the `metrics` facade.
//!
//! | variable | effect |
//! |---|---|
//! | `RUST_LOG` | an `EnvFilter` directive (default `info`), e.g. `debug` or `info,tollgate::audit=debug` |
//! | `TOLLGATE_LOG_FORMAT` | `text` (default, human-readable) or `json` (one JSON object per line) |
//! | `TOLLGATE_ADMIN_BIND` | address of the admin listener serving `GET /metrics` (Prometheus text); off when unset, refused when equal to the public address |
//!
//! Logs go to standard error (standard output stays for the `listening on` line).
//!
//! # Example
//!
//! ```
//! use tollgate_testkit::ops::{LogFormat, logging_settings};
//!
//! // accepted
//! let (filter, format) = logging_settings(|k| (k == "TOLLGATE_LOG_FORMAT").then(|| "json".to_owned())).unwrap();
//! assert_eq!((filter.as_str(), format), ("info", LogFormat::Json));
//! // rejected: an unknown format is named
//! let err = logging_settings(|k| (k == "TOLLGATE_LOG_FORMAT").then(|| "xml".to_owned())).unwrap_err();
//! assert!(err.contains("TOLLGATE_LOG_FORMAT"));
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogFormat {
    /// Human-readable lines (the default).
    Text,
    /// One JSON object per line (`TOLLGATE_LOG_FORMAT=json`).
    Json,
}

/// Reads `RUST_LOG` (default `info`) and `TOLLGATE_LOG_FORMAT` through `get`.
///
/// # Errors
///
/// A message naming the variable whose value is not understood.
pub fn logging_settings(
    get: impl Fn(&str) -> Option<String>,
) -> Result<(String, LogFormat), String> {
    let filter = get("RUST_LOG")
        .filter(|f| !f.trim().is_empty())
        .unwrap_or_else(|| "info".to_owned());
    let format = match get("TOLLGATE_LOG_FORMAT").as_deref().map(str::trim) {
        None | Some("" | "text") => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some(other) => {
            return Err(format!(
                "TOLLGATE_LOG_FORMAT is {other:?}: expected \"text\" or \"json\""
            ));
        }
    };
    Ok((filter, format))
}

/// Installs the global `tracing` subscriber from `RUST_LOG` and `TOLLGATE_LOG_FORMAT`
/// (see the [module docs](self)), writing to standard error. Does nothing when a
/// subscriber is already installed.
///
/// # Errors
///
/// A message naming the variable whose value is not understood (exit with status 2).
pub fn init_logging() -> Result<(), String> {
    init_logging_with(|k| std::env::var(k).ok())
}

/// [`init_logging`] reading the variables through `get`.
///
/// # Errors
///
/// As [`init_logging`].
pub fn init_logging_with(get: impl Fn(&str) -> Option<String>) -> Result<(), String> {
    let (filter, format) = logging_settings(get)?;
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .map_err(|e| format!("RUST_LOG is not a valid filter: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    // Err only when a subscriber is already installed: keep that one.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    Ok(())
}

/// Installs the Prometheus recorder as the global `metrics` recorder and keeps it tidy
/// (a background upkeep task; call inside a tokio runtime). Install it before
/// building the gate: tollgate registers its counters on first use.
///
/// # Errors
///
/// A recorder is already installed.
pub fn install_metrics() -> Result<PrometheusHandle, String> {
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

/// Serves `GET /metrics` (Prometheus text format, rendered from `handle`) on `bind`;
/// any other path is 404. Returns the bound address (`bind` may use port 0).
///
/// # Errors
///
/// The address cannot be bound.
pub async fn serve_admin(bind: &str, handle: PrometheusHandle) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let handle = handle.clone();
            tokio::spawn(answer(stream, handle));
        }
    });
    Ok(addr)
}

/// One request per connection: read the head, answer, close.
async fn answer(mut stream: tokio::net::TcpStream, handle: PrometheusHandle) {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let head_read = tokio::time::timeout(Duration::from_secs(5), async {
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        true
    })
    .await;
    if !matches!(head_read, Ok(true)) {
        return;
    }
    let line = buf.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next(), parts.next());
    let (status, ctype, body) = match (method, path.map(|p| p.split('?').next())) {
        (Some("GET"), Some(Some("/metrics"))) => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            handle.render(),
        ),
        _ => ("404 Not Found", "text/plain", "not found\n".to_owned()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// The admin listener when `TOLLGATE_ADMIN_BIND` is set (read through `get`): installs
/// the recorder ([`install_metrics`]) and serves `/metrics` ([`serve_admin`]). `None`
/// when unset. `public_bind` is the service's own address: the admin listener is
/// never put on it.
///
/// # Errors
///
/// A message naming `TOLLGATE_ADMIN_BIND` (the same address as the public listener, or
/// one that cannot be bound), or the recorder could not be installed.
pub async fn admin_from_env(
    get: impl Fn(&str) -> Option<String>,
    public_bind: &str,
) -> Result<Option<(SocketAddr, PrometheusHandle)>, String> {
    let Some(bind) = get("TOLLGATE_ADMIN_BIND").filter(|b| !b.trim().is_empty()) else {
        return Ok(None);
    };
    let bind = bind.trim();
    if bind == public_bind.trim() && !bind.ends_with(":0") {
        return Err(format!(
            "TOLLGATE_ADMIN_BIND is the public address {bind}: the admin listener needs its own"
        ));
    }
    let handle = install_metrics()?;
    let addr = serve_admin(bind, handle.clone())
        .await
        .map_err(|e| format!("TOLLGATE_ADMIN_BIND {bind}: cannot bind: {e}"))?;
    Ok(Some((addr, handle)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings() {
        let none = |_: &str| None;
        assert_eq!(
            logging_settings(none).unwrap(),
            ("info".to_owned(), LogFormat::Text)
        );
        let set = |k: &str| (k == "RUST_LOG").then(|| "debug".to_owned());
        assert_eq!(logging_settings(set).unwrap().0, "debug");
        assert!(
            init_logging_with(|k| (k == "RUST_LOG").then(|| "tollgate=loud".to_owned())).is_err()
        );
    }
}
