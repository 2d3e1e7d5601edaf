//! tollgate-client against the dev IdP over real HTTP: client credentials caching,
//! single flight, renewal ahead of expiry, backoff, typed errors per OAuth code,
//! private_key_jwt, and the outgoing layer dropping a refused token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tollgate_client::cache::RenewalPolicy;
use tollgate_client::{
    AddAuthorizationLayer, ClientAuth, ClientCredentials, JwtSigner, OAuthErrorCode, Propagation,
    SubjectToken, TokenEndpoint, TokenError, TokenExchange, TokenSource,
};
use tollgate_core::alg::Algorithm;
use tollgate_core::oauth::{
    BoxError, BoxFuture, HttpClient, HttpError, HttpRequest, HttpResponse, HyperClient,
};
use tollgate_testkit::TestKey;
use tollgate_testkit::idp::{Client, DevIdp};
use tower::{Layer as _, ServiceExt as _};

/// The real HTTP client, counting requests; fails them while `fail` is set.
#[derive(Clone)]
struct Counting {
    inner: HyperClient,
    calls: Arc<AtomicUsize>,
    fail: Arc<AtomicBool>,
}

impl Counting {
    fn new() -> Self {
        Counting {
            inner: HyperClient::new().unwrap(),
            calls: Arc::new(AtomicUsize::new(0)),
            fail: Arc::new(AtomicBool::new(false)),
        }
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl HttpClient for Counting {
    fn send(&self, request: HttpRequest) -> BoxFuture<'static, Result<HttpResponse, HttpError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.fail.load(Ordering::SeqCst) {
            return Box::pin(async { Err(HttpError::Transport("injected failure".into())) });
        }
        let inner = self.inner.clone();
        Box::pin(async move {
            // a little latency so concurrent callers really overlap
            tokio::time::sleep(Duration::from_millis(50)).await;
            inner.send(request).await
        })
    }
}

fn endpoint(idp: &DevIdp, http: &Counting, auth: ClientAuth) -> TokenEndpoint {
    TokenEndpoint::new(&idp.token_endpoint())
        .unwrap()
        .http_client(http.clone())
        .client_auth(auth)
}

fn full() -> ClientAuth {
    ClientAuth::client_secret_basic("demo-full", "demo-full-secret")
}

#[tokio::test]
async fn caching_n_calls_one_request() {
    let idp = DevIdp::builder().start().await.unwrap();
    let http = Counting::new();
    let cc = ClientCredentials::builder(endpoint(&idp, &http, full()))
        .audience("inventory")
        .scope("inventory:read")
        .build()
        .unwrap();
    let first = cc.token().await.unwrap();
    for _ in 0..50 {
        assert_eq!(cc.token().await.unwrap(), first);
    }
    println!(
        "client credentials: 51 calls -> {} token request(s)",
        http.calls()
    );
    assert_eq!(http.calls(), 1);
    // the token is what was asked for
    let claims = tollgate_core::Claims::<()>::from_json(&base64_payload(first.secret())).unwrap();
    assert!(claims.aud.contains("inventory"));
    assert_eq!(claims.scopes.to_string(), "inventory:read");
    assert_eq!(claims.sub.as_deref(), Some("demo-full"));
}

fn base64_payload(jwt: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(jwt.split('.').nth(1).unwrap())
        .unwrap()
}

