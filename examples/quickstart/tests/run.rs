//! README's first command, run as users run it: `quickstart` exits 0 with every call as
//! expected; `quickstart --serve` keeps serving and its printed token works.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_quickstart");

#[test]
fn quickstart_exits_zero_with_every_call_as_expected() {
    let started = Instant::now();
    let out = Command::new(BIN).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    let rows: Vec<&str> = stdout.lines().filter(|l| l.starts_with("ok ")).collect();
    // every row of the tour (the IdP token requests, HTTP, gRPC, DPoP, service chain)
    assert_eq!(rows.len(), 36, "{stdout}");
    assert!(!stdout.lines().any(|l| l.starts_with("XX")), "{stdout}");
    for needle in [
        "HTTP  GET /orders no token",
        "403 insufficient_scope",
        "GET /orders expired token",
        "PERMISSION_DENIED",
        "UNAUTHENTICATED",
        "400 invalid_scope",
        // a DPoP-bound token from the dev IdP's token endpoint (a DPoP proof sent)
        "IdP   token demo-full with a DPoP proof",
        "200 token_type DPoP",
        // DPoP (RFC 9449) against axum-orders with TOLLGATE_DPOP=allowed
        "DPoP  GET /orders bound token + proof",
        r#"DPoP error="invalid_dpop_proof", error_description="The DPoP proof was already used""#,
        r#"DPoP error="invalid_dpop_proof", error_description="The DPoP proof is for another request""#,
        r#"error="invalid_token", error_description="The access token is bound to a key and needs a DPoP proof""#,
        r#"DPoP error="invalid_dpop_proof", error_description="The DPoP proof key does not match the access token""#,
        // the nonce round trip (TOLLGATE_DPOP_NONCE=required)
        "401 use_dpop_nonce",
        "· DPoP-Nonce: ",
        // gRPC with DPoP (tonic-inventory with TOLLGATE_DPOP=allowed)
        "gRPC  GetItem DPoP bound token + proof",
        "The DPoP proof was already used",
        "tollgate_requests_total{outcome=\"refused\",reason=\"dpop_replay\"} 2",
        // a few lines of the metrics scrape
        "tollgate_requests_total{outcome=\"refused\",reason=\"insufficient_scope\"} 2",
        "tollgate_requests_total{outcome=\"allowed\",reason=\"ok\"}",
    ] {
        assert!(stdout.contains(needle), "{needle} missing:\n{stdout}");
    }
    assert!(stdout.contains(&format!("{0}/{0} calls as expected", rows.len())));
}

#[test]
fn serve_mode_prints_a_working_token() {
    let mut child = Command::new(BIN)
        .arg("--serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut orders, mut token) = (None, None);
    for line in lines {
        let line = line.unwrap();
        let l = line.trim();
        if let Some(u) = l.strip_prefix("axum-orders") {
            orders = Some(u.trim().trim_start_matches("http://").to_owned());
        }
        if let Some(t) = l.strip_prefix("TOKEN=") {
            token = Some(t.to_owned());
            break;
        }
    }
    let (orders, token) = (orders.expect("orders address"), token.expect("token"));
    let mut s = TcpStream::connect(&orders).unwrap();
    write!(
        s,
        "GET /orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
}
