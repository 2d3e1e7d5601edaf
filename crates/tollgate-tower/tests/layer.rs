//! The HTTP layers against each row of the error table: status AND the exact
//! `WWW-Authenticate` header, through `ServiceBuilder` + `service_fn`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::header::{AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Request, Response, StatusCode};
use tollgate_core::authenticate::{Authenticate, StaticKeys};
use tollgate_core::error::UnavailableError;
use tollgate_core::scope::{Scope, ScopePolicy};
use tollgate_core::{AuthError, Claims, KeySet, Validation};
use tollgate_testkit::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, TestKey};
use tollgate_tower::{AuthLayer, BearerRejector, RequireScopeLayer};
use tower::{ServiceBuilder, ServiceExt, service_fn};

const READ: Scope = Scope::from_static("orders:read");

fn auth(key: &TestKey) -> StaticKeys {
    let v = Validation::builder()
        .issuer(DEFAULT_ISSUER)
        .audience(DEFAULT_AUDIENCE)
        .build()
        .unwrap();
    StaticKeys::new(v, KeySet::from_keys([key.public_key()]))
}

async fn echo_sub(req: Request<String>) -> Result<Response<String>, Infallible> {
    let sub = req
        .extensions()
        .get::<Arc<Claims>>()
        .and_then(|c| c.sub.clone())
        .unwrap_or_else(|| "anonymous".into());
    Ok(Response::new(sub))
}

async fn send<S>(svc: S, headers: &[&str]) -> Response<String>
where
    S: tower::Service<Request<String>, Response = Response<String>, Error = Infallible>,
{
    let mut b = Request::get("/orders?access_token=ignored");
    for h in headers {
        b = b.header(AUTHORIZATION, *h);
    }
    svc.oneshot(b.body(String::new()).unwrap()).await.unwrap()
}

fn challenge(res: &Response<String>) -> &str {
    res.headers()
        .get(WWW_AUTHENTICATE)
        .map_or("<none>", |v| v.to_str().unwrap())
}