/// Issue 13, point 4: `let b = a.clone().scope("other")` after `a` was used served `a`'s
/// token (configuration and live source were one type sharing one lazily filled slot).
/// Now a live `ClientCredentials` has no setters (that line does not compile); a changed
/// copy of the *configuration* builds another source with its own cache, so each target
/// gets its own token, while clones of one live source share theirs.
#[tokio::test]
async fn a_changed_copy_of_a_configuration_never_serves_the_first_token() {
    let idp = DevIdp::builder().start().await.unwrap();
    let http = Counting::new();
    let base = ClientCredentials::builder(endpoint(&idp, &http, full())).audience("inventory");
    let read = base.clone().scope("inventory:read").build().unwrap();
    let t_read = read.token().await.unwrap();
    // same configuration shape, other scope, built after the first source was used
    let write = base.clone().scope("inventory:write").build().unwrap();
    let t_write = write.token().await.unwrap();
    // other audience
    let orders = base
        .clone()
        .audience("orders")
        .scope("orders:read")
        .build()
        .unwrap();
    let t_orders = orders.token().await.unwrap();
    assert_ne!(t_write, t_read, "another scope, another token");
    assert_ne!(t_orders, t_read, "another audience, another token");
    let claims = |t: &tollgate_client::AccessToken| {
        tollgate_core::Claims::<()>::from_json(&base64_payload(t.secret())).unwrap()
    };
    assert_eq!(claims(&t_read).scopes.to_string(), "inventory:read");
    assert_eq!(claims(&t_write).scopes.to_string(), "inventory:write");
    assert_eq!(claims(&t_orders).scopes.to_string(), "orders:read");
    assert!(claims(&t_orders).aud.contains("orders"));
    assert_eq!(read.target().scopes[0].as_str(), "inventory:read");
    assert_eq!(write.target().scopes[0].as_str(), "inventory:write");
    // a clone of a live source is the same source: it shares the cache
    assert_eq!(read.clone().token().await.unwrap(), t_read);
    assert_eq!(write.clone().token().await.unwrap(), t_write);
    assert_eq!(http.calls(), 3, "one token request per target");
    // a scope that is not a scope-token is refused when configured, by name
    let e = base.scope("inventory read").build().unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"scope "inventory read" is not a valid scope-token"#
    );
    assert_eq!(http.calls(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_flight_under_100_concurrent_callers() {
    let idp = DevIdp::builder().start().await.unwrap();
    let http = Counting::new();
    // client_secret_post this time
    let cc = ClientCredentials::builder(endpoint(
        &idp,
        &http,
        ClientAuth::client_secret_post("demo-reader", "demo-reader-secret"),
    ))
    .build()
    .unwrap();
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let cc = cc.clone();
            tokio::spawn(async move { cc.token().await.unwrap() })
        })
        .collect();
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(t.await.unwrap());
    }
    println!(
        "client credentials: 100 concurrent callers -> {} token request(s)",
        http.calls()
    );
    assert_eq!(http.calls(), 1);
    assert!(tokens.iter().all(|t| *t == tokens[0]));
}

#[tokio::test]
async fn renewal_ahead_of_expiry_keeps_serving_the_current_token() {
    let idp = DevIdp::builder()
        .token_ttl(Duration::from_secs(4))
        .start()
        .await
        .unwrap();
    let http = Counting::new();
    let cc = ClientCredentials::builder(endpoint(&idp, &http, full()))
        .renewal(RenewalPolicy::default().renew_at(0.5).jitter(0.0))
        .build()
        .unwrap();
    let a = cc.token().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(cc.token().await.unwrap(), a, "before 50%: cached");
    assert_eq!(http.calls(), 1);
    tokio::time::sleep(Duration::from_millis(1200)).await; // 2.2 s of 4 s
    // due: the caller still gets the current token at once, renewal runs behind it
    let t0 = std::time::Instant::now();
    assert_eq!(cc.token().await.unwrap(), a);
    assert!(
        t0.elapsed() < Duration::from_millis(40),
        "not waiting for the renewal"
    );
    let mut b = a.clone();
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(25)).await;
        b = cc.token().await.unwrap();
        if b != a {
            break;
        }
    }
    println!(
        "renewal: token renewed at ~55% of its lifetime, {} token requests in total, before expiry",
        http.calls()
    );
    assert_ne!(b, a, "renewed before expiry");
    assert_eq!(http.calls(), 2);
}

