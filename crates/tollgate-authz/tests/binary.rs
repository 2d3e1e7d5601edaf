//! The `tollgate-authz` binary on its own: configuration errors exit 2 naming the
//! field; `/authz` answers each header convention directly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;

use support::{Authz, TempDir, send};
use tollgate_testkit::DevIdp;

fn run_with(config: Option<&str>) -> (Option<i32>, String) {
    let dir = TempDir::new("badconfig");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tollgate-authz"));
    cmd.env_remove("TOLLGATE_CONFIG").env("BIND", "127.0.0.1:0");
    if let Some(text) = config {
        let file = dir.0.join("authz.toml");
        std::fs::write(&file, text).unwrap();
        cmd.env("TOLLGATE_CONFIG", &file);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_configuration_exits_2_naming_the_field() {
    let base = "[[issuer]]\nissuer = \"http://127.0.0.1:9\"\naudiences = [\"orders\"]\njwks_uri = \"http://127.0.0.1:9/jwks\"\n";
    let cases = [
        (None, "TOLLGATE_CONFIG is required"),
        (
            Some(format!(
                "{base}[[route]]\nprefix = \"/a\"\nscope = {{ all = [] }}\n"
            )),
            "unknown field `scope`",
        ),
        (
            Some(format!("{base}[[route]]\nprefix = \"/a\"\n")),
            "route[0] needs scopes",
        ),
        (
            Some(format!(
                "{base}[[route]]\nprefix = \"/a\"\nmethods = [\"get\"]\npublic = true\n"
            )),
            "route[0].methods[0]",
        ),
        (
            Some(format!("{base}[authz.headers]\nsubject = \"Host\"\n")),
            "authz.headers.subject",
        ),
        (
            Some("[[route]]\nprefix = \"/\"\npublic = true\n".to_owned()),
            "issuer",
        ),
    ];
    for (config, needle) in cases {
        let (code, stderr) = run_with(config.as_deref());
        assert_eq!(code, Some(2), "{needle}: {stderr}");
        assert!(
            stderr.starts_with("tollgate-authz: configuration error: "),
            "{stderr}"
        );
        assert!(stderr.contains(needle), "{needle} not in {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authz_endpoint_reads_both_conventions() {
    let idp = DevIdp::builder().start().await.unwrap();
    let authz = Authz::for_idp(&idp).await;
    let a = authz.addr;
    let token = idp
        .client_credentials_token("demo-reader", &["orders:read"], Some("orders"))
        .await
        .unwrap()
        .access_token;
    let bearer = format!("Bearer {token}");

    for (m, u) in [
        ("X-Forwarded-Method", "X-Forwarded-Uri"),
        ("X-Original-Method", "X-Original-URI"),
    ] {
        // any method on /authz
        for verb in ["GET", "POST", "HEAD"] {
            let r = send(
                a,
                verb,
                "/authz",
                &[(m, "GET"), (u, "/orders/1"), ("Authorization", &bearer)],
            )
            .await;
            assert_eq!(r.status, 200, "{verb} with {m}");
            if verb != "HEAD" {
                assert_eq!(r.header("x-auth-subject"), Some("demo-reader"));
                assert_eq!(r.header("x-auth-scopes"), Some("orders:read"));
                assert_eq!(r.header("cache-control"), Some("no-store"));
            }
        }
        let r = send(a, "GET", "/authz", &[(m, "GET"), (u, "/orders")]).await;
        assert_eq!(r.status, 401);
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer realm=\"orders\"")
        );
        let r = send(
            a,
            "GET",
            "/authz",
            &[(m, "PUT"), (u, "/orders"), ("Authorization", &bearer)],
        )
        .await;
        assert_eq!(r.status, 403);
        assert_eq!(r.header("www-authenticate"), None);
    }
    // both conventions at once, or a repeated one: refused
    let r = send(
        a,
        "GET",
        "/authz",
        &[
            ("X-Forwarded-Method", "GET"),
            ("X-Forwarded-Uri", "/health"),
            ("X-Original-Method", "GET"),
            ("X-Original-URI", "/health"),
        ],
    )
    .await;
    assert_eq!(r.status, 403);
    let r = send(
        a,
        "GET",
        "/authz",
        &[
            ("X-Forwarded-Method", "GET"),
            ("X-Forwarded-Uri", "/health"),
            ("X-Forwarded-Uri", "/x"),
        ],
    )
    .await;
    assert_eq!(r.status, 403);
    // no original request at all: the gateway is misconfigured
    let r = send(a, "GET", "/authz", &[("Authorization", &bearer)]).await;
    assert_eq!(r.status, 500);
    // other paths of the binary are not endpoints
    let r = send(a, "GET", "/orders", &[]).await;
    assert_eq!(r.status, 404);
}