#[tokio::test]
async fn error_table_rows() {
    let key = TestKey::p256("k1");
    let svc = ServiceBuilder::new()
        .layer(AuthLayer::<(), _>::new(auth(&key)).rejector(BearerRejector::new("orders")))
        // the scope layer answers with the same rejector configuration
        .layer(RequireScopeLayer::<()>::with_rejector(
            ScopePolicy::all_of([READ]),
            BearerRejector::new("orders"),
        ))
        .service(service_fn(echo_sub));

    // accepted, claims reach the handler; lowercase scheme accepted
    let good = key.token().subject("alice").scope("orders:read").sign();
    let res = send(svc.clone(), &[&format!("bearer {good}")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.body(), "alice");
    assert!(res.headers().get(WWW_AUTHENTICATE).is_none());

    // no token (the query-string token is ignored): bare challenge
    let res = send(svc.clone(), &[]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(challenge(&res), r#"Bearer realm="orders""#);
    // another scheme counts as no bearer token
    let res = send(svc.clone(), &["Basic dXNlcjpwYXNz"]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(challenge(&res), r#"Bearer realm="orders""#);

    // malformed request
    let res = send(
        svc.clone(),
        &[&format!("Bearer {good}"), &format!("Bearer {good}")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        challenge(&res),
        r#"Bearer realm="orders", error="invalid_request", error_description="More than one Authorization header""#
    );
    let res = send(svc.clone(), &["Bearer a b"]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        challenge(&res),
        r#"Bearer realm="orders", error="invalid_request", error_description="Malformed Authorization header""#
    );

    // invalid tokens
    let res = send(
        svc.clone(),
        &[&format!("Bearer {}", key.token().bad_signature())],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge(&res),
        r#"Bearer realm="orders", error="invalid_token", error_description="The access token is invalid""#
    );
    let res = send(svc.clone(), &[&format!("Bearer {}", key.token().expired())]).await;
    assert_eq!(
        challenge(&res),
        r#"Bearer realm="orders", error="invalid_token", error_description="The access token expired""#
    );
    let res = send(svc.clone(), &["Bearer not-a-jwt"]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge(&res),
        r#"Bearer realm="orders", error="invalid_token", error_description="The access token is malformed""#
    );

    // valid token, scope not met
    let res = send(
        svc.clone(),
        &[&format!(
            "Bearer {}",
            key.token().scope("orders:write").sign()
        )],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        challenge(&res),
        r#"Bearer realm="orders", error="insufficient_scope", error_description="The access token lacks the required scope", scope="orders:read""#
    );
}

#[tokio::test]
async fn nothing_from_the_token_is_echoed() {
    let key = TestKey::p256("k1");
    let svc = ServiceBuilder::new()
        .layer(
            AuthLayer::<(), _>::new(auth(&key))
                .rejector(BearerRejector::new("api").problem_json(true)),
        )
        .service(service_fn(echo_sub));
    let marker = "ECHOMARKER";
    for t in [
        key.token().subject(marker).audience(marker).sign(),
        key.token().header("kid", marker).sign(),
        format!("{marker}.{marker}.{marker}"),
    ] {
        let res = send(svc.clone(), &[&format!("Bearer {t}")]).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let all = format!("{:?} {}", res.headers(), res.body());
        assert!(!all.contains(marker), "{all}");
        assert!(!all.contains(&t[..16]), "{all}");
    }
}

/// An authenticator that answers "unavailable", or waits one poll before answering.
#[derive(Clone)]
struct Scripted(Result<(), AuthError>, StaticKeys);

struct OnePending<T>(Option<T>, bool);
impl<T: Unpin> Future for OnePending<T> {
    type Output = T;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if !self.1 {
            self.1 = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(self.0.take().expect("polled after completion"))
    }
}

impl Authenticate<()> for Scripted {
    type Future = OnePending<Result<Arc<Claims>, AuthError>>;
    fn authenticate(&self, token: &str) -> Self::Future {
        let out = match &self.0 {
            Ok(()) => self.1.validation().verify(token, self.1.keys()),
            Err(e) => Err(e.clone()),
        };
        OnePending(Some(out), false)
    }
}

#[tokio::test]
async fn unavailable_is_503_with_retry_after() {
    let key = TestKey::p256("k1");
    let down = Scripted(
        Err(UnavailableError::NoKeys {
            retry_after: Duration::from_secs(9),
        }
        .into()),
        auth(&key),
    );
    let svc = ServiceBuilder::new()
        .layer(AuthLayer::<(), _>::new(down))
        .service(service_fn(echo_sub));
    let res = send(svc, &[&format!("Bearer {}", key.token().sign())]).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()[RETRY_AFTER], "9");
    assert!(res.headers().get(WWW_AUTHENTICATE).is_none());
}

#[tokio::test]
async fn a_pending_authenticator_still_reaches_the_handler() {
    let key = TestKey::p256("k1");
    let svc = ServiceBuilder::new()
        .layer(AuthLayer::<(), _>::new(Scripted(Ok(()), auth(&key))))
        .service(service_fn(echo_sub));
    let res = send(
        svc.clone(),
        &[&format!("Bearer {}", key.token().subject("bob").sign())],
    )
    .await;
    assert_eq!((res.status(), res.body().as_str()), (StatusCode::OK, "bob"));
    let res = send(svc, &[&format!("Bearer {}", key.token().expired())]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn scope_layer_without_auth_layer_is_500_not_401() {
    let svc = ServiceBuilder::new()
        .layer(RequireScopeLayer::<()>::new(ScopePolicy::all_of([READ])))
        .service(service_fn(echo_sub));
    let res = send(svc, &["Bearer whatever"]).await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(res.headers().get(WWW_AUTHENTICATE).is_none());
    // same when the claims type differs from the auth layer's
    let key = TestKey::p256("k1");
    let svc = ServiceBuilder::new()
        .layer(AuthLayer::<(), _>::new(auth(&key)))
        .layer(RequireScopeLayer::<serde_json::Value>::new(
            ScopePolicy::all_of([READ]),
        ))
        .service(service_fn(echo_sub));
    let res = send(
        svc,
        &[&format!(
            "Bearer {}",
            key.token().scope("orders:read").sign()
        )],
    )
    .await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn optional_mode() {
    let key = TestKey::p256("k1");
    let svc = ServiceBuilder::new()
        .layer(AuthLayer::<(), _>::new(auth(&key)).optional())
        .service(service_fn(echo_sub));
    let res = send(svc.clone(), &[]).await;
    assert_eq!(
        (res.status(), res.body().as_str()),
        (StatusCode::OK, "anonymous")
    );
    let res = send(
        svc.clone(),
        &[&format!("Bearer {}", key.token().subject("carol").sign())],
    )
    .await;
    assert_eq!(res.body(), "carol");
    // a present but invalid token is still refused
    let res = send(svc, &[&format!("Bearer {}", key.token().expired())]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn resource_metadata_parameter() {
    let key = TestKey::p256("k1");
    let svc = ServiceBuilder::new()
        .layer(
            AuthLayer::<(), _>::new(auth(&key)).rejector(
                BearerRejector::new("api")
                    .resource_metadata("https://api.example/.well-known/oauth-protected-resource"),
            ),
        )
        .service(service_fn(echo_sub));
    let res = send(svc, &[]).await;
    assert_eq!(
        challenge(&res),
        r#"Bearer realm="api", resource_metadata="https://api.example/.well-known/oauth-protected-resource""#
    );
}