#[tokio::test]
async fn failure_backoff() {
    let idp = DevIdp::builder().start().await.unwrap();
    let http = Counting::new();
    http.fail.store(true, Ordering::SeqCst);
    let cc = ClientCredentials::builder(endpoint(&idp, &http, full()))
        .renewal(
            RenewalPolicy::default().backoff(Duration::from_millis(400), Duration::from_secs(5)),
        )
        .build()
        .unwrap();
    let e = cc.token().await.unwrap_err();
    assert!(matches!(e, TokenError::Transport(_)), "{e}");
    assert!(e.is_transient());
    // within the backoff: no request, the last failure reported
    for _ in 0..20 {
        let e = cc.token().await.unwrap_err();
        assert!(
            matches!(&e, TokenError::Backoff { last, .. } if matches!(**last, TokenError::Transport(_))),
            "{e}"
        );
    }
    assert_eq!(http.calls(), 1);
    tokio::time::sleep(Duration::from_millis(420)).await;
    assert!(matches!(
        cc.token().await.unwrap_err(),
        TokenError::Transport(_)
    ));
    assert_eq!(http.calls(), 2);
    // the second delay is longer (doubling, jitter 75–100 %: ≥ 600 ms)
    tokio::time::sleep(Duration::from_millis(420)).await;
    assert!(matches!(
        cc.token().await.unwrap_err(),
        TokenError::Backoff { .. }
    ));
    assert_eq!(http.calls(), 2);
    http.fail.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(cc.token().await.is_ok());
    println!(
        "backoff: 24 calls, 23 of them while the IdP was unreachable -> {} requests",
        http.calls()
    );
    assert_eq!(http.calls(), 3);
}

#[tokio::test]
async fn typed_errors_for_each_oauth_code() {
    let idp = DevIdp::builder()
        .client(
            Client::new("gateway", "gateway-secret")
                .scopes(["orders:read"])
                .audiences(["gateway"])
                .may_exchange_for(["orders"]),
        )
        .start()
        .await
        .unwrap();
    let http = Counting::new();
    let code = |e: TokenError| e.oauth_code().cloned();

    // invalid_client: wrong secret (both methods)
    for auth in [
        ClientAuth::client_secret_basic("demo-full", "guess"),
        ClientAuth::client_secret_post("demo-full", "guess"),
    ] {
        let e = ClientCredentials::builder(endpoint(&idp, &http, auth))
            .build()
            .unwrap()
            .token()
            .await
            .unwrap_err();
        assert!(matches!(e, TokenError::OAuth { status: 401, .. }), "{e}");
        assert_eq!(code(e), Some(OAuthErrorCode::InvalidClient));
    }
    // invalid_scope
    let e = ClientCredentials::builder(endpoint(
        &idp,
        &http,
        ClientAuth::client_secret_basic("demo-reader", "demo-reader-secret"),
    ))
    .scope("orders:write")
    .build()
    .unwrap()
    .token()
    .await
    .unwrap_err();
    assert_eq!(code(e), Some(OAuthErrorCode::InvalidScope));
    // invalid_target
    let e = ClientCredentials::builder(endpoint(
        &idp,
        &http,
        ClientAuth::client_secret_basic("demo-reader", "demo-reader-secret"),
    ))
    .resource("inventory")
    .build()
    .unwrap()
    .token()
    .await
    .unwrap_err();
    assert_eq!(code(e), Some(OAuthErrorCode::InvalidTarget));
    // unauthorized_client: demo-full has no exchange policy
    let user = idp.user_token("gateway", "alice", &[], None).await.unwrap();
    let subject = SubjectToken::new(user.access_token.clone());
    let e = TokenExchange::builder(endpoint(&idp, &http, full()))
        .audience("orders")
        .build()
        .unwrap()
        .exchange(&subject)
        .await
        .unwrap_err();
    assert_eq!(code(e), Some(OAuthErrorCode::UnauthorizedClient));
    // invalid_grant: a subject token that is not active
    let gateway = ClientAuth::client_secret_basic("gateway", "gateway-secret");
    let e = TokenExchange::builder(endpoint(&idp, &http, gateway.clone()))
        .audience("orders")
        .build()
        .unwrap()
        .exchange(&SubjectToken::new("not-a-token"))
        .await
        .unwrap_err();
    assert_eq!(code(e), Some(OAuthErrorCode::InvalidGrant));
    // invalid_target and invalid_scope through exchange
    let e = TokenExchange::builder(endpoint(&idp, &http, gateway.clone()))
        .audience("inventory")
        .build()
        .unwrap()
        .exchange(&subject)
        .await
        .unwrap_err();
    assert_eq!(code(e), Some(OAuthErrorCode::InvalidTarget));
    let e = TokenExchange::builder(endpoint(&idp, &http, gateway))
        .audience("orders")
        .scope("orders:write")
        .build()
        .unwrap()
        .exchange(&subject)
        .await
        .unwrap_err();
    assert_eq!(code(e.clone()), Some(OAuthErrorCode::InvalidScope));

    // no secret or token in Display / Debug
    let auth = ClientAuth::client_secret_basic("demo-full", "demo-full-secret");
    let cc = ClientCredentials::builder(endpoint(&idp, &http, auth.clone()))
        .build()
        .unwrap();
    let t = cc.token().await.unwrap();
    for text in [
        format!("{auth:?}"),
        format!("{cc:?}"),
        format!("{t:?}"),
        format!("{subject:?}"),
        format!("{e} {e:?}"),
    ] {
        assert!(!text.contains("demo-full-secret"), "{text}");
        assert!(!text.contains(t.secret()), "{text}");
        assert!(!text.contains(&user.access_token), "{text}");
    }
}

