//! DPoP interop with a real authorization server: tollgate-client (with a
//! [`DpopKey`]) obtains DPoP-bound tokens from panva's `oidc-provider` (features.dPoP,
//! nonces required; tests/interop/oidc/provider.mjs) by client credentials, then calls
//! the axum-orders router behind a gate built here with DPoP required and nonces on.
//!
//! Observed on the wire: the token endpoint answers the first proof 400
//! `use_dpop_nonce` and the retry 200 (`token_type: DPoP`, `cnf.jkt` = our
//! thumbprint); the resource answers the first call 401 `use_dpop_nonce` and the retry
//! 200. The provider's own refusals: a `dpop_bound_access_tokens` client without a
//! proof, and a proof for another URL.
//!
//! Needs `TOLLGATE_OIDC_ISSUER` (set by tests/interop/run.sh); without it the test
//! prints a note and passes, so a plain `cargo test` skips it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tollgate_client::{
    AddDpopLayer, ClientAuth, ClientCredentials, DpopKey, Propagation, TokenEndpoint, TokenSource,
};
use tollgate_core::dpop::{DpopVerifier, NonceIssuer};
use tollgate_tests::{RecordingClient, StatusLog as Log, send, take_statuses as take};
use tollgate_tower::{Dpop, DpopMode, Tollgate};
use tower::{ServiceBuilder, ServiceExt as _};

const RESOURCE: &str = "urn:tollgate:orders";
const DPOP_CLIENT: (&str, &str) = ("dpop-client", "dpop-client-secret");

fn claims(token: &str) -> serde_json::Value {
    let p = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_provider_dpop() {
    let Ok(issuer) = std::env::var("TOLLGATE_OIDC_ISSUER") else {
        eprintln!("skipped: TOLLGATE_OIDC_ISSUER not set (tests/interop/run.sh sets it)");
        return;
    };
    let meta = send(
        Method::GET,
        &format!("{issuer}/.well-known/openid-configuration"),
        &[],
        "",
    )
    .await
    .json();
    eprintln!(
        "oidc-provider dpop_signing_alg_values_supported: {}",
        meta["dpop_signing_alg_values_supported"]
    );
    assert!(
        meta["dpop_signing_alg_values_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "ES256")
    );

    // tokens: DPoP-bound, after one nonce round trip at the token endpoint
    let log = Log::default();
    let key = DpopKey::generate().unwrap();
    let endpoint = TokenEndpoint::discover(&issuer)
        .await
        .unwrap()
        .client_auth(ClientAuth::client_secret_basic(
            DPOP_CLIENT.0,
            DPOP_CLIENT.1,
        ))
        .http_client(RecordingClient::new(&log));
    let cc = ClientCredentials::builder(endpoint.clone())
        .resource(RESOURCE)
        .scopes(["orders:read", "orders:write"])
        .dpop(key.clone())
        .build()
        .unwrap();
    let token = cc.token().await.unwrap();
    let at_idp = take(&log);
    eprintln!("oidc-provider token endpoint statuses: {at_idp:?}");
    assert_eq!(at_idp, [400, 200]);
    let c = claims(token.secret());
    eprintln!(
        "oidc-provider token: aud {} scope {} cnf {}",
        c["aud"], c["scope"], c["cnf"]
    );
    assert_eq!(c["cnf"]["jkt"], key.jkt());
    assert_eq!(c["aud"], RESOURCE);

    // the same client without a proof: refused by the provider (dpop_bound_access_tokens)
    let bearer = ClientCredentials::builder(endpoint.clone())
        .resource(RESOURCE)
        .scope("orders:read")
        .build()
        .unwrap();
    let e = bearer.token().await.unwrap_err();
    eprintln!("dpop-client without a proof: {e}");
    assert!(e.oauth_code().is_some(), "{e:?}");
    take(&log);

    // a proof for another URL: the provider's invalid_dpop_proof
    let token_url = endpoint.uri().to_string();
    let nonce = key.nonce_for(endpoint.uri()).expect("the provider's nonce");
    let wrong = key
        .proof("POST", &format!("{issuer}/elsewhere"), None, Some(&nonce))
        .unwrap();
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", DPOP_CLIENT.0, DPOP_CLIENT.1));
    let r = send(
        Method::POST,
        &token_url,
        &[
            ("authorization", &format!("Basic {basic}")),
            ("content-type", "application/x-www-form-urlencoded"),
            ("dpop", &wrong),
        ],
        "grant_type=client_credentials&resource=urn%3Atollgate%3Aorders",
    )
    .await;
    eprintln!(
        "proof for another URL: {} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(
        (r.status.as_u16(), r.json()["error"].as_str()),
        (400, Some("invalid_dpop_proof"))
    );

    // the resource: axum-orders behind a DPoP-required gate with nonces
    let verifier = DpopVerifier::builder()
        .nonces(NonceIssuer::random().unwrap())
        .build()
        .unwrap();
    let gate = Tollgate::<()>::builder()
        .issuer(&issuer)
        .audience(RESOURCE)
        .discover()
        .dpop(Dpop::new(DpopMode::Required, verifier))
        .build()
        .await
        .unwrap();
    let base = tollgate_tests::serve(axum_orders::router(&gate)).await;
    let wire = Log::default();
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
    let svc = ServiceBuilder::new()
        .layer(AddDpopLayer::new(Propagation::own_identity(cc)).unwrap())
        .service(recorder);
    let res = svc
        .clone()
        .oneshot(
            Request::get(format!("{base}/orders"))
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    let first = take(&wire);
    eprintln!("GET /orders with the oidc-provider DPoP token: {first:?}");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(first, [401, 200]);
    let res = svc
        .oneshot(
            Request::post(format!("{base}/orders"))
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from_static(br#"{"item":"gear"}"#)))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    eprintln!(
        "POST /orders: {:?} {}",
        take(&wire),
        String::from_utf8_lossy(&body)
    );

    // the bound token as Bearer: refused
    let r = send(
        Method::GET,
        &format!("{base}/orders"),
        &[("authorization", &format!("Bearer {}", token.secret()))],
        "",
    )
    .await;
    eprintln!(
        "oidc-provider DPoP token as Bearer: {} | {}",
        r.status,
        r.header("www-authenticate")
    );
    assert_eq!(r.status, 401);
}
