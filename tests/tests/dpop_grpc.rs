//! DPoP (RFC 9449) over gRPC: the real tonic-inventory routes behind the gate's
//! `grpc_layer` on 127.0.0.1:0, a real tonic client sending `authorization: DPoP ..`
//! and a `dpop` proof whose `htm` is POST and whose `htu` is the method's full URL.
//! Every refusal is checked with its status, message and `www-authenticate` metadata.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use tollgate_core::KeySet;
use tollgate_core::dpop::{DpopVerifier, NonceIssuer, PublicUrl};
use tollgate_core::scope::ScopePolicy;
use tollgate_testkit::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, DpopProof, TestKey};
use tollgate_tonic::{Dpop, DpopMode, GrpcGate, Tollgate};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tonic::{Code, Request, Status};
use tonic_inventory::pb::inventory_client::InventoryClient;
use tonic_inventory::pb::{GetItemRequest, ReserveItemRequest, WatchStockRequest};
use tonic_inventory::{Guard, methods, routes};

const ALGS: &str = r#"algs="RS256 PS256 ES256 ES384 EdDSA""#;

struct App {
    idp: TestKey,
    client: TestKey,
    base: String,
    grpc: InventoryClient<Channel>,
}

/// A gate with `dpop` (its public URL: the server's own address) in front of the
/// inventory routes; `resource`: an RFC 9728 resource for the challenges.
async fn start(mode: DpopMode, nonces: bool, resource: bool) -> App {
    let idp = TestKey::p256("idp");
    let incoming = TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr: SocketAddr = incoming.local_addr().unwrap();
    let base = format!("http://{addr}");
    let mut verifier = DpopVerifier::builder();
    if nonces {
        verifier = verifier.nonces(NonceIssuer::random().unwrap());
    }
    let dpop =
        Dpop::new(mode, verifier.build().unwrap()).public_url(PublicUrl::parse(&base).unwrap());
    let mut gate = Tollgate::<()>::builder()
        .issuer(DEFAULT_ISSUER)
        .audience(DEFAULT_AUDIENCE)
        .keys(KeySet::from_keys([idp.public_key()]))
        .dpop(dpop);
    if resource {
        gate = gate.resource(&base);
    }
    let gate = gate.build().await.unwrap();
    let routes = routes(&gate, Guard::Layer).await.unwrap();
    tokio::spawn(
        Server::builder()
            .add_routes(routes)
            .serve_with_incoming(incoming),
    );
    let channel = Channel::from_shared(base.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    App {
        idp,
        client: TestKey::p256("client"),
        base,
        grpc: InventoryClient::new(channel),
    }
}

impl App {
    fn bound(&self, scope: &str) -> String {
        self.idp
            .token()
            .scope(scope)
            .dpop_bound(&self.client)
            .sign()
    }

    fn proof(&self, method_path: &str, token: &str) -> DpopProof {
        DpopProof::new(&self.client, "POST", &format!("{}{method_path}", self.base))
            .access_token(token)
    }
}

fn request<T>(msg: T, authorization: &str, proofs: &[String]) -> Request<T> {
    let mut req = Request::new(msg);
    req.metadata_mut()
        .insert("authorization", authorization.parse().unwrap());
    for p in proofs {
        req.metadata_mut().append("dpop", p.parse().unwrap());
    }
    req
}

fn item() -> GetItemRequest {
    GetItemRequest {
        id: "widget".into(),
    }
}

fn challenges(s: &Status) -> Vec<String> {
    s.metadata()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn dpop_error(code: &str, description: &str) -> String {
    format!(r#"DPoP error="{code}", error_description="{description}", {ALGS}"#)
}

/// A refusal: its code, message and challenges; printed for the record.
#[track_caller]
fn refused<T: std::fmt::Debug>(
    case: &str,
    r: Result<T, Status>,
    code: Code,
    message: &str,
) -> Vec<String> {
    let s = r.expect_err("expected a refusal");
    let ch = challenges(&s);
    eprintln!(
        "{case}: {:?} {:?} | {}",
        s.code(),
        s.message(),
        ch.join(" || ")
    );
    assert_eq!((s.code(), s.message()), (code, message), "{case}: {s:?}");
    ch
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_mode_every_case() {
    let app = start(DpopMode::Allowed, false, false).await;
    let mut c = app.grpc.clone();
    let token = app.bound("inventory:read");
    let auth = format!("DPoP {token}");

    // accepted: the proof names POST and the method's full URL
    let p = app.proof(methods::GET_ITEM, &token).sign();
    let r = c
        .get_item(request(item(), &auth, std::slice::from_ref(&p)))
        .await
        .unwrap();
    assert_eq!(r.get_ref().stock, 10);
    // nonces off: no dpop-nonce
    assert!(r.metadata().get("dpop-nonce").is_none());

    // the same proof again
    let ch = refused(
        "proof replayed",
        c.get_item(request(item(), &auth, std::slice::from_ref(&p)))
            .await,
        Code::Unauthenticated,
        "The DPoP proof was already used",
    );
    assert_eq!(
        ch,
        [dpop_error(
            "invalid_dpop_proof",
            "The DPoP proof was already used"
        )]
    );

    let another_request = dpop_error(
        "invalid_dpop_proof",
        "The DPoP proof is for another request",
    );
    for (case, proof) in [
        (
            "proof for another method",
            app.proof(methods::WATCH_STOCK, &token).sign(),
        ),
        (
            "proof with htm GET",
            DpopProof::new(
                &app.client,
                "GET",
                &format!("{}{}", app.base, methods::GET_ITEM),
            )
            .access_token(&token)
            .sign(),
        ),
        (
            "proof for another host",
            DpopProof::new(
                &app.client,
                "POST",
                &format!("http://inventory.example{}", methods::GET_ITEM),
            )
            .access_token(&token)
            .sign(),
        ),
    ] {
        let ch = refused(
            case,
            c.get_item(request(item(), &auth, &[proof])).await,
            Code::Unauthenticated,
            "The DPoP proof is for another request",
        );
        assert_eq!(ch, std::slice::from_ref(&another_request), "{case}");
    }

    // no proof, two proofs
    let ch = refused(
        "no proof",
        c.get_item(request(item(), &auth, &[])).await,
        Code::Unauthenticated,
        "Exactly one DPoP proof is required",
    );
    assert_eq!(
        ch,
        [dpop_error(
            "invalid_dpop_proof",
            "Exactly one DPoP proof is required"
        )]
    );
    let two = [
        app.proof(methods::GET_ITEM, &token).sign(),
        app.proof(methods::GET_ITEM, &token).sign(),
    ];
    refused(
        "two proofs",
        c.get_item(request(item(), &auth, &two)).await,
        Code::Unauthenticated,
        "Exactly one DPoP proof is required",
    );

    // a proof made with another key than the token's cnf.jkt
    let other = TestKey::p256("other");
    let p = DpopProof::new(
        &other,
        "POST",
        &format!("{}{}", app.base, methods::GET_ITEM),
    )
    .access_token(&token)
    .sign();
    let ch = refused(
        "token used with another key",
        c.get_item(request(item(), &auth, &[p])).await,
        Code::Unauthenticated,
        "The DPoP proof key does not match the access token",
    );
    assert_eq!(
        ch,
        [dpop_error(
            "invalid_dpop_proof",
            "The DPoP proof key does not match the access token"
        )]
    );

    // a bound token sent as Bearer: invalid_token, both schemes offered
    let ch = refused(
        "bound token as Bearer",
        c.get_item(request(item(), &format!("Bearer {token}"), &[]))
            .await,
        Code::Unauthenticated,
        "The access token is bound to a key and needs a DPoP proof",
    );
    assert_eq!(
        ch,
        [
            r#"Bearer realm="api", error="invalid_token", error_description="The access token is bound to a key and needs a DPoP proof""#.to_owned(),
            format!("DPoP {ALGS}"),
        ]
    );

    // an unbound token under the DPoP scheme
    let plain = app.idp.token().scope("inventory:read").sign();
    let p = app.proof(methods::GET_ITEM, &plain).sign();
    let ch = refused(
        "unbound token as DPoP",
        c.get_item(request(item(), &format!("DPoP {plain}"), &[p]))
            .await,
        Code::Unauthenticated,
        "The access token is not bound to a DPoP key",
    );
    assert_eq!(
        ch,
        [dpop_error(
            "invalid_token",
            "The access token is not bound to a DPoP key"
        )]
    );
    // ... while as Bearer it is still accepted (DPoP allowed, not required)
    c.get_item(request(item(), &format!("Bearer {plain}"), &[]))
        .await
        .unwrap();

    // no token: both challenges, no error code
    let s = c.get_item(Request::new(item())).await.unwrap_err();
    assert_eq!(
        challenges(&s),
        [r#"Bearer realm="api""#.to_owned(), format!("DPoP {ALGS}")]
    );

    // per-method scopes unchanged: a valid proof, a token without inventory:write
    // (RFC 9449 §7.1: the DPoP scheme in the PERMISSION_DENIED challenge)
    let p = app.proof(methods::RESERVE_ITEM, &token).sign();
    let ch = refused(
        "ReserveItem with inventory:read",
        c.reserve_item(request(
            ReserveItemRequest {
                id: "widget".into(),
                quantity: 1,
            },
            &auth,
            &[p],
        ))
        .await,
        Code::PermissionDenied,
        "The access token lacks the required scope",
    );
    assert_eq!(
        ch,
        [format!(
            r#"DPoP error="insufficient_scope", error_description="The access token lacks the required scope", scope="inventory:write", {ALGS}"#
        )]
    );
    // the same refusal of a Bearer request keeps the Bearer challenge
    let ch = refused(
        "ReserveItem with inventory:read, as Bearer",
        c.reserve_item(request(
            ReserveItemRequest {
                id: "widget".into(),
                quantity: 1,
            },
            &format!("Bearer {plain}"),
            &[],
        ))
        .await,
        Code::PermissionDenied,
        "The access token lacks the required scope",
    );
    assert_eq!(
        ch,
        [
            r#"Bearer realm="api", error="insufficient_scope", error_description="The access token lacks the required scope", scope="inventory:write""#
        ]
    );
    let writer = app.bound("inventory:write");
    let p = app.proof(methods::RESERVE_ITEM, &writer).sign();
    let r = c
        .reserve_item(request(
            ReserveItemRequest {
                id: "widget".into(),
                quantity: 1,
            },
            &format!("DPoP {writer}"),
            &[p],
        ))
        .await
        .unwrap();
    assert_eq!(r.get_ref().quantity, 1);

    // a server-streaming call: checked once, at its start
    let p = app.proof(methods::WATCH_STOCK, &token).sign();
    let mut stream = c
        .watch_stock(request(
            WatchStockRequest {
                id: "widget".into(),
            },
            &auth,
            &[p],
        ))
        .await
        .unwrap()
        .into_inner();
    let mut n = 0;
    while let Some(level) = stream.message().await.unwrap() {
        assert_eq!(level.id, "widget");
        n += 1;
    }
    assert_eq!(n, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_mode_with_nonces() {
    let app = start(DpopMode::Required, true, false).await;
    let mut c = app.grpc.clone();
    let token = app.bound("inventory:read");
    let auth = format!("DPoP {token}");

    // Bearer is not accepted at all: only the DPoP challenge
    let plain = app.idp.token().scope("inventory:read").sign();
    let ch = refused(
        "Bearer under DPoP required",
        c.get_item(request(item(), &format!("Bearer {plain}"), &[]))
            .await,
        Code::Unauthenticated,
        "An access token is required",
    );
    assert_eq!(ch, [format!("DPoP {ALGS}")]);

    // no nonce: use_dpop_nonce with a fresh nonce in the metadata
    let p = app.proof(methods::GET_ITEM, &token).sign();
    let s = c.get_item(request(item(), &auth, &[p])).await.unwrap_err();
    eprintln!(
        "no nonce: {:?} {:?} | {} | dpop-nonce {:?}",
        s.code(),
        s.message(),
        challenges(&s).join(" || "),
        s.metadata().get("dpop-nonce")
    );
    assert_eq!(s.code(), Code::Unauthenticated);
    assert_eq!(
        challenges(&s),
        [dpop_error(
            "use_dpop_nonce",
            "Resource server requires nonce in DPoP proof"
        )]
    );
    let nonce = s
        .metadata()
        .get("dpop-nonce")
        .expect("a dpop-nonce")
        .to_str()
        .unwrap()
        .to_owned();

    // a made-up nonce: refused the same way
    let p = app
        .proof(methods::GET_ITEM, &token)
        .nonce("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .sign();
    let s = c.get_item(request(item(), &auth, &[p])).await.unwrap_err();
    assert_eq!(s.code(), Code::Unauthenticated);
    assert!(s.metadata().get("dpop-nonce").is_some());

    // with the server's nonce: accepted, and a fresh nonce comes back
    let p = app.proof(methods::GET_ITEM, &token).nonce(&nonce).sign();
    let r = c.get_item(request(item(), &auth, &[p])).await.unwrap();
    assert!(r.metadata().get("dpop-nonce").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn challenges_name_the_resource_metadata() {
    let app = start(DpopMode::Allowed, false, true).await;
    let mut c = app.grpc.clone();
    let token = app.bound("inventory:read");
    let p = app.proof(methods::WATCH_STOCK, &token).sign();
    let ch = refused(
        "proof for another method, resource configured",
        c.get_item(request(item(), &format!("DPoP {token}"), &[p]))
            .await,
        Code::Unauthenticated,
        "The DPoP proof is for another request",
    );
    let url = format!("{}/.well-known/oauth-protected-resource", app.base);
    assert_eq!(
        ch,
        [format!(
            r#"{}, resource_metadata="{url}""#,
            dpop_error(
                "invalid_dpop_proof",
                "The DPoP proof is for another request"
            )
        )]
    );
    // 403 of a DPoP request: the DPoP challenge with resource_metadata too
    let p = app.proof(methods::RESERVE_ITEM, &token).sign();
    let ch = refused(
        "ReserveItem with inventory:read, resource configured",
        c.reserve_item(request(
            ReserveItemRequest {
                id: "widget".into(),
                quantity: 1,
            },
            &format!("DPoP {token}"),
            &[p],
        ))
        .await,
        Code::PermissionDenied,
        "The access token lacks the required scope",
    );
    assert_eq!(
        ch,
        [format!(
            r#"DPoP error="insufficient_scope", error_description="The access token lacks the required scope", scope="inventory:write", {ALGS}, resource_metadata="{url}""#
        )]
    );
}

#[tokio::test]
async fn the_interceptor_refuses_to_build_with_dpop_on() {
    let key = TestKey::p256("idp");
    let gate = |mode| {
        Tollgate::<()>::builder()
            .issuer(DEFAULT_ISSUER)
            .audience(DEFAULT_AUDIENCE)
            .keys(KeySet::from_keys([key.public_key()]))
            .dpop(Dpop::new(mode, DpopVerifier::builder().build().unwrap()))
            .build_lazy()
            .unwrap()
    };
    for mode in [DpopMode::Allowed, DpopMode::Required] {
        let e = gate(mode)
            .grpc_interceptor(ScopePolicy::authenticated())
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("dpop is not supported by the gRPC interceptor"),
            "{e}"
        );
        assert!(routes(&gate(mode), Guard::Interceptor).await.is_err());
    }
    // DPoP off: the interceptor builds as before
    let _interceptor = gate(DpopMode::Off)
        .grpc_interceptor(ScopePolicy::authenticated())
        .unwrap();
}
