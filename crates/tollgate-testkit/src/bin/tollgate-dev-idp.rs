//! `tollgate-dev-idp`: the development identity provider of `tollgate-testkit` as a
//! program. **NOT FOR PRODUCTION**: loopback only, plain HTTP, secrets in a file, keys
//! in memory, unauthenticated admin calls.
//!
//! ```text
//! tollgate-dev-idp [--bind 127.0.0.1:9000] [--config clients.toml]
//!                  [--rotate-every SECS] [--grace SECS] [--token-ttl SECS]
//! ```
//!
//! Prints `issuer: http://127.0.0.1:9000` (and the endpoints and clients) on start,
//! then serves until interrupted.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use tollgate_testkit::idp::{DevIdp, IdpConfig};

const USAGE: &str = "\
tollgate-dev-idp: an OAuth 2.0 authorization server for development and tests.
NOT FOR PRODUCTION (loopback only, plain HTTP, in-memory keys, unauthenticated admin calls).

usage: tollgate-dev-idp [options]
  --bind ADDR          loopback address to listen on (default 127.0.0.1:9000; port 0 = any free port)
  --config FILE        clients and settings (TOML); default: the built-in demo clients
  --rotate-every SECS  rotate the signing key on this timer (default: on demand only)
  --grace SECS         keep a retired key published this long (default 600)
  --token-ttl SECS     access token lifetime (default 300)
  -h, --help           this text

endpoints: /.well-known/openid-configuration, /.well-known/oauth-authorization-server,
  /jwks, POST /token, POST /introspect, POST /revoke, POST /admin/rotate, POST /admin/revoke
";

struct Args {
    bind: SocketAddr,
    config: Option<String>,
    rotate_every: Option<u64>,
    grace: Option<u64>,
    token_ttl: Option<u64>,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut args = Args {
        bind: SocketAddr::from(([127, 0, 0, 1], 9000)),
        config: None,
        rotate_every: None,
        grace: None,
        token_ttl: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let secs = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("{flag}: {v:?} is not a number of seconds"))
        };
        match flag.as_str() {
            "--bind" => {
                args.bind = value.parse().map_err(|_| {
                    format!("--bind: {value:?} is not an address like 127.0.0.1:9000")
                })?;
            }
            "--config" => args.config = Some(value),
            "--rotate-every" => args.rotate_every = Some(secs(&value)?),
            "--grace" => args.grace = Some(secs(&value)?),
            "--token-ttl" => args.token_ttl = Some(secs(&value)?),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(Some(args))
}

/// An error and its causes on one line (`outer: cause: root cause`).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

fn config(args: &Args) -> Result<IdpConfig, String> {
    let mut config = match &args.config {
        None => IdpConfig::default(),
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
            IdpConfig::from_toml(&text).map_err(|e| format!("{path}: {}", chain(&e)))?
        }
    };
    if let Some(s) = args.rotate_every {
        config.rotation_interval = (s > 0).then(|| Duration::from_secs(s));
    }
    if let Some(s) = args.grace {
        config.rotation_grace = Duration::from_secs(s);
    }
    if let Some(s) = args.token_ttl {
        config.token_ttl = Duration::from_secs(s);
    }
    Ok(config)
}

#[tokio::main]
async fn main() -> ExitCode {
    if let Err(e) = tollgate_testkit::ops::init_logging() {
        eprintln!("tollgate-dev-idp: {e}");
        return ExitCode::from(2);
    }
    let args = match parse_args() {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("tollgate-dev-idp: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let config = match config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tollgate-dev-idp: {e}");
            return ExitCode::from(2);
        }
    };
    let idp = match DevIdp::builder()
        .config(config)
        .bind(args.bind)
        .start()
        .await
    {
        Ok(idp) => idp,
        Err(e) => {
            eprintln!("tollgate-dev-idp: {}", chain(&e));
            return ExitCode::from(1);
        }
    };
    println!("issuer: {}", idp.issuer());
    println!("tollgate-dev-idp: NOT FOR PRODUCTION");
    println!("  discovery:     {}", idp.discovery_url());
    println!("  jwks:          {}", idp.jwks_uri());
    println!("  token:         {}", idp.token_endpoint());
    println!("  introspection: {}", idp.introspection_endpoint());
    println!("  revocation:    {}", idp.revocation_endpoint());
    println!(
        "  rotate now:    curl -X POST {}/admin/rotate",
        idp.issuer()
    );
    for c in &idp.config().clients {
        println!(
            "  client {} (secret {}): scopes [{}], audiences [{}]{}",
            c.id,
            c.secret,
            c.scopes.join(" "),
            c.audiences.join(", "),
            if c.format == tollgate_testkit::idp::TokenFormat::Opaque {
                ", opaque tokens"
            } else {
                ""
            }
        );
    }
    if let Some(c) = idp.config().clients.first() {
        println!(
            "  try: curl -s -u {}:{} -d grant_type=client_credentials {}",
            c.id,
            c.secret,
            idp.token_endpoint()
        );
    }
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
    idp.shutdown();
    ExitCode::SUCCESS
}
