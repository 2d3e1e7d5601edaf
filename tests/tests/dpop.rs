//! DPoP (RFC 9449) through the gate's HTTP layer: every refusal with its status and
//! challenge. Run with `--nocapture` to see the observed answers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;

use http::{Request, Response, StatusCode};
use tollgate_core::KeySet;
use tollgate_core::dpop::{
    DpopVerifier, MemoryReplayStore, NonceIssuer, PublicUrl, ReplayStoreConfig,
};
use tollgate_testkit::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, DpopProof, TestKey};
use tollgate_tower::{Dpop, DpopMode, Tollgate};
use tower::{Layer, Service, ServiceExt, service_fn};

const BASE: &str = "https://api.example";
const ALGS: &str = r#"algs="RS256 PS256 ES256 ES384 EdDSA""#;

struct Fixture {
    idp: TestKey,
    client: TestKey,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            idp: TestKey::p256("idp"),
            client: TestKey::p256("client"),
        }
    }

    fn bound_token(&self) -> String {
        self.idp.token().dpop_bound(&self.client).sign()
    }

    fn proof(&self, method: &str, path: &str, token: &str) -> DpopProof {
        DpopProof::new(&self.client, method, &format!("{BASE}{path}")).access_token(token)
    }

    async fn gate(&self, dpop: Option<Dpop>) -> Tollgate {
        let gate = Tollgate::<()>::builder()
            .issuer(DEFAULT_ISSUER)
            .audience(DEFAULT_AUDIENCE)
            .keys(KeySet::from_keys([self.idp.public_key()]));
        let gate = match dpop {
            Some(d) => gate.dpop(d),
            None => gate,
        };
        gate.build().await.unwrap()
    }
}

fn dpop(mode: DpopMode) -> Dpop {
    Dpop::new(mode, DpopVerifier::builder().build().unwrap())
        .public_url(PublicUrl::parse(BASE).unwrap())
}

struct Answer {
    status: StatusCode,
    challenges: Vec<String>,
    nonce: Option<String>,
    retry_after: Option<String>,
}

async fn call(
    gate: &Tollgate,
    method: &str,
    path: &str,
    authorization: Option<String>,
    proofs: &[String],
) -> Answer {
    let handler = service_fn(|_req: Request<String>| async {
        Ok::<_, Infallible>(Response::new(String::from("ok")))
    });
    let mut svc = gate.layer().layer(handler);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "internal:8080");
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    for p in proofs {
        req = req.header("dpop", p);
    }
    let res = svc
        .ready()
        .await
        .unwrap()
        .call(req.body(String::new()).unwrap())
        .await
        .unwrap();
    let h = res.headers();
    Answer {
        status: res.status(),
        challenges: h
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect(),
        nonce: h.get("dpop-nonce").map(|v| v.to_str().unwrap().to_owned()),
        retry_after: h.get("retry-after").map(|v| v.to_str().unwrap().to_owned()),
    }
}

fn show(case: &str, a: &Answer) {
    eprintln!(
        "{case}: {} | {}{}",
        a.status.as_u16(),
        a.challenges.join(" || "),
        a.nonce
            .as_ref()
            .map(|_| " | DPoP-Nonce set")
            .unwrap_or_default()
    );
}

