//! Shared parts of the tollgate-authz integration tests: the dev IdP, the
//! `tollgate-authz` binary on a loopback port, an upstream that echoes the request it
//! got, a raw HTTP/1.1 client, and real gateways (NGINX, Caddy) from their Debian
//! packages.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::Request;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tollgate_testkit::DevIdp;

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p =
            std::env::temp_dir().join(format!("tollgate-authz-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The routes every gateway test uses.
pub const ROUTES: &str = r#"
[[route]]
prefix = "/orders"
methods = ["GET"]
scopes = { all = ["orders:read"] }

[[route]]
prefix = "/orders"
methods = ["POST"]
scopes = { all = ["orders:write"] }

[[route]]
prefix = "/health"
public = true
"#;

/// The `tollgate-authz` binary, running.
pub struct Authz {
    pub addr: SocketAddr,
    child: Child,
    _dir: TempDir,
}

impl Authz {
    /// Starts the binary with `config` (a TOML text) as its file.
    pub async fn start(config: &str) -> Authz {
        Self::start_with_env(config, &[]).await
    }

    /// As [`Self::start`], with more environment variables (secrets).
    pub async fn start_with_env(config: &str, env: &[(&str, &str)]) -> Authz {
        let dir = TempDir::new("config");
        let file = dir.0.join("authz.toml");
        std::fs::write(&file, config).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate-authz"))
            .envs(env.iter().copied())
            .env("TOLLGATE_CONFIG", &file)
            .env("BIND", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("tollgate-authz did not start within 30 s")
            .unwrap()
            .expect("tollgate-authz exited before listening");
        let addr = first
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .parse()
            .unwrap();
        // keep draining stdout so the child never blocks on a full pipe
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Authz {
            addr,
            child,
            _dir: dir,
        }
    }

    /// Starts it in front of the dev IdP's keys.
    pub async fn for_idp(idp: &DevIdp) -> Authz {
        Self::start(&config(idp.issuer(), &idp.jwks_uri())).await
    }

    /// Starts it trusting `issuer`, with its keys at an address where nothing
    /// listens (the IdP unreachable from the start).
    pub async fn idp_down(issuer: &str) -> Authz {
        let port = free_port();
        Self::start(&config(issuer, &format!("http://127.0.0.1:{port}/jwks"))).await
    }
}

impl Drop for Authz {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

pub fn config(issuer: &str, jwks_uri: &str) -> String {
    format!(
        "realm = \"orders\"\n[[issuer]]\nissuer = \"{issuer}\"\naudiences = [\"orders\"]\njwks_uri = \"{jwks_uri}\"\n{ROUTES}"
    )
}

/// A free loopback port (bound, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An upstream answering every request with a JSON echo of it:
/// `{"method", "uri", "headers": {name: [values]}}`.
pub async fn echo_upstream() -> SocketAddr {
    async fn echo(req: Request) -> String {
        let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (n, v) in req.headers() {
            headers
                .entry(n.as_str().to_owned())
                .or_default()
                .push(String::from_utf8_lossy(v.as_bytes()).into_owned());
        }
        json!({
            "method": req.method().as_str(),
            "uri": req.uri().to_string(),
            "headers": headers,
        })
        .to_string()
    }
    let app = axum::Router::new().fallback(echo);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// A pass-through to the IdP's `/introspect` that counts the calls.
pub async fn counting_introspection(idp: SocketAddr, calls: Arc<AtomicUsize>) -> SocketAddr {
    let handler = move |headers: http::HeaderMap, body: axum::body::Bytes| {
        let calls = calls.clone();
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            let pass: Vec<(&str, &str)> = ["authorization", "content-type", "accept"]
                .into_iter()
                .filter_map(|n| headers.get(n).and_then(|v| v.to_str().ok()).map(|v| (n, v)))
                .collect();
            let r = send_body(idp, "POST", "/introspect", &pass, &body).await;
            let mut res = http::Response::new(axum::body::Body::from(r.body.clone()));
            *res.status_mut() = http::StatusCode::from_u16(r.status).unwrap();
            if let Some(ct) = r.header("content-type") {
                res.headers_mut()
                    .insert("content-type", ct.parse().unwrap());
            }
            res
        }
    };
    let app = axum::Router::new().route("/introspect", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// An answer read off the wire.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// All values of a header (name compared case-insensitively).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The one value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        let all = self.all(name);
        assert!(all.len() <= 1, "{name} repeated: {all:?}");
        all.first().copied()
    }

    /// The body as JSON (the echo of the upstream).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): status {} body {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The values of a header the upstream received (from the echo).
    pub fn upstream_header(&self, name: &str) -> Vec<String> {
        self.json()["headers"][name.to_ascii_lowercase()]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    }
}

/// Sends one request over a new connection, exactly as written (any target, any
/// headers, repeated ones too).
pub async fn send(addr: SocketAddr, method: &str, target: &str, headers: &[(&str, &str)]) -> Reply {
    if method == "POST" {
        let mut h = headers.to_vec();
        h.push(("Content-Type", "application/json"));
        send_body(addr, method, target, &h, b"{}").await
    } else {
        send_body(addr, method, target, headers, b"").await
    }
}

/// As [`send`], with a body (`Content-Length` added when it is not empty).
pub async fn send_body(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n",
        addr.port()
    );
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    s.write_all(&bytes).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut raw))
        .await
        .expect("no answer within 30 s")
        .unwrap();
    parse(&raw)
}

fn parse(raw: &[u8]) -> Reply {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(nl) = b.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&b[..nl]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + size]);
        b = &b[nl + 2 + size + 2..];
    }
    out
}

