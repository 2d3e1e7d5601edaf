//! Interop with a real Keycloak 26 (issue 14, point 7), started on loopback and
//! provisioned by tests/interop/keycloak/interop.sh (see the README beside it for the
//! realm and the exact shape of its tokens).
//!
//! The axum-orders router is configured as a user would: `TOLLGATE_ISSUER` = the realm,
//! `TOLLGATE_AUDIENCE=orders-api`, `TOLLGATE_PRESET=keycloak`, keys by discovery (no
//! JWKS URL). Then, in order:
//!
//! 1. client-credentials tokens fetched by tollgate-client (discovery of the token
//!    endpoint, client_secret_basic): the reader (role `orders:read` of orders-api) gets
//!    200 on GET /orders and 403 `insufficient_scope` on POST; the writer 201; /me shows
//!    the client and the orders-api roles; `other-client`, whose token has `aud`
//!    orders-api but holds same-named roles on *its own* client, gets 403;
//! 2. an ID token of alice (password grant, `scope=openid`, `orders-api` in its `aud`,
//!    same issuer and key) and her refresh token are refused with 401 `invalid_token`,
//!    while her access token is accepted;
//! 3. a token with header `typ: at+jwt` (client with Keycloak's RFC 9068 switch) is
//!    accepted;
//! 4. realm key rotation under load: 4 tasks fetch fresh tokens and call GET /orders
//!    while tests/interop/keycloak/rotate.sh adds a new active key (and then makes the
//!    old one passive); not one request may fail, and enough must run both with tokens
//!    of the old key and of the new one.
//!
//! Needs the `KEYCLOAK_*` variables set by interop.sh; without `KEYCLOAK_ISSUER` the test
//! prints "skipped: KEYCLOAK_ISSUER not set" and passes, so a plain `cargo test` skips it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use http::Method;
use tollgate_client::{AccessToken, ClientAuth, ClientCredentials, TokenEndpoint, TokenSource};
use tollgate_tests::{Reply, call_orders as call, send};

const INSUFFICIENT_WRITE: &str = r#"Bearer realm="orders", error="insufficient_scope", error_description="The access token lacks the required scope", scope="orders:write""#;
const INVALID: &str = r#"Bearer realm="orders", error="invalid_token", error_description="The access token is invalid""#;
const INSUFFICIENT_READ: &str = r#"Bearer realm="orders", error="insufficient_scope", error_description="The access token lacks the required scope", scope="orders:read""#;

/// The realm as provisioned by tests/interop/keycloak/provision.sh.
struct Kc {
    issuer: String,
    token_url: String,
    audience: String,
    reader: (String, String),
    writer: (String, String),
    other: (String, String),
    rfc9068: Option<(String, String)>,
    public_client: String,
    user: (String, String),
    rotate: String,
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("KEYCLOAK_ISSUER is set but {name} is not (run through tests/interop/keycloak/interop.sh)")
    })
}

fn client(prefix: &str) -> (String, String) {
    (
        var(&format!("KEYCLOAK_{prefix}_CLIENT_ID")),
        var(&format!("KEYCLOAK_{prefix}_CLIENT_SECRET")),
    )
}

fn kc() -> Option<Kc> {
    let issuer = std::env::var("KEYCLOAK_ISSUER").ok()?;
    Some(Kc {
        issuer,
        token_url: var("KEYCLOAK_TOKEN_URL"),
        audience: var("KEYCLOAK_AUDIENCE"),
        reader: client("READER"),
        writer: client("WRITER"),
        other: client("OTHER"),
        rfc9068: std::env::var("KEYCLOAK_RFC9068_CLIENT_ID")
            .ok()
            .map(|_| client("RFC9068")),
        public_client: var("KEYCLOAK_PUBLIC_CLIENT_ID"),
        user: (var("KEYCLOAK_USER"), var("KEYCLOAK_USER_PASSWORD")),
        rotate: var("KEYCLOAK_ROTATE"),
    })
}