fn dpop_error(code: &str, description: &str) -> String {
    format!(r#"DPoP error="{code}", error_description="{description}", {ALGS}"#)
}

#[tokio::test]
async fn allowed_mode_every_case() {
    let f = Fixture::new();
    let gate = f.gate(Some(dpop(DpopMode::Allowed))).await;
    let token = f.bound_token();
    let auth = || Some(format!("DPoP {token}"));

    // accepted
    let p = f.proof("GET", "/orders", &token).sign();
    let a = call(&gate, "GET", "/orders", auth(), std::slice::from_ref(&p)).await;
    show("DPoP call", &a);
    assert_eq!(a.status, 200);
    // nonces off: no DPoP-Nonce header
    assert!(a.nonce.is_none());

    // the same proof again
    let a = call(&gate, "GET", "/orders", auth(), &[p]).await;
    show("proof replayed", &a);
    assert_eq!(a.status, 401);
    assert_eq!(
        a.challenges,
        [dpop_error(
            "invalid_dpop_proof",
            "The DPoP proof was already used"
        )]
    );

    let cases: Vec<(&str, &str, Vec<String>, &str)> = vec![
        (
            "proof for another URL",
            "/orders",
            vec![f.proof("GET", "/admin", &token).sign()],
            "The DPoP proof is for another request",
        ),
        (
            "proof for another method",
            "/orders",
            vec![f.proof("POST", "/orders", &token).sign()],
            "The DPoP proof is for another request",
        ),
        (
            "proof for another token",
            "/orders",
            vec![f.proof("GET", "/orders", "other.token.x").sign()],
            "The DPoP proof is for another access token",
        ),
        (
            "proof too old",
            "/orders",
            vec![f.proof("GET", "/orders", &token).issued_in(-61).sign()],
            "The DPoP proof is outside its time window",
        ),
        (
            "proof from the future",
            "/orders",
            vec![f.proof("GET", "/orders", &token).issued_in(30).sign()],
            "The DPoP proof is outside its time window",
        ),
        (
            "no proof",
            "/orders",
            vec![],
            "Exactly one DPoP proof is required",
        ),
        (
            "two proofs",
            "/orders",
            vec![
                f.proof("GET", "/orders", &token).sign(),
                f.proof("GET", "/orders", &token).sign(),
            ],
            "Exactly one DPoP proof is required",
        ),
        (
            "typ JWT",
            "/orders",
            vec![
                f.proof("GET", "/orders", &token)
                    .header("typ", "JWT")
                    .sign(),
            ],
            "The DPoP proof is invalid",
        ),
        (
            "alg none",
            "/orders",
            vec![
                f.proof("GET", "/orders", &token)
                    .header("alg", "none")
                    .sign(),
            ],
            "The DPoP proof is invalid",
        ),
        (
            "private jwk",
            "/orders",
            vec![
                f.proof("GET", "/orders", &token)
                    .jwk_member("d", "AAAA")
                    .sign(),
            ],
            "The DPoP proof is invalid",
        ),
        (
            "bad signature",
            "/orders",
            vec![
                f.proof("GET", "/orders", &token)
                    .signed_by(&TestKey::p256("x"))
                    .sign(),
            ],
            "The DPoP proof is invalid",
        ),
        (
            "no jti",
            "/orders",
            vec![f.proof("GET", "/orders", &token).without("jti").sign()],
            "The DPoP proof is invalid",
        ),
        (
            "not a JWS",
            "/orders",
            vec!["not-a-jws".into()],
            "The DPoP proof is invalid",
        ),
        (
            "token used with another key",
            "/orders",
            vec![
                DpopProof::new(&TestKey::p256("thief"), "GET", &format!("{BASE}/orders"))
                    .access_token(&token)
                    .sign(),
            ],
            "The DPoP proof key does not match the access token",
        ),
    ];
    for (case, path, proofs, description) in cases {
        let a = call(&gate, "GET", path, auth(), &proofs).await;
        show(case, &a);
        assert_eq!(a.status, 401, "{case}");
        assert_eq!(
            a.challenges,
            [dpop_error("invalid_dpop_proof", description)],
            "{case}"
        );
    }

    // a bound token sent as Bearer: invalid_token under Bearer, DPoP offered beside it
    let a = call(
        &gate,
        "GET",
        "/orders",
        Some(format!("Bearer {token}")),
        &[],
    )
    .await;
    show("bound token as Bearer", &a);
    assert_eq!(a.status, 401);
    assert_eq!(
        a.challenges,
        [
            r#"Bearer realm="api", error="invalid_token", error_description="The access token is bound to a key and needs a DPoP proof""#.to_owned(),
            format!("DPoP {ALGS}"),
        ]
    );

    // an unbound token sent as DPoP
    let plain = f.idp.token().sign();
    let p = f.proof("GET", "/orders", &plain).sign();
    let a = call(&gate, "GET", "/orders", Some(format!("DPoP {plain}")), &[p]).await;
    show("unbound token as DPoP", &a);
    assert_eq!(a.status, 401);
    assert_eq!(
        a.challenges,
        [dpop_error(
            "invalid_token",
            "The access token is not bound to a DPoP key"
        )]
    );

    // an expired bound token with a good proof: invalid_token under the DPoP scheme
    let expired = f.idp.token().dpop_bound(&f.client).expired();
    let p = f.proof("GET", "/orders", &expired).sign();
    let a = call(
        &gate,
        "GET",
        "/orders",
        Some(format!("DPoP {expired}")),
        &[p],
    )
    .await;
    show("expired bound token", &a);
    assert_eq!(a.status, 401);
    assert_eq!(
        a.challenges,
        [dpop_error("invalid_token", "The access token expired")]
    );

    // an unbound token as Bearer: accepted as today
    let a = call(
        &gate,
        "GET",
        "/orders",
        Some(format!("Bearer {plain}")),
        &[],
    )
    .await;
    show("unbound token as Bearer", &a);
    assert_eq!(a.status, 200);

    // no token: both challenges
    let a = call(&gate, "GET", "/orders", None, &[]).await;
    show("no token", &a);
    assert_eq!(a.status, 401);
    assert_eq!(
        a.challenges,
        [r#"Bearer realm="api""#.to_owned(), format!("DPoP {ALGS}")]
    );

    // query strings do not count in htu
    let p = f.proof("GET", "/orders", &token).sign();
    let a = call(&gate, "GET", "/orders?page=2", auth(), &[p]).await;
    assert_eq!(a.status, 200);
}

#[tokio::test]
async fn required_mode() {
    let f = Fixture::new();
    let gate = f.gate(Some(dpop(DpopMode::Required))).await;
    let token = f.bound_token();
    let p = f.proof("POST", "/orders", &token).sign();
    let a = call(
        &gate,
        "POST",
        "/orders",
        Some(format!("DPoP {token}")),
        &[p],
    )
    .await;
    assert_eq!(a.status, 200);
    for (case, auth) in [
        (
            "Bearer under DPoP required",
            Some(format!("Bearer {}", f.idp.token().sign())),
        ),
        ("no token under DPoP required", None),
    ] {
        let a = call(&gate, "POST", "/orders", auth, &[]).await;
        show(case, &a);
        assert_eq!(a.status, 401);
        assert_eq!(a.challenges, [format!("DPoP {ALGS}")]);
    }
}

#[tokio::test]
async fn nonce_round_trip() {
    let f = Fixture::new();
    let nonces = NonceIssuer::new(&[3u8; 32]).unwrap();
    let verifier = DpopVerifier::builder().nonces(nonces).build().unwrap();
    let gate = f
        .gate(Some(
            Dpop::new(DpopMode::Allowed, verifier).public_url(PublicUrl::parse(BASE).unwrap()),
        ))
        .await;
    let token = f.bound_token();
    let p = f.proof("GET", "/orders", &token).sign();
    let a = call(&gate, "GET", "/orders", Some(format!("DPoP {token}")), &[p]).await;
    show("proof without nonce", &a);
    assert_eq!(a.status, 401);
    assert_eq!(
        a.challenges,
        [dpop_error(
            "use_dpop_nonce",
            "Resource server requires nonce in DPoP proof"
        )]
    );
    let nonce = a.nonce.expect("DPoP-Nonce header");
    let p = f.proof("GET", "/orders", &token).nonce(&nonce).sign();
    let a = call(&gate, "GET", "/orders", Some(format!("DPoP {token}")), &[p]).await;
    show("proof with the server's nonce", &a);
    assert_eq!(a.status, 200);
    // a fresh nonce comes with every accepted DPoP request
    assert!(a.nonce.is_some());
    // but not with Bearer requests
    let plain = f.idp.token().sign();
    let a = call(
        &gate,
        "GET",
        "/orders",
        Some(format!("Bearer {plain}")),
        &[],
    )
    .await;
    assert_eq!(a.status, 200);
    assert!(a.nonce.is_none());
    let p = f
        .proof("GET", "/orders", &token)
        .nonce("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .sign();
    let a = call(&gate, "GET", "/orders", Some(format!("DPoP {token}")), &[p]).await;
    show("proof with a made-up nonce", &a);
    assert_eq!(a.status, 401);
    assert!(a.nonce.is_some());
}

#[tokio::test]
async fn full_replay_store_refuses_with_503() {
    let f = Fixture::new();
    let verifier = DpopVerifier::builder()
        .replay_store(MemoryReplayStore::new(ReplayStoreConfig::new(1600, 1)))
        .build()
        .unwrap();
    let gate = f
        .gate(Some(
            Dpop::new(DpopMode::Allowed, verifier).public_url(PublicUrl::parse(BASE).unwrap()),
        ))
        .await;
    let token = f.bound_token();
    let auth = || Some(format!("DPoP {token}"));
    let a = call(
        &gate,
        "GET",
        "/orders",
        auth(),
        &[f.proof("GET", "/orders", &token).sign()],
    )
    .await;
    assert_eq!(a.status, 200);
    let a = call(
        &gate,
        "GET",
        "/orders",
        auth(),
        &[f.proof("GET", "/orders", &token).sign()],
    )
    .await;
    show("replay store full (per-key cap)", &a);
    assert_eq!(a.status, 503);
    assert_eq!(a.retry_after.as_deref(), Some("1"));
    assert!(a.challenges.is_empty());
}

#[tokio::test]
async fn htu_from_host_without_public_url() {
    let f = Fixture::new();
    let gate = f
        .gate(Some(Dpop::new(
            DpopMode::Allowed,
            DpopVerifier::builder().build().unwrap(),
        )))
        .await;
    let token = f.bound_token();
    let p = DpopProof::new(&f.client, "GET", "http://internal:8080/orders")
        .access_token(&token)
        .sign();
    let a = call(&gate, "GET", "/orders", Some(format!("DPoP {token}")), &[p]).await;
    assert_eq!(a.status, 200);
}

/// DPoP off (the default): Bearer only, and a DPoP-bound token is not accepted as a
/// bearer token either (a token copied from a DPoP client is useless without its key,
/// whatever the gate's mode).
#[tokio::test]
async fn off_mode_is_bearer_only() {
    let f = Fixture::new();
    for gate in [f.gate(None).await, f.gate(Some(dpop(DpopMode::Off))).await] {
        let token = f.bound_token();
        let a = call(
            &gate,
            "GET",
            "/orders",
            Some(format!("Bearer {token}")),
            &[],
        )
        .await;
        assert_eq!(a.status, 401);
        assert_eq!(
            a.challenges,
            [
                r#"Bearer realm="api", error="invalid_token", error_description="The access token is bound to a key and needs a DPoP proof""#
            ]
        );
        let unbound = f.idp.token().sign();
        let a = call(
            &gate,
            "GET",
            "/orders",
            Some(format!("Bearer {unbound}")),
            &[],
        )
        .await;
        assert_eq!(a.status, 200);
        let p = f.proof("GET", "/orders", &token).sign();
        let a = call(&gate, "GET", "/orders", Some(format!("DPoP {token}")), &[p]).await;
        assert_eq!(a.status, 401);
        assert_eq!(a.challenges, [r#"Bearer realm="api""#]);
        let a = call(&gate, "GET", "/orders", None, &[]).await;
        assert_eq!(a.challenges, [r#"Bearer realm="api""#]);
    }
}

/// The authenticator has to wait (a token signed by a key the gate learns by a refresh):
/// the binding, the replay check and the nonce happen after the wait too.
#[tokio::test]
async fn binding_after_a_key_refresh() {
    use std::time::Duration;
    use tollgate_core::remote::RefreshConfig;
    use tollgate_testkit::serve_jwks;

    let mut refresh = RefreshConfig::default();
    refresh.min_interval = Duration::from_millis(50);
    refresh.cooldown = Duration::from_millis(10);
    refresh.unknown_kid_wait = Duration::from_secs(2);
    refresh.fetch_timeout = Duration::from_millis(500);
    refresh.startup_timeout = Duration::from_secs(3);

    let old = TestKey::p256("old");
    let (url, server) = serve_jwks(TestKey::jwks([&old])).await;
    let verifier = DpopVerifier::builder()
        .nonces(NonceIssuer::new(&[5u8; 32]).unwrap())
        .build()
        .unwrap();
    let gate = Tollgate::<()>::builder()
        .issuer(DEFAULT_ISSUER)
        .audience(DEFAULT_AUDIENCE)
        .jwks_uri(url)
        .refresh(refresh)
        .dpop(
            Dpop::new(DpopMode::Allowed, verifier.clone())
                .public_url(PublicUrl::parse(BASE).unwrap()),
        )
        .build()
        .await
        .unwrap();
    let client = TestKey::p256("client");
    let nonce = verifier.nonces().unwrap().mint(tollgate_testkit::now());
    let proof = |token: &str, key: &TestKey| {
        DpopProof::new(key, "GET", &format!("{BASE}/orders"))
            .access_token(token)
            .nonce(&nonce)
            .sign()
    };

    // a new key: the first request waits for the refresh, then binds
    let new = TestKey::p256("new");
    server.set_jwks(TestKey::jwks([&old, &new]));
    let token = new.token().dpop_bound(&client).sign();
    let p = proof(&token, &client);
    let a = call(
        &gate,
        "GET",
        "/orders",
        Some(format!("DPoP {token}")),
        std::slice::from_ref(&p),
    )
    .await;
    show("after a refresh: DPoP call", &a);
    assert_eq!(a.status, 200);
    assert!(a.nonce.is_some());
    let a = call(&gate, "GET", "/orders", Some(format!("DPoP {token}")), &[p]).await;
    assert_eq!(a.status, 401);
    assert_eq!(
        a.challenges,
        [dpop_error(
            "invalid_dpop_proof",
            "The DPoP proof was already used"
        )]
    );

    // another new key, and a proof by another client key: refused after the wait
    let newer = TestKey::p256("newer");
    server.set_jwks(TestKey::jwks([&old, &new, &newer]));
    tokio::time::sleep(Duration::from_millis(60)).await;
    let token = newer.token().dpop_bound(&client).sign();
    let a = call(
        &gate,
        "GET",
        "/orders",
        Some(format!("DPoP {token}")),
        &[proof(&token, &TestKey::p256("thief"))],
    )
    .await;
    show("after a refresh: another key", &a);
    assert_eq!(a.status, 401);
    assert_eq!(
        a.challenges,
        [dpop_error(
            "invalid_dpop_proof",
            "The DPoP proof key does not match the access token"
        )]
    );
}

/// With an RFC 9728 resource, the DPoP challenges carry `resource_metadata` too, as the
/// Bearer ones do.
#[tokio::test]
async fn challenges_name_the_resource_metadata() {
    let f = Fixture::new();
    let metadata =
        r#"resource_metadata="https://api.example/.well-known/oauth-protected-resource""#;
    for mode in [DpopMode::Allowed, DpopMode::Required] {
        let gate = Tollgate::<()>::builder()
            .issuer(DEFAULT_ISSUER)
            .audience(DEFAULT_AUDIENCE)
            .keys(KeySet::from_keys([f.idp.public_key()]))
            .resource(BASE)
            .dpop(dpop(mode))
            .build()
            .await
            .unwrap();
        let token = f.bound_token();
        let p = f.proof("GET", "/admin", &token).sign();
        let a = call(&gate, "GET", "/orders", Some(format!("DPoP {token}")), &[p]).await;
        show("proof for another URL, resource configured", &a);
        assert_eq!(a.status, 401);
        assert_eq!(
            a.challenges,
            [format!(
                "{}, {metadata}",
                dpop_error(
                    "invalid_dpop_proof",
                    "The DPoP proof is for another request"
                )
            )]
        );
        // the RFC 9728 document advertises DPoP
        let res = gate
            .metadata_service::<String>()
            .oneshot(
                Request::get("/.well-known/oauth-protected-resource")
                    .body(String::new())
                    .unwrap(),
            )
            .await
            .unwrap();
        let doc: serde_json::Value = serde_json::from_str(res.body()).unwrap();
        assert_eq!(
            doc["dpop_signing_alg_values_supported"],
            serde_json::json!(["RS256", "PS256", "ES256", "ES384", "EdDSA"])
        );
        if mode == DpopMode::Required {
            assert_eq!(doc["dpop_bound_access_tokens_required"], true);
        } else {
            assert!(
                doc.get("dpop_bound_access_tokens_required").is_none(),
                "{doc}"
            );
        }
        let a = call(&gate, "GET", "/orders", None, &[]).await;
        show("no token, resource configured", &a);
        let dpop_challenge = format!("DPoP {ALGS}, {metadata}");
        if mode == DpopMode::Allowed {
            assert_eq!(
                a.challenges,
                [format!(r#"Bearer realm="api", {metadata}"#), dpop_challenge]
            );
        } else {
            assert_eq!(a.challenges, [dpop_challenge]);
        }
    }
    // DPoP set on a built gate: the document follows
    let gate = Tollgate::<()>::builder()
        .issuer(DEFAULT_ISSUER)
        .audience(DEFAULT_AUDIENCE)
        .keys(KeySet::from_keys([f.idp.public_key()]))
        .resource(BASE)
        .build()
        .await
        .unwrap();
    let doc = |gate: &Tollgate| {
        let res = gate.protected_resource().unwrap().document();
        (
            res.dpop_signing_alg_values_supported,
            res.dpop_bound_access_tokens_required,
        )
    };
    assert_eq!(doc(&gate), (None, None));
    let gate = gate.dpop(dpop(DpopMode::Required));
    assert_eq!(doc(&gate).1, Some(true));
    assert_eq!(doc(&gate).0.map(|a| a.len()), Some(5));
}

/// RFC 9449 §7.1: a DPoP request that fails the route's scope check gets 403
/// `insufficient_scope` with the `DPoP` challenge (and `resource_metadata` when
/// configured); a Bearer request keeps the `Bearer` challenge.
#[tokio::test]
async fn insufficient_scope_uses_the_request_scheme() {
    let f = Fixture::new();
    let metadata =
        r#"resource_metadata="https://api.example/.well-known/oauth-protected-resource""#;
    let scope = r#"scope="orders:write""#;
    let description = "The access token lacks the required scope";
    for resource in [false, true] {
        let mut gate = Tollgate::<()>::builder()
            .issuer(DEFAULT_ISSUER)
            .audience(DEFAULT_AUDIENCE)
            .keys(KeySet::from_keys([f.idp.public_key()]))
            .dpop(dpop(DpopMode::Allowed));
        if resource {
            gate = gate.resource(BASE);
        }
        let gate = gate.build().await.unwrap();
        let suffix = if resource {
            format!(", {metadata}")
        } else {
            String::new()
        };
        let scoped = |authorization: String, proofs: Vec<String>| {
            let gate = &gate;
            async move {
                let handler = service_fn(|_req: Request<String>| async {
                    Ok::<_, Infallible>(Response::new(String::from("ok")))
                });
                let svc = gate.layer().layer(
                    gate.require(tollgate_core::scope::ScopePolicy::all_of([
                        tollgate_core::scope::Scope::from_static("orders:write"),
                    ]))
                    .layer(handler),
                );
                let mut req = Request::post("/orders")
                    .header("host", "internal:8080")
                    .header("authorization", authorization);
                for p in &proofs {
                    req = req.header("dpop", p);
                }
                let res = svc.oneshot(req.body(String::new()).unwrap()).await.unwrap();
                let challenges: Vec<String> = res
                    .headers()
                    .get_all("www-authenticate")
                    .iter()
                    .map(|v| v.to_str().unwrap().to_owned())
                    .collect();
                (res.status(), challenges)
            }
        };

        // DPoP-bound token with the scope: accepted
        let token = f
            .idp
            .token()
            .dpop_bound(&f.client)
            .scope("orders:write")
            .sign();
        let p = f.proof("POST", "/orders", &token).sign();
        let (status, _) = scoped(format!("DPoP {token}"), vec![p]).await;
        assert_eq!(status, 200);

        // DPoP-bound token lacking the scope: 403 with the DPoP challenge only
        let token = f
            .idp
            .token()
            .dpop_bound(&f.client)
            .scope("orders:read")
            .sign();
        let p = f.proof("POST", "/orders", &token).sign();
        let (status, challenges) = scoped(format!("DPoP {token}"), vec![p]).await;
        eprintln!("DPoP request lacking the scope: {status} | {challenges:?}");
        assert_eq!(status, 403);
        assert_eq!(
            challenges,
            [format!(
                r#"DPoP error="insufficient_scope", error_description="{description}", {scope}, {ALGS}{suffix}"#
            )]
        );

        // Bearer token lacking the scope: today's Bearer challenge
        let token = f.idp.token().scope("orders:read").sign();
        let (status, challenges) = scoped(format!("Bearer {token}"), vec![]).await;
        eprintln!("Bearer request lacking the scope: {status} | {challenges:?}");
        assert_eq!(status, 403);
        assert_eq!(
            challenges,
            [format!(
                r#"Bearer realm="api", error="insufficient_scope", error_description="{description}", {scope}{suffix}"#
            )]
        );
    }
}
