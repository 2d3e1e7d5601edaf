//! Token exchange end to end through examples/service-chain (real servers: dev IdP,
//! axum gateway and orders, tonic inventory): audience and scopes shrink per hop, the
//! `act` chain grows, downstream tokens are refused upstream, exchanges are cached.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use service_chain::{Chain, idp_clients, user_token};
use tollgate_testkit::DevIdp;

async fn setup() -> (DevIdp, Chain) {
    let mut clients = tollgate_testkit::idp::default_clients();
    clients.extend(idp_clients());
    let idp = DevIdp::builder().clients(clients).start().await.unwrap();
    let chain = Chain::start(idp.issuer()).await.unwrap();
    (idp, chain)
}

fn scopes(s: &str) -> Vec<&str> {
    s.split(' ').filter(|x| !x.is_empty()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_through_the_chain() {
    let (idp, chain) = setup().await;
    let alice = user_token(&idp, "alice").await.unwrap();
    let (status, body) = chain.checkout(Some(&alice)).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["orders"]["stock"], 10);
    let hops = chain.hops.take();
    assert_eq!(
        hops.iter().map(|h| h.service).collect::<Vec<_>>(),
        ["gateway", "orders", "inventory"]
    );
    // on whose behalf: alice all the way
    assert!(hops.iter().all(|h| h.sub == "alice"));
    // audiences: one per hop
    assert_eq!(hops[0].aud, ["gateway"]);
    assert_eq!(hops[1].aud, ["orders"]);
    assert_eq!(hops[2].aud, ["inventory"]);
    // scopes shrink strictly at each hop
    let s: Vec<Vec<&str>> = hops.iter().map(|h| scopes(&h.scopes)).collect();
    assert_eq!(s[0], ["inventory:read", "orders:read", "orders:write"]);
    assert_eq!(s[1], ["inventory:read", "orders:read"]);
    assert_eq!(s[2], ["inventory:read"]);
    for w in s.windows(2) {
        assert!(w[1].iter().all(|x| w[0].contains(x)) && w[1].len() < w[0].len());
    }
    // who acted: nobody, then gateway, then orders-svc on gateway's behalf
    assert!(hops[0].act.is_empty());
    assert_eq!(hops[1].act, ["gateway"]);
    assert_eq!(hops[2].act, ["orders-svc", "gateway"]);
    assert_eq!(
        hops.iter()
            .map(|h| h.client_id.as_str())
            .collect::<Vec<_>>(),
        ["web", "gateway", "orders-svc"]
    );
    for h in &hops {
        println!("{h}");
    }

    // downstream tokens replayed upstream: wrong audience
    for (token, at) in [
        (hops[2].token.secret(), "gateway"),
        (hops[1].token.secret(), "gateway"),
    ] {
        let (status, _) = chain.checkout(Some(token)).await.unwrap();
        assert_eq!(status, 401, "replayed at {at}");
    }
    let (status, _) = chain
        .orders_stock(Some(hops[2].token.secret()))
        .await
        .unwrap();
    assert_eq!(status, 401, "inventory's token at orders");
    assert_eq!(
        chain
            .inventory_get_item(hops[1].token.secret())
            .await
            .unwrap(),
        tonic::Code::Unauthenticated,
        "orders' token at inventory"
    );
    // inventory's actor policy: a direct token (no act) for audience inventory is refused
    let own = idp
        .client_credentials_token("demo-full", &["inventory:read"], Some("inventory"))
        .await
        .unwrap();
    assert_eq!(
        chain.inventory_get_item(&own.access_token).await.unwrap(),
        tonic::Code::Unauthenticated
    );
    // ...while the exchanged token itself is accepted there
    assert_eq!(
        chain
            .inventory_get_item(hops[2].token.secret())
            .await
            .unwrap(),
        tonic::Code::Ok
    );
    let _ = chain.hops.take();

    // the same user again: both exchanges come from the cache (same tokens)
    let (status, _) = chain.checkout(Some(&alice)).await.unwrap();
    assert_eq!(status, 200);
    let again = chain.hops.take();
    assert_eq!(again[1].token, hops[1].token);
    assert_eq!(again[2].token, hops[2].token);

    // another user: other exchanged tokens, own sub
    let bob = user_token(&idp, "bob").await.unwrap();
    let (status, _) = chain.checkout(Some(&bob)).await.unwrap();
    assert_eq!(status, 200);
    let bob_hops = chain.hops.take();
    assert!(bob_hops.iter().all(|h| h.sub == "bob"));
    assert_ne!(bob_hops[2].token, hops[2].token);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_at_the_edge() {
    let (idp, chain) = setup().await;
    let (status, _) = chain.checkout(None).await.unwrap();
    assert_eq!(status, 401);
    // a token without orders:read is refused by the gateway's scope policy
    let t = idp
        .user_token("web", "carol", &["inventory:read"], None)
        .await
        .unwrap();
    let (status, _) = chain.checkout(Some(&t.access_token)).await.unwrap();
    assert_eq!(status, 403);
    assert!(chain.hops.take().is_empty());
}