/// A tollgate-client client-credentials source for `client`: token endpoint by discovery,
/// client_secret_basic, no scope parameter (Keycloak grants the client's roles).
async fn source(kc: &Kc, client: &(String, String)) -> ClientCredentials {
    let endpoint = TokenEndpoint::discover(&kc.issuer)
        .await
        .unwrap()
        .client_auth(ClientAuth::client_secret_basic(&client.0, &client.1));
    assert_eq!(
        endpoint.uri().to_string(),
        kc.token_url,
        "discovered token endpoint"
    );
    ClientCredentials::builder(endpoint).build().unwrap()
}

async fn fresh_token(source: &ClientCredentials) -> String {
    source.token().await.unwrap().secret().to_owned()
}

/// Forgets the cached token and fetches a new one.
async fn refetch(source: &ClientCredentials, old: &str) -> String {
    source.invalidate(&AccessToken::new(old));
    fresh_token(source).await
}

fn part(token: &str, i: usize) -> serde_json::Value {
    let p = token.split('.').nth(i).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p)
            .unwrap(),
    )
    .unwrap()
}

fn header_of(token: &str) -> serde_json::Value {
    part(token, 0)
}

fn payload_of(token: &str) -> serde_json::Value {
    part(token, 1)
}

fn kid_of(token: &str) -> String {
    header_of(token)["kid"].as_str().unwrap().to_owned()
}

/// axum-orders configured by discovery, with `TOLLGATE_PRESET` when `preset` is given.
async fn start_orders(kc: &Kc, preset: Option<&str>) -> String {
    let mut env: HashMap<&str, String> = [
        ("TOLLGATE_ISSUER", kc.issuer.clone()),
        ("TOLLGATE_AUDIENCE", kc.audience.clone()),
    ]
    .into_iter()
    .collect();
    if let Some(p) = preset {
        env.insert("TOLLGATE_PRESET", p.to_owned());
    }
    let config = axum_orders::Config::from_lookup(|k| env.get(k).cloned()).unwrap();
    assert!(
        config.gate.issuers[0].jwks_uri.is_none(),
        "configured by discovery"
    );
    let gate = config.tollgate().build().await.unwrap();
    tollgate_tests::serve(axum_orders::router(&gate)).await
}

/// Statuses observed, printed at the end as the record of the run, and the
/// expectations on answer bodies that failed (reported together at the end, so that one
/// wrong field does not hide the statuses of the cases after it).
#[derive(Default)]
struct Record(Vec<String>, Vec<String>);

impl Record {
    fn expect(&mut self, ok: bool, what: impl Into<String>) {
        if !ok {
            let what = what.into();
            eprintln!("keycloak: EXPECTATION FAILED: {what}");
            self.1.push(what);
        }
    }

    fn check(&mut self, what: &str, r: &Reply, status: u16, challenge: Option<&str>) {
        let line = format!(
            "{what}: {} {}",
            r.status.as_u16(),
            r.header("www-authenticate")
        );
        eprintln!("keycloak: {line}");
        assert_eq!(r.status.as_u16(), status, "{what}: {:?}", r.body);
        if let Some(c) = challenge {
            assert_eq!(r.header("www-authenticate"), c, "{what}");
        }
        self.0.push(line);
    }
}

/// One test, run in order: the rotation changes the realm's keys for what follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keycloak() {
    let Some(kc) = kc() else {
        eprintln!(
            "skipped: KEYCLOAK_ISSUER not set (tests/interop/keycloak/interop.sh sets it; tests/interop/run.sh runs it)"
        );
        return;
    };
    let t0 = Instant::now();
    let base = start_orders(&kc, Some("keycloak")).await;
    let mut rec = Record::default();
    roles_from_client_credentials(&kc, &base, &mut rec).await;
    id_and_refresh_tokens_refused(&kc, &base, &mut rec).await;
    rfc9068_header(&kc, &base, &mut rec).await;
    default_preset_refuses(&kc, &mut rec).await;
    rotation_under_load(&kc, &base).await;
    eprintln!(
        "keycloak: {} cases against {} in {:.1} s; {} expectation(s) failed",
        rec.0.len(),
        kc.issuer,
        t0.elapsed().as_secs_f64(),
        rec.1.len()
    );
    assert!(rec.1.is_empty(), "failed expectations: {:#?}", rec.1);
}

