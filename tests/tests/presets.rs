//! Identity-provider presets end to end (issue 14): access tokens shaped like those of
//! Keycloak (as measured from Keycloak 26.7.3, see tests/interop/keycloak/README.md),
//! Microsoft Entra ID v2, Auth0, Okta and Amazon Cognito (each from its provider's token
//! reference: header and payload, including the members tollgate ignores), signed with
//! real RSA keys published in a JWKS shaped like the provider's, sent over real HTTP to
//! an axum router guarded by `Tollgate::builder()...preset(..)`.
//!
//! Each provider: the legitimate read and write tokens answer 200 / 201 with the mapped
//! permissions and the normalised client on `/me`; read-only on POST answers 403; the
//! confusion cases (ID tokens, roles on another client, another tenant, the userinfo
//! audience, another app client) answer 401 or 403. The strict default (`rfc9068`)
//! refuses a Keycloak token and logs a hint naming the `keycloak` preset.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{Method, StatusCode};
use axum::routing::get;
use serde_json::{Value, json};
use tollgate_axum::scopes::{all, any, authenticated};
use tollgate_axum::{KeySet, ScopePolicy, Tollgate, VerifiedClaims};
use tollgate_core::Validation;
use tollgate_core::error::{AuthError, ClaimsError};
use tollgate_core::preset::{PermissionSource, Preset};
use tollgate_testkit::{TestKey, now};
use tollgate_tests::{send, serve};

/// A provider under test: its preset, issuer, audiences, JWKS and route policies.
struct Provider {
    preset: Preset,
    iss: &'static str,
    audiences: &'static [&'static str],
    jwks: Value,
    read: ScopePolicy,
    write: ScopePolicy,
    sources: Vec<PermissionSource>,
}

async fn me(claims: VerifiedClaims) -> axum::Json<Value> {
    axum::Json(json!({
        "sub": claims.sub,
        "client_id": claims.client(),
        "scopes": claims.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
    }))
}

/// The orders API: GET needs the read policy, POST the write policy, `/me` any token.
async fn start(p: &Provider) -> String {
    let keys = KeySet::from_jwks(&serde_json::to_vec(&p.jwks).unwrap()).unwrap();
    let mut b = Tollgate::<()>::builder()
        .issuer(p.iss)
        .keys(keys)
        .preset(p.preset);
    for a in p.audiences {
        b = b.audience(a);
    }
    for s in &p.sources {
        b = b.permission_source(s.clone());
    }
    let gate = b.build().await.unwrap();
    let app: Router = Router::new()
        .route(
            "/orders",
            get(|| async { "[]" })
                .route_layer(gate.require(p.read.clone()))
                .merge(
                    axum::routing::post(|| async { (StatusCode::CREATED, "{}") })
                        .route_layer(gate.require(p.write.clone())),
                ),
        )
        .route("/me", get(me).route_layer(gate.require(authenticated())))
        .route_layer(gate.layer());
    serve(app).await
}

/// The same rules in core, to name the exact refusal.
fn validation(p: &Provider) -> (Validation, KeySet) {
    let mut b = Validation::builder().issuer(p.iss).preset(p.preset);
    for a in p.audiences {
        b = b.audience(a);
    }
    for s in &p.sources {
        b = b.permission_source(s.clone());
    }
    let keys = KeySet::from_jwks(&serde_json::to_vec(&p.jwks).unwrap()).unwrap();
    (b.build().unwrap(), keys)
}

fn refusal(p: &Provider, token: &str) -> AuthError {
    let (v, keys) = validation(p);
    v.verify::<()>(token, &keys).unwrap_err()
}

/// Signs exactly this header and payload (members in the given order).
fn mint(key: &TestKey, header: &Value, claims: &Value) -> String {
    key.token()
        .raw_header(&header.to_string())
        .raw_claims(&claims.to_string())
        .sign()
}

async fn status(base: &str, method: Method, path: &str, token: &str) -> StatusCode {
    send(
        method,
        &format!("{base}{path}"),
        &[("authorization", &format!("Bearer {token}"))],
        "",
    )
    .await
    .status
}

