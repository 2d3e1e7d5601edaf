//! The `tollgate-dev-idp` binary and the library's start-up rules: loopback only, a
//! TOML client file, the issuer printed on start, and config errors reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(feature = "idp")]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use tollgate_testkit::idp::{DevIdp, IdpConfig, IdpError};

const BIN: &str = env!("CARGO_BIN_EXE_tollgate-dev-idp");

/// One HTTP/1.1 exchange over a raw socket (the server closes the connection).
fn http(addr: &str, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out.split_once("\r\n\r\n").unwrap().1.to_owned();
    (status, body)
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary; returns it and the issuer it printed.
fn start(args: &[&str]) -> (Running, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let issuer = first.strip_prefix("issuer: ").expect(&first).to_owned();
    // keep draining stdout so the child never blocks on a full pipe
    std::thread::spawn(move || for _ in lines {});
    (Running(child), issuer)
}

#[test]
fn binary_serves_clients_from_a_toml_file() {
    let dir = std::env::temp_dir().join(format!("tollgate-dev-idp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("clients.toml");
    std::fs::write(
        &file,
        r#"
token_ttl_secs = 90
[[clients]]
id = "billing"
secret = "billing-secret"
scopes = ["invoices:read"]
audiences = ["invoices"]
"#,
    )
    .unwrap();
    let (_idp, issuer) = start(&["--bind", "127.0.0.1:0", "--config", file.to_str().unwrap()]);
    assert!(issuer.starts_with("http://127.0.0.1:"), "{issuer}");
    let addr = issuer.trim_start_matches("http://");

    let (status, body) = http(
        addr,
        "GET /.well-known/openid-configuration HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(status, 200);
    let meta: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(meta["issuer"], issuer.as_str());

    let form = "grant_type=client_credentials&client_id=billing&client_secret=billing-secret";
    let (status, body) = http(
        addr,
        &format!(
            "POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\n\r\n{form}",
            form.len()
        ),
    );
    assert_eq!(status, 200, "{body}");
    let t: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (&t["scope"], &t["expires_in"]),
        (&"invoices:read".into(), &90.into())
    );

    // the built-in demo clients are replaced by the file's
    let form = "grant_type=client_credentials&client_id=demo-full&client_secret=demo-full-secret";
    let (status, _) = http(
        addr,
        &format!(
            "POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\n\r\n{form}",
            form.len()
        ),
    );
    assert_eq!(status, 401);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn binary_defaults_and_refusals() {
    let (_idp, issuer) = start(&["--bind", "127.0.0.1:0"]);
    let addr = issuer.trim_start_matches("http://");
    let form =
        "grant_type=client_credentials&client_id=demo-reader&client_secret=demo-reader-secret";
    let (status, body) = http(
        addr,
        &format!(
            "POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\n\r\n{form}",
            form.len()
        ),
    );
    assert_eq!(status, 200, "{body}");

    // not loopback: refused with a clear message
    let out = Command::new(BIN)
        .args(["--bind", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
    // a broken config file: exit 2 naming the problem
    let file =
        std::env::temp_dir().join(format!("tollgate-dev-idp-bad-{}.toml", std::process::id()));
    std::fs::write(&file, "tokn_ttl_secs = 3\n").unwrap();
    let out = Command::new(BIN)
        .args(["--config", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tokn_ttl_secs"));
    let _ = std::fs::remove_file(&file);
    // --help
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("NOT FOR PRODUCTION"));
}

#[tokio::test]
async fn library_binds_loopback_only_and_checks_its_config() {
    let e = DevIdp::builder()
        .bind("0.0.0.0:0".parse().unwrap())
        .start()
        .await
        .unwrap_err();
    assert!(matches!(e, IdpError::NotLoopback(_)), "{e}");
    let idp = DevIdp::builder()
        .bind("[::1]:0".parse().unwrap())
        .start()
        .await;
    // IPv6 loopback works where the machine has it
    if let Ok(idp) = idp {
        assert!(idp.issuer().starts_with("http://[::1]:"));
    }
    let e = DevIdp::builder().clients([]).start().await.unwrap_err();
    assert!(matches!(e, IdpError::Config(_)), "{e}");
    let config = IdpConfig::from_toml("jwks_max_age_secs = 5").unwrap();
    assert_eq!(
        config.clients.len(),
        3,
        "no [[clients]]: built-in clients kept"
    );
    let idp = DevIdp::builder().config(config).start().await.unwrap();
    assert_eq!(idp.published_kids().len(), 2);
}