/// What a refused token and the realm's keys looked like (test realm, throw-away values).
async fn diagnose(kc: &Kc, token: &str) {
    let jwks = send(
        Method::GET,
        &format!("{}/protocol/openid-connect/certs", kc.issuer),
        &[],
        "",
    )
    .await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    eprintln!(
        "keycloak: DIAGNOSIS now={now}\n header {}\n payload {}\n jwks {}",
        header_of(token),
        payload_of(token),
        String::from_utf8_lossy(&jwks.body)
    );
}

fn scopes_of(me: &serde_json::Value) -> Vec<String> {
    me["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

async fn roles_from_client_credentials(kc: &Kc, base: &str, rec: &mut Record) {
    // reader: orders-api role orders:read
    let reader = source(kc, &kc.reader).await;
    let t = fresh_token(&reader).await;
    let h = header_of(&t);
    assert_eq!(
        (h["typ"].as_str(), h["alg"].as_str()),
        (Some("JWT"), Some("RS256")),
        "Keycloak's default access token header"
    );
    let p = payload_of(&t);
    assert_eq!(p["typ"], "Bearer");
    assert_eq!(
        p["resource_access"][&kc.audience]["roles"],
        serde_json::json!(["orders:read"])
    );
    assert_eq!(
        fresh_token(&reader).await,
        t,
        "tollgate-client reuses its cached token"
    );

    let r = call(base, Method::GET, "/me", &t).await;
    if r.status != 200 {
        diagnose(kc, &t).await;
    }
    rec.check("reader GET /me", &r, 200, Some(""));
    let me = r.json();
    eprintln!("keycloak: reader /me = {me}");
    assert_eq!(me["client_id"], kc.reader.0.as_str());
    assert_eq!(me["sub"], p["sub"]);
    let scopes = scopes_of(&me);
    assert!(scopes.iter().any(|s| s == "orders:read"), "{scopes:?}");
    assert!(!scopes.iter().any(|s| s == "orders:write"), "{scopes:?}");
    // the `scope` string's tokens are permissions too (Keycloak: "email profile")
    for s in p["scope"].as_str().unwrap().split(' ') {
        assert!(scopes.iter().any(|x| x == s), "{s} from scope: {scopes:?}");
    }
    // roles of other clients (account's manage-account, …) never count
    for s in ["manage-account", "view-profile"] {
        assert!(!scopes.iter().any(|x| x == s), "{s}: {scopes:?}");
    }
    rec.check(
        "reader GET /orders",
        &call(base, Method::GET, "/orders", &t).await,
        200,
        Some(""),
    );
    rec.check(
        "reader POST /orders",
        &call(base, Method::POST, "/orders", &t).await,
        403,
        Some(INSUFFICIENT_WRITE),
    );

    // writer: orders:read and orders:write of orders-api
    let writer = source(kc, &kc.writer).await;
    let t = fresh_token(&writer).await;
    let r = call(base, Method::GET, "/me", &t).await;
    rec.check("writer GET /me", &r, 200, Some(""));
    let me = r.json();
    eprintln!("keycloak: writer /me = {me}");
    assert_eq!(me["client_id"], kc.writer.0.as_str());
    let scopes = scopes_of(&me);
    for s in ["orders:read", "orders:write"] {
        assert!(scopes.iter().any(|x| x == s), "{s}: {scopes:?}");
    }
    rec.check(
        "writer GET /orders",
        &call(base, Method::GET, "/orders", &t).await,
        200,
        Some(""),
    );
    rec.check(
        "writer POST /orders",
        &call(base, Method::POST, "/orders", &t).await,
        201,
        Some(""),
    );

    // other-client: aud has orders-api, but its orders:* roles are its own client's
    let other = source(kc, &kc.other).await;
    let t = fresh_token(&other).await;
    let p = payload_of(&t);
    assert!(
        p["aud"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == kc.audience.as_str()),
        "other-client's token is for orders-api: {}",
        p["aud"]
    );
    assert!(p["resource_access"][&kc.audience].is_null());
    assert_eq!(
        p["resource_access"][&kc.other.0]["roles"],
        serde_json::json!(["orders:read", "orders:write"])
    );
    let r = call(base, Method::GET, "/me", &t).await;
    rec.check("other-client GET /me", &r, 200, Some(""));
    let me = r.json();
    eprintln!("keycloak: other-client /me = {me}");
    assert_eq!(me["client_id"], kc.other.0.as_str());
    let scopes = scopes_of(&me);
    for s in ["orders:read", "orders:write"] {
        assert!(
            !scopes.iter().any(|x| x == s),
            "role {s} of another client counted: {scopes:?}"
        );
    }
    rec.check(
        "other-client GET /orders",
        &call(base, Method::GET, "/orders", &t).await,
        403,
        Some(INSUFFICIENT_READ),
    );
    rec.check(
        "other-client POST /orders",
        &call(base, Method::POST, "/orders", &t).await,
        403,
        Some(INSUFFICIENT_WRITE),
    );
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn id_and_refresh_tokens_refused(kc: &Kc, base: &str, rec: &mut Record) {
    // alice, password grant through the public client (the grant itself is not
    // something tollgate-client offers; a plain form POST)
    let r = send(
        Method::POST,
        &kc.token_url,
        &[("content-type", "application/x-www-form-urlencoded")],
        &form(&[
            ("grant_type", "password"),
            ("client_id", &kc.public_client),
            ("username", &kc.user.0),
            ("password", &kc.user.1),
            ("scope", "openid"),
        ]),
    )
    .await;
    assert_eq!(r.status, 200, "password grant: {:?}", r.body);
    let j = r.json();
    let access = j["access_token"].as_str().unwrap();
    let id = j["id_token"].as_str().expect("an ID token");
    let refresh = j["refresh_token"].as_str().expect("a refresh token");

    // the ID token: same issuer, same key, orders-api in its aud; only `typ` differs
    let (ah, ih) = (header_of(access), header_of(id));
    assert_eq!(
        (ah["kid"].clone(), ah["typ"].clone()),
        (ih["kid"].clone(), ih["typ"].clone())
    );
    let ip = payload_of(id);
    assert_eq!(ip["typ"], "ID");
    assert_eq!(ip["iss"], kc.issuer.as_str());
    assert!(
        ip["aud"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == kc.audience.as_str()),
        "the ID token names orders-api: {}",
        ip["aud"]
    );
    assert_eq!(payload_of(refresh)["typ"], "Refresh");

    // alice's access token: read, not write
    let r = call(base, Method::GET, "/me", access).await;
    rec.check("alice access token GET /me", &r, 200, Some(""));
    let me = r.json();
    eprintln!("keycloak: alice /me = {me}");
    rec.expect(
        me["client_id"] == kc.public_client.as_str(),
        format!(
            "alice /me client_id is the normalised client (azp {}; user tokens have no client_id claim), got {}",
            kc.public_client, me["client_id"]
        ),
    );
    rec.check(
        "alice access token GET /orders",
        &call(base, Method::GET, "/orders", access).await,
        200,
        Some(""),
    );
    rec.check(
        "alice access token POST /orders",
        &call(base, Method::POST, "/orders", access).await,
        403,
        Some(INSUFFICIENT_WRITE),
    );

    for (what, t) in [("ID token", id), ("refresh token", refresh)] {
        for (method, path) in [(Method::GET, "/me"), (Method::GET, "/orders")] {
            let r = call(base, method.clone(), path, t).await;
            // the generic answer: nothing of the token's content (typ, user) in it
            rec.check(
                &format!("alice {what} {method} {path}"),
                &r,
                401,
                Some(INVALID),
            );
            assert!(r.body.is_empty(), "{what}: {:?}", r.body);
        }
    }
}

async fn rfc9068_header(kc: &Kc, base: &str, rec: &mut Record) {
    let Some(client) = &kc.rfc9068 else {
        eprintln!("keycloak: no RFC 9068 client provisioned; at+jwt case not run");
        return;
    };
    let src = source(kc, client).await;
    let t = fresh_token(&src).await;
    assert_eq!(header_of(&t)["typ"], "at+jwt");
    assert_eq!(payload_of(&t)["typ"], "Bearer");
    rec.check(
        "rfc9068 client (at+jwt) GET /orders",
        &call(base, Method::GET, "/orders", &t).await,
        200,
        Some(""),
    );
    rec.check(
        "rfc9068 client (at+jwt) POST /orders",
        &call(base, Method::POST, "/orders", &t).await,
        403,
        Some(INSUFFICIENT_WRITE),
    );
}

/// Without `TOLLGATE_PRESET` (strict RFC 9068 default) Keycloak's `typ: JWT` access
/// tokens are refused: the preset is what makes them work, nothing else.
async fn default_preset_refuses(kc: &Kc, rec: &mut Record) {
    let base = start_orders(kc, None).await;
    let t = fresh_token(&source(kc, &kc.writer).await).await;
    for (method, path) in [(Method::GET, "/me"), (Method::GET, "/orders")] {
        let r = call(&base, method.clone(), path, &t).await;
        rec.check(
            &format!("writer token, default preset rfc9068: {method} {path}"),
            &r,
            401,
            Some(INVALID),
        );
    }
}

const BEFORE: u8 = 0;
const DURING: u8 = 1;
const AFTER: u8 = 2;

/// Counts per (phase, kid) of 200 answers, and every other answer.
#[derive(Default)]
struct Load {
    ok: BTreeMap<(u8, String), usize>,
    tokens: BTreeMap<String, usize>,
    failed: Vec<String>,
}

async fn rotation_under_load(kc: &Kc, base: &str) {
    const WORKERS: usize = 4;
    const MIN_PER_SIDE: usize = 100;
    let reader = source(kc, &kc.reader).await;
    let writer = source(kc, &kc.writer).await;
    // a token of the old key, kept to be used again once that key is passive
    let old_token = fresh_token(&reader).await;
    let old_kid = kid_of(&old_token);

    let phase = Arc::new(AtomicU8::new(BEFORE));
    let stop = Arc::new(AtomicBool::new(false));
    let load = Arc::new(Mutex::new(Load::default()));
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        // half the workers as the reader, half as the writer: two token caches
        let src = if w % 2 == 0 {
            reader.clone()
        } else {
            writer.clone()
        };
        let (phase, stop, load, base) =
            (phase.clone(), stop.clone(), load.clone(), base.to_owned());
        workers.push(tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(120);
            let mut token = refetch(&src, "").await;
            let mut fetched = Instant::now();
            // staggered: the workers do not refetch at the same moment
            let every = Duration::from_millis(250 + 60 * w as u64);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                if fetched.elapsed() >= every {
                    token = refetch(&src, &token).await;
                    fetched = Instant::now();
                    *load
                        .lock()
                        .unwrap()
                        .tokens
                        .entry(kid_of(&token))
                        .or_default() += 1;
                }
                let ph = phase.load(Ordering::Relaxed);
                let r = call(&base, Method::GET, "/orders", &token).await;
                let mut l = load.lock().unwrap();
                if r.status == 200 {
                    *l.ok.entry((ph, kid_of(&token))).or_default() += 1;
                } else {
                    l.failed.push(format!(
                        "{} {} (kid {}, phase {ph})",
                        r.status,
                        r.header("www-authenticate"),
                        kid_of(&token)
                    ));
                }
            }
        }));
    }
    let ok_in = |load: &Mutex<Load>, ph: u8| ok_in_map(&load.lock().unwrap().ok, ph);
    // let the load run with the old key
    let started = Instant::now();
    while ok_in(&load, BEFORE) < MIN_PER_SIDE && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // rotate: a new active key of higher priority; after 2 s the old one becomes passive
    // (stays in the JWKS, no longer signs)
    phase.store(DURING, Ordering::Relaxed);
    let t = Instant::now();
    let rotate = kc.rotate.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(rotate)
            .args(["--retire-after", "2", "--retire", "passive"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "rotate.sh failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let value = |key: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} from rotate.sh: {stdout}"))
            .trim()
            .to_owned()
    };
    let (rot_old, new_kid) = (value("KEYCLOAK_OLD_KID="), value("KEYCLOAK_NEW_KID="));
    eprintln!(
        "keycloak: rotate.sh (new key, old one passive 2 s later) took {:.1} s: {rot_old} -> {new_kid}",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(rot_old, old_kid);
    assert_ne!(new_kid, old_kid);
    phase.store(AFTER, Ordering::Relaxed);

    // new tokens carry the new kid, from both clients
    // (new sources: nothing cached from before the rotation)
    let reader_now = fresh_token(&source(kc, &kc.reader).await).await;
    assert_eq!(kid_of(&reader_now), new_kid);
    let after = Instant::now();
    while (ok_in(&load, AFTER) < MIN_PER_SIDE || after.elapsed() < Duration::from_secs(2))
        && after.elapsed() < Duration::from_secs(30)
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    let writer_now = fresh_token(&source(kc, &kc.writer).await).await;
    assert_eq!(kid_of(&writer_now), new_kid);
    // the old key no longer signs but still verifies: its outstanding tokens keep working
    let r = call(base, Method::GET, "/orders", &old_token).await;
    eprintln!(
        "keycloak: rotation: token of the old (now passive) key, GET /orders after the rotation: {}",
        r.status.as_u16()
    );
    assert_eq!(r.status, 200, "old-kid token after the rotation");

    let l = load.lock().unwrap();
    let count = |ph: Option<u8>, kid: &str| -> usize {
        l.ok.iter()
            .filter(|((p, k), _)| ph.is_none_or(|ph| *p == ph) && k == kid)
            .map(|(_, n)| n)
            .sum()
    };
    let name = |ph: u8| ["before", "during", "after"][ph as usize];
    for ((ph, kid), n) in &l.ok {
        let which = if *kid == old_kid {
            "old"
        } else if *kid == new_kid {
            "new"
        } else {
            "OTHER"
        };
        eprintln!(
            "keycloak: rotation: {n:>6} x 200 {} the rotation, {which} kid {kid}",
            name(*ph)
        );
    }
    eprintln!(
        "keycloak: rotation: tokens fetched under load per kid: {:?}",
        l.tokens
    );
    let total: usize = l.ok.values().sum();
    eprintln!(
        "keycloak: rotation: {total} requests answered 200, {} other answers; {} before, {} during, {} after the rotation; {} with old-kid tokens, {} with new-kid tokens",
        l.failed.len(),
        ok_in_map(&l.ok, BEFORE),
        ok_in_map(&l.ok, DURING),
        ok_in_map(&l.ok, AFTER),
        count(None, &old_kid),
        count(None, &new_kid),
    );
    assert!(
        l.failed.is_empty(),
        "refused during rotation: {:?}",
        &l.failed[..l.failed.len().min(20)]
    );
    assert!(
        l.ok.keys().all(|(_, k)| *k == old_kid || *k == new_kid),
        "a third kid appeared"
    );
    assert!(
        count(Some(BEFORE), &old_kid) >= MIN_PER_SIDE,
        "too few requests before the rotation"
    );
    assert!(
        ok_in_map(&l.ok, AFTER) >= MIN_PER_SIDE,
        "too few requests after the rotation"
    );
    assert!(
        count(Some(AFTER), &new_kid) >= MIN_PER_SIDE,
        "too few requests with new-kid tokens"
    );
    assert!(
        l.tokens.get(&new_kid).copied().unwrap_or(0) >= WORKERS,
        "every worker fetched new-kid tokens: {:?}",
        l.tokens
    );
}

fn ok_in_map(ok: &BTreeMap<(u8, String), usize>, ph: u8) -> usize {
    ok.iter()
        .filter(|((p, _), _)| *p == ph)
        .map(|(_, n)| n)
        .sum()
}
