//! A small HTTP/1.1 JWKS and discovery server for tests, on `127.0.0.1:0`.
//!
//! Everything an identity provider does to a resource server's key fetching can be
//! staged at run time: change the key set (rotation), stop and restart on the same port
//! (outage), switch a fault mode ([`Fault`]: status codes, hanging, garbage, huge
//! bodies, redirects), set `Cache-Control`, answer conditional requests with 304
//! (`ETag`), serve discovery metadata in either well-known form, and count requests.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use tollgate_testkit::{TestKey, jwks_server::{serve_jwks, Fault}};
//! let key = TestKey::p256("k1");
//! let (url, server) = serve_jwks(TestKey::jwks([&key])).await;
//! assert!(url.ends_with("/jwks"));
//! server.set_fault(Some(Fault::Status(500)));
//! assert_eq!(server.jwks_requests(), 0);
//! # });
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A misbehaviour of the server (applies to every path while set).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer with this status and an empty body.
    Status(u16),
    /// Read the request, then never answer (until the server stops).
    Hang,
    /// 200 with a body that is not JSON.
    Garbage,
    /// 200 with this many bytes of body, streamed without `Content-Length`.
    Huge(usize),
    /// 302 to this `Location`.
    Redirect(String),
}

/// Which well-known discovery documents are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WellKnown {
    /// `{issuer}/.well-known/openid-configuration` only.
    OpenId,
    /// RFC 8414 `/.well-known/oauth-authorization-server{issuer path}` only.
    OAuth,
    /// Both.
    Both,
}

#[derive(Debug)]
struct Discovery {
    issuer_path: String,
    forms: WellKnown,
    issuer_override: Option<String>,
}

#[derive(Debug)]
struct State {
    jwks: Value,
    version: u64,
    fault: Option<Fault>,
    cache_control: Option<String>,
    etag: bool,
    jwks_path: String,
    discovery: Option<Discovery>,
    requests: HashMap<String, usize>,
    not_modified: usize,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    addr: SocketAddr,
    /// Bumped by `stop`: open connections (e.g. hanging ones) end.
    stop: watch::Sender<u64>,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Handle of a running JWKS server. Dropping it stops the server.
#[derive(Debug)]
pub struct JwksServer {
    shared: Arc<Shared>,
    accept: Mutex<Option<JoinHandle<()>>>,
}

/// Starts a JWKS server on `127.0.0.1:0` serving `jwks` at `/jwks`; returns that URL
/// and the handle. `ETag` support is on; no `Cache-Control` until set.
///
/// # Panics
/// When no loopback port can be bound (a broken test environment).
pub async fn serve_jwks(jwks: Value) -> (String, JwksServer) {
    let listener = bind("127.0.0.1:0".parse().expect("literal address"));
    let addr = listener
        .local_addr()
        .expect("bound listener has an address");
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            jwks,
            version: 1,
            fault: None,
            cache_control: None,
            etag: true,
            jwks_path: "/jwks".into(),
            discovery: None,
            requests: HashMap::new(),
            not_modified: 0,
        }),
        addr,
        stop: watch::channel(0).0,
    });
    let server = JwksServer {
        accept: Mutex::new(Some(tokio::spawn(accept_loop(listener, shared.clone())))),
        shared,
    };
    (server.jwks_url(), server)
}

fn bind(addr: SocketAddr) -> TcpListener {
    let socket = TcpSocket::new_v4().expect("TCP socket");
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    socket.bind(addr).expect("bind loopback port");
    socket.listen(128).expect("listen")
}

