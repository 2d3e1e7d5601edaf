//! DPoP end to end over real HTTP: tollgate-client with a [`DpopKey`] gets DPoP-bound
//! tokens from the dev IdP (client credentials, refresh, token exchange; the IdP
//! requires nonces, so the first token request is answered `use_dpop_nonce` and
//! retried once) and calls the axum-orders router behind a gate built here with DPoP
//! required and nonces on (the first call is answered 401 `use_dpop_nonce` and
//! retried once; later calls reuse the nonce the server sent). The bound token
//! without its proof, as Bearer, or with another key's proof is refused.
//!
//! Run with `--nocapture` to see the statuses observed on the wire.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tollgate_client::{
    AddDpopLayer, ClientAuth, ClientCredentials, DpopKey, OAuthErrorCode, Propagation,
    RefreshToken, RefreshTokenSource, SubjectToken, TokenEndpoint, TokenError, TokenExchange,
    TokenSource,
};
use tollgate_core::dpop::{DpopVerifier, NonceIssuer};
use tollgate_testkit::DevIdp;
use tollgate_testkit::idp::Client as IdpClient;
use tollgate_tests::{RecordingClient, StatusLog as Log, send, take_statuses as take};
use tollgate_tower::{Dpop, DpopMode, Tollgate};
use tower::{ServiceBuilder, ServiceExt as _};

async fn endpoint(idp: &DevIdp, client: (&str, &str), log: &Log) -> TokenEndpoint {
    TokenEndpoint::discover(idp.issuer())
        .await
        .unwrap()
        .client_auth(ClientAuth::client_secret_basic(client.0, client.1))
        .http_client(RecordingClient::new(log))
}

fn claims(token: &str) -> serde_json::Value {
    let p = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p)
            .unwrap(),
    )
    .unwrap()
}

/// axum-orders behind a gate with DPoP required and nonces on, keys from the IdP.
async fn orders(idp: &DevIdp) -> String {
    let verifier = DpopVerifier::builder()
        .nonces(NonceIssuer::random().unwrap())
        .build()
        .unwrap();
    let gate = Tollgate::<()>::builder()
        .issuer(idp.issuer())
        .audience("orders")
        .jwks_uri(idp.jwks_uri())
        .dpop(Dpop::new(DpopMode::Required, verifier))
        .build()
        .await
        .unwrap();
    tollgate_tests::serve(axum_orders::router(&gate)).await
}

fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

