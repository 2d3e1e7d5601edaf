//! `axum-sigcheck`: the cold-path limit as a server (issue 18). Bare axum 0.8 whose
//! `/hello` handler does only what no verifier can skip: take the `Authorization:
//! Bearer` value, split off the signature, base64url-decode it and check it with an
//! aws-lc key parsed once at start (RSA-2048 for 256-byte signatures, P-256 for 64).
//! No header or claims JSON, no issuer/audience/expiry checks, no cache: a lower bound,
//! not a verifier. Answers 200 `hello` or 401.
//!
//! Measured by run.sh under the same load as the other contenders, it gives the limit
//! at the throughput the verifiers actually run at (bare axum's CPU per request at
//! 4× that throughput is lower: more requests per wake-up).
//!
//! Environment: `PORT`, `JWKS_URL` (as bench-idp writes them).

use std::sync::Arc;

use aws_lc_rs::signature::ParsedPublicKey;
use axum::http::{HeaderMap, StatusCode, header::AUTHORIZATION};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod jwk;
use jwk::key_for;

struct Keys {
    rsa: ParsedPublicKey,
    ec: ParsedPublicKey,
}

/// GET over plain HTTP/1.0 on loopback (the JWKS of bench-idp).
async fn fetch(url: &str) -> serde_json::Value {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (authority, path) = rest.split_once('/').expect("a path");
    let mut s = tokio::net::TcpStream::connect(authority)
        .await
        .expect("connect");
    s.write_all(format!("GET /{path} HTTP/1.0\r\nHost: {authority}\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut body = Vec::new();
    s.read_to_end(&mut body).await.expect("read");
    let start = body
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers")
        + 4;
    serde_json::from_slice(&body[start..]).expect("JWKS JSON")
}

fn check(keys: &Keys, headers: &HeaderMap) -> bool {
    let Some(token) = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let Some((input, sig)) = token.rsplit_once('.') else {
        return false;
    };
    let mut buf = [0u8; 520];
    let Ok(n) = URL_SAFE_NO_PAD.decode_slice(sig, &mut buf) else {
        return false;
    };
    let key = match n {
        256 => &keys.rsa,
        64 => &keys.ec,
        _ => return false,
    };
    key.verify_sig(input.as_bytes(), &buf[..n]).is_ok()
}

#[tokio::main]
async fn main() {
    let var = |n: &str| std::env::var(n).unwrap_or_else(|_| panic!("{n} is required"));
    let port: u16 = var("PORT").parse().expect("PORT");
    let jwks = fetch(&var("JWKS_URL")).await;
    let keys = Arc::new(Keys {
        rsa: key_for(&jwks, "RSA"),
        ec: key_for(&jwks, "EC"),
    });
    let app = axum::Router::new().route(
        "/hello",
        get(move |headers: HeaderMap| {
            let keys = keys.clone();
            async move {
                if check(&keys, &headers) {
                    Ok("hello")
                } else {
                    Err(StatusCode::UNAUTHORIZED)
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    println!(
        "listening on {}",
        listener.local_addr().expect("local addr")
    );
    axum::serve(listener, app).await.expect("server");
}
