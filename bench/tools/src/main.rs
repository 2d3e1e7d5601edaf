//! `bench-idp`: the identity-provider side of the load benchmark.
//!
//! Generates one RSA-2048 key (RS256) and one P-256 key (ES256) with tollgate-testkit,
//! serves both in one JWKS on loopback HTTP (`GET /jwks`, query string ignored: the
//! testkit's own JWKS server matches the whole request target, and jwt-authorizer
//! appends `?kid=..` when it refreshes), mints the tokens and writes:
//!
//! - `<out>/env`: shell assignments `JWKS_URL`, `ISSUER`, `AUDIENCE`, `TOKEN_RS256`,
//!   `TOKEN_ES256` (the one repeated token per algorithm for the warm mode);
//! - `<out>/cold-RS256.txt`, `<out>/cold-ES256.txt`: `--cold N` distinct valid tokens
//!   per algorithm, one per line, for the cold mode (`lua/cold.lua`);
//! - `<out>/ready` once everything above is written.
//!
//! Then it keeps serving the JWKS until killed.
//!
//! Usage: `bench-idp --out DIR [--cold N] [--ttl SECONDS]`

use std::io::Write as _;
use std::path::PathBuf;

use tollgate_testkit::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, TestKey};

fn usage() -> ! {
    eprintln!("usage: bench-idp --out DIR [--cold N] [--ttl SECONDS]");
    std::process::exit(2)
}

fn mint(key: &TestKey, ttl: i64) -> String {
    key.token()
        .subject("bench-user")
        .scope("hello")
        .expires_in(ttl)
        .sign()
}

/// `n` distinct tokens (each has its own `jti`), minted on `threads` threads.
fn mint_many(key: &TestKey, ttl: i64, n: usize, threads: usize) -> Vec<String> {
    let per = n.div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let count = per.min(n.saturating_sub(t * per));
                s.spawn(move || (0..count).map(|_| mint(key, ttl)).collect::<Vec<_>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("minting thread"))
            .collect()
    })
}

/// Serves `jwks` at `http://127.0.0.1:<free port>/jwks`; returns that URL.
async fn serve_jwks(jwks: serde_json::Value) -> std::io::Result<String> {
    use axum::http::header;
    let body = serde_json::to_vec(&jwks).expect("JWKS serializes");
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let body = body.clone();
            async move {
                (
                    [
                        (header::CONTENT_TYPE, "application/json"),
                        (header::CACHE_CONTROL, "max-age=300"),
                    ],
                    body,
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}/jwks"))
}

fn write_lines(path: &PathBuf, lines: &[String]) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    for l in lines {
        writeln!(f, "{l}")?;
    }
    f.flush()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut out: Option<PathBuf> = None;
    let mut cold = 100_000usize;
    let mut ttl = 3600i64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--out" => out = Some(args.next().unwrap_or_else(|| usage()).into()),
            "--cold" => {
                cold = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--ttl" => {
                ttl = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            _ => usage(),
        }
    }
    let out = out.unwrap_or_else(|| usage());
    std::fs::create_dir_all(&out)?;
    let _ = std::fs::remove_file(out.join("ready"));

    let rsa = TestKey::rsa("bench-rs256");
    let p256 = TestKey::p256("bench-es256");
    // The testkit leaves `alg` out of RSA JWKs; every contender gets the same JWKS, and
    // some peers select keys by `alg`, so state it as most identity providers do.
    let mut jwks = TestKey::jwks([&rsa, &p256]);
    for k in jwks["keys"].as_array_mut().expect("keys array") {
        if k["kty"] == "RSA" {
            k["alg"] = "RS256".into();
        }
    }
    let url = serve_jwks(jwks).await?;

    let token_rs = mint(&rsa, ttl);
    let token_es = mint(&p256, ttl);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let started = std::time::Instant::now();
    let cold_rs = tokio::task::block_in_place(|| mint_many(&rsa, ttl, cold, threads));
    let cold_es = tokio::task::block_in_place(|| mint_many(&p256, ttl, cold, threads));
    write_lines(&out.join("cold-RS256.txt"), &cold_rs)?;
    write_lines(&out.join("cold-ES256.txt"), &cold_es)?;
    eprintln!(
        "bench-idp: minted 2 x {cold} cold tokens in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    std::fs::write(
        out.join("env"),
        format!(
            "JWKS_URL='{url}'\nISSUER='{DEFAULT_ISSUER}'\nAUDIENCE='{DEFAULT_AUDIENCE}'\n\
             TOKEN_RS256='{token_rs}'\nTOKEN_ES256='{token_es}'\nCOLD_TOKENS={cold}\n"
        ),
    )?;
    std::fs::write(out.join("ready"), "")?;
    println!("bench-idp: JWKS at {url}; files in {}", out.display());

    tokio::signal::ctrl_c().await?;
    Ok(())
}