impl JwksServer {
    /// `http://127.0.0.1:PORT`.
    #[must_use]
    pub fn base_url(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    /// The URL of the JWKS.
    #[must_use]
    pub fn jwks_url(&self) -> String {
        format!("{}{}", self.base_url(), lock(&self.shared.state).jwks_path)
    }

    /// Serves `jwks` from now on (a new `ETag`).
    pub fn set_jwks(&self, jwks: Value) {
        let mut s = lock(&self.shared.state);
        s.jwks = jwks;
        s.version += 1;
    }

    /// Moves the JWKS to another path (and the discovery documents' `jwks_uri` with it).
    pub fn set_jwks_path(&self, path: &str) {
        lock(&self.shared.state).jwks_path = path.into();
    }

    /// Sets (or clears) a fault mode.
    pub fn set_fault(&self, fault: Option<Fault>) {
        lock(&self.shared.state).fault = fault;
    }

    /// Sends this `Cache-Control` value with the JWKS (and 304s).
    pub fn set_cache_control(&self, value: Option<&str>) {
        lock(&self.shared.state).cache_control = value.map(str::to_owned);
    }

    /// Turns `ETag` / `If-None-Match` support on or off (on by default).
    pub fn set_etag(&self, on: bool) {
        lock(&self.shared.state).etag = on;
    }

    /// Serves discovery metadata for the issuer `base_url() + issuer_path` (e.g. `""` or
    /// `"/tenant-a"`) in the given forms; returns that issuer.
    pub fn serve_discovery(&self, issuer_path: &str, forms: WellKnown) -> String {
        lock(&self.shared.state).discovery = Some(Discovery {
            issuer_path: issuer_path.trim_end_matches('/').into(),
            forms,
            issuer_override: None,
        });
        format!("{}{}", self.base_url(), issuer_path)
    }

    /// Makes the metadata name another `issuer` (mismatch tests); `None` restores it.
    pub fn set_metadata_issuer(&self, issuer: Option<&str>) {
        if let Some(d) = &mut lock(&self.shared.state).discovery {
            d.issuer_override = issuer.map(str::to_owned);
        }
    }

    /// Requests received for `path` (any method), faults included.
    #[must_use]
    pub fn requests_to(&self, path: &str) -> usize {
        lock(&self.shared.state)
            .requests
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// Requests received for the JWKS path.
    #[must_use]
    pub fn jwks_requests(&self) -> usize {
        let s = lock(&self.shared.state);
        s.requests.get(&s.jwks_path).copied().unwrap_or(0)
    }

    /// Requests received, all paths.
    #[must_use]
    pub fn total_requests(&self) -> usize {
        lock(&self.shared.state).requests.values().sum()
    }

    /// 304 answers sent.
    #[must_use]
    pub fn not_modified(&self) -> usize {
        lock(&self.shared.state).not_modified
    }

    /// Stops listening (connections are refused) and ends open connections.
    pub fn stop(&self) {
        if let Some(h) = self
            .accept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            h.abort();
        }
        self.shared.stop.send_modify(|g| *g += 1);
    }

    /// Listens again on the same port. Must be called within the tokio runtime.
    pub fn restart(&self) {
        let mut accept = self.accept.lock().unwrap_or_else(PoisonError::into_inner);
        if accept.is_none() {
            let listener = bind(self.shared.addr);
            *accept = Some(tokio::spawn(accept_loop(listener, self.shared.clone())));
        }
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        let mut stop = shared.stop.subscribe();
        tokio::spawn(async move {
            tokio::select! {
                _ = serve(stream, &shared) => {}
                _ = stop.changed() => {}
            }
        });
    }
}

/// The request line's path and the lower-cased headers.
async fn read_request(stream: &mut TcpStream) -> Option<(String, HashMap<String, String>)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 || buf.len() > 64 * 1024 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf);
    let mut lines = text.split("\r\n");
    let path = lines.next()?.split(' ').nth(1)?.to_owned();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Some((path, headers))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        302 => "Found",
        304 => "Not Modified",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn response(status: u16, headers: &[(&str, String)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

enum Answer {
    Bytes(Vec<u8>),
    Hang,
    Huge(usize),
}

fn answer(shared: &Shared, path: &str, headers: &HashMap<String, String>) -> Answer {
    let mut s = lock(&shared.state);
    *s.requests.entry(path.to_owned()).or_insert(0) += 1;
    match &s.fault {
        Some(Fault::Status(code)) => return Answer::Bytes(response(*code, &[], b"")),
        Some(Fault::Hang) => return Answer::Hang,
        Some(Fault::Garbage) => {
            return Answer::Bytes(response(
                200,
                &[("Content-Type", "application/json".into())],
                b"<html><body>definitely not a JWKS</body></html>",
            ));
        }
        Some(Fault::Huge(n)) => return Answer::Huge(*n),
        Some(Fault::Redirect(to)) => {
            return Answer::Bytes(response(302, &[("Location", to.clone())], b""));
        }
        None => {}
    }
    let base = format!("http://{}", shared.addr);
    if path == s.jwks_path {
        let etag = format!("\"v{}\"", s.version);
        let mut h = vec![("Content-Type", "application/json".to_owned())];
        if let Some(cc) = &s.cache_control {
            h.push(("Cache-Control", cc.clone()));
        }
        if s.etag {
            h.push(("ETag", etag.clone()));
            if headers.get("if-none-match") == Some(&etag) {
                s.not_modified += 1;
                return Answer::Bytes(response(304, &h, b""));
            }
        }
        return Answer::Bytes(response(200, &h, s.jwks.to_string().as_bytes()));
    }
    if let Some(d) = &s.discovery {
        let oidc = format!("{}/.well-known/openid-configuration", d.issuer_path);
        let oauth = format!("/.well-known/oauth-authorization-server{}", d.issuer_path);
        let served = match d.forms {
            WellKnown::OpenId => path == oidc,
            WellKnown::OAuth => path == oauth,
            WellKnown::Both => path == oidc || path == oauth,
        };
        if served {
            let issuer = d
                .issuer_override
                .clone()
                .unwrap_or_else(|| format!("{base}{}", d.issuer_path));
            let doc = json!({
                "issuer": issuer,
                "jwks_uri": format!("{base}{}", s.jwks_path),
                "response_types_supported": ["code"],
            });
            return Answer::Bytes(response(
                200,
                &[("Content-Type", "application/json".into())],
                doc.to_string().as_bytes(),
            ));
        }
    }
    Answer::Bytes(response(404, &[], b""))
}

async fn serve(mut stream: TcpStream, shared: &Shared) {
    let Some((path, headers)) = read_request(&mut stream).await else {
        return;
    };
    match answer(shared, &path, &headers) {
        Answer::Bytes(b) => {
            let _ = stream.write_all(&b).await;
            let _ = stream.shutdown().await;
        }
        Answer::Hang => std::future::pending::<()>().await,
        Answer::Huge(n) => {
            let head =
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n";
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let chunk = vec![b' '; 64 * 1024];
            let mut left = n;
            while left > 0 {
                let k = left.min(chunk.len());
                if stream.write_all(&chunk[..k]).await.is_err() {
                    return;
                }
                left -= k;
            }
            let _ = stream.shutdown().await;
        }
    }
}