/// A `private_key_jwt` signer over a test key (the key never leaves the process).
#[derive(Debug)]
struct TestSigner(TestKey);

impl JwtSigner for TestSigner {
    fn algorithm(&self) -> Algorithm {
        Algorithm::ES256
    }
    fn kid(&self) -> Option<&str> {
        Some(self.0.kid())
    }
    fn sign(&self, input: &[u8]) -> Result<Vec<u8>, BoxError> {
        Ok(self.0.sign(Algorithm::ES256, input))
    }
}

#[tokio::test]
async fn private_key_jwt() {
    let key = TestKey::p256("svc-key");
    let idp = DevIdp::builder()
        .client(
            Client::new("svc", "unused-secret")
                .scopes(["orders:read"])
                .audiences(["orders"])
                .jwt_public_key_pem(key.public_pem()),
        )
        .start()
        .await
        .unwrap();
    let http = Counting::new();
    // accepted: signed by the registered key
    let cc = ClientCredentials::builder(endpoint(
        &idp,
        &http,
        ClientAuth::private_key_jwt("svc", TestSigner(key)),
    ))
    .build()
    .unwrap();
    let t = cc.token().await.unwrap();
    assert!(t.secret().split('.').count() == 3);
    // rejected: another key
    let e = ClientCredentials::builder(endpoint(
        &idp,
        &http,
        ClientAuth::private_key_jwt("svc", TestSigner(TestKey::p256("other"))),
    ))
    .build()
    .unwrap()
    .token()
    .await
    .unwrap_err();
    assert_eq!(e.oauth_code(), Some(&OAuthErrorCode::InvalidClient));
}

#[tokio::test]
async fn layer_drops_a_token_refused_downstream() {
    let idp = DevIdp::builder().start().await.unwrap();
    let http = Counting::new();
    let cc = ClientCredentials::builder(endpoint(&idp, &http, full()))
        .build()
        .unwrap();
    // downstream refuses the first token it sees with 401 invalid_token
    let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let downstream = {
        let seen = seen.clone();
        tower::service_fn(move |req: http::Request<()>| {
            let seen = seen.clone();
            async move {
                let auth = req.headers()["authorization"].to_str().unwrap().to_owned();
                assert!(req.headers()["authorization"].is_sensitive());
                let mut seen = seen.lock().unwrap();
                let first = seen.is_empty();
                seen.push(auth);
                let mut res = http::Response::new(());
                if first {
                    *res.status_mut() = http::StatusCode::UNAUTHORIZED;
                    res.headers_mut().insert(
                        "www-authenticate",
                        r#"Bearer error="invalid_token""#.parse().unwrap(),
                    );
                }
                Ok::<_, Infallible>(res)
            }
        })
    };
    let svc = AddAuthorizationLayer::new(Propagation::own_identity(cc)).layer(downstream);
    let r1 = svc.clone().oneshot(http::Request::new(())).await.unwrap();
    assert_eq!(r1.status(), 401);
    let r2 = svc.clone().oneshot(http::Request::new(())).await.unwrap();
    assert_eq!(r2.status(), 200);
    let r3 = svc.oneshot(http::Request::new(())).await.unwrap();
    assert_eq!(r3.status(), 200);
    let seen = seen.lock().unwrap();
    assert_ne!(seen[0], seen[1], "a fresh token after the 401");
    assert_eq!(seen[1], seen[2], "then cached again");
    assert_eq!(http.calls(), 2);
}
