//! The `axum-orders` binary itself: configured by a TOML file (`TOLLGATE_CONFIG`) with an
//! identity-provider preset, it serves; a bad configuration stops it with exit status 2
//! and a message naming the field, before it listens.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tollgate_testkit::process::RunningBinary;
use tollgate_testkit::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, TestKey, serve_jwks};

fn config_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("axum-orders-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs the binary to its end; (exit code, stderr).
fn run_to_exit(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_axum-orders"));
    cmd.env_remove("TOLLGATE_CONFIG")
        .env_remove("TOLLGATE_ISSUER")
        .env_remove("TOLLGATE_AUDIENCE")
        .env("BIND", "127.0.0.1:0");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_configuration_exits_2_naming_the_field() {
    let base = "[[issuer]]\nissuer = \"https://idp.example\"\naudiences = [\"orders\"]\n";
    let cases: [(&str, String, &str); 5] = [
        (
            "unknown.toml",
            format!("{base}audience = [\"x\"]\n"),
            "unknown field `audience`",
        ),
        (
            "preset.toml",
            format!("{base}preset = \"okta2\"\n"),
            "okta2",
        ),
        (
            "alg.toml",
            format!("{base}algorithms = [\"HS256x\"]\n"),
            "algorithms",
        ),
        (
            "empty-aud.toml",
            "[[issuer]]\nissuer = \"https://idp.example\"\naudiences = []\n".to_owned(),
            "issuer[0].audiences needs at least one audience",
        ),
        (
            "secret.toml",
            format!(
                "{base}jwks_uri = \"https://idp.example/jwks\"\n[introspection]\nclient_id = \"rs\"\nclient_secret_env = \"TOLLGATE_TEST_UNSET_SECRET\"\n"
            ),
            "introspection.client_secret_env names TOLLGATE_TEST_UNSET_SECRET, which is not set",
        ),
    ];
    for (name, text, expected) in cases {
        let path = config_file(name, &text);
        let (code, stderr) = run_to_exit(&[("TOLLGATE_CONFIG", path.to_str().unwrap())]);
        assert_eq!(code, Some(2), "{name}: {stderr}");
        assert!(stderr.contains("configuration error"), "{name}: {stderr}");
        assert!(stderr.contains(expected), "{name}: {stderr}");
    }
    // the environment route: an unknown preset, and an error found when building
    let (code, stderr) = run_to_exit(&[
        ("TOLLGATE_ISSUER", "https://idp.example"),
        ("TOLLGATE_AUDIENCE", "orders"),
        ("TOLLGATE_PRESET", "okta2"),
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("TOLLGATE_PRESET names an unknown preset \"okta2\""),
        "{stderr}"
    );
    let (code, stderr) = run_to_exit(&[
        ("TOLLGATE_ISSUER", "https://idp.example"),
        ("TOLLGATE_AUDIENCE", "orders"),
        ("TOLLGATE_JWKS_URI", "ftp://idp.example/jwks"),
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("JWKS URL"), "{stderr}");
}

async fn get(addr: &str, path: &str, token: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_from_a_config_file() {
    let key = TestKey::p256("file-key");
    let (jwks_url, _jwks) = serve_jwks(TestKey::jwks([&key])).await;
    let path = config_file(
        "good.toml",
        &format!(
            "realm = \"orders-file\"\n[[issuer]]\nissuer = \"{DEFAULT_ISSUER}\"\naudiences = [\"{DEFAULT_AUDIENCE}\"]\npreset = \"jwt\"\njwks_uri = \"{jwks_url}\"\nalgorithms = [\"ES256\"]\n"
        ),
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_axum-orders"));
    cmd.env("TOLLGATE_CONFIG", &path).env("BIND", "127.0.0.1:0");
    let _child = RunningBinary::start(cmd).await.unwrap();
    let addr = _child.addr().to_owned();
    // preset jwt: a plain `typ: JWT` token is accepted
    let token = key.token().header("typ", "JWT").scope("orders:read").sign();
    let (status, body) = get(&addr, "/orders", &token).await;
    assert_eq!(status, 200, "{body}");
    // refused: a token for another audience; the realm comes from the file
    let other = key.token().audience("billing").scope("orders:read").sign();
    let (status, body) = get(&addr, "/orders", &other).await;
    assert_eq!(status, 401, "{body}");
}

/// One raw HTTP/1.1 request; (status, every `name: value` header line lowercased by
/// name, body).
async fn raw(addr: &str, path: &str, headers: &[(&str, &str)]) -> (u16, Vec<(String, String)>) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status = out[9..12].parse().unwrap();
    let head = out.split("\r\n\r\n").next().unwrap_or_default();
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
        .collect();
    (status, headers)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Spawns the binary with `env` and returns it with its address once it listens.
async fn spawn(env: &[(&str, &str)]) -> (RunningBinary, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_axum-orders"));
    cmd.env_remove("TOLLGATE_CONFIG")
        .env_remove("TOLLGATE_PUBLIC_URL")
        .env_remove("TOLLGATE_DPOP_NONCE")
        .env_remove("TOLLGATE_DPOP_NONCE_SECRET")
        .env("BIND", "127.0.0.1:0");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let running = RunningBinary::start(cmd).await.unwrap();
    let addr = running.addr().to_owned();
    (running, addr)
}

/// `TOLLGATE_DPOP=required`: a Bearer request is answered with the DPoP challenge
/// alone; a DPoP-bound token with a proof naming `http://<BIND>/orders` (the default
/// public URL: the address the binary listens on) is accepted, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dpop_required_from_the_environment() {
    let idp = TestKey::p256("dpop-idp");
    let client = TestKey::p256("dpop-client");
    let (jwks_url, _jwks) = serve_jwks(TestKey::jwks([&idp])).await;
    let (_child, addr) = spawn(&[
        ("TOLLGATE_ISSUER", DEFAULT_ISSUER),
        ("TOLLGATE_AUDIENCE", DEFAULT_AUDIENCE),
        ("TOLLGATE_JWKS_URI", &jwks_url),
        ("TOLLGATE_DPOP", "required"),
    ])
    .await;
    let plain = idp.token().scope("orders:read").sign();
    let (status, h) = raw(
        &addr,
        "/orders",
        &[("Authorization", &format!("Bearer {plain}"))],
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(
        header(&h, "www-authenticate"),
        [r#"DPoP algs="RS256 PS256 ES256 ES384 EdDSA""#]
    );

    let bound = idp.token().scope("orders:read").dpop_bound(&client).sign();
    let proof = tollgate_testkit::DpopProof::new(&client, "GET", &format!("http://{addr}/orders"))
        .access_token(&bound)
        .sign();
    let dpop_headers = [("Authorization", format!("DPoP {bound}")), ("DPoP", proof)];
    let dpop_headers: Vec<(&str, &str)> =
        dpop_headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _) = raw(&addr, "/orders", &dpop_headers).await;
    assert_eq!(status, 200);
    // the same proof again
    let (status, h) = raw(&addr, "/orders", &dpop_headers).await;
    assert_eq!(status, 401);
    assert_eq!(
        header(&h, "www-authenticate"),
        [
            r#"DPoP error="invalid_dpop_proof", error_description="The DPoP proof was already used", algs="RS256 PS256 ES256 ES384 EdDSA""#
        ]
    );
}

#[test]
fn bad_dpop_settings_exit_2_naming_the_variable() {
    let base = [
        ("TOLLGATE_ISSUER", "https://idp.example"),
        ("TOLLGATE_AUDIENCE", "orders"),
        ("TOLLGATE_JWKS_URI", "https://idp.example/jwks"),
    ];
    for (extra, expected) in [
        (
            &[("TOLLGATE_DPOP", "bogus")][..],
            r#"TOLLGATE_DPOP is not one of off, allowed, required: "bogus""#,
        ),
        (
            &[
                ("TOLLGATE_DPOP", "allowed"),
                ("TOLLGATE_DPOP_NONCE", "always"),
            ][..],
            r#"TOLLGATE_DPOP_NONCE is not one of off, required: "always""#,
        ),
        (
            &[
                ("TOLLGATE_DPOP", "allowed"),
                ("TOLLGATE_DPOP_NONCE", "required"),
                ("TOLLGATE_DPOP_NONCE_SECRET", "too-short-s3cr3t"),
            ][..],
            "TOLLGATE_DPOP_NONCE_SECRET is shorter than 32 bytes",
        ),
        (
            &[
                ("TOLLGATE_DPOP", "allowed"),
                ("TOLLGATE_PUBLIC_URL", "orders.example"),
            ][..],
            "TOLLGATE_PUBLIC_URL is not an absolute http(s) URL",
        ),
    ] {
        let env: Vec<(&str, &str)> = base.iter().chain(extra).copied().collect();
        let (code, stderr) = run_to_exit(&env);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains("configuration error"), "{stderr}");
        assert!(stderr.contains(expected), "{expected}: {stderr}");
        assert!(!stderr.contains("s3cr3t"), "{stderr}");
    }
}

/// Every refusal case of DPoP (issue 15) against the running binary, each with its
/// exact status, `WWW-Authenticate` values and `DPoP-Nonce`. `--nocapture` prints the
/// table (markdown) as observed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dpop_refusals_from_the_running_binary() {
    use tollgate_testkit::DpopProof;

    const ALGS: &str = r#"algs="RS256 PS256 ES256 ES384 EdDSA""#;
    let dpop_error = |code: &str, description: &str| {
        format!(r#"DPoP error="{code}", error_description="{description}", {ALGS}"#)
    };
    let idp = TestKey::p256("dpop-idp");
    let client = TestKey::p256("dpop-client");
    let (jwks_url, _jwks) = serve_jwks(TestKey::jwks([&idp])).await;
    let env = |extra: &'static [(&'static str, &'static str)]| {
        let mut env = vec![
            ("TOLLGATE_ISSUER", DEFAULT_ISSUER.to_owned()),
            ("TOLLGATE_AUDIENCE", DEFAULT_AUDIENCE.to_owned()),
            ("TOLLGATE_JWKS_URI", jwks_url.clone()),
        ];
        env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        env
    };
    let allowed_env = env(&[("TOLLGATE_DPOP", "allowed")]);
    let pairs: Vec<(&str, &str)> = allowed_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (_allowed, allowed) = spawn(&pairs).await;
    const SECRET: &str = "a-shared-nonce-secret-of-32-bytes-or-more";
    let required_env = env(&[
        ("TOLLGATE_DPOP", "required"),
        ("TOLLGATE_DPOP_NONCE", "required"),
        ("TOLLGATE_DPOP_NONCE_SECRET", SECRET),
    ]);
    let pairs: Vec<(&str, &str)> = required_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (_required, required) = spawn(&pairs).await;

    let token = idp.token().scope("orders:read").dpop_bound(&client).sign();
    let plain = idp.token().scope("orders:read").sign();
    let proof = |addr: &str, method: &str, path: &str| {
        DpopProof::new(&client, method, &format!("http://{addr}{path}")).access_token(&token)
    };
    let good = |addr: &str| proof(addr, "GET", "/orders");
    let dpop_auth = format!("DPoP {token}");

    eprintln!("| server | case | status | WWW-Authenticate | DPoP-Nonce |\n|---|---|---|---|---|");
    let mut seen = 0;
    let mut check = async |server: &str,
                           addr: &str,
                           case: &str,
                           path: &str,
                           headers: Vec<(&str, String)>,
                           status: u16,
                           challenges: Vec<String>|
           -> Option<String> {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (got, h) = raw(addr, path, &headers).await;
        let ch = header(&h, "www-authenticate");
        let nonce = header(&h, "dpop-nonce").first().map(|n| (*n).to_owned());
        eprintln!(
            "| {server} | {case} | {got} | {} | {} |",
            ch.iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(" + "),
            if nonce.is_some() { "yes" } else { "" }
        );
        assert_eq!(got, status, "{case}");
        assert_eq!(ch, challenges, "{case}");
        seen += 1;
        nonce
    };
    let a = "allowed";
    let invalid = |d: &str| vec![dpop_error("invalid_dpop_proof", d)];
    let one = "Exactly one DPoP proof is required";
    let other_request = "The DPoP proof is for another request";
    let bad = "The DPoP proof is invalid";
    let window = "The DPoP proof is outside its time window";

    check(
        a,
        &allowed,
        "DPoP call",
        "/orders",
        vec![
            ("Authorization", dpop_auth.clone()),
            ("DPoP", good(&allowed).sign()),
        ],
        200,
        vec![],
    )
    .await;
    let p = good(&allowed).sign();
    check(
        a,
        &allowed,
        "query string ignored in htu",
        "/orders?page=2",
        vec![("Authorization", dpop_auth.clone()), ("DPoP", p.clone())],
        200,
        vec![],
    )
    .await;
    check(
        a,
        &allowed,
        "the same proof replayed (jti)",
        "/orders",
        vec![("Authorization", dpop_auth.clone()), ("DPoP", p)],
        401,
        invalid("The DPoP proof was already used"),
    )
    .await;
    check(
        a,
        &allowed,
        "no proof",
        "/orders",
        vec![("Authorization", dpop_auth.clone())],
        401,
        invalid(one),
    )
    .await;
    check(
        a,
        &allowed,
        "two proofs",
        "/orders",
        vec![
            ("Authorization", dpop_auth.clone()),
            ("DPoP", good(&allowed).sign()),
            ("DPoP", good(&allowed).sign()),
        ],
        401,
        invalid(one),
    )
    .await;
    check(
        a,
        &allowed,
        "not a compact JWS",
        "/orders",
        vec![
            ("Authorization", dpop_auth.clone()),
            ("DPoP", "not-a-jws".to_owned()),
        ],
        401,
        invalid(bad),
    )
    .await;
    check(
        a,
        &allowed,
        "typ JWT",
        "/orders",
        vec![
            ("Authorization", dpop_auth.clone()),
            ("DPoP", good(&allowed).header("typ", "JWT").sign()),
        ],
        401,
        invalid(bad),
    )
    .await;
    check(
        a,
        &allowed,
        "alg none",
        "/orders",
        vec![
            ("Authorization", dpop_auth.clone()),
            ("DPoP", good(&allowed).header("alg", "none").sign()),
        ],
        401,
        invalid(bad),
    )
    .await;
    check(
        a,
        &allowed,
        "alg HS256",
        "/orders",
        vec![
            ("Authorization", dpop_auth.clone()),
            ("DPoP", good(&allowed).header("alg", "HS256").sign()),
        ],
        401,
        invalid(bad),
    )
    .await;
    check(
        a,
        &allowed,
        "no jwk header",
        "/orders",
        vec![
            ("Authorization", dpop_auth.clone()),
            ("DPoP", good(&allowed).without_header("jwk").sign()),
        ],
        401,
        invalid(bad),
    )
    .await;
    check(
        a,
        &allowed,
        "private jwk (d)",
        "/orders",
        vec![
            ("Authorization", dpop_auth.clone()),
            ("DPoP", good(&allowed).jwk_member("d", "AAAA").sign()),
        ],
        401,
        invalid(bad),
    )
    .await;
    check(
        a,
        &allowed,
        "signature by another key than jwk",
        "/orders",
        vec![
            ("Authorization", dpop_auth.clone()),
            ("DPoP", good(&allowed).signed_by(&TestKey::p256("x")).sign()),
        ],
        401,
        invalid(bad),
    )
    .await;
    check(
        a,
        &allowed,
        "htm POST for a GET",
        "/orders",
        vec![
            ("Authorization", dpop_auth.clone()),
            ("DPoP", proof(&allowed, "POST", "/orders").sign()),
        ],
        401,
        invalid(other_request),
    )
    .await;
    check(
        a,
        &allowed,
        "htu another URL (/me)",
        "/orders",
        vec![
            ("Authorization", dpop_auth.clone()),
            ("DPoP", proof(&allowed, "GET", "/me").sign()),
        ],
        401,
        invalid(other_request),
    )
    .await;
    check(
        a,
        &allowed,
        "htu another host",
        "/orders",
        vec![
            ("Authorization", dpop_auth.clone()),
            (
                "DPoP",
                DpopProof::new(&client, "GET", "http://orders.example/orders")
                    .access_token(&token)
                    .sign(),
            ),
        ],
        401,
        invalid(other_request),
    )
    .await;
    check(
        a,
        &allowed,
        "iat 61 s old",
        "/orders",
        vec![
            ("Authorization", dpop_auth.clone()),
            ("DPoP", good(&allowed).issued_in(-61).sign()),
        ],
        401,
        invalid(window),
    )
    .await;
    check(
        a,
        &allowed,
        "iat 30 s ahead",
        "/orders",
        vec![
            ("Authorization", dpop_auth.clone()),
            ("DPoP", good(&allowed).issued_in(30).sign()),
        ],
        401,
        invalid(window),
    )
    .await;
    check(
        a,
        &allowed,
        "no jti",
        "/orders",
        vec![
            ("Authorization", dpop_auth.clone()),
            ("DPoP", good(&allowed).without("jti").sign()),
        ],
        401,
        invalid(bad),
    )
    .await;
    check(
        a,
        &allowed,
        "no ath",
        "/orders",
        vec![
            ("Authorization", dpop_auth.clone()),
            ("DPoP", good(&allowed).without("ath").sign()),
        ],
        401,
        invalid(bad),
    )
    .await;
    check(
        a,
        &allowed,
        "ath of another token",
        "/orders",
        vec![
            ("Authorization", dpop_auth.clone()),
            ("DPoP", good(&allowed).access_token("other.token.x").sign()),
        ],
        401,
        invalid("The DPoP proof is for another access token"),
    )
    .await;
    check(
        a,
        &allowed,
        "token used with another key (cnf.jkt)",
        "/orders",
        vec![
            ("Authorization", dpop_auth.clone()),
            (
                "DPoP",
                DpopProof::new(
                    &TestKey::p256("thief"),
                    "GET",
                    &format!("http://{allowed}/orders"),
                )
                .access_token(&token)
                .sign(),
            ),
        ],
        401,
        invalid("The DPoP proof key does not match the access token"),
    )
    .await;
    check(a, &allowed, "bound token sent as Bearer", "/orders", vec![("Authorization", format!("Bearer {token}"))], 401, vec![r#"Bearer realm="orders", error="invalid_token", error_description="The access token is bound to a key and needs a DPoP proof""#.to_owned(), format!("DPoP {ALGS}")]).await;
    let p = DpopProof::new(&client, "GET", &format!("http://{allowed}/orders"))
        .access_token(&plain)
        .sign();
    check(
        a,
        &allowed,
        "token without cnf sent as DPoP",
        "/orders",
        vec![("Authorization", format!("DPoP {plain}")), ("DPoP", p)],
        401,
        vec![dpop_error(
            "invalid_token",
            "The access token is not bound to a DPoP key",
        )],
    )
    .await;
    check(
        a,
        &allowed,
        "unbound token as Bearer",
        "/orders",
        vec![("Authorization", format!("Bearer {plain}"))],
        200,
        vec![],
    )
    .await;
    check(
        a,
        &allowed,
        "no token",
        "/orders",
        vec![],
        401,
        vec![
            r#"Bearer realm="orders""#.to_owned(),
            format!("DPoP {ALGS}"),
        ],
    )
    .await;
    let expired = idp.token().dpop_bound(&client).expired();
    let p = DpopProof::new(&client, "GET", &format!("http://{allowed}/orders"))
        .access_token(&expired)
        .sign();
    check(
        a,
        &allowed,
        "expired bound token, good proof",
        "/orders",
        vec![("Authorization", format!("DPoP {expired}")), ("DPoP", p)],
        401,
        vec![dpop_error("invalid_token", "The access token expired")],
    )
    .await;
    check(a, &allowed, "two Authorization headers", "/orders", vec![("Authorization", dpop_auth.clone()), ("Authorization", dpop_auth.clone())], 400, vec![r#"Bearer realm="orders", error="invalid_request", error_description="More than one Authorization header""#.to_owned(), format!("DPoP {ALGS}")]).await;

    let r = "required+nonce";
    check(
        r,
        &required,
        "Bearer under DPoP required",
        "/orders",
        vec![("Authorization", format!("Bearer {plain}"))],
        401,
        vec![format!("DPoP {ALGS}")],
    )
    .await;
    check(
        r,
        &required,
        "no token under DPoP required",
        "/orders",
        vec![],
        401,
        vec![format!("DPoP {ALGS}")],
    )
    .await;
    let nonce_error = vec![dpop_error(
        "use_dpop_nonce",
        "Resource server requires nonce in DPoP proof",
    )];
    let nonce = check(
        r,
        &required,
        "no nonce",
        "/orders",
        vec![
            ("Authorization", dpop_auth.clone()),
            ("DPoP", good(&required).sign()),
        ],
        401,
        nonce_error.clone(),
    )
    .await
    .expect("a DPoP-Nonce");
    let stale = check(
        r,
        &required,
        "made-up nonce",
        "/orders",
        vec![
            ("Authorization", dpop_auth.clone()),
            (
                "DPoP",
                good(&required)
                    .nonce("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
                    .sign(),
            ),
        ],
        401,
        nonce_error,
    )
    .await;
    assert!(stale.is_some());
    let fresh = check(
        r,
        &required,
        "with the server's nonce",
        "/orders",
        vec![
            ("Authorization", dpop_auth.clone()),
            ("DPoP", good(&required).nonce(&nonce).sign()),
        ],
        200,
        vec![],
    )
    .await;
    assert!(fresh.is_some(), "a fresh DPoP-Nonce on success");
    // a genuinely stale nonce (same secret, minted two minutes ago), and one minted by
    // a replica sharing the secret
    let replica = tollgate_core::dpop::NonceIssuer::new(SECRET.as_bytes()).unwrap();
    let now = tollgate_testkit::now();
    let stale = check(
        r,
        &required,
        "stale nonce (server's secret, 120 s old)",
        "/orders",
        vec![
            ("Authorization", dpop_auth.clone()),
            (
                "DPoP",
                good(&required).nonce(&replica.mint(now - 120)).sign(),
            ),
        ],
        401,
        vec![dpop_error(
            "use_dpop_nonce",
            "Resource server requires nonce in DPoP proof",
        )],
    )
    .await;
    assert!(stale.is_some());
    check(
        r,
        &required,
        "nonce from a replica sharing TOLLGATE_DPOP_NONCE_SECRET",
        "/orders",
        vec![
            ("Authorization", dpop_auth.clone()),
            ("DPoP", good(&required).nonce(&replica.mint(now)).sign()),
        ],
        200,
        vec![],
    )
    .await;
    assert_eq!(seen, 34);
}

/// Two axum-orders processes behind one public URL, sharing a real `redis-server`
/// through `TOLLGATE_REDIS_URL` (issue 16): a DPoP proof accepted by one replica is
/// refused by the other and by the first again; with Redis stopped DPoP answers 503 +
/// `Retry-After` while Bearer tokens still pass; after a restart DPoP works again
/// without restarting the replicas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_the_replay_store_on_redis() {
    use tollgate_testkit::DpopProof;
    use tollgate_testkit::redis::RedisServer;

    let Some(mut redis) =
        RedisServer::start_or_skip("two_replicas_share_the_replay_store_on_redis")
    else {
        return;
    };
    let idp = TestKey::p256("dpop-idp");
    let client = TestKey::p256("dpop-client");
    let (jwks_url, _jwks) = serve_jwks(TestKey::jwks([&idp])).await;
    let url = redis.url();
    let env = [
        ("TOLLGATE_ISSUER", DEFAULT_ISSUER),
        ("TOLLGATE_AUDIENCE", DEFAULT_AUDIENCE),
        ("TOLLGATE_JWKS_URI", jwks_url.as_str()),
        ("TOLLGATE_DPOP", "allowed"),
        ("TOLLGATE_PUBLIC_URL", "http://orders.test"),
        ("TOLLGATE_REDIS_URL", url.as_str()),
    ];
    let (_a, a) = spawn(&env).await;
    let (_b, b) = spawn(&env).await;

    let token = idp.token().scope("orders:read").dpop_bound(&client).sign();
    let auth = format!("DPoP {token}");
    let proof = || {
        DpopProof::new(&client, "GET", "http://orders.test/orders")
            .access_token(&token)
            .sign()
    };
    let call = async |addr: &str, proof: &str| {
        raw(
            addr,
            "/orders",
            &[("Authorization", auth.as_str()), ("DPoP", proof)],
        )
        .await
    };
    let replayed = [
        r#"DPoP error="invalid_dpop_proof", error_description="The DPoP proof was already used", algs="RS256 PS256 ES256 ES384 EdDSA""#,
    ];

    let first = proof();
    assert_eq!(call(&a, &first).await.0, 200);
    let (status, h) = call(&b, &first).await;
    assert_eq!(
        (status, header(&h, "www-authenticate")),
        (401, replayed.to_vec())
    );
    let (status, h) = call(&a, &first).await;
    assert_eq!(
        (status, header(&h, "www-authenticate")),
        (401, replayed.to_vec())
    );
    let second = proof();
    assert_eq!(call(&b, &second).await.0, 200);
    assert_eq!(call(&a, &second).await.0, 401);

    // Redis away: the replay check cannot be made, so DPoP is refused (503), never
    // accepted unchecked; Bearer tokens do not need Redis
    redis.stop();
    let (status, h) = call(&b, &proof()).await;
    assert_eq!(status, 503);
    assert_eq!(header(&h, "retry-after"), ["1"]);
    let plain = idp.token().scope("orders:read").sign();
    let bearer = format!("Bearer {plain}");
    assert_eq!(
        raw(&b, "/orders", &[("Authorization", bearer.as_str())])
            .await
            .0,
        200
    );

    // back: the replicas reconnect on their own (the first attempts may still meet
    // the reconnecting connection: 503, never 200 for a replayed proof)
    redis.restart().unwrap();
    let mut ok = false;
    for _ in 0..100 {
        let p = proof();
        match call(&a, &p).await.0 {
            200 => {
                assert_eq!(call(&b, &p).await.0, 401, "replayed after the restart");
                ok = true;
                break;
            }
            503 => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
            other => panic!("unexpected status {other} after the restart"),
        }
    }
    assert!(ok, "DPoP never recovered after Redis came back");
}
