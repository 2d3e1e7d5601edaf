//! The quickstart: mints tokens with a throw-away key and shows which ones tollgate
//! accepts and why it refuses the others, with the status, RFC 6750 code and gRPC code
//! each refusal is answered with. Exits non-zero if any outcome is unexpected.

use std::process::ExitCode;

use tollgate_core::error::AuthError;
use tollgate_core::{KeySet, Validation};
use tollgate_testkit::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, TestKey};

fn main() -> ExitCode {
    let key = TestKey::p256("demo-key");
    let keys = KeySet::from_keys([key.public_key()]);
    let validation = match Validation::builder()
        .issuer(DEFAULT_ISSUER)
        .audience(DEFAULT_AUDIENCE)
        .build()
    {
        Ok(v) => v,
        Err(e) => {
            eprintln!("configuration error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let stranger = TestKey::p256("demo-key");
    let cases: Vec<(&str, String, Option<u16>)> = vec![
        (
            "valid ES256 access token",
            key.token().scope("orders:read").sign(),
            None,
        ),
        ("expired", key.token().expired(), Some(401)),
        ("wrong audience", key.token().wrong_audience(), Some(401)),
        ("bad signature", key.token().bad_signature(), Some(401)),
        (
            "signed by another key, same kid",
            stranger.token().sign(),
            Some(401),
        ),
        (
            "alg none",
            key.token().header("alg", "none").unsigned(),
            Some(401),
        ),
        (
            "ID token (typ JWT)",
            key.token().header("typ", "JWT").sign(),
            Some(401),
        ),
        (
            "issuer prefix trick",
            key.token().issuer("https://idp.tollgate.test.evil").sign(),
            Some(401),
        ),
    ];
    println!(
        "token                              expected  got       RFC 6750 / gRPC            reason (log only)"
    );
    let mut failures = 0;
    for (name, token, expected) in cases {
        let result = validation.verify::<()>(&token, &keys);
        let (got, detail, reason) = match &result {
            Ok(c) => (
                None,
                String::from("-"),
                format!("sub={}", c.sub.as_deref().unwrap_or("?")),
            ),
            Err(e) => describe(e),
        };
        let ok = got == expected;
        if !ok {
            failures += 1;
        }
        let show = |s: Option<u16>| s.map_or_else(|| "200".to_owned(), |s| s.to_string());
        println!(
            "{:<34} {:<9} {:<9} {:<26} {}{}",
            name,
            show(expected),
            show(got),
            detail,
            reason,
            if ok { "" } else { "   <-- UNEXPECTED" }
        );
    }
    if failures == 0 {
        println!("\nall outcomes as expected");
        ExitCode::SUCCESS
    } else {
        println!("\n{failures} unexpected outcome(s)");
        ExitCode::FAILURE
    }
}

fn describe(e: &AuthError) -> (Option<u16>, String, String) {
    let w = e.wire();
    let code = w.error.map_or("-", |c| c.as_str());
    (
        Some(w.status),
        format!("{code} / {}", w.grpc.as_i32()),
        e.to_string(),
    )
}
