//! The authentication layer's waiting state for a DPoP replay store that does I/O (its
//! answer is not ready at once, like Redis): the request waits for the answer, then is
//! forwarded or refused; nonces still come with accepted requests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::{Request, Response, StatusCode};
use tollgate_core::KeySet;
use tollgate_core::dpop::{
    DpopVerifier, MemoryReplayStore, NonceIssuer, PublicUrl, ReplayFuture, ReplayKey, ReplayStore,
};
use tollgate_core::error::DpopError;
use tollgate_testkit::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, DpopProof, TestKey};
use tollgate_tower::{Dpop, DpopMode, Tollgate};
use tower::{Layer, Service, ServiceExt, service_fn};

const BASE: &str = "https://api.example";

/// A replay store answering after a delay (a store doing I/O), or never able to answer.
#[derive(Debug)]
struct Slow {
    inner: Arc<MemoryReplayStore>,
    down: bool,
    asked: Arc<AtomicUsize>,
}

impl ReplayStore for Slow {
    fn check_and_insert(&self, key: ReplayKey, expires_at: i64, now: i64) -> ReplayFuture {
        self.asked.fetch_add(1, Ordering::SeqCst);
        let (inner, down) = (self.inner.clone(), self.down);
        ReplayFuture::boxed(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if down {
                return Err(DpopError::ReplayStoreUnavailable);
            }
            inner.check_and_insert(key, expires_at, now).await
        })
    }
}

async fn gate(idp: &TestKey, down: bool, nonces: bool) -> (Tollgate, Arc<AtomicUsize>) {
    let asked = Arc::new(AtomicUsize::new(0));
    let store = Slow {
        inner: Arc::default(),
        down,
        asked: asked.clone(),
    };
    let mut v = DpopVerifier::builder().replay_store(store);
    if nonces {
        v = v.nonces(NonceIssuer::new(b"0123456789abcdef0123456789abcdef").unwrap());
    }
    let dpop = Dpop::new(DpopMode::Allowed, v.build().unwrap())
        .public_url(PublicUrl::parse(BASE).unwrap());
    let gate = Tollgate::<()>::builder()
        .issuer(DEFAULT_ISSUER)
        .audience(DEFAULT_AUDIENCE)
        .keys(KeySet::from_keys([idp.public_key()]))
        .dpop(dpop)
        .build()
        .await
        .unwrap();
    (gate, asked)
}

async fn call(gate: &Tollgate, token: &str, proof: &str) -> Response<String> {
    let forwarded = Arc::new(AtomicUsize::new(0));
    let f = forwarded.clone();
    let handler = service_fn(move |_req: Request<String>| {
        f.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, Infallible>(Response::new(String::from("ok"))) }
    });
    let mut svc = gate.layer().layer(handler);
    let req = Request::get("/orders")
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", proof)
        .body(String::new())
        .unwrap();
    let res = svc.ready().await.unwrap().call(req).await.unwrap();
    assert_eq!(
        forwarded.load(Ordering::SeqCst),
        usize::from(res.status() == StatusCode::OK),
        "forwarded exactly when accepted"
    );
    res
}

#[tokio::test]
async fn waits_for_the_replay_answer_then_forwards_or_refuses() {
    let idp = TestKey::p256("idp");
    let client = TestKey::p256("client");
    let token = idp.token().dpop_bound(&client).sign();
    let proof = DpopProof::new(&client, "GET", &format!("{BASE}/orders"))
        .access_token(&token)
        .sign();

    let (g, asked) = gate(&idp, false, false).await;
    let res = call(&g, &token, &proof).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.body(), "ok");
    let res = call(&g, &token, &proof).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let ch = res.headers()["www-authenticate"].to_str().unwrap();
    assert!(ch.contains(r#"error="invalid_dpop_proof""#), "{ch}");
    assert_eq!(asked.load(Ordering::SeqCst), 2);

    // a store that cannot answer: 503 + Retry-After, never forwarded
    let (g, _) = gate(&idp, true, false).await;
    let res = call(&g, &token, &proof).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "1");
}

#[tokio::test]
async fn an_accepted_request_after_the_wait_gets_a_fresh_nonce() {
    let idp = TestKey::p256("idp");
    let client = TestKey::p256("client");
    let token = idp.token().dpop_bound(&client).sign();
    let (g, _) = gate(&idp, false, true).await;
    // first without a nonce: refused with one
    let proof = DpopProof::new(&client, "GET", &format!("{BASE}/orders"))
        .access_token(&token)
        .sign();
    let res = call(&g, &token, &proof).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let nonce = res.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    let proof = DpopProof::new(&client, "GET", &format!("{BASE}/orders"))
        .access_token(&token)
        .nonce(&nonce)
        .sign();
    let res = call(&g, &token, &proof).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().contains_key("dpop-nonce"));
}