async fn whoami(base: &str, token: &str) -> Value {
    let r = send(
        Method::GET,
        &format!("{base}/me"),
        &[("authorization", &format!("Bearer {token}"))],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.json()
}

/// GET, POST as this token expects; and the refusal bodies carry nothing of the token.
async fn expect(base: &str, token: &str, get_: u16, post: u16) {
    assert_eq!(
        status(base, Method::GET, "/orders", token).await.as_u16(),
        get_,
        "GET"
    );
    let r = send(
        Method::POST,
        &format!("{base}/orders"),
        &[("authorization", &format!("Bearer {token}"))],
        "",
    )
    .await;
    assert_eq!(r.status.as_u16(), post, "POST");
    if r.status.as_u16() == 401 {
        let challenge = r.header("www-authenticate");
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
        assert!(
            challenge.contains("error_description=\"The access token is invalid\"")
                || challenge.contains("error_description=\"The access token is malformed\""),
            "{challenge}"
        );
        let payload = token.split('.').nth(1).unwrap();
        assert!(!challenge.contains(&payload[..16]));
    }
}

fn scopes(me: &Value) -> Vec<&str> {
    me["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

/// A one-element x5c / x5t like the providers publish (never read by tollgate).
fn x5(seed: &str) -> (Value, String) {
    let cert = format!("MIICnzCCAYcCBgGZ{}AAAAAAAAAA", b64(seed));
    (json!([cert]), b64(&format!("x5t-{seed}")))
}

fn b64(s: &str) -> String {
    tollgate_testkit::b64url(s)
}

fn rsa_jwk(key: &TestKey) -> serde_json::Map<String, Value> {
    let Value::Object(m) = key.jwk() else {
        unreachable!()
    };
    m
}

// ------------------------------------------------------------------ Keycloak

const KC_ISS: &str = "http://127.0.0.1:60857/realms/tollgate";

fn keycloak_jwks(sig: &TestKey, enc: &TestKey) -> Value {
    // the `enc` RSA-OAEP key first: Keycloak's order is not stable
    let (x5c_e, x5t_e) = x5("enc");
    let (x5c_s, x5t_s) = x5("sig");
    let e = rsa_jwk(enc);
    let s = rsa_jwk(sig);
    json!({"keys": [
        {"kid": enc.kid(), "kty": "RSA", "alg": "RSA-OAEP", "use": "enc", "x5c": x5c_e,
         "x5t": x5t_e, "x5t#S256": b64("enc-s256"), "n": e["n"], "e": e["e"]},
        {"kid": sig.kid(), "kty": "RSA", "alg": "RS256", "use": "sig", "x5c": x5c_s,
         "x5t": x5t_s, "x5t#S256": b64("sig-s256"), "n": s["n"], "e": s["e"]},
    ]})
}

fn keycloak_header(key: &TestKey, typ: &str) -> Value {
    json!({"alg": "RS256", "typ": typ, "kid": key.kid()})
}

/// A service-account access token as Keycloak 26.7.3 issues it.
fn keycloak_service_account(client: &str, roles: Value) -> Value {
    let t = now();
    json!({
        "exp": t + 300, "iat": t, "jti": "trrtcc:9a86c721-18b5-a3af-8701-68ab8948077d",
        "iss": KC_ISS, "aud": ["orders-api", "account"],
        "sub": "38ba7077-60c9-4bd6-b09c-972588443f77", "typ": "Bearer", "azp": client,
        "acr": "1",
        "realm_access": {"roles": ["offline_access", "uma_authorization", "default-roles-tollgate"]},
        "resource_access": roles,
        "scope": "email profile", "email_verified": false, "clientHost": "127.0.0.1",
        "preferred_username": format!("service-account-{client}"),
        "clientAddress": "127.0.0.1", "client_id": client,
    })
}

fn account_roles() -> Value {
    json!({"roles": ["manage-account", "manage-account-links", "view-profile"]})
}

fn keycloak(sig: &TestKey, enc: &TestKey) -> Provider {
    Provider {
        preset: Preset::Keycloak,
        iss: KC_ISS,
        audiences: &["orders-api"],
        jwks: keycloak_jwks(sig, enc),
        read: all(["orders:read"]),
        write: all(["orders:write"]),
        sources: Vec::new(),
    }
}

#[tokio::test]
async fn keycloak_tokens() {
    let sig = TestKey::rsa("hQLgNUr_WEhm7iMVF6psO5cIS1f3RxuwvvUcQow8xhQ");
    let enc = TestKey::rsa("VkNhlyFKhMmsBCT7DNe573MyWuPP3ZrOm-ilt8QcWjk");
    let p = keycloak(&sig, &enc);
    let base = start(&p).await;
    let h = keycloak_header(&sig, "JWT");

    // reader (orders-client): read yes, write 403; realm and own client roles mapped
    let reader = mint(
        &sig,
        &h,
        &keycloak_service_account(
            "orders-client",
            json!({"orders-api": {"roles": ["orders:read"]}, "account": account_roles()}),
        ),
    );
    expect(&base, &reader, 200, 403).await;
    for _ in 0..3 {
        // the verified-token cache answers from the third call on: same answer
        let m = whoami(&base, &reader).await;
        assert_eq!(m["client_id"], "orders-client");
        assert_eq!(
            scopes(&m),
            [
                "default-roles-tollgate",
                "email",
                "offline_access",
                "orders:read",
                "profile",
                "uma_authorization"
            ]
        );
    }

    // writer (orders-writer)
    let writer = mint(
        &sig,
        &h,
        &keycloak_service_account(
            "orders-writer",
            json!({"orders-api": {"roles": ["orders:read", "orders:write"]}, "account": account_roles()}),
        ),
    );
    expect(&base, &writer, 200, 201).await;

    // the client with `access.token.header.type.rfc9068`: header typ at+jwt
    let rfc = mint(
        &sig,
        &keycloak_header(&sig, "at+jwt"),
        &keycloak_service_account(
            "orders-rfc9068",
            json!({"orders-api": {"roles": ["orders:read"]}, "account": account_roles()}),
        ),
    );
    expect(&base, &rfc, 200, 403).await;

    // alice (password grant): azp, no client_id, a sid and user claims
    let t = now();
    let alice = mint(
        &sig,
        &h,
        &json!({
            "exp": t + 300, "iat": t, "jti": "onrtro:1c5e4a0b-6bd3-44f1-b7b6-3fd9e0a3b0e1",
            "iss": KC_ISS, "aud": ["orders-api", "account"],
            "sub": "c7884ace-c8e5-462a-869a-f5599f780cd5", "typ": "Bearer", "azp": "orders-cli",
            "sid": "0p0LjNouGhXHuWI_K54kYigA", "acr": "1",
            "allowed-origins": ["/*"],
            "realm_access": {"roles": ["offline_access", "uma_authorization", "default-roles-tollgate"]},
            "resource_access": {"orders-api": {"roles": ["orders:read"]}, "account": account_roles()},
            "scope": "openid email profile", "email_verified": true, "name": "Alice Tester",
            "preferred_username": "alice", "given_name": "Alice", "family_name": "Tester",
            "email": "alice@example.test",
        }),
    );
    expect(&base, &alice, 200, 403).await;
    let m = whoami(&base, &alice).await;
    assert_eq!(m["client_id"], "orders-cli");
    assert_eq!(m["sub"], "c7884ace-c8e5-462a-869a-f5599f780cd5");

    // roles held on ANOTHER client (other-client's own orders:read/write): 403, both
    let other = mint(
        &sig,
        &h,
        &keycloak_service_account(
            "other-client",
            json!({"other-client": {"roles": ["orders:read", "orders:write"]}, "account": account_roles()}),
        ),
    );
    expect(&base, &other, 403, 403).await;
    let m = whoami(&base, &other).await;
    assert!(!scopes(&m).contains(&"orders:read"), "{m}");

    // the ID token: same header, key and issuer, orders-api in aud; payload typ ID
    let id = mint(
        &sig,
        &h,
        &json!({
            "exp": t + 300, "iat": t, "jti": "8c07c836-9996-f10d-a951-c5e807820513",
            "iss": KC_ISS, "aud": ["orders-cli", "orders-api"],
            "sub": "c7884ace-c8e5-462a-869a-f5599f780cd5", "typ": "ID", "azp": "orders-cli",
            "sid": "0p0LjNouGhXHuWI_K54kYigA", "at_hash": "BggpighpxD3j0An8uR0DnQ", "acr": "1",
            "email_verified": true, "name": "Alice Tester", "preferred_username": "alice",
            "given_name": "Alice", "family_name": "Tester", "email": "alice@example.test",
        }),
    );
    expect(&base, &id, 401, 401).await;
    assert_eq!(
        refusal(&p, &id),
        AuthError::Claims(ClaimsError::NotAnAccessToken {
            preset: Preset::Keycloak,
            claim: "typ"
        })
    );

    // a refresh-token-shaped payload (typ Refresh) signed by the realm key: refused
    // by the token-kind check before its aud (the issuer URL) is looked at
    let refresh = mint(
        &sig,
        &h,
        &json!({"exp": t + 1800, "iat": t, "jti": "f0c3", "iss": KC_ISS, "aud": KC_ISS,
                "sub": "c7884ace", "typ": "Refresh", "azp": "orders-cli",
                "aud_x": ["orders-api", "account"], "sid": "0p0L",
                "scope": "openid basic email acr profile web-origins roles"}),
    );
    expect(&base, &refresh, 401, 401).await;
    assert!(matches!(
        refusal(&p, &refresh),
        AuthError::Claims(ClaimsError::NotAnAccessToken { claim: "typ", .. })
    ));

    // no payload typ at all: refused too
    let mut bare = keycloak_service_account(
        "orders-client",
        json!({"orders-api": {"roles": ["orders:read"]}}),
    );
    bare.as_object_mut().unwrap().remove("typ");
    expect(&base, &mint(&sig, &h, &bare), 401, 401).await;

    // a token signed with the published `enc` key is not verified by it
    let by_enc = mint(
        &enc,
        &keycloak_header(&enc, "JWT"),
        &keycloak_service_account(
            "orders-client",
            json!({"orders-api": {"roles": ["orders:read"]}}),
        ),
    );
    expect(&base, &by_enc, 401, 401).await;
}

#[test]
fn keycloak_jwks_loads_the_signing_key_only() {
    let sig = TestKey::rsa("sig-1");
    let enc = TestKey::rsa("enc-1");
    let parsed =
        KeySet::parse_jwks(&serde_json::to_vec(&keycloak_jwks(&sig, &enc)).unwrap()).unwrap();
    assert_eq!(parsed.keys.kids().collect::<Vec<_>>(), ["sig-1"]);
    assert_eq!(parsed.skipped.len(), 1);
    assert_eq!(parsed.skipped[0].kid.as_deref(), Some("enc-1"));
}

// ------------------------------------------------------------------ Entra ID

const TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";
const ENTRA_ISS: &str =
    "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0";
const ENTRA_APP: &str = "6e74172b-be56-4843-9ff4-e66a39bb12e3";

fn entra_jwks(key: &TestKey) -> Value {
    // Entra: no `alg`, `x5t` = kid, `x5c`, and an `issuer` member with a placeholder
    let (x5c, _) = x5("entra");
    let k = rsa_jwk(key);
    json!({"keys": [
        {"kty": "RSA", "use": "sig", "kid": key.kid(), "x5t": key.kid(), "n": k["n"], "e": "AQAB",
         "x5c": x5c, "cloud_instance_name": "microsoftonline.com",
         "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0"},
    ]})
}

fn entra_header(key: &TestKey) -> Value {
    json!({"typ": "JWT", "alg": "RS256", "x5t": key.kid(), "kid": key.kid()})
}

fn entra_common(iss: &str, tid: &str) -> serde_json::Map<String, Value> {
    let t = now();
    let Value::Object(m) = json!({
        "aud": ENTRA_APP, "iss": iss, "iat": t, "nbf": t, "exp": t + 3600,
        "aio": "ATQAy/8TAAAAt1a6/kCH0HXQ", "oid": "690222be-ff1a-4d56-abd1-7e4f7d38e474",
        "rh": "0.ARoAv4j5cvGGr0GRqy180BHbR2V0Fx0rvlZIn_TmajmxEuMaAAA.",
        "sub": "l3_roISQU222bULS9yi2k0XpqpOiMz5H3ZACo1GeXA", "tid": tid,
        "uti": "fqiBqXLPj0eQa82S-IYFAA", "ver": "2.0",
    }) else {
        unreachable!()
    };
    m
}

fn entra_delegated(scp: &str) -> Value {
    let mut m = entra_common(ENTRA_ISS, TENANT);
    m.insert("azp".into(), "0a7b3c9e-1f2d-4e5a-8b6c-7d8e9f0a1b2c".into());
    m.insert("azpacr".into(), "0".into());
    m.insert("name".into(), "Abe Lincoln".into());
    m.insert("preferred_username".into(), "abeli@example.com".into());
    m.insert("scp".into(), scp.into());
    Value::Object(m)
}

fn entra_app_only(roles: &[&str]) -> Value {
    let mut m = entra_common(ENTRA_ISS, TENANT);
    m.insert("azp".into(), "5c1f2d3e-4a5b-6c7d-8e9f-0a1b2c3d4e5f".into());
    m.insert("azpacr".into(), "1".into());
    m.insert("idtyp".into(), "app".into());
    m.insert("roles".into(), json!(roles));
    Value::Object(m)
}

fn entra(key: &TestKey) -> Provider {
    Provider {
        preset: Preset::Entra,
        iss: ENTRA_ISS,
        audiences: &[ENTRA_APP, "api://orders"],
        jwks: entra_jwks(key),
        read: any(["Orders.Read", "Orders.ReadWrite"]),
        write: all(["Orders.ReadWrite"]),
        sources: Vec::new(),
    }
}

#[tokio::test]
async fn entra_tokens() {
    let key = TestKey::rsa("-KI3Q9nNR7bRofxmeZoXqbHZGew");
    let p = entra(&key);
    let base = start(&p).await;
    let h = entra_header(&key);

    // delegated: scp is a space-delimited string
    let reader = mint(&key, &h, &entra_delegated("Orders.Read User.Read"));
    expect(&base, &reader, 200, 403).await;
    let m = whoami(&base, &reader).await;
    assert_eq!(m["client_id"], "0a7b3c9e-1f2d-4e5a-8b6c-7d8e9f0a1b2c");
    assert_eq!(scopes(&m), ["Orders.Read", "User.Read"]);

    // app-only: roles array
    let writer = mint(&key, &h, &entra_app_only(&["Orders.ReadWrite"]));
    expect(&base, &writer, 200, 201).await;
    let m = whoami(&base, &writer).await;
    assert_eq!(m["client_id"], "5c1f2d3e-4a5b-6c7d-8e9f-0a1b2c3d4e5f");
    assert_eq!(scopes(&m), ["Orders.ReadWrite"]);

    // the App ID URI as aud (configured too)
    let mut by_uri = entra_delegated("Orders.ReadWrite");
    by_uri["aud"] = "api://orders".into();
    expect(&base, &mint(&key, &h, &by_uri), 200, 201).await;

    // another tenant: same key set (Entra's keys are shared across tenants), other iss
    let other_tid = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    let mut other = entra_common(
        &format!("https://login.microsoftonline.com/{other_tid}/v2.0"),
        other_tid,
    );
    other.insert("azp".into(), "0a7b3c9e-1f2d-4e5a-8b6c-7d8e9f0a1b2c".into());
    other.insert("scp".into(), "Orders.ReadWrite".into());
    let other = mint(&key, &h, &Value::Object(other));
    expect(&base, &other, 401, 401).await;
    assert_eq!(
        refusal(&p, &other),
        AuthError::Claims(ClaimsError::IssuerNotAllowed)
    );

    // a v1 token (ver 1.0) presented under the v2 issuer: refused by the kind check
    let mut v1 = entra_delegated("Orders.ReadWrite");
    v1["ver"] = "1.0".into();
    v1["appid"] = "0a7b3c9e-1f2d-4e5a-8b6c-7d8e9f0a1b2c".into();
    let v1 = mint(&key, &h, &v1);
    expect(&base, &v1, 401, 401).await;
    assert_eq!(
        refusal(&p, &v1),
        AuthError::Claims(ClaimsError::NotAnAccessToken {
            preset: Preset::Entra,
            claim: "ver"
        })
    );

    // a `scope` claim is not Entra's: it grants nothing
    let mut odd = entra_delegated("User.Read");
    odd["scope"] = "Orders.ReadWrite".into();
    expect(&base, &mint(&key, &h, &odd), 403, 403).await;
}

#[test]
fn entra_jwks_without_alg_loads() {
    let key = TestKey::rsa("entra-1");
    let parsed = KeySet::parse_jwks(&serde_json::to_vec(&entra_jwks(&key)).unwrap()).unwrap();
    assert_eq!(parsed.keys.len(), 1);
    assert!(parsed.skipped.is_empty());
}

// ------------------------------------------------------------------ Auth0

const AUTH0_ISS: &str = "https://tollgate.eu.auth0.com/";
const AUTH0_API: &str = "https://orders.example.com";
const AUTH0_USERINFO: &str = "https://tollgate.eu.auth0.com/userinfo";

fn auth0_jwks(key: &TestKey) -> Value {
    let (x5c, x5t) = x5("auth0");
    let k = rsa_jwk(key);
    json!({"keys": [{"kty": "RSA", "use": "sig", "n": k["n"], "e": "AQAB", "kid": key.kid(),
                     "x5t": x5t, "x5c": x5c, "alg": "RS256"}]})
}

fn auth0(key: &TestKey) -> Provider {
    Provider {
        preset: Preset::Auth0,
        iss: AUTH0_ISS,
        audiences: &[AUTH0_API],
        jwks: auth0_jwks(key),
        read: all(["read:orders"]),
        write: all(["write:orders"]),
        sources: Vec::new(),
    }
}

#[tokio::test]
async fn auth0_tokens() {
    let key = TestKey::rsa("NjVBRjY5MDlCMUIwNzU4RTA2QzZFMDQ4QzQ2MDAyQjVDNjk1RTM2Qg");
    let p = auth0(&key);
    let base = start(&p).await;
    let h = json!({"alg": "RS256", "typ": "JWT", "kid": key.kid()});
    let t = now();

    // a user's token (SPA): aud holds the API and the userinfo URL; RBAC permissions
    let user = mint(
        &key,
        &h,
        &json!({"iss": AUTH0_ISS, "sub": "auth0|65019a0c3b4f5e6d7c8b9a01",
                "aud": [AUTH0_API, AUTH0_USERINFO], "iat": t, "exp": t + 86400,
                "scope": "openid profile email", "azp": "Xk1v9Y3nQ2p8R7s6T5u4V3w2",
                "permissions": ["read:orders"]}),
    );
    expect(&base, &user, 200, 403).await;
    let m = whoami(&base, &user).await;
    assert_eq!(m["client_id"], "Xk1v9Y3nQ2p8R7s6T5u4V3w2");
    assert_eq!(scopes(&m), ["email", "openid", "profile", "read:orders"]);

    // machine to machine (client credentials): gty, sub = <client>@clients
    let m2m = mint(
        &key,
        &h,
        &json!({"iss": AUTH0_ISS, "sub": "M2mClientId0123456789@clients", "aud": AUTH0_API,
                "iat": t, "exp": t + 86400, "scope": "read:orders write:orders",
                "gty": "client-credentials", "azp": "M2mClientId0123456789",
                "permissions": ["read:orders", "write:orders"]}),
    );
    expect(&base, &m2m, 200, 201).await;

    // the RFC 9068 token profile of Auth0: typ at+jwt, client_id instead of azp
    let rfc = mint(
        &key,
        &json!({"alg": "RS256", "typ": "at+jwt", "kid": key.kid()}),
        &json!({"iss": AUTH0_ISS, "sub": "M2mClientId0123456789@clients", "aud": AUTH0_API,
                "iat": t, "exp": t + 86400, "scope": "read:orders", "jti": "b3f1",
                "client_id": "M2mClientId0123456789", "permissions": ["read:orders"]}),
    );
    expect(&base, &rfc, 200, 403).await;
    assert_eq!(
        whoami(&base, &rfc).await["client_id"],
        "M2mClientId0123456789"
    );

    // only the userinfo URL as audience (a login token without `audience=`): 401
    let userinfo = mint(
        &key,
        &h,
        &json!({"iss": AUTH0_ISS, "sub": "auth0|65019a0c3b4f5e6d7c8b9a01",
                "aud": AUTH0_USERINFO, "iat": t, "exp": t + 86400,
                "scope": "openid profile email read:orders write:orders",
                "azp": "Xk1v9Y3nQ2p8R7s6T5u4V3w2"}),
    );
    expect(&base, &userinfo, 401, 401).await;
    assert_eq!(
        refusal(&p, &userinfo),
        AuthError::Claims(ClaimsError::AudienceMismatch)
    );
}

// ------------------------------------------------------------------ Okta

const OKTA_ISS: &str = "https://tollgate.okta.com/oauth2/default";

fn okta(key: &TestKey) -> Provider {
    let k = rsa_jwk(key);
    Provider {
        preset: Preset::Okta,
        iss: OKTA_ISS,
        audiences: &["api://default"],
        jwks: json!({"keys": [{"kty": "RSA", "alg": "RS256", "kid": key.kid(), "use": "sig",
                               "e": "AQAB", "n": k["n"]}]}),
        read: all(["orders:read"]),
        write: all(["orders:write"]),
        sources: Vec::new(),
    }
}

#[tokio::test]
async fn okta_tokens() {
    let key = TestKey::rsa("ZhRYp3S5U0iUPkD0w6mNgnRzR7dC6rM5FXsRr8cX3Xk");
    let p = okta(&key);
    let base = start(&p).await;
    let h = json!({"kid": key.kid(), "alg": "RS256"});
    let t = now();

    let user = mint(
        &key,
        &h,
        &json!({"ver": 1, "jti": "AT.0mP4JKAZX1iACIT4vbEDF7LpvDVjxypPMf0D7uX39RE",
                "iss": OKTA_ISS, "aud": "api://default", "iat": t, "exp": t + 3600,
                "cid": "0oa1b2c3d4e5f6g7h8i9", "uid": "00uid4BxXw6I6TV4m0g3",
                "scp": ["openid", "email", "orders:read"], "auth_time": t - 10,
                "sub": "alice@example.com"}),
    );
    expect(&base, &user, 200, 403).await;
    let m = whoami(&base, &user).await;
    assert_eq!(m["client_id"], "0oa1b2c3d4e5f6g7h8i9");
    assert_eq!(scopes(&m), ["email", "openid", "orders:read"]);

    // client credentials; a `typ: JWT` header is accepted too
    let service = mint(
        &key,
        &json!({"kid": key.kid(), "alg": "RS256", "typ": "JWT"}),
        &json!({"ver": 1, "jti": "AT.x3Lw", "iss": OKTA_ISS, "aud": "api://default",
                "iat": t, "exp": t + 3600, "cid": "0oaservice0123456789",
                "scp": ["orders:read", "orders:write"], "sub": "0oaservice0123456789"}),
    );
    expect(&base, &service, 200, 201).await;

    // Okta's ID token: aud = the client id, no scp
    let id = mint(
        &key,
        &h,
        &json!({"sub": "00uid4BxXw6I6TV4m0g3", "ver": 1, "iss": OKTA_ISS,
                "aud": "0oa1b2c3d4e5f6g7h8i9", "iat": t, "exp": t + 3600,
                "jti": "ID.4eAWJOCMB3SX8XewDfVR", "amr": ["pwd"], "idp": "00ok1u7AsAkrwdZL3z0g3",
                "nonce": "n-0S6_WzA2Mj", "auth_time": t - 10, "at_hash": "preYHUBHmDAXT0tH7AH1oQ"}),
    );
    expect(&base, &id, 401, 401).await;
}

// ------------------------------------------------------------------ Cognito

const COGNITO_ISS: &str = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEfGhI";
const COGNITO_APP: &str = "3n4b5urk1ft4fl3mg5e62d9ado";

fn cognito(key: &TestKey) -> Provider {
    let k = rsa_jwk(key);
    Provider {
        preset: Preset::Cognito,
        iss: COGNITO_ISS,
        audiences: &[COGNITO_APP],
        jwks: json!({"keys": [{"alg": "RS256", "e": "AQAB", "kid": key.kid(), "kty": "RSA",
                               "n": k["n"], "use": "sig"}]}),
        read: any(["orders/read", "orders-readers", "orders-writers"]),
        write: any(["orders/write", "orders-writers"]),
        sources: Vec::new(),
    }
}

fn cognito_access(client: &str, scope: &str) -> Value {
    let t = now();
    json!({"sub": client, "token_use": "access", "scope": scope, "auth_time": t, "iss": COGNITO_ISS,
           "exp": t + 3600, "iat": t, "version": 2, "jti": "8e5b7c1a-2f3d-4e6a-9b8c-7d6e5f4a3b2c",
           "client_id": client})
}

#[tokio::test]
async fn cognito_tokens() {
    let key = TestKey::rsa("1a2b3c4d5e6f7g8h9i0jKLMNOPQRSTUVwxyz=");
    let p = cognito(&key);
    let base = start(&p).await;
    let h = json!({"kid": key.kid(), "alg": "RS256"});
    let t = now();

    // client credentials with a custom scope of resource server `orders`
    let reader = mint(&key, &h, &cognito_access(COGNITO_APP, "orders/read"));
    expect(&base, &reader, 200, 403).await;
    let m = whoami(&base, &reader).await;
    assert_eq!(m["client_id"], COGNITO_APP);

    // a user's access token; the write permission comes from a group
    let user = mint(
        &key,
        &h,
        &json!({"sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
                "cognito:groups": ["orders-writers"],
                "iss": COGNITO_ISS, "version": 2, "client_id": COGNITO_APP,
                "origin_jti": "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e",
                "event_id": "d4e5f6a7-b8c9-4d0e-1f2a-3b4c5d6e7f8a",
                "token_use": "access", "scope": "aws.cognito.signin.user.admin openid",
                "auth_time": t, "exp": t + 3600, "iat": t,
                "jti": "c2d3e4f5-a6b7-4c8d-9e0f-1a2b3c4d5e6f", "username": "alice"}),
    );
    expect(&base, &user, 200, 201).await;
    let m = whoami(&base, &user).await;
    assert_eq!(
        scopes(&m),
        ["aws.cognito.signin.user.admin", "openid", "orders-writers"]
    );

    // Cognito's ID token: aud = the app client id, token_use id
    let id = mint(
        &key,
        &h,
        &json!({"sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
                "cognito:groups": ["orders-writers"], "email_verified": true,
                "iss": COGNITO_ISS, "cognito:username": "alice",
                "origin_jti": "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e", "aud": COGNITO_APP,
                "event_id": "d4e5f6a7-b8c9-4d0e-1f2a-3b4c5d6e7f8a", "token_use": "id",
                "auth_time": t, "exp": t + 3600, "iat": t,
                "jti": "e4f5a6b7-c8d9-4e0f-1a2b-3c4d5e6f7a8b", "email": "alice@example.com"}),
    );
    expect(&base, &id, 401, 401).await;
    assert_eq!(
        refusal(&p, &id),
        AuthError::Claims(ClaimsError::NotAnAccessToken {
            preset: Preset::Cognito,
            claim: "token_use"
        })
    );

    // another app client of the same user pool
    let other = mint(
        &key,
        &h,
        &cognito_access("7abc9def0ghi1jkl2mno3pqr4s", "orders/write"),
    );
    expect(&base, &other, 401, 401).await;
    assert_eq!(
        refusal(&p, &other),
        AuthError::Claims(ClaimsError::ClientNotAllowed)
    );

    // an access token WITH an aud (never issued by Cognito): refused
    let mut with_aud = cognito_access(COGNITO_APP, "orders/write");
    with_aud["aud"] = COGNITO_APP.into();
    let with_aud = mint(&key, &h, &with_aud);
    expect(&base, &with_aud, 401, 401).await;
    assert_eq!(
        refusal(&p, &with_aud),
        AuthError::Claims(ClaimsError::UnexpectedAudience {
            preset: Preset::Cognito
        })
    );

    // a header typ: not Cognito's
    let typed = mint(
        &key,
        &json!({"kid": key.kid(), "alg": "RS256", "typ": "JWT"}),
        &cognito_access(COGNITO_APP, "orders/read"),
    );
    expect(&base, &typed, 401, 401).await;
}

// ------------------------------------------------------------------ generic

/// The permission mapping API: any claim, a prefix, the same scope policies.
#[tokio::test]
async fn custom_permission_source() {
    let key = TestKey::rsa("custom-1");
    let p = Provider {
        preset: Preset::Jwt,
        iss: "https://idp.example",
        audiences: &["orders"],
        jwks: TestKey::jwks([&key]),
        read: any(["orders:read", "group:staff"]),
        write: all(["group:admins"]),
        sources: vec![
            PermissionSource::claim("groups").prefix("group:"),
            PermissionSource::claim("https://example.com/claims.perms"),
        ],
    };
    let base = start(&p).await;
    let h = json!({"alg": "RS256", "typ": "JWT", "kid": key.kid()});
    let t = now();
    let token = |groups: Value| {
        mint(
            &key,
            &h,
            &json!({"iss": "https://idp.example", "aud": "orders", "exp": t + 60,
                    "sub": "bob", "azp": "web", "groups": groups,
                    "https://example.com/claims.perms": "reports:view"}),
        )
    };
    let admin = token(json!(["admins", "Team Blue"]));
    expect(&base, &admin, 403, 201).await;
    let m = whoami(&base, &admin).await;
    // "Team Blue" is not a scope-token once prefixed: skipped, the token still passes
    assert_eq!(scopes(&m), ["group:admins", "reports:view"]);
    assert_eq!(m["client_id"], "web");
    expect(&base, &token(json!("staff")), 200, 403).await;
}

/// A tracing subscriber that keeps the formatted events (for the hint test).
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
}

impl tracing::Subscriber for Capture {
    fn register_callsite(
        &self,
        _: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut line = event.metadata().target().to_owned();
        event.record(&mut Fields(&mut line));
        self.0.lock().unwrap().push(line);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// The strict default refuses Keycloak's `typ: JWT` token, and says why in the log.
#[tokio::test]
async fn rfc9068_default_refuses_keycloak_with_a_hint() {
    // global (once per test binary): a thread-scoped subscriber misses events when
    // other tests register the same callsites first; other tests' lines are kept too
    static CAPTURE: std::sync::OnceLock<Capture> = std::sync::OnceLock::new();
    let capture = CAPTURE
        .get_or_init(|| {
            let c = Capture::default();
            tracing::subscriber::set_global_default(c.clone()).unwrap();
            c
        })
        .clone();

    let sig = TestKey::rsa("kc-sig");
    let enc = TestKey::rsa("kc-enc");
    let mut p = keycloak(&sig, &enc);
    p.preset = Preset::Rfc9068;
    let base = start(&p).await;
    let token = mint(
        &sig,
        &keycloak_header(&sig, "JWT"),
        &keycloak_service_account(
            "orders-client",
            json!({"orders-api": {"roles": ["orders:read"]}, "account": account_roles()}),
        ),
    );
    expect(&base, &token, 401, 401).await;

    let lines = capture.0.lock().unwrap().clone();
    let hint = lines
        .iter()
        .find(|l| {
            l.starts_with("tollgate::preset")
                && l.contains(
                    "typ JWT refused by preset rfc9068; tokens from Keycloak need preset keycloak",
                )
        })
        .unwrap_or_else(|| panic!("no hint in {lines:#?}"));
    assert!(
        hint.contains("check=typ not allowed by the token profile"),
        "{hint}"
    );
    // the tower layer's audit event names the failed check as well
    assert!(
        lines.iter().any(|l| l.starts_with("tollgate::audit")
            && l.contains("reason=\"bad_header\"")
            && l.contains("detail=typ not allowed by the token profile")),
        "{lines:#?}"
    );
    // refusal logs name claims and fixed words, never the token's values (other
    // tests' lines are here too: the tower scope layer logs the verified `sub` of an
    // authenticated caller on 403, which is not a refusal of the token)
    let refusals = lines
        .iter()
        .filter(|l| l.starts_with("tollgate::preset") || l.contains("bearer token refused"));
    for line in refusals {
        for secret in [
            "38ba7077-60c9-4bd6-b09c-972588443f77",
            "trrtcc:9a86c721",
            &token[..40],
            token.split('.').nth(1).unwrap(),
        ] {
            assert!(!line.contains(secret), "{line}");
        }
    }
}
