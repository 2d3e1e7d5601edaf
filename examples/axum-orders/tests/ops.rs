//! Operating the `axum-orders` binary (issue 17): with `RUST_LOG=debug` a refused
//! token's reason is printed (text and JSON lines) and no token, `sub` or `jti` value
//! ever is; `/metrics` on the admin listener moves by exactly the number of requests of
//! each kind after a scripted mix, a key rotation included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tollgate_testkit::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, JwksServer, TestKey, serve_jwks};

const SUB: &str = "alice-SUBVALUE";
const JTI: &str = "JTIVALUE-0042";

struct Running {
    child: Child,
    addr: String,
    admin: Option<String>,
    stderr: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Stops the binary; every line it wrote to stderr.
    fn stop(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start(jwks_url: &str, env: &[(&str, &str)]) -> Running {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_axum-orders"));
    cmd.env_remove("TOLLGATE_CONFIG")
        .env_remove("TOLLGATE_LOG_FORMAT")
        .env_remove("TOLLGATE_ADMIN_BIND")
        .env_remove("TOLLGATE_RESOURCE")
        .env_remove("TOLLGATE_AUDIENCE")
        .env("TOLLGATE_ISSUER", DEFAULT_ISSUER)
        .env("TOLLGATE_JWKS_URI", jwks_url)
        .env("BIND", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if !env.iter().any(|(k, _)| *k == "TOLLGATE_RESOURCE") {
        cmd.env("TOLLGATE_AUDIENCE", DEFAULT_AUDIENCE);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            sink.lock().unwrap().push(line);
        }
    });
    let want_admin = env.iter().any(|(k, _)| *k == "TOLLGATE_ADMIN_BIND");
    let (addr, admin) = tokio::task::spawn_blocking(move || {
        let mut out = BufReader::new(stdout);
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        let admin = want_admin.then(|| {
            let mut line = String::new();
            out.read_line(&mut line).unwrap();
            line.trim()
                .strip_prefix("admin listening on http://")
                .and_then(|l| l.strip_suffix("/metrics"))
                .unwrap_or_else(|| panic!("unexpected second line {line:?}"))
                .to_owned()
        });
        // keep reading so the child never blocks on a full pipe
        std::thread::spawn(move || for _ in out.lines() {});
        (addr, admin)
    })
    .await
    .unwrap();
    Running {
        child,
        addr,
        admin,
        stderr: lines,
        reader: Some(reader),
    }
}

/// One HTTP/1.1 request; the status and the whole answer.
async fn call(addr: &str, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let body = if method == "POST" { "{}" } else { "" };
    s.write_all(
        format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}content-type: application/json\r\ncontent-length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    (out[9..12].parse().unwrap(), out)
}

/// The scrape as `series -> value` (comments skipped).
async fn scrape(admin: &str) -> BTreeMap<String, f64> {
    let (status, text) = call(admin, "GET", "/metrics", None).await;
    assert_eq!(status, 200, "{text}");
    let body = text.split("\r\n\r\n").nth(1).unwrap();
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect()
}

fn delta(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>, series: &str) -> f64 {
    after.get(series).copied().unwrap_or(0.0) - before.get(series).copied().unwrap_or(0.0)
}

fn decisions(outcome: &str, reason: &str) -> String {
    format!("tollgate_requests_total{{outcome=\"{outcome}\",reason=\"{reason}\"}}")
}

fn secrets_absent(lines: &[String], tokens: &[String]) {
    for line in lines {
        assert!(!line.contains(SUB), "sub logged: {line}");
        assert!(!line.contains(JTI), "jti logged: {line}");
        for t in tokens {
            // any of the three segments
            for seg in t.split('.').filter(|s| s.len() > 8) {
                assert!(!line.contains(seg), "token logged: {line}");
            }
        }
    }
}

struct Tokens {
    key: TestKey,
}

impl Tokens {
    fn base(&self, key: &TestKey) -> tollgate_testkit::TokenBuilder {
        key.token()
            .subject(SUB)
            .claim("jti", JTI)
            .client_id("orders-ui")
    }
    fn read(&self) -> String {
        self.base(&self.key).scope("orders:read").sign()
    }
    fn expired(&self) -> String {
        self.base(&self.key)
            .scope("orders:read")
            .expires_in(-3600)
            .issued_in(-7200)
            .sign()
    }
    fn other_audience(&self) -> String {
        self.base(&self.key)
            .scope("orders:read")
            .audience("billing")
            .sign()
    }
    fn bad_signature(&self) -> String {
        self.base(&self.key).scope("orders:read").bad_signature()
    }
}

async fn jwks_with(key: &TestKey) -> (String, JwksServer) {
    serve_jwks(TestKey::jwks([key])).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_by_exactly_the_requests_of_each_kind() {
    let t = Tokens {
        key: TestKey::p256("ops-1"),
    };
    let (jwks_url, jwks) = jwks_with(&t.key).await;
    let run = start(
        &jwks_url,
        &[
            ("TOLLGATE_ADMIN_BIND", "127.0.0.1:0"),
            ("RUST_LOG", "debug"),
        ],
    )
    .await;
    let (addr, admin) = (run.addr.clone(), run.admin.clone().unwrap());
    let before = scrape(&admin).await;
    assert_eq!(
        before.get("tollgate_jwks_keys{issuer=\"https://idp.tollgate.test\"}"),
        Some(&1.0),
        "{before:?}"
    );

    let read = t.read();
    let mut sent = vec![read.clone()];
    for _ in 0..3 {
        assert_eq!(call(&addr, "GET", "/orders", Some(&read)).await.0, 200);
    }
    assert_eq!(call(&addr, "GET", "/me", Some(&read)).await.0, 200);
    for _ in 0..2 {
        let e = t.expired();
        assert_eq!(call(&addr, "GET", "/orders", Some(&e)).await.0, 401);
        sent.push(e);
    }
    for _ in 0..2 {
        let a = t.other_audience();
        assert_eq!(call(&addr, "GET", "/orders", Some(&a)).await.0, 401);
        sent.push(a);
    }
    assert_eq!(call(&addr, "GET", "/orders", None).await.0, 401);
    for _ in 0..2 {
        assert_eq!(call(&addr, "POST", "/orders", Some(&read)).await.0, 403);
    }
    let bad = t.bad_signature();
    assert_eq!(call(&addr, "GET", "/orders", Some(&bad)).await.0, 401);
    sent.push(bad);
    assert_eq!(call(&addr, "GET", "/orders", Some("abc.def")).await.0, 401);
    // public and unknown routes are not decisions
    assert_eq!(call(&addr, "GET", "/health", None).await.0, 200);
    assert_eq!(call(&addr, "GET", "/nope", Some(&read)).await.0, 404);

    // rotation: a new key published, a token signed by it refreshes the keys once
    let key2 = TestKey::p256("ops-2");
    jwks.set_jwks(TestKey::jwks([&t.key, &key2]));
    let rotated = t.base(&key2).scope("orders:read").sign();
    assert_eq!(call(&addr, "GET", "/orders", Some(&rotated)).await.0, 200);
    sent.push(rotated);
    // a kid that is nowhere: the cooldown suppresses a second refresh
    let forged = t.base(&TestKey::p256("ops-3")).scope("orders:read").sign();
    assert_eq!(call(&addr, "GET", "/orders", Some(&forged)).await.0, 401);
    sent.push(forged);

    let after = scrape(&admin).await;
    let iss = "issuer=\"https://idp.tollgate.test\"";
    let expected: [(String, f64); 14] = [
        (decisions("allowed", "ok"), 5.0),
        (decisions("refused", "expired"), 2.0),
        (decisions("refused", "wrong_audience"), 2.0),
        (decisions("refused", "missing_token"), 1.0),
        (decisions("refused", "insufficient_scope"), 2.0),
        (decisions("refused", "bad_signature"), 1.0),
        (decisions("refused", "malformed"), 1.0),
        (decisions("refused", "unknown_key"), 1.0),
        (decisions("unavailable", "keys_unavailable"), 0.0),
        (decisions("allowed", "anonymous"), 0.0),
        (
            format!("tollgate_jwks_fetches_total{{{iss},result=\"ok\"}}"),
            1.0,
        ),
        (
            format!("tollgate_jwks_fetches_total{{{iss},result=\"error\"}}"),
            0.0,
        ),
        (
            format!("tollgate_unknown_kid_refreshes_total{{{iss}}}"),
            1.0,
        ),
        (
            format!("tollgate_unknown_kid_refreshes_suppressed_total{{{iss}}}"),
            1.0,
        ),
    ];
    for (series, n) in &expected {
        assert_eq!(delta(&before, &after, series), *n, "{series}\n{after:#?}");
    }
    // every decision is counted once: the sum over all series is the request count
    let total: f64 = after
        .iter()
        .filter(|(k, _)| k.starts_with("tollgate_requests_total"))
        .map(|(k, _)| delta(&before, &after, k))
        .sum();
    assert_eq!(total, 15.0);
    assert_eq!(
        after.get(&format!("tollgate_jwks_keys{{{iss}}}")),
        Some(&2.0)
    );
    // the same read token: verified, admitted, then served from the cache
    assert!(delta(&before, &after, "tollgate_token_cache_hits_total") >= 3.0);

    let lines = run.stop();
    let text = lines.join("\n");
    for reason in [
        "reason=\"expired\"",
        "reason=\"wrong_audience\"",
        "reason=\"insufficient_scope\"",
        "reason=\"bad_signature\"",
        "reason=\"unknown_key\"",
        "reason=\"missing_token\"",
    ] {
        assert!(text.contains(reason), "{reason} not logged:\n{text}");
    }
    assert!(text.contains("tollgate::audit"), "{text}");
    assert!(text.contains("remote_addr=127.0.0.1:"), "{text}");
    secrets_absent(&lines, &sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_log_lines_carry_the_audit_fields_and_no_token_values() {
    let t = Tokens {
        key: TestKey::p256("ops-json"),
    };
    let (jwks_url, _jwks) = jwks_with(&t.key).await;
    let run = start(
        &jwks_url,
        &[("RUST_LOG", "debug"), ("TOLLGATE_LOG_FORMAT", "json")],
    )
    .await;
    let addr = run.addr.clone();
    let read = t.read();
    let expired = t.expired();
    assert_eq!(call(&addr, "GET", "/orders", Some(&read)).await.0, 200);
    assert_eq!(call(&addr, "GET", "/orders", Some(&expired)).await.0, 401);
    assert_eq!(call(&addr, "POST", "/orders", Some(&read)).await.0, 403);
    let lines = run.stop();
    let events: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let audit: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["target"] == "tollgate::audit")
        .collect();
    assert_eq!(audit.len(), 2, "{lines:#?}");
    let expired_event = audit.iter().find(|e| e["reason"] == "expired").unwrap();
    assert_eq!(expired_event["outcome"], "refused");
    assert_eq!(expired_event["status"], 401);
    assert_eq!(expired_event["path"], "/orders");
    assert_eq!(expired_event["level"], "DEBUG");
    assert!(
        expired_event.get("issuer").is_none(),
        "unverified: no issuer"
    );
    let scope = audit
        .iter()
        .find(|e| e["reason"] == "insufficient_scope")
        .unwrap();
    assert_eq!(scope["status"], 403);
    assert_eq!(scope["method"], "POST");
    assert_eq!(scope["issuer"], DEFAULT_ISSUER);
    assert_eq!(scope["client_id"], "orders-ui");
    assert!(
        scope["remote_addr"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    secrets_absent(&lines, &[read, expired]);
}

fn header<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    answer.split("\r\n\r\n").next()?.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// RFC 9728 with `TOLLGATE_RESOURCE`: the metadata document, `resource_metadata` and
/// the route's `scope` in challenges, and the resource as the audience.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_resource_metadata_and_challenges() {
    const RESOURCE: &str = "https://orders.example.com";
    const METADATA: &str = "https://orders.example.com/.well-known/oauth-protected-resource";
    let t = Tokens {
        key: TestKey::p256("ops-prm"),
    };
    let (jwks_url, _jwks) = jwks_with(&t.key).await;
    // no TOLLGATE_AUDIENCE: the resource is the audience
    let mut run = start(&jwks_url, &[("TOLLGATE_RESOURCE", RESOURCE)]).await;
    let addr = run.addr.clone();

    let (status, answer) = call(&addr, "GET", "/.well-known/oauth-protected-resource", None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(header(&answer, "content-type"), Some("application/json"));
    let doc: serde_json::Value =
        serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(
        doc,
        serde_json::json!({
            "resource": RESOURCE,
            "authorization_servers": [DEFAULT_ISSUER],
            "scopes_supported": ["orders:read", "orders:write"],
            "bearer_methods_supported": ["header"],
        })
    );
    // the path-aware form is for resources with a path: not this one
    let (status, _) = call(
        &addr,
        "GET",
        "/.well-known/oauth-protected-resource/orders",
        None,
    )
    .await;
    assert_eq!(status, 404);

    // 401 without a token: the metadata URL and the route's scope
    let (status, answer) = call(&addr, "GET", "/orders", None).await;
    assert_eq!(status, 401);
    assert_eq!(
        header(&answer, "www-authenticate"),
        Some(
            format!(
                "Bearer realm=\"orders\", scope=\"orders:read\", resource_metadata=\"{METADATA}\""
            )
            .as_str()
        )
    );
    // a token minted for another resource (aud tollgate-tests): refused, same pointers
    let other = t.read();
    let (status, answer) = call(&addr, "GET", "/orders", Some(&other)).await;
    assert_eq!(status, 401);
    let challenge = header(&answer, "www-authenticate").unwrap();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(challenge.contains("scope=\"orders:read\""), "{challenge}");
    assert!(
        challenge.contains(&format!("resource_metadata=\"{METADATA}\"")),
        "{challenge}"
    );
    // a token for this resource: accepted; without orders:write a POST is 403
    let mine = t
        .base(&t.key)
        .audience(RESOURCE)
        .scope("orders:read")
        .sign();
    assert_eq!(call(&addr, "GET", "/orders", Some(&mine)).await.0, 200);
    let (status, answer) = call(&addr, "POST", "/orders", Some(&mine)).await;
    assert_eq!(status, 403);
    let challenge = header(&answer, "www-authenticate").unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\"")
            && challenge.contains("scope=\"orders:write\"")
            && challenge.contains(&format!("resource_metadata=\"{METADATA}\"")),
        "{challenge}"
    );
    // /me has no scope policy: its 401 names the metadata only
    let (_, answer) = call(&addr, "GET", "/me", None).await;
    let challenge = header(&answer, "www-authenticate").unwrap();
    assert!(!challenge.contains("scope="), "{challenge}");
    assert!(challenge.contains("resource_metadata="), "{challenge}");
    run.child.kill().unwrap();
}
