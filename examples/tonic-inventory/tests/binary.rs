//! The `tonic-inventory` binary itself: configured by environment variables, prints
//! `listening on <addr>` once serving, answers a real tonic client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use tollgate_testkit::process::RunningBinary;
use tollgate_testkit::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, TestKey, serve_jwks};
use tonic::Code;
use tonic_inventory::pb::GetItemRequest;
use tonic_inventory::pb::inventory_client::InventoryClient;

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_serves_and_refuses() {
    let key = TestKey::p256("bin-key");
    let (jwks_url, _jwks) = serve_jwks(TestKey::jwks([&key])).await;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tonic-inventory"));
    cmd.env("TOLLGATE_ISSUER", DEFAULT_ISSUER)
        .env("TOLLGATE_AUDIENCE", DEFAULT_AUDIENCE)
        .env("TOLLGATE_JWKS_URI", &jwks_url)
        .env("TOLLGATE_ALGORITHMS", "ES256")
        .env("BIND", "127.0.0.1:0");
    let child = RunningBinary::start(cmd).await.unwrap();
    let addr = child.addr().to_owned();

    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = InventoryClient::new(channel);
    let token = key.token().scope("inventory:read").sign();
    let mut req = tonic::Request::new(GetItemRequest {
        id: "widget".into(),
    });
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    assert_eq!(client.get_item(req).await.unwrap().get_ref().stock, 10);
    let err = client
        .get_item(GetItemRequest {
            id: "widget".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    drop(child);
}

/// With `RUST_LOG=debug` and `TOLLGATE_LOG_FORMAT=json`, each refusal is one
/// `tollgate::audit` JSON line naming the gRPC method, the reason and the peer, and
/// never the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_events_name_the_method_and_the_peer() {
    let key = TestKey::p256("audit-key");
    let (jwks_url, _jwks) = serve_jwks(TestKey::jwks([&key])).await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tonic-inventory"))
        .env("TOLLGATE_ISSUER", DEFAULT_ISSUER)
        .env("TOLLGATE_AUDIENCE", DEFAULT_AUDIENCE)
        .env("TOLLGATE_JWKS_URI", &jwks_url)
        .env("BIND", "127.0.0.1:0")
        .env("RUST_LOG", "debug")
        .env("TOLLGATE_LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    let mut child = Kill(child);
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = InventoryClient::new(channel);
    let expired = key.token().scope("inventory:read").expires_in(-3600).sign();
    let mut req = tonic::Request::new(GetItemRequest {
        id: "widget".into(),
    });
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {expired}").parse().unwrap(),
    );
    assert_eq!(
        client.get_item(req).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let _ = child.0.kill();
    let _ = child.0.wait();
    let lines = reader.join().unwrap();
    let audit: Vec<serde_json::Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["target"] == "tollgate::audit")
        .collect();
    assert_eq!(audit.len(), 1, "{lines:#?}");
    let e = &audit[0];
    assert_eq!(e["reason"], "expired");
    assert_eq!(e["path"], "/inventory.v1.Inventory/GetItem");
    assert!(
        e["remote_addr"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{e}"
    );
    for l in &lines {
        assert!(!l.contains(expired.split('.').nth(1).unwrap()), "{l}");
    }
}

/// `TOLLGATE_DPOP=required`: the binary refuses a Bearer call with the DPoP challenge
/// in the `www-authenticate` metadata, and accepts a DPoP-bound token whose proof names
/// POST and `http://<BIND>/inventory.v1.Inventory/GetItem` (the default public URL:
/// the address it listens on), once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dpop_required_from_the_environment() {
    let idp = TestKey::p256("dpop-idp");
    let client_key = TestKey::p256("dpop-client");
    let (jwks_url, _jwks) = serve_jwks(TestKey::jwks([&idp])).await;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tonic-inventory"));
    cmd.env("TOLLGATE_ISSUER", DEFAULT_ISSUER)
        .env("TOLLGATE_AUDIENCE", DEFAULT_AUDIENCE)
        .env("TOLLGATE_JWKS_URI", &jwks_url)
        .env("TOLLGATE_DPOP", "required")
        .env_remove("TOLLGATE_PUBLIC_URL")
        .env("BIND", "127.0.0.1:0");
    let _child = RunningBinary::start(cmd).await.unwrap();
    let addr = _child.addr().to_owned();
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = InventoryClient::new(channel);
    let request = |authorization: String, proof: Option<String>| {
        let mut req = tonic::Request::new(GetItemRequest {
            id: "widget".into(),
        });
        req.metadata_mut()
            .insert("authorization", authorization.parse().unwrap());
        if let Some(p) = proof {
            req.metadata_mut().insert("dpop", p.parse().unwrap());
        }
        req
    };

    let plain = idp.token().scope("inventory:read").sign();
    let s = client
        .get_item(request(format!("Bearer {plain}"), None))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::Unauthenticated);
    assert_eq!(
        s.metadata().get("www-authenticate").unwrap(),
        r#"DPoP algs="RS256 PS256 ES256 ES384 EdDSA""#
    );

    let bound = idp
        .token()
        .scope("inventory:read")
        .dpop_bound(&client_key)
        .sign();
    let proof = tollgate_testkit::DpopProof::new(
        &client_key,
        "POST",
        &format!("http://{addr}/inventory.v1.Inventory/GetItem"),
    )
    .access_token(&bound)
    .sign();
    let r = client
        .get_item(request(format!("DPoP {bound}"), Some(proof.clone())))
        .await
        .unwrap();
    assert_eq!(r.get_ref().stock, 10);
    let s = client
        .get_item(request(format!("DPoP {bound}"), Some(proof)))
        .await
        .unwrap_err();
    assert_eq!(
        (s.code(), s.message()),
        (Code::Unauthenticated, "The DPoP proof was already used")
    );
    assert_eq!(
        s.metadata().get("www-authenticate").unwrap(),
        r#"DPoP error="invalid_dpop_proof", error_description="The DPoP proof was already used", algs="RS256 PS256 ES256 ES384 EdDSA""#
    );
}
