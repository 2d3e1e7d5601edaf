//! The dev identity provider over real HTTP (hyper client, independent of the IdP's own
//! hand-written server): token endpoint (both client authentication methods, scope and
//! audience rules, every error with its status and headers), discovery in both forms,
//! the JWKS with max-age/ETag/304, introspection and revocation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use base64::Engine as _;
use http::Method;
use serde_json::{Value, json};
use tollgate_core::{KeySet, Validation};
use tollgate_testkit::idp::{Client, DevIdp, form_encode};
use tollgate_tests::{Reply, send};

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

fn basic(id: &str, secret: &str) -> String {
    let raw = format!("{}:{}", form_encode(id), form_encode(secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

async fn post_form(url: &str, auth: Option<&str>, body: &str) -> Reply {
    let mut headers = vec![FORM];
    if let Some(a) = auth {
        headers.push(("authorization", a));
    }
    send(Method::POST, url, &headers, body).await
}

async fn token_basic(idp: &DevIdp, id: &str, secret: &str, body: &str) -> Reply {
    post_form(&idp.token_endpoint(), Some(&basic(id, secret)), body).await
}

fn claims(jwt: &str) -> (Value, Value) {
    let part = |i: usize| {
        let seg = jwt.split('.').nth(i).unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(seg)
            .unwrap();
        serde_json::from_slice::<Value>(&bytes).unwrap()
    };
    (part(0), part(1))
}

async fn keys(idp: &DevIdp) -> KeySet {
    let r = send(Method::GET, &idp.jwks_uri(), &[], "").await;
    assert_eq!(r.status, 200);
    KeySet::from_jwks(&r.body).unwrap()
}

fn validation(idp: &DevIdp, aud: &str) -> Validation {
    Validation::builder()
        .issuer(idp.issuer())
        .audience(aud)
        .build()
        .unwrap()
}

fn assert_oauth_error(r: &Reply, status: u16, error: &str) {
    assert_eq!(r.status.as_u16(), status, "{:?}", r.json());
    assert_eq!(r.json()["error"], error, "{:?}", r.json());
    assert!(r.json()["error_description"].is_string());
    assert_eq!(r.header("cache-control"), "no-store");
    assert!(r.header("content-type").starts_with("application/json"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_with_basic_and_post_authentication() {
    let idp = DevIdp::builder().start().await.unwrap();

    // client_secret_basic, two of the allowed scopes, resource (RFC 8707)
    let r = token_basic(
        &idp,
        "demo-full",
        "demo-full-secret",
        "grant_type=client_credentials&scope=orders%3Aread+inventory%3Awrite&resource=orders",
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert_eq!(r.header("cache-control"), "no-store");
    assert_eq!(r.header("pragma"), "no-cache");
    let body = r.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 300);
    assert_eq!(body["scope"], "orders:read inventory:write");
    let jwt = body["access_token"].as_str().unwrap();
    let (header, c) = claims(jwt);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], idp.signing_kid().as_str());
    assert_eq!(c["iss"], idp.issuer());
    assert_eq!(c["sub"], "demo-full");
    assert_eq!(c["client_id"], "demo-full");
    assert_eq!(c["aud"], "orders");
    assert_eq!(c["scope"], "orders:read inventory:write");
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 300);
    assert!(c["jti"].as_str().is_some_and(|j| j.len() >= 16));
    // it verifies with the published JWKS under tollgate's RFC 9068 profile
    let verified = validation(&idp, "orders")
        .verify::<()>(jwt, &keys(&idp).await)
        .unwrap();
    assert_eq!(verified.client_id.as_deref(), Some("demo-full"));
    assert!(verified.scopes.contains("inventory:write"));

    // client_secret_post, no scope requested: the client's whole allowed set
    let r = post_form(
        &idp.token_endpoint(),
        None,
        "grant_type=client_credentials&client_id=demo-reader&client_secret=demo-reader-secret",
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert_eq!(r.json()["scope"], "orders:read");
    let (_, c) = claims(r.json()["access_token"].as_str().unwrap());
    assert_eq!(
        (&c["sub"], &c["aud"]),
        (&json!("demo-reader"), &json!("orders"))
    );

    // no resource: every allowed audience; `audience` works like `resource`
    let r = token_basic(
        &idp,
        "demo-full",
        "demo-full-secret",
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(
        r.json()["scope"],
        "orders:read orders:write inventory:read inventory:write"
    );
    let (_, c) = claims(r.json()["access_token"].as_str().unwrap());
    assert_eq!(c["aud"], json!(["orders", "inventory"]));
    let r = token_basic(
        &idp,
        "demo-full",
        "demo-full-secret",
        "grant_type=client_credentials&audience=inventory&scope=inventory:read",
    )
    .await;
    let (_, c) = claims(r.json()["access_token"].as_str().unwrap());
    assert_eq!(c["aud"], "inventory");
    // each token is unique
    let a = token_basic(
        &idp,
        "demo-reader",
        "demo-reader-secret",
        "grant_type=client_credentials",
    )
    .await;
    let b = token_basic(
        &idp,
        "demo-reader",
        "demo-reader-secret",
        "grant_type=client_credentials",
    )
    .await;
    assert_ne!(a.json()["access_token"], b.json()["access_token"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_credentials_are_form_urlencoded() {
    // RFC 6749 §2.3.1: id and secret are form-urlencoded before base64
    let idp = DevIdp::builder()
        .clients([Client::new("svc:a b", "p%s+w:rd é")
            .scopes(["x"])
            .audiences(["api"])])
        .start()
        .await;
    // ':' is not allowed in an id (it could not be sent with Basic unencoded by naive
    // clients); the configuration says so
    assert!(idp.unwrap_err().to_string().contains("':'"));

    let idp = DevIdp::builder()
        .clients([Client::new("svc a", "p%s+w:rd é")
            .scopes(["x"])
            .audiences(["api"])])
        .start()
        .await
        .unwrap();
    let r = token_basic(&idp, "svc a", "p%s+w:rd é", "grant_type=client_credentials").await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    let body = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        form_encode("svc a"),
        form_encode("p%s+w:rd é")
    );
    let r = post_form(&idp.token_endpoint(), None, &body).await;
    assert_eq!(r.status, 200, "{:?}", r.json());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_endpoint_errors() {
    let idp = DevIdp::builder().start().await.unwrap();
    let url = idp.token_endpoint();
    let cc = "grant_type=client_credentials";

    // invalid_client: wrong secret with Basic → 401 and a Basic challenge
    let r = token_basic(&idp, "demo-full", "nope", cc).await;
    assert_oauth_error(&r, 401, "invalid_client");
    assert!(r.header("www-authenticate").starts_with("Basic realm="));
    // unknown client, with Basic and with the body
    let r = token_basic(&idp, "mallory", "x", cc).await;
    assert_oauth_error(&r, 401, "invalid_client");
    let r = post_form(
        &url,
        None,
        &format!("{cc}&client_id=mallory&client_secret=x"),
    )
    .await;
    assert_oauth_error(&r, 401, "invalid_client");
    // wrong secret in the body
    let r = post_form(
        &url,
        None,
        &format!("{cc}&client_id=demo-full&client_secret=x"),
    )
    .await;
    assert_oauth_error(&r, 401, "invalid_client");
    // no client authentication at all; a client_id alone (public clients: none here)
    assert_oauth_error(&post_form(&url, None, cc).await, 401, "invalid_client");
    let r = post_form(&url, None, &format!("{cc}&client_id=demo-full")).await;
    assert_oauth_error(&r, 401, "invalid_client");
    // another scheme than Basic
    let r = post_form(&url, Some("Bearer abc"), cc).await;
    assert_oauth_error(&r, 401, "invalid_client");
    // a broken Basic value
    let r = post_form(&url, Some("Basic !!!"), cc).await;
    assert_oauth_error(&r, 401, "invalid_client");

    // invalid_request: two authentication methods, repeated parameter, missing
    // grant_type, wrong content type, broken form, client_id mismatch
    let r = token_basic(
        &idp,
        "demo-full",
        "demo-full-secret",
        &format!("{cc}&client_id=demo-full&client_secret=demo-full-secret"),
    )
    .await;
    assert_oauth_error(&r, 400, "invalid_request");
    let r = token_basic(
        &idp,
        "demo-full",
        "demo-full-secret",
        &format!("{cc}&scope=orders:read&scope=orders:write"),
    )
    .await;
    assert_oauth_error(&r, 400, "invalid_request");
    let r = token_basic(&idp, "demo-full", "demo-full-secret", "scope=orders:read").await;
    assert_oauth_error(&r, 400, "invalid_request");
    let r = token_basic(
        &idp,
        "demo-full",
        "demo-full-secret",
        &format!("{cc}&client_id=demo-reader"),
    )
    .await;
    assert_oauth_error(&r, 400, "invalid_request");
    let auth = basic("demo-full", "demo-full-secret");
    let r = send(
        Method::POST,
        &url,
        &[
            ("content-type", "application/json"),
            ("authorization", &auth),
        ],
        r#"{"grant_type":"client_credentials"}"#,
    )
    .await;
    assert_oauth_error(&r, 400, "invalid_request");
    let r = token_basic(&idp, "demo-full", "demo-full-secret", "grant_type=%zz").await;
    assert_oauth_error(&r, 400, "invalid_request");

    // unsupported_grant_type (refresh_token and token exchange are supported since
    // issue 10: tests/tests/client_*.rs and chain*.rs)
    for g in ["password", "authorization_code", "urn:example:unknown"] {
        let r = token_basic(
            &idp,
            "demo-full",
            "demo-full-secret",
            &format!("grant_type={}", form_encode(g)),
        )
        .await;
        assert_oauth_error(&r, 400, "unsupported_grant_type");
    }

    // invalid_scope: a scope the client may not have, an unknown one, a malformed one
    for scope in [
        "orders:write",
        "orders:read%20orders:write",
        "admin",
        "a%22b",
    ] {
        let r = token_basic(
            &idp,
            "demo-reader",
            "demo-reader-secret",
            &format!("{cc}&scope={scope}"),
        )
        .await;
        assert_oauth_error(&r, 400, "invalid_scope");
    }

    // invalid_target: an audience the client may not have (either parameter name)
    let r = token_basic(
        &idp,
        "demo-reader",
        "demo-reader-secret",
        &format!("{cc}&resource=inventory"),
    )
    .await;
    assert_oauth_error(&r, 400, "invalid_target");
    let r = token_basic(
        &idp,
        "demo-reader",
        "demo-reader-secret",
        &format!("{cc}&resource=orders&audience=billing"),
    )
    .await;
    assert_oauth_error(&r, 400, "invalid_target");

    // methods and paths
    let r = send(Method::GET, &url, &[], "").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), "POST");
    assert_eq!(
        send(Method::GET, &format!("{}/nope", idp.issuer()), &[], "")
            .await
            .status,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_in_both_forms_names_the_exact_issuer() {
    let idp = DevIdp::builder().start().await.unwrap();
    let issuer = idp.issuer().to_owned();
    assert!(issuer.starts_with("http://127.0.0.1:") && !issuer.ends_with('/'));
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let r = send(Method::GET, &format!("{issuer}{path}"), &[], "").await;
        assert_eq!(r.status, 200, "{path}");
        assert!(r.header("content-type").starts_with("application/json"));
        let m = r.json();
        assert_eq!(m["issuer"], issuer.as_str(), "{path}");
        assert_eq!(m["jwks_uri"], idp.jwks_uri());
        assert_eq!(m["token_endpoint"], idp.token_endpoint());
        assert_eq!(m["introspection_endpoint"], idp.introspection_endpoint());
        assert_eq!(m["revocation_endpoint"], idp.revocation_endpoint());
        assert_eq!(
            m["grant_types_supported"],
            json!([
                "client_credentials",
                "refresh_token",
                "urn:ietf:params:oauth:grant-type:token-exchange"
            ])
        );
        assert_eq!(
            m["token_endpoint_auth_methods_supported"],
            json!([
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt"
            ])
        );
        let scopes = m["scopes_supported"].as_array().unwrap();
        assert!(scopes.contains(&json!("inventory:write")));
        // the JWKS named there is reachable
        let r = send(Method::GET, m["jwks_uri"].as_str().unwrap(), &[], "").await;
        assert_eq!(r.status, 200);
    }
    let r = send(
        Method::POST,
        &format!("{issuer}/.well-known/openid-configuration"),
        &[],
        "",
    )
    .await;
    assert_eq!(r.status, 405);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_has_max_age_and_etag_and_answers_304() {
    let idp = DevIdp::builder()
        .jwks_max_age(Duration::from_secs(42))
        .algorithm(tollgate_core::alg::Algorithm::ES256)
        .start()
        .await
        .unwrap();
    let r = send(Method::GET, &idp.jwks_uri(), &[], "").await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("cache-control").contains("max-age=42"),
        "{}",
        r.header("cache-control")
    );
    let etag = r.header("etag").to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2);
    let keys = r.json()["keys"].as_array().unwrap().clone();
    // the signing key and the pre-published next key; public parts only
    assert_eq!(keys.len(), 2);
    for k in &keys {
        assert_eq!(
            (&k["kty"], &k["alg"], &k["use"]),
            (&json!("EC"), &json!("ES256"), &json!("sig"))
        );
        assert!(k.get("d").is_none());
    }
    assert_eq!(keys[0]["kid"], idp.signing_kid().as_str());
    assert_eq!(KeySet::from_jwks(&r.body).unwrap().len(), 2);

    // conditional GET: same set → 304 with no body, the same ETag and max-age
    for inm in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"other\", {etag}"),
        "*".into(),
    ] {
        let r = send(Method::GET, &idp.jwks_uri(), &[("if-none-match", &inm)], "").await;
        assert_eq!(r.status, 304, "{inm}");
        assert!(r.body.is_empty());
        assert_eq!(r.header("etag"), etag);
        assert!(r.header("cache-control").contains("max-age=42"));
    }
    let r = send(
        Method::GET,
        &idp.jwks_uri(),
        &[("if-none-match", "\"stale\"")],
        "",
    )
    .await;
    assert_eq!(r.status, 200);

    // after a rotation the set changes: new ETag, the old one gets a full answer
    let old_signing = idp.signing_kid();
    let new_signing = idp.rotate_now();
    assert_eq!(
        new_signing, keys[1]["kid"],
        "the pre-published key starts signing"
    );
    let r = send(
        Method::GET,
        &idp.jwks_uri(),
        &[("if-none-match", &etag)],
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_ne!(r.header("etag"), etag);
    let kids: Vec<String> = r.json()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kids.len(), 3);
    assert_eq!(kids[0], new_signing);
    assert!(kids.contains(&old_signing), "retired key still published");

    // the admin endpoint rotates too
    let r = send(
        Method::POST,
        &format!("{}/admin/rotate", idp.issuer()),
        &[],
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["kid"], idp.signing_kid().as_str());
    assert_eq!(r.json()["published"].as_array().unwrap().len(), 4);
}

async fn introspect(idp: &DevIdp, auth: Option<&str>, body: &str) -> Reply {
    post_form(&idp.introspection_endpoint(), auth, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_and_revocation() {
    let idp = DevIdp::builder().start().await.unwrap();
    let reader = basic("demo-reader", "demo-reader-secret");

    // an opaque token, obtained over HTTP
    let r = token_basic(
        &idp,
        "demo-opaque",
        "demo-opaque-secret",
        "grant_type=client_credentials&resource=orders&scope=orders:read",
    )
    .await;
    assert_eq!(r.status, 200);
    let opaque = r.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(opaque.split('.').count(), 1, "not a JWT");
    assert!(opaque.len() >= 40);
    let form = format!("token={}", form_encode(&opaque));

    // client authentication is required
    let r = introspect(&idp, None, &form).await;
    assert_oauth_error(&r, 401, "invalid_client");
    let r = introspect(&idp, Some(&basic("demo-reader", "wrong")), &form).await;
    assert_oauth_error(&r, 401, "invalid_client");
    let r = introspect(&idp, Some(&reader), "").await;
    assert_oauth_error(&r, 400, "invalid_request");

    // active, with the RFC 7662 members
    let r = introspect(&idp, Some(&reader), &form).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), "no-store");
    let m = r.json();
    assert_eq!(m["active"], true);
    assert_eq!(m["scope"], "orders:read");
    assert_eq!(m["client_id"], "demo-opaque");
    assert_eq!(m["sub"], "demo-opaque");
    assert_eq!(m["iss"], idp.issuer());
    assert_eq!(m["aud"], "orders");
    assert_eq!(m["token_type"], "Bearer");
    assert_eq!(m["exp"].as_i64().unwrap() - m["iat"].as_i64().unwrap(), 300);
    // client_secret_post works for introspection too
    let r = introspect(
        &idp,
        None,
        &format!("{form}&client_id=demo-full&client_secret=demo-full-secret"),
    )
    .await;
    assert_eq!(r.json()["active"], true);

    // JWT access tokens are introspectable as well
    let jwt = idp
        .client_credentials_token("demo-full", &["orders:write"], Some("orders"))
        .await
        .unwrap();
    let r = introspect(&idp, Some(&reader), &format!("token={}", jwt.access_token)).await;
    assert_eq!(
        (&r.json()["active"], &r.json()["scope"]),
        (&json!(true), &json!("orders:write"))
    );

    // unknown tokens are inactive, and say nothing else
    let r = introspect(&idp, Some(&reader), "token=dev_at_nothing").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"active": false}));

    // RFC 7009: another client cannot revoke it (200, no effect); the owner can
    let revoke = |auth: String, body: String| {
        let url = idp.revocation_endpoint();
        async move { post_form(&url, Some(&auth), &body).await }
    };
    let r = revoke(reader.clone(), form.clone()).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        introspect(&idp, Some(&reader), &form).await.json()["active"],
        true
    );
    let r = revoke(basic("demo-opaque", "demo-opaque-secret"), form.clone()).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        introspect(&idp, Some(&reader), &form).await.json(),
        json!({"active": false})
    );
    // revoking again or an unknown token is not an error; unauthenticated is
    assert_eq!(
        revoke(reader.clone(), "token=unknown".into()).await.status,
        200
    );
    let r = post_form(&idp.revocation_endpoint(), None, "token=unknown").await;
    assert_oauth_error(&r, 401, "invalid_client");

    // admin revoke (and the library call) revoke any token
    let other = idp
        .client_credentials_token("demo-opaque", &[], None)
        .await
        .unwrap();
    let r = send(
        Method::POST,
        &format!("{}/admin/revoke", idp.issuer()),
        &[FORM],
        &format!("token={}", form_encode(&other.access_token)),
    )
    .await;
    assert_eq!(r.json()["revoked"], true);
    let r = introspect(
        &idp,
        Some(&reader),
        &format!("token={}", form_encode(&other.access_token)),
    )
    .await;
    assert_eq!(r.json()["active"], false);
    assert!(idp.revoke(&jwt.access_token));
    assert!(!idp.revoke(&jwt.access_token));
    let r = introspect(&idp, Some(&reader), &format!("token={}", jwt.access_token)).await;
    assert_eq!(r.json()["active"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tokens_are_inactive() {
    let idp = DevIdp::builder()
        .token_ttl(Duration::from_secs(1))
        .start()
        .await
        .unwrap();
    let t = idp
        .client_credentials_token("demo-opaque", &[], None)
        .await
        .unwrap();
    assert_eq!(t.expires_in, 1);
    let auth = basic("demo-full", "demo-full-secret");
    let form = format!("token={}", form_encode(&t.access_token));
    assert_eq!(
        introspect(&idp, Some(&auth), &form).await.json()["active"],
        true
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        introspect(&idp, Some(&auth), &form).await.json(),
        json!({"active": false})
    );
}