/// Waits until something listens on `port`.
pub async fn wait_listening(port: u16, what: &str, log: &Path) {
    for _ in 0..200 {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{what} did not listen on {port} within 10 s; its log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// The gateway's executable, or `None` (after a loud message) when it is not
/// installed and `CI` is not set. Under CI a missing gateway fails the test.
pub fn gateway(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} is not installed but CI is set: .ci/run installs it (apt-get install nginx-light caddy)"
        );
        eprintln!(
            "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
             !!! SKIPPED: {name} is not installed, so the {name} gateway tests did NOT run.\n\
             !!! Install it (Debian: apt-get install nginx-light caddy) or run .ci/run.\n\
             !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
        );
    }
    found
}

/// Fills a gateway template (`tests/gateways/*`).
pub fn fill(template: &str, port: u16, app: SocketAddr, tollgate: SocketAddr) -> String {
    template
        .replace("{{PORT}}", &port.to_string())
        .replace("{{APP}}", &app.to_string())
        .replace("{{TOLLGATE}}", &tollgate.to_string())
}

/// A running gateway process (killed on drop) and its port.
pub struct Gateway {
    pub addr: SocketAddr,
    pub ports: Vec<u16>,
    child: Child,
    pub dir: TempDir,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

impl Gateway {
    pub fn at(&self, port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }
}

/// NGINX with one server block per `(app, tollgate)` pair, in the foreground.
pub async fn nginx(bin: &Path, servers: &[(SocketAddr, SocketAddr)]) -> Gateway {
    nginx_with(
        bin,
        servers,
        include_str!("../gateways/nginx-server.conf"),
        "",
    )
    .await
}

/// NGINX from another server template, with `http_extra` at the `http {}` level.
pub async fn nginx_with(
    bin: &Path,
    servers: &[(SocketAddr, SocketAddr)],
    template: &str,
    http_extra: &str,
) -> Gateway {
    let dir = TempDir::new("nginx");
    let d = dir.0.display().to_string();
    let mut blocks = String::new();
    let mut ports = Vec::new();
    for (i, (app, tollgate)) in servers.iter().enumerate() {
        let port = free_port();
        ports.push(port);
        // one upstream name per block
        let block = fill(template, port, *app, *tollgate)
            .replace("upstream app ", &format!("upstream app{i} "))
            .replace("http://app;", &format!("http://app{i};"))
            .replace("upstream tollgate ", &format!("upstream tollgate{i} "))
            .replace("http://tollgate/", &format!("http://tollgate{i}/"));
        blocks.push_str(&block);
    }
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  \
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n{http_extra}\n{blocks}\n}}\n"
    );
    let file = dir.0.join("nginx.conf");
    std::fs::write(&file, conf).unwrap();
    let log = dir.0.join("error.log");
    let child = Command::new(bin)
        .args([
            "-p",
            &d,
            "-e",
            &log.display().to_string(),
            "-c",
            &file.display().to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    for p in &ports {
        wait_listening(*p, "nginx", &log).await;
    }
    Gateway {
        addr: SocketAddr::from(([127, 0, 0, 1], ports[0])),
        ports,
        child,
        dir,
    }
}

/// Caddy with one site per `(app, tollgate)` pair, from the Caddyfile template.
pub async fn caddy(bin: &Path, servers: &[(SocketAddr, SocketAddr)]) -> Gateway {
    let dir = TempDir::new("caddy");
    let template = include_str!("../gateways/Caddyfile");
    let mut sites = String::from("{\n\tadmin off\n}\n\n");
    let mut ports = Vec::new();
    for (app, tollgate) in servers {
        let port = free_port();
        ports.push(port);
        sites.push_str(&fill(template, port, *app, *tollgate));
    }
    let file = dir.0.join("Caddyfile");
    std::fs::write(&file, sites).unwrap();
    let log = dir.0.join("caddy.log");
    let logf = std::fs::File::create(&log).unwrap();
    let child = Command::new(bin)
        .args([
            "run",
            "--adapter",
            "caddyfile",
            "--config",
            &file.display().to_string(),
        ])
        .env("HOME", &dir.0)
        .env("XDG_DATA_HOME", dir.0.join("data"))
        .env("XDG_CONFIG_HOME", dir.0.join("config"))
        .stdout(Stdio::null())
        .stderr(Stdio::from(logf))
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    for p in &ports {
        wait_listening(*p, "caddy", &log).await;
    }
    Gateway {
        addr: SocketAddr::from(([127, 0, 0, 1], ports[0])),
        ports,
        child,
        dir,
    }
}