#[tokio::test]
async fn bound_token_from_dev_idp_calls_dpop_gated_orders() {
    let idp = DevIdp::builder().dpop_nonce(true).start().await.unwrap();
    let log: Log = Log::default();
    let key = DpopKey::generate().unwrap();
    let token_uri: http::Uri = idp.token_endpoint().parse().unwrap();
    assert_eq!(key.nonce_for(&token_uri), None);

    let cc =
        ClientCredentials::builder(endpoint(&idp, ("demo-full", "demo-full-secret"), &log).await)
            .audience("orders")
            .scopes(["orders:read", "orders:write"])
            .dpop(key.clone())
            .build()
            .unwrap();
    let token = cc.token().await.unwrap();
    let at_idp = take(&log);
    eprintln!("token endpoint statuses: {at_idp:?}");
    // first proof without a nonce → 400 use_dpop_nonce; the retry with it → 200
    assert_eq!(at_idp, [400, 200]);
    assert!(key.nonce_for(&token_uri).is_some());
    let c = claims(token.secret());
    assert_eq!(c["cnf"]["jkt"], key.jkt());
    assert_eq!(c["aud"], "orders");

    // the resource: real axum server, real HTTP client under AddDpopLayer
    let base = orders(&idp).await;
    let wire: Log = Log::default();
    let http: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let recorder = {
        let wire = wire.clone();
        tower::service_fn(move |req: Request<Full<Bytes>>| {
            let http = http.clone();
            let wire = wire.clone();
            async move {
                let res = http.request(req).await?;
                wire.lock().unwrap().push(res.status().as_u16());
                Ok::<_, hyper_util::client::legacy::Error>(res)
            }
        })
    };
    let layer = AddDpopLayer::new(Propagation::own_identity(cc.clone())).unwrap();
    let svc = ServiceBuilder::new().layer(layer).service(recorder);
    let get = || {
        Request::get(format!("{base}/orders"))
            .body(Full::new(Bytes::new()))
            .unwrap()
    };

    // first call: 401 use_dpop_nonce, retried once with the server's nonce → 200
    let res = svc.clone().oneshot(get()).await.unwrap();
    let first = take(&wire);
    eprintln!("first GET /orders statuses: {first:?} → {}", res.status());
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(first, [401, 200]);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["for"], "demo-full");

    // later calls: the nonce sent with the 200 is used at once
    for _ in 0..3 {
        let res = svc.clone().oneshot(get()).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    let later = take(&wire);
    eprintln!("three more GETs: {later:?}");
    assert_eq!(later, [200, 200, 200]);

    // a POST with a body (the nonce is remembered per origin, the body goes through)
    let post = Request::post(format!("{base}/orders"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(br#"{"item":"gear"}"#)))
        .unwrap();
    let res = svc.clone().oneshot(post).await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&body).unwrap()["order"]["item"],
        "gear"
    );
    assert_eq!(take(&wire), [201]);

    // the bound token without its proof
    let url = format!("{base}/orders");
    let dpop_auth = format!("DPoP {}", token.secret());
    let r = send(Method::GET, &url, &[("authorization", &dpop_auth)], "").await;
    eprintln!(
        "DPoP scheme, no proof: {} | {}",
        r.status,
        r.header("www-authenticate")
    );
    assert_eq!(r.status, 401);
    assert!(
        r.header("www-authenticate")
            .starts_with(r#"DPoP error="invalid_dpop_proof", error_description="Exactly one DPoP proof is required""#),
        "{}",
        r.header("www-authenticate")
    );
    // as Bearer (DPoP required: answered like a request without a DPoP token)
    let bearer = format!("Bearer {}", token.secret());
    let r = send(Method::GET, &url, &[("authorization", &bearer)], "").await;
    eprintln!("as Bearer: {} | {}", r.status, r.header("www-authenticate"));
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").starts_with("DPoP algs="));
    // with a proof by another key (carrying a valid server nonce)
    let thief = DpopKey::generate().unwrap();
    let origin: http::Uri = url.parse().unwrap();
    let nonce = key
        .nonce_for(&origin)
        .expect("a nonce from the orders server");
    let proof = thief
        .proof("GET", &url, Some(token.secret()), Some(&nonce))
        .unwrap();
    let r = send(
        Method::GET,
        &url,
        &[("authorization", &dpop_auth), ("dpop", &proof)],
        "",
    )
    .await;
    eprintln!(
        "another key's proof: {} | {}",
        r.status,
        r.header("www-authenticate")
    );
    assert_eq!(r.status, 401);
    assert!(
        r.header("www-authenticate")
            .contains("The DPoP proof key does not match the access token"),
        "{}",
        r.header("www-authenticate")
    );
    // and the owner's own proof, by hand, still works
    let proof = key
        .proof("GET", &url, Some(token.secret()), Some(&nonce))
        .unwrap();
    let r = send(
        Method::GET,
        &url,
        &[("authorization", &dpop_auth), ("dpop", &proof)],
        "",
    )
    .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn refresh_and_exchange_give_bound_tokens() {
    let idp = DevIdp::builder()
        .dpop_nonce(true)
        .client(
            IdpClient::new("gateway", "gateway-secret")
                .scopes(["orders:read"])
                .audiences(["gateway"])
                .may_exchange_for(["orders"]),
        )
        .start()
        .await
        .unwrap();
    let log: Log = Log::default();
    let key = DpopKey::generate().unwrap();

    // refresh: the nonce refusal must not use up the refresh token
    let user = idp
        .user_token("demo-full", "alice", &["orders:read"], Some("orders"))
        .await
        .unwrap();
    let refresh = RefreshTokenSource::builder(
        endpoint(&idp, ("demo-full", "demo-full-secret"), &log).await,
        RefreshToken::new(user.refresh_token.unwrap()),
    )
    .dpop(key.clone())
    .build()
    .unwrap();
    let t = refresh.token().await.unwrap();
    let statuses = take(&log);
    eprintln!("refresh grant statuses: {statuses:?}");
    assert_eq!(statuses, [400, 200]);
    assert_eq!(claims(t.secret())["cnf"]["jkt"], key.jkt());
    assert_eq!(claims(t.secret())["sub"], "alice");
    assert!(refresh.current_refresh_token().is_some());
    assert_eq!(refresh.dpop_key().map(DpopKey::jkt), Some(key.jkt()));

    // token exchange: the nonce for this origin is known now, so one request
    let subject = idp.user_token("gateway", "bob", &[], None).await.unwrap();
    let exchange =
        TokenExchange::builder(endpoint(&idp, ("gateway", "gateway-secret"), &log).await)
            .audience("orders")
            .dpop(key.clone())
            .build()
            .unwrap();
    let t = exchange
        .exchange(&SubjectToken::new(subject.access_token))
        .await
        .unwrap();
    let statuses = take(&log);
    eprintln!("token exchange statuses: {statuses:?}");
    assert_eq!(statuses, [200]);
    let c = claims(t.secret());
    assert_eq!(
        (c["sub"].as_str(), c["aud"].as_str()),
        (Some("bob"), Some("orders"))
    );
    assert_eq!(c["cnf"]["jkt"], key.jkt());
}

#[tokio::test]
async fn dev_idp_checks_token_request_proofs() {
    let idp = DevIdp::builder().start().await.unwrap();
    let url = idp.token_endpoint();
    let auth = basic("demo-reader", "demo-reader-secret");
    let form = "grant_type=client_credentials";
    let ct = ("content-type", "application/x-www-form-urlencoded");
    let key = DpopKey::generate().unwrap();

    // metadata
    let m = send(Method::GET, &idp.discovery_url(), &[], "")
        .await
        .json();
    assert_eq!(
        m["dpop_signing_alg_values_supported"],
        serde_json::json!(["RS256", "PS256", "ES256", "ES384", "EdDSA"])
    );

    // no proof: a Bearer token as before, without cnf
    let r = send(Method::POST, &url, &[("authorization", &auth), ct], form).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["token_type"], "Bearer");
    assert!(
        claims(r.json()["access_token"].as_str().unwrap())
            .get("cnf")
            .is_none()
    );

    // a proof: DPoP-bound (no nonce required by default)
    let proof = key.proof("POST", &url, None, None).unwrap();
    let headers = [
        ("authorization", auth.as_str()),
        ct,
        ("dpop", proof.as_str()),
    ];
    let r = send(Method::POST, &url, &headers, form).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let j = r.json();
    assert_eq!(j["token_type"], "DPoP");
    let token = j["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&token)["cnf"]["jkt"], key.jkt());
    // introspection shows the binding
    let r = send(
        Method::POST,
        &idp.introspection_endpoint(),
        &[("authorization", &auth), ct],
        &format!("token={token}"),
    )
    .await;
    assert_eq!(r.json()["token_type"], "DPoP");
    assert_eq!(r.json()["cnf"]["jkt"], key.jkt());

    // the same proof again: replay
    let r = send(Method::POST, &url, &headers, form).await;
    let refusals = |r: &tollgate_tests::Reply| {
        (
            r.status.as_u16(),
            r.json()["error"].as_str().unwrap_or_default().to_owned(),
            r.json()["error_description"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    };
    let replay = refusals(&r);
    // a proof for another URL
    let other = key
        .proof("POST", &format!("{}/other", idp.issuer()), None, None)
        .unwrap();
    let r = send(
        Method::POST,
        &url,
        &[("authorization", &auth), ct, ("dpop", &other)],
        form,
    )
    .await;
    let wrong_htu = refusals(&r);
    // for GET
    let get = key.proof("GET", &url, None, None).unwrap();
    let r = send(
        Method::POST,
        &url,
        &[("authorization", &auth), ct, ("dpop", &get)],
        form,
    )
    .await;
    let wrong_htm = refusals(&r);
    // two proofs
    let a = key.proof("POST", &url, None, None).unwrap();
    let b = key.proof("POST", &url, None, None).unwrap();
    let r = send(
        Method::POST,
        &url,
        &[("authorization", &auth), ct, ("dpop", &a), ("dpop", &b)],
        form,
    )
    .await;
    let two = refusals(&r);
    for (case, got) in [
        ("replayed", &replay),
        ("wrong htu", &wrong_htu),
        ("wrong htm", &wrong_htm),
        ("two proofs", &two),
    ] {
        eprintln!("{case}: {got:?}");
    }
    assert_eq!(
        replay,
        (
            400,
            "invalid_dpop_proof".into(),
            "DPoP proof jti already used with this key".into()
        )
    );
    assert_eq!(
        wrong_htu,
        (
            400,
            "invalid_dpop_proof".into(),
            "DPoP proof htu is not the request URL".into()
        )
    );
    assert_eq!(
        wrong_htm,
        (
            400,
            "invalid_dpop_proof".into(),
            "DPoP proof htm is not the request method".into()
        )
    );
    assert_eq!(
        two,
        (
            400,
            "invalid_dpop_proof".into(),
            "Exactly one DPoP proof is required".into()
        )
    );

    // with nonces required: 400 use_dpop_nonce with a DPoP-Nonce header
    let idp = DevIdp::builder().dpop_nonce(true).start().await.unwrap();
    let url = idp.token_endpoint();
    let proof = key.proof("POST", &url, None, None).unwrap();
    let r = send(
        Method::POST,
        &url,
        &[("authorization", &auth), ct, ("dpop", &proof)],
        form,
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "use_dpop_nonce");
    let nonce = r.header("dpop-nonce").to_owned();
    assert!(!nonce.is_empty());
    let proof = key.proof("POST", &url, None, Some(&nonce)).unwrap();
    let r = send(
        Method::POST,
        &url,
        &[("authorization", &auth), ct, ("dpop", &proof)],
        form,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["token_type"], "DPoP");
    assert!(!r.header("dpop-nonce").is_empty(), "a fresh nonce along");
    // a made-up nonce
    let proof = key.proof("POST", &url, None, Some("made-up")).unwrap();
    let r = send(
        Method::POST,
        &url,
        &[("authorization", &auth), ct, ("dpop", &proof)],
        form,
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.json()["error"].as_str()),
        (400, Some("use_dpop_nonce"))
    );
}

/// A token endpoint written here: answers Bearer to a DPoP request, or keeps asking
/// for a new nonce.
async fn fake_endpoint(answer: &'static str, hits: Arc<Mutex<u32>>) -> String {
    use axum::routing::post;
    let app = axum::Router::new().route(
        "/token",
        post(move || {
            let hits = hits.clone();
            async move {
                let n = {
                    let mut h = hits.lock().unwrap();
                    *h += 1;
                    *h
                };
                match answer {
                    "bearer" => (
                        StatusCode::OK,
                        [("dpop-nonce", String::new())],
                        r#"{"access_token":"abc","token_type":"Bearer","expires_in":60}"#,
                    ),
                    _ => (
                        StatusCode::BAD_REQUEST,
                        [("dpop-nonce", format!("nonce-{n}"))],
                        r#"{"error":"use_dpop_nonce"}"#,
                    ),
                }
            }
        }),
    );
    tollgate_tests::serve(app).await
}

#[tokio::test]
async fn bearer_answers_and_nonce_loops_are_refused() {
    let key = DpopKey::generate().unwrap();

    // a server that ignores the proof and answers Bearer
    let hits = Arc::new(Mutex::new(0));
    let base = fake_endpoint("bearer", hits.clone()).await;
    let cc = ClientCredentials::builder(TokenEndpoint::new(&format!("{base}/token")).unwrap())
        .dpop(key.clone())
        .build()
        .unwrap();
    let e = cc.token().await.unwrap_err();
    eprintln!("Bearer answer to a DPoP request: {e}");
    assert!(matches!(e, TokenError::InvalidResponse(_)), "{e:?}");
    assert_eq!(
        e.to_string(),
        "unusable token response: token_type is Bearer although a DPoP proof was sent: the server did not bind the token"
    );

    // a server that always wants another nonce: one retry, then its error
    let hits = Arc::new(Mutex::new(0));
    let base = fake_endpoint("nonce", hits.clone()).await;
    let cc = ClientCredentials::builder(TokenEndpoint::new(&format!("{base}/token")).unwrap())
        .dpop(key)
        .build()
        .unwrap();
    let e = cc.token().await.unwrap_err();
    eprintln!(
        "endless nonce demands: {e} after {} requests",
        hits.lock().unwrap()
    );
    assert_eq!(e.oauth_code(), Some(&OAuthErrorCode::UseDpopNonce));
    assert_eq!(*hits.lock().unwrap(), 2);
}
